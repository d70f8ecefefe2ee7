//! `healthpoints import residents|balances FILE`: onboarding a city from the platform it had
//! before, through the gateway's `POST /v1/admin/imports/…` as an admin. The file (NDJSON, or
//! CSV when it ends in `.csv`) is streamed from disk and the answer read as it comes: each
//! refused line is printed with its field and why, then a summary. An import that stops early
//! (the connection, a service down) says which line to resume from (`--from-line`); sending
//! lines again is harmless — each resident is imported once per ID number, each balance once
//! per source record.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;

/// What an import did, from its summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    pub created: u64,
    pub exists: u64,
    pub refused: u64,
    /// Where to resume, when the import stopped before the end of the file.
    pub next_line: Option<u64>,
}

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Residents,
    /// Opening balances (residents are imported first).
    Balances,
}

/// Imports `file` of `what` through the gateway at `gateway` (`http://host:port`), signing in
/// as `admin` (`username:password`), from line `from_line`; each refused line is written to
/// `report`.
pub async fn run(
    gateway: &str,
    admin: &str,
    what: What,
    file: &Path,
    from_line: u64,
    report: &mut impl std::io::Write,
) -> anyhow::Result<Imported> {
    let (username, password) = admin
        .split_once(':')
        .context("--admin must be username:password")?;
    let client = reqwest::Client::new();
    let gateway = gateway.trim_end_matches('/');
    let login: Value = client
        .post(format!("{gateway}/v1/auth/login"))
        .json(&serde_json::json!({"login": username, "password": password}))
        .send()
        .await
        .with_context(|| format!("reaching the gateway at {gateway}"))?
        .error_for_status()
        .context("signing in as the admin")?
        .json()
        .await?;
    let token = login["access_token"]
        .as_str()
        .context("the gateway answered no access token")?;
    let csv = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let body = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let mut response = client
        .post(format!(
            "{gateway}/v1/admin/imports/{}?from_line={from_line}",
            match what {
                What::Residents => "residents",
                What::Balances => "balances",
            }
        ))
        .bearer_auth(token)
        .header(
            "content-type",
            if csv {
                "text/csv"
            } else {
                "application/x-ndjson"
            },
        )
        .body(reqwest::Body::from(body))
        .send()
        .await
        .context("sending the file")?;
    if !response.status().is_success() {
        let status = response.status();
        let problem: Value = response.json().await.unwrap_or_default();
        bail!(
            "the gateway refused the import ({status}): {}",
            problem["detail"].as_str().unwrap_or("")
        );
    }
    let mut pending = Vec::new();
    let mut summary = None;
    let mut last_line = from_line.saturating_sub(1);
    while let Some(chunk) = response.chunk().await.context("reading the answer")? {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line: Value = serde_json::from_slice(&line).context("an answer line")?;
            if let Some(n) = line["line"].as_u64() {
                last_line = n;
                if line["outcome"] == "refused" {
                    writeln!(
                        report,
                        "line {n}: {} {}",
                        line["field"].as_str().unwrap_or(""),
                        line["reason"].as_str().unwrap_or("")
                    )?;
                }
            } else {
                summary = Some(line);
            }
        }
    }
    let Some(s) = summary else {
        // Cut off before the summary: resume after the last line answered.
        return Ok(Imported {
            next_line: Some(last_line + 1),
            ..Imported::default()
        });
    };
    let count = |k: &str| s[k].as_u64().unwrap_or_default();
    if let Some(reason) = s["reason"].as_str() {
        writeln!(report, "stopped: {reason}")?;
    }
    Ok(Imported {
        created: count("created"),
        exists: count("exists"),
        refused: count("refused"),
        next_line: s["next_line"].as_u64(),
    })
}

//! `healthpoints import residents|balances FILE`: onboarding a city from the platform it had
//! before, through the gateway's `POST /v1/admin/imports/…` as an admin. The file (NDJSON, or
//! CSV when it ends in `.csv`) is streamed from disk and the answer read as it comes: each
//! refused line is printed with its field and why, then a summary.
//!
//! The gateway hands the admin's own token on to identity and the ledger batch by batch, so a
//! request must end before that token does (15 minutes by default). A city's file takes longer,
//! so the command sends it in parts: when three quarters of the token's life are gone it ends
//! the request at a line, signs in again and goes on from the next line with a new request.
//! An import that stops early for another reason (the connection, a service down) says which
//! line to resume from (`--from-line`); sending lines again is harmless — each resident is
//! imported once per ID number, each balance once per source record.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};

/// What an import did, from its summary lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    pub created: u64,
    pub exists: u64,
    pub refused: u64,
    /// Where to resume, when the import stopped before the end of the file.
    pub next_line: Option<u64>,
    /// Requests the file went in (one more each time the command signed in again).
    pub parts: u64,
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
/// `report`. A request ends and the command signs in again after three quarters of each
/// token's life (see [`run_in_parts`]).
pub async fn run(
    gateway: &str,
    admin: &str,
    what: What,
    file: &Path,
    from_line: u64,
    report: &mut impl std::io::Write,
) -> anyhow::Result<Imported> {
    run_in_parts(gateway, admin, what, file, from_line, None, report).await
}

/// [`run`], with each request ending after `part` (`None`: three quarters of the token's
/// life) at the next line; then the command signs in again and sends the rest.
pub async fn run_in_parts(
    gateway: &str,
    admin: &str,
    what: What,
    file: &Path,
    from_line: u64,
    part: Option<Duration>,
    report: &mut impl std::io::Write,
) -> anyhow::Result<Imported> {
    let admin = admin
        .split_once(':')
        .context("--admin must be username:password")?;
    let target = Target {
        client: reqwest::Client::new(),
        gateway: gateway.trim_end_matches('/'),
        what,
        file,
    };
    let mut total = Imported::default();
    let mut from = from_line;
    loop {
        let (token, lives) = sign_in(&target, admin).await?;
        let deadline = Instant::now() + part.unwrap_or(lives * 3 / 4);
        let (done, renew_at) = send_part(&target, &token, from, deadline, report).await?;
        total.created += done.created;
        total.exists += done.exists;
        total.refused += done.refused;
        total.parts += 1;
        match (done.next_line, renew_at) {
            (None, Some(line)) => {
                writeln!(report, "signing in again; going on from line {line}")?;
                from = line;
            }
            (next_line, _) => {
                total.next_line = next_line;
                return Ok(total);
            }
        }
    }
}

/// Where an import goes, and what it sends.
struct Target<'a> {
    client: reqwest::Client,
    gateway: &'a str,
    what: What,
    file: &'a Path,
}

/// Signs in as `(username, password)`: the access token, and how long it lives.
async fn sign_in(
    Target {
        client, gateway, ..
    }: &Target<'_>,
    (username, password): (&str, &str),
) -> anyhow::Result<(String, Duration)> {
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
    let lives = Duration::from_secs(login["expires_in"].as_u64().unwrap_or(900));
    Ok((token.to_owned(), lives))
}

/// Bytes of whole lines sent in one piece of a request's body.
const PIECE: usize = 64 * 1024;

/// One request: the file from its start (the gateway skips the lines before `from`; a CSV
/// file's header is always read), ending at the first line after `from` read once `deadline`
/// has passed. What the gateway answered, and the line the body ended before, if it did.
async fn send_part(
    &Target {
        ref client,
        gateway,
        what,
        file,
    }: &Target<'_>,
    token: &str,
    from: u64,
    deadline: Instant,
    report: &mut impl std::io::Write,
) -> anyhow::Result<(Imported, Option<u64>)> {
    let csv = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let opened = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    // The line the body ended before, when it ended before the end of the file (0: it did not).
    let ended_before = Arc::new(AtomicU64::new(0));
    let body = lines_until(BufReader::new(opened), from, deadline, ended_before.clone());
    let mut response = client
        .post(format!(
            "{gateway}/v1/admin/imports/{}?from_line={from}",
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
        .body(reqwest::Body::wrap_stream(body))
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
    let mut last_line = from.saturating_sub(1);
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
        let next_line = Some(last_line + 1);
        return Ok((
            Imported {
                next_line,
                ..Imported::default()
            },
            None,
        ));
    };
    let count = |k: &str| s[k].as_u64().unwrap_or_default();
    if let Some(reason) = s["reason"].as_str() {
        writeln!(report, "stopped: {reason}")?;
    }
    let renew_at = Some(ended_before.load(Ordering::SeqCst)).filter(|line| *line > 0);
    let done = Imported {
        created: count("created"),
        exists: count("exists"),
        refused: count("refused"),
        next_line: s["next_line"].as_u64(),
        parts: 1,
    };
    Ok((done, renew_at))
}

/// The file's lines as a request body, in pieces of whole lines, ending before the first line
/// after `from` read once `deadline` has passed; `ended_before` is then set to that line.
fn lines_until<R>(
    reader: BufReader<R>,
    from: u64,
    deadline: Instant,
    ended_before: Arc<AtomicU64>,
) -> impl futures::Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    futures::stream::unfold(
        (reader, 0_u64, false),
        move |(mut reader, mut number, ended)| {
            let ended_before = ended_before.clone();
            async move {
                if ended {
                    return None;
                }
                let (mut piece, mut line) = (Vec::with_capacity(PIECE), Vec::new());
                let mut ended = false;
                while piece.len() < PIECE {
                    // A line longer than a piece goes as pieces: the gateway refuses it as too
                    // long, so the memory stays bounded whatever the file holds.
                    let mut bounded = (&mut reader).take(PIECE as u64);
                    match bounded.read_until(b'\n', &mut line).await {
                        Err(e) => return Some((Err(e), (reader, number, true))),
                        Ok(0) => {
                            ended = true;
                            break;
                        }
                        Ok(_) => {
                            number += 1;
                            if number > from && Instant::now() >= deadline {
                                ended_before.store(number, Ordering::SeqCst);
                                ended = true;
                                break;
                            }
                            piece.append(&mut line);
                        }
                    }
                }
                (!piece.is_empty()).then_some((Ok(piece), (reader, number, ended)))
            }
        },
    )
}

//! `POST /v1/admin/imports/residents`: onboarding a city's residents from the platform it had
//! before. The body is NDJSON or CSV of any length, read as it arrives; every 1,000 residents go
//! to identity in one call, and the answer streams back as NDJSON, one result per line of the
//! file in order, then a summary line. Each resident is imported once per ID number, so sending
//! a file again changes nothing; `from_line` skips what an interrupted import already did.
//! Results name lines and fields, never the values in them.

// utoipa's `params(ImportQuery)` expansion writes fully-qualified paths.
#![allow(unused_qualifications)]

use std::convert::Infallible;

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::Response,
};
use futures::{Stream, StreamExt};
use healthpoints_errors::{ApiError, ErrorCode};
use healthpoints_proto::identity::v1 as pb;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::Instrument;
use utoipa::{IntoParams, ToSchema};

use crate::body::{Params, from_json, media_type};
use crate::{
    AppState,
    auth::{Admin, Caller},
    error::{HttpResult, Problem},
};

/// Residents sent to identity in one call (its limit).
const BATCH: usize = 1_000;
/// The longest line read; a longer one stops the import (the file is not what it should be).
const MAX_LINE: usize = 4_096;
/// The columns of a CSV file, named in its first line, in any order.
const COLUMNS: [&str; 5] = [
    "name",
    "id_number",
    "phone",
    "residence_district",
    "residence_type",
];

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The first line of the file to import (1-based; a CSV file's header is line 1 and is
    /// always read): where an interrupted import stopped, as its last line said.
    #[serde(default)]
    #[param(minimum = 1)]
    pub from_line: Option<u64>,
}

/// One resident of an NDJSON file (a CSV file has these columns).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRow {
    pub name: String,
    pub id_number: String,
    pub phone: String,
    #[schema(value_type = super::views::District)]
    pub residence_district: String,
    /// `registered` or `permanent_migrant`.
    pub residence_type: String,
}

/// A CSV file: a header line naming the columns (in this order or any other), then a resident
/// per line.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, pattern = "^name,id_number,phone,residence_district,residence_type\r?\n")]
pub struct CsvFile(#[allow(dead_code)] String);

/// One line of the answer: a line's result, or the summary at the end.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ImportLine {
    Result {
        /// The line of the file.
        line: u64,
        /// `created`, `exists` (registered before: nothing changed) or `refused`.
        outcome: &'static str,
        #[serde(skip_serializing_if = "String::is_empty")]
        resident_id: String,
        #[serde(skip_serializing_if = "String::is_empty")]
        field: String,
        #[serde(skip_serializing_if = "String::is_empty")]
        reason: String,
    },
    Summary {
        /// True when the whole file was read; false when the import stopped early, and then
        /// `next_line` is where to resume (`from_line`) and `reason` says why.
        done: bool,
        lines: u64,
        created: u64,
        exists: u64,
        refused: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        next_line: Option<u64>,
        #[serde(skip_serializing_if = "String::is_empty")]
        reason: String,
    },
}

/// Imports residents from a file of the city's earlier platform: NDJSON
/// (`Content-Type: application/x-ndjson`, one object per line) or CSV (`text/csv`, a header
/// line naming the columns). Streamed both ways; one result per line, then a summary (see the
/// module docs and docs/api.md). Imported residents sign in once they set a password (a reset
/// code to their phone, or at a health-station counter). City admin, or a district's admin for
/// their district's residents.
#[utoipa::path(post, path = "/v1/admin/imports/residents", tag = "admin", security(("bearer" = [])), params(ImportQuery),
    request_body(content((ImportRow = "application/x-ndjson"), (CsvFile = "text/csv"))),
    responses((status = 200, content((ImportLine = "application/x-ndjson")), description = "a result per line, then a summary"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn residents(
    State(state): State<AppState>,
    Admin(caller): Admin,
    headers: HeaderMap,
    Params(q): Params<ImportQuery>,
    body: Body,
) -> HttpResult<Response> {
    let csv = match media_type(&headers).as_deref() {
        Some("application/x-ndjson" | "application/ndjson") => false,
        Some("text/csv") => true,
        _ => {
            return Err(ApiError::new(
                ErrorCode::InvalidArgument,
                "send Content-Type: application/x-ndjson or text/csv",
            )
            .into());
        }
    };
    if q.from_line == Some(0) {
        return Err(ApiError::invalid("from_line", "must be at least 1").into());
    }
    let mut lines = Lines::new(body.into_data_stream());
    // A CSV file's header is read before the answer starts: without it, nothing can be read.
    let format = if csv {
        let header = match lines.next().await {
            Some(Ok((_, text))) => text,
            _ => {
                return Err(
                    ApiError::invalid("body", "a CSV file starts with a header line").into(),
                );
            }
        };
        Format::Csv(columns(&header).map_err(|reason| ApiError::invalid("body", reason))?)
    } else {
        Format::Ndjson
    };
    let (tx, rx) = mpsc::channel::<String>(64);
    let job = Import {
        state,
        caller,
        format,
        from_line: q.from_line.unwrap_or(1),
        tx,
        counts: Counts::default(),
    };
    tokio::spawn(job.run(lines).instrument(tracing::Span::current()));
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|line| (Ok::<_, Infallible>(Bytes::from(line)), rx))
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}

/// How a file's lines are read.
enum Format {
    Ndjson,
    /// The position of each of [`COLUMNS`] in a line.
    Csv([usize; 5]),
}

/// The position of each column, from a CSV header.
fn columns(header: &str) -> Result<[usize; 5], String> {
    let names = csv_fields(header).map_err(|reason| format!("the header line {reason}"))?;
    let mut at = [0; 5];
    for (slot, column) in at.iter_mut().zip(COLUMNS) {
        *slot = names
            .iter()
            .position(|n| n.trim() == column)
            .ok_or_else(|| {
                format!(
                    "the header line must name the columns {}; {column} is missing",
                    COLUMNS.join(", ")
                )
            })?;
    }
    Ok(at)
}

/// The fields of one CSV line (RFC 4180: `"` quotes a field, `""` is a quote in it).
fn csv_fields(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("has a quote that is not closed");
    }
    fields.push(field);
    Ok(fields)
}

/// A line parsed into a resident, or the field at fault and why.
fn parse(format: &Format, line: &str) -> Result<pb::ImportedResident, (String, String)> {
    let row: ImportRow = match format {
        Format::Ndjson => from_json(line.as_bytes(), "").map_err(|e| {
            (
                e.field().unwrap_or("line").to_owned(),
                if e.field().is_some() {
                    e.message
                } else {
                    "is not a JSON object of a resident".to_owned()
                },
            )
        })?,
        Format::Csv(at) => {
            let fields = csv_fields(line).map_err(|r| ("line".to_owned(), r.to_owned()))?;
            let get = |i: usize| fields.get(at[i]).map(|f| f.trim().to_owned());
            match (get(0), get(1), get(2), get(3), get(4)) {
                (Some(name), Some(id_number), Some(phone), Some(district), Some(kind)) => {
                    ImportRow {
                        name,
                        id_number,
                        phone,
                        residence_district: district,
                        residence_type: kind,
                    }
                }
                _ => {
                    return Err((
                        "line".into(),
                        format!("must have the {} columns of the header", COLUMNS.len()),
                    ));
                }
            }
        }
    };
    let residence_type = match row.residence_type.trim() {
        "registered" => pb::ResidenceType::Registered,
        "permanent_migrant" => pb::ResidenceType::PermanentMigrant,
        _ => pb::ResidenceType::Unspecified,
    };
    Ok(pb::ImportedResident {
        name: row.name,
        id_number: row.id_number,
        phone: row.phone,
        residence_district: row.residence_district,
        residence_type: residence_type as i32,
    })
}

/// Why the lines of a body stopped before its end.
#[derive(Debug)]
enum Cut {
    TooLong(u64),
    Unreadable(u64),
}

impl Cut {
    /// The line to resume from, and why the import stopped.
    fn stop(self) -> (u64, String) {
        match self {
            Self::TooLong(line) => (line, format!("line {line} is longer than {MAX_LINE} bytes")),
            Self::Unreadable(line) => {
                (line, "the request body could not be read to its end".into())
            }
        }
    }
}

/// The lines of a body as they arrive, numbered from 1.
struct Lines<S> {
    stream: S,
    buffer: Vec<u8>,
    ended: bool,
    number: u64,
}

impl<S, E> Lines<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    fn new(stream: S) -> Self {
        Self {
            stream,
            buffer: Vec::new(),
            ended: false,
            number: 0,
        }
    }

    /// The next line (without its line break; not UTF-8 is read lossily and then refused by
    /// its checks), or why there is none.
    async fn next(&mut self) -> Option<Result<(u64, String), Cut>> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                return Some(Ok(self.take(line)));
            }
            if self.buffer.len() > MAX_LINE {
                return Some(Err(Cut::TooLong(self.number + 1)));
            }
            if self.ended {
                if self.buffer.is_empty() {
                    return None;
                }
                let line = std::mem::take(&mut self.buffer);
                return Some(Ok(self.take(line)));
            }
            match self.stream.next().await {
                Some(Ok(chunk)) => self.buffer.extend_from_slice(&chunk),
                Some(Err(_)) => return Some(Err(Cut::Unreadable(self.number + 1))),
                None => self.ended = true,
            }
        }
    }

    fn take(&mut self, mut line: Vec<u8>) -> (u64, String) {
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        self.number += 1;
        (self.number, String::from_utf8_lossy(&line).into_owned())
    }
}

/// A line read: its number, and the resident in it or the field at fault and why.
type Read = (u64, Result<pb::ImportedResident, (String, String)>);

#[derive(Debug, Default)]
struct Counts {
    lines: u64,
    created: u64,
    exists: u64,
    refused: u64,
}

/// One import under way: reads lines, sends batches to identity, writes result lines.
struct Import {
    state: AppState,
    caller: Caller,
    format: Format,
    from_line: u64,
    tx: mpsc::Sender<String>,
    counts: Counts,
}

impl Import {
    async fn run<S, E>(mut self, mut lines: Lines<S>)
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let stop = self.import(&mut lines).await;
        let c = &self.counts;
        tracing::info!(
            lines = c.lines,
            created = c.created,
            exists = c.exists,
            refused = c.refused,
            done = stop.is_none(),
            "residents import ended"
        );
        let summary = ImportLine::Summary {
            done: stop.is_none(),
            lines: c.lines,
            created: c.created,
            exists: c.exists,
            refused: c.refused,
            next_line: stop.as_ref().map(|(line, _)| *line),
            reason: stop.map(|(_, reason)| reason).unwrap_or_default(),
        };
        self.send(&summary).await;
    }

    /// Reads and imports every line; where and why it stopped early, if it did.
    async fn import<S, E>(&mut self, lines: &mut Lines<S>) -> Option<(u64, String)>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        // Lines in order, each parsed or refused, until a batch is full.
        let mut pending: Vec<Read> = Vec::new();
        let mut residents = 0;
        let stop = loop {
            match lines.next().await {
                None => break None,
                Some(Err(cut)) => break Some(cut.stop()),
                Some(Ok((line, text))) => {
                    if line < self.from_line || text.trim().is_empty() {
                        continue;
                    }
                    let parsed = parse(&self.format, &text);
                    residents += usize::from(parsed.is_ok());
                    pending.push((line, parsed));
                }
            }
            if residents == BATCH {
                if let Err(stop) = self.flush(std::mem::take(&mut pending)).await {
                    break Some(stop);
                }
                residents = 0;
            }
        };
        match stop {
            None => self.flush(pending).await.err(),
            Some((line, reason)) => {
                // What was read before the cut is imported; the cut line is where to resume.
                match self.flush(pending).await {
                    Ok(()) => Some((line, reason)),
                    Err(earlier) => Some(earlier),
                }
            }
        }
    }

    /// Imports the residents among `pending` and writes every line's result, in order; when
    /// identity cannot take them, the first line to resume from and why.
    async fn flush(&mut self, pending: Vec<Read>) -> Result<(), (u64, String)> {
        let Some(first) = pending.first().map(|(line, _)| *line) else {
            return Ok(());
        };
        let residents: Vec<pb::ImportedResident> = pending
            .iter()
            .filter_map(|(_, parsed)| parsed.as_ref().ok().cloned())
            .collect();
        let mut results = if residents.is_empty() {
            Vec::new()
        } else {
            self.state
                .identity()
                .import_residents(
                    self.caller
                        .request(pb::ImportResidentsRequest { residents }),
                )
                .await
                .map_err(|status| (first, ApiError::from_status(&status).message))?
                .into_inner()
                .results
        }
        .into_iter();
        for (line, parsed) in pending {
            let result = match parsed {
                Ok(_) => results.next().unwrap_or_default(),
                Err((field, reason)) => pb::ImportResult {
                    outcome: "refused".into(),
                    field,
                    reason,
                    ..pb::ImportResult::default()
                },
            };
            let outcome = match result.outcome.as_str() {
                "created" => {
                    self.counts.created += 1;
                    "created"
                }
                "exists" => {
                    self.counts.exists += 1;
                    "exists"
                }
                _ => {
                    self.counts.refused += 1;
                    "refused"
                }
            };
            self.counts.lines += 1;
            let number = line;
            let line = ImportLine::Result {
                line,
                outcome,
                resident_id: result.resident_id,
                field: result.field,
                reason: result.reason,
            };
            if !self.send(&line).await {
                return Err((number, "the client went away".into()));
            }
        }
        Ok(())
    }

    /// Writes one line of the answer; false when the client is gone.
    async fn send(&self, line: &ImportLine) -> bool {
        let mut text = serde_json::to_string(line).unwrap_or_default();
        text.push('\n');
        self.tx.send(text).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_split_outside_quotes_and_quotes_are_unescaped() {
        assert_eq!(
            csv_fields(r#"王芳,"Zhang, ""Wei""",,x"#).unwrap(),
            ["王芳", r#"Zhang, "Wei""#, "", "x"]
        );
        assert!(csv_fields(r#""open"#).is_err());
    }

    #[test]
    fn a_header_names_the_columns_in_any_order() {
        let at = columns("phone,name,residence_type,id_number,residence_district,extra").unwrap();
        assert_eq!(at, [1, 3, 0, 4, 2]);
        let err = columns("name,phone").unwrap_err();
        assert!(err.contains("id_number is missing"), "{err}");
    }

    #[tokio::test]
    async fn lines_are_numbered_across_chunks_and_a_long_line_stops_them() {
        let chunks: Vec<Result<Bytes, Infallible>> =
            vec![Ok(Bytes::from("a\r\nb")), Ok(Bytes::from("c\n\nd"))];
        let mut lines = Lines::new(futures::stream::iter(chunks));
        let mut read = Vec::new();
        while let Some(Ok(line)) = lines.next().await {
            read.push(line);
        }
        assert_eq!(
            read,
            [
                (1, "a".to_owned()),
                (2, "bc".to_owned()),
                (3, String::new()),
                (4, "d".to_owned())
            ]
        );
        let long: Vec<Result<Bytes, Infallible>> = vec![Ok(Bytes::from(vec![b'x'; MAX_LINE + 1]))];
        let mut lines = Lines::new(futures::stream::iter(long));
        assert!(matches!(lines.next().await, Some(Err(Cut::TooLong(1)))));
    }
}

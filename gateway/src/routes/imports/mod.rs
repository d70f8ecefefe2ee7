//! `POST /v1/admin/imports/…`: onboarding a city from the platform it had before — its
//! residents ([`residents`]), then their opening balances ([`balances`]). A body is NDJSON or CSV
//! of any length, read as it arrives; every 1,000 lines go to the service in one call, and the
//! answer streams back as NDJSON, one result per line of the file in order, then a summary line.
//! Each resident is imported once per ID number and each balance once per source record, so
//! sending a file again changes nothing; `from_line` skips what an interrupted import already
//! did. Results name lines and fields, never the values in them.

// utoipa's `params(ImportQuery)` expansion writes fully-qualified paths.
#![allow(unused_qualifications)]

use std::{convert::Infallible, future::Future};

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, HeaderValue, header},
    response::Response,
};
use futures::{Stream, StreamExt};
use healthpoints_errors::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::sync::mpsc;
use tracing::Instrument;
use utoipa::{IntoParams, ToSchema};

mod balances;
mod residents;
pub use balances::{__path_balances, BalanceRow, BalancesCsv, balances};
pub use residents::{__path_residents, ImportRow, ResidentsCsv, residents};

use crate::body::{from_json, media_type};
use crate::{AppState, auth::Caller, error::HttpResult};

/// Lines sent to the service in one call (identity's and the ledger's limit).
const BATCH: usize = 1_000;
/// The longest line read; a longer one stops the import (the file is not what it should be).
const MAX_LINE: usize = 4_096;
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The first line of the file to import (1-based; a CSV file's header is line 1 and is
    /// always read): where an interrupted import stopped, as its last line said.
    #[serde(default)]
    #[param(minimum = 1)]
    pub from_line: Option<u64>,
}

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

/// What one kind of import brings in: the columns of its CSV files, how a line becomes an item,
/// and where a batch of items goes.
trait Kind: Send + Sync + 'static {
    type Item: Send;
    /// What is imported, for the log.
    const WHAT: &'static str;
    /// The columns of a CSV file, named in its first line, in any order.
    const COLUMNS: &'static [&'static str];
    /// A line parsed into an item, or the field at fault and why.
    fn parse(format: &Format, line: &str) -> Result<Self::Item, (String, String)>;
    /// Imports a batch (at most [`BATCH`]): one result per item, in order.
    fn import(
        state: &AppState,
        caller: &Caller,
        items: Vec<Self::Item>,
    ) -> impl Future<Output = Result<Vec<Imported>, tonic::Status>> + Send;
}

/// What became of one line's item.
#[derive(Debug, Default)]
struct Imported {
    /// `created`, `exists` or `refused`.
    outcome: String,
    resident_id: String,
    field: String,
    reason: String,
}

impl Imported {
    fn refused(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            outcome: "refused".into(),
            field: field.into(),
            reason: reason.into(),
            ..Self::default()
        }
    }
}

/// Starts an import of `K` from `body` and answers with its stream of result lines. A CSV
/// file's header is read first: without it nothing can be read, and that is a 400.
async fn start<K: Kind>(
    state: AppState,
    caller: Caller,
    headers: &HeaderMap,
    q: ImportQuery,
    body: Body,
) -> HttpResult<Response> {
    let csv = match media_type(headers).as_deref() {
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
    let format = if csv {
        let header = match lines.next().await {
            Some(Ok((_, text))) => text,
            _ => {
                return Err(
                    ApiError::invalid("body", "a CSV file starts with a header line").into(),
                );
            }
        };
        Format::Csv(
            columns(&header, K::COLUMNS).map_err(|reason| ApiError::invalid("body", reason))?,
        )
    } else {
        Format::Ndjson
    };
    let (tx, rx) = mpsc::channel::<String>(64);
    let job = Import::<K> {
        state,
        caller,
        format,
        from_line: q.from_line.unwrap_or(1),
        tx,
        counts: Counts::default(),
        kind: std::marker::PhantomData,
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
    /// The position of each of the kind's columns in a line.
    Csv(Vec<usize>),
}

/// The position of each of `wanted`, from a CSV header.
fn columns(header: &str, wanted: &[&str]) -> Result<Vec<usize>, String> {
    let names = csv_fields(header).map_err(|reason| format!("the header line {reason}"))?;
    wanted
        .iter()
        .map(|column| {
            names
                .iter()
                .position(|n| n.trim() == *column)
                .ok_or_else(|| {
                    format!(
                        "the header line must name the columns {}; {column} is missing",
                        wanted.join(", ")
                    )
                })
        })
        .collect()
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

/// A line's row: an NDJSON object, or a CSV line's fields in the order of `columns` (trimmed)
/// made into a row by `from_csv`; or the field at fault and why.
fn row<R: DeserializeOwned>(
    format: &Format,
    line: &str,
    columns: &[&str],
    from_csv: impl FnOnce(Vec<String>) -> R,
) -> Result<R, (String, String)> {
    match format {
        Format::Ndjson => from_json(line.as_bytes(), "").map_err(|e| match e.field() {
            Some(field) => (field.to_owned(), e.message),
            None => (
                "line".to_owned(),
                format!("is not a JSON object with {}", columns.join(", ")),
            ),
        }),
        Format::Csv(at) => {
            let fields = csv_fields(line).map_err(|r| ("line".to_owned(), r.to_owned()))?;
            at.iter()
                .map(|i| fields.get(*i).map(|f| f.trim().to_owned()))
                .collect::<Option<Vec<_>>>()
                .map(from_csv)
                .ok_or_else(|| {
                    (
                        "line".into(),
                        format!("must have the {} columns of the header", columns.len()),
                    )
                })
        }
    }
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

/// A line read: its number, and the item in it or the field at fault and why.
type Read<I> = (u64, Result<I, (String, String)>);

#[derive(Debug, Default)]
struct Counts {
    lines: u64,
    created: u64,
    exists: u64,
    refused: u64,
}

/// One import under way: reads lines, sends batches to the service, writes result lines.
struct Import<K> {
    state: AppState,
    caller: Caller,
    format: Format,
    from_line: u64,
    tx: mpsc::Sender<String>,
    counts: Counts,
    kind: std::marker::PhantomData<K>,
}

impl<K: Kind> Import<K> {
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
            "{} import ended",
            K::WHAT
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
        let mut pending: Vec<Read<K::Item>> = Vec::new();
        let mut items = 0;
        let stop = loop {
            match lines.next().await {
                None => break None,
                Some(Err(cut)) => break Some(cut.stop()),
                Some(Ok((line, text))) => {
                    if line < self.from_line || text.trim().is_empty() {
                        continue;
                    }
                    let parsed = K::parse(&self.format, &text);
                    items += usize::from(parsed.is_ok());
                    pending.push((line, parsed));
                }
            }
            if items == BATCH {
                if let Err(stop) = self.flush(std::mem::take(&mut pending)).await {
                    break Some(stop);
                }
                items = 0;
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

    /// Imports the items among `pending` and writes every line's result, in order; when the
    /// service cannot take them, the first line to resume from and why.
    async fn flush(&mut self, pending: Vec<Read<K::Item>>) -> Result<(), (u64, String)> {
        let Some(first) = pending.first().map(|(line, _)| *line) else {
            return Ok(());
        };
        let mut lines = Vec::with_capacity(pending.len());
        let mut items = Vec::new();
        for (line, parsed) in pending {
            match parsed {
                Ok(item) => {
                    items.push(item);
                    lines.push((line, None));
                }
                Err((field, reason)) => lines.push((line, Some(Imported::refused(field, reason)))),
            }
        }
        let mut results = if items.is_empty() {
            Vec::new()
        } else {
            K::import(&self.state, &self.caller, items)
                .await
                .map_err(|status| (first, ApiError::from_status(&status).message))?
        }
        .into_iter();
        for (line, refused) in lines {
            let result = refused.unwrap_or_else(|| results.next().unwrap_or_default());
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
        let wanted = <residents::Residents as Kind>::COLUMNS;
        let at = columns(
            "phone,name,residence_type,id_number,residence_district,extra",
            wanted,
        )
        .unwrap();
        assert_eq!(at, [1, 3, 0, 4, 2]);
        let err = columns("name,phone", wanted).unwrap_err();
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

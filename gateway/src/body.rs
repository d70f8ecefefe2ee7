//! Request bodies and query strings as clients send them: parsed with the path of every value
//! tracked (`serde_path_to_error`), so a bad value is named as the client wrote it
//! (`price_points`, `records[3].quantity`) and refused as `application/problem+json`. The
//! reason says what was expected and never repeats what was sent: a client that sends an ID
//! number as a JSON integer must not find it echoed in an error, a log or a proxy's cache.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header, request::Parts},
};
use healthpoints_errors::{ApiError, ErrorCode};
use serde::de::DeserializeOwned;

use crate::error::HttpError;

/// A JSON request body (`Content-Type: application/json`).
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                ErrorCode::InvalidArgument,
                "the body must be JSON with Content-Type: application/json",
            )
            .into());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(unreadable)?;
        Ok(Self(from_json(&bytes, "")?))
    }
}

/// A query string (`?page_size=50&cursor=…`), its values trimmed; a parameter given empty or
/// blank is one not given.
#[derive(Debug, Clone)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        // Values are read trimmed, and `?district=` (what an HTML form sends for an empty
        // field) or a blank value is the same as leaving the parameter out.
        // Rewritten only when a value needs it; most query strings are read as they came.
        let untrimmed = form_urlencoded::parse(query.as_bytes())
            .any(|(_, value)| value.is_empty() || value.trim().len() != value.len());
        let given: std::borrow::Cow<'_, str> = if untrimmed {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(
                    form_urlencoded::parse(query.as_bytes())
                        .map(|(name, value)| (name, value.trim().to_owned()))
                        .filter(|(_, value)| !value.is_empty()),
                )
                .finish()
                .into()
        } else {
            query.into()
        };
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(given.as_bytes()));
        serde_path_to_error::deserialize(de).map(Self).map_err(|e| {
            let field = field_of(e.path(), "", &e.inner().to_string());
            ApiError::invalid(field, reason_of(&e.inner().to_string())).into()
        })
    }
}

/// Path parameters (`/v1/me/orders/{id}`): a segment that cannot be read (not UTF-8 once
/// percent-decoded) is a problem like any other bad input, not axum's plain-text 400.
#[derive(Debug, Clone)]
pub struct Segments<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Segments<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Self(v))
            .map_err(|_| {
                ApiError::invalid("path", "a path segment is not valid text (UTF-8)").into()
            })
    }
}

/// Whether the content type is JSON (`application/json` or any `+json` type).
pub fn is_json(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|m| m == "application/json" || m.ends_with("+json"))
}

/// The media type of the body, lowercase, without parameters.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
}

/// A body that could not be read: too large (413, with the limit's reason) or cut off.
pub fn unreadable(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            "the body is larger than this route accepts",
        )
    } else {
        ApiError::new(ErrorCode::InvalidArgument, "the body could not be read")
    }
}

/// Parses JSON, naming a bad value by its path under `prefix` (`records` for an array of
/// records: `records[3].quantity`).
pub fn from_json<T: DeserializeOwned>(bytes: &[u8], prefix: &str) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => {
            de.end().map_err(|e| syntax(&e))?;
            Ok(value)
        }
        // JSON has one number type: `16.0` is the integer 16 (JSON Schema says so too), which
        // serde refuses for an integer field. Only then is the body read again, its whole
        // numbers written as integers.
        Err(e)
            if e.inner()
                .to_string()
                .contains("invalid type: floating point") =>
        {
            let mut whole: serde_json::Value =
                serde_json::from_slice(bytes).map_err(|e| syntax(&e))?;
            integral(&mut whole);
            serde_path_to_error::deserialize(whole).map_err(|e| json_error(&e, prefix))
        }
        Err(e) => Err(json_error(&e, prefix)),
    }
}

/// Writes every whole number of `value` (`16.0`) as an integer.
fn integral(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0) {
                // Beyond ±2^53 a float is not a number anyone wrote exactly; left as it is.
                if f.abs() <= 9_007_199_254_740_992.0 {
                    *value = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral),
        Value::Object(fields) => fields.values_mut().for_each(integral),
        _ => {}
    }
}

fn json_error(e: &serde_path_to_error::Error<serde_json::Error>, prefix: &str) -> ApiError {
    let inner = e.inner();
    match inner.classify() {
        serde_json::error::Category::Data => {
            let message = inner.to_string();
            ApiError::invalid(field_of(e.path(), prefix, &message), reason_of(&message))
        }
        _ => syntax(inner),
    }
}

fn syntax(e: &serde_json::Error) -> ApiError {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "the body ended before the JSON did",
        _ => "the body is not valid JSON",
    };
    ApiError::new(
        ErrorCode::InvalidArgument,
        format!("{what} (line {}, column {})", e.line(), e.column()),
    )
}

/// The field as the client wrote it: the tracked path under `prefix`; for a missing field —
/// reported by serde at the object that lacks it — that object's path plus the field's name,
/// which serde quotes in its standard message.
fn field_of(path: &serde_path_to_error::Path, prefix: &str, message: &str) -> String {
    use serde_path_to_error::Segment;
    let mut field = prefix.to_owned();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            Segment::Map { key } => push_name(&mut field, key),
            Segment::Enum { variant } => push_name(&mut field, variant),
            Segment::Unknown => {}
        }
    }
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        push_name(&mut field, name);
    }
    if field.is_empty() {
        return "body".to_owned();
    }
    // The keys are the client's: shown bounded and printable, never as sent at any length.
    let shown: String = field
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FIELD_CHARS)
        .collect();
    if field.chars().count() > MAX_FIELD_CHARS {
        format!("{shown}…")
    } else {
        shown
    }
}

/// The longest field path shown back to a client.
const MAX_FIELD_CHARS: usize = 120;

fn push_name(field: &mut String, name: &str) {
    if !field.is_empty() {
        field.push('.');
    }
    field.push_str(name);
}

/// Why a value was refused, from what serde expected (never from what it got).
fn reason_of(message: &str) -> String {
    if message.starts_with("missing field") {
        return "is required".to_owned();
    }
    if message.starts_with("unknown field") {
        return "is not a known field".to_owned();
    }
    if message.starts_with("duplicate field") {
        return "is given twice".to_owned();
    }
    match message.rsplit_once(", expected ") {
        Some((_, expected)) => format!("must be {}", friendly(expected)),
        None => "has a value of the wrong type or out of range".to_owned(),
    }
}

/// serde's names of what it expected, in words a client developer reads.
fn friendly(expected: &str) -> String {
    let expected = expected.split(" at line ").next().unwrap_or(expected);
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => {
            let max = match expected {
                "u8" => u64::from(u8::MAX),
                "u16" => u64::from(u16::MAX),
                "u32" => u64::from(u32::MAX),
                _ => u64::MAX,
            };
            format!("a whole number from 0 to {max}")
        }
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a sequence" => "a list".to_owned(),
        "a map" => "an object".to_owned(),
        e if e.starts_with("struct ") => "an object".to_owned(),
        e if e.starts_with("one of ") => e.to_owned(),
        e => e.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Product {
        title: String,
        price_points: u64,
        #[serde(default)]
        stock: Option<u64>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Record {
        id_number: String,
        #[serde(default)]
        quantity: Option<u64>,
        #[serde(default)]
        attributes: BTreeMap<String, String>,
    }

    fn refusal<T: DeserializeOwned + std::fmt::Debug>(
        json: &str,
        prefix: &str,
    ) -> (String, String) {
        let e = from_json::<T>(json.as_bytes(), prefix).unwrap_err();
        let v = e.violations.first().expect("a field is named");
        (v.field.clone(), v.reason.clone())
    }

    #[test]
    fn type_errors_name_the_field_as_sent_and_say_what_was_expected() {
        assert_eq!(
            refusal::<Product>(r#"{"title":"Flu shot","price_points":"12"}"#, ""),
            (
                "price_points".into(),
                "must be a whole number from 0 to 18446744073709551615".into()
            )
        );
        assert_eq!(
            refusal::<Product>(r#"{"title":"Flu shot"}"#, "").0,
            "price_points"
        );
        assert_eq!(
            refusal::<Product>(r#"{"title":"x","price_points":1,"colour":"red"}"#, ""),
            ("colour".into(), "is not a known field".into())
        );
    }

    #[test]
    fn records_are_named_by_their_index_and_quantities_out_of_range_are_refused() {
        for bad in ["-1", "18446744073709551616", "1e308", "1.5"] {
            let json = format!(
                r#"[{{"id_number":"x","quantity":1}},{{"id_number":"x","quantity":{bad}}}]"#
            );
            let (field, reason) = refusal::<Vec<Record>>(&json, "records");
            assert_eq!(field, "records[1].quantity", "{bad}");
            assert!(
                reason.starts_with("must be a whole number"),
                "{bad}: {reason}"
            );
        }
        assert_eq!(
            refusal::<Vec<Record>>(r#"[{"id_number":"x","attributes":{"a":1}}]"#, "records").0,
            "records[0].attributes.a"
        );
    }

    #[test]
    fn a_clients_own_keys_are_shown_bounded_and_printable() {
        let key = format!("k\\u0007{}", "x".repeat(10_000));
        let json = format!(r#"{{"title":"a","price_points":1,"{key}":1}}"#);
        let (field, _) = refusal::<Product>(&json, "");
        assert!(
            field.chars().count() <= MAX_FIELD_CHARS + 1,
            "{}",
            field.len()
        );
        assert!(!field.chars().any(char::is_control));
    }

    #[test]
    fn an_id_number_sent_as_a_number_is_not_echoed() {
        let e = from_json::<Vec<Record>>(br#"[{"id_number":310118199003071238}]"#, "records")
            .unwrap_err();
        let shown = format!("{e:?}");
        assert!(!shown.contains("310118199003071238"), "{shown}");
        assert_eq!(e.field(), Some("records[0].id_number"));
    }

    #[test]
    fn whole_numbers_written_as_floats_are_integers() {
        let p = from_json::<Product>(br#"{"title":"a","price_points":16.0}"#, "").unwrap();
        assert_eq!(p.price_points, 16);
        let e = from_json::<Product>(br#"{"title":"a","price_points":16.5}"#, "").unwrap_err();
        assert_eq!(e.field(), Some("price_points"));
        let e = from_json::<Product>(br#"{"title":"a","price_points":-2.0}"#, "").unwrap_err();
        assert_eq!(e.field(), Some("price_points"));
    }

    #[test]
    fn syntax_errors_say_where_without_quoting_the_body() {
        let e = from_json::<Product>(br#"{"title" 13812345678}"#, "").unwrap_err();
        assert!(e.message.contains("line 1"), "{}", e.message);
        assert!(!e.message.contains("13812345678"));
        assert!(from_json::<Product>(br#"{"title":"a","price_points":1} trailing"#, "").is_err());
    }

    proptest! {
        #[test]
        fn any_body_is_parsed_or_refused_with_a_named_reason(s in any::<String>()) {
            match from_json::<Vec<Record>>(s.as_bytes(), "records") {
                Ok(_) => {}
                Err(e) => prop_assert!(!e.message.is_empty()),
            }
        }
    }
}

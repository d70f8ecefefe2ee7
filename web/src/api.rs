//! The gateway's public HTTP API, as the web client calls it: JSON in and out, the caller's
//! bearer token, `Idempotency-Key` where the API takes one, and the browser's address in
//! `X-Forwarded-For` so the gateway's per-address limits count each person, not the web
//! client. Problems (RFC 9457) come back as [`Problem`], with the fields they name.

use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, de::DeserializeOwned};

/// A client of one gateway; cheap to clone (one connection pool).
#[derive(Debug, Clone)]
pub struct Gateway {
    http: reqwest::Client,
    base: String,
}

/// One field an answer refused, and why.
#[derive(Debug, Clone, Deserialize)]
pub struct FieldError {
    pub field: String,
    #[serde(default)]
    pub reason: String,
}

/// An `application/problem+json` answer, with the members the pages use.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Problem {
    #[serde(default)]
    pub status: u16,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub errors: Vec<FieldError>,
    /// The state of an order that refused the request (`written_off`, `cancelled`, …).
    #[serde(default)]
    pub order_status: Option<String>,
}

impl Problem {
    /// The reason given for `field`, if the problem names it.
    pub fn reason_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.reason.as_str())
            .or_else(|| {
                (self.field.as_deref() == Some(field))
                    .then(|| self.detail.as_deref().unwrap_or(&self.title))
            })
    }

    /// Every field the problem names.
    pub fn fields(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.errors.iter().map(|e| e.field.as_str()).collect();
        if let Some(f) = self.field.as_deref()
            && !out.contains(&f)
        {
            out.push(f);
        }
        out
    }
}

/// Why a call did not answer what was asked.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// The gateway answered with a problem.
    Problem(Problem),
    /// The gateway could not be reached or answered something that is not the API.
    Down(String),
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            Self::Problem(p) => p.status,
            Self::Down(_) => 503,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Self::Problem(p) => &p.code,
            Self::Down(_) => "unavailable",
        }
    }
}

/// What one call sends besides its path and body.
#[derive(Debug, Default, Clone, Copy)]
pub struct Call<'a> {
    pub token: Option<&'a str>,
    /// The browser's address chain, for `X-Forwarded-For`.
    pub forwarded_for: &'a str,
    pub idempotency_key: Option<&'a str>,
}

impl Gateway {
    pub fn new(base: &str, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// Calls `method path` and reads the JSON answer (an empty answer reads as `null`).
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        call: Call<'_>,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ApiError> {
        let (_, bytes) = self.raw(method, path, call, body).await?;
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes
        };
        serde_json::from_slice(bytes).map_err(|e| {
            ApiError::Down(format!(
                "{}: unexpected answer ({:?} at line {} column {})",
                route(path),
                e.classify(),
                e.line(),
                e.column()
            ))
        })
    }

    /// Calls and returns the answer's content type and body as they are (a CSV statement).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        call: Call<'_>,
        body: Option<&serde_json::Value>,
    ) -> Result<(String, Vec<u8>), ApiError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-forwarded-for", call.forwarded_for);
        if let Some(token) = call.token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = call.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::Down(format!("{}: {}", route(path), e.without_url())))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ApiError::Down(format!("{}: {}", route(path), e.without_url())))?;
        if status.is_success() {
            return Ok((content_type, bytes.to_vec()));
        }
        match serde_json::from_slice::<Problem>(&bytes) {
            Ok(mut problem) if content_type.contains("json") => {
                problem.status = status.as_u16();
                Err(ApiError::Problem(problem))
            }
            _ => Err(ApiError::Down(format!("{}: HTTP {status}", route(path)))),
        }
    }
}

/// A path as logs may show it: no query, and every segment that is not a word of the API's
/// routes (lowercase letters, `-`, `_`, `.`) replaced by `{}` — voucher codes, order and
/// resident ids, anything a person typed.
pub fn route(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    path.split('/')
        .map(|seg| {
            let word = seg
                .bytes()
                .all(|b| b.is_ascii_lowercase() || matches!(b, b'-' | b'_' | b'.'));
            if word || seg == "v1" { seg } else { "{}" }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `path?k=v&…` with each value percent-encoded; empty values are left out.
pub fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            query.append_pair(k, v);
        }
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// One path segment, percent-encoded (a voucher code as typed). An empty or dot segment
/// (`.`, `..`, which a URL would resolve away) becomes `_`, an id nothing has.
pub fn segment(value: &str) -> String {
    if matches!(value, "" | "." | "..") {
        return "_".to_owned();
    }
    form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_segments_are_encoded() {
        assert_eq!(
            with_query("/v1/x", &[("a", ""), ("b", "1 2")]),
            "/v1/x?b=1+2"
        );
        assert_eq!(with_query("/v1/x", &[]), "/v1/x");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
        for dots in ["", ".", ".."] {
            assert_eq!(segment(dots), "_");
        }
        assert_eq!(
            route("/v1/merchant/vouchers/ABCD-EFGH"),
            "/v1/merchant/vouchers/{}"
        );
        assert_eq!(
            route("/v1/merchant/vouchers/SRP5-NQE2/write-off?x=13900000001"),
            "/v1/merchant/vouchers/{}/write-off"
        );
    }

    #[test]
    fn a_problem_names_its_fields() {
        let p: Problem = serde_json::from_str(
            r#"{"status":400,"code":"invalid_argument","title":"Invalid","detail":"phone: bad",
                "field":"phone","errors":[{"field":"phone","reason":"bad"},{"field":"name","reason":"empty"}]}"#,
        )
        .unwrap();
        assert_eq!(p.reason_for("name"), Some("empty"));
        assert_eq!(p.reason_for("password"), None);
        assert_eq!(p.fields(), vec!["phone", "name"]);
    }
}

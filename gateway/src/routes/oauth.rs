//! The client-credentials grant as RFC 6749 defines it (§4.4), for the OAuth2 library a
//! partner's engineer already uses: `POST /v1/auth/token` with an
//! `application/x-www-form-urlencoded` body, the client authenticated with HTTP Basic
//! (`client_secret_basic`, §2.3.1: id and secret form-encoded, then Base64) or in the body
//! (`client_secret_post`) — one of them, not both. Errors are the RFC's (§5.2)
//! `{"error", "error_description"}`: `invalid_request`, `invalid_client` (401, with
//! `WWW-Authenticate: Basic`), `unsupported_grant_type`, `invalid_scope`; a rate limit, an
//! outage or a fault stays the problem every route answers. Every answer carries
//! `Cache-Control: no-store`. The JSON form of the same grant keeps working, with
//! problem+json errors like every other route.

use axum::{
    Json,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use healthpoints_errors::{ApiError, ErrorCode};
use serde::Serialize;
use utoipa::ToSchema;

/// A token request in the form encoding, its client authenticated one way.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FormGrant {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    /// The scopes asked for (space-separated in the request); empty: what the client holds.
    pub(crate) scope: Vec<String>,
}

/// The scopes of a space-separated `scope` parameter.
pub(crate) fn scopes(text: &str) -> Vec<String> {
    text.split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An OAuth error (RFC 6749 §5.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type` or
    /// `invalid_scope`.
    pub error: String,
    pub error_description: String,
}

/// A refusal in the RFC's words, and the status it takes.
#[derive(Debug)]
pub(crate) struct Refusal {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl Refusal {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        let status = if error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    /// The refusal of a mesh error while issuing: bad credentials are `invalid_client`, a bad
    /// field `invalid_request` (`invalid_scope` for the scope). A limit, an outage or a fault is
    /// not the client's mistake: it stays the problem every route answers (`Err`), with its
    /// status and `Retry-After`.
    pub(crate) fn of(err: ApiError) -> Result<Self, ApiError> {
        Ok(match err.code {
            ErrorCode::InvalidCredentials
            | ErrorCode::Unauthenticated
            | ErrorCode::PermissionDenied
            | ErrorCode::AccountSuspended => {
                Self::new("invalid_client", "the client id or secret is not valid")
            }
            ErrorCode::InvalidArgument if err.field() == Some("scope") => Self::new(
                "invalid_scope",
                "the client does not hold every scope asked for",
            ),
            ErrorCode::InvalidArgument => Self::new("invalid_request", err.message),
            _ => return Err(err),
        })
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(OAuthError {
                error: self.error.to_owned(),
                error_description: self.description,
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        no_store(headers);
        // RFC 9110 §15.5.2: every 401 says how to authenticate.
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"healthpoints\""),
            );
        }
        response
    }
}

/// A token answer must not be stored by any cache (RFC 6749 §5.1).
pub(crate) fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// 201 with a body that must not be cached.
pub(crate) type ShownOnce<T> = (StatusCode, [(HeaderName, &'static str); 2], Json<T>);

/// A created answer that carries a secret shown once (client credentials): 201, never cached.
pub(crate) fn shown_once<T>(body: T) -> ShownOnce<T> {
    (
        StatusCode::CREATED,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
}

/// Reads a form-encoded token request: the grant type, the scope, and the client's id and
/// secret from exactly one of HTTP Basic and the body.
pub(crate) fn read(headers: &HeaderMap, body: &[u8]) -> Result<FormGrant, Refusal> {
    const KNOWN: [&str; 4] = ["grant_type", "scope", "client_id", "client_secret"];
    let mut fields = std::collections::BTreeMap::new();
    for (name, value) in form_urlencoded::parse(body) {
        // RFC 6749 §3.1 and §3.2: unrecognized parameters are ignored (however often they
        // come), parameters sent without a value are treated as omitted, and none of ours may
        // be given twice.
        let Some(known) = KNOWN.iter().find(|k| **k == name) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        if fields.insert(*known, value.to_string()).is_some() {
            return Err(Refusal::new(
                "invalid_request",
                format!("{known} is given more than once"),
            ));
        }
    }
    match fields.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => {
            return Err(Refusal::new(
                "unsupported_grant_type",
                "this server issues client_credentials grants only",
            ));
        }
        None => return Err(Refusal::new("invalid_request", "grant_type is required")),
    }
    let basic = match headers.get(header::AUTHORIZATION) {
        Some(value) => Some(basic_credentials(value).ok_or_else(|| {
            Refusal::new(
                "invalid_client",
                "Authorization must be Basic base64(client_id:client_secret)",
            )
        })?),
        None => None,
    };
    let posted = (fields.remove("client_id"), fields.remove("client_secret"));
    let (client_id, client_secret) = match (basic, posted) {
        // A client_id beside Basic is allowed (some libraries send it) if it is the same client;
        // a secret in both places is two ways of authenticating (§2.3).
        (Some((id, secret)), (posted_id, None)) if posted_id.as_ref().is_none_or(|p| *p == id) => {
            (id, secret)
        }
        (Some(_), _) => {
            return Err(Refusal::new(
                "invalid_request",
                "authenticate the client one way: HTTP Basic or client_id and client_secret in the body, not both",
            ));
        }
        (None, (Some(id), Some(secret))) => (id, secret),
        (None, _) => {
            return Err(Refusal::new(
                "invalid_client",
                "authenticate the client: HTTP Basic, or client_id and client_secret in the body",
            ));
        }
    };
    let scope = scopes(fields.get("scope").map(String::as_str).unwrap_or_default());
    Ok(FormGrant {
        client_id,
        client_secret,
        scope,
    })
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1); the scheme's name in any
/// case (RFC 9110 §11.1).
fn basic_credentials(value: &HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let (id, secret) = (form_decoded(id)?, form_decoded(secret)?);
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

/// `application/x-www-form-urlencoded` decoding of one value: `+` is a space, `%XX` a byte.
fn form_decoded(s: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut rest = s.bytes();
    while let Some(b) = rest.next() {
        bytes.push(match b {
            b'+' => b' ',
            b'%' => {
                let hex = [rest.next()?, rest.next()?];
                u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?
            }
            b => b,
        });
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(basic: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(b) = basic {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(b).unwrap());
        }
        h
    }

    fn basic(id: &str, secret: &str) -> String {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                enc(id),
                enc(secret)
            ))
        )
    }

    #[test]
    fn basic_and_post_authentication_are_read_and_not_both() {
        let g = read(
            &headers(Some(&basic("partner-1", "s3:cr/t&+"))),
            b"grant_type=client_credentials&scope=statistics%3Aread",
        )
        .unwrap();
        assert_eq!(
            g,
            FormGrant {
                client_id: "partner-1".into(),
                client_secret: "s3:cr/t&+".into(),
                scope: vec!["statistics:read".into()],
            }
        );
        let g = read(
            &headers(None),
            b"grant_type=client_credentials&client_id=p&client_secret=s",
        )
        .unwrap();
        assert!(g.client_id == "p" && g.scope.is_empty());
        let both = read(
            &headers(Some(&basic("p", "s"))),
            b"grant_type=client_credentials&client_id=p&client_secret=s",
        );
        assert_eq!(both.unwrap_err().error, "invalid_request");
        // The same client_id beside Basic is fine; another one is not; the scheme in any case.
        let g = read(
            &headers(Some(&basic("p", "s").replacen("Basic", "bAsIc", 1))),
            b"grant_type=client_credentials&client_id=p",
        )
        .unwrap();
        assert_eq!(g.client_id, "p");
        let other = read(
            &headers(Some(&basic("p", "s"))),
            b"grant_type=client_credentials&client_id=q",
        );
        assert_eq!(other.unwrap_err().error, "invalid_request");
    }

    #[test]
    fn refusals_say_what_the_rfc_says() {
        let e = |h: Option<&str>, body: &[u8]| read(&headers(h), body).unwrap_err();
        let r = e(None, b"grant_type=password&username=u&password=p");
        assert_eq!(
            (r.error, r.status),
            ("unsupported_grant_type", StatusCode::BAD_REQUEST)
        );
        let r = e(None, b"client_id=p&client_secret=s");
        assert_eq!(
            (r.error, r.status),
            ("invalid_request", StatusCode::BAD_REQUEST)
        );
        let r = e(None, b"grant_type=client_credentials");
        assert_eq!(
            (r.error, r.status),
            ("invalid_client", StatusCode::UNAUTHORIZED)
        );
        let r = e(Some("Basic !!!"), b"grant_type=client_credentials");
        assert_eq!(
            (r.error, r.status),
            ("invalid_client", StatusCode::UNAUTHORIZED)
        );
        let response = r.into_response();
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        let r = e(
            None,
            b"grant_type=client_credentials&grant_type=client_credentials",
        );
        assert_eq!(r.error, "invalid_request");
        assert_eq!(r.description, "grant_type is given more than once");
        // Unrecognized parameters are ignored, even repeated: the refusal is about the client.
        let r = e(None, b"grant_type=client_credentials&made-up=1&made-up=2");
        assert_eq!(r.error, "invalid_client");
        let r = e(None, b"grant_type=client_credentials");
        assert!(
            r.into_response()
                .headers()
                .contains_key(header::WWW_AUTHENTICATE)
        );
    }
}

//! Browsers on other origins (CORS): the origins a deployment allows, none by default. A web
//! client served from its own origin (or a developer's `http://localhost:5173`) may call the API
//! from the browser; any other origin's page gets no `Access-Control-Allow-Origin` and the
//! browser keeps the answer from it. Tokens travel in the `Authorization` header, never in
//! cookies, so credentials mode is not allowed (`Access-Control-Allow-Credentials` is never
//! sent).

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use healthpoints_config::ConfigError;
use serde::{Deserialize, Serialize};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// `[http.cors]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Exact origins (`https://points.example.gov.cn`), as a list or one comma-separated text
    /// (`HP_GATEWAY__HTTP__CORS__ALLOWED_ORIGINS`). Empty: no cross-origin access.
    #[serde(default, deserialize_with = "healthpoints_config::comma_list")]
    pub allowed_origins: Vec<String>,
    /// How long a browser may cache a preflight's answer.
    #[serde(default = "default_max_age")]
    pub max_age_seconds: u64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            max_age_seconds: default_max_age(),
        }
    }
}

fn default_max_age() -> u64 {
    600
}

impl CorsConfig {
    /// Each origin is `scheme://host[:port]`, nothing more; `*` is refused (name the origins).
    pub fn check(&self) -> Result<(), ConfigError> {
        let key = "http.cors.allowed_origins";
        for origin in &self.allowed_origins {
            let Some((scheme, rest)) = origin.split_once("://") else {
                return Err(ConfigError::invalid(
                    key,
                    "each origin is scheme://host[:port], e.g. https://points.example.gov.cn (`*` is not allowed: name the origins)",
                ));
            };
            let host_ok = !rest.is_empty()
                && !rest.contains(['/', '?', '#', '*', ' ', '@'])
                && HeaderValue::from_str(origin).is_ok();
            if !matches!(scheme, "http" | "https") || !host_ok {
                return Err(ConfigError::invalid(
                    key,
                    "each origin is http(s)://host[:port] with no path, e.g. https://points.example.gov.cn",
                ));
            }
            // Compared byte for byte with the browser's Origin, which is lowercase and leaves
            // the default port out.
            let default_port = (scheme == "https" && rest.ends_with(":443"))
                || (scheme == "http" && rest.ends_with(":80"));
            if *origin != origin.to_ascii_lowercase() || default_port {
                return Err(ConfigError::invalid(
                    key,
                    "write each origin as a browser sends it: lowercase, without a default port (:443, :80)",
                ));
            }
        }
        if self.max_age_seconds > 86_400 {
            return Err(ConfigError::invalid(
                "http.cors.max_age_seconds",
                "must be at most 86400 (a day)",
            ));
        }
        Ok(())
    }

    /// The layer that answers preflights and marks allowed responses; `None` without origins,
    /// so a deployment that allows none sends no CORS header at all.
    pub fn layer(&self) -> Option<CorsLayer> {
        if self.allowed_origins.is_empty() {
            return None;
        }
        let origins: Vec<HeaderValue> = self
            .allowed_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        Some(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    HeaderName::from_static("idempotency-key"),
                    HeaderName::from_static("x-request-id"),
                ])
                .expose_headers([
                    header::RETRY_AFTER,
                    header::WWW_AUTHENTICATE,
                    header::CONTENT_DISPOSITION,
                    HeaderName::from_static("x-request-id"),
                ])
                .max_age(Duration::from_secs(self.max_age_seconds)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(origins: &[&str]) -> CorsConfig {
        CorsConfig {
            allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            ..CorsConfig::default()
        }
    }

    #[test]
    fn origins_are_exact_and_none_means_no_layer() {
        assert!(with(&[]).layer().is_none());
        assert!(
            with(&["https://points.example.gov.cn", "http://localhost:5173"])
                .check()
                .is_ok()
        );
        for bad in [
            "*",
            "https://*.example.cn",
            "points.example.cn",
            "https://a.cn/app",
            "ftp://a.cn",
            "https://Points.example.cn",
            "https://a.cn:443",
        ] {
            assert!(with(&[bad]).check().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_comma_separated_text_is_a_list() {
        let c: CorsConfig =
            serde_json::from_str(r#"{"allowed_origins":"https://a.cn, http://localhost:5173"}"#)
                .unwrap();
        assert_eq!(c.allowed_origins, ["https://a.cn", "http://localhost:5173"]);
    }
}

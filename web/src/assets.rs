//! The stylesheet, the one script and the icon, compiled into the binary and served under names
//! that carry a hash of their content (`site.3f2a….css`), so browsers keep them for a year and
//! a new release is fetched at once. Nothing comes from a CDN.

use std::sync::LazyLock;

use aws_lc_rs::digest;
use axum::{
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

struct Asset {
    /// `/assets/site.<hash>.css`
    href: String,
    content_type: &'static str,
    body: &'static [u8],
}

fn asset(stem: &str, ext: &str, content_type: &'static str, body: &'static [u8]) -> Asset {
    let hash = digest::digest(&digest::SHA256, body);
    let hex: String = hash.as_ref()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Asset {
        href: format!("/assets/{stem}.{hex}.{ext}"),
        content_type,
        body,
    }
}

static ASSETS: LazyLock<[Asset; 3]> = LazyLock::new(|| {
    [
        asset(
            "site",
            "css",
            "text/css; charset=utf-8",
            include_bytes!("../assets/site.css"),
        ),
        asset(
            "app",
            "js",
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/app.js"),
        ),
        asset(
            "icon",
            "svg",
            "image/svg+xml",
            include_bytes!("../assets/icon.svg"),
        ),
    ]
});

pub(crate) fn css() -> &'static str {
    &ASSETS[0].href
}

pub(crate) fn js() -> &'static str {
    &ASSETS[1].href
}

pub(crate) fn icon() -> &'static str {
    &ASSETS[2].href
}

/// `GET /assets/{name}`: an asset by its hashed name.
pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    let Some(a) = ASSETS
        .iter()
        .find(|a| a.href.strip_prefix("/assets/") == Some(name.as_str()))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(a.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        a.body,
    )
        .into_response()
}

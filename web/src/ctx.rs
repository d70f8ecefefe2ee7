//! What every page handler gets ([`Ctx`]: the session, the language, calls to the gateway with
//! the signed-in person's token) and what wraps every request ([`layer`]): the session cookie
//! opened and sealed again when it changed, the origin of every form checked, security headers,
//! and error pages in the person's language (a handler answers a [`PageError`]; the layer turns
//! it into the page or, for a session that ended, into the way back through sign-in).

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use askama::Template;
use axum::{
    extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    middleware::Next,
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::de::DeserializeOwned;

use crate::{
    Web,
    api::{ApiError, Call},
    assets,
    i18n::{Lang, Msgs},
    session::{Flash, Role, Session, TokenFacts, User},
};

/// The Content-Security-Policy of every answer: nothing inline, nothing from elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The request's session, shared by the handler and [`layer`].
#[derive(Debug)]
struct Shared {
    session: Mutex<Session>,
    changed: AtomicBool,
    /// One token refresh at a time.
    refreshing: tokio::sync::Mutex<()>,
}

/// A page handler's view of the request.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    web: Web,
    shared: Arc<Shared>,
    forwarded_for: Arc<str>,
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Ctx {
    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        self.shared
            .session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes the session; the answer carries the resealed cookie.
    pub(crate) fn update(&self, change: impl FnOnce(&mut Session)) {
        change(&mut self.session());
        self.shared.changed.store(true, Ordering::Relaxed);
    }

    pub(crate) fn lang(&self) -> Lang {
        self.session().lang
    }

    pub(crate) fn t(&self) -> &'static Msgs {
        self.lang().msgs()
    }

    pub(crate) fn user(&self) -> Option<User> {
        self.session().user.clone()
    }

    /// The signed-in person, if they have `role` (one of `roles`); otherwise the way to sign
    /// in, or a refusal for someone signed in with another role.
    pub(crate) fn require(&self, roles: &[Role]) -> Result<User, PageError> {
        match self.user() {
            None => Err(PageError::SignIn),
            Some(u) if roles.contains(&u.role) => Ok(u),
            Some(_) => Err(PageError::Refused(self.t().not_for_you.to_owned())),
        }
    }

    /// A message for the next page.
    pub(crate) fn flash(&self, ok: bool, text: impl Into<String>) {
        let text = text.into();
        self.update(|s| s.flash = Some(Flash { ok, text }));
    }

    /// Signs `user` in: a new session id (so CSRF tokens of the anonymous session die).
    pub(crate) fn sign_in(&self, user: User) {
        let id = self.web.keys.random_token(16);
        self.update(|s| {
            s.id = id;
            s.started = now();
            s.user = Some(user);
        });
    }

    /// Signs out: a fresh anonymous session in the same language.
    pub(crate) fn sign_out(&self) {
        let fresh = self.web.keys.fresh(now(), self.lang());
        self.update(|s| *s = fresh);
    }

    pub(crate) fn web(&self) -> &Web {
        &self.web
    }

    /// A call without a token (sign-in, registration, public lists).
    pub(crate) async fn public<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ApiError> {
        let call = Call {
            token: None,
            forwarded_for: &self.forwarded_for,
            idempotency_key: None,
        };
        self.web.api.json(method, path, call, body).await
    }

    /// An access token that is good for the next minute, refreshed if it is not.
    async fn token(&self) -> Result<String, PageError> {
        let _one = self.shared.refreshing.lock().await;
        let user = self.user().ok_or(PageError::SignIn)?;
        if user.expires - now() > 60 {
            return Ok(user.access);
        }
        #[derive(serde::Deserialize)]
        struct Tokens {
            access_token: String,
            refresh_token: Option<String>,
        }
        let refreshed: Result<Tokens, _> = self
            .public(
                Method::POST,
                "/v1/auth/refresh",
                Some(&serde_json::json!({ "refresh_token": user.refresh })),
            )
            .await;
        match refreshed {
            Ok(tokens) => {
                let facts = TokenFacts::read(&tokens.access_token).ok_or(PageError::SignIn)?;
                let access = tokens.access_token.clone();
                self.update(|s| {
                    if let Some(u) = s.user.as_mut() {
                        u.access = tokens.access_token;
                        if let Some(r) = tokens.refresh_token {
                            u.refresh = r;
                        }
                        u.expires = facts.exp;
                    }
                });
                Ok(access)
            }
            Err(e) if e.status() == 401 => Err(PageError::SignIn),
            Err(e) => Err(e.into()),
        }
    }

    /// A call as the signed-in person; a 401 ends the session (the way back is sign-in).
    pub(crate) async fn api<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        idempotency_key: Option<&str>,
    ) -> Result<T, ApiError> {
        let token = match self.token().await {
            Ok(t) => t,
            Err(PageError::Down) => return Err(ApiError::Down("refresh".into())),
            Err(_) => return Err(unauthenticated()),
        };
        let call = Call {
            token: Some(&token),
            forwarded_for: &self.forwarded_for,
            idempotency_key,
        };
        self.web.api.json(method, path, call, body).await
    }

    /// `GET path` as the signed-in person.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        self.api(Method::GET, path, None, None).await
    }

    /// The raw answer of `GET path` (a CSV file).
    pub(crate) async fn download(&self, path: &str) -> Result<(String, Vec<u8>), PageError> {
        let token = self.token().await?;
        let call = Call {
            token: Some(&token),
            forwarded_for: &self.forwarded_for,
            idempotency_key: None,
        };
        Ok(self.web.api.raw(Method::GET, path, call, None).await?)
    }

    /// What the layout of every page needs; takes the flash message.
    pub(crate) fn chrome(&self, title: &str, here: &str) -> Chrome {
        let mut session = self.session();
        let flash = session.flash.take();
        if flash.is_some() {
            self.shared.changed.store(true, Ordering::Relaxed);
        }
        let t = session.lang.msgs();
        let role = session.user.as_ref().map(|u| u.role);
        Chrome {
            t,
            csrf: self.web.keys.csrf(&session),
            display: session.user.as_ref().map(|u| u.display.clone()),
            nav: nav(t, role)
                .into_iter()
                .map(|(href, label)| Nav {
                    current: href == here,
                    href,
                    label,
                })
                .collect(),
            flash,
            title: title.to_owned(),
            css: assets::css(),
            js: assets::js(),
            icon: assets::icon(),
            here: here.to_owned(),
        }
    }
}

fn unauthenticated() -> ApiError {
    ApiError::Problem(crate::api::Problem {
        status: 401,
        code: "unauthenticated".into(),
        ..Default::default()
    })
}

/// The navigation of a role (nothing before sign-in).
pub(crate) fn nav(t: &'static Msgs, role: Option<Role>) -> Vec<(&'static str, &'static str)> {
    match role {
        None => vec![],
        Some(Role::Resident) => vec![
            ("/me", t.home),
            ("/mall", t.mall),
            ("/orders", t.orders),
            ("/me/history", t.history),
            ("/me/notifications", t.notifications),
            ("/me/play", t.play),
            ("/me/profile", t.profile),
        ],
        Some(Role::Merchant) => vec![("/counter", t.counter), ("/counter/statement", t.statement)],
        Some(Role::Station) => vec![("/station", t.station)],
        Some(Role::DistrictAdmin | Role::CityAdmin) => vec![
            ("/office", t.office),
            ("/office/review", t.review),
            ("/office/rules", t.rules),
            ("/office/merchants", t.merchants),
            ("/office/partners", t.partners),
        ],
    }
}

/// One entry of the navigation.
#[derive(Debug)]
pub(crate) struct Nav {
    pub(crate) href: &'static str,
    pub(crate) label: &'static str,
    pub(crate) current: bool,
}

/// The layout's part of every page.
#[derive(Debug)]
pub(crate) struct Chrome {
    pub(crate) t: &'static Msgs,
    pub(crate) csrf: String,
    pub(crate) display: Option<String>,
    pub(crate) nav: Vec<Nav>,
    pub(crate) flash: Option<Flash>,
    pub(crate) title: String,
    pub(crate) css: &'static str,
    pub(crate) js: &'static str,
    pub(crate) icon: &'static str,
    /// This page's path, where the language switch comes back to.
    pub(crate) here: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, PageError> {
        parts
            .extensions
            .get::<Ctx>()
            .cloned()
            .ok_or(PageError::Internal)
    }
}

/// The errors of a form's fields, each shown next to its field (what was typed is kept by the
/// page's own form struct).
#[derive(Debug, Default)]
pub(crate) struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push((field.into(), message.into()));
    }

    pub(crate) fn has(&self, field: &str) -> bool {
        self.0.iter().any(|(f, _)| f == field)
    }

    /// The message for `field`, or nothing.
    pub(crate) fn error(&self, field: &str) -> &str {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
            .unwrap_or_default()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A page, rendered; a template that fails to render (a bug) is a 500.
pub(crate) fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Why a page is not what was asked for. The [`layer`] renders it in the person's language.
#[derive(Debug, Clone)]
pub(crate) enum PageError {
    /// Not signed in (or the session ended): sign in, then come back.
    SignIn,
    /// A form whose CSRF token is not this session's (a stale page, or another site's form).
    StaleForm,
    /// Refused by the web client itself, with the page's words.
    Refused(String),
    /// Refused by the gateway (another district's figures, another merchant's voucher): its
    /// own sentence on English pages, a plain one on Chinese pages.
    Forbidden(String),
    NotFound,
    Bad(String),
    /// The gateway or a backend is down: try again.
    Down,
    Internal,
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Down(why) => {
                tracing::warn!(%why, "the gateway did not answer");
                Self::Down
            }
            ApiError::Problem(p) => match p.status {
                401 => Self::SignIn,
                403 => Self::Forbidden(p.detail.unwrap_or(p.title)),
                404 => Self::NotFound,
                429 | 500..=599 => Self::Down,
                _ => Self::Bad(p.detail.unwrap_or(p.title)),
            },
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut r = StatusCode::NO_CONTENT.into_response();
        r.extensions_mut().insert(self);
        r
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage {
    c: Chrome,
    heading: &'static str,
    text: String,
}

/// The answer to a path no page has.
pub(crate) async fn not_found() -> PageError {
    PageError::NotFound
}

/// A form posted to the web client: its CSRF token checked against the session, then its
/// fields read as `T` (fields `T` does not name, such as `csrf`, are ignored).
#[derive(Debug)]
pub(crate) struct Posted<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Posted<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, PageError> {
        let ctx = req
            .extensions()
            .get::<Ctx>()
            .cloned()
            .ok_or(PageError::Internal)?;
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| PageError::Bad(ctx.t().form_unreadable.to_owned()))?;
        let token = form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if !ctx.web.keys.csrf_ok(&ctx.session(), &token) {
            return Err(PageError::StaleForm);
        }
        serde_urlencoded::from_bytes(&bytes)
            .map(Posted)
            .map_err(|_| PageError::Bad(ctx.t().form_unreadable.to_owned()))
    }
}

/// A path of this site to return to (`/me?x=1`), never another site's (`//evil`, `https:`).
pub(crate) fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control());
    ok.then_some(next)
}

/// Whether an unsafe request comes from this site's own pages.
fn same_origin(web: &Web, headers: &HeaderMap) -> bool {
    let site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("same-origin");
    if !matches!(site, "same-origin" | "none") {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    match &web.origin {
        Some(expected) => origin == expected,
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            origin.split_once("://").map(|(_, h)| h) == Some(host)
        }
    }
}

/// Wraps every request: opens the session, checks the origin of unsafe requests, runs the
/// handler, renders a [`PageError`], seals the session again if it changed, and adds the
/// security headers.
pub(crate) async fn layer(State(web): State<Web>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let now = now();
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| crate::session::read_cookie(c, web.secure));
    // A navigation from another site (a link in a message) arrives without the SameSite=Strict
    // cookie: such a request must not replace it with a new one. A page asked for that way is
    // loaded again from this site, where the browser sends the cookie.
    let from_elsewhere = cookie.is_none()
        && headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|site| matches!(site, "cross-site" | "same-site"));
    if from_elsewhere && *req.method() == Method::GET {
        return reload_here(req.uri().path_and_query().map_or("/", |p| p.as_str()));
    }
    let opened = cookie.and_then(|v| web.keys.open(v));
    let (session, changed, ended) = match opened {
        Some(s) if now - s.started <= web.max_age => (s, false, false),
        Some(s) => {
            let signed_in = s.user.is_some();
            (web.keys.fresh(now, s.lang), true, signed_in)
        }
        None => (web.keys.fresh(now, Lang::default()), true, false),
    };
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
    // The chain a trusted proxy sent is passed on; anyone else's claim is dropped.
    let forwarded_for: Arc<str> = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok())
    {
        Some(chain)
            if !chain.trim().is_empty() && web.proxies.iter().any(|n| n.contains(&peer)) =>
        {
            format!("{chain}, {peer}").into()
        }
        _ => peer.to_string().into(),
    };
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD);
    let cross_site = unsafe_method && !same_origin(&web, headers);
    let back = if unsafe_method {
        headers
            .get(header::REFERER)
            .and_then(|v| v.to_str().ok())
            .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
            .and_then(|rest| rest.find('/').map(|i| rest[i..].to_owned()))
    } else {
        req.uri().path_and_query().map(|p| p.as_str().to_owned())
    };
    let ctx = Ctx {
        web: web.clone(),
        shared: Arc::new(Shared {
            session: Mutex::new(session),
            changed: AtomicBool::new(changed),
            refreshing: tokio::sync::Mutex::new(()),
        }),
        forwarded_for,
    };
    if ended {
        ctx.flash(false, ctx.t().session_ended);
    }
    req.extensions_mut().insert(ctx.clone());
    let mut response = if cross_site {
        PageError::Refused(ctx.t().cross_site.to_owned()).into_response()
    } else {
        next.run(req).await
    };
    if let Some(error) = response.extensions_mut().remove::<PageError>() {
        response = error_page(&ctx, error, back.as_deref());
    }
    if ctx.shared.changed.load(Ordering::Relaxed) && !from_elsewhere && !cross_site {
        let sealed = web.keys.seal(&ctx.session());
        if let Ok(v) = HeaderValue::from_str(&crate::session::set_cookie(web.secure, &sealed)) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Pages carry personal data: never stored; the hashed assets set their own.
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// A page that loads `path` again from this site (its only content; no cookie is set).
fn reload_here(path: &str) -> Response {
    let path = local_path(path).unwrap_or("/");
    let href = crate::chart::escape(path);
    let mut r = Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url={href}\"><title>健康积分</title></head>\
         <body><p><a href=\"{href}\">继续 / Continue</a></p></body></html>"
    ))
    .into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

/// A `GET` of a path that only takes forms (a sign-in that came back to the page a form was
/// posted to): the page above it.
pub(crate) async fn to_parent(method: Method, uri: http::Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let path = uri.path();
    let parent = match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    };
    Redirect::to(parent).into_response()
}

/// The page (or the way to sign in) for a [`PageError`].
fn error_page(ctx: &Ctx, error: PageError, back: Option<&str>) -> Response {
    let t = ctx.t();
    let (status, heading, text) = match error {
        PageError::StaleForm if ctx.user().is_some() => {
            // A page left open from an earlier session (or another tab's sign-in): nothing was
            // done; the person stays signed in and is told to send it again.
            ctx.flash(false, t.form_expired);
            let home = ctx.user().map_or("/", |u| u.role.home());
            let to = back.and_then(local_path).unwrap_or(home);
            return Redirect::to(to).into_response();
        }
        PageError::SignIn | PageError::StaleForm => {
            if ctx.user().is_some() {
                // The session ended under the person (a revoked or expired sign-in): say so on
                // the sign-in page.
                ctx.sign_out();
                ctx.flash(false, t.session_ended);
            }
            let next = back
                .and_then(local_path)
                .filter(|p| !p.starts_with("/login"));
            let to = match next {
                Some(p) => crate::api::with_query("/login", &[("next", p)]),
                None => "/login".to_owned(),
            };
            return Redirect::to(&to).into_response();
        }
        PageError::Refused(why) => (StatusCode::FORBIDDEN, t.refused, why),
        PageError::Forbidden(why) => (
            StatusCode::FORBIDDEN,
            t.refused,
            if ctx.lang() == Lang::En {
                why
            } else {
                t.refused_text.to_owned()
            },
        ),
        PageError::NotFound => (StatusCode::NOT_FOUND, t.not_found, t.not_found_text.into()),
        PageError::Bad(why) => (StatusCode::BAD_REQUEST, t.bad_request, why),
        PageError::Down => (
            StatusCode::SERVICE_UNAVAILABLE,
            t.unavailable,
            t.unavailable_text.into(),
        ),
        PageError::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            t.internal,
            t.internal_text.into(),
        ),
    };
    let mut r = render(&ProblemPage {
        c: ctx.chrome(heading, back.and_then(local_path).unwrap_or("/")),
        heading,
        text,
    });
    *r.status_mut() = status;
    r
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(local_path("/mall?mall=city"), Some("/mall?mall=city"));
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "me",
            "",
        ] {
            assert_eq!(local_path(bad), None, "{bad}");
        }
    }
}

//! A resident's rights from the browser: their password changed from their profile
//! (`/me/password`; every other device is signed out and this one carries on with the new
//! session), or — forgotten — reset with the code sent to their phone (`/password-reset`, then
//! `/password-reset/confirm`); and their data downloaded (`/me/export`, JSON or CSV).

use askama::Template;
use axum::{
    extract::Query,
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    api::ApiError,
    ctx::{Chrome, Ctx, FieldErrors, PageError, Posted, render},
    i18n::Msgs,
    session::{Role, TokenFacts},
};

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    c: Chrome,
    errors: FieldErrors,
}

/// `GET /me/password`.
pub(crate) async fn password_page(ctx: Ctx) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    Ok(render(&PasswordPage {
        c: ctx.chrome(ctx.t().change_password, "/me/profile"),
        errors: FieldErrors::default(),
    }))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

#[derive(Debug, Deserialize)]
struct Tokens {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// Each refused field in the page's words.
fn field_errors(t: &'static Msgs, e: &ApiError) -> Option<FieldErrors> {
    let ApiError::Problem(p) = e else {
        return None;
    };
    if !matches!(p.status, 400 | 422) {
        return None;
    }
    let mut errors = FieldErrors::default();
    for field in p.fields() {
        let message = match field {
            "current_password" => t.err_current_password,
            "new_password" if p.reason_for(field).is_some_and(|r| r.contains("differ")) => {
                t.err_same_password
            }
            "new_password" => t.err_password,
            "phone" => t.err_phone,
            "code" => t.err_code,
            other => p.reason_for(other).unwrap_or(t.form_errors),
        };
        errors.push(field, message);
    }
    Some(errors)
}

fn refused(page: &impl Template) -> Response {
    let mut r = render(page);
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    r
}

/// `POST /me/password`: the new session replaces this browser's; the others end.
pub(crate) async fn change_password(
    ctx: Ctx,
    Posted(form): Posted<PasswordForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    let t = ctx.t();
    let answer: Result<Tokens, ApiError> = ctx
        .api(
            Method::PUT,
            "/v1/me/password",
            Some(&json!({
                "current_password": form.current_password,
                "new_password": form.new_password,
            })),
            None,
        )
        .await;
    match answer {
        Ok(tokens) => {
            let facts = TokenFacts::read(&tokens.access_token).ok_or(PageError::SignIn)?;
            ctx.update(|s| {
                if let Some(u) = s.user.as_mut() {
                    u.access = tokens.access_token;
                    u.refresh = tokens.refresh_token.unwrap_or_default();
                    u.expires = facts.exp;
                }
            });
            ctx.flash(true, t.password_changed);
            Ok(Redirect::to("/me/profile").into_response())
        }
        Err(e) if e.code() == "account_locked" || e.code() == "rate_limited" => {
            Err(PageError::Refused(t.locked.to_owned()))
        }
        Err(e) => match field_errors(t, &e) {
            Some(errors) => Ok(refused(&PasswordPage {
                c: ctx.chrome(t.change_password, "/me/profile"),
                errors,
            })),
            None => Err(e.into()),
        },
    }
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    c: Chrome,
    /// The second step: the code and the new password.
    confirm: bool,
    phone: String,
    errors: FieldErrors,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ResetForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    new_password: String,
}

fn reset_page(ctx: &Ctx, confirm: bool, phone: String, errors: FieldErrors) -> ResetPage {
    ResetPage {
        c: ctx.chrome(ctx.t().reset_password, "/login"),
        confirm,
        phone,
        errors,
    }
}

/// `GET /password-reset`.
pub(crate) async fn reset_start(ctx: Ctx) -> Response {
    render(&reset_page(
        &ctx,
        false,
        String::new(),
        FieldErrors::default(),
    ))
}

/// `POST /password-reset`: the code is sent (or, for a number nobody registered, not — the
/// page says the same), then the second step.
pub(crate) async fn reset_send(
    ctx: Ctx,
    Posted(form): Posted<ResetForm>,
) -> Result<Response, PageError> {
    let t = ctx.t();
    let phone = form.phone.trim().to_owned();
    let sent: Result<serde_json::Value, ApiError> = ctx
        .public(
            Method::POST,
            "/v1/auth/password-reset",
            Some(&json!({ "phone": phone })),
        )
        .await;
    match sent {
        Ok(_) => {
            ctx.flash(true, t.code_sent);
            // The number is typed again on the next page: it never travels in a URL (history,
            // Referer, proxies' logs).
            Ok(Redirect::to("/password-reset/confirm").into_response())
        }
        Err(e) if e.code() == "failed_precondition" => {
            Err(PageError::Refused(t.reset_unavailable.to_owned()))
        }
        Err(e) if e.code() == "rate_limited" => Err(PageError::Refused(t.locked.to_owned())),
        Err(e) => match field_errors(t, &e) {
            Some(errors) => Ok(refused(&reset_page(&ctx, false, phone, errors))),
            None => Err(e.into()),
        },
    }
}

/// `GET /password-reset/confirm`: the number is typed again (it never travels in a URL).
pub(crate) async fn reset_confirm_page(ctx: Ctx) -> Response {
    render(&reset_page(
        &ctx,
        true,
        String::new(),
        FieldErrors::default(),
    ))
}

/// `POST /password-reset/confirm`: the new password is set; sign in with it.
pub(crate) async fn reset_confirm(
    ctx: Ctx,
    Posted(form): Posted<ResetForm>,
) -> Result<Response, PageError> {
    let t = ctx.t();
    let phone = form.phone.trim().to_owned();
    let done: Result<serde_json::Value, ApiError> = ctx
        .public(
            Method::POST,
            "/v1/auth/password-reset/confirm",
            Some(&json!({
                "phone": phone,
                "code": form.code.trim(),
                "new_password": form.new_password,
            })),
        )
        .await;
    match done {
        Ok(_) => {
            ctx.flash(true, t.password_reset_ok);
            Ok(Redirect::to("/login").into_response())
        }
        Err(e) if e.code() == "rate_limited" => Err(PageError::Refused(t.locked.to_owned())),
        Err(e) => match field_errors(t, &e) {
            Some(errors) => Ok(refused(&reset_page(&ctx, true, phone, errors))),
            None => Err(e.into()),
        },
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ExportQuery {
    #[serde(default)]
    format: String,
}

/// `GET /me/export?format=json|csv`: everything the programme holds about the resident, as a
/// file to keep.
pub(crate) async fn export(ctx: Ctx, Query(q): Query<ExportQuery>) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    let format = if q.format == "csv" { "csv" } else { "json" };
    let (content_type, body) = ctx
        .download(&format!("/v1/me/export?format={format}"))
        .await?;
    let mut r = body.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static(if format == "csv" {
            "attachment; filename=\"healthpoints-my-data.csv\""
        } else {
            "attachment; filename=\"healthpoints-my-data.json\""
        }),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CloseForm {
    #[serde(default)]
    password: String,
    /// A ticked box sends `on`.
    #[serde(default)]
    cancel_open_orders: Option<String>,
}

/// `POST /me/close`: the account is closed and this browser signed out; a wrong password is
/// said on the profile page.
pub(crate) async fn close(
    ctx: Ctx,
    Posted(form): Posted<CloseForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Resident])?;
    let t = ctx.t();
    let closed: Result<serde_json::Value, ApiError> = ctx
        .api(
            Method::POST,
            "/v1/me/close",
            Some(&json!({
                "password": form.password,
                "cancel_open_orders": form.cancel_open_orders.is_some(),
            })),
            None,
        )
        .await;
    match closed {
        Ok(_) => {
            ctx.sign_out();
            ctx.flash(true, t.account_closed);
            Ok(Redirect::to("/login").into_response())
        }
        Err(e) if e.code() == "account_locked" || e.code() == "rate_limited" => {
            Err(PageError::Refused(t.locked.to_owned()))
        }
        Err(e) if matches!(e.status(), 400 | 422) => {
            ctx.flash(false, t.err_current_password);
            Ok(Redirect::to("/me/profile#close-h").into_response())
        }
        Err(e) => Err(e.into()),
    }
}

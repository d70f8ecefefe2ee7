//! Sign-in, sign-out, registration and the language switch.

use askama::Template;
use axum::{
    extract::Query,
    http::Method,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    api::ApiError,
    ctx::{Chrome, Ctx, FieldErrors, PageError, Posted, local_path, render},
    i18n::{Lang, district_name},
    session::{Role, TokenFacts, User},
};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    next: String,
    login: String,
    error: Option<&'static str>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct NextQuery {
    #[serde(default)]
    next: String,
}

/// `GET /login`.
pub(crate) async fn login_page(ctx: Ctx, Query(q): Query<NextQuery>) -> Response {
    if let Some(u) = ctx.user() {
        return Redirect::to(u.role.home()).into_response();
    }
    render(&LoginPage {
        c: ctx.chrome(ctx.t().sign_in, "/login"),
        next: local_path(&q.next).unwrap_or_default().to_owned(),
        login: String::new(),
        error: None,
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

#[derive(Debug, Deserialize)]
struct Tokens {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// Signs in with the gateway's tokens; the person's start page (or `next`) after.
async fn establish(ctx: &Ctx, tokens: Tokens, login: &str) -> Result<Role, &'static str> {
    let t = ctx.t();
    let facts = TokenFacts::read(&tokens.access_token).ok_or(t.bad_login)?;
    let Some(role) = facts.role() else {
        // A partner's or a service's account: not a person at a browser. Its session is ended
        // at once rather than left open.
        if let Some(refresh) = &tokens.refresh_token {
            let _: Result<serde_json::Value, _> = ctx
                .public(
                    Method::POST,
                    "/v1/auth/logout",
                    Some(&json!({ "refresh_token": refresh })),
                )
                .await;
        }
        return Err(t.web_not_for_role);
    };
    ctx.sign_in(User {
        access: tokens.access_token,
        refresh: tokens.refresh_token.unwrap_or_default(),
        expires: facts.exp,
        role,
        district: facts.district,
        display: login.to_owned(),
    });
    if role == Role::Resident {
        #[derive(Deserialize)]
        struct Me {
            name: String,
        }
        if let Ok(me) = ctx.get::<Me>("/v1/me").await {
            ctx.update(|s| {
                if let Some(u) = s.user.as_mut() {
                    u.display = me.name;
                }
            });
        }
    }
    Ok(role)
}

/// `POST /login`.
pub(crate) async fn login(ctx: Ctx, Posted(form): Posted<LoginForm>) -> Response {
    let t = ctx.t();
    let answer: Result<Tokens, ApiError> = ctx
        .public(
            Method::POST,
            "/v1/auth/login",
            Some(&json!({ "login": form.login.trim(), "password": form.password })),
        )
        .await;
    let error = match answer {
        Ok(tokens) => match establish(&ctx, tokens, form.login.trim()).await {
            Ok(role) => {
                let to = local_path(&form.next)
                    .filter(|p| !p.starts_with("/login"))
                    .unwrap_or(role.home());
                return Redirect::to(to).into_response();
            }
            Err(why) => why,
        },
        Err(e) => match e.code() {
            "account_locked" | "rate_limited" => t.locked,
            "account_suspended" => t.account_barred,
            "invalid_credentials" | "invalid_argument" | "unauthenticated" => t.bad_login,
            _ => return PageError::from(e).into_response(),
        },
    };
    let mut r = render(&LoginPage {
        c: ctx.chrome(t.sign_in, "/login"),
        next: local_path(&form.next).unwrap_or_default().to_owned(),
        login: form.login,
        error: Some(error),
    });
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    r
}

/// `POST /logout`: the gateway revokes the session, the browser's cookie becomes anonymous.
pub(crate) async fn logout(ctx: Ctx, Posted(_): Posted<serde::de::IgnoredAny>) -> Response {
    if let Some(u) = ctx.user() {
        let _: Result<serde_json::Value, _> = ctx
            .public(
                Method::POST,
                "/v1/auth/logout",
                Some(&json!({ "refresh_token": u.refresh })),
            )
            .await;
    }
    ctx.sign_out();
    Redirect::to("/login").into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct LanguageForm {
    lang: String,
    #[serde(default)]
    back: String,
}

/// `POST /lang`: the page language, kept in the session.
pub(crate) async fn language(ctx: Ctx, Posted(form): Posted<LanguageForm>) -> Response {
    if let Some(lang) = Lang::parse(&form.lang) {
        ctx.update(|s| s.lang = lang);
    }
    Redirect::to(local_path(&form.back).unwrap_or("/")).into_response()
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RegisterForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    id_number: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    residence_district: String,
    #[serde(default)]
    residence_type: String,
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    c: Chrome,
    form: RegisterForm,
    districts: Vec<(String, String)>,
    errors: FieldErrors,
}

/// The districts to choose from, named in the page's language.
async fn districts(ctx: &Ctx) -> Result<Vec<(String, String)>, PageError> {
    #[derive(Deserialize)]
    struct District {
        code: String,
    }
    #[derive(Deserialize)]
    struct Districts {
        districts: Vec<District>,
    }
    let list: Districts = ctx.public(Method::GET, "/v1/districts", None).await?;
    Ok(list
        .districts
        .into_iter()
        .map(|d| {
            let name = district_name(ctx.t(), &d.code);
            (d.code, name)
        })
        .collect())
}

/// `GET /register`.
pub(crate) async fn register_page(ctx: Ctx) -> Result<Response, PageError> {
    Ok(render(&RegisterPage {
        c: ctx.chrome(ctx.t().register, "/register"),
        form: RegisterForm {
            residence_type: "registered".into(),
            ..RegisterForm::default()
        },
        districts: districts(&ctx).await?,
        errors: FieldErrors::default(),
    }))
}

/// `POST /register`: registers, signs in and goes to the new resident's points. A refusal
/// shows each field's error next to it and keeps what was typed (but the password).
pub(crate) async fn register(
    ctx: Ctx,
    Posted(mut form): Posted<RegisterForm>,
) -> Result<Response, PageError> {
    let t = ctx.t();
    let mut errors = FieldErrors::default();
    // Full-width digits (from a Chinese keyboard) read as the digits they are.
    let id: String = form
        .id_number
        .trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
            'ｘ' | 'Ｘ' | 'x' => 'X',
            c => c,
        })
        .collect();
    if id.chars().count() != 18 {
        errors.push("id_number", t.id_length);
    } else if !id.is_ascii()
        || healthpoints_types::id_number::check_char(&id[..17]) != id[17..].chars().next()
    {
        errors.push("id_number", t.id_check);
    }
    if errors.is_empty() {
        let body = json!({
            "name": form.name.trim(),
            "id_number": id,
            "phone": form.phone.trim(),
            "password": form.password,
            "residence_district": form.residence_district,
            "residence_type": form.residence_type,
        });
        let registered: Result<serde_json::Value, ApiError> = ctx
            .public(Method::POST, "/v1/auth/register", Some(&body))
            .await;
        match registered {
            Ok(_) => {
                let tokens: Result<Tokens, _> = ctx
                    .public(
                        Method::POST,
                        "/v1/auth/login",
                        Some(&json!({ "login": form.phone.trim(), "password": form.password })),
                    )
                    .await;
                if let Ok(tokens) = tokens
                    && establish(&ctx, tokens, form.phone.trim()).await.is_ok()
                {
                    ctx.flash(true, t.registered_ok);
                    return Ok(Redirect::to("/me").into_response());
                }
                ctx.flash(true, t.registered_ok);
                return Ok(Redirect::to("/login").into_response());
            }
            Err(ApiError::Problem(p)) if matches!(p.status, 400 | 409 | 422) => {
                for field in p.fields() {
                    let message = match (field, p.status) {
                        ("name", 400) => t.err_name.to_owned(),
                        ("id_number", 400) => t.id_check.to_owned(),
                        ("phone", 400) => t.err_phone.to_owned(),
                        ("password", 400) => t.err_password.to_owned(),
                        ("residence_district", _) => t.err_district.to_owned(),
                        ("id_number", _) => format!("{} {}", t.id_number, t.err_taken),
                        ("phone", _) => format!("{} {}", t.phone, t.err_taken),
                        (other, _) => p.reason_for(other).unwrap_or(t.form_errors).to_owned(),
                    };
                    errors.push(field, message);
                }
                if errors.is_empty() {
                    errors.push("name", p.detail.unwrap_or(p.title));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    form.password.clear();
    let mut r = render(&RegisterPage {
        c: ctx.chrome(t.register, "/register"),
        form,
        districts: districts(&ctx).await?,
        errors,
    });
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(r)
}

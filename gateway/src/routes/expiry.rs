//! When points expire: every book's policy (public), and an admin publishing a new one. The
//! days a resident's own points expire on are in `GET /v1/me/balances` (`expiring`).

use axum::{Json, extract::State};
use healthpoints_errors::ApiError;
use healthpoints_proto::intake::v1 as pb;
use healthpoints_types::Book;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::views::{rfc3339, timestamp};
use crate::{
    AppState,
    auth::Admin,
    body::{JsonBody, Segments},
    error::{HttpResult, Problem},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    /// `city` or `district:<code>`.
    pub book: String,
    /// `none`, `year_end+N` (the end of the Nth calendar year after the year earned) or
    /// `days:N` (N days after the day earned).
    pub policy: String,
    /// 0: the configured policy, in force from the start.
    pub version: u32,
    /// When this version takes (or took) effect; absent for version 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<String>,
}

impl From<pb::ExpiryPolicyVersion> for PolicyView {
    fn from(v: pb::ExpiryPolicyVersion) -> Self {
        Self {
            book: v.book,
            policy: v.policy,
            version: v.version,
            effective_from: rfc3339(v.effective_from),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BookPolicyView {
    /// The policy in force now: points earned now expire by it.
    pub current: PolicyView,
    /// A policy published to take effect later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<PolicyView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExpiryPolicies {
    pub books: Vec<BookPolicyView>,
}

/// Every book's points expiry policy, and the next one where one is published. The policy in
/// force when a behaviour occurred decides the day its points expire. Public.
#[utoipa::path(get, path = "/v1/rules/expiry", tag = "public",
    responses((status = 200, body = ExpiryPolicies)))]
pub async fn policies(State(state): State<AppState>) -> HttpResult<Json<ExpiryPolicies>> {
    let r = state
        .intake()
        .list_expiry_policies(pb::ListExpiryPoliciesRequest {})
        .await?
        .into_inner();
    Ok(Json(ExpiryPolicies {
        books: r
            .books
            .into_iter()
            .filter_map(|b| {
                Some(BookPolicyView {
                    current: b.current?.into(),
                    next: b.next.map(Into::into),
                })
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    /// `none`, `year_end+N` (N 0–10) or `days:N` (N 1–3650).
    #[schema(
        pattern = "^(none|year_end\\+([0-9]|10)|days:([1-9][0-9]{0,2}|[1-2][0-9]{3}|3[0-5][0-9]{2}|36[0-4][0-9]|3650))$"
    )]
    pub policy: String,
    /// At least an hour ahead (422 otherwise: a time fine in itself, too soon now); default: the next midnight (Asia/Shanghai) at least an hour away.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub effective_from: Option<String>,
}

/// Publishes a book's new points expiry policy: the city admin the city book's, a district
/// admin their district's. Points earned before it takes effect keep their day. Entered in the
/// public changelog as `points.expiry`.
#[utoipa::path(put, path = "/v1/admin/books/{book}/expiry-policy", tag = "admin", security(("bearer" = [])), request_body = PolicyBody,
    params(("book" = String, Path, description = "`city` or `district:<code>`")),
    responses((status = 200, body = PolicyView), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn publish(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments(book): Segments<String>,
    JsonBody(body): JsonBody<PolicyBody>,
) -> HttpResult<Json<PolicyView>> {
    if Book::parse(&book).is_err() {
        return Err(
            ApiError::not_found("there is no such book: `city` or `district:<code>`").into(),
        );
    }
    let effective_from = body
        .effective_from
        .as_deref()
        .map(|t| timestamp("effective_from", t))
        .transpose()?;
    let published = state
        .intake()
        .publish_expiry_policy(caller.request(pb::PublishExpiryPolicyRequest {
            book,
            policy: body.policy,
            effective_from,
        }))
        .await?
        .into_inner()
        .published
        .ok_or_else(ApiError::internal)?;
    Ok(Json(published.into()))
}

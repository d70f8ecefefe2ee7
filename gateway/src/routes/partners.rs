//! Partner departments: the registry (city admins register a partner and get its client
//! credentials once; the list is public so residents know whom they consent to) and behaviour
//! records sent in as a JSON array or as NDJSON, answered one result per record.

use axum::{
    Json,
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header},
};
use chrono::{DateTime, Utc};
use healthpoints_errors::{ApiError, ErrorCode};
use healthpoints_proto::{exchange::v1 as pb, identity::v1 as ipb};
use prost_types::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::oauth::{ShownOnce, shown_once};
use crate::body::{JsonBody, Segments, from_json, media_type, unreadable};
use crate::{
    AppState,
    auth::{Admin, PartnerClient},
    error::{HttpResult, Problem, renamed},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterPartnerBody {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// e.g. `sports`, `health`, `blood_centre`.
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    pub department: String,
    #[serde(default)]
    pub contact: String,
    /// The id rules name in their sources; defaults to the department.
    #[serde(default)]
    #[schema(pattern = "^([a-z0-9_-]{1,64})?$")]
    pub partner_id: Option<String>,
    /// Behaviour codes of the catalogue it may report.
    #[serde(default)]
    pub behaviours: Vec<String>,
    /// `behaviours:submit`, `fhir:submit`, `contracts:submit`, `statistics:read`,
    /// `points-summary:read`.
    #[serde(default)]
    #[schema(value_type = Vec<super::views::names::Scope>)]
    pub scopes: Vec<String>,
    /// `commercial` (the default: an app, a wearable maker, an insurer — needs each resident's
    /// consent per data category) or `department` (the city admin's explicit choice: reports
    /// under its statutory duty).
    #[serde(default)]
    #[schema(value_type = Option<super::views::names::PartnerKind>)]
    pub kind: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerRegistered {
    pub partner_id: String,
    pub client_id: String,
    /// Shown once; only its hash is kept.
    pub client_secret: String,
}

/// Registers a partner department and creates its client credentials. City admin.
#[utoipa::path(post, path = "/v1/admin/partners", tag = "admin", security(("bearer" = [])), request_body = RegisterPartnerBody,
    responses((status = 201, body = PartnerRegistered), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn register(
    State(state): State<AppState>,
    Admin(caller): Admin,
    JsonBody(b): JsonBody<RegisterPartnerBody>,
) -> HttpResult<ShownOnce<PartnerRegistered>> {
    let r = state
        .exchange()
        .register_partner(caller.request(pb::RegisterPartnerRequest {
            name: b.name,
            department: b.department,
            contact: b.contact,
            behaviours: b.behaviours,
            scopes: b.scopes,
            partner_id: b.partner_id.unwrap_or_default(),
            kind: b.kind.unwrap_or_default(),
        }))
        .await?
        .into_inner();
    Ok(shown_once(PartnerRegistered {
        partner_id: r.partner.map(|p| p.partner_id).unwrap_or_default(),
        client_id: r.client_id,
        client_secret: r.client_secret,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretBody {
    /// Which of the partner's clients; left out: its one enabled client (a partner with several
    /// names one).
    #[serde(default)]
    #[schema(pattern = "^\\S{1,64}$")]
    pub client_id: Option<String>,
    /// How long the secret being replaced stays valid, in seconds: at most 30 days; 0 refuses
    /// it at once (a leaked secret). Left out: the configured grace period (24 hours by
    /// default, `tokens.client_secret_grace_seconds` of identity).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2_592_000)]
    pub grace_period_seconds: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretRotated {
    pub client_id: String,
    /// The new secret. Shown once; only its hash is kept.
    pub client_secret: String,
    /// Until when the replaced secret is still accepted; absent when it is refused already.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub previous_secret_valid_until: Option<String>,
}

/// Gives a partner's client a new secret without downtime: the secret it replaces stays valid
/// for a grace period, so the partner's servers change over, and is refused after it (tokens
/// already issued live out their 15 minutes). Rotating again in the grace refuses the older
/// secret at once: only the latest replaced one is kept. City admin.
#[utoipa::path(post, path = "/v1/admin/partners/{id}/secrets", tag = "admin", security(("bearer" = [])), request_body = RotateSecretBody,
    params(("id" = String, Path, description = "the partner id")),
    responses((status = 201, body = SecretRotated), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem, description = "no such partner, or no such client of it")))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments(id): Segments<String>,
    JsonBody(b): JsonBody<RotateSecretBody>,
) -> HttpResult<ShownOnce<SecretRotated>> {
    if b.grace_period_seconds.is_some_and(|s| s > 2_592_000) {
        return Err(
            ApiError::invalid("grace_period_seconds", "must be at most 2592000 (30 days)").into(),
        );
    }
    let r = state
        .identity()
        .rotate_partner_secret(caller.request(ipb::RotatePartnerSecretRequest {
            partner_id: id,
            client_id: b.client_id.unwrap_or_default(),
            grace_period_seconds: b.grace_period_seconds,
        }))
        .await?
        .into_inner();
    Ok(shown_once(SecretRotated {
        client_id: r.client_id,
        client_secret: r.client_secret,
        previous_secret_valid_until: super::views::rfc3339(r.previous_secret_valid_until),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePartnerBody {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default)]
    pub contact: String,
    pub behaviours: Vec<String>,
    #[schema(value_type = Vec<super::views::names::Scope>)]
    pub scopes: Vec<String>,
    /// `active` or `suspended` (a suspended partner can do nothing).
    #[schema(value_type = super::views::names::PartnerStatus)]
    pub status: String,
    /// `department` or `commercial`; left out, it stays as it is.
    #[serde(default)]
    #[schema(value_type = Option<super::views::names::PartnerKind>)]
    pub kind: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerAdminView {
    pub partner_id: String,
    pub name: String,
    pub department: String,
    pub contact: String,
    pub kind: String,
    pub behaviours: Vec<String>,
    pub scopes: Vec<String>,
    /// `active` or `suspended`.
    pub status: String,
}

/// Changes what a partner may do — behaviours, scopes, status (suspend or reactivate), kind —
/// and its name and contact. City admin. The registry is what counts: a client's token cannot
/// do more than it allows.
#[utoipa::path(put, path = "/v1/admin/partners/{id}", tag = "admin", security(("bearer" = [])), request_body = UpdatePartnerBody,
    params(("id" = String, Path)),
    responses((status = 200, body = PartnerAdminView), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Segments(id): Segments<String>,
    JsonBody(b): JsonBody<UpdatePartnerBody>,
) -> HttpResult<Json<PartnerAdminView>> {
    let status = match b.status.trim() {
        "active" => pb::PartnerStatus::Active,
        "suspended" => pb::PartnerStatus::Suspended,
        _ => return Err(ApiError::invalid("status", "must be active or suspended").into()),
    };
    let r = state
        .exchange()
        .update_partner(caller.request(pb::UpdatePartnerRequest {
            partner: Some(pb::Partner {
                partner_id: id,
                name: b.name,
                contact: b.contact,
                behaviours: b.behaviours,
                scopes: b.scopes,
                status: status as i32,
                kind: b.kind.unwrap_or_default(),
                ..pb::Partner::default()
            }),
        }))
        .await
        .map_err(|s| renamed(s, "partner.", ""))?
        .into_inner();
    let p = r.partner.ok_or_else(ApiError::internal)?;
    Ok(Json(PartnerAdminView {
        status: match pb::PartnerStatus::try_from(p.status).unwrap_or_default() {
            pb::PartnerStatus::Suspended => "suspended",
            _ => "active",
        }
        .to_owned(),
        partner_id: p.partner_id,
        name: p.name,
        department: p.department,
        contact: p.contact,
        kind: p.kind,
        behaviours: p.behaviours,
        scopes: p.scopes,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerView {
    pub partner_id: String,
    pub name: String,
    pub department: String,
    /// `department` or `commercial` (needs your consent per data category).
    pub kind: String,
    /// Behaviour codes it reports.
    pub behaviours: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Partners {
    pub partners: Vec<PartnerView>,
}

/// The registered partner departments. Public.
#[utoipa::path(get, path = "/v1/partners", tag = "public", responses((status = 200, body = Partners)))]
pub async fn list(State(state): State<AppState>) -> HttpResult<Json<Partners>> {
    let r = state
        .exchange()
        .list_partners(pb::ListPartnersRequest {})
        .await?
        .into_inner();
    Ok(Json(Partners {
        partners: r
            .partners
            .into_iter()
            .map(|p| PartnerView {
                partner_id: p.partner_id,
                name: p.name,
                department: p.department,
                kind: p.kind,
                behaviours: p.behaviours,
            })
            .collect(),
    }))
}

/// One behaviour record, as a partner sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordBody {
    /// The partner's own id for the record; resending it never awards twice.
    pub record_id: String,
    /// The 18-character PRC ID number (or `resident_id`).
    #[serde(default)]
    pub id_number: Option<String>,
    #[serde(default)]
    pub resident_id: Option<String>,
    /// A behaviour code of the catalogue, e.g. `steps.daily`.
    pub behaviour: String,
    /// RFC 3339.
    pub occurred_at: String,
    #[serde(default)]
    pub quantity: Option<u64>,
    /// Where it happened (district-level rules).
    #[serde(default)]
    pub district: Option<String>,
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecordResultView {
    pub record_id: String,
    /// `awarded`, `capped`, `duplicate`, `held`, `rejected` (or `pending`: points on their way).
    pub outcome: String,
    pub points: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecordResults {
    pub results: Vec<RecordResultView>,
}

fn record(i: usize, r: RecordBody) -> Result<pb::BehaviourRecord, ApiError> {
    let field = |name: &str| format!("records[{i}].{name}");
    let person = match (r.id_number, r.resident_id) {
        (Some(n), None) => pb::behaviour_record::Person::IdNumber(n),
        (None, Some(id)) => pb::behaviour_record::Person::ResidentId(id),
        _ => {
            return Err(ApiError::invalid(
                field("id_number"),
                "set exactly one of id_number and resident_id",
            ));
        }
    };
    let at = DateTime::parse_from_rfc3339(r.occurred_at.trim())
        .map_err(|_| ApiError::invalid(field("occurred_at"), "must be an RFC 3339 time"))?
        .with_timezone(&Utc);
    Ok(pb::BehaviourRecord {
        record_id: r.record_id,
        person: Some(person),
        behaviour: r.behaviour,
        occurred_at: Some(Timestamp {
            seconds: at.timestamp(),
            nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or_default(),
        }),
        quantity: r.quantity.unwrap_or(1),
        district: r.district.unwrap_or_default(),
        attributes: r.attributes.into_iter().collect(),
    })
}

/// A JSON array of records, or NDJSON (one record per line) when the content type says so.
fn parse_records(headers: &HeaderMap, body: &[u8]) -> Result<Vec<pb::BehaviourRecord>, ApiError> {
    let content_type = media_type(headers).unwrap_or_default();
    let bodies: Vec<RecordBody> = match content_type.as_str() {
        "application/x-ndjson" | "application/ndjson" => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::new(ErrorCode::InvalidArgument, "the body is not UTF-8"))?;
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .enumerate()
                .map(|(i, line)| {
                    let record = format!("records[{i}]");
                    from_json(line.as_bytes(), &record).map_err(|e| match e.field() {
                        Some(_) => e,
                        None => ApiError::invalid(record, e.message),
                    })
                })
                .collect::<Result<_, _>>()?
        }
        "application/json" => from_json(body, "records")?,
        _ => {
            return Err(ApiError::new(
                ErrorCode::InvalidArgument,
                "send Content-Type: application/json (an array) or application/x-ndjson",
            ));
        }
    };
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, r)| record(i, r))
        .collect()
}

/// Behaviour records from a partner (scope `behaviours:submit`): a JSON array, or NDJSON with
/// `Content-Type: application/x-ndjson`; at most 1,000 records and 1 MiB. One result per
/// record, in order; resending a record answers its stored result.
#[utoipa::path(post, path = "/v1/partner/behaviours", tag = "partner", security(("bearer" = [])),
    request_body(content(
        (Vec<RecordBody> = "application/json"),
        (String = "application/x-ndjson"),
    )),
    responses((status = 200, body = RecordResults), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn submit_behaviours(
    State(state): State<AppState>,
    PartnerClient(caller): PartnerClient,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HttpResult<Json<RecordResults>> {
    let body = body.map_err(unreadable)?;
    let records = parse_records(&headers, &body)?;
    let r = state
        .exchange()
        .submit_records(caller.request(pb::SubmitRecordsRequest { records }))
        .await?
        .into_inner();
    Ok(Json(results_view(r.results)))
}

/// Record results as partners read them.
fn results_view(results: Vec<pb::RecordResult>) -> RecordResults {
    RecordResults {
        results: results.into_iter().map(result_view).collect(),
    }
}

/// One record's result, as partners and station counters read it.
pub(crate) fn result_view(r: pb::RecordResult) -> RecordResultView {
    RecordResultView {
        record_id: r.record_id,
        outcome: pb::RecordOutcome::try_from(r.outcome)
            .map(|o| {
                o.as_str_name()
                    .trim_start_matches("RECORD_OUTCOME_")
                    .to_ascii_lowercase()
            })
            .unwrap_or_default(),
        points: r.points,
        reason_code: (!r.reason_code.is_empty()).then_some(r.reason_code),
        reason: (!r.reason.is_empty()).then_some(r.reason),
    }
}

/// One family-doctor contract record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractBody {
    /// The partner's own id for the record; resending it answers the first result.
    pub record_id: String,
    #[serde(default)]
    pub id_number: Option<String>,
    #[serde(default)]
    pub resident_id: Option<String>,
    /// `sign`, `change` or `end`.
    pub action: String,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub institution_code: String,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    pub institution_name: String,
    /// The contract's district (drives redemption routing).
    #[serde(default)]
    #[schema(value_type = super::views::District)]
    pub district: String,
    /// `2026-11-22`.
    #[serde(default)]
    #[schema(format = Date)]
    pub signed_on: String,
    #[serde(default)]
    #[schema(format = Date)]
    pub valid_until: String,
}

/// Family-doctor contracts from the health commission (scope `contracts:submit`): sign, change
/// or end each resident's contract in identity; a signing also earns points under the catalogue
/// (`family_doctor.contract`). At most 1,000 records; one result per record (`applied` or
/// `rejected`), resending a record answers its first result.
#[utoipa::path(post, path = "/v1/partner/family-doctor-contracts", tag = "partner", security(("bearer" = [])),
    request_body = Vec<ContractBody>,
    responses((status = 200, body = RecordResults), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn submit_contracts(
    State(state): State<AppState>,
    PartnerClient(caller): PartnerClient,
    JsonBody(bodies): JsonBody<Vec<ContractBody>>,
) -> HttpResult<Json<RecordResults>> {
    let records = bodies
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            let person = match (b.id_number, b.resident_id) {
                (Some(n), None) => pb::contract_record::Person::IdNumber(n),
                (None, Some(id)) => pb::contract_record::Person::ResidentId(id),
                _ => {
                    return Err(ApiError::invalid(
                        format!("records[{i}].id_number"),
                        "set exactly one of id_number and resident_id",
                    ));
                }
            };
            Ok(pb::ContractRecord {
                record_id: b.record_id,
                person: Some(person),
                action: b.action,
                institution_code: b.institution_code,
                institution_name: b.institution_name,
                district: b.district,
                signed_on: b.signed_on,
                valid_until: b.valid_until,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let r = state
        .exchange()
        .submit_contracts(caller.request(pb::SubmitContractsRequest { records }))
        .await?
        .into_inner();
    Ok(Json(results_view(r.results)))
}

/// A FHIR R4 `Bundle` as the exchange reads it: `batch` (each entry judged on its own) or
/// `transaction`; its entries are the profiled resources of docs/exchange.md.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct FhirBundle {
    #[serde(rename = "resourceType")]
    #[schema(pattern = "^Bundle$")]
    resource_type: String,
    #[serde(rename = "type")]
    #[schema(value_type = super::views::names::BundleType)]
    kind: String,
    entry: Vec<serde_json::Value>,
}

/// FHIR R4 from a health department (scope `fhir:submit`): a `Bundle`
/// (`Content-Type: application/fhir+json`) or Bulk-Data NDJSON (`application/fhir+ndjson`) of
/// Observation (steps, exercise), Immunization, Procedure (screening) and Encounter (checks),
/// mapped as docs/exchange.md says. A `batch` (and NDJSON) is judged entry by entry and answered
/// 200 with a `batch-response` (each entry 200, 422 rejected or 400 malformed); a `transaction`
/// is all or none: 200 with a `transaction-response`, or 400 (an entry malformed) or 422 (an
/// entry rejected) with an `OperationOutcome` naming the entries, nothing recorded.
#[utoipa::path(post, path = "/v1/partner/fhir", tag = "partner", security(("bearer" = [])),
    request_body(content(
        (FhirBundle = "application/fhir+json"),
        (String = "application/fhir+ndjson"),
    )),
    responses((status = 200, description = "a batch-response or transaction-response Bundle of OperationOutcomes"),
        (status = 400, description = "an OperationOutcome: the body, or a transaction's entry, is malformed; nothing recorded"),
        (status = 413, description = "an OperationOutcome: the body is larger than 1 MiB"),
        (status = 422, description = "an OperationOutcome: a transaction stopped by a rejected entry; nothing recorded"),
        (status = 403, body = Problem)))]
pub async fn submit_fhir(
    State(state): State<AppState>,
    PartnerClient(caller): PartnerClient,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HttpResult<axum::response::Response> {
    use axum::response::IntoResponse as _;
    use healthpoints_errors::fhir;
    let fhir_json = |status: StatusCode, body: Vec<u8>| {
        (
            status,
            [(header::CONTENT_TYPE, "application/fhir+json")],
            body,
        )
            .into_response()
    };
    let body = match body {
        Ok(b) => b,
        Err(r) => {
            let issue = fhir::Issue {
                code: if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    "too-costly"
                } else {
                    "structure"
                },
                diagnostics: if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    "the body is too large (at most 1 MiB); split it".to_owned()
                } else {
                    "the body could not be read".to_owned()
                },
                expression: String::new(),
            };
            let refusal = serde_json::to_vec(&fhir::refusal(&issue)).unwrap_or_default();
            let status = match r.status() {
                StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            return Ok(fhir_json(status, refusal));
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let r = state
        .exchange()
        .submit_fhir(caller.request(pb::SubmitFhirRequest {
            content_type,
            body: body.to_vec(),
        }))
        .await?
        .into_inner();
    let status = match (u16::try_from(r.status), r.refused) {
        (Ok(code), _) if code != 0 => {
            StatusCode::from_u16(code).map_err(|_| ApiError::internal())?
        }
        (_, true) => StatusCode::BAD_REQUEST,
        (_, false) => StatusCode::OK,
    };
    Ok(fhir_json(status, r.body))
}

/// The FHIR endpoint's `CapabilityStatement` (`[base]/metadata`, FHIR R4): the resources and
/// profiles accepted, the `batch` and `transaction` interactions, the formats, UCUM units and
/// how to authenticate. Open to everyone, as FHIR clients expect.
#[utoipa::path(get, path = "/v1/partner/fhir/metadata", tag = "public",
    responses((status = 200, description = "a CapabilityStatement", content_type = "application/fhir+json", body = Object)))]
pub async fn fhir_metadata(State(state): State<AppState>) -> HttpResult<axum::response::Response> {
    use axum::response::IntoResponse as _;
    let r = state
        .exchange()
        .get_fhir_capabilities(pb::GetFhirCapabilitiesRequest {})
        .await?
        .into_inner();
    Ok((
        [(header::CONTENT_TYPE, "application/fhir+json")],
        r.capability_statement,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        h
    }

    #[test]
    fn ndjson_lines_become_records_and_a_bad_line_is_named() {
        let body = concat!(
            r#"{"record_id":"a","resident_id":"r","behaviour":"steps.daily","occurred_at":"2026-11-21T20:00:00+08:00","quantity":9000}"#,
            "\n\n",
            r#"{"record_id":"b","id_number":"x","behaviour":"sleep.healthy","occurred_at":"2026-11-21T07:00:00+08:00"}"#,
        );
        let records = parse_records(&headers("application/x-ndjson"), body.as_bytes()).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].quantity, 1);
        let bad = "{}\nnot json";
        let err = parse_records(&headers("application/x-ndjson"), bad.as_bytes()).unwrap_err();
        assert_eq!(err.field(), Some("records[0].record_id"));
        let bad = format!("{}\nnot json", body.lines().next().unwrap());
        let err = parse_records(&headers("application/x-ndjson"), bad.as_bytes()).unwrap_err();
        assert_eq!(err.field(), Some("records[1]"));
        assert!(err.message.contains("not valid JSON"), "{}", err.message);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
            for ct in ["application/x-ndjson", "application/json", "text/plain"] {
                let _ = parse_records(&headers(ct), &body);
            }
        }

        #[test]
        fn arbitrary_lines_of_record_fields_never_panic(
            lines in prop::collection::vec(
                prop::collection::btree_map(
                    prop_oneof![
                        Just("record_id"), Just("resident_id"), Just("id_number"),
                        Just("behaviour"), Just("occurred_at"), Just("quantity"), Just("attributes"),
                    ],
                    prop_oneof![
                        Just(serde_json::json!("2026-11-21T20:00:00+08:00")),
                        Just(serde_json::json!(-1)),
                        Just(serde_json::json!(u64::MAX)),
                        Just(serde_json::json!({"k": "v"})),
                        Just(serde_json::json!(null)),
                        ".{0,16}".prop_map(serde_json::Value::from),
                    ],
                    0..7,
                ),
                0..8,
            )
        ) {
            let body: Vec<String> = lines
                .iter()
                .map(|l| serde_json::to_string(l).unwrap())
                .collect();
            let _ = parse_records(&headers("application/x-ndjson"), body.join("\n").as_bytes());
        }
    }
}

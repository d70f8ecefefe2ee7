//! `POST /v1/admin/imports/residents`: the residents of the city's earlier platform, each sent
//! to identity, which checks it like a registration and imports it once per ID number.

use axum::{body::Body, extract::State, http::HeaderMap, response::Response};
use healthpoints_proto::identity::v1 as pb;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Format, ImportQuery, Imported, Kind, row, start};
use crate::body::Params;
use crate::{
    AppState,
    auth::{Admin, Caller},
    error::HttpResult,
};

/// One resident of an NDJSON file (a CSV file has these columns).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRow {
    pub name: String,
    pub id_number: String,
    pub phone: String,
    #[schema(value_type = crate::routes::views::District)]
    pub residence_district: String,
    /// `registered` or `permanent_migrant`.
    pub residence_type: String,
}

/// A CSV file of residents: a header line naming the columns (in this order or any other), then
/// a resident per line.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, pattern = "^name,id_number,phone,residence_district,residence_type\r?\n")]
pub struct ResidentsCsv(#[allow(dead_code)] String);

/// Residents, imported by identity.
pub(super) struct Residents;

impl Kind for Residents {
    type Item = pb::ImportedResident;
    const WHAT: &'static str = "residents";
    const COLUMNS: &'static [&'static str] = &[
        "name",
        "id_number",
        "phone",
        "residence_district",
        "residence_type",
    ];

    fn parse(format: &Format, line: &str) -> Result<Self::Item, (String, String)> {
        let row: ImportRow = row(format, line, Self::COLUMNS, |f| {
            let [name, id_number, phone, residence_district, residence_type] =
                <[String; 5]>::try_from(f).unwrap_or_default();
            ImportRow {
                name,
                id_number,
                phone,
                residence_district,
                residence_type,
            }
        })?;
        let residence_type = match row.residence_type.trim() {
            "registered" => pb::ResidenceType::Registered,
            "permanent_migrant" => pb::ResidenceType::PermanentMigrant,
            _ => pb::ResidenceType::Unspecified,
        };
        Ok(pb::ImportedResident {
            name: row.name,
            id_number: row.id_number,
            phone: row.phone,
            residence_district: row.residence_district,
            residence_type: residence_type as i32,
        })
    }

    async fn import(
        state: &AppState,
        caller: &Caller,
        residents: Vec<Self::Item>,
    ) -> Result<Vec<Imported>, tonic::Status> {
        let results = state
            .identity()
            .import_residents(caller.request(pb::ImportResidentsRequest { residents }))
            .await?
            .into_inner()
            .results;
        Ok(results
            .into_iter()
            .map(|r| Imported {
                outcome: r.outcome,
                resident_id: r.resident_id,
                field: r.field,
                reason: r.reason,
            })
            .collect())
    }
}

/// Imports residents from a file of the city's earlier platform: NDJSON
/// (`Content-Type: application/x-ndjson`, one object per line) or CSV (`text/csv`, a header
/// line naming the columns). Streamed both ways; one result per line, then a summary (see the
/// module docs and docs/api.md). Imported residents sign in once they set a password (a reset
/// code to their phone, or at a health-station counter). City admin, or a district's admin for
/// their district's residents.
#[utoipa::path(post, path = "/v1/admin/imports/residents", tag = "admin", security(("bearer" = [])), params(ImportQuery),
    request_body(content((ImportRow = "application/x-ndjson"), (ResidentsCsv = "text/csv"))),
    responses((status = 200, content((super::ImportLine = "application/x-ndjson")), description = "a result per line, then a summary"),
        (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub async fn residents(
    State(state): State<AppState>,
    Admin(caller): Admin,
    headers: HeaderMap,
    Params(q): Params<ImportQuery>,
    body: Body,
) -> HttpResult<Response> {
    start::<Residents>(state, caller, &headers, q, body).await
}

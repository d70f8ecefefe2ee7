//! The access matrix: every gateway route × every role, each cell allowed or refused as
//! designed, printed as a table (kept in docs/security.md); and the token attacks.

use std::fmt::Write as _;

use base64::Engine as _;

use healthpoints_integration_tests::{
    Gateway, STAFF_PASSWORD, journey::this_month, processes::ProcessMesh,
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::World;

/// The roles, in the table's column order.
const ROLES: [&str; 15] = [
    "anonymous",
    "resident A",
    "resident B",
    "city admin",
    "Qingpu admin",
    "Yangpu admin",
    "merchant A",
    "merchant B",
    "partner behaviours",
    "partner fhir",
    "partner contracts",
    "partner statistics",
    "partner summary",
    "partner no scope",
    "Qingpu station staff",
];

/// Short column heads for the table.
const HEADS: [&str; 15] = [
    "anon", "res A", "res B", "city", "QP adm", "YP adm", "mer A", "mer B", "p:beh", "p:fhir",
    "p:con", "p:stat", "p:sum", "p:none", "st QP",
];

/// What a cell must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    /// Served: anything but 401, 403, 404 or a server error (a 409/422 of a repeated action
    /// is served).
    Allow,
    Refuse(u16),
}

/// One route to try: a method, a path (`{role}` in bodies is replaced by the role's index, to
/// keep created names apart) and who may.
struct Row {
    method: Method,
    path: String,
    body: Option<Value>,
    allow: Vec<usize>,
    /// Refusals other than the default (401 anonymous, 403 the rest).
    except: Vec<(usize, u16)>,
}

const ANON: usize = 0;
const RES_A: usize = 1;
const RES_B: usize = 2;
const CITY: usize = 3;
const QP: usize = 4;
const YP: usize = 5;
const MER_A: usize = 6;
const MER_B: usize = 7;
const P_BEH: usize = 8;
const P_FHIR: usize = 9;
const P_CON: usize = 10;
const P_STAT: usize = 11;
const P_SUM: usize = 12;
const P_NONE: usize = 13;
const ST: usize = 14;

fn everyone() -> Vec<usize> {
    (0..ROLES.len()).collect()
}
fn signed_in() -> Vec<usize> {
    (1..ROLES.len()).collect()
}

fn row(method: Method, path: impl Into<String>, body: Option<Value>, allow: Vec<usize>) -> Row {
    Row {
        method,
        path: path.into(),
        body,
        allow,
        except: Vec::new(),
    }
}

impl Row {
    fn except(mut self, role: usize, status: u16) -> Self {
        self.except.push((role, status));
        self
    }

    fn expected(&self, role: usize) -> Cell {
        if self.allow.contains(&role) {
            return Cell::Allow;
        }
        if let Some((_, s)) = self.except.iter().find(|(r, _)| *r == role) {
            return Cell::Refuse(*s);
        }
        Cell::Refuse(if role == ANON { 401 } else { 403 })
    }
}

/// Everyone the matrix needs, and the objects each owns.
struct Cast {
    tokens: Vec<Option<String>>,
    a: String,
    c: String,
    order_read: String,
    order_cancel: String,
    order_refund: String,
    voucher: String,
    product: String,
    merchant_b: String,
    challenge: String,
    /// Held awards of resident C: the city admin's, the Qingpu admin's and the Yangpu admin's to
    /// decide (everyone else tries the first).
    held: Vec<String>,
    draft: String,
    lecture_rule: Value,
    /// The insurer's webhook and a delivery of it; merchant A's.
    hook: String,
    delivery: String,
    merchant_hook: String,
    merchant_delivery: String,
}

async fn cast(mesh: &ProcessMesh) -> Cast {
    let world = World::build(mesh, 3).await;
    let gw: &Gateway = mesh;
    let admin = world.admin.clone();
    let (a, b, c) = (
        world.residents[0].clone(),
        world.residents[1].clone(),
        world.residents[2].clone(),
    );
    let staff = |name: &str, role: &str, district: &str| json!({"username": name, "password": STAFF_PASSWORD, "role": role, "district": district});
    let qp = gw
        .staff(&admin, staff("qp-admin", "district_admin", "310118"))
        .await
        .unwrap();
    let yp = gw
        .staff(&admin, staff("yp-admin", "district_admin", "310110"))
        .await
        .unwrap();
    let gym = gw
        .expect(201, Method::POST, "/v1/admin/malls/310118/merchants", Some(&qp),
            Some(json!({"name": "Qingpu Gym", "licence_no": "91310118MA2", "contact": "021-5999 0001"})))
        .await
        .unwrap();
    let merchant_b = gym["merchant_id"].as_str().unwrap().to_owned();
    let gym_op = gw
        .staff(
            &qp,
            json!({"username": "gym-op", "password": STAFF_PASSWORD, "role": "merchant_operator",
            "merchant_id": merchant_b, "mall": "310118"}),
        )
        .await
        .unwrap();
    // Merchant A's webhook, registered before A's orders so that it has deliveries.
    let merchant_hook = gw
        .expect(
            201,
            Method::POST,
            "/v1/merchant/webhooks",
            Some(&world.clinic),
            Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["order.created"]})),
        )
        .await
        .unwrap()["webhook_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut orders = Vec::new();
    for i in 0..4 {
        let response = gw
            .request(Method::POST, "/v1/malls/310118/orders", Some(&a.token))
            .header("Idempotency-Key", format!("matrix-{i}"))
            .json(&json!({"product_id": world.product}))
            .send()
            .await
            .unwrap();
        let (status, order) = healthpoints_integration_tests::split(response).await;
        assert_eq!(status, 201, "{order}");
        orders.push(order);
    }
    let merchant_delivery = gw
        .eventually(
            &format!("/v1/merchant/webhooks/{merchant_hook}/deliveries"),
            &world.clinic,
            std::time::Duration::from_secs(10),
            |d| d["deliveries"].as_array().is_some_and(|d| !d.is_empty()),
        )
        .await["deliveries"][0]["delivery_id"]
        .as_str()
        .expect("the mall's outbox published an order.created")
        .to_owned();
    let code = orders[2]["voucher_code"].as_str().unwrap();
    gw.expect(
        200,
        Method::POST,
        &format!("/v1/merchant/vouchers/{code}/write-off"),
        Some(&world.clinic),
        None,
    )
    .await
    .unwrap();
    let mut partners = Vec::new();
    for (id, scopes, behaviours) in [
        // Each one a source the catalogue takes its behaviours from.
        ("wearables", vec!["behaviours:submit"], vec!["steps.daily"]),
        ("ai-motion", vec!["fhir:submit"], vec!["exercise.session"]),
        (
            "health-commission",
            vec!["contracts:submit"],
            vec!["family_doctor.contract"],
        ),
        ("statistics-bureau", vec!["statistics:read"], vec![]),
        ("insurer", vec!["points-summary:read"], vec![]),
        ("culture", vec![], vec![]),
    ] {
        let kind = if id == "insurer" {
            "commercial"
        } else {
            "department"
        };
        partners.push(
            gw.partner_of_kind(&admin, id, &behaviours, &scopes, kind)
                .await,
        );
    }
    // The insurer's webhook, registered before A's consent so that it has a delivery.
    let hook = gw
        .expect(
            201,
            Method::POST,
            "/v1/partner/webhooks",
            Some(&partners[4]),
            Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["consent.granted"]})),
        )
        .await
        .unwrap()["webhook_id"]
        .as_str()
        .unwrap()
        .to_owned();
    gw.expect(200, Method::PUT, "/v1/me/consents", Some(&a.token),
        Some(json!({"partner_id": "insurer", "category": "points_summary", "purpose": "premium discount"})))
        .await
        .unwrap();
    let delivery = gw
        .expect(
            200,
            Method::GET,
            &format!("/v1/partner/webhooks/{hook}/deliveries"),
            Some(&partners[4]),
            None,
        )
        .await
        .unwrap()["deliveries"][0]["delivery_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = chrono::Utc::now();
    let challenge = gw
        .expect(201, Method::POST, "/v1/admin/challenges", Some(&admin), Some(json!({
            "title": "Walk the city", "behaviour": "steps.daily", "daily_min_quantity": 8000, "days_required": 5,
            "starts_at": (now - chrono::Duration::days(1)).to_rfc3339(), "ends_at": (now + chrono::Duration::days(20)).to_rfc3339(),
            "bonus_points": 100, "level": "city"})))
        .await
        .unwrap()["challenge_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A held award of resident C, for the review queue.
    gw.expect(
        204,
        Method::POST,
        &format!("/v1/admin/residents/{}/review-flag", c.id),
        Some(&admin),
        Some(json!({"reason": "matrix"})),
    )
    .await
    .unwrap();
    let records: Vec<Value> = (1..=3)
        .map(|d| crate::support::steps(&format!("held-{d}"), &c.id, d))
        .collect();
    let (status, sent) = gw.send_ndjson(&world.sports, &records).await;
    assert!(
        status == 200
            && sent["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["outcome"] == "held"),
        "{status} {sent}"
    );
    let queue = gw
        .expect(
            200,
            Method::GET,
            "/v1/admin/review-queue",
            Some(&admin),
            None,
        )
        .await
        .unwrap();
    let held: Vec<String> = queue["held"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(held.len(), 3, "{queue}");
    let rules = gw
        .expect(200, Method::GET, "/v1/rules", None, None)
        .await
        .unwrap();
    let mut lecture_rule = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "community.lecture")
        .unwrap()
        .clone();
    lecture_rule["district"] = json!("310118");
    let draft = gw
        .expect(
            201,
            Method::POST,
            "/v1/admin/rules/drafts",
            Some(&qp),
            Some(lecture_rule.clone()),
        )
        .await
        .unwrap()["draft_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let station = gw
        .staff(
            &qp,
            json!({"username": "qp-station", "password": STAFF_PASSWORD, "role": "station_staff",
                "district": "310118", "institution_code": "QP-HS-01"}),
        )
        .await
        .unwrap();
    let tokens = vec![
        None,
        Some(a.token.clone()),
        Some(b.token.clone()),
        Some(admin),
        Some(qp),
        Some(yp),
        Some(world.clinic.clone()),
        Some(gym_op),
    ]
    .into_iter()
    .chain(partners.into_iter().map(Some))
    .chain([Some(station)])
    .collect();
    let id = |o: &Value| o["order_id"].as_str().unwrap().to_owned();
    Cast {
        tokens,
        a: a.id,
        c: c.id,
        order_read: id(&orders[0]),
        order_cancel: id(&orders[1]),
        order_refund: id(&orders[2]),
        voucher: orders[3]["voucher_code"].as_str().unwrap().to_owned(),
        product: world.product,
        merchant_b,
        challenge,
        held,
        draft,
        lecture_rule,
        hook,
        delivery,
        merchant_hook,
        merchant_delivery,
    }
}

fn rows(c: &Cast) -> Vec<Row> {
    use Method as M;
    let residents = vec![RES_A, RES_B];
    let admins = vec![CITY, QP];
    let mall_admins = vec![CITY, QP];
    let merchants = vec![MER_A, MER_B];
    let partners: Vec<usize> = (P_BEH..=P_NONE).collect();
    // Another partner's webhook "does not exist" for a partner.
    let not_theirs = |r: Row| {
        (P_BEH..=P_NONE)
            .filter(|p| *p != P_SUM)
            .fold(r, |r, p| r.except(p, 404))
    };
    let month = this_month();
    let (a, cc) = (&c.a, &c.c);
    // Resident A's ID number (support::World registers them), read at the station counter.
    let id_a = healthpoints_integration_tests::id_number("310118", "19850505", 0);
    let steps = json!([{"record_id": "m-{role}", "resident_id": a, "behaviour": "steps.daily",
        "occurred_at": format!("{}T20:00:00+08:00", healthpoints_integration_tests::journey::day(2)), "quantity": 6000}]);
    let contract = json!([{"record_id": "mc-{role}", "resident_id": a, "action": "sign", "institution_code": "310118-CHC",
        "institution_name": "Community Health Centre", "district": "310118", "signed_on": "2026-01-01", "valid_until": "2027-12-31"}]);
    let fhir = json!({"resourceType": "Bundle", "type": "collection", "entry": []});
    let fd = json!({"institution_code": "310118-CHC", "institution_name": "Community Health Centre",
        "district": "310118", "signed_on": "2026-01-01", "valid_until": "2027-12-31"});
    let mut rule = c.lecture_rule.clone();
    rule["title"] = json!("Lecture {role}");
    vec![
        row(M::GET, "/healthz", None, everyone()),
        row(M::GET, "/readyz", None, everyone()),
        row(M::GET, "/openapi.json", None, everyone()),
        row(M::GET, "/docs", None, everyone()),
        row(M::GET, "/docs/", None, everyone()),
        row(M::GET, "/docs/swagger-ui.css", None, everyone()),
        row(M::GET, "/.well-known/jwks.json", None, everyone()),
        // Signing in needs no token: whoever calls, an empty body is a 400 (or a 429 once this
        // one address has spent its password budget), never a 401 or 403.
        row(M::POST, "/v1/auth/register", Some(json!({})), everyone()),
        row(M::POST, "/v1/auth/login", Some(json!({})), everyone()),
        row(M::POST, "/v1/auth/refresh", Some(json!({})), everyone()),
        row(M::POST, "/v1/auth/logout", Some(json!({})), everyone()),
        row(M::POST, "/v1/auth/password-reset", Some(json!({})), everyone()),
        row(M::POST, "/v1/auth/password-reset/confirm", Some(json!({})), everyone()),
        row(M::POST, "/v1/auth/token", None, everyone()),
        row(M::GET, "/v1/rules", None, everyone()),
        row(M::GET, "/v1/rules/changelog", None, everyone()),
        row(M::GET, "/v1/rules/expiry", None, everyone()),
        row(M::GET, "/v1/partners", None, everyone()),
        row(M::GET, "/metrics", None, everyone()),
        row(M::GET, "/v1/partner/fhir/metadata", None, everyone()),
        row(M::GET, "/v1/districts", None, everyone()),
        row(M::GET, "/v1/malls", None, everyone()),
        row(M::GET, "/v1/malls/310118/merchants", None, everyone()),
        row(M::GET, "/v1/malls/310118/products", None, everyone()),
        row(M::GET, "/v1/leaderboards", None, signed_in()),
        row(M::GET, "/v1/me", None, residents.clone()),
        row(M::GET, "/v1/me/balances", None, residents.clone()),
        row(M::GET, "/v1/me/transactions", None, residents.clone()),
        row(M::GET, "/v1/me/checkins", None, residents.clone()),
        row(M::POST, "/v1/me/checkins", Some(json!({})), residents.clone()),
        row(M::GET, "/v1/me/behaviours", None, residents.clone()),
        row(M::GET, "/v1/me/challenges", None, residents.clone()),
        row(M::POST, format!("/v1/me/challenges/{}/join", c.challenge), None, residents.clone()),
        row(M::PUT, "/v1/me/leaderboard", Some(json!({"opt_in": false})), residents.clone()),
        row(M::GET, "/v1/me/consents", None, residents.clone()),
        row(M::PUT, "/v1/me/consents", Some(json!({"partner_id": "wearables", "category": "steps_exercise", "purpose": "matrix"})), residents.clone()),
        row(M::DELETE, "/v1/me/consents/wearables/steps_exercise", None, residents.clone()),
        row(M::GET, "/v1/me/access-log", None, residents.clone()),
        row(M::GET, "/v1/mall", None, residents.clone()),
        row(M::GET, "/v1/me/orders", None, residents.clone()),
        row(M::GET, format!("/v1/me/orders/{}", c.order_read), None, vec![RES_A]).except(RES_B, 404),
        row(M::POST, format!("/v1/me/orders/{}/cancel", c.order_cancel), None, vec![RES_A]).except(RES_B, 404),
        row(M::POST, "/v1/malls/310118/orders", Some(json!({"product_id": c.product})), residents.clone()),
        row(M::POST, "/v1/me/station-code", None, residents.clone()),
        row(M::PUT, "/v1/me/password", Some(json!({})), residents.clone()),
        row(M::GET, "/v1/me/export", None, residents.clone()),
        // An empty body (no password): nobody's account is closed here.
        row(M::POST, "/v1/me/close", Some(json!({})), residents.clone()),
        row(M::POST, "/v1/station/lookup", Some(json!({"id_number": id_a})), vec![ST]),
        row(M::POST, "/v1/station/behaviours", Some(json!({"id_number": id_a, "record_id": "st-{role}",
            "behaviour": "community.lecture", "attributes": {"lecture_id": "L-matrix"}})), vec![ST]),
        row(M::POST, "/v1/station/password", Some(json!({"id_number": id_a, "new_password": "x"})), vec![ST]),
        row(M::POST, "/v1/station/orders", Some(json!({"id_number": id_a, "resident_consents": true,
            "mall": "310118", "product_id": c.product})), vec![ST]),
        row(M::GET, "/v1/merchant/products", None, merchants.clone()),
        row(M::POST, "/v1/merchant/products", Some(json!({"title": "Massage {role}", "category": "health_service", "price_points": 500})), merchants.clone()),
        row(M::PUT, format!("/v1/merchant/products/{}", c.product), Some(json!({"title": "Blood pressure check", "category": "health_service", "price_points": 20})), vec![MER_A]).except(MER_B, 404),
        row(M::GET, format!("/v1/merchant/vouchers/{}", c.voucher), None, vec![MER_A]),
        row(M::POST, format!("/v1/merchant/vouchers/{}/write-off", c.voucher), None, vec![MER_A]),
        row(M::GET, "/v1/merchant/orders", None, merchants.clone()),
        row(M::GET, "/v1/merchant/settlements", None, merchants.clone()),
        row(M::POST, "/v1/merchant/webhooks", Some(json!({"url": "http://127.0.0.1:9/hook-{role}", "events": ["order.written_off"]})), merchants.clone()),
        row(M::GET, "/v1/merchant/webhooks", None, merchants.clone()),
        row(M::GET, format!("/v1/merchant/webhooks/{}/deliveries", c.merchant_hook), None, vec![MER_A]).except(MER_B, 404),
        row(M::POST, format!("/v1/merchant/webhooks/{}/deliveries/{}/replay", c.merchant_hook, c.merchant_delivery), None, vec![MER_A]).except(MER_B, 404),
        row(M::DELETE, format!("/v1/merchant/webhooks/{}", c.merchant_hook), None, vec![MER_A]).except(MER_B, 404),
        row(M::POST, "/v1/partner/behaviours", Some(steps), vec![P_BEH]),
        row(M::POST, "/v1/partner/fhir", Some(fhir), vec![P_FHIR]),
        row(M::POST, "/v1/partner/family-doctor-contracts", Some(contract), vec![P_CON]),
        row(M::GET, "/v1/partner/statistics", None, vec![P_STAT]),
        row(M::GET, format!("/v1/partner/residents/{a}/points-summary"), None, vec![P_SUM]),
        row(M::POST, "/v1/partner/webhooks", Some(json!({"url": "http://127.0.0.1:9/hook-{role}", "events": ["consent.revoked"]})), partners.clone()),
        row(M::GET, "/v1/partner/webhooks", None, partners.clone()),
        not_theirs(row(M::GET, format!("/v1/partner/webhooks/{}/deliveries", c.hook), None, vec![P_SUM])),
        not_theirs(row(M::POST, format!("/v1/partner/webhooks/{}/deliveries/{}/replay", c.hook, c.delivery), None, vec![P_SUM])),
        not_theirs(row(M::DELETE, format!("/v1/partner/webhooks/{}", c.hook), None, vec![P_SUM])),
        row(M::GET, "/v1/me/notifications", None, residents.clone()),
        row(M::POST, "/v1/me/notifications/read", Some(json!({})), residents.clone()),
        row(M::GET, "/v1/admin/statistics?district=310118", None, admins.clone()),
        row(M::GET, "/v1/admin/books/district:310118/stats", None, admins.clone()),
        row(M::GET, "/v1/admin/access-log", None, vec![CITY]),
        row(M::GET, "/v1/admin/access-log?station=310118", None, admins.clone()),
        row(M::POST, "/v1/admin/challenges", Some(json!({"title": "Qingpu walks {role}", "district": "310118", "behaviour": "steps.daily",
            "daily_min_quantity": 8000, "days_required": 3, "starts_at": chrono::Utc::now().to_rfc3339(),
            "ends_at": (chrono::Utc::now() + chrono::Duration::days(10)).to_rfc3339(), "bonus_points": 50, "level": "district"})), admins.clone()),
        row(M::POST, "/v1/admin/honours", Some(json!({"resident_id": a, "honour": "matrix-{role}", "period": month,
            "district": "310118", "points": 10, "citation": "matrix"})), admins.clone()),
        row(M::GET, "/v1/admin/review-queue?district=310118", None, admins.clone()),
        row(M::POST, "/v1/admin/review-queue/{held}", Some(json!({"decision": "release"})), admins.clone()),
        row(M::POST, format!("/v1/admin/residents/{a}/review-flag"), Some(json!({"reason": "matrix"})), admins.clone()),
        row(M::DELETE, format!("/v1/admin/residents/{a}/review-flag"), None, admins.clone()),
        row(M::POST, "/v1/admin/rules/drafts", Some(rule), vec![QP]),
        row(M::POST, "/v1/admin/rules/drafts/simulate", Some(json!({"draft_ids": [c.draft],
            "from": (chrono::Utc::now() - chrono::Duration::days(7)).to_rfc3339(), "to": chrono::Utc::now().to_rfc3339()})), vec![QP]),
        row(M::POST, "/v1/admin/rules/drafts/publish", Some(json!({"draft_ids": [c.draft]})), vec![QP]),
        row(M::PUT, "/v1/admin/books/district:310118/expiry-policy", Some(json!({"policy": "year_end+3"})), vec![QP]),
        row(M::POST, "/v1/admin/partners", Some(json!({"name": "Matrix {role}", "department": "matrix-{role}", "behaviours": [], "scopes": []})), vec![CITY]),
        row(M::PUT, "/v1/admin/partners/culture", Some(json!({"name": "culture feed", "behaviours": [], "scopes": [], "status": "active"})), vec![CITY]),
        row(M::POST, "/v1/admin/partners/statistics-bureau/secrets", Some(json!({"grace_period_seconds": 3600})), vec![CITY]),
        row(M::POST, "/v1/admin/staff", Some(json!({"username": "op-{role}", "password": STAFF_PASSWORD, "role": "merchant_operator",
            "merchant_id": c.merchant_b, "mall": "310118"})), admins.clone()),
        // The matrix sends JSON, which the import refuses (400) once the caller may import;
        // every admin may, each row of another district (or book) being refused on its own.
        row(M::POST, "/v1/admin/imports/residents", Some(json!({})), vec![CITY, QP, YP]),
        row(M::POST, "/v1/admin/imports/balances", Some(json!({})), vec![CITY, QP, YP]),
        row(M::POST, "/v1/admin/clients", Some(json!({"kind": "partner", "name": "Matrix client {role}", "partner_id": "culture"})), vec![CITY]),
        row(M::PUT, "/v1/admin/districts/310118", Some(json!({"enrolled": true})), vec![CITY]),
        row(M::GET, "/v1/admin/residents?district=310118", None, admins.clone()),
        row(M::GET, format!("/v1/admin/residents/{a}"), None, admins.clone()),
        row(M::PUT, format!("/v1/admin/residents/{a}/family-doctor"), Some(fd), admins.clone()),
        row(M::DELETE, format!("/v1/admin/residents/{cc}/family-doctor"), None, admins.clone()),
        row(M::POST, format!("/v1/admin/residents/{cc}/suspend"), Some(json!({"reason": "matrix"})), admins.clone()),
        row(M::POST, format!("/v1/admin/residents/{cc}/reinstate"), None, admins.clone()),
        row(M::POST, "/v1/admin/malls/310118/merchants", Some(json!({"name": "Shop {role}", "licence_no": "91310118M{role}", "contact": "021"})), mall_admins.clone()),
        row(M::PUT, format!("/v1/admin/malls/310118/merchants/{}/status", c.merchant_b), Some(json!({"status": "active", "reason": "matrix"})), mall_admins.clone()),
        row(M::GET, "/v1/admin/malls/310118/orders", None, mall_admins.clone()),
        row(M::POST, format!("/v1/admin/malls/310118/orders/{}/refund", c.order_refund), Some(json!({"reason": "matrix"})), mall_admins.clone()),
        row(M::GET, format!("/v1/admin/malls/310118/settlements?merchant_id={}", c.merchant_b), None, mall_admins.clone()),
        row(M::GET, "/v1/admin/malls/310118/stats", None, mall_admins.clone()),
        row(M::POST, format!("/v1/admin/malls/310118/settlements/{}/{month}/close", c.merchant_b), None, mall_admins),
        row(M::POST, "/v1/admin/signing-keys/rotate", None, vec![CITY]),
    ]
}

/// Every route × every role: allowed cells are served, refused cells get exactly the designed
/// status. The table is printed; docs/security.md keeps a copy.
#[tokio::test]
async fn every_route_answers_every_role_as_designed() {
    let mesh = ProcessMesh::start().await;
    let cast = cast(&mesh).await;
    let rows = rows(&cast);
    assert_rows_cover_the_router(&rows);
    let mut table = String::new();
    let _ = writeln!(table, "| route | {} |", HEADS.join(" | "));
    let _ = writeln!(table, "|---|{}", "---|".repeat(HEADS.len()));
    let mut wrong = Vec::new();
    let mut cells = 0;
    for r in &rows {
        let mut line = format!(
            "| `{} {}` |",
            r.method,
            r.path.replace(&cast.a, "{A}").replace(&cast.c, "{C}")
        );
        for (role, token) in cast.tokens.iter().enumerate() {
            let body: Option<Value> = r.body.as_ref().map(|b| {
                serde_json::from_str(&b.to_string().replace("{role}", &role.to_string())).unwrap()
            });
            let held = match role {
                QP => &cast.held[1],
                YP => &cast.held[2],
                _ => &cast.held[0],
            };
            let path = r.path.replace("{held}", held);
            let mut request = mesh.request(r.method.clone(), &path, token.as_deref());
            if r.path.ends_with("/orders") && r.method == Method::POST {
                request = request.header("Idempotency-Key", format!("matrix-row-{role}"));
            }
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.expect("the gateway answers");
            let (status, answer) = healthpoints_integration_tests::split(response).await;
            let expected = r.expected(role);
            let ok = match expected {
                Cell::Allow => !matches!(status, 401 | 403 | 404) && status < 500,
                Cell::Refuse(want) => status == want,
            };
            if !ok {
                wrong.push(format!(
                    "{} {} as {}: expected {expected:?}, got {status} {answer}",
                    r.method, r.path, ROLES[role]
                ));
            }
            let _ = write!(
                line,
                " {} |",
                match expected {
                    Cell::Allow => "✓".to_owned(),
                    Cell::Refuse(s) => s.to_string(),
                }
            );
            cells += 1;
        }
        let _ = writeln!(table, "{line}");
    }
    println!("{table}");
    println!(
        "{} routes × {} roles = {cells} cells",
        rows.len(),
        ROLES.len()
    );
    assert!(
        wrong.is_empty(),
        "{} cells differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// The route template a concrete request path is served by: the matching template with the
/// fewest parameters (the router prefers literal segments).
fn served_by(method: &Method, path: &str) -> Option<(&'static str, &'static str)> {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<_> = path.split('/').collect();
    healthpoints_gateway::routes::ROUTES
        .iter()
        .copied()
        .filter(|(m, template)| {
            let parts: Vec<_> = template.split('/').collect();
            *m == method.as_str()
                && parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}')))
        })
        .min_by_key(|(_, template)| template.matches('{').count())
}

/// The matrix is only as good as its rows: every route the router serves has a row, and every
/// row is a route the router serves.
fn assert_rows_cover_the_router(rows: &[Row]) {
    let mut covered = std::collections::BTreeSet::new();
    for r in rows {
        let route = served_by(&r.method, &r.path.replace("{held}", "held"))
            .unwrap_or_else(|| panic!("row {} {} is no route of the router", r.method, r.path));
        covered.insert(route);
    }
    let missing: Vec<_> = healthpoints_gateway::routes::ROUTES
        .iter()
        .filter(|route| !covered.contains(*route))
        .collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the matrix: {missing:?}"
    );
}

/// One call a resident may make on a backend, sent with a bearer token; answers the status code.
type BackendCall = Box<dyn Fn(String) -> futures::future::BoxFuture<'static, tonic::Code>>;

/// A resident's call on each backend, straight to its gRPC port.
fn backend_calls(mesh: &ProcessMesh, resident: &str) -> Vec<(&'static str, BackendCall)> {
    use healthpoints_proto::{exchange, identity, intake, ledger, mall};
    fn with<T>(token: &str, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}")
                .parse()
                .unwrap_or_else(|_| "Bearer -".parse().unwrap()),
        );
        request
    }
    fn code<T>(r: Result<tonic::Response<T>, tonic::Status>) -> tonic::Code {
        r.map_or_else(|s| s.code(), |_| tonic::Code::Ok)
    }
    let channel = |name: &str| {
        healthpoints_grpc::client::connect(&healthpoints_grpc::client::GrpcClientConfig::new(
            mesh.endpoint(name),
        ))
        .expect("a channel")
    };
    let resident = resident.to_owned();
    let (id, lg, ik, ex, city, qp) = (
        channel("identity"),
        channel("ledger"),
        channel("intake"),
        channel("exchange"),
        channel("city-mall"),
        channel("mall-310118"),
    );
    let r = resident.clone();
    let identity_call: BackendCall = Box::new(move |t: String| {
        let (c, resident_id) = (id.clone(), r.clone());
        Box::pin(async move {
            let mut c = identity::v1::identity_service_client::IdentityServiceClient::new(c);
            let m = identity::v1::GetResidentRequest { resident_id };
            code(c.get_resident(with(&t, m)).await)
        })
    });
    let r = resident.clone();
    let ledger_call: BackendCall = Box::new(move |t: String| {
        let (c, owner_id) = (lg.clone(), r.clone());
        Box::pin(async move {
            let mut c = ledger::v1::ledger_service_client::LedgerServiceClient::new(c);
            let m = ledger::v1::GetBalancesRequest { owner_id };
            code(c.get_balances(with(&t, m)).await)
        })
    });
    let r = resident.clone();
    let intake_call: BackendCall = Box::new(move |t: String| {
        let (c, resident_id) = (ik.clone(), r.clone());
        Box::pin(async move {
            let mut c = intake::v1::intake_service_client::IntakeServiceClient::new(c);
            let m = intake::v1::ListOutcomesRequest {
                resident_id,
                page: None,
            };
            code(c.list_outcomes(with(&t, m)).await)
        })
    });
    let r = resident.clone();
    let exchange_call: BackendCall = Box::new(move |t: String| {
        let (c, resident_id) = (ex.clone(), r.clone());
        Box::pin(async move {
            let mut c = exchange::v1::exchange_service_client::ExchangeServiceClient::new(c);
            let m = exchange::v1::ListConsentsRequest { resident_id };
            code(c.list_consents(with(&t, m)).await)
        })
    });
    let mall_call = |channel: healthpoints_grpc::client::PeerChannel| -> BackendCall {
        let r = resident.clone();
        Box::new(move |t: String| {
            let (c, resident_id) = (channel.clone(), r.clone());
            Box::pin(async move {
                let mut c = mall::v1::mall_service_client::MallServiceClient::new(c);
                let m = mall::v1::ListOrdersRequest {
                    owner: Some(mall::v1::list_orders_request::Owner::ResidentId(
                        resident_id,
                    )),
                    page: None,
                };
                code(c.list_orders(with(&t, m)).await)
            })
        })
    };
    vec![
        ("identity", identity_call),
        ("ledger", ledger_call),
        ("intake", intake_call),
        ("exchange", exchange_call),
        ("the city mall", mall_call(city)),
        ("Qingpu's mall", mall_call(qp)),
    ]
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .expect("base64url"),
    )
    .expect("JSON claims")
}

/// Forged, stolen and stale tokens are all refused with 401, while the same route answers the
/// genuine token: `alg: none`, HS256 keyed with the published public key, a changed payload (as
/// another resident, as a city admin), tokens validly signed by identity's own key but expired,
/// for another audience or from another issuer, a refresh token as a bearer token, and a
/// refresh token used twice.
#[tokio::test]
async fn forged_stolen_and_stale_tokens_are_refused() {
    let mesh = ProcessMesh::start().await;
    let world = World::build(&mesh, 2).await;
    let (a, b) = (&world.residents[0], &world.residents[1]);
    let me = async |token: &str| mesh.call(Method::GET, "/v1/me", Some(token), None).await;
    assert_eq!(me(&a.token).await.0, 200, "the genuine token works");
    let claims = payload(&a.token);
    let [header, body, signature]: [&str; 3] = a
        .token
        .split('.')
        .collect::<Vec<_>>()
        .try_into()
        .expect("three parts");
    let header_json: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    let jwks = mesh
        .expect(200, Method::GET, "/.well-known/jwks.json", None, None)
        .await
        .unwrap();
    let x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    let hs256 = |secret: &[u8]| {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = header_json["kid"].as_str().map(str::to_owned);
        jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_secret(secret)).unwrap()
    };
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        change(&mut c);
        c
    };
    let now = chrono::Utc::now().timestamp();
    let signed = async |c: Value| {
        mesh.sign_as_identity(&serde_json::from_value(c).unwrap())
            .await
    };
    let control = signed(claims.clone()).await;
    assert_eq!(
        me(&control).await.0,
        200,
        "identity's key signs as identity does"
    );

    let mut attacks: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!("{}.{body}.", b64(&json!({"alg": "none", "typ": "JWT"}))),
        ),
        (
            "HS256 keyed with the public key (base64url)",
            hs256(x.as_bytes()),
        ),
        (
            "HS256 keyed with the public key (raw)",
            hs256(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(&x)
                    .unwrap(),
            ),
        ),
        (
            "payload changed to another resident",
            format!(
                "{header}.{}.{signature}",
                b64(&with(&|c| c["sub"] = json!(b.id)))
            ),
        ),
        (
            "payload changed to a city admin",
            format!(
                "{header}.{}.{signature}",
                b64(&with(&|c| c["role"] = json!("city_admin")))
            ),
        ),
        ("no signature", format!("{header}.{body}.")),
        ("not a JWT", "hello".to_owned()),
    ];
    attacks.push((
        "expired an hour ago (signed by identity)",
        signed(with(&|c| {
            c["exp"] = json!(now - 3600);
            c["iat"] = json!(now - 4500);
            c["nbf"] = json!(now - 4500);
        }))
        .await,
    ));
    attacks.push((
        "another audience (signed by identity)",
        signed(with(&|c| c["aud"] = json!("another-programme"))).await,
    ));
    attacks.push((
        "another issuer (signed by identity)",
        signed(with(&|c| c["iss"] = json!("someone-else"))).await,
    ));
    attacks.push((
        "not valid before an hour from now (signed by identity)",
        signed(with(&|c| c["nbf"] = json!(now + 3600))).await,
    ));

    // Refresh tokens: never a bearer token; spent once.
    let (status, tokens) = mesh
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"login": "13700000001", "password": "Resident-pass-1"})),
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    attacks.push(("a refresh token as a bearer token", refresh.clone()));
    let mut report = String::new();
    for (name, token) in &attacks {
        let (status, problem) = me(token).await;
        assert_eq!(status, 401, "{name}: {problem}");
        assert_eq!(problem["code"], "unauthenticated", "{name}: {problem}");
        let _ = writeln!(report, "| {name} | {status} |");
    }
    // Each backend checks tokens itself: a caller that reaches its port past the gateway gets
    // UNAUTHENTICATED for every attack, while the genuine token is accepted.
    let backends = backend_calls(&mesh, &a.id);
    for (service, call) in &backends {
        let genuine = call(a.token.clone()).await;
        assert!(
            !matches!(
                genuine,
                tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
            ),
            "{service} refuses the genuine token: {genuine:?}"
        );
        for (name, token) in &attacks {
            assert_eq!(
                call(token.clone()).await,
                tonic::Code::Unauthenticated,
                "{service}, called directly with {name}"
            );
        }
    }
    let _ = writeln!(
        report,
        "| each attack above, sent straight to {} | UNAUTHENTICATED |",
        backends
            .iter()
            .map(|(s, _)| *s)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let refreshed = mesh
        .expect(
            200,
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await
        .unwrap();
    // Within the reuse grace (two app instances, a lost response retried) the spent token
    // answers the same refresh token; once that one is used, it is a stolen copy.
    let (status, again) = mesh
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["refresh_token"], refreshed["refresh_token"]);
    let _ = writeln!(
        report,
        "| a refresh token used again within the grace | {status}, the same refresh token |"
    );
    let newest = mesh
        .expect(
            200,
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refreshed["refresh_token"]})),
        )
        .await
        .unwrap();
    let (status, _) = mesh
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(status, 401, "a refresh token used after its successor");
    let _ = writeln!(
        report,
        "| a refresh token used after its successor was | {status} |"
    );
    let (status, _) = mesh
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": newest["refresh_token"]})),
        )
        .await;
    assert_eq!(
        status, 401,
        "the reuse revoked the family, the newest token too"
    );
    let _ = writeln!(
        report,
        "| the newest token of that session (its family is revoked) | {status} |"
    );
    let (status, _) = mesh
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": tokens["access_token"]})),
        )
        .await;
    assert_eq!(status, 401, "an access token as a refresh token");
    let _ = writeln!(report, "| an access token as a refresh token | {status} |");
    assert_eq!(me(newest["access_token"].as_str().unwrap()).await.0, 200);
    println!("| attack | status |\n|---|---|\n{report}");
}

use healthpoints_integration_tests::{Sandbox, id_number};
use reqwest::Method;
use serde_json::json;

const PASSWORD: &str = "Walk-10000-steps";

fn registration(seq: u32, phone: &str) -> serde_json::Value {
    json!({
        "name": "张伟",
        "id_number": id_number("310118", "19900307", seq),
        "phone": phone,
        "password": PASSWORD,
        "residence_district": "310118",
        "residence_type": "registered",
    })
}

#[tokio::test]
async fn a_resident_registers_logs_in_and_reads_their_profile() {
    let sandbox = Sandbox::start().await;
    let (status, body) = sandbox.call(Method::GET, "/readyz", None, None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")));

    let (status, body) = sandbox
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(registration(1, "13812345678")),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let resident_id = body["resident_id"].as_str().unwrap().to_owned();

    let (status, tokens) = sandbox
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"login": "13812345678", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    let access = tokens["access_token"].as_str().unwrap();

    let (status, me) = sandbox
        .call(Method::GET, "/v1/me", Some(access), None)
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["resident_id"], resident_id.as_str());
    assert_eq!(me["name"], "张伟");
    assert_eq!(
        me["id_number_masked"],
        format!(
            "3101**********{}",
            &id_number("310118", "19900307", 1)[14..]
        )
    );
    assert_eq!(me["phone_masked"], "138****5678");
    assert_eq!(me["residence_district"], "310118");
    assert_eq!(me["residence_type"], "registered");
    assert_eq!(me["status"], "active");
    assert!(me["family_doctor"].is_null());
    assert!(
        !me.to_string().contains("13812345678"),
        "the full phone number never leaves identity"
    );

    // Refresh rotates; a retry within the grace answers the same refresh token; logout ends the session.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, rotated) = sandbox
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    // Sent again at once (a lost response retried): the same refresh token, nobody signed out.
    let (status, again) = sandbox
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(
        (status, &again["refresh_token"]),
        (200, &rotated["refresh_token"])
    );
    let next = rotated["refresh_token"].as_str().unwrap();
    let (status, _) = sandbox
        .call(
            Method::POST,
            "/v1/auth/logout",
            None,
            Some(json!({"refresh_token": next})),
        )
        .await;
    assert_eq!(status, 204);

    sandbox.stop().await;
}

#[tokio::test]
async fn partners_get_client_credential_tokens_and_jwks_verifies_them() {
    let sandbox = Sandbox::start().await;
    let admin = sandbox.admin_token().await;
    // A registered partner's second client (a second server of the sports bureau).
    sandbox
        .partner(&admin, "sports", &["steps.daily"], &["behaviours:submit"])
        .await;
    let (status, client) = sandbox
        .call(
            Method::POST,
            "/v1/admin/clients",
            Some(&admin),
            Some(json!({"kind": "partner", "name": "Sports bureau", "partner_id": "sports", "department": "sports", "scopes": ["behaviours:submit"]})),
        )
        .await;
    assert_eq!(status, 201, "{client}");
    let (status, token) = sandbox
        .call(
            Method::POST,
            "/v1/auth/token",
            None,
            Some(json!({"grant_type": "client_credentials", "client_id": client["client_id"], "client_secret": client["client_secret"]})),
        )
        .await;
    assert_eq!(status, 200, "{token}");
    assert!(token.get("refresh_token").is_none());
    let (status, problem) = sandbox
        .call(
            Method::POST,
            "/v1/auth/token",
            None,
            Some(json!({"grant_type": "password", "client_id": "x", "client_secret": "y"})),
        )
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("grant_type"))
    );

    let (status, jwks) = sandbox
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert_eq!(status, 200);
    let kid = jwks["keys"][0]["kid"].as_str().unwrap();
    let header = token["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .next()
        .unwrap();
    use base64::Engine as _;
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (header["alg"].as_str(), header["kid"].as_str()),
        (Some("EdDSA"), Some(kid))
    );

    // A partner token is not a resident: /v1/me refuses it.
    let (status, _) = sandbox
        .call(Method::GET, "/v1/me", token["access_token"].as_str(), None)
        .await;
    assert_eq!(status, 403);
    sandbox.stop().await;
}

//! Browsers on other origins: a deployment that names an origin answers its preflights and marks
//! its responses; every other origin, and a deployment that names none, gets no CORS header.

use healthpoints_integration_tests::Sandbox;
use reqwest::Method;

const APP: &str = "https://points.example.gov.cn";

#[tokio::test]
async fn a_named_origin_may_call_from_the_browser_and_others_may_not() {
    let sandbox = Sandbox::start_with_cors(&[APP, "http://localhost:5173"]).await;
    // The preflight of an order from the web client: answered before any route or token.
    let preflight = sandbox
        .request(Method::OPTIONS, "/v1/malls/city/orders", None)
        .header("origin", APP)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, idempotency-key",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], APP);
    let methods = h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for needed in ["authorization", "content-type", "idempotency-key"] {
        assert!(headers.contains(needed), "{needed} in {headers}");
    }
    assert!(h.get("access-control-allow-credentials").is_none());
    assert!(h.get("access-control-max-age").is_some());

    // The request itself is marked for that origin, errors included.
    let rules = sandbox
        .request(Method::GET, "/v1/rules", None)
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(rules.status(), 200);
    assert_eq!(rules.headers()["access-control-allow-origin"], APP);
    let refused = sandbox
        .request(Method::GET, "/v1/me", None)
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["access-control-allow-origin"], APP);
    let exposed = refused.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("www-authenticate") && exposed.contains("retry-after"));

    // Another origin: no permission, so the browser keeps the answer from its page.
    for method in [Method::OPTIONS, Method::GET] {
        let other = sandbox
            .request(method.clone(), "/v1/rules", None)
            .header("origin", "https://evil.example.com")
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert!(
            other.headers().get("access-control-allow-origin").is_none(),
            "{method}: {:?}",
            other.headers()
        );
    }
    sandbox.stop().await;
}

#[tokio::test]
async fn without_named_origins_there_is_no_cross_origin_access() {
    let sandbox = Sandbox::start().await;
    let preflight = sandbox
        .request(Method::OPTIONS, "/v1/rules", None)
        .header("origin", APP)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 405, "no preflight is answered");
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let rules = sandbox
        .request(Method::GET, "/v1/rules", None)
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(rules.status(), 200);
    assert!(rules.headers().get("access-control-allow-origin").is_none());
    sandbox.stop().await;
}

//! What an operator sees of the mesh: `GET /metrics` (OpenMetrics) with every request counted by
//! its route template, never by the ids in its path, and the RPCs below it by service.

use healthpoints_integration_tests::Sandbox;
use reqwest::Method;

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_rpcs_by_service() {
    let sandbox = Sandbox::start().await;
    let id = "0190a5e2-0000-7000-8000-00000000beef";
    let (status, _) = sandbox.call(Method::GET, "/v1/rules", None, None).await;
    assert_eq!(status, 200);
    let (status, _) = sandbox
        .call(Method::GET, &format!("/v1/me/orders/{id}"), None, None)
        .await;
    assert_eq!(status, 401);

    let response = sandbox
        .request(Method::GET, "/metrics", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0"),
    );
    // Each answer echoes its request id for support to quote.
    assert!(response.headers().contains_key("x-request-id"));
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    for wanted in [
        r#"healthpoints_http_requests_total{method="GET",route="/v1/rules",status="200"}"#,
        r#"healthpoints_http_requests_total{method="GET",route="/v1/me/orders/{id}",status="401"}"#,
        r#"healthpoints_http_request_duration_seconds_count{method="GET",route="/v1/rules"}"#,
        r#"healthpoints_rpc_requests_total{service="intake",method="ListRules",code="OK"}"#,
    ] {
        assert!(text.contains(wanted), "{wanted} in {text}");
    }
    assert!(!text.contains(id), "no id in a label");

    // A made-up method is one label, not a series per method.
    let odd = Method::from_bytes(b"FOO1").unwrap();
    let (status, _) = sandbox.call(odd, "/v1/rules", None, None).await;
    assert_eq!(status, 405);
    let text = sandbox.text("/metrics", None).await;
    assert!(!text.contains("FOO1"), "{text}");
    assert!(text.contains(r#"method="OTHER""#), "{text}");

    // A request id the client sends is kept when it is a UUID, replaced when it is anything
    // else (it would be on every log line of the request).
    let kept = "0d5c2b1e-7a4f-4c61-9d3e-5b8a2f6c1e07";
    for (sent, echoed) in [(kept, Some(kept)), ("13900000001", None)] {
        let response = sandbox
            .request(Method::GET, "/v1/rules", None)
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        let got = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        match echoed {
            Some(id) => assert_eq!(got, id),
            None => assert!(got != sent && got.len() == 36, "{got}"),
        }
    }
    sandbox.stop().await;
}

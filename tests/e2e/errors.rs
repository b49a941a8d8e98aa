//! One error shape on every route; bad input never yields a 5xx; docs and metrics.

use reqwest::Method;

use crate::harness::{BOOTSTRAP, Options, Server, assert_error, send};

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_in_the_shared_shape() {
    let server = Server::start_with(Options {
        config: "max_body_bytes = 4096\n".into(),
        ..Options::default()
    });
    let post_raw = |path: &str, body: &'static str| {
        server
            .request(Method::POST, path, BOOTSTRAP)
            .header("Content-Type", "application/json")
            .body(body)
    };
    let (status, body) = send(post_raw("/keys", "{\"alias\": ")).await;
    assert!(assert_error(status, &body, 400, "bad_request").contains("malformed JSON"));
    let (status, body) = send(post_raw("/keys", "{\"alias\": 5}")).await;
    assert!(assert_error(status, &body, 400, "bad_request").contains("alias"));
    let (status, body) = send(post_raw("/keys", "[]")).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = send(server.request(Method::POST, "/keys", BOOTSTRAP).body("{}")).await;
    assert_error(status, &body, 415, "unsupported_media_type");

    let big = format!("{{\"alias\": \"{}\"}}", "x".repeat(10_000));
    let (status, body) = send(
        server
            .request(Method::POST, "/keys", BOOTSTRAP)
            .header("Content-Type", "application/json")
            .body(big),
    )
    .await;
    assert_error(status, &body, 413, "payload_too_large");

    let (status, body) = server.get("/no/such/route", BOOTSTRAP).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = send(server.request(Method::PUT, "/keys", BOOTSTRAP)).await;
    assert_error(status, &body, 405, "method_not_allowed");
    let (status, body) = server
        .get("/api/v1/audit-events?since=yesterday", BOOTSTRAP)
        .await;
    assert_eq!(
        assert_error(status, &body, 400, "bad_request"),
        "since: must be an RFC 3339 timestamp"
    );
    let (status, body) = server
        .get("/api/v1/audit-events?severity=extreme", BOOTSTRAP)
        .await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = server.get("/api/v1/projects?page=0", BOOTSTRAP).await;
    assert_error(status, &body, 400, "bad_request");

    // None of that changed anything.
    let (_, keys) = server.get("/keys", BOOTSTRAP).await;
    assert_eq!(keys.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn openapi_docs_and_metrics_are_served() {
    let server = Server::start();
    let (status, doc) = send(
        server
            .client
            .get(format!("{}/api/v1/openapi.json", server.base)),
    )
    .await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/keys",
        "/keys/{publicKey}",
        "/api/v1/projects/{id}/environments",
        "/api/v1/audit-events",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the document"
        );
    }
    let response = server
        .client
        .get(format!("{}/api/v1/docs", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("<html"));

    server.get("/keys", BOOTSTRAP).await;
    let metrics = server
        .client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains(r#"keystead_http_requests_total{method="GET",route="/keys",status="200"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("keystead_http_request_duration_seconds_bucket"));

    let (status, health) = send(server.client.get(format!("{}/readyz", server.base))).await;
    assert_eq!((status, health), (200, serde_json::json!({"status": "ok"})));
}

//! Webhooks at `/api/webhooks`: the endpoints, signed deliveries to a real HTTP receiver
//! in this process (which checks every signature), the delivery log, retries,
//! redelivery, the Slack, CloudEvents and Python transports, expiry notices, and
//! delivery that survives `kill -9`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::{BOOTSTRAP, Options, Server, assert_error};
use crate::pki::{default_project, hierarchy, submit};

// ---- a receiver that checks every signature ----

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Both signature headers present, equal, fresh and right for the path's secret.
    pub verified: bool,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn event_id(&self) -> String {
        self.header("x-keystead-event-id").to_owned()
    }
}

#[derive(Default)]
struct Inbox {
    secrets: HashMap<String, String>,
    /// Statuses to answer, per path, in order; 200 once they run out.
    answers: HashMap<String, VecDeque<u16>>,
    received: Vec<Received>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    inbox: Arc<Mutex<Inbox>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `t=<unix>,v1=<hex>` in both headers, HMAC-SHA256(secret, "<t>.<body>"), t within 5 min.
fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(signature) = get("x-keystead-signature") else {
        return false;
    };
    if get("x-wrvault-signature") != Some(signature) {
        return false;
    }
    let Some((t, v1)) = signature
        .strip_prefix("t=")
        .and_then(|s| s.split_once(",v1="))
    else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let fresh = t.parse::<u64>().is_ok_and(|t| now.abs_diff(t) <= 300);
    let Ok(expected) = hex::decode(v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    fresh && mac.verify_slice(&expected).is_ok()
}

async fn receive(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let path = uri.path().to_owned();
    let mut inbox = inbox.lock().unwrap();
    let verified = inbox
        .secrets
        .get(&path)
        .is_some_and(|secret| verify(secret, &headers, &body));
    let status = inbox
        .answers
        .get_mut(&path)
        .and_then(VecDeque::pop_front)
        .unwrap_or(200);
    inbox.received.push(Received {
        path,
        headers,
        body,
        verified,
    });
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(addr: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inbox: Arc<Mutex<Inbox>> = Arc::default();
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(inbox.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, inbox, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Deliveries to `path` are checked against `secret`.
    pub fn expect_secret(&self, path: &str, secret: &str) {
        self.inbox
            .lock()
            .unwrap()
            .secrets
            .insert(path.into(), secret.into());
    }

    /// The next requests to `path` get these statuses, in order.
    pub fn answer(&self, path: &str, statuses: &[u16]) {
        self.inbox
            .lock()
            .unwrap()
            .answers
            .entry(path.into())
            .or_default()
            .extend(statuses);
    }

    pub fn received(&self, path: &str) -> Vec<Received> {
        let inbox = self.inbox.lock().unwrap();
        inbox
            .received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` has received at least `n` requests.
    pub async fn wait_for(&self, path: &str, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.received(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: {} of {n} deliveries arrived",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every request that arrived, on every path, carried a valid signature.
    pub fn assert_all_verified(&self) {
        let inbox = self.inbox.lock().unwrap();
        assert!(!inbox.received.is_empty(), "nothing was received");
        for r in &inbox.received {
            assert!(
                r.verified,
                "bad or missing signature on {}: {:?}",
                r.path, r.headers
            );
        }
    }
}

// ---- servers and helpers ----

/// Fast retries and scans; `webhooks` adds keys to the `[webhooks]` table, `plugins`
/// appends `[[plugins]]` entries (which replace the built-in list).
fn start(webhooks: &str, plugins: &str) -> Server {
    Server::start_with(Options {
        config: format!(
            "[webhooks]\nretry_initial_ms = 200\nretry_max_secs = 1\nlease_secs = 3\n\
             poll_ms = 200\n{webhooks}\n[jobs]\nexpiry_scan_secs = 1\n{plugins}"
        ),
        env: vec![("KEYSTEAD_ALLOW_LOOPBACK".into(), "true".into())],
        ..Options::default()
    })
}

async fn create_webhook(server: &Server, body: Value) -> Value {
    let (status, created) = server.post("/api/webhooks", BOOTSTRAP, body).await;
    assert_eq!(status, 201, "{created}");
    created
}

/// A CA hierarchy and an automatic template; returns (template id, project id).
async fn pki(server: &Server) -> (String, String) {
    let (_, _, template) = hierarchy(server, BOOTSTRAP, json!({})).await;
    let project = default_project(server, BOOTSTRAP).await;
    (template["id"].as_str().unwrap().to_owned(), project)
}

async fn issue(server: &Server, template: &str, project: &str, cn: &str, days: u32) -> String {
    let (status, cert) = submit(
        server,
        BOOTSTRAP,
        json!({
            "template_id": template, "project_id": project, "csr_source_mode": "server_generated",
            "requested_cn": cn, "requested_san": {"dns_names": [cn]}, "validity_days": days,
        }),
    )
    .await;
    assert_eq!(status, 201, "{cert}");
    assert_eq!(cert["status"], "active");
    cert["id"].as_str().unwrap().to_owned()
}

async fn deliveries(server: &Server, webhook: &str, query: &str) -> Value {
    let (status, page) = server
        .get(
            &format!("/api/webhooks/{webhook}/deliveries{query}"),
            BOOTSTRAP,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page
}

/// Polls the delivery log until `done` holds for its first page.
async fn wait_log(server: &Server, webhook: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = deliveries(server, webhook, "?per_page=100").await;
        if done(&page) {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "delivery log never settled: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn all_delivered(page: &Value, n: usize) -> bool {
    let data = page["data"].as_array().unwrap();
    data.len() == n && data.iter().all(|d| d["status"] == "delivered")
}

// ---- tests ----

#[tokio::test]
async fn endpoints_are_created_listed_updated_and_deleted() {
    let server = start("", "");
    let receiver = Receiver::start().await;

    // Seed 000's request: the given secret is not echoed.
    let created = create_webhook(
        &server,
        json!({"url": receiver.url("/hooks/a"), "events": ["certificate.expiring"], "secret": "my-signing-secret"}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["url"], receiver.url("/hooks/a"));
    assert_eq!(created["events"], json!(["certificate.expiring"]));
    assert_eq!(created["active"], true);
    assert_eq!(created["transport"], "http-hmac");
    assert!(created.get("secret").is_none(), "{created}");

    // Without a secret, one is generated and shown this once.
    let generated = create_webhook(
        &server,
        json!({"url": receiver.url("/hooks/b"), "events": ["certificate.issued", "key.rotated"],
               "transport": "slack", "description": "chat"}),
    )
    .await;
    let secret = generated["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{generated}"
    );
    let b = generated["id"].as_str().unwrap().to_owned();
    let (_, again) = server.get(&format!("/api/webhooks/{b}"), BOOTSTRAP).await;
    assert!(again.get("secret").is_none(), "{again}");
    assert_eq!(again["description"], "chat");

    let (status, list) = server.get("/api/webhooks", BOOTSTRAP).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str(), b.as_str()]);

    let (status, updated) = server
        .patch(
            &format!("/api/webhooks/{id}"),
            BOOTSTRAP,
            json!({"events": ["certificate.issued", "certificate.revoked"], "active": false,
                   "secret": "another-secret", "config": {"headers": {"X-Team": "pki"}}}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        updated["events"],
        json!(["certificate.issued", "certificate.revoked"])
    );
    assert_eq!(updated["active"], false);
    assert_eq!(updated["config"], json!({"headers": {"X-Team": "pki"}}));
    assert!(updated.get("secret").is_none());
    let (status, cleared) = server
        .patch(
            &format!("/api/webhooks/{b}"),
            BOOTSTRAP,
            json!({"description": null}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(cleared.get("description").is_none(), "{cleared}");

    // An auditor reads but does not change.
    let auditor = server.key_with_role("auditor").await;
    let (status, _) = server.get("/api/webhooks", &auditor).await;
    assert_eq!(status, 200);
    let (status, body) = server
        .post(
            "/api/webhooks",
            &auditor,
            json!({"url": receiver.url("/x"), "events": ["certificate.issued"]}),
        )
        .await;
    let text = assert_error(status, &body, 403, "forbidden");
    assert!(text.contains("webhooks:write"), "{text}");

    let (status, _) = server
        .delete(&format!("/api/webhooks/{id}"), BOOTSTRAP)
        .await;
    assert_eq!(status, 204);
    let (status, body) = server.get(&format!("/api/webhooks/{id}"), BOOTSTRAP).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = server
        .delete(&format!("/api/webhooks/{id}"), BOOTSTRAP)
        .await;
    assert_error(status, &body, 404, "not_found");

    // The secrets are sealed: none is in the database files in clear.
    let wal = server.data_dir.join("keystead.db-wal");
    for needle in [secret, "another-secret", "my-signing-secret"] {
        for file in [server.db_path(), wal.clone()] {
            assert!(
                !crate::harness::file_contains(&file, needle.as_bytes()),
                "{needle} stored in clear in {}",
                file.display()
            );
        }
    }
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx_and_changes_nothing() {
    let server = start("", "");
    let ok_url = "http://127.0.0.1:9/hook";
    let cases = [
        (
            json!({"url": "ftp://example.com/x", "events": ["certificate.issued"]}),
            "url",
        ),
        (
            json!({"url": "not a url", "events": ["certificate.issued"]}),
            "url",
        ),
        (
            json!({"url": "http://example.com/x", "events": ["certificate.issued"]}),
            "url",
        ),
        (
            json!({"url": "https://u:p@example.com/x", "events": ["certificate.issued"]}),
            "url",
        ),
        (json!({"url": "", "events": ["certificate.issued"]}), "url"),
        (
            json!({"url": ok_url, "events": ["certificate.exploded"]}),
            "events",
        ),
        (json!({"url": ok_url, "events": []}), "events"),
        (
            json!({"url": ok_url, "events": ["certificate.issued"], "secret": "short"}),
            "secret",
        ),
        (
            json!({"url": ok_url, "events": ["certificate.issued"], "transport": "carrier-pigeon"}),
            "transport",
        ),
        (
            json!({"url": ok_url, "events": ["certificate.issued"], "config": [1, 2]}),
            "config",
        ),
        (
            json!({"url": ok_url, "events": ["certificate.issued"],
                   "config": {"headers": {"X-Keystead-Event-Id": "forged"}}}),
            "config",
        ),
        (
            json!({"url": ok_url, "events": ["certificate.issued"], "projectId": "nope"}),
            "projectId",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = server.post("/api/webhooks", BOOTSTRAP, body.clone()).await;
        let text = assert_error(status, &answer, 400, "bad_request");
        assert_eq!(answer["field"], field, "{body}: {answer}");
        assert!(text.starts_with(&format!("{field}:")), "{text}");
    }
    for body in [
        json!({"events": ["certificate.issued"]}),
        json!({"url": ok_url, "events": "certificate.issued"}),
        json!({"url": ok_url, "events": ["certificate.issued"], "colour": "red"}),
    ] {
        let (status, answer) = server.post("/api/webhooks", BOOTSTRAP, body).await;
        assert_error(status, &answer, 400, "bad_request");
    }
    let (status, answer) = send_raw(&server, "/api/webhooks", "{not json").await;
    assert_error(status, &answer, 400, "bad_request");
    let (_, list) = server.get("/api/webhooks", BOOTSTRAP).await;
    assert_eq!(list, json!([]), "a bad request created something");

    // Updates: the same rules, and nothing changes on a refusal.
    let created = create_webhook(
        &server,
        json!({"url": ok_url, "events": ["certificate.issued"]}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    for (body, field) in [
        (json!({"url": "http://example.com/"}), "url"),
        (json!({"events": []}), "events"),
        (json!({"events": ["nope"]}), "events"),
        (json!({"secret": "\u{0}aaaaaaaaa"}), "secret"),
    ] {
        let (status, answer) = server
            .patch(&format!("/api/webhooks/{id}"), BOOTSTRAP, body)
            .await;
        let _ = assert_error(status, &answer, 400, "bad_request");
        assert_eq!(answer["field"], field);
    }
    let (_, after) = server.get(&format!("/api/webhooks/{id}"), BOOTSTRAP).await;
    assert_eq!(after["url"], ok_url);
    assert_eq!(after["events"], json!(["certificate.issued"]));

    for path in [
        format!("/api/webhooks/{id}/deliveries?status=lost"),
        format!("/api/webhooks/{id}/deliveries?per_page=0"),
        format!("/api/webhooks/{id}/deliveries?page=x"),
    ] {
        let (status, answer) = server.get(&path, BOOTSTRAP).await;
        assert_error(status, &answer, 400, "bad_request");
    }
    for path in [
        "/api/webhooks/nope".to_owned(),
        "/api/webhooks/nope/deliveries".to_owned(),
        format!("/api/webhooks/{id}/deliveries/nope"),
    ] {
        let (status, answer) = server.get(&path, BOOTSTRAP).await;
        assert_error(status, &answer, 404, "not_found");
    }
    let (status, answer) = server
        .post(
            &format!("/api/webhooks/{id}/deliveries/nope/redeliver"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_error(status, &answer, 404, "not_found");
}

async fn send_raw(server: &Server, path: &str, body: &'static str) -> (u16, Value) {
    crate::harness::send(
        server
            .request(reqwest::Method::POST, path, BOOTSTRAP)
            .header("content-type", "application/json")
            .body(body),
    )
    .await
}

#[tokio::test]
async fn certificate_events_are_signed_logged_and_redelivered() {
    let server = start("", "");
    let receiver = Receiver::start().await;
    receiver.expect_secret("/pki", "pki-signing-secret");
    let hook = create_webhook(
        &server,
        json!({"url": receiver.url("/pki"), "secret": "pki-signing-secret",
               "events": ["certificate.issued", "certificate.renewed", "certificate.revoked"]}),
    )
    .await;
    let hook_id = hook["id"].as_str().unwrap();
    let (template, project) = pki(&server).await;

    let cert = issue(&server, &template, &project, "api.example.com", 30).await;
    let (status, renewed) = server
        .post(
            &format!("/api/v1/certificates/{cert}/renew"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{renewed}");
    let (status, revoked) = server
        .post(
            &format!("/api/v1/certificates/{cert}/revoke"),
            BOOTSTRAP,
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(status, 200, "{revoked}");

    let got = receiver.wait_for("/pki", 3).await;
    let by_type: BTreeMap<String, Value> = got
        .iter()
        .map(|r| (r.header("x-keystead-event").to_owned(), r.json()))
        .collect();
    let issued = &by_type["certificate.issued"];
    assert_eq!(issued["type"], "certificate.issued");
    assert_eq!(issued["data"]["certificateId"], cert);
    assert_eq!(issued["data"]["commonName"], "api.example.com");
    assert_eq!(issued["data"]["dnsNames"], json!(["api.example.com"]));
    assert_eq!(issued["projectId"], project);
    assert!(issued["data"].get("certificate_pem").is_none());
    let renewal = &by_type["certificate.renewed"];
    assert_eq!(renewal["data"]["certificateId"], renewed["id"]);
    assert_eq!(renewal["data"]["renewedFrom"], cert);
    let revocation = &by_type["certificate.revoked"];
    assert_eq!(revocation["data"]["reason"], "keyCompromise");
    for r in &got {
        assert_eq!(
            r.event_id(),
            r.json()["id"],
            "the id header is the body's id"
        );
        assert_eq!(r.header("content-type"), "application/json");
    }
    receiver.assert_all_verified();

    // The log: newest first, one attempt each, paginated.
    let page = wait_log(&server, hook_id, |p| all_delivered(p, 3)).await;
    let types: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "certificate.revoked",
            "certificate.renewed",
            "certificate.issued"
        ]
    );
    assert_eq!(page["pagination"]["total"], 3);
    let first = &page["data"][2];
    assert_eq!(first["attemptCount"], 1);
    assert_eq!(first["attempts"][0]["statusCode"], 200);
    assert_eq!(first["data"]["certificateId"], cert);
    let one = deliveries(&server, hook_id, "?page=2&per_page=1").await;
    assert_eq!(one["data"][0]["eventType"], "certificate.renewed");
    let only = deliveries(&server, hook_id, "?event=certificate.issued").await;
    assert_eq!(only["pagination"]["total"], 1);

    // Redelivery: a new delivery of the same event, same event id.
    let delivery_id = first["id"].as_str().unwrap();
    let (status, redelivery) = server
        .post(
            &format!("/api/webhooks/{hook_id}/deliveries/{delivery_id}/redeliver"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_eq!(status, 202, "{redelivery}");
    assert_eq!(redelivery["redeliveryOf"], delivery_id);
    assert_eq!(redelivery["eventId"], first["eventId"]);
    let got = receiver.wait_for("/pki", 4).await;
    assert_eq!(got[3].event_id(), first["eventId"].as_str().unwrap());
    let (_, detail) = server
        .get(
            &format!(
                "/api/webhooks/{hook_id}/deliveries/{}",
                redelivery["id"].as_str().unwrap()
            ),
            BOOTSTRAP,
        )
        .await;
    assert_eq!(detail["eventType"], "certificate.issued");

    // A ping goes to this webhook only, whatever it subscribes to.
    let (status, ping) = server
        .post(
            &format!("/api/webhooks/{hook_id}/ping"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_eq!(status, 202, "{ping}");
    let got = receiver.wait_for("/pki", 5).await;
    assert_eq!(got[4].header("x-keystead-event"), "webhook.ping");
    receiver.assert_all_verified();

    // Who did what.
    let (_, audit) = server
        .get("/api/v1/audit-events?action=webhook.redeliver", BOOTSTRAP)
        .await;
    assert_eq!(audit["pagination"]["total"], 1, "{audit}");
}

/// Seed 000's mTLS certificates are certificates like any other: making, renewing and
/// deleting one reaches the webhooks as the same events.
#[tokio::test]
async fn mtls_certificates_are_announced_like_any_other() {
    let server = start("", "");
    let receiver = Receiver::start().await;
    receiver.expect_secret("/mtls", "mtls-signing-secret");
    let hook = create_webhook(
        &server,
        json!({"url": receiver.url("/mtls"), "secret": "mtls-signing-secret",
               "events": ["certificate.issued", "certificate.renewed", "certificate.revoked"]}),
    )
    .await;
    let hook_id = hook["id"].as_str().unwrap();
    let base = "/api/certificates/mtls";

    let (status, made) = server
        .post(
            &format!("{base}/generate"),
            BOOTSTRAP,
            json!({"domain": "client.example.com", "keySize": 2048, "validityDays": 30}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap();
    let (status, renewed) = server
        .post(&format!("{base}/{id}/renew"), BOOTSTRAP, json!({}))
        .await;
    assert_eq!(status, 201, "{renewed}");
    let new_id = renewed["id"].as_str().unwrap();
    let (status, body) = server.delete(&format!("{base}/{new_id}"), BOOTSTRAP).await;
    assert_eq!(status, 204, "{body}");

    // Each change queued its events in its own transaction: once the log has delivered
    // them all, the receiver holds every one.
    wait_log(&server, hook_id, |page| {
        let data = page["data"].as_array().unwrap();
        !data.is_empty() && data.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    let events: Vec<(String, Value)> = receiver
        .received("/mtls")
        .iter()
        .map(|r| {
            (
                r.header("x-keystead-event").to_owned(),
                r.json()["data"].clone(),
            )
        })
        .collect();
    let expected = [
        (
            "certificate.issued",
            id,
            json!({"commonName": "client.example.com"}),
        ),
        ("certificate.renewed", new_id, json!({"renewedFrom": id})),
        // Renewal retires the old certificate; deletion revokes before it archives.
        ("certificate.revoked", id, json!({"reason": "superseded"})),
        (
            "certificate.revoked",
            new_id,
            json!({"reason": "cessationOfOperation"}),
        ),
    ];
    let missing: Vec<_> = expected
        .iter()
        .filter(|(kind, cert, fields)| {
            !events.iter().any(|(k, data)| {
                k == kind
                    && data["certificateId"] == *cert
                    && fields
                        .as_object()
                        .unwrap()
                        .iter()
                        .all(|(name, value)| data[name] == *value)
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "missing events: {missing:?}\nreceived: {events:#?}"
    );
    receiver.assert_all_verified();
}

#[tokio::test]
async fn a_failed_delivery_is_retried_and_dead_ones_can_be_redelivered() {
    let server = start("max_attempts = 3", "");
    let receiver = Receiver::start().await;
    receiver.expect_secret("/flaky", "flaky-secret-1");
    receiver.answer("/flaky", &[500]);
    let hook = create_webhook(
        &server,
        json!({"url": receiver.url("/flaky"), "secret": "flaky-secret-1",
               "events": ["certificate.issued"]}),
    )
    .await;
    let hook_id = hook["id"].as_str().unwrap();
    let (template, project) = pki(&server).await;
    issue(&server, &template, &project, "flaky.example.com", 30).await;

    // 500, then a retry after the backoff that gets 200; the same event both times.
    let got = receiver.wait_for("/flaky", 2).await;
    assert_eq!(got[0].event_id(), got[1].event_id());
    assert_eq!(got[0].body, got[1].body);
    let page = wait_log(&server, hook_id, |p| all_delivered(p, 1)).await;
    let delivery = &page["data"][0];
    assert_eq!(delivery["attemptCount"], 2);
    let attempts = delivery["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{delivery}");
    assert_eq!(attempts[0]["attempt"], 1);
    assert_eq!(attempts[0]["statusCode"], 500);
    assert!(attempts[0]["error"].as_str().unwrap().contains("500"));
    assert_eq!(attempts[1]["attempt"], 2);
    assert_eq!(attempts[1]["statusCode"], 200);
    assert!(attempts[1].get("error").is_none());

    // Always 500: dead after max_attempts; a redelivery then succeeds.
    receiver.answer("/flaky", &[500, 500, 500]);
    issue(&server, &template, &project, "doomed.example.com", 30).await;
    let page = wait_log(&server, hook_id, |p| p["data"][0]["status"] == "dead").await;
    let dead = &page["data"][0];
    assert_eq!(dead["attemptCount"], 3);
    assert_eq!(dead["lastStatusCode"], 500);
    let (_, only_dead) = server
        .get(
            &format!("/api/webhooks/{hook_id}/deliveries?status=dead"),
            BOOTSTRAP,
        )
        .await;
    assert_eq!(only_dead["pagination"]["total"], 1);
    let (status, _) = server
        .post(
            &format!(
                "/api/webhooks/{hook_id}/deliveries/{}/redeliver",
                dead["id"].as_str().unwrap()
            ),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_eq!(status, 202);
    let got = receiver.wait_for("/flaky", 6).await;
    assert_eq!(got[5].event_id(), dead["eventId"].as_str().unwrap());
    wait_log(&server, hook_id, |p| p["data"][0]["status"] == "delivered").await;
    receiver.assert_all_verified();
}

#[tokio::test]
async fn inactive_webhooks_and_other_subscriptions_receive_nothing() {
    let server = start("", "");
    let receiver = Receiver::start().await;
    receiver.expect_secret("/on", "secret-on-1");
    receiver.expect_secret("/off", "secret-off-1");
    receiver.expect_secret("/keys", "secret-keys");
    create_webhook(&server, json!({"url": receiver.url("/on"), "secret": "secret-on-1", "events": ["certificate.issued"]})).await;
    create_webhook(&server, json!({"url": receiver.url("/off"), "secret": "secret-off-1", "events": ["certificate.issued"], "active": false})).await;
    create_webhook(
        &server,
        json!({"url": receiver.url("/keys"), "secret": "secret-keys", "events": ["key.rotated"]}),
    )
    .await;
    let (template, project) = pki(&server).await;
    issue(&server, &template, &project, "one.example.com", 30).await;
    receiver.wait_for("/on", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.received("/off").is_empty());
    assert!(receiver.received("/keys").is_empty());
    receiver.assert_all_verified();
}

#[tokio::test]
async fn project_webhooks_hear_only_their_project() {
    let server = start("", "");
    let receiver = Receiver::start().await;
    receiver.expect_secret("/all", "secret-all-1");
    receiver.expect_secret("/default", "secret-default");
    let (status, payments) = server
        .post("/api/v1/projects", BOOTSTRAP, json!({"name": "payments"}))
        .await;
    assert_eq!(status, 201, "{payments}");
    let payments = payments["id"].as_str().unwrap().to_owned();
    let (template, default) = pki(&server).await;
    create_webhook(&server, json!({"url": receiver.url("/all"), "secret": "secret-all-1", "events": ["certificate.issued"]})).await;
    let scoped = create_webhook(
        &server,
        json!({"url": receiver.url("/default"), "secret": "secret-default",
        "events": ["certificate.issued"], "projectId": default}),
    )
    .await;
    assert_eq!(scoped["projectId"], default);

    issue(&server, &template, &payments, "pay.example.com", 30).await;
    issue(&server, &template, &default, "def.example.com", 30).await;
    let all = receiver.wait_for("/all", 2).await;
    let projects: BTreeSet<String> = all
        .iter()
        .map(|r| r.json()["projectId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        projects,
        BTreeSet::from([payments.clone(), default.clone()])
    );
    let mine = receiver.wait_for("/default", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received("/default").len(), 1);
    assert_eq!(mine[0].json()["data"]["commonName"], "def.example.com");
    receiver.assert_all_verified();

    // A key of the payments project sees neither endpoint and makes its own.
    let (key, _) = server
        .create_key(
            BOOTSTRAP,
            json!({"role": "operator", "projectId": payments}),
        )
        .await;
    let (_, list) = server.get("/api/webhooks", &key).await;
    assert_eq!(list, json!([]));
    let (status, body) = server
        .get(
            &format!("/api/webhooks/{}", scoped["id"].as_str().unwrap()),
            &key,
        )
        .await;
    assert_error(status, &body, 404, "not_found");
    let own = create_webhook_as(
        &server,
        &key,
        json!({"url": receiver.url("/pay"), "events": ["certificate.issued"]}),
    )
    .await;
    assert_eq!(own["projectId"], payments);
    let (_, list) = server.get("/api/webhooks", &key).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

async fn create_webhook_as(server: &Server, key: &str, body: Value) -> Value {
    let (status, created) = server.post("/api/webhooks", key, body).await;
    assert_eq!(status, 201, "{created}");
    created
}

#[tokio::test]
async fn key_rotation_and_jwk_creation_are_events() {
    let server = start("", "");
    let receiver = Receiver::start().await;
    receiver.expect_secret("/keys", "keys-secret-1");
    create_webhook(
        &server,
        json!({"url": receiver.url("/keys"), "secret": "keys-secret-1",
               "events": ["key.rotated", "jwk.created"]}),
    )
    .await;
    let (status, key) = server
        .post(
            "/api/keys/jwt/generate",
            BOOTSTRAP,
            json!({"name": "prod-signing-key", "algorithm": "ES256"}),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let (status, rotated) = server
        .post(
            &format!("/api/keys/jwt/{}/rotate", key["id"].as_str().unwrap()),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{rotated}");
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "partner-1",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
    let (status, created) = server
        .post(
            "/apiops/projects/default/jwks/",
            BOOTSTRAP,
            json!({"name": "partner", "sourceType": "COPY_PASTE", "jwkStr": jwk.to_string()}),
        )
        .await;
    assert_eq!(status, 200, "{created}");

    let got = receiver.wait_for("/keys", 2).await;
    let rotation = got
        .iter()
        .find(|r| r.header("x-keystead-event") == "key.rotated")
        .unwrap()
        .json();
    assert_eq!(rotation["data"]["previousKeyId"], key["id"]);
    assert_eq!(rotation["data"]["keyId"], rotated["id"]);
    assert_eq!(rotation["data"]["kid"], rotated["kid"]);
    assert_eq!(rotation["data"]["previousKid"], key["kid"]);
    let creation = got
        .iter()
        .find(|r| r.header("x-keystead-event") == "jwk.created")
        .unwrap()
        .json();
    assert_eq!(creation["data"]["name"], "partner");
    assert_eq!(creation["data"]["kid"], "partner-1");
    assert_eq!(creation["data"]["sourceType"], "COPY_PASTE");
    receiver.assert_all_verified();
}

#[tokio::test]
async fn a_failed_rotation_push_is_an_event() {
    let server = start("", "");
    let receiver = Receiver::start().await;
    receiver.expect_secret("/hooks", "rotation-secret-1");
    create_webhook(
        &server,
        json!({"url": receiver.url("/hooks"), "secret": "rotation-secret-1",
               "events": ["rotation.failed"]}),
    )
    .await;
    let (template, project) = pki(&server).await;
    let cert = issue(&server, &template, &project, "push.example.com", 30).await;
    // The rotation target is an HTTP endpoint that keeps failing.
    receiver.answer("/target", &[500; 10]);
    let (status, target) = server
        .post(
            &format!("/api/v1/certificates/{cert}/targets"),
            BOOTSTRAP,
            json!({"name": "receiver", "type": "http", "config": {"url": receiver.url("/target")},
                   "credentials": {"secret": "target-signing-key"}}),
        )
        .await;
    assert_eq!(status, 201, "{target}");
    let (status, _) = server
        .post(
            &format!("/api/v1/certificates/{cert}/rotation/trigger"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_eq!(status, 202);

    let got = receiver.wait_for("/hooks", 1).await;
    assert!(got[0].verified, "{:?}", got[0].headers);
    assert_eq!(got[0].header("x-keystead-event"), "rotation.failed");
    let event = got[0].json();
    assert_eq!(event["data"]["certificateId"], cert.as_str());
    assert_eq!(event["data"]["commonName"], "push.example.com");
    assert_eq!(event["data"]["target"], "receiver");
    assert_eq!(event["data"]["targetType"], "http");
    assert_eq!(event["data"]["attempt"], 1);
    assert!(
        !event["data"]["error"].as_str().unwrap().is_empty(),
        "{event}"
    );
    assert!(!event.to_string().contains("target-signing-key"));
}

#[tokio::test]
async fn slack_and_cloudevents_bodies() {
    let server = start("", "");
    let receiver = Receiver::start().await;
    receiver.expect_secret("/slack", "slack-secret-1");
    receiver.expect_secret("/ce", "ce-secret-1");
    create_webhook(
        &server,
        json!({"url": receiver.url("/slack"), "secret": "slack-secret-1", "transport": "slack",
               "events": ["certificate.issued", "certificate.revoked"]}),
    )
    .await;
    create_webhook(
        &server,
        json!({"url": receiver.url("/ce"), "secret": "ce-secret-1", "transport": "cloudevents",
               "events": ["certificate.issued"]}),
    )
    .await;
    let (template, project) = pki(&server).await;
    let cert = issue(&server, &template, &project, "chat.example.com", 30).await;
    let (status, _) = server
        .post(
            &format!("/api/v1/certificates/{cert}/revoke"),
            BOOTSTRAP,
            json!({"reason": "superseded"}),
        )
        .await;
    assert_eq!(status, 200);

    let slack = receiver.wait_for("/slack", 2).await;
    let texts: Vec<String> = slack
        .iter()
        .map(|r| {
            let body = r.json();
            assert_eq!(
                body.as_object().unwrap().keys().collect::<Vec<_>>(),
                ["text"]
            );
            body["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("Certificate issued")
            && t.contains("*chat.example.com*")
            && t.contains("valid until")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("revoked") && t.contains("superseded")),
        "{texts:?}"
    );

    let ce = receiver.wait_for("/ce", 1).await;
    let r = &ce[0];
    assert_eq!(r.header("content-type"), "application/cloudevents+json");
    let event = r.json();
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["type"], "io.keystead.certificate.issued");
    assert_eq!(event["id"], r.event_id());
    assert_eq!(event["subject"], cert);
    assert_eq!(event["datacontenttype"], "application/json");
    let org = event["source"].as_str().unwrap();
    assert!(
        org.starts_with("/keystead/organizations/")
            && org.ends_with(&format!("/projects/{project}")),
        "{org}"
    );
    assert!(
        time::OffsetDateTime::parse(
            event["time"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );
    assert_eq!(event["data"]["certificateId"], cert);
    receiver.assert_all_verified();
}

#[tokio::test]
async fn expiring_and_expired_notices_are_sent_once() {
    let server = start("expiring_days = [30, 7, 1]", "");
    let receiver = Receiver::start().await;
    receiver.expect_secret("/expiry", "expiry-secret");
    create_webhook(
        &server,
        json!({"url": receiver.url("/expiry"), "secret": "expiry-secret",
               "events": ["certificate.expiring", "certificate.expired"]}),
    )
    .await;
    let (template, project) = pki(&server).await;
    // Five days: inside the 30- and 7-day thresholds at once; one notice, for 7.
    let cert = issue(&server, &template, &project, "short.example.com", 5).await;
    let got = receiver.wait_for("/expiry", 1).await;
    let notice = got[0].json();
    assert_eq!(notice["type"], "certificate.expiring");
    assert_eq!(notice["data"]["certificateId"], cert);
    assert_eq!(notice["data"]["thresholdDays"], 7);
    assert_eq!(notice["data"]["daysLeft"], 4);

    // The certificate ends: one `expired` notice.
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", server.db_path().display()))
        .await
        .unwrap();
    sqlx::query("UPDATE certificates SET not_after = '2020-01-01T00:00:00.000000Z' WHERE id = ?")
        .bind(&cert)
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let got = receiver.wait_for("/expiry", 2).await;
    let expired = got[1].json();
    assert_eq!(expired["type"], "certificate.expired");
    assert_eq!(expired["data"]["certificateId"], cert);
    assert_eq!(expired["data"]["status"], "expired");

    // Later scans give nothing new.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(receiver.received("/expiry").len(), 2);
    receiver.assert_all_verified();
}

#[tokio::test]
async fn kill_9_loses_no_event_and_delivers_each_once() {
    let server_config = "max_attempts = 100";
    let mut server = start(server_config, "");
    // The receiver is down: nothing listens on its port until after the restart.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/durable");
    let hook = create_webhook(
        &server,
        json!({"url": url, "secret": "durable-secret", "events": ["certificate.issued"]}),
    )
    .await;
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let (template, project) = pki(&server).await;
    let mut certs = BTreeSet::new();
    for i in 0..8 {
        certs.insert(
            issue(
                &server,
                &template,
                &project,
                &format!("d{i}.example.com"),
                30,
            )
            .await,
        );
    }
    // Each delivery has been tried and failed at least once.
    let page = wait_log(&server, &hook_id, |p| {
        let data = p["data"].as_array().unwrap();
        data.len() == 8
            && data
                .iter()
                .all(|d| d["status"] == "pending" && d["attemptCount"].as_i64() >= Some(1))
    })
    .await;
    assert!(
        page["data"][0]["lastError"].as_str().is_some(),
        "{}",
        page["data"][0]
    );

    server.kill();
    server.start_again();
    let receiver = Receiver::start_on(format!("127.0.0.1:{port}").parse().unwrap()).await;
    receiver.expect_secret("/durable", "durable-secret");
    wait_log(&server, &hook_id, |p| all_delivered(p, 8)).await;
    // Late duplicates, if any, have time to arrive.
    tokio::time::sleep(Duration::from_millis(1000)).await;

    let got = receiver.received("/durable");
    let mut events_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in &got {
        let body = r.json();
        assert_eq!(body["id"], r.event_id());
        let cert = body["data"]["certificateId"].as_str().unwrap().to_owned();
        events_of.entry(cert).or_default().insert(r.event_id());
    }
    // Every certificate's event arrived, under exactly one event id; a repeat (allowed
    // by at-least-once) carries the same id.
    assert_eq!(events_of.keys().cloned().collect::<BTreeSet<_>>(), certs);
    for (cert, ids) in &events_of {
        assert_eq!(
            ids.len(),
            1,
            "{cert} arrived under several event ids: {ids:?}"
        );
    }
    let distinct: BTreeSet<String> = got.iter().map(Received::event_id).collect();
    assert_eq!(distinct.len(), 8);
    receiver.assert_all_verified();
}

// ---- a transport written in Python ----

/// Builds the Python plugins (componentize-py) and returns the ntfy transport.
fn python_transport() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-plugins");
    let output = Command::new("bash")
        .arg(root.join("plugins/python/build.sh"))
        .arg(&out)
        .output()
        .expect("run plugins/python/build.sh");
    assert!(
        output.status.success(),
        "building the Python plugins failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    out.join("ntfy.wasm")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_python_transport_delivers_through_the_server() {
    let wasm = python_transport();
    let plugins = format!(
        r#"
[[plugins]]
name = "http-hmac"
kind = "webhook-transport"
builtin = "http-hmac"
allowed_hosts = ["*"]

[[plugins]]
name = "ntfy"
kind = "webhook-transport"
path = {path:?}
allowed_hosts = ["127.0.0.1"]
[plugins.limits]
memory_mb = 256
[plugins.config]
click = "https://pki.example.com/certificates"
"#,
        path = wasm.display().to_string()
    );
    let server = tokio::task::spawn_blocking(move || start("", &plugins))
        .await
        .unwrap();
    let receiver = Receiver::start().await;
    receiver.expect_secret("/alerts", "ntfy-secret-1");
    let created = create_webhook(
        &server,
        json!({"url": receiver.url("/alerts"), "secret": "ntfy-secret-1", "transport": "ntfy",
               "events": ["certificate.issued", "certificate.revoked"],
               "config": {"headers": {"Authorization": "Bearer tk_topic"}}}),
    )
    .await;
    assert_eq!(created["transport"], "ntfy");
    let hook_id = created["id"].as_str().unwrap();
    let (template, project) = pki(&server).await;
    let cert = issue(&server, &template, &project, "py.example.com", 30).await;
    let (status, _) = server
        .post(
            &format!("/api/v1/certificates/{cert}/revoke"),
            BOOTSTRAP,
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(status, 200);

    wait_log(&server, hook_id, |p| all_delivered(p, 2)).await;
    let got = receiver.wait_for("/alerts", 2).await;
    let issued = got
        .iter()
        .find(|r| r.header("x-keystead-event") == "certificate.issued")
        .unwrap();
    assert!(issued.header("content-type").starts_with("text/plain"));
    assert_eq!(issued.header("authorization"), "Bearer tk_topic");
    assert_eq!(
        issued.header("click"),
        "https://pki.example.com/certificates"
    );
    assert!(
        issued.header("title").contains("py.example.com"),
        "{:?}",
        issued.headers
    );
    let text = String::from_utf8(issued.body.to_vec()).unwrap();
    assert!(
        text.contains("py.example.com") && text.contains("issued"),
        "{text}"
    );
    let revoked = got
        .iter()
        .find(|r| r.header("x-keystead-event") == "certificate.revoked")
        .unwrap();
    assert_eq!(revoked.header("priority"), "high");
    assert!(
        revoked.header("tags").contains("rotating_light"),
        "{:?}",
        revoked.headers
    );
    assert!(!revoked.event_id().is_empty());
    receiver.assert_all_verified();

    // The plugin shows up with its call counts.
    let (_, plugins) = server.get("/api/v1/plugins", BOOTSTRAP).await;
    let ntfy = plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "ntfy")
        .cloned()
        .unwrap();
    assert!(ntfy["calls"].as_u64().unwrap() >= 2, "{ntfy}");
}

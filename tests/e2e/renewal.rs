//! Renewal: on request, the history, the queue the background scan fills, automatic renewal.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{BOOTSTRAP, Options, Server, assert_error};
use crate::pki::{Scratch, default_project, hierarchy, submit};

fn public_key_of(scratch: &Scratch, name: &str, cert: &Value) -> String {
    scratch.write(name, cert["certificate_pem"].as_str().unwrap());
    let (ok, text) = scratch.openssl(&["x509", "-in", name, "-noout", "-pubkey"]);
    assert!(ok, "{text}");
    text
}

#[tokio::test]
async fn renew_makes_a_new_certificate_and_history_links_them() {
    let server = Server::start();
    let scratch = Scratch::new();
    let (_, _, template) = hierarchy(&server, BOOTSTRAP, json!({})).await;
    let project = default_project(&server, BOOTSTRAP).await;
    let (_, generated) = submit(&server, BOOTSTRAP, json!({
        "template_id": template["id"], "project_id": project, "csr_source_mode": "server_generated",
        "requested_cn": "gen.example.com", "requested_san": {"dns_names": ["gen.example.com"]},
    }))
    .await;
    let old_id = generated["id"].as_str().unwrap();
    let (_, old) = server
        .get(&format!("/api/v1/certificates/{old_id}"), BOOTSTRAP)
        .await;

    let (status, renewed) = server
        .post(
            &format!("/api/v1/certificates/{old_id}/renew"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{renewed}");
    assert_ne!(renewed["id"], old["id"]);
    assert_ne!(renewed["serial_number"], old["serial_number"]);
    assert_eq!(renewed["subject"], old["subject"]);
    assert_eq!(renewed["san"], old["san"]);
    assert_eq!(renewed["template_id"], old["template_id"]);
    // The key was made here, so the renewal has a new one.
    assert_ne!(
        public_key_of(&scratch, "old.pem", &old),
        public_key_of(&scratch, "new.pem", &renewed)
    );

    let new_id = renewed["id"].as_str().unwrap();
    for id in [old_id, new_id] {
        let (status, history) = server
            .get(
                &format!("/api/v1/certificates/{id}/renewal-history"),
                BOOTSTRAP,
            )
            .await;
        assert_eq!(status, 200);
        let ids: Vec<_> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].clone())
            .collect();
        assert_eq!(ids, vec![old["id"].clone(), renewed["id"].clone()]);
    }

    // A client-held key is signed again: same public key.
    let csr = scratch.csr("c.csr", "/CN=client.example.com", "DNS:client.example.com");
    let (_, uploaded) = submit(&server, BOOTSTRAP, json!({
        "template_id": template["id"], "project_id": project, "csr_source_mode": "uploaded_csr", "csr_pem": csr,
    }))
    .await;
    let up_id = uploaded["id"].as_str().unwrap();
    let (_, before) = server
        .get(&format!("/api/v1/certificates/{up_id}"), BOOTSTRAP)
        .await;
    let (_, after) = server
        .post(
            &format!("/api/v1/certificates/{up_id}/renew"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_eq!(
        public_key_of(&scratch, "a.pem", &before),
        public_key_of(&scratch, "b.pem", &after)
    );

    // Only active certificates renew.
    server
        .post(
            &format!("/api/v1/certificates/{up_id}/revoke"),
            BOOTSTRAP,
            json!({"reason": "superseded"}),
        )
        .await;
    let (status, body) = server
        .post(
            &format!("/api/v1/certificates/{up_id}/renew"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_error(status, &body, 409, "conflict");
    let requester = server.key_with_role("requester").await;
    let (status, body) = server
        .post(
            &format!("/api/v1/certificates/{new_id}/renew"),
            &requester,
            json!({}),
        )
        .await;
    assert!(assert_error(status, &body, 403, "forbidden").contains("certificate:write"));
}

async fn wait_for_queue(server: &Server, query: &str, count: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, queue) = server
            .get(&format!("/api/v1/renewal-queue{query}"), BOOTSTRAP)
            .await;
        if queue["data"].as_array().is_some_and(|d| d.len() >= count) {
            return queue;
        }
        assert!(
            Instant::now() < deadline,
            "queue never reached {count}: {queue}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_scan_queues_renewals_for_approval_and_renews_automatically_where_allowed() {
    let server = Server::start_with(Options {
        config: "[jobs]\nrenewal_scan_secs = 1\n".into(),
        ..Options::default()
    });
    // Five-day certificates of templates that renew 30 days before expiry: due at once.
    // Renewals get the template's 60 days, so they are not due again.
    let (_, inter, manual) = hierarchy(
        &server,
        BOOTSTRAP,
        json!({"default_validity_days": 60, "renew_before_days": 30}),
    )
    .await;
    let (_, automatic) = server
        .post(
            "/api/v1/templates",
            BOOTSTRAP,
            json!({"name": "auto", "ca_id": inter["id"],
            "rules": {"default_validity_days": 60, "renew_before_days": 30, "auto_renew": true}}),
        )
        .await;
    let project = default_project(&server, BOOTSTRAP).await;
    let mut ids = Vec::new();
    for (template, cn) in [
        (&manual, "m1.example.com"),
        (&manual, "m2.example.com"),
        (&automatic, "auto.example.com"),
    ] {
        let (status, done) = submit(&server, BOOTSTRAP, json!({
            "template_id": template["id"], "project_id": project, "csr_source_mode": "server_generated", "requested_cn": cn,
            "validity_days": 5,
        }))
        .await;
        assert_eq!(status, 201, "{done}");
        ids.push(done["id"].as_str().unwrap().to_owned());
    }

    let pending = wait_for_queue(&server, "?status=pending", 2).await;
    let renewed = wait_for_queue(&server, "?status=renewed", 1).await;
    assert_eq!(renewed["data"][0]["certificate_id"], ids[2].as_str());
    assert!(renewed["data"][0]["new_certificate_id"].is_string());
    assert_eq!(renewed["data"][0]["decided_by"], "system:renewal");

    let entries = pending["data"].as_array().unwrap();
    let first = entries[0]["id"].as_str().unwrap();
    let second = entries[1]["id"].as_str().unwrap();
    let (status, approved) = server
        .post(
            &format!("/api/v1/renewal-queue/{first}/approve"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, approved["status"].as_str()),
        (200, Some("renewed")),
        "{approved}"
    );
    let new_id = approved["new_certificate_id"].as_str().unwrap();
    let (_, new) = server
        .get(&format!("/api/v1/certificates/{new_id}"), BOOTSTRAP)
        .await;
    assert_eq!(new["status"], "active");
    let (status, cancelled) = server
        .post(
            &format!("/api/v1/renewal-queue/{second}/cancel"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (200, Some("cancelled"))
    );
    let (status, body) = server
        .post(
            &format!("/api/v1/renewal-queue/{second}/approve"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_error(status, &body, 409, "conflict");
    let (status, body) = server
        .post("/api/v1/renewal-queue/nope/approve", BOOTSTRAP, json!({}))
        .await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = server
        .get("/api/v1/renewal-queue?status=maybe", BOOTSTRAP)
        .await;
    assert_error(status, &body, 400, "bad_request");

    // Renewed certificates leave the scan: 3 issued + 1 automatic + 1 approved, no more.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, all) = server.get("/api/v1/certificates", BOOTSTRAP).await;
    let (_, queue) = server.get("/api/v1/renewal-queue", BOOTSTRAP).await;
    assert_eq!(all["pagination"]["total"], 5);
    assert_eq!(queue["pagination"]["total"], 3);
}

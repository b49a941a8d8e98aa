//! CAs, templates, certificate requests and their lifecycle, CRLs; checked with the
//! OpenSSL command line as an independent verifier.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{BOOTSTRAP, Server, assert_error, file_contains};

/// A scratch folder for OpenSSL's files.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Runs `openssl args...` in this folder; returns (success, stdout + stderr).
    pub fn openssl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("openssl is installed");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// A P-256 key and CSR made by OpenSSL; returns the CSR PEM.
    pub fn csr(&self, name: &str, subject: &str, sans: &str) -> String {
        let mut args = vec![
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "key.pem",
            "-subj",
            subject,
            "-out",
            name,
        ];
        let ext = format!("subjectAltName={sans}");
        if !sans.is_empty() {
            args.extend(["-addext", &ext]);
        }
        let (ok, text) = self.openssl(&args);
        assert!(ok, "{text}");
        std::fs::read_to_string(self.path(name)).unwrap()
    }
}

pub async fn create_ca(server: &Server, key: &str, body: Value) -> Value {
    let (status, ca) = server.post("/api/v1/cas", key, body).await;
    assert_eq!(status, 201, "{ca}");
    ca
}

/// A root, an intermediate under it, and an automatic template on the intermediate.
pub async fn hierarchy(server: &Server, key: &str, rules: Value) -> (Value, Value, Value) {
    let root = create_ca(server, key, json!({"name": "root", "kind": "root", "subject": {"common_name": "Test Root", "organization": "Keystead"}})).await;
    let inter = create_ca(server, key, json!({
        "name": "issuing", "kind": "intermediate", "parent_id": root["id"], "validity_days": 1825,
        "subject": {"common_name": "Test Issuing CA"},
    }))
    .await;
    let (status, template) = server
        .post(
            "/api/v1/templates",
            key,
            json!({"name": "web", "ca_id": inter["id"], "rules": rules}),
        )
        .await;
    assert_eq!(status, 201, "{template}");
    (root, inter, template)
}

pub async fn default_project(server: &Server, key: &str) -> String {
    let (_, projects) = server.get("/api/v1/projects", key).await;
    projects["data"][0]["id"].as_str().unwrap().to_owned()
}

pub async fn submit(server: &Server, key: &str, body: Value) -> (u16, Value) {
    server.post("/api/v1/certificates/csr", key, body).await
}

fn pem(value: &Value) -> String {
    value.as_str().unwrap().to_owned()
}

#[tokio::test]
async fn issued_chain_verifies_with_openssl_and_revocation_shows_in_the_crl() {
    let server = Server::start();
    let scratch = Scratch::new();
    let (root, inter, template) = hierarchy(&server, BOOTSTRAP, json!({
        "allowed_san_types": ["dns"], "dns_patterns": ["*.example.com"], "extended_key_usage": ["server_auth"],
    }))
    .await;
    let project = default_project(&server, BOOTSTRAP).await;
    let csr = scratch.csr("leaf.csr", "/CN=api.example.com", "DNS:api.example.com");

    let (status, submitted) = submit(&server, BOOTSTRAP, json!({
        "template_id": template["id"], "project_id": project, "csr_source_mode": "uploaded_csr", "csr_pem": csr,
    }))
    .await;
    assert_eq!(status, 201, "{submitted}");
    assert_eq!(submitted["status"], "active");
    assert!(submitted["serial_number"].as_str().unwrap().contains(':'));
    let id = submitted["id"].as_str().unwrap();

    let (_, cert) = server
        .get(&format!("/api/v1/certificates/{id}"), BOOTSTRAP)
        .await;
    assert_eq!(cert["san"], json!(["api.example.com"]));
    assert_eq!(cert["issuer_cn"], "Test Issuing CA");
    assert_eq!(cert["key_type"], "ECDSA-P256");
    scratch.write("root.pem", pem(&root["certificate_pem"]));
    scratch.write("inter.pem", pem(&inter["certificate_pem"]));
    scratch.write("leaf.pem", pem(&cert["certificate_pem"]));
    let (ok, text) = scratch.openssl(&[
        "verify",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "inter.pem",
        "-x509_strict",
        "-purpose",
        "sslserver",
        "leaf.pem",
    ]);
    assert!(ok && text.contains("leaf.pem: OK"), "{text}");
    // CRL distribution point and AIA point at this server.
    let (_, text) = scratch.openssl(&["x509", "-in", "leaf.pem", "-noout", "-text"]);
    let inter_id = inter["id"].as_str().unwrap();
    assert!(
        text.contains(&format!("/api/v1/ca/{inter_id}/crl")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "OCSP - URI:{}/api/v1/ocsp/{inter_id}",
            server.base
        )),
        "{text}"
    );
    assert!(text.contains("CA Issuers - URI:"), "{text}");

    // Revoke; the CRL lists the serial with its reason and OpenSSL rejects the chain.
    let (status, revoked) = server
        .post(
            &format!("/api/v1/certificates/{id}/revoke"),
            BOOTSTRAP,
            json!({"reason": "keyCompromise", "comment": "leaked"}),
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["revocation_reason"], "keyCompromise");
    let crl = server
        .client
        .get(format!("{}/api/v1/ca/{inter_id}/crl", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(crl.headers()["content-type"], "application/pkix-crl");
    scratch.write("crl.der", crl.bytes().await.unwrap());
    let (ok, text) = scratch.openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        "crl.der",
        "-noout",
        "-text",
        "-CAfile",
        "inter.pem",
    ]);
    assert!(ok, "{text}");
    let serial = cert["serial_number"].as_str().unwrap().replace(':', "");
    assert!(text.contains(&serial), "serial {serial} not in\n{text}");
    assert!(text.contains("Key Compromise"), "{text}");
    assert!(text.contains("verify OK"), "{text}");
    let (ok, text) = scratch.openssl(&[
        "verify",
        "-crl_check",
        "-CRLfile",
        "crl.der",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "inter.pem",
        "leaf.pem",
    ]);
    assert!(!ok && text.contains("certificate revoked"), "{text}");

    // PEM on request; a delta CRL carries its indicator.
    let (status, body) = crate::harness::send(server.client.get(format!(
        "{}/api/v1/ca/{inter_id}/crl?format=pem",
        server.base
    )))
    .await;
    assert_eq!(status, 200);
    assert!(
        body.as_str()
            .unwrap()
            .starts_with("-----BEGIN X509 CRL-----")
    );
    let (status, delta) = server
        .post(
            &format!("/api/v1/ca/{inter_id}/crl/regenerate"),
            BOOTSTRAP,
            json!({"type": "delta"}),
        )
        .await;
    assert_eq!(status, 200, "{delta}");
    assert!(delta["base_crl_number"].is_number());
    let (status, full) = server
        .post(
            &format!("/api/v1/ca/{inter_id}/crl/regenerate"),
            BOOTSTRAP,
            json!({"type": "full"}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(full["crl_number"].as_i64() > delta["crl_number"].as_i64());
    let (status, body) = server
        .post(
            &format!("/api/v1/ca/{inter_id}/crl/regenerate"),
            BOOTSTRAP,
            json!({"type": "partial"}),
        )
        .await;
    assert_error(status, &body, 400, "bad_request");
}

#[tokio::test]
async fn delta_crl_names_its_base_and_the_full_crl_lists_every_revocation() {
    let server = Server::start();
    let scratch = Scratch::new();
    let (_, inter, template) = hierarchy(&server, BOOTSTRAP, json!({})).await;
    let project = default_project(&server, BOOTSTRAP).await;
    let inter_id = inter["id"].as_str().unwrap();
    scratch.write("inter.pem", pem(&inter["certificate_pem"]));
    for (name, reason) in [("a", json!(1)), ("b", json!("superseded"))] {
        let csr = scratch.csr(
            &format!("{name}.csr"),
            &format!("/CN={name}.example.com"),
            "",
        );
        let (_, done) = submit(&server, BOOTSTRAP, json!({
            "template_id": template["id"], "project_id": project, "csr_source_mode": "uploaded_csr", "csr_pem": csr,
        }))
        .await;
        let id = done["id"].as_str().unwrap();
        let (status, _) = server
            .post(
                &format!("/api/v1/certificates/{id}/revoke"),
                BOOTSTRAP,
                json!({"reason": reason}),
            )
            .await;
        assert_eq!(status, 200);
    }
    let fetch = |query: &'static str| {
        let url = format!("{}/api/v1/ca/{inter_id}/crl{query}", server.base);
        let client = server.client.clone();
        async move { client.get(url).send().await.unwrap().bytes().await.unwrap() }
    };
    // Every revocation regenerated the full CRL, so it lists both.
    scratch.write("full.der", fetch("").await);
    let (ok, full) = scratch.openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        "full.der",
        "-noout",
        "-text",
        "-CAfile",
        "inter.pem",
    ]);
    assert!(ok, "{full}");
    assert!(
        full.contains("Key Compromise") && full.contains("Superseded"),
        "{full}"
    );
    let (_, number) = scratch.openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        "full.der",
        "-noout",
        "-crlnumber",
    ]);
    let full_number = number
        .trim()
        .trim_start_matches("crlNumber=")
        .trim_start_matches("0x")
        .to_owned();

    // The delta names that full CRL as its base, signed by the CA, critical indicator.
    scratch.write("delta.der", fetch("?type=delta").await);
    let (ok, delta) = scratch.openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        "delta.der",
        "-noout",
        "-text",
        "-CAfile",
        "inter.pem",
    ]);
    assert!(ok && delta.contains("verify OK"), "{delta}");
    assert!(delta.contains("Delta CRL Indicator: critical"), "{delta}");
    let base_line = delta
        .lines()
        .skip_while(|l| !l.contains("Delta CRL Indicator"))
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert_eq!(
        u64::from_str_radix(&base_line, 16).ok(),
        u64::from_str_radix(&full_number, 16).ok(),
        "{delta}"
    );
    assert!(
        delta.contains("No Revoked Certificates"),
        "nothing was revoked after the base: {delta}"
    );
    let (status, body) = crate::harness::send(server.client.get(format!(
        "{}/api/v1/ca/{inter_id}/crl?type=weekly",
        server.base
    )))
    .await;
    assert_error(status, &body, 400, "bad_request");
}

#[tokio::test]
async fn lifecycle_transitions_legal_and_illegal() {
    let server = Server::start();
    let scratch = Scratch::new();
    let (_, _, template) = hierarchy(&server, BOOTSTRAP, json!({})).await;
    let project = default_project(&server, BOOTSTRAP).await;
    let csr = scratch.csr("x.csr", "/CN=x.example.com", "DNS:x.example.com");
    let (_, done) = submit(&server, BOOTSTRAP, json!({
        "template_id": template["id"], "project_id": project, "csr_source_mode": "uploaded_csr", "csr_pem": csr,
    }))
    .await;
    let id = done["id"].as_str().unwrap();
    let at = |action: &str| format!("/api/v1/certificates/{id}/{action}");

    let (status, body) = server.post(&at("approve"), BOOTSTRAP, json!({})).await;
    assert!(assert_error(status, &body, 409, "conflict").contains("active"));
    let (status, body) = server.post(&at("unrevoke"), BOOTSTRAP, json!({})).await;
    assert_error(status, &body, 409, "conflict");
    let (status, body) = server
        .delete(&format!("/api/v1/certificates/{id}/permanent"), BOOTSTRAP)
        .await;
    assert!(assert_error(status, &body, 409, "conflict").contains("archive"));
    let (status, body) = server
        .post(&at("revoke"), BOOTSTRAP, json!({"reason": "removeFromCRL"}))
        .await;
    assert_eq!(
        assert_error(status, &body, 400, "bad_request")
            .split(':')
            .next(),
        Some("reason")
    );

    // Hold, then release.
    let (status, held) = server
        .post(
            &at("revoke"),
            BOOTSTRAP,
            json!({"reason": "certificateHold"}),
        )
        .await;
    assert_eq!(
        (status, held["revocation_reason"].as_str()),
        (200, Some("certificateHold"))
    );
    let (_, st) = server.get(&at("status"), BOOTSTRAP).await;
    assert_eq!(
        (st["status"].as_str(), st["revoked"].as_bool()),
        (Some("revoked"), Some(true))
    );
    let (status, released) = server.post(&at("unrevoke"), BOOTSTRAP, json!({})).await;
    assert_eq!((status, released["status"].as_str()), (200, Some("active")));
    assert!(released["revocation_reason"].is_null());

    // A final revocation cannot be undone.
    server
        .post(
            &at("revoke"),
            BOOTSTRAP,
            json!({"reason": "cessationOfOperation"}),
        )
        .await;
    let (status, body) = server.post(&at("unrevoke"), BOOTSTRAP, json!({})).await;
    assert!(assert_error(status, &body, 409, "conflict").contains("certificateHold"));
    let (status, body) = server
        .post(&at("revoke"), BOOTSTRAP, json!({"reason": "keyCompromise"}))
        .await;
    assert_error(status, &body, 409, "conflict");

    // Archive, restore (to revoked), archive again, then delete for good.
    let (status, archived) = server.post(&at("archive"), BOOTSTRAP, json!({})).await;
    assert_eq!(
        (status, archived["status"].as_str()),
        (200, Some("archived"))
    );
    let (status, body) = server.post(&at("archive"), BOOTSTRAP, json!({})).await;
    assert_error(status, &body, 409, "conflict");
    let (status, restored) = server.post(&at("restore"), BOOTSTRAP, json!({})).await;
    assert_eq!(
        (status, restored["status"].as_str()),
        (200, Some("revoked"))
    );
    server.post(&at("archive"), BOOTSTRAP, json!({})).await;
    assert_eq!(
        server
            .delete(&format!("/api/v1/certificates/{id}/permanent"), BOOTSTRAP)
            .await
            .0,
        204
    );
    assert_eq!(
        server
            .get(&format!("/api/v1/certificates/{id}"), BOOTSTRAP)
            .await
            .0,
        404
    );

    let (_, events) = server
        .get(
            &format!("/api/v1/audit-events?target={id}&per_page=100"),
            BOOTSTRAP,
        )
        .await;
    let actions: Vec<_> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for expected in [
        "certificate.request",
        "certificate.revoke",
        "certificate.unrevoke",
        "certificate.archive",
        "certificate.permanent_delete",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} missing from {actions:?}"
        );
    }
}

#[tokio::test]
async fn manual_approval_and_rejection_and_self_approval() {
    let server = Server::start();
    let scratch = Scratch::new();
    let (_, _, template) = hierarchy(&server, BOOTSTRAP, json!({"approval": "manual"})).await;
    let project = default_project(&server, BOOTSTRAP).await;
    let requester = server.key_with_role("requester").await;
    let operator = server.key_with_role("operator").await;
    let body = |csr: String| {
        json!({
            "template_id": template["id"], "project_id": project, "csr_source_mode": "uploaded_csr", "csr_pem": csr,
        })
    };
    let (status, pending) = submit(
        &server,
        &requester,
        body(scratch.csr("a.csr", "/CN=a.example.com", "")),
    )
    .await;
    assert_eq!(
        (status, pending["status"].as_str()),
        (201, Some("pending_approval"))
    );
    assert!(pending["serial_number"].is_null());
    let id = pending["id"].as_str().unwrap();

    let (status, body_) = server
        .post(
            &format!("/api/v1/certificates/{id}/approve"),
            &requester,
            json!({}),
        )
        .await;
    assert!(assert_error(status, &body_, 403, "forbidden").contains("certificate:approve"));
    let (_, listed) = server
        .get("/api/v1/certificates?status=pending_approval", &operator)
        .await;
    assert_eq!(listed["pagination"]["total"], 1);
    let (status, approved) = server
        .post(
            &format!("/api/v1/certificates/{id}/approve"),
            &operator,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, approved["status"].as_str()),
        (200, Some("active")),
        "{approved}"
    );
    assert!(
        approved["certificate_pem"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );

    // The operator cannot approve its own request under this template.
    let (_, own) = submit(
        &server,
        &operator,
        body(scratch.csr("b.csr", "/CN=b.example.com", "")),
    )
    .await;
    let own_id = own["id"].as_str().unwrap();
    let (status, body_) = server
        .post(
            &format!("/api/v1/certificates/{own_id}/approve"),
            &operator,
            json!({}),
        )
        .await;
    assert!(assert_error(status, &body_, 403, "forbidden").contains("own request"));
    let (status, rejected) = server
        .post(
            &format!("/api/v1/certificates/{own_id}/reject"),
            BOOTSTRAP,
            json!({"reason": "not needed"}),
        )
        .await;
    assert_eq!(
        (status, rejected["status"].as_str()),
        (200, Some("rejected"))
    );
    assert_eq!(rejected["rejection_reason"], "not needed");
    // No body at all is fine for approve.
    let (status, body_) = crate::harness::send(server.request(
        reqwest::Method::POST,
        &format!("/api/v1/certificates/{own_id}/approve"),
        BOOTSTRAP,
    ))
    .await;
    assert_error(status, &body_, 409, "conflict");
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_change_nothing() {
    let server = Server::start();
    let scratch = Scratch::new();
    let (_, _, template) = hierarchy(&server, BOOTSTRAP, json!({
        "allowed_subject_fields": ["common_name"], "allowed_san_types": ["dns"],
        "dns_patterns": ["*.example.com"], "allowed_key_algorithms": ["RSA"], "max_validity_days": 30,
        "default_validity_days": 30, "renew_before_days": 7,
    }))
    .await;
    let project = default_project(&server, BOOTSTRAP).await;
    let request = |extra: Value| {
        let mut body = json!({"template_id": template["id"], "project_id": project, "csr_source_mode": "uploaded_csr"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };

    let (status, body) = submit(&server, BOOTSTRAP, request(json!({"csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"}))).await;
    assert_eq!(
        assert_error(status, &body, 400, "bad_request")
            .split(':')
            .next(),
        Some("csr_pem")
    );
    let (status, body) = submit(&server, BOOTSTRAP, request(json!({"csr_pem": "garbage"}))).await;
    assert_error(status, &body, 400, "bad_request");

    // A CSR whose signature does not verify: change one byte of the signed subject.
    let csr = scratch.csr("t.csr", "/CN=aaaa.example.com", "");
    let (ok, _) = scratch.openssl(&["req", "-in", "t.csr", "-outform", "DER", "-out", "t.der"]);
    assert!(ok);
    let mut der = std::fs::read(scratch.path("t.der")).unwrap();
    let at = der.windows(4).position(|w| w == b"aaaa").unwrap();
    der[at] = b'b';
    scratch.write("bad.der", &der);
    let (ok, _) = scratch.openssl(&["req", "-inform", "DER", "-in", "bad.der", "-out", "bad.pem"]);
    assert!(ok);
    let tampered = std::fs::read_to_string(scratch.path("bad.pem")).unwrap();
    assert_ne!(tampered, csr);
    let (status, body) = submit(&server, BOOTSTRAP, request(json!({"csr_pem": tampered}))).await;
    assert!(assert_error(status, &body, 400, "bad_request").contains("signature does not verify"));

    // Outside the template: every violation listed.
    let csr = scratch.csr(
        "v.csr",
        "/CN=v.example.org/O=Evil",
        "DNS:v.example.org,IP:10.0.0.1",
    );
    let (status, body) = submit(
        &server,
        BOOTSTRAP,
        request(json!({"csr_pem": csr, "validity_days": 400})),
    )
    .await;
    assert_error(status, &body, 422, "unprocessable_entity");
    let violations: Vec<String> = serde_json::from_value(body["violations"].clone()).unwrap();
    assert_eq!(violations.len(), 5, "{violations:#?}");
    assert!(violations.iter().any(|v| v.contains("organization")));
    assert!(violations.iter().any(|v| v.contains("v.example.org")));
    assert!(violations.iter().any(|v| v.contains("10.0.0.1")));
    assert!(violations.iter().any(|v| v.contains("ECDSA")));
    assert!(violations.iter().any(|v| v.contains("400 days")));

    let (status, body) = submit(
        &server,
        BOOTSTRAP,
        request(json!({"csr_source_mode": "azure_key_vault_generated"})),
    )
    .await;
    assert!(
        assert_error(status, &body, 422, "unprocessable_entity")
            .contains("not available in this deployment")
    );
    let (status, body) = submit(
        &server,
        BOOTSTRAP,
        request(json!({"csr_source_mode": "mazevault_generated", "key_storage_mode": "external"})),
    )
    .await;
    // External key storage needs the rotation target that receives the key.
    assert_error(status, &body, 400, "bad_request");
    assert_eq!(body["field"], "key_integration_id", "{body}");
    let (status, body) = submit(
        &server,
        BOOTSTRAP,
        request(json!({"csr_source_mode": "telepathy"})),
    )
    .await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = submit(
        &server,
        BOOTSTRAP,
        request(json!({"template_id": "nope", "csr_pem": "x"})),
    )
    .await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = submit(&server, BOOTSTRAP, request(json!({}))).await;
    assert_eq!(body["field"], "csr_pem", "{status} {body}");

    let (_, listed) = server.get("/api/v1/certificates", BOOTSTRAP).await;
    assert_eq!(
        listed["pagination"]["total"], 0,
        "nothing was created: {listed}"
    );
    let (status, body) = server
        .get("/api/v1/certificates?per_page=101", BOOTSTRAP)
        .await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = server
        .get("/api/v1/certificates?status=sleeping", BOOTSTRAP)
        .await;
    assert_error(status, &body, 400, "bad_request");
}

#[tokio::test]
async fn server_generated_keys_are_sealed_and_lists_filter() {
    let mut server = Server::start();
    let (_, inter, template) = hierarchy(
        &server,
        BOOTSTRAP,
        json!({"default_validity_days": 30, "renew_before_days": 7}),
    )
    .await;
    let project = default_project(&server, BOOTSTRAP).await;
    for (cn, alg, size) in [
        ("rsa.example.com", "RSA", 2048),
        ("ec.example.com", "ECDSA", 384),
        ("ed.example.com", "Ed25519", 0),
    ] {
        let (status, done) = submit(&server, BOOTSTRAP, json!({
            "template_id": template["id"], "project_id": project, "csr_source_mode": "mazevault_generated",
            "requested_cn": cn, "requested_san": {"dns_names": [cn]},
            "requested_key_algorithm": alg, "requested_key_size": size, "key_storage_mode": "local",
        }))
        .await;
        assert_eq!(status, 201, "{done}");
        assert_eq!(done["status"], "active");
    }
    let (status, done) = submit(&server, BOOTSTRAP, json!({
        "template_id": template["id"], "project_id": project, "csr_source_mode": "server_generated",
        "requested_subject": {"common_name": "long.example.com"}, "validity_days": 365,
    }))
    .await;
    assert_eq!(status, 201, "{done}");

    let (_, all) = server.get("/api/v1/certificates", BOOTSTRAP).await;
    assert_eq!(all["pagination"]["total"], 4);
    let key_types: Vec<_> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key_type"].as_str().unwrap().to_owned())
        .collect();
    for expected in ["RSA-2048", "ECDSA-P384", "Ed25519", "ECDSA-P256"] {
        assert!(key_types.iter().any(|k| k == expected), "{key_types:?}");
    }
    let (_, found) = server
        .get("/api/v1/certificates?common_name=EC.EXAMPLE", BOOTSTRAP)
        .await;
    assert_eq!(found["pagination"]["total"], 1);
    let (_, soon) = server
        .get("/api/v1/certificates?expiring_within_days=60", BOOTSTRAP)
        .await;
    assert_eq!(soon["pagination"]["total"], 3);
    let (_, by_ca) = server
        .get(
            &format!(
                "/api/v1/certificates?ca_id={}&status=active",
                inter["id"].as_str().unwrap()
            ),
            BOOTSTRAP,
        )
        .await;
    assert_eq!(by_ca["pagination"]["total"], 4);
    let (_, paged) = server
        .get("/api/v1/certificates?per_page=3&page=2", BOOTSTRAP)
        .await;
    assert_eq!(paged["data"].as_array().unwrap().len(), 1);
    let (_, none) = server
        .get("/api/v1/certificates?status=revoked", BOOTSTRAP)
        .await;
    assert_eq!(none["pagination"]["total"], 0);

    // Properties.
    let id = all["data"][0]["id"].as_str().unwrap();
    let (status, updated) = server
        .put(
            &format!("/api/v1/certificates/{id}"),
            BOOTSTRAP,
            json!({"tags": ["prod"], "description": "edge"}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["properties"]["tags"], json!(["prod"]));

    server.stop();
    for file in [server.db_path(), server.db_path().with_extension("db-wal")] {
        assert!(!file_contains(&file, b"PRIVATE KEY"), "{}", file.display());
    }
}

#[tokio::test]
async fn an_intermediate_signed_by_an_outside_parent() {
    let server = Server::start();
    let scratch = Scratch::new();
    // The outside parent: a root made by OpenSSL.
    let (ok, text) = scratch.openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ext-root.key",
        "-out",
        "ext-root.pem",
        "-subj",
        "/CN=Outside Root",
        "-days",
        "3650",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    assert!(ok, "{text}");
    let pending = create_ca(&server, BOOTSTRAP, json!({
        "name": "delegated", "kind": "intermediate", "subject": {"common_name": "Delegated CA"}, "validity_days": 365,
    }))
    .await;
    assert_eq!(pending["status"], "pending_certificate");
    let id = pending["id"].as_str().unwrap();
    scratch.write("inter.csr", pem(&pending["csr_pem"]));
    scratch.write("ext.cnf", "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n");
    let (ok, text) = scratch.openssl(&[
        "x509",
        "-req",
        "-in",
        "inter.csr",
        "-CA",
        "ext-root.pem",
        "-CAkey",
        "ext-root.key",
        "-CAcreateserial",
        "-days",
        "365",
        "-extfile",
        "ext.cnf",
        "-out",
        "inter.pem",
    ]);
    assert!(ok, "{text}");
    let signed = std::fs::read_to_string(scratch.path("inter.pem")).unwrap();

    // A certificate for another key is refused; the right one completes the CA.
    let (status, body) = server
        .post(&format!("/api/v1/cas/{id}/certificate"), BOOTSTRAP, json!({"certificate_pem": std::fs::read_to_string(scratch.path("ext-root.pem")).unwrap()}))
        .await;
    assert!(assert_error(status, &body, 400, "bad_request").contains("not for this CA's key"));
    let (status, active) = server
        .post(
            &format!("/api/v1/cas/{id}/certificate"),
            BOOTSTRAP,
            json!({"certificate_pem": signed}),
        )
        .await;
    assert_eq!(
        (status, active["status"].as_str()),
        (200, Some("active")),
        "{active}"
    );

    let (status, template) = server
        .post(
            "/api/v1/templates",
            BOOTSTRAP,
            json!({"name": "t", "ca_id": id}),
        )
        .await;
    assert_eq!(status, 201, "{template}");
    let project = default_project(&server, BOOTSTRAP).await;
    let csr = scratch.csr("leaf.csr", "/CN=leaf.example.com", "DNS:leaf.example.com");
    let (status, done) = submit(&server, BOOTSTRAP, json!({
        "template_id": template["id"], "project_id": project, "csr_source_mode": "uploaded_csr", "csr_pem": csr,
    }))
    .await;
    assert_eq!(status, 201, "{done}");
    let (_, cert) = server
        .get(
            &format!("/api/v1/certificates/{}", done["id"].as_str().unwrap()),
            BOOTSTRAP,
        )
        .await;
    scratch.write("leaf.pem", pem(&cert["certificate_pem"]));
    let (ok, text) = scratch.openssl(&[
        "verify",
        "-CAfile",
        "ext-root.pem",
        "-untrusted",
        "inter.pem",
        "-x509_strict",
        "leaf.pem",
    ]);
    assert!(ok, "{text}");

    // The public CA-issuers URL serves the CA certificate.
    let response = server
        .client
        .get(format!("{}/api/v1/cas/{id}/certificate", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/pkix-cert");
}

#[tokio::test]
async fn rsa_and_ed25519_authorities_and_tenant_isolation() {
    let server = Server::start();
    let scratch = Scratch::new();
    let rsa = create_ca(&server, BOOTSTRAP, json!({"name": "rsa-root", "kind": "root", "key_algorithm": "RSA", "key_size": 3072, "subject": {"common_name": "RSA Root"}})).await;
    assert_eq!(rsa["key_algorithm"], "RSA-3072");
    let ed = create_ca(&server, BOOTSTRAP, json!({"name": "ed-root", "kind": "root", "key_algorithm": "Ed25519", "subject": {"common_name": "Ed Root"}})).await;
    assert_eq!(ed["key_algorithm"], "Ed25519");
    let (status, body) = server.post("/api/v1/cas", BOOTSTRAP, json!({"name": "bad", "kind": "root", "key_algorithm": "RSA", "key_size": 1024, "subject": {"common_name": "x"}})).await;
    assert_eq!(
        assert_error(status, &body, 400, "bad_request")
            .split(':')
            .next(),
        Some("key_algorithm")
    );
    let (status, body) = server
        .post(
            "/api/v1/cas",
            BOOTSTRAP,
            json!({"name": "rsa-root", "kind": "root", "subject": {"common_name": "x"}}),
        )
        .await;
    assert_error(status, &body, 409, "conflict");

    let (_, template) = server
        .post(
            "/api/v1/templates",
            BOOTSTRAP,
            json!({"name": "rsa", "ca_id": rsa["id"]}),
        )
        .await;
    let project = default_project(&server, BOOTSTRAP).await;
    let csr = scratch.csr("r.csr", "/CN=r.example.com", "DNS:r.example.com");
    let (status, done) = submit(&server, BOOTSTRAP, json!({
        "template_id": template["id"], "project_id": project, "csr_source_mode": "uploaded_csr", "csr_pem": csr,
    }))
    .await;
    assert_eq!(status, 201, "{done}");
    let cert_id = done["id"].as_str().unwrap();
    let (_, cert) = server
        .get(&format!("/api/v1/certificates/{cert_id}"), BOOTSTRAP)
        .await;
    scratch.write("rsa.pem", pem(&rsa["certificate_pem"]));
    scratch.write("leaf.pem", pem(&cert["certificate_pem"]));
    let (ok, text) = scratch.openssl(&["verify", "-CAfile", "rsa.pem", "-x509_strict", "leaf.pem"]);
    assert!(ok, "{text}");

    // Another organization sees none of it.
    let (_, org) = server
        .post("/api/v1/organizations", BOOTSTRAP, json!({"name": "other"}))
        .await;
    let (other, _) = server
        .create_key(
            BOOTSTRAP,
            json!({"organization_id": org["id"], "role": "admin"}),
        )
        .await;
    for path in [
        format!("/api/v1/certificates/{cert_id}"),
        format!("/api/v1/cas/{}", rsa["id"].as_str().unwrap()),
        format!("/api/v1/templates/{}", template["id"].as_str().unwrap()),
    ] {
        let (status, body) = server.get(&path, &other).await;
        assert_error(status, &body, 404, "not_found");
    }
    let (status, _) = server
        .post(
            &format!("/api/v1/certificates/{cert_id}/revoke"),
            &other,
            json!({}),
        )
        .await;
    assert_eq!(status, 404);
    let (_, theirs) = server.get("/api/v1/certificates", &other).await;
    assert_eq!(theirs["pagination"]["total"], 0);
    let (status, body) = server
        .post(
            "/api/v1/templates",
            &other,
            json!({"name": "steal", "ca_id": rsa["id"]}),
        )
        .await;
    assert_eq!(body["field"], "ca_id", "{status} {body}");
}

#[tokio::test]
async fn ocsp_answers_good_revoked_and_unknown_to_openssl() {
    let server = Server::start();
    let scratch = Scratch::new();
    let (root, inter, template) = hierarchy(&server, BOOTSTRAP, json!({})).await;
    let project = default_project(&server, BOOTSTRAP).await;
    let inter_id = inter["id"].as_str().unwrap();
    scratch.write("root.pem", pem(&root["certificate_pem"]));
    scratch.write("inter.pem", pem(&inter["certificate_pem"]));
    let csr = scratch.csr("leaf.csr", "/CN=ocsp.example.com", "DNS:ocsp.example.com");
    let (_, done) = submit(&server, BOOTSTRAP, json!({
        "template_id": template["id"], "project_id": project, "csr_source_mode": "uploaded_csr", "csr_pem": csr,
    }))
    .await;
    let id = done["id"].as_str().unwrap();
    let (_, cert) = server
        .get(&format!("/api/v1/certificates/{id}"), BOOTSTRAP)
        .await;
    scratch.write("leaf.pem", pem(&cert["certificate_pem"]));
    let url = format!("{}/api/v1/ocsp/{inter_id}", server.base);
    let ask = |cert: &str| {
        scratch.openssl(&[
            "ocsp",
            "-issuer",
            "inter.pem",
            "-cert",
            cert,
            "-url",
            &url,
            "-CAfile",
            "root.pem",
            "-verify_other",
            "inter.pem",
            "-resp_text",
        ])
    };

    let (ok, text) = ask("leaf.pem");
    assert!(ok, "{text}");
    assert!(
        text.contains("Response verify OK") && text.contains("leaf.pem: good"),
        "{text}"
    );

    server
        .post(
            &format!("/api/v1/certificates/{id}/revoke"),
            BOOTSTRAP,
            json!({"reason": "keyCompromise"}),
        )
        .await;
    let (_, text) = ask("leaf.pem");
    assert!(
        text.contains("Response verify OK") && text.contains("leaf.pem: revoked"),
        "{text}"
    );
    assert!(text.contains("Reason: keyCompromise"), "{text}");
    assert!(text.contains("Revocation Time:"), "{text}");

    // A certificate this CA never issued (the intermediate itself, asked of its own key): unknown.
    let (_, text) = scratch.openssl(&[
        "ocsp",
        "-issuer",
        "inter.pem",
        "-cert",
        "inter.pem",
        "-url",
        &url,
        "-CAfile",
        "root.pem",
        "-verify_other",
        "inter.pem",
        "-resp_text",
    ]);
    assert!(text.contains("inter.pem: unknown"), "{text}");

    // GET form with the same request, base64 in the path.
    let (ok, text) = scratch.openssl(&[
        "ocsp",
        "-issuer",
        "inter.pem",
        "-cert",
        "leaf.pem",
        "-reqout",
        "req.der",
    ]);
    assert!(ok, "{text}");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(scratch.path("req.der")).unwrap());
    let encoded: String = b64
        .chars()
        .map(|c| match c {
            '/' => "%2F".into(),
            '+' => "%2B".into(),
            '=' => "%3D".into(),
            c => c.to_string(),
        })
        .collect();
    let response = server
        .client
        .get(format!("{url}/{encoded}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/ocsp-response"
    );
    scratch.write("resp.der", response.bytes().await.unwrap());
    let (_, text) = scratch.openssl(&["ocsp", "-respin", "resp.der", "-resp_text", "-noverify"]);
    assert!(text.contains("Cert Status: revoked"), "{text}");

    // Garbage is a malformed request; an unknown CA is a 404.
    let response = server
        .client
        .post(&url)
        .header("Content-Type", "application/ocsp-request")
        .body("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    scratch.write("bad.der", response.bytes().await.unwrap());
    let (_, text) = scratch.openssl(&["ocsp", "-respin", "bad.der", "-resp_text", "-noverify"]);
    assert!(text.contains("malformedrequest"), "{text}");
    let (status, body) = crate::harness::send(
        server
            .client
            .post(format!("{}/api/v1/ocsp/nope", server.base))
            .body("x"),
    )
    .await;
    assert_error(status, &body, 404, "not_found");
}

#[tokio::test]
async fn a_validator_plugin_for_one_tenant_denies_there_and_not_in_another() {
    // The operator allows two suffixes; each tenant's template may narrow that.
    let server = Server::start_with(crate::harness::Options {
        config: "[[plugins]]\nname = \"dns-suffix\"\nkind = \"template-validator\"\nbuiltin = \"dns-suffix\"\n\
                 [plugins.config]\ndefault = [\"a.example\", \"b.example\"]\n"
            .into(),
        ..Default::default()
    });
    let scratch = Scratch::new();
    // Tenant A: its template runs the dns-suffix plugin, narrowed to a.example.
    let (_, _, template_a) = hierarchy(
        &server,
        BOOTSTRAP,
        json!({
            "validators": [{"plugin": "dns-suffix", "config": {"allowed_suffixes": ["a.example"]}}],
        }),
    )
    .await;
    let project_a = default_project(&server, BOOTSTRAP).await;
    // Tenant B: same request shape, no validator.
    let (_, org) = server
        .post(
            "/api/v1/organizations",
            BOOTSTRAP,
            json!({"name": "tenant-b"}),
        )
        .await;
    let (b, _) = server
        .create_key(
            BOOTSTRAP,
            json!({"organization_id": org["id"], "role": "admin"}),
        )
        .await;
    let (_, project_b) = server
        .post("/api/v1/projects", &b, json!({"name": "web"}))
        .await;
    let (_, _, template_b) = hierarchy(&server, &b, json!({})).await;

    let csr = scratch.csr("x.csr", "/CN=www.b.example", "DNS:www.b.example");
    let body = |template: &Value, project: &Value| {
        json!({
            "template_id": template["id"], "project_id": project, "csr_source_mode": "uploaded_csr", "csr_pem": csr,
        })
    };
    let (status, denied) = submit(&server, BOOTSTRAP, body(&template_a, &json!(project_a))).await;
    assert_error(status, &denied, 422, "unprocessable_entity");
    let violations = denied["violations"].to_string();
    assert!(
        violations.contains("dns-suffix") && violations.contains("www.b.example"),
        "{violations}"
    );
    let (status, allowed) = submit(&server, &b, body(&template_b, &project_b["id"])).await;
    assert_eq!(status, 201, "{allowed}");
    let csr_a = scratch.csr("y.csr", "/CN=www.a.example", "DNS:www.a.example");
    let (status, ok) = submit(&server, BOOTSTRAP, json!({
        "template_id": template_a["id"], "project_id": project_a, "csr_source_mode": "uploaded_csr", "csr_pem": csr_a,
    }))
    .await;
    assert_eq!(status, 201, "{ok}");

    // A template naming a plugin that is not loaded is refused up front.
    let (status, body_) = server
        .post("/api/v1/templates", BOOTSTRAP, json!({"name": "x", "ca_id": template_a["ca_id"], "rules": {"validators": [{"plugin": "nope"}]}}))
        .await;
    assert_eq!(
        assert_error(status, &body_, 400, "bad_request")
            .split(':')
            .next(),
        Some("validators[0].plugin")
    );

    // The calls show in the plugin list and in /metrics.
    let (status, plugins) = server.get("/api/v1/plugins", BOOTSTRAP).await;
    assert_eq!(status, 200);
    let dns = plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "dns-suffix")
        .expect("dns-suffix listed");
    assert_eq!(dns["calls"], 2, "{dns}");
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
        metrics.contains(
            r#"keystead_plugin_calls_total{plugin="dns-suffix",kind="template-validator"} 2"#
        ),
        "{metrics}"
    );
    let requester = server.key_with_role("requester").await;
    assert_eq!(server.get("/api/v1/plugins", &requester).await.0, 403);
}

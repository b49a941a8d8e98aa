//! Named key material per project and environment: uploaded PEM keys and keystores,
//! sealed at rest.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::harness::{BOOTSTRAP, Server, assert_error, file_contains};

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// An Ed25519 private and public key and a PKCS#12 keystore (password "s3cr3t-pw"), made
/// by the OpenSSL command line, and the same keystore as a JKS (password "changeit"),
/// made by Java's keytool.
fn material(dir: &Path) -> (String, String, Vec<u8>, Vec<u8>) {
    openssl(
        dir,
        &["genpkey", "-algorithm", "ed25519", "-out", "key.pem"],
    );
    openssl(
        dir,
        &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=keystore",
            "-days",
            "1",
            "-keyout",
            "ks-key.pem",
            "-out",
            "ks-cert.pem",
        ],
    );
    openssl(
        dir,
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "ks-key.pem",
            "-in",
            "ks-cert.pem",
            "-name",
            "my-alias",
            "-passout",
            "pass:s3cr3t-pw",
            "-out",
            "ks.p12",
        ],
    );
    let keytool = Command::new("keytool")
        .args([
            "-importkeystore",
            "-srckeystore",
            "ks.p12",
            "-srcstoretype",
            "PKCS12",
            "-srcstorepass",
            "s3cr3t-pw",
            "-destkeystore",
            "ks.jks",
            "-deststoretype",
            "JKS",
            "-deststorepass",
            "changeit",
            "-destkeypass",
            "changeit",
            "-noprompt",
        ])
        .current_dir(dir)
        .output()
        .expect("keytool (a Java runtime) is installed");
    assert!(keytool.status.success(), "{keytool:?}");
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    (
        String::from_utf8(read("key.pem")).unwrap(),
        String::from_utf8(read("pub.pem")).unwrap(),
        read("ks.p12"),
        read("ks.jks"),
    )
}

async fn default_project(server: &Server) -> String {
    let (_, projects) = server.get("/api/v1/projects", BOOTSTRAP).await;
    projects["data"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn keys_and_keystores_are_stored_sealed_per_environment() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let (private_pem, public_pem, p12, jks) = material(dir.path());
    let project = default_project(&server).await;
    let keys = format!("/api/v1/projects/{project}/environments/production/keys");
    let keystores = format!("/api/v1/projects/{project}/environments/production/keystores");

    // Keys: public (returned), private (never returned).
    let (status, public) = server
        .post(
            &keys,
            BOOTSTRAP,
            json!({"name": "my-key", "pem": public_pem}),
        )
        .await;
    assert_eq!(status, 201, "{public}");
    assert_eq!(public["key_type"], "PUBLIC_KEY");
    assert_eq!(public["public_key_pem"], public_pem.as_str());
    let (status, private) = server
        .post(
            &keys,
            BOOTSTRAP,
            json!({"name": "signer", "description": "d", "pem": private_pem}),
        )
        .await;
    assert_eq!(status, 201, "{private}");
    assert_eq!(private["key_type"], "PRIVATE_KEY");
    assert_eq!(private["encoding"], "PKCS8");
    assert_eq!(public["encoding"], "SPKI");
    assert!(private["public_key_pem"].is_null());
    assert!(!private.to_string().contains("PRIVATE KEY-----"));
    let (_, list) = server.get(&keys, BOOTSTRAP).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (status, one) = server.get(&format!("{keys}/signer"), BOOTSTRAP).await;
    assert_eq!((status, &one["id"]), (200, &private["id"]));
    // Names are per environment: staging may reuse one; production may not.
    let (status, body) = server
        .post(
            &keys,
            BOOTSTRAP,
            json!({"name": "my-key", "pem": public_pem}),
        )
        .await;
    assert_error(status, &body, 409, "conflict");
    let staging = keys.replace("production", "staging");
    let (status, _) = server
        .post(
            &staging,
            BOOTSTRAP,
            json!({"name": "my-key", "pem": public_pem}),
        )
        .await;
    assert_eq!(status, 201);

    // Bad keys are 400s naming the problem.
    let cert = std::fs::read_to_string(dir.path().join("ks-cert.pem")).unwrap();
    for (body, needle) in [
        (json!({"name": "x", "pem": "hello"}), "not PEM"),
        (json!({"name": "x", "pem": cert}), "certificate"),
        (
            json!({"name": "x", "pem": public_pem.replace("MC", "!!")}),
            "base64",
        ),
        (json!({"name": "bad name", "pem": public_pem}), "name"),
        (json!({"name": "x"}), "pem"),
    ] {
        let (status, error) = server.post(&keys, BOOTSTRAP, body).await;
        let text = assert_error(status, &error, 400, "bad_request");
        assert!(text.contains(needle), "{text}");
    }
    let (status, error) = server
        .post(
            &format!("/api/v1/projects/{project}/environments/nowhere/keys"),
            BOOTSTRAP,
            json!({"name": "x", "pem": public_pem}),
        )
        .await;
    assert_error(status, &error, 404, "not_found");

    // Keystores: PKCS#12 and JKS with a password, never returned.
    let (status, keystore) = server
        .post(
            &keystores,
            BOOTSTRAP,
            json!({"name": "my-keystore", "format": "PKCS12",
                   "content": STANDARD.encode(&p12), "password": "s3cr3t-pw"}),
        )
        .await;
    assert_eq!(status, 201, "{keystore}");
    assert_eq!(keystore["format"], "PKCS12");
    assert_eq!(keystore["size_bytes"], p12.len());
    assert_eq!(keystore["aliases"], json!(["my-alias"]));
    assert!(!keystore.to_string().contains("s3cr3t-pw"));
    let (status, java) = server
        .post(
            &keystores,
            BOOTSTRAP,
            json!({"name": "java", "format": "JKS", "content": STANDARD.encode(&jks),
                   "password": "changeit"}),
        )
        .await;
    assert_eq!(status, 201, "{java}");
    assert_eq!(java["aliases"], json!(["my-alias"]));
    // A keystore that does not open with its password is refused at upload.
    let empty_jks = [&[0xFE, 0xED, 0xFE, 0xED][..], &[0, 0, 0, 2, 0, 0, 0, 0]].concat();
    for (format, content, password) in [
        ("PKCS12", &p12, "wrong-pw"),
        ("JKS", &jks, "wrong-pw"),
        ("JKS", &empty_jks, "changeit"),
    ] {
        let (status, error) = server
            .post(
                &keystores,
                BOOTSTRAP,
                json!({"name": "bad", "format": format, "content": STANDARD.encode(content),
                       "password": password}),
            )
            .await;
        let text = assert_error(status, &error, 400, "bad_request");
        assert!(text.starts_with("content"), "{text}");
        assert!(text.contains("could not be opened"), "{text}");
        assert!(!text.contains(password), "{text}");
    }
    for (body, field) in [
        (
            json!({"name": "x", "format": "JKS", "content": STANDARD.encode(&p12), "password": "p"}),
            "content",
        ),
        (
            json!({"name": "x", "format": "PFX", "content": STANDARD.encode(&p12), "password": "p"}),
            "format",
        ),
        (
            json!({"name": "x", "format": "PKCS12", "content": "%%%", "password": "p"}),
            "content",
        ),
        (
            json!({"name": "x", "format": "PKCS12", "content": STANDARD.encode(&p12), "password": ""}),
            "password",
        ),
    ] {
        let (status, error) = server.post(&keystores, BOOTSTRAP, body).await;
        let text = assert_error(status, &error, 400, "bad_request");
        assert!(text.starts_with(field), "{text}");
    }
    let (_, list) = server.get(&keystores, BOOTSTRAP).await;
    let names: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["name"])
        .collect();
    assert_eq!(names, [&json!("java"), &json!("my-keystore")]);

    // Nothing secret is stored in the clear.
    let db = server.db_path();
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    for path in [&db, &wal] {
        assert!(!file_contains(path, b"PRIVATE KEY"));
        assert!(!file_contains(path, b"s3cr3t-pw"));
        assert!(!file_contains(path, b"changeit"));
        assert!(!file_contains(path, &p12[p12.len() - 40..]));
    }

    // Another organization sees none of it.
    let (_, org_b) = server
        .post("/api/v1/organizations", BOOTSTRAP, json!({"name": "org-b"}))
        .await;
    let (b_key, _) = server
        .create_key(
            BOOTSTRAP,
            json!({"organization_id": org_b["id"], "role": "admin"}),
        )
        .await;
    for path in [&keys, &keystores, &format!("{keys}/signer")] {
        let (status, error) = server.get(path, &b_key).await;
        assert_error(status, &error, 404, "not_found");
    }
    // A requester reads but does not write.
    let requester = server.key_with_role("requester").await;
    let (status, _) = server.get(&keys, &requester).await;
    assert_eq!(status, 200);
    let (status, error) = server
        .post(&keys, &requester, json!({"name": "r", "pem": public_pem}))
        .await;
    assert!(assert_error(status, &error, 403, "forbidden").contains("keys:write"));

    // Deletion: 204, then 404; a high-severity audit event.
    for path in [format!("{keys}/signer"), format!("{keystores}/my-keystore")] {
        let (status, _) = server.delete(&path, BOOTSTRAP).await;
        assert_eq!(status, 204);
        let (status, error) = server.get(&path, BOOTSTRAP).await;
        assert_error(status, &error, 404, "not_found");
    }
    for action in ["key_material.key_delete", "key_material.keystore_delete"] {
        let (_, events) = server
            .get(&format!("/api/v1/audit-events?action={action}"), BOOTSTRAP)
            .await;
        assert_eq!(events["data"][0]["severity"], "high", "{events}");
    }
}

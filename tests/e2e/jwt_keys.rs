//! JWT signing keys (`/api/keys/jwt`), signing and verification, and the public JWKS,
//! checked against the real binary and against an independent verifier: the npm `jose`
//! library fetching the JWKS over HTTP.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header;
use serde_json::{Value, json};

use crate::harness::{BOOTSTRAP, Options, Server, assert_error, file_contains};

const ALGORITHMS: [&str; 10] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
];

async fn generate(server: &Server, key: &str, body: Value) -> Value {
    let (status, created) = server.post("/api/keys/jwt/generate", key, body).await;
    assert_eq!(status, 201, "{created}");
    created
}

async fn sign(server: &Server, id: &str, body: Value) -> String {
    let (status, signed) = server
        .post(&format!("/api/keys/jwt/{id}/sign"), BOOTSTRAP, body)
        .await;
    assert_eq!(status, 200, "{signed}");
    signed["token"].as_str().unwrap().to_owned()
}

async fn default_project(server: &Server) -> String {
    let (_, projects) = server.get("/api/v1/projects", BOOTSTRAP).await;
    projects["data"][0]["id"].as_str().unwrap().to_owned()
}

/// The JWKS without credentials: (status, headers, body).
async fn fetch_jwks(
    server: &Server,
    account: &str,
    if_none_match: Option<&str>,
) -> (u16, header::HeaderMap, Value) {
    let mut request = server
        .client
        .get(format!("{}/api/keys/jwt/jwks/{account}", server.base));
    if let Some(etag) = if_none_match {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn header_of(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Database files, WAL included, must not hold private key material in the clear.
fn assert_no_private_keys_on_disk(server: &Server) {
    let db = server.db_path();
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    for path in [&db, &wal] {
        assert!(!file_contains(path, b"PRIVATE KEY"), "{}", path.display());
        // The private JWK's members ("d", "p", "q", ...) are sealed too.
        assert!(!file_contains(path, b"\"d\":\""), "{}", path.display());
    }
    let status = Command::new("grep")
        .args(["-a", "-q", "PRIVATE KEY"])
        .arg(&db)
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "grep -a 'PRIVATE KEY' found a match"
    );
}

#[tokio::test]
async fn every_algorithm_generates_publishes_signs_and_verifies() {
    let server = Server::start();
    let project = default_project(&server).await;
    let mut created = Vec::new();
    for (i, algorithm) in ALGORITHMS.iter().enumerate() {
        let key = generate(
            &server,
            BOOTSTRAP,
            json!({"name": format!("key-{i}"), "algorithm": algorithm}),
        )
        .await;
        assert_eq!(key["algorithm"], *algorithm);
        assert_eq!(key["deprecated"], false);
        assert_eq!(key["projectId"], project.as_str());
        assert!(
            key["createdAt"].is_string() && key["kid"].is_string(),
            "{key}"
        );
        if algorithm.starts_with('R') || algorithm.starts_with('P') {
            assert_eq!(key["keySize"], 2048, "{key}");
        } else {
            assert!(key.get("keySize").is_none(), "{key}");
        }
        created.push(key);
    }
    let big = generate(
        &server,
        BOOTSTRAP,
        json!({"name": "big", "algorithm": "RS512", "keySize": 4096}),
    )
    .await;
    assert_eq!(big["keySize"], 4096);
    // keySize is ignored for elliptic-curve keys, as the reference says.
    let ec = generate(
        &server,
        BOOTSTRAP,
        json!({"name": "ec", "algorithm": "ES384", "keySize": 4096}),
    )
    .await;
    assert_eq!(ec["curve"], "P-384");
    created.push(big.clone());

    let curves = [
        ("ES256", "P-256"),
        ("ES384", "P-384"),
        ("ES512", "P-521"),
        ("EdDSA", "Ed25519"),
    ];
    for key in &created {
        let id = key["id"].as_str().unwrap();
        let alg = key["algorithm"].as_str().unwrap();
        // The public key as a JWK (default) and as PEM.
        let (status, jwk) = server
            .get(&format!("/api/keys/jwt/{id}/public"), BOOTSTRAP)
            .await;
        assert_eq!(status, 200, "{jwk}");
        assert_eq!(jwk["alg"], alg);
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], key["kid"]);
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(jwk.get(private).is_none(), "{jwk}");
        }
        match alg {
            a if a.starts_with("RS") || a.starts_with("PS") => {
                assert_eq!(jwk["kty"], "RSA");
                assert_eq!(jwk["e"], "AQAB");
            }
            "EdDSA" => assert_eq!(
                (&jwk["kty"], &jwk["crv"]),
                (&json!("OKP"), &json!("Ed25519"))
            ),
            _ => {
                assert_eq!(jwk["kty"], "EC");
                let curve = curves.iter().find(|(a, _)| *a == alg).unwrap().1;
                assert_eq!(jwk["crv"], curve);
            }
        }
        let response = server
            .request(
                reqwest::Method::GET,
                &format!("/api/keys/jwt/{id}/public?format=pem"),
                BOOTSTRAP,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let pem = response.text().await.unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");

        // Sign, and verify through the API.
        let token = sign(
            &server,
            id,
            json!({"claims": {"sub": "user-1", "aud": "api"}, "expiresIn": 600}),
        )
        .await;
        let head = header_of(&token);
        assert_eq!(head["kid"], key["kid"]);
        assert_eq!(head["alg"], alg);
        assert_eq!(head["typ"], "JWT");
        let (status, result) = server
            .post(
                &format!("/api/keys/jwt/{id}/verify"),
                BOOTSTRAP,
                json!({"token": token}),
            )
            .await;
        assert_eq!(status, 200, "{result}");
        assert_eq!(result["valid"], true, "{alg}: {result}");
        assert_eq!(result["claims"]["sub"], "user-1");
        let exp = result["claims"]["exp"].as_i64().unwrap();
        let iat = result["claims"]["iat"].as_i64().unwrap();
        assert_eq!(exp - iat, 600);
        // A tampered payload does not verify.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = "eyJzdWIiOiJhZG1pbiJ9";
        parts[1] = forged;
        let (_, result) = server
            .post(
                &format!("/api/keys/jwt/{id}/verify"),
                BOOTSTRAP,
                json!({"token": parts.join(".")}),
            )
            .await;
        assert_eq!(result["valid"], false, "{result}");
        assert!(result["reason"].is_string());
    }

    // The list holds them all; kids are unique.
    let (status, list) = server.get("/api/keys/jwt", BOOTSTRAP).await;
    assert_eq!(status, 200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), ALGORITHMS.len() + 2);
    let mut all_kids: Vec<_> = list.iter().map(|k| k["kid"].clone()).collect();
    all_kids.sort_by_key(|k| k.to_string());
    all_kids.dedup();
    assert_eq!(all_kids.len(), list.len());
    // The same list by explicit projectId.
    let (_, by_project) = server
        .get(&format!("/api/keys/jwt?projectId={project}"), BOOTSTRAP)
        .await;
    assert_eq!(by_project.as_array().unwrap().len(), list.len());

    // Get one, then delete it: 204, then 404 everywhere.
    let id = big["id"].as_str().unwrap();
    let (status, one) = server.get(&format!("/api/keys/jwt/{id}"), BOOTSTRAP).await;
    assert_eq!((status, &one["kid"]), (200, &big["kid"]));
    let (status, body) = server
        .delete(&format!("/api/keys/jwt/{id}"), BOOTSTRAP)
        .await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, body) = server.get(&format!("/api/keys/jwt/{id}"), BOOTSTRAP).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = server
        .delete(&format!("/api/keys/jwt/{id}"), BOOTSTRAP)
        .await;
    assert_error(status, &body, 404, "not_found");

    assert_no_private_keys_on_disk(&server);
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx() {
    let server = Server::start();
    let cases = [
        (json!({"name": "k", "algorithm": "HS256"}), "algorithm"),
        (json!({"name": "k", "algorithm": "RSA"}), "algorithm"),
        (json!({"name": "k", "algorithm": "rs256"}), "algorithm"),
        (
            json!({"name": "k", "algorithm": "RS256", "keySize": 3072}),
            "keySize",
        ),
        (
            json!({"name": "k", "algorithm": "PS256", "keySize": 1024}),
            "keySize",
        ),
        (json!({"name": "", "algorithm": "ES256"}), "name"),
        (
            json!({"name": "k", "algorithm": "ES256", "projectId": 7}),
            "projectId",
        ),
        (json!({"algorithm": "ES256"}), "name"),
        (
            json!({"name": "k", "algorithm": "ES256", "curve": "x"}),
            "curve",
        ),
        (
            json!({"name": "k", "algorithm": "RS256", "keySize": "big"}),
            "keySize",
        ),
    ];
    for (body, field) in cases {
        let (status, error) = server
            .post("/api/keys/jwt/generate", BOOTSTRAP, body.clone())
            .await;
        let text = assert_error(status, &error, 400, "bad_request");
        assert!(text.contains(field), "{body} -> {text}");
    }
    let (status, error) = server
        .post(
            "/api/keys/jwt/generate",
            BOOTSTRAP,
            json!({"name": "k", "algorithm": "HS256"}),
        )
        .await;
    let text = assert_error(status, &error, 400, "bad_request");
    assert!(text.contains("RS256") && text.contains("EdDSA"), "{text}");
    assert_eq!(error["field"], "algorithm");

    // An unknown project.
    let (status, error) = server
        .post(
            "/api/keys/jwt/generate",
            BOOTSTRAP,
            json!({"name": "k", "algorithm": "ES256", "projectId": "nope"}),
        )
        .await;
    assert_error(status, &error, 404, "not_found");

    // A second active key with the same name is a conflict.
    let key = generate(
        &server,
        BOOTSTRAP,
        json!({"name": "dup", "algorithm": "ES256"}),
    )
    .await;
    let (status, error) = server
        .post(
            "/api/keys/jwt/generate",
            BOOTSTRAP,
            json!({"name": "dup", "algorithm": "EdDSA"}),
        )
        .await;
    assert!(assert_error(status, &error, 409, "conflict").contains("dup"));
    let id = key["id"].as_str().unwrap();

    // Unknown ids are 404 on every route.
    let unknown = "00000000-0000-4000-8000-000000000000";
    for (method, path) in [
        ("GET", format!("/api/keys/jwt/{unknown}")),
        ("GET", format!("/api/keys/jwt/{unknown}/public")),
        ("POST", format!("/api/keys/jwt/{unknown}/rotate")),
        ("POST", format!("/api/keys/jwt/{unknown}/sign")),
        ("POST", format!("/api/keys/jwt/{unknown}/verify")),
        ("DELETE", format!("/api/keys/jwt/{unknown}")),
    ] {
        let (status, error) = match method {
            "GET" => server.get(&path, BOOTSTRAP).await,
            "DELETE" => server.delete(&path, BOOTSTRAP).await,
            _ => {
                let body = if path.ends_with("verify") {
                    json!({"token": "a.b.c"})
                } else {
                    json!({})
                };
                server.post(&path, BOOTSTRAP, body).await
            }
        };
        assert_error(status, &error, 404, "not_found");
    }

    // Bad formats and sign requests.
    let (status, error) = server
        .get(&format!("/api/keys/jwt/{id}/public?format=der"), BOOTSTRAP)
        .await;
    assert!(assert_error(status, &error, 400, "bad_request").contains("format"));
    let sign_path = format!("/api/keys/jwt/{id}/sign");
    for body in [
        json!({"claims": {}, "expiresIn": 0}),
        json!({"claims": {}, "expiresIn": -5}),
        json!({"claims": {"exp": 2000000000}, "expiresIn": 60}),
        json!({"claims": ["not", "an", "object"]}),
        json!({"claims": {"exp": "tomorrow"}}),
        json!({"claims": {"aud": 42}}),
        json!({"claim": {}}),
    ] {
        let (status, error) = server.post(&sign_path, BOOTSTRAP, body.clone()).await;
        assert_error(status, &error, 400, "bad_request");
    }
    // Verify needs a token; a malformed one is simply not valid.
    let verify_path = format!("/api/keys/jwt/{id}/verify");
    let (status, error) = server.post(&verify_path, BOOTSTRAP, json!({})).await;
    assert_error(status, &error, 400, "bad_request");
    let (status, result) = server
        .post(&verify_path, BOOTSTRAP, json!({"token": "not a jwt"}))
        .await;
    assert_eq!((status, &result["valid"]), (200, &json!(false)), "{result}");
    // An expired token is not valid, with the reason.
    let expired = sign(
        &server,
        id,
        json!({"claims": {"exp": 1_000_000_000, "iat": 999_999_000}}),
    )
    .await;
    let (_, result) = server
        .post(&verify_path, BOOTSTRAP, json!({"token": expired}))
        .await;
    assert_eq!(result["valid"], false, "{result}");
    assert!(
        result["reason"].as_str().unwrap().contains("expire"),
        "{result}"
    );

    // Credentials and permissions.
    let (status, error) = server.get("/api/keys/jwt", "wrong").await;
    assert_error(status, &error, 401, "unauthorized");
    let response = server
        .client
        .get(format!("{}/api/keys/jwt", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let requester = server.key_with_role("requester").await;
    let (status, list) = server.get("/api/keys/jwt", &requester).await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(1)));
    let (status, error) = server
        .post(
            "/api/keys/jwt/generate",
            &requester,
            json!({"name": "r", "algorithm": "ES256"}),
        )
        .await;
    assert!(assert_error(status, &error, 403, "forbidden").contains("keys:write"));
    let (status, error) = server.post(&sign_path, &requester, json!({})).await;
    assert!(assert_error(status, &error, 403, "forbidden").contains("keys:write"));
    let (status, error) = server
        .delete(&format!("/api/keys/jwt/{id}"), &requester)
        .await;
    assert_error(status, &error, 403, "forbidden");
    let (status, _) = server
        .post(&verify_path, &requester, json!({"token": expired}))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn keys_are_scoped_to_tenant_and_project() {
    let server = Server::start();
    let (_, org_b) = server
        .post("/api/v1/organizations", BOOTSTRAP, json!({"name": "org-b"}))
        .await;
    let (b_key, _) = server
        .create_key(
            BOOTSTRAP,
            json!({"organization_id": org_b["id"], "role": "admin"}),
        )
        .await;
    // Organization B has no "default" project yet: projectId is required.
    let (status, error) = server
        .post(
            "/api/keys/jwt/generate",
            &b_key,
            json!({"name": "b", "algorithm": "ES256"}),
        )
        .await;
    let text = assert_error(status, &error, 400, "bad_request");
    assert!(text.contains("projectId"), "{text}");
    let (_, b_project) = server
        .post("/api/v1/projects", &b_key, json!({"name": "b-project"}))
        .await;
    let b_project = b_project["id"].as_str().unwrap();
    let b_jwt = generate(
        &server,
        &b_key,
        json!({"name": "b", "algorithm": "ES256", "projectId": b_project}),
    )
    .await;
    let b_id = b_jwt["id"].as_str().unwrap();

    // Organization A (even its platform administrator) sees none of it.
    for path in [
        format!("/api/keys/jwt/{b_id}"),
        format!("/api/keys/jwt/{b_id}/public"),
        format!("/api/keys/jwt?projectId={b_project}"),
    ] {
        let (status, error) = server.get(&path, BOOTSTRAP).await;
        assert_error(status, &error, 404, "not_found");
    }
    let (status, error) = server
        .post(&format!("/api/keys/jwt/{b_id}/sign"), BOOTSTRAP, json!({}))
        .await;
    assert_error(status, &error, 404, "not_found");
    let (status, error) = server
        .post(
            &format!("/api/keys/jwt/{b_id}/rotate"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_error(status, &error, 404, "not_found");
    let (status, error) = server
        .delete(&format!("/api/keys/jwt/{b_id}"), BOOTSTRAP)
        .await;
    assert_error(status, &error, 404, "not_found");
    let (status, error) = server
        .post(
            "/api/keys/jwt/generate",
            BOOTSTRAP,
            json!({"name": "x", "algorithm": "ES256", "projectId": b_project}),
        )
        .await;
    assert_error(status, &error, 404, "not_found");
    let (status, list) = server.get("/api/keys/jwt", &b_key).await;
    assert_error(status, &list, 400, "bad_request");
    let (status, list) = server
        .get(&format!("/api/keys/jwt?projectId={b_project}"), &b_key)
        .await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 1));

    // A project-scoped key works in its own project by default and sees nothing else.
    let (_, payments) = server
        .post("/api/v1/projects", BOOTSTRAP, json!({"name": "payments"}))
        .await;
    let payments = payments["id"].as_str().unwrap();
    let (scoped, _) = server
        .create_key(
            BOOTSTRAP,
            json!({"role": "operator", "projectId": payments}),
        )
        .await;
    let default_key = generate(
        &server,
        BOOTSTRAP,
        json!({"name": "in-default", "algorithm": "EdDSA"}),
    )
    .await;
    let scoped_key = generate(
        &server,
        &scoped,
        json!({"name": "in-payments", "algorithm": "EdDSA"}),
    )
    .await;
    assert_eq!(scoped_key["projectId"], payments);
    let (_, list) = server.get("/api/keys/jwt", &scoped).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], scoped_key["id"]);
    let (status, error) = server
        .get(
            &format!("/api/keys/jwt/{}", default_key["id"].as_str().unwrap()),
            &scoped,
        )
        .await;
    assert_error(status, &error, 404, "not_found");
}

#[tokio::test]
async fn rotation_deprecates_refuses_signing_and_is_audited() {
    let server = Server::start();
    let project = default_project(&server).await;
    let old = generate(
        &server,
        BOOTSTRAP,
        json!({"name": "prod-signing-key", "algorithm": "RS256", "keySize": 2048}),
    )
    .await;
    let old_id = old["id"].as_str().unwrap();
    let old_token = sign(&server, old_id, json!({"claims": {"sub": "before"}})).await;

    let (status, new) = server
        .post(
            &format!("/api/keys/jwt/{old_id}/rotate"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{new}");
    assert_eq!(new["name"], "prod-signing-key");
    assert_eq!(new["algorithm"], "RS256");
    assert_eq!(new["keySize"], 2048);
    assert_eq!(new["deprecated"], false);
    assert_ne!(new["id"], old["id"]);
    assert_ne!(new["kid"], old["kid"]);
    let new_id = new["id"].as_str().unwrap();

    let (_, old_now) = server
        .get(&format!("/api/keys/jwt/{old_id}"), BOOTSTRAP)
        .await;
    assert_eq!(old_now["deprecated"], true);
    assert_eq!(old_now["replacedBy"], new["id"]);
    assert_eq!(old_now["kid"], old["kid"], "kid is stable");

    // A deprecated key refuses to sign and to rotate again, saying why.
    let (status, error) = server
        .post(
            &format!("/api/keys/jwt/{old_id}/sign"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    let text = assert_error(status, &error, 409, "conflict");
    assert!(
        text.contains("deprecated") && text.contains(new_id),
        "{text}"
    );
    let (status, error) = server
        .post(
            &format!("/api/keys/jwt/{old_id}/rotate"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert!(assert_error(status, &error, 409, "conflict").contains("deprecated"));

    // The old key still verifies what it signed; the new key does not.
    let (_, result) = server
        .post(
            &format!("/api/keys/jwt/{old_id}/verify"),
            BOOTSTRAP,
            json!({"token": old_token}),
        )
        .await;
    assert_eq!(result["valid"], true, "{result}");
    let (_, result) = server
        .post(
            &format!("/api/keys/jwt/{new_id}/verify"),
            BOOTSTRAP,
            json!({"token": old_token}),
        )
        .await;
    assert_eq!(result["valid"], false, "{result}");
    let new_token = sign(&server, new_id, json!({"claims": {"sub": "after"}})).await;
    assert_eq!(header_of(&new_token)["kid"], new["kid"]);

    // Both keys are in the JWKS during the rollover window; the list shows both.
    let (_, _, jwks) = fetch_jwks(&server, &project, None).await;
    assert_eq!(
        kids(&jwks),
        vec![
            new["kid"].as_str().unwrap().to_owned(),
            old["kid"].as_str().unwrap().to_owned()
        ]
    );
    let (_, list) = server.get("/api/keys/jwt", BOOTSTRAP).await;
    assert_eq!(list.as_array().unwrap().len(), 2);

    // Deleting the old key removes it from the JWKS at once.
    let (status, _) = server
        .delete(&format!("/api/keys/jwt/{old_id}"), BOOTSTRAP)
        .await;
    assert_eq!(status, 204);
    let (_, _, jwks) = fetch_jwks(&server, &project, None).await;
    assert_eq!(kids(&jwks), vec![new["kid"].as_str().unwrap().to_owned()]);

    // Audit: generate and rotate are recorded, delete with high severity.
    for (action, severity) in [
        ("jwt_key.generate", "medium"),
        ("jwt_key.rotate", "medium"),
        ("jwt_key.delete", "high"),
    ] {
        let (status, events) = server
            .get(&format!("/api/v1/audit-events?action={action}"), BOOTSTRAP)
            .await;
        assert_eq!(status, 200, "{events}");
        let event = &events["data"][0];
        assert_eq!(event["severity"], severity, "{events}");
        assert_eq!(event["outcome"], "success");
        assert!(!event["details"].to_string().contains("\"d\""), "{event}");
    }
    assert_no_private_keys_on_disk(&server);
}

#[tokio::test]
async fn jwks_is_public_cached_and_answers_304() {
    let mut server = Server::start_with(Options {
        config: "[jwks]\nmax_age_secs = 60\n".into(),
        ..Options::default()
    });
    let project = default_project(&server).await;

    // A project without keys has an empty set.
    let (status, headers, body) = fetch_jwks(&server, &project, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"keys": []}));
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=60");
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let empty_etag = headers[header::ETAG].to_str().unwrap().to_owned();

    let key = generate(
        &server,
        BOOTSTRAP,
        json!({"name": "k", "algorithm": "ES256"}),
    )
    .await;
    let (status, headers, body) = fetch_jwks(&server, &project, Some(&empty_etag)).await;
    assert_eq!(status, 200, "a new key changes the document at once");
    assert_eq!(kids(&body), vec![key["kid"].as_str().unwrap().to_owned()]);
    let jwk = &body["keys"][0];
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["alg"], "ES256");
    assert_eq!(jwk["use"], "sig");
    assert!(jwk.get("d").is_none());
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    assert_ne!(etag, empty_etag);

    // If-None-Match: 304, empty body, same validators.
    for candidate in [etag.clone(), format!("W/{etag}"), format!("\"x\", {etag}")] {
        let (status, headers, body) = fetch_jwks(&server, &project, Some(&candidate)).await;
        assert_eq!(status, 304, "{candidate}");
        assert_eq!(body, Value::String(String::new()));
        assert_eq!(headers[header::ETAG], etag.as_str());
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=60");
    }

    // Unknown accounts are 404 in the shared shape; so is a project once deleted.
    for account in ["00000000-0000-4000-8000-000000000000", "not a project", "x"] {
        let (status, _, body) = fetch_jwks(&server, &account.replace(' ', "%20"), None).await;
        assert_error(status, &body, 404, "not_found");
    }
    let (_, other) = server
        .post("/api/v1/projects", BOOTSTRAP, json!({"name": "other"}))
        .await;
    let other = other["id"].as_str().unwrap();
    let (status, _, body) = fetch_jwks(&server, other, None).await;
    assert_eq!((status, body), (200, json!({"keys": []})));
    server
        .delete(&format!("/api/v1/projects/{other}"), BOOTSTRAP)
        .await;
    let (status, _, body) = fetch_jwks(&server, other, None).await;
    assert_error(status, &body, 404, "not_found");

    // The JWKS bypasses the request middleware but is still counted.
    let (_, metrics) = server.get("/metrics", "").await;
    let metrics = metrics.as_str().unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("keystead_jwks_requests_total"))
        .unwrap_or_else(|| panic!("{metrics}"));
    let served: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(served >= 8.0, "{line}");

    // After a restart the document is rebuilt from the database: same bytes, same tag.
    server.restart();
    let (status, headers, after) = fetch_jwks(&server, &project, None).await;
    assert_eq!(status, 200);
    assert_eq!(headers[header::ETAG], etag.as_str());
    assert_eq!(kids(&after), vec![key["kid"].as_str().unwrap().to_owned()]);
}

#[tokio::test]
async fn rotated_keys_leave_the_jwks_when_the_rollover_window_closes() {
    let server = Server::start_with(Options {
        config: "[jwks]\nrollover_secs = 3\n".into(),
        ..Options::default()
    });
    let project = default_project(&server).await;
    let old = generate(
        &server,
        BOOTSTRAP,
        json!({"name": "k", "algorithm": "EdDSA"}),
    )
    .await;
    let old_id = old["id"].as_str().unwrap();
    let token = sign(&server, old_id, json!({})).await;
    let (_, new) = server
        .post(
            &format!("/api/keys/jwt/{old_id}/rotate"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    let (_, headers, jwks) = fetch_jwks(&server, &project, None).await;
    assert_eq!(kids(&jwks).len(), 2);
    // Caches are told not to keep the document past the window.
    let cache_control = headers[header::CACHE_CONTROL].to_str().unwrap();
    let max_age: u64 = cache_control.rsplit('=').next().unwrap().parse().unwrap();
    assert!(max_age <= 3, "{cache_control}");

    tokio::time::sleep(Duration::from_millis(3500)).await;
    let (_, _, jwks) = fetch_jwks(&server, &project, None).await;
    assert_eq!(kids(&jwks), vec![new["kid"].as_str().unwrap().to_owned()]);
    // The deprecated key itself is kept and still verifies through the API.
    let (_, result) = server
        .post(
            &format!("/api/keys/jwt/{old_id}/verify"),
            BOOTSTRAP,
            json!({"token": token}),
        )
        .await;
    assert_eq!(result["valid"], true, "{result}");
}

// ---- an independent verifier: npm `jose` over HTTP ----

static JOSE_INSTALL: Mutex<()> = Mutex::new(());

const VERIFY_SCRIPT: &str = r#"
import { createRemoteJWKSet, jwtVerify } from 'jose';
const [url, ...tokens] = process.argv.slice(2);
const JWKS = createRemoteJWKSet(new URL(url));
const results = [];
for (const token of tokens) {
  try {
    const { payload, protectedHeader } = await jwtVerify(token, JWKS, {
      algorithms: ['RS256', 'ES256', 'EdDSA'], audience: 'api',
    });
    results.push({ ok: true, sub: payload.sub, kid: protectedHeader.kid });
  } catch (err) {
    results.push({ ok: false, code: err.code ?? String(err) });
  }
}
console.log(JSON.stringify(results));
"#;

/// Installs `jose` once under the target directory (cached between runs) and returns the
/// folder holding the verify script. Fails the test when it cannot: never skips.
fn jose_dir() -> PathBuf {
    let _guard = JOSE_INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("jose-verifier");
    std::fs::create_dir_all(&dir).unwrap();
    if !dir.join("node_modules/jose/package.json").exists() {
        let output = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg("jose@5")
            .output()
            .expect("npm must be installed to run the jose verification test");
        assert!(
            output.status.success(),
            "npm install jose@5 failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::fs::write(dir.join("verify.mjs"), VERIFY_SCRIPT).unwrap();
    dir
}

/// Verifies `tokens` with jose against the JWKS at `url`; one result per token.
async fn jose_verify(url: String, tokens: Vec<String>) -> Vec<Value> {
    tokio::task::spawn_blocking(move || {
        let dir = jose_dir();
        let output = Command::new("node")
            .arg(dir.join("verify.mjs"))
            .arg(&url)
            .args(&tokens)
            .current_dir(&dir)
            .output()
            .expect("node must be installed to run the jose verification test");
        assert!(
            output.status.success(),
            "node failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let results: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(results.len(), tokens.len());
        results
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn jose_verifies_tokens_through_the_jwks_across_rotation_and_deletion() {
    let server = Server::start();
    let project = default_project(&server).await;
    let url = format!("{}/api/keys/jwt/jwks/{project}", server.base);
    let claims = |sub: &str| json!({"claims": {"sub": sub, "aud": "api"}, "expiresIn": 600});

    let mut keys = Vec::new();
    let mut before = Vec::new();
    for algorithm in ["RS256", "ES256", "EdDSA"] {
        let key = generate(
            &server,
            BOOTSTRAP,
            json!({"name": format!("{algorithm}-key"), "algorithm": algorithm}),
        )
        .await;
        let id = key["id"].as_str().unwrap().to_owned();
        before.push(sign(&server, &id, claims(&format!("{algorithm}-before"))).await);
        keys.push(id);
    }
    let results = jose_verify(url.clone(), before.clone()).await;
    for (result, algorithm) in results.iter().zip(["RS256", "ES256", "EdDSA"]) {
        assert_eq!(result["ok"], true, "{algorithm}: {result}");
        assert_eq!(result["sub"], format!("{algorithm}-before"));
    }
    // Another audience is refused: jose really checks what it is given.
    let wrong_aud = sign(
        &server,
        &keys[1],
        json!({"claims": {"sub": "x", "aud": "other"}}),
    )
    .await;
    let results = jose_verify(url.clone(), vec![wrong_aud]).await;
    assert_eq!(results[0]["ok"], false, "{:?}", results);

    // Rotate every key: old tokens still verify (rollover window), new tokens too.
    let mut new_keys = Vec::new();
    let mut after = Vec::new();
    for (id, algorithm) in keys.iter().zip(["RS256", "ES256", "EdDSA"]) {
        let (status, new) = server
            .post(&format!("/api/keys/jwt/{id}/rotate"), BOOTSTRAP, json!({}))
            .await;
        assert_eq!(status, 201, "{new}");
        let new_id = new["id"].as_str().unwrap().to_owned();
        after.push(sign(&server, &new_id, claims(&format!("{algorithm}-after"))).await);
        new_keys.push(new_id);
    }
    let tokens: Vec<String> = before.iter().chain(after.iter()).cloned().collect();
    let results = jose_verify(url.clone(), tokens).await;
    for result in &results {
        assert_eq!(result["ok"], true, "{results:?}");
    }

    // Delete the old (deprecated) RS256 key and the new EdDSA key: their tokens stop
    // verifying; the others still do.
    for id in [&keys[0], &new_keys[2]] {
        let (status, _) = server
            .delete(&format!("/api/keys/jwt/{id}"), BOOTSTRAP)
            .await;
        assert_eq!(status, 204);
    }
    let tokens = vec![
        before[0].clone(),
        after[2].clone(),
        before[1].clone(),
        after[0].clone(),
        before[2].clone(),
    ];
    let results = jose_verify(url, tokens).await;
    assert_eq!(results[0]["ok"], false, "{results:?}");
    assert_eq!(results[0]["code"], "ERR_JWKS_NO_MATCHING_KEY");
    assert_eq!(results[1]["ok"], false, "{results:?}");
    assert_eq!(results[1]["code"], "ERR_JWKS_NO_MATCHING_KEY");
    for result in &results[2..] {
        assert_eq!(result["ok"], true, "{results:?}");
    }
}

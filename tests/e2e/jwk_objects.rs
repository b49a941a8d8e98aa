//! JWK objects at `/apiops/projects/{projectName}/jwks/`: each source type, the
//! algorithm table, the API's error texts, publication in each environment's JWKS, and
//! hostile URL sources served from this process.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{BOOTSTRAP, Options, Server, assert_error};
use crate::pki::{Scratch, hierarchy, submit};

/// The JWK sources, with the URL source allowed to reach this machine.
const PLUGINS: &str = r#"
[[plugins]]
name = "copy-paste"
kind = "jwk-source"
builtin = "copy-paste"

[[plugins]]
name = "jwk-url"
kind = "jwk-source"
builtin = "jwk-url"
allowed_hosts = ["*"]
allow_loopback = true

[[plugins]]
name = "jwk-certificate"
kind = "jwk-source"
builtin = "jwk-certificate"

[[plugins]]
name = "jwk-key"
kind = "jwk-source"
builtin = "jwk-key"

[[plugins]]
name = "jwk-keystore"
kind = "jwk-source"
builtin = "jwk-keystore"
"#;

const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
/// RFC 7638's 2048-bit RSA modulus.
const N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

fn start() -> Server {
    Server::start_with(Options {
        config: PLUGINS.into(),
        ..Options::default()
    })
}

async fn project(server: &Server) -> (String, String) {
    let (_, projects) = server.get("/api/v1/projects", BOOTSTRAP).await;
    let p = &projects["data"][0];
    (
        p["id"].as_str().unwrap().to_owned(),
        p["name"].as_str().unwrap().to_owned(),
    )
}

fn ec_jwk() -> Value {
    json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "kid": "ec-1",
           "d": "jpsQnnGQmL-YBIffH1136cLjlmUzT5ulyQ-YoTGdjvE"})
}

fn rsa_jwk() -> Value {
    json!({"kty": "RSA", "n": N, "e": "AQAB"})
}

fn okp_jwk() -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "x": X})
}

fn paste(name: &str, jwk: &Value) -> Value {
    json!({"name": name, "sourceType": "COPY_PASTE", "jwkStr": jwk.to_string()})
}

/// Asserts a 400 with the API's body and exact text.
fn assert_bad(status: u16, body: &Value, text: &str) {
    let description = assert_error(status, body, 400, "bad_request");
    assert_eq!(description, text, "{body}");
}

/// Asserts a 400 whose text contains `needle`.
fn assert_bad_contains(status: u16, body: &Value, needle: &str) {
    let description = assert_error(status, body, 400, "bad_request");
    assert!(description.contains(needle), "{needle}: {body}");
}

async fn env_jwks(server: &Server, project_id: &str, env: &str) -> Value {
    // Public: no credentials.
    let response = server
        .client
        .get(format!(
            "{}/api/v1/projects/{project_id}/environments/{env}/jwks.json",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/jwk-set+json"
    );
    response.json().await.unwrap()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn routes_deployment_and_environment_jwks() {
    let server = start();
    let (project_id, name) = project(&server).await;
    let jwks = format!("/apiops/projects/{name}/jwks/");

    let (status, created) = server
        .post(&jwks, BOOTSTRAP, paste("my-jwk", &ec_jwk()))
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(
        created,
        json!({"success": true, "deploymentResult": {
        "success": true, "message": "Deployment completed successfully",
        "environmentResults": [
            {"environmentName": "production", "success": true, "message": "Deployed successfully"},
            {"environmentName": "staging", "success": true, "message": "Deployed successfully"},
        ]}})
    );
    // Published in each environment, public members only.
    for env in ["production", "staging"] {
        let set = env_jwks(&server, &project_id, env).await;
        assert_eq!(kids(&set), ["ec-1"], "{set}");
        assert_eq!(set["keys"][0]["x"], X);
        assert!(set["keys"][0].get("d").is_none(), "{set}");
    }
    let (status, body) = server
        .get(
            &format!("/api/v1/projects/{project_id}/environments/nope/jwks.json"),
            "",
        )
        .await;
    assert_error(status, &body, 404, "not_found");

    // Names are unique in the project.
    let (status, body) = server
        .post(&jwks, BOOTSTRAP, paste("my-jwk", &okp_jwk()))
        .await;
    assert_bad(
        status,
        &body,
        "JWK (name: my-jwk) is already exist! Try update operation if want to change its value.",
    );

    // List and get.
    let (status, list) = server.get(&jwks, BOOTSTRAP).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        (list["success"].clone(), list["resultCount"].clone()),
        (json!(true), json!(1))
    );
    let one = &list["resultList"][0];
    assert_eq!(one["name"], "my-jwk");
    assert_eq!(one["sourceType"], "COPY_PASTE");
    assert_eq!(one["kid"], "ec-1");
    assert_eq!(one["environments"], json!(["production", "staging"]));
    assert!(
        !list.to_string().contains("jpsQnn"),
        "no private member is kept: {list}"
    );
    let item = format!("{jwks}my-jwk/");
    let (status, got) = server.get(&item, BOOTSTRAP).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["jwk"]["crv"], "P-256");

    // Update: a new source for the same name; the name cannot change.
    let mut update = paste("my-jwk", &okp_jwk());
    update["kid"] = json!("ed-1");
    update["useType"] = json!("SIGNATURE");
    update["algorithm"] = json!("EdDSA");
    let (status, updated) = server.put(&item, BOOTSTRAP, update.clone()).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        updated["deploymentResult"]["environmentResults"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let set = env_jwks(&server, &project_id, "staging").await;
    assert_eq!(set["keys"][0]["kid"], "ed-1");
    assert_eq!(set["keys"][0]["alg"], "EdDSA");
    assert_eq!(set["keys"][0]["use"], "sig");
    let mut renamed = update.clone();
    renamed["name"] = json!("other");
    let (status, body) = server.put(&item, BOOTSTRAP, renamed.clone()).await;
    assert_bad(status, &body, "JWK name can not be changed!");
    // PUT on the collection names the object in the body.
    let (status, body) = server.put(&jwks, BOOTSTRAP, renamed).await;
    assert_error(status, &body, 404, "not_found");
    let (status, _) = server
        .put(&jwks, BOOTSTRAP, paste("my-jwk", &ec_jwk()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        kids(&env_jwks(&server, &project_id, "production").await),
        ["ec-1"]
    );

    // A second object; each environment's JWKS lists both.
    let (status, _) = server
        .post(&jwks, BOOTSTRAP, paste("rsa", &rsa_jwk()))
        .await;
    assert_eq!(status, 200);
    let set = env_jwks(&server, &project_id, "production").await;
    assert_eq!(set["keys"].as_array().unwrap().len(), 2);
    // Without a kid, the RFC 7638 thumbprint names the key.
    assert_eq!(
        set["keys"][1]["kid"],
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );

    // Permissions: reading needs keys:read, writing keys:write.
    let auditor = server.key_with_role("auditor").await;
    let (status, _) = server.get(&jwks, &auditor).await;
    assert_eq!(status, 200);
    let (status, body) = server.post(&jwks, &auditor, paste("x", &okp_jwk())).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = server.get(&jwks, "").await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = server.get("/apiops/projects/nope/jwks/", BOOTSTRAP).await;
    assert_error(status, &body, 404, "not_found");

    // Delete: gone from the JWKS at once.
    let (status, body) = server.delete(&item, BOOTSTRAP).await;
    assert_eq!((status, &body), (200, &json!({"success": true})));
    let (status, body) = server.get(&item, BOOTSTRAP).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = server.delete(&item, BOOTSTRAP).await;
    assert_error(status, &body, 404, "not_found");
    assert_eq!(
        env_jwks(&server, &project_id, "staging").await["keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn required_fields_and_error_texts() {
    let server = start();
    let (_, name) = project(&server).await;
    let jwks = format!("/apiops/projects/{name}/jwks/");
    let post = |body: Value| {
        let server = &server;
        let jwks = jwks.clone();
        async move { server.post(&jwks, BOOTSTRAP, body).await }
    };
    let cases = [
        (
            json!({"sourceType": "URL", "url": "https://example.com/"}),
            "JWK name can not be empty!",
        ),
        (
            json!({"name": "  ", "sourceType": "URL"}),
            "JWK name can not be empty!",
        ),
        (json!({"name": "a"}), "Source type is required!"),
        (
            json!({"name": "a", "sourceType": "URL"}),
            "URL is required for URL source type!",
        ),
        (
            json!({"name": "a", "sourceType": "COPY_PASTE"}),
            "JWK string (jwkStr) is required for COPY_PASTE source type!",
        ),
        (
            json!({"name": "a", "sourceType": "GENERATE"}),
            "GENERATE source type is not supported here! Use the Generate JWK endpoint: POST /api/keys/jwt/generate",
        ),
        (
            json!({"name": "a", "sourceType": "FILE"}),
            "Source type (FILE) is not supported! Use one of URL, COPY_PASTE, CERTIFICATE, PUBLIC_KEY, PRIVATE_KEY, KEYSTORE.",
        ),
        (
            json!({"name": "a", "sourceType": "CERTIFICATE"}),
            "Certificate name is required for CERTIFICATE source type!",
        ),
        (
            json!({"name": "a", "sourceType": "CERTIFICATE", "certificateName": "c"}),
            "Environment name is required for CERTIFICATE source type!",
        ),
        (
            json!({"name": "a", "sourceType": "CERTIFICATE", "certificateName": "c", "environmentName": "production"}),
            "Use type is required for CERTIFICATE source type!",
        ),
        (
            json!({"name": "a", "sourceType": "CERTIFICATE", "certificateName": "c", "environmentName": "production", "useType": "SIGNATURE"}),
            "Algorithm is required for CERTIFICATE source type!",
        ),
        (
            json!({"name": "a", "sourceType": "CERTIFICATE", "certificateName": "my-certificate", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "RS256"}),
            "Certificate (name: my-certificate) is not found!",
        ),
        (
            json!({"name": "a", "sourceType": "CERTIFICATE", "certificateName": "c", "environmentName": "qa", "useType": "SIGNATURE", "algorithm": "RS256"}),
            "Environment (name: qa) is not found!",
        ),
        (
            json!({"name": "a", "sourceType": "PUBLIC_KEY"}),
            "Key name is required for PUBLIC_KEY source type!",
        ),
        (
            json!({"name": "a", "sourceType": "PRIVATE_KEY", "keyName": "k"}),
            "Environment name is required for PRIVATE_KEY source type!",
        ),
        (
            json!({"name": "a", "sourceType": "PUBLIC_KEY", "keyName": "my-key", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "RS256"}),
            "Key (name: my-key) is not found!",
        ),
        (
            json!({"name": "a", "sourceType": "KEYSTORE"}),
            "Key store name is required for KEYSTORE source type!",
        ),
        (
            json!({"name": "a", "sourceType": "KEYSTORE", "keyStoreName": "ks", "environmentName": "production"}),
            "Alias name is required for KEYSTORE source type!",
        ),
        (
            json!({"name": "a", "sourceType": "KEYSTORE", "keyStoreName": "ks", "environmentName": "production", "aliasName": "x", "useType": "SIGNATURE", "algorithm": "RS256"}),
            "Key store (name: ks) is not found!",
        ),
        (
            json!({"name": "a", "sourceType": "COPY_PASTE", "jwkStr": ec_jwk().to_string(), "useType": "SIGN"}),
            "Use type (SIGN) is not valid! Use SIGNATURE or ENCRYPTION.",
        ),
        (
            json!({"name": "a", "sourceType": "URL", "url": "https://example.com/", "urlOptionConnectTimeout": 0}),
            "urlOptionConnectTimeout must be between 1 and 60000!",
        ),
        (
            json!({"name": "a", "sourceType": "URL", "url": "https://example.com/", "urlOptionSizeLimit": 999_999_999}),
            "urlOptionSizeLimit must be between 1 and 10485760!",
        ),
        (
            json!({"name": "a", "sourceType": "COPY_PASTE", "jwkStr": json!({"keys": [ec_jwk(), okp_jwk()]}).to_string()}),
            "kid is required when the source contains multiple keys (JWK Set)!",
        ),
    ];
    for (body, text) in cases {
        let (status, answer) = post(body.clone()).await;
        assert_bad(status, &answer, text);
    }
    // Malformed material names the problem.
    for (jwk_str, needle) in [
        ("not json", "not valid JSON"),
        (r#"{"kty":"oct","k":"AAAA"}"#, "symmetric"),
        (r#"{"keys":[]}"#, "no keys"),
    ] {
        let (status, answer) =
            post(json!({"name": "a", "sourceType": "COPY_PASTE", "jwkStr": jwk_str})).await;
        assert_bad_contains(status, &answer, needle);
        assert!(
            answer["error_description"]
                .as_str()
                .unwrap()
                .starts_with("JWK could not be loaded from the COPY_PASTE source: ")
        );
    }
    // A kid picks one key of a set.
    let set = json!({"keys": [ec_jwk(), {"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "ed"}]});
    let (status, answer) = post(json!({"name": "picked", "sourceType": "COPY_PASTE", "jwkStr": set.to_string(), "kid": "ed"})).await;
    assert_eq!(status, 200, "{answer}");
    let (_, got) = server.get(&format!("{jwks}picked/"), BOOTSTRAP).await;
    assert_eq!(got["jwk"]["crv"], "Ed25519");
    // Unknown fields are refused, in the shared shape.
    let (status, answer) = post(json!({"name": "a", "sourceType": "URL", "bogus": 1})).await;
    assert_error(status, &answer, 400, "bad_request");
}

#[tokio::test]
async fn algorithm_table_per_key_type_and_use() {
    let server = start();
    let (_, name) = project(&server).await;
    let jwks = format!("/apiops/projects/{name}/jwks/");
    let ok: &[(Value, &str, &[&str])] = &[
        (
            rsa_jwk(),
            "SIGNATURE",
            &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
        ),
        (
            rsa_jwk(),
            "ENCRYPTION",
            &[
                "RSA1_5",
                "RSA-OAEP",
                "RSA-OAEP-256",
                "RSA-OAEP-384",
                "RSA-OAEP-512",
            ],
        ),
        (
            ec_jwk(),
            "SIGNATURE",
            &["ES256", "ES384", "ES512", "ES256K"],
        ),
        (
            ec_jwk(),
            "ENCRYPTION",
            &[
                "ECDH-ES",
                "ECDH-ES+A128KW",
                "ECDH-ES+A192KW",
                "ECDH-ES+A256KW",
                "ECDH-1PU",
                "ECDH-1PU+A128KW",
                "ECDH-1PU+A192KW",
                "ECDH-1PU+A256KW",
            ],
        ),
        (okp_jwk(), "SIGNATURE", &["EdDSA"]),
        (
            okp_jwk(),
            "ENCRYPTION",
            &[
                "ECDH-ES",
                "ECDH-ES+A128KW",
                "ECDH-ES+A192KW",
                "ECDH-ES+A256KW",
                "ECDH-1PU",
                "ECDH-1PU+A128KW",
                "ECDH-1PU+A192KW",
                "ECDH-1PU+A256KW",
            ],
        ),
    ];
    let mut n = 0;
    for (jwk, use_type, algorithms) in ok {
        for alg in *algorithms {
            n += 1;
            let mut body = paste(&format!("k{n}"), jwk);
            body["useType"] = json!(use_type);
            body["algorithm"] = json!(alg);
            let (status, answer) = server.post(&jwks, BOOTSTRAP, body).await;
            assert_eq!(status, 200, "{use_type} {alg}: {answer}");
            let (_, got) = server.get(&format!("{jwks}k{n}/"), BOOTSTRAP).await;
            assert_eq!(got["jwk"]["alg"], *alg);
            let expected_use = if *use_type == "SIGNATURE" {
                "sig"
            } else {
                "enc"
            };
            assert_eq!(got["jwk"]["use"], expected_use);
        }
    }
    let bad: &[(Value, &str, &str, &str)] = &[
        (
            rsa_jwk(),
            "SIGNATURE",
            "RSA",
            "Algorithm (RSA) is a key type, not an algorithm! Use a valid algorithm name (e.g., use RS256 not RSA).",
        ),
        (
            ec_jwk(),
            "SIGNATURE",
            "EC",
            "Algorithm (EC) is a key type, not an algorithm! Use a valid algorithm name (e.g., use RS256 not RSA).",
        ),
        (
            okp_jwk(),
            "SIGNATURE",
            "OKP",
            "Algorithm (OKP) is a key type, not an algorithm! Use a valid algorithm name (e.g., use RS256 not RSA).",
        ),
        (
            rsa_jwk(),
            "SIGNATURE",
            "ES256",
            "Algorithm (ES256) is not valid for key type RSA with use type SIGNATURE! Valid algorithms: RS256, RS384, RS512, PS256, PS384, PS512.",
        ),
        (
            rsa_jwk(),
            "ENCRYPTION",
            "RS256",
            "Algorithm (RS256) is not valid for key type RSA with use type ENCRYPTION! Valid algorithms: RSA1_5, RSA-OAEP, RSA-OAEP-256, RSA-OAEP-384, RSA-OAEP-512.",
        ),
        (
            ec_jwk(),
            "SIGNATURE",
            "EdDSA",
            "Algorithm (EdDSA) is not valid for key type EC with use type SIGNATURE! Valid algorithms: ES256, ES384, ES512, ES256K.",
        ),
        (
            ec_jwk(),
            "ENCRYPTION",
            "RSA-OAEP",
            "Algorithm (RSA-OAEP) is not valid for key type EC with use type ENCRYPTION! Valid algorithms: ECDH-ES, ECDH-ES+A128KW, ECDH-ES+A192KW, ECDH-ES+A256KW, ECDH-1PU, ECDH-1PU+A128KW, ECDH-1PU+A192KW, ECDH-1PU+A256KW.",
        ),
        (
            okp_jwk(),
            "SIGNATURE",
            "ES256",
            "Algorithm (ES256) is not valid for key type OKP with use type SIGNATURE! Valid algorithms: EdDSA.",
        ),
        (
            okp_jwk(),
            "ENCRYPTION",
            "A128KW",
            "Algorithm (A128KW) is not valid for key type OKP with use type ENCRYPTION! Valid algorithms: ECDH-ES, ECDH-ES+A128KW, ECDH-ES+A192KW, ECDH-ES+A256KW, ECDH-1PU, ECDH-1PU+A128KW, ECDH-1PU+A192KW, ECDH-1PU+A256KW.",
        ),
        (
            rsa_jwk(),
            "SIGNATURE",
            "rs256",
            "Algorithm (rs256) is not valid for key type RSA with use type SIGNATURE! Valid algorithms: RS256, RS384, RS512, PS256, PS384, PS512.",
        ),
    ];
    for (jwk, use_type, alg, text) in bad {
        let mut body = paste("bad", jwk);
        body["useType"] = json!(use_type);
        body["algorithm"] = json!(alg);
        let (status, answer) = server.post(&jwks, BOOTSTRAP, body).await;
        assert_bad(status, &answer, text);
    }
    // An `alg` inside the pasted JWK is held to the same table.
    let mut jwk = rsa_jwk();
    jwk["alg"] = json!("ES256");
    jwk["use"] = json!("sig");
    let (status, answer) = server.post(&jwks, BOOTSTRAP, paste("inner", &jwk)).await;
    assert_bad_contains(
        status,
        &answer,
        "Algorithm (ES256) is not valid for key type RSA",
    );
    // OCT keys are symmetric: never published.
    let (status, answer) = server
        .post(
            &jwks,
            BOOTSTRAP,
            paste("oct", &json!({"kty": "oct", "k": "AAAA"})),
        )
        .await;
    assert_bad_contains(status, &answer, "symmetric");
}

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

#[tokio::test]
async fn key_certificate_and_keystore_sources() {
    let server = start();
    let (project_id, name) = project(&server).await;
    let jwks = format!("/apiops/projects/{name}/jwks/");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.pem",
        ],
    );
    openssl(
        d,
        &["pkey", "-in", "rsa.pem", "-pubout", "-out", "rsa-pub.pem"],
    );
    openssl(
        d,
        &[
            "ecparam",
            "-name",
            "secp384r1",
            "-genkey",
            "-noout",
            "-out",
            "ec.pem",
        ],
    );
    openssl(d, &["genpkey", "-algorithm", "ed25519", "-out", "ed.pem"]);
    let read = |f: &str| std::fs::read_to_string(d.join(f)).unwrap();
    let keys = format!("/api/v1/projects/{project_id}/environments/production/keys");
    for (key, file) in [
        ("rsa-pub", "rsa-pub.pem"),
        ("rsa", "rsa.pem"),
        ("ec", "ec.pem"),
        ("ed", "ed.pem"),
    ] {
        let (status, body) = server
            .post(&keys, BOOTSTRAP, json!({"name": key, "pem": read(file)}))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let from_key = |jwk: &str, source: &str, key: &str, use_type: &str, alg: &str| {
        json!({"name": jwk, "description": "JWK from key", "sourceType": source, "keyName": key,
               "environmentName": "production", "useType": use_type, "algorithm": alg})
    };
    for body in [
        from_key("pub", "PUBLIC_KEY", "rsa-pub", "SIGNATURE", "RS256"),
        from_key("priv", "PRIVATE_KEY", "rsa", "ENCRYPTION", "RSA-OAEP-256"),
        from_key("ec", "PRIVATE_KEY", "ec", "SIGNATURE", "ES384"),
    ] {
        let (status, answer) = server.post(&jwks, BOOTSTRAP, body).await;
        assert_eq!(status, 200, "{answer}");
    }
    let (_, public) = server.get(&format!("{jwks}pub/"), BOOTSTRAP).await;
    let (_, private) = server.get(&format!("{jwks}priv/"), BOOTSTRAP).await;
    assert_eq!(public["jwk"]["n"], private["jwk"]["n"], "one key pair");
    assert_eq!(private["jwk"]["use"], "enc");
    assert!(private["jwk"].get("d").is_none());
    assert_eq!(public["source"]["keyName"], "rsa-pub");
    assert_eq!(public["source"]["environmentName"], "production");
    let (_, ec) = server.get(&format!("{jwks}ec/"), BOOTSTRAP).await;
    assert_eq!(
        (&ec["jwk"]["crv"], &ec["jwk"]["alg"]),
        (&json!("P-384"), &json!("ES384"))
    );
    let set = env_jwks(&server, &project_id, "staging").await;
    assert_eq!(set["keys"].as_array().unwrap().len(), 3);
    assert!(!set.to_string().contains("\"d\""));

    for (body, text) in [
        (
            from_key("x", "PUBLIC_KEY", "rsa", "SIGNATURE", "RS256"),
            "Key (name: rsa) is a private key, not a public key! Use the PRIVATE_KEY source type.",
        ),
        (
            from_key("x", "PRIVATE_KEY", "rsa", "SIGNATURE", "ES256"),
            "Algorithm (ES256) is not valid for key type RSA with use type SIGNATURE! Valid algorithms: RS256, RS384, RS512, PS256, PS384, PS512.",
        ),
        (
            from_key("x", "PRIVATE_KEY", "rsa", "SIGNATURE", "RSA"),
            "Algorithm (RSA) is a key type, not an algorithm! Use a valid algorithm name (e.g., use RS256 not RSA).",
        ),
    ] {
        let (status, answer) = server.post(&jwks, BOOTSTRAP, body).await;
        assert_bad(status, &answer, text);
    }
    let (status, answer) = server
        .post(
            &jwks,
            BOOTSTRAP,
            from_key("x", "PRIVATE_KEY", "ed", "SIGNATURE", "EdDSA"),
        )
        .await;
    assert_bad_contains(status, &answer, "does not carry its public key");
    // Keys live per environment: staging has none of them.
    let mut staging = from_key("x", "PUBLIC_KEY", "rsa-pub", "SIGNATURE", "RS256");
    staging["environmentName"] = json!("staging");
    let (status, answer) = server.post(&jwks, BOOTSTRAP, staging).await;
    assert_bad(status, &answer, "Key (name: rsa-pub) is not found!");

    // CERTIFICATE: an issued certificate, by common name or id.
    let scratch = Scratch::new();
    let (_, _, template) = hierarchy(&server, BOOTSTRAP, json!({
        "allowed_san_types": ["dns"], "dns_patterns": ["*.example.com"], "extended_key_usage": ["server_auth"],
    }))
    .await;
    let csr = scratch.csr("leaf.csr", "/CN=api.example.com", "DNS:api.example.com");
    let (status, cert) = submit(&server, BOOTSTRAP, json!({
        "template_id": template["id"], "project_id": project_id, "csr_source_mode": "uploaded_csr", "csr_pem": csr,
    }))
    .await;
    assert_eq!(status, 201, "{cert}");
    let from_cert = |jwk: &str, cert: &str, alg: &str| {
        json!({"name": jwk, "sourceType": "CERTIFICATE", "certificateName": cert,
               "environmentName": "production", "useType": "SIGNATURE", "algorithm": alg})
    };
    let (status, answer) = server
        .post(
            &jwks,
            BOOTSTRAP,
            from_cert("cert", "api.example.com", "ES256"),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (_, got) = server.get(&format!("{jwks}cert/"), BOOTSTRAP).await;
    assert_eq!(got["jwk"]["crv"], "P-256");
    assert_eq!(got["jwk"]["x5c"].as_array().unwrap().len(), 1);
    let id = cert["id"].as_str().unwrap();
    let (status, answer) = server
        .post(&jwks, BOOTSTRAP, from_cert("by-id", id, "ES256"))
        .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server
        .post(&jwks, BOOTSTRAP, from_cert("x", "api.example.com", "RS256"))
        .await;
    assert_bad(
        status,
        &answer,
        "Algorithm (RS256) is not valid for key type EC with use type SIGNATURE! Valid algorithms: ES256, ES384, ES512, ES256K.",
    );
    let (status, answer) = server
        .post(&jwks, BOOTSTRAP, from_cert("x", "my-certificate", "ES256"))
        .await;
    assert_bad(
        status,
        &answer,
        "Certificate (name: my-certificate) is not found!",
    );

    // KEYSTORE: an entry of a PKCS#12 (OpenSSL) or a JKS (keytool) keystore.
    openssl(
        d,
        &[
            "req", "-x509", "-key", "rsa.pem", "-subj", "/CN=ks", "-days", "1", "-out", "ks.pem",
        ],
    );
    openssl(
        d,
        &[
            "pkcs12", "-export", "-inkey", "rsa.pem", "-in", "ks.pem", "-name", "my-alias",
            "-passout", "pass:pw", "-out", "ks.p12",
        ],
    );
    use base64::Engine as _;
    let p12 =
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(d.join("ks.p12")).unwrap());
    let stores = format!("/api/v1/projects/{project_id}/environments/production/keystores");
    let (status, body) = server
        .post(
            &stores,
            BOOTSTRAP,
            json!({"name": "ks", "format": "PKCS12", "content": p12, "password": "pw"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let keytool = std::process::Command::new("keytool")
        .args([
            "-importkeystore",
            "-srckeystore",
            "ks.p12",
            "-srcstoretype",
            "PKCS12",
            "-srcstorepass",
            "pw",
            "-destkeystore",
            "ks.jks",
            "-deststoretype",
            "JKS",
            "-deststorepass",
            "jks-pw",
            "-destkeypass",
            "jks-pw",
            "-noprompt",
        ])
        .current_dir(d)
        .output()
        .expect("keytool (a Java runtime) is installed");
    assert!(keytool.status.success(), "{keytool:?}");
    let jks =
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(d.join("ks.jks")).unwrap());
    let (status, body) = server
        .post(
            &stores,
            BOOTSTRAP,
            json!({"name": "java", "format": "JKS", "content": jks, "password": "jks-pw"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let from_store = |name: &str, store: &str, alias: &str| {
        json!({"name": name, "sourceType": "KEYSTORE", "keyStoreName": store,
               "environmentName": "production", "aliasName": alias, "useType": "SIGNATURE",
               "algorithm": "RS256"})
    };
    let ks_cert = std::fs::read_to_string(d.join("ks.pem")).unwrap();
    let ks_der = pem_der(&ks_cert);
    for (name, store) in [("from-p12", "ks"), ("from-jks", "java")] {
        let (status, answer) = server
            .post(&jwks, BOOTSTRAP, from_store(name, store, "My-Alias"))
            .await;
        assert_eq!(status, 200, "{answer}");
        let (_, got) = server.get(&format!("{jwks}{name}/"), BOOTSTRAP).await;
        assert_eq!(got["jwk"]["kty"], "RSA", "{got}");
        assert_eq!(got["jwk"]["alg"], "RS256");
        assert_eq!(got["jwk"]["x5c"], json!([ks_der]), "{got}");
        assert!(
            got["jwk"].get("d").is_none(),
            "never a private member: {got}"
        );
    }
    let (status, answer) = server
        .post(&jwks, BOOTSTRAP, from_store("x", "java", "nobody"))
        .await;
    assert_bad_contains(
        status,
        &answer,
        "alias 'nobody' is not in the keystore (its aliases: my-alias)",
    );
    let (status, answer) = server
        .post(
            &jwks,
            BOOTSTRAP,
            from_store("x", "no-such-store", "my-alias"),
        )
        .await;
    assert_bad(
        status,
        &answer,
        "Key store (name: no-such-store) is not found!",
    );
}

/// The base64 DER of a PEM certificate, as `x5c` carries it.
fn pem_der(pem: &str) -> String {
    pem.lines()
        .filter(|line| !line.starts_with("-----"))
        .collect()
}

/// A raw HTTP server for URL sources: `/jwks.json` (a set of two keys), `/big`
/// (50 MB), `/drip` (a byte every 200 ms), `/malformed`, `/stall` (never answers).
async fn hostile_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let ok = |len: usize| {
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n"
                    )
                };
                match path.as_str() {
                    "/jwks.json" => {
                        let body = json!({"keys": [ec_jwk(), {"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "ed"}]}).to_string();
                        let _ = tcp
                            .write_all(format!("{}{body}", ok(body.len())).as_bytes())
                            .await;
                    }
                    "/malformed" => {
                        let body = r#"{"keys": [{"kty": "EC","#;
                        let _ = tcp
                            .write_all(format!("{}{body}", ok(body.len())).as_bytes())
                            .await;
                    }
                    "/big" => {
                        let total = 50 * 1024 * 1024;
                        if tcp.write_all(ok(total).as_bytes()).await.is_err() {
                            return;
                        }
                        let chunk = vec![b' '; 64 * 1024];
                        for _ in 0..total / chunk.len() {
                            if tcp.write_all(&chunk).await.is_err() {
                                return;
                            }
                        }
                    }
                    "/drip" => {
                        if tcp.write_all(ok(100_000).as_bytes()).await.is_err() {
                            return;
                        }
                        for _ in 0..100_000 {
                            if tcp.write_all(b" ").await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                    _ => tokio::time::sleep(Duration::from_secs(120)).await,
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn url_source_and_hostile_servers() {
    let server = start();
    let (project_id, name) = project(&server).await;
    let jwks = format!("/apiops/projects/{name}/jwks/");
    let addr = hostile_server().await;
    let url = |path: &str| format!("http://{addr}{path}");

    let (status, answer) = server
        .post(
            &jwks,
            BOOTSTRAP,
            json!({
        "name": "remote", "description": "JWK from URL", "sourceType": "URL",
        "url": url("/jwks.json"), "kid": "ed"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (_, got) = server.get(&format!("{jwks}remote/"), BOOTSTRAP).await;
    assert_eq!(got["jwk"]["kid"], "ed");
    // The defaults are stored with the object.
    assert_eq!(got["source"]["urlOptionConnectTimeout"], 5000);
    assert_eq!(got["source"]["urlOptionReadTimeout"], 10000);
    assert_eq!(got["source"]["urlOptionSizeLimit"], 1048576);
    assert_eq!(
        kids(&env_jwks(&server, &project_id, "production").await),
        ["ed"]
    );

    let remote = |name: &str, path: &str, extra: Value| {
        let mut body = json!({"name": name, "sourceType": "URL", "url": url(path)});
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        body
    };
    let (status, answer) = server
        .post(&jwks, BOOTSTRAP, remote("set", "/jwks.json", json!({})))
        .await;
    assert_bad(
        status,
        &answer,
        "kid is required when the source contains multiple keys (JWK Set)!",
    );
    let (status, answer) = server
        .post(
            &jwks,
            BOOTSTRAP,
            remote("set", "/jwks.json", json!({"kid": "zz"})),
        )
        .await;
    assert_bad_contains(status, &answer, "no key with kid 'zz'");

    // Hostile sources: clear 400s, within the timeouts.
    let cases = [
        (
            remote("h", "/big", json!({})),
            "larger than 1048576 bytes",
            15,
        ),
        (
            remote("h", "/jwks.json", json!({"urlOptionSizeLimit": 100})),
            "larger than 100 bytes",
            5,
        ),
        (
            remote(
                "h",
                "/drip",
                json!({"urlOptionReadTimeout": 1000, "urlOptionConnectTimeout": 1000}),
            ),
            "timed out",
            8,
        ),
        (
            remote(
                "h",
                "/stall",
                json!({"urlOptionReadTimeout": 1000, "urlOptionConnectTimeout": 1000}),
            ),
            "timed out",
            8,
        ),
        (remote("h", "/malformed", json!({})), "not valid JSON", 5),
        (
            json!({"name": "h", "sourceType": "URL", "url": "http://169.254.169.254/latest"}),
            "not allowed by the network policy",
            5,
        ),
        (
            json!({"name": "h", "sourceType": "URL", "url": "ftp://example.com/jwks"}),
            "invalid URL",
            5,
        ),
    ];
    for (body, needle, seconds) in cases {
        let started = Instant::now();
        let (status, answer) = server.post(&jwks, BOOTSTRAP, body.clone()).await;
        assert_bad_contains(status, &answer, needle);
        assert!(
            started.elapsed() < Duration::from_secs(seconds),
            "{body}: took {:?}",
            started.elapsed()
        );
    }
    // The server is still healthy afterwards.
    let (status, _) = server.get(&jwks, BOOTSTRAP).await;
    assert_eq!(status, 200);
}

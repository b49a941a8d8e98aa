//! One test per first-party plugin; `assert_test_exists` makes a plugin
//! without one a compile error.

use bytes::Bytes;
use hmac::{Hmac, Mac};
use keystead::config::Config;
use keystead::plugins::jwk_source::{JwkRequest, Keystore, KeystoreFormat, Material, SourceType};
use keystead::plugins::rotation_target::{Bundle, Credentials};
use keystead::plugins::template_validator::Verdict;
use keystead::plugins::webhook_transport::{Endpoint, Event};
use keystead::plugins::{PluginConfig, PluginError, Registry, Tenant};

use crate::harness::{self, request};

macro_rules! assert_test_exists {
    ($name:ident) => {
        #[allow(unused_imports)]
        use self::$name as _;
    };
}
keystead::foreach_builtin_plugin!(assert_test_exists);

fn tenant(org: &str) -> Tenant {
    Tenant {
        organization_id: org.into(),
        project_id: None,
    }
}

fn builtin(name: &str) -> PluginConfig {
    PluginConfig::defaults()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap()
}

async fn load(entry: PluginConfig) -> Registry {
    harness::load(vec![entry]).await
}

#[tokio::test]
async fn dns_suffix() {
    let mut e = builtin("dns-suffix");
    e.config = toml::from_str("default = [\"example.com\"]\n[tenants]\norg-b = [\"corp.test\"]\n")
        .unwrap();
    let registry = load(e).await;
    let v = registry.template_validator("dns-suffix").unwrap();
    let ok = v
        .validate(
            &request("org-a", "web", &["a.example.com", "example.com"]),
            "{}",
        )
        .await;
    assert_eq!(ok.unwrap(), Verdict::Allow);
    let Verdict::Deny(violations) = v
        .validate(
            &request(
                "org-a",
                "web",
                &["a.example.com", "evil.com", "badexample.com"],
            ),
            "{}",
        )
        .await
        .unwrap()
    else {
        panic!("expected a denial")
    };
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["sans.dns[1]", "sans.dns[2]"]);
    // Per tenant: org-b has its own list, and its tenant config can narrow it.
    let req = request("org-b", "web", &["x.corp.test"]);
    assert_eq!(v.validate(&req, "{}").await.unwrap(), Verdict::Allow);
    let narrowed = v
        .validate(&req, r#"{"allowed_suffixes": ["other.corp.test"]}"#)
        .await;
    assert!(matches!(narrowed.unwrap(), Verdict::Deny(_)));
    let bad = v.validate(&req, r#"{"allowed": 1}"#).await.unwrap_err();
    assert!(matches!(bad, PluginError::Invalid { .. }), "{bad:?}");
    assert_eq!(bad.http_status(), 422);

    let mut e = builtin("dns-suffix");
    e.config = toml::from_str("default = [\"not a suffix\"]").unwrap();
    let err = Registry::load(&[e], &harness::options())
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with("plugin dns-suffix: rejected its config"),
        "{err}"
    );
}

#[tokio::test]
async fn copy_paste() {
    let registry = load(builtin("copy-paste")).await;
    let source = registry.jwk_source("copy-paste").unwrap();
    let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    let y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    let set = format!(
        r#"{{"keys":[{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}","d":"jpsQnnGQmL-YBIffH1136cLjlmUzT5ulyQ-YoTGdjvE","kid":"k1","use":"sig"}}]}}"#
    );
    let req = |text: &str, kid: Option<&str>| JwkRequest {
        tenant: tenant("org-a"),
        source_type: SourceType::CopyPaste,
        material: Material::Text(text.into()),
        kid: kid.map(str::to_owned),
    };
    let keys = source.load(&req(&set, None)).await.unwrap();
    assert_eq!(keys.len(), 1);
    let jwk: serde_json::Value = serde_json::from_str(&keys[0]).unwrap();
    assert_eq!(jwk["kid"], "k1");
    assert_eq!(jwk["x"], x);
    assert!(
        jwk.get("d").is_none(),
        "the private member must not come back"
    );

    let cases = [
        (r#"{"kty":"oct","k":"AAAA"}"#, "symmetric"),
        (
            r#"{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}"#,
            "32 bytes",
        ),
        (r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#, "2048"),
        ("not json", "not valid JSON"),
        (r#"{"keys":[]}"#, "no keys"),
    ];
    for (text, needle) in cases {
        let err = source.load(&req(text, None)).await.unwrap_err();
        assert!(
            matches!(&err, PluginError::Invalid { message, .. } if message.contains(needle)),
            "{text}: {err:?}"
        );
    }
    let err = source.load(&req(&set, Some("nope"))).await.unwrap_err();
    assert!(err.to_string().contains("no key with kid"), "{err}");
}

/// A bundle with dummy PEM bodies (no key-shaped line sits in the source).
fn sample_bundle() -> Bundle {
    Bundle {
        tenant: tenant("org-a"),
        certificate_id: "cert-1".into(),
        serial: "01ab".into(),
        version: 3,
        names: vec!["www.example.com".into()],
        certificate_pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
        chain_pem: "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n".into(),
        private_key_pem: Some(
            // A dummy body, assembled so that no key-shaped line sits in the source.
            concat!(
                "-----BEGIN ",
                "PRIVATE KEY-----\nCCCC\n-----END ",
                "PRIVATE KEY-----\n"
            )
            .into(),
        ),
        not_after: 1_900_000_000,
    }
}

fn credentials(id: Option<&str>, secret: Option<&str>) -> Credentials {
    Credentials {
        id: id.map(str::to_owned),
        secret: secret.map(str::to_owned),
    }
}

fn is_invalid(err: &PluginError, needle: &str) -> bool {
    matches!(err, PluginError::Invalid { message, .. } if message.contains(needle))
}

#[tokio::test]
async fn filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = builtin("filesystem");
    e.directories = vec![keystead::plugins::DirectoryGrant {
        host: dir.path().to_owned(),
        guest: "/certs".into(),
        read_only: false,
    }];
    let registry = load(e).await;
    let target = registry.rotation_target("filesystem").unwrap();
    let bundle = sample_bundle();
    let creds = credentials(None, None);
    let receipt = target
        .push(&bundle, r#"{"directory": "web"}"#, &creds)
        .await
        .unwrap();
    assert_eq!(receipt.location, "/certs/web/www.example.com.crt");
    assert_eq!(receipt.version.as_deref(), Some("3"));
    let web = dir.path().join("web");
    let read = |f: &str| std::fs::read_to_string(web.join(f)).unwrap();
    assert!(read("www.example.com.crt").contains("AAAA"));
    assert!(read("www.example.com.chain.pem").contains("BBBB"));
    assert!(read("www.example.com.fullchain.pem").contains("AAAA"));
    assert!(read("www.example.com.key").contains("CCCC"));
    let leftovers: Vec<_> = std::fs::read_dir(&web)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");

    // Names that would leave the directory are refused, not rewritten, and nothing is written.
    for bad in [
        r#"{"directory": "../escape"}"#,
        r#"{"directory": "/abs"}"#,
        r#"{"name": "../../etc/passwd"}"#,
        r#"{"name": ".hidden"}"#,
        r#"{"name": "a/b"}"#,
        r#"{"destination": ".."}"#,
        r#"{"nme": "typo"}"#,
    ] {
        let err = target.push(&bundle, bad, &creds).await.unwrap_err();
        assert!(matches!(err, PluginError::Invalid { .. }), "{bad}: {err:?}");
        let err = target.check_target("org-a", bad, &creds).await.unwrap_err();
        assert!(matches!(err, PluginError::Invalid { .. }), "{bad}: {err:?}");
    }
    target
        .check_target("org-a", r#"{"directory": "web", "name": "site"}"#, &creds)
        .await
        .unwrap();
    let all: Vec<_> = walk(dir.path());
    assert!(
        all.iter().all(|p| p.starts_with(dir.path().join("web"))),
        "{all:?}"
    );

    // The host's destination and create-only flag; a key-only deposit writes the key alone.
    let mut key_only = sample_bundle();
    key_only.certificate_pem = String::new();
    let receipt = target
        .push(
            &key_only,
            r#"{"destination": "vault-key", "create_new_secret": true}"#,
            &creds,
        )
        .await
        .unwrap();
    assert_eq!(receipt.location, "/certs/vault-key.key");
    assert!(dir.path().join("vault-key.key").exists());
    assert!(!dir.path().join("vault-key.crt").exists());
    let err = target
        .push(
            &key_only,
            r#"{"destination": "vault-key", "create_new_secret": true}"#,
            &creds,
        )
        .await
        .unwrap_err();
    assert!(is_invalid(&err, "exists already"), "{err:?}");
    // The certificate follows without its key; the stored key stays.
    let mut no_key = sample_bundle();
    no_key.private_key_pem = None;
    target
        .push(&no_key, r#"{"destination": "vault-key"}"#, &creds)
        .await
        .unwrap();
    assert!(
        std::fs::read_to_string(dir.path().join("vault-key.key"))
            .unwrap()
            .contains("CCCC")
    );
    assert!(dir.path().join("vault-key.crt").exists());

    // Without a directory grant the plugin has nowhere to write.
    let registry = load(builtin("filesystem")).await;
    let target = registry.rotation_target("filesystem").unwrap();
    let err = target.push(&bundle, "{}", &creds).await.unwrap_err();
    assert!(matches!(err, PluginError::Denied { .. }), "{err:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A loopback-allowed entry for a first-party webhook transport.
fn transport_entry(name: &str) -> PluginConfig {
    let mut e = builtin(name);
    e.allowed_hosts = vec!["127.0.0.1".into()];
    e.allow_loopback = true;
    e
}

fn webhook_event(event_type: &str, payload: &str) -> Event {
    Event {
        id: "evt-1".into(),
        event_type: event_type.into(),
        timestamp: 1_700_000_000,
        tenant: Tenant {
            organization_id: "org-a".into(),
            project_id: Some("proj-1".into()),
        },
        payload: payload.into(),
    }
}

/// Checks `X-Keystead-Signature` (and its `X-WRVault-Signature` twin) over `<t>.<body>`.
fn assert_signed(headers: &http::HeaderMap, body: &[u8], secret: &[u8]) {
    let sig = headers["x-keystead-signature"].to_str().unwrap();
    assert_eq!(headers["x-wrvault-signature"], sig);
    let (t, v1) = sig
        .strip_prefix("t=")
        .and_then(|s| s.split_once(",v1="))
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    assert_eq!(hex::encode(mac.finalize().into_bytes()), v1);
}

#[tokio::test]
async fn http_hmac() {
    let (addr, seen) = harness::serve(204, Bytes::new()).await;
    let registry = load(transport_entry("http-hmac")).await;
    let transport = registry.webhook_transport("http-hmac").unwrap();
    let event = webhook_event("certificate.issued", r#"{"certificateId":"c1"}"#);
    let endpoint = Endpoint {
        url: format!("http://{addr}/hook"),
        secret: Some("s3cret".into()),
        config: r#"{"headers": {"X-Extra": "1"}}"#.into(),
    };
    let delivery = transport.deliver(&event, &endpoint).await.unwrap();
    assert_eq!(delivery.status_code, 204);

    let (headers, body) = seen.lock().unwrap().pop().unwrap();
    assert_signed(&headers, &body, b"s3cret");
    assert_eq!(headers["x-extra"], "1");
    assert_eq!(headers["x-keystead-event"], "certificate.issued");
    assert_eq!(headers["x-keystead-event-id"], "evt-1");
    assert_eq!(headers["content-type"], "application/json");
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["id"], "evt-1");
    assert_eq!(json["type"], "certificate.issued");
    assert_eq!(json["createdAt"], "2023-11-14T22:13:20Z");
    assert_eq!(json["projectId"], "proj-1");
    assert_eq!(json["data"]["certificateId"], "c1");

    // Reserved headers cannot be replaced; a secret is required.
    let forged = Endpoint {
        config: r#"{"headers": {"X-Keystead-Signature": "t=1,v1=00"}}"#.into(),
        ..endpoint.clone()
    };
    let err = transport.deliver(&event, &forged).await.unwrap_err();
    assert!(matches!(err, PluginError::Invalid { .. }), "{err:?}");
    let unsigned = Endpoint {
        secret: None,
        ..endpoint.clone()
    };
    let err = transport.deliver(&event, &unsigned).await.unwrap_err();
    assert!(matches!(err, PluginError::Invalid { .. }), "{err:?}");

    // Without the loopback grant the same endpoint is refused.
    let mut e = builtin("http-hmac");
    e.name = "strict".into();
    let registry = load(e).await;
    let strict = registry.webhook_transport("strict").unwrap();
    let err = strict.deliver(&event, &endpoint).await.unwrap_err();
    assert!(matches!(err, PluginError::Denied { .. }), "{err:?}");
}

#[tokio::test]
async fn slack() {
    let (addr, seen) = harness::serve(200, Bytes::from_static(b"ok")).await;
    let registry = load(transport_entry("slack")).await;
    let transport = registry.webhook_transport("slack").unwrap();
    let endpoint = Endpoint {
        url: format!("http://{addr}/services/T000/B000/XXXX"),
        secret: Some("s3cret".into()),
        config: "{}".into(),
    };
    let cases = [
        (
            "certificate.expiring",
            r#"{"commonName":"api.example.com","daysLeft":7,"notAfter":"2026-05-13T00:00:00Z","serialNumber":"01:02"}"#,
            &[
                "expires in 7 days",
                "*api.example.com*",
                "2026-05-13",
                "01:02",
            ][..],
        ),
        (
            "certificate.revoked",
            r#"{"commonName":"a<b>&c","reason":"keyCompromise"}"#,
            &["revoked", "keyCompromise", "a&lt;b&gt;&amp;c"][..],
        ),
        (
            "key.rotated",
            r#"{"name":"prod","kid":"new","previousKid":"old"}"#,
            &["*prod*", "`new`", "`old`"][..],
        ),
    ];
    for (event_type, payload, needles) in cases {
        let delivery = transport
            .deliver(&webhook_event(event_type, payload), &endpoint)
            .await
            .unwrap();
        assert_eq!(delivery.status_code, 200);
        let (headers, body) = seen.lock().unwrap().pop().unwrap();
        assert_signed(&headers, &body, b"s3cret");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let text = json["text"].as_str().unwrap();
        assert_eq!(json.as_object().unwrap().len(), 1, "{json}");
        for needle in needles {
            assert!(text.contains(needle), "{needle}: {text}");
        }
    }
}

#[tokio::test]
async fn cloudevents() {
    let (addr, seen) = harness::serve(202, Bytes::new()).await;
    let mut e = transport_entry("cloudevents");
    e.config = toml::from_str("source = \"https://pki.example.com\"").unwrap();
    let registry = load(e).await;
    let transport = registry.webhook_transport("cloudevents").unwrap();
    let endpoint = Endpoint {
        url: format!("http://{addr}/events"),
        secret: Some("s3cret".into()),
        config: "{}".into(),
    };
    let event = webhook_event(
        "certificate.issued",
        r#"{"certificateId":"c1","commonName":"api.example.com"}"#,
    );
    let delivery = transport.deliver(&event, &endpoint).await.unwrap();
    assert_eq!(delivery.status_code, 202);
    let (headers, body) = seen.lock().unwrap().pop().unwrap();
    assert_signed(&headers, &body, b"s3cret");
    assert_eq!(headers["content-type"], "application/cloudevents+json");
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "specversion": "1.0",
            "id": "evt-1",
            "source": "https://pki.example.com/organizations/org-a/projects/proj-1",
            "type": "io.keystead.certificate.issued",
            "time": "2023-11-14T22:13:20Z",
            "subject": "c1",
            "datacontenttype": "application/json",
            "data": {"certificateId": "c1", "commonName": "api.example.com"},
        })
    );

    // A config the plugin rejects stops the load, naming the plugin.
    let mut e = transport_entry("cloudevents");
    e.config = toml::from_str("source = \"\"").unwrap();
    let err = Registry::load(&[e], &harness::options())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().starts_with("plugin cloudevents:"), "{err}");
}

#[tokio::test]
async fn the_default_config_loads_every_builtin_plugin_and_reports_stats() {
    let data = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: data.path().to_owned(),
        ..Config::default()
    };
    let registry = Registry::from_config(&config).await.unwrap();
    let names: Vec<&str> = registry.iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "aws-secrets-manager",
            "cloudevents",
            "copy-paste",
            "dns-suffix",
            "filesystem",
            "http",
            "http-hmac",
            "jwk-certificate",
            "jwk-key",
            "jwk-keystore",
            "jwk-url",
            "openbao-kv",
            "slack"
        ]
    );
    let v = registry.template_validator("dns-suffix").unwrap();
    let _ = v
        .validate(&request("o", "t", &["a.example.com"]), "{}")
        .await
        .unwrap();
    let stats = registry.snapshot();
    let dns = stats.iter().find(|s| s.name == "dns-suffix").unwrap();
    assert_eq!((dns.calls, dns.builtin), (1, true));
    assert!(dns.latency_p50_us.is_some());
    let metrics = registry.render_prometheus();
    assert!(metrics.contains(
        "keystead_plugin_calls_total{plugin=\"dns-suffix\",kind=\"template-validator\"} 1"
    ));
    // The compile cache was written under the data dir.
    let cached = std::fs::read_dir(data.path().join("plugin-cache"))
        .unwrap()
        .count();
    assert_eq!(cached, names.len(), "one compiled artifact per plugin");
}

/// Runs the OpenSSL command line in `dir`.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let output = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn read(dir: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

fn jwk_request(source_type: SourceType, material: Material, kid: Option<&str>) -> JwkRequest {
    JwkRequest {
        tenant: tenant("org-a"),
        source_type,
        material,
        kid: kid.map(str::to_owned),
    }
}

fn one_jwk(keys: Vec<String>) -> serde_json::Value {
    assert_eq!(keys.len(), 1, "{keys:?}");
    serde_json::from_str(&keys[0]).unwrap()
}

#[tokio::test]
async fn jwk_key() {
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
            "rsa",
            "-in",
            "rsa.pem",
            "-traditional",
            "-out",
            "rsa-pkcs1.pem",
        ],
    );
    openssl(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ec.pem",
        ],
    );
    openssl(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            "ec.pem",
            "-out",
            "ec-pkcs8.pem",
        ],
    );
    openssl(d, &["ec", "-in", "ec.pem", "-pubout", "-out", "ec-pub.pem"]);
    openssl(d, &["genpkey", "-algorithm", "ed25519", "-out", "ed.pem"]);
    openssl(
        d,
        &["pkey", "-in", "ed.pem", "-pubout", "-out", "ed-pub.pem"],
    );
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
            "small.pem",
        ],
    );

    let registry = load(builtin("jwk-key")).await;
    let source = registry.jwk_source("jwk-key").unwrap();
    let load = |t: SourceType, file: &str| {
        let text = read(d, file);
        let source = source.clone();
        async move {
            source
                .load(&jwk_request(t, Material::Text(text), None))
                .await
        }
    };
    let public = one_jwk(load(SourceType::PublicKey, "rsa-pub.pem").await.unwrap());
    assert_eq!(public["kty"], "RSA");
    assert_eq!(public["e"], "AQAB");
    for file in ["rsa.pem", "rsa-pkcs1.pem"] {
        let private = one_jwk(load(SourceType::PrivateKey, file).await.unwrap());
        assert_eq!(private, public, "{file}");
    }
    let ec_public = one_jwk(load(SourceType::PublicKey, "ec-pub.pem").await.unwrap());
    assert_eq!(ec_public["crv"], "P-256");
    for file in ["ec.pem", "ec-pkcs8.pem"] {
        let private = one_jwk(load(SourceType::PrivateKey, file).await.unwrap());
        assert_eq!(private, ec_public, "{file}");
        assert!(private.get("d").is_none());
    }
    let ed = one_jwk(load(SourceType::PublicKey, "ed-pub.pem").await.unwrap());
    assert_eq!((&ed["kty"], &ed["crv"]), (&"OKP".into(), &"Ed25519".into()));
    // The caller's kid names the key.
    let named = source
        .load(&jwk_request(
            SourceType::PublicKey,
            Material::Text(read(d, "ed-pub.pem")),
            Some("k-1"),
        ))
        .await
        .unwrap();
    assert_eq!(one_jwk(named)["kid"], "k-1");

    let cases = [
        (
            SourceType::PrivateKey,
            "ed.pem",
            "does not carry its public key",
        ),
        (SourceType::PublicKey, "rsa.pem", "needs a public key"),
        (SourceType::PrivateKey, "rsa-pub.pem", "needs a private key"),
        (SourceType::PrivateKey, "small.pem", "2048"),
    ];
    for (t, file, needle) in cases {
        let err = load(t, file).await.unwrap_err();
        assert!(
            matches!(&err, PluginError::Invalid { message, .. } if message.contains(needle)),
            "{file}: {err:?}"
        );
    }
    for text in [
        "garbage",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    ] {
        let req = jwk_request(SourceType::PublicKey, Material::Text(text.into()), None);
        let err = source.load(&req).await.unwrap_err();
        assert!(matches!(err, PluginError::Invalid { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn jwk_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cert = |name: &str, curve: &str| {
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                &format!("ec_paramgen_curve:{curve}"),
                "-nodes",
                "-subj",
                "/CN=jwk",
                "-days",
                "1",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-in",
                &format!("{name}.pem"),
                "-outform",
                "DER",
                "-out",
                &format!("{name}.der"),
            ],
        );
    };
    cert("p384", "P-384");
    cert("brainpool", "brainpoolP256r1");

    let registry = load(builtin("jwk-certificate")).await;
    let source = registry.jwk_source("jwk-certificate").unwrap();
    let der = std::fs::read(d.join("p384.der")).unwrap();
    let jwk = one_jwk(
        source
            .load(&jwk_request(
                SourceType::Certificate,
                Material::Binary(der.clone()),
                None,
            ))
            .await
            .unwrap(),
    );
    assert_eq!((&jwk["kty"], &jwk["crv"]), (&"EC".into(), &"P-384".into()));
    use base64::Engine as _;
    let x5c = base64::engine::general_purpose::STANDARD.encode(&der);
    assert_eq!(jwk["x5c"][0], x5c.as_str());
    // PEM works too.
    let from_pem = source
        .load(&jwk_request(
            SourceType::Certificate,
            Material::Text(read(d, "p384.pem")),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(one_jwk(from_pem), jwk);

    let unsupported = std::fs::read(d.join("brainpool.der")).unwrap();
    let cases = [
        (Material::Binary(unsupported), "unsupported EC curve"),
        (
            Material::Binary(b"not a certificate".to_vec()),
            "not a DER X.509",
        ),
        (
            Material::Text(read(d, "p384.key")),
            "expected a CERTIFICATE",
        ),
    ];
    for (material, needle) in cases {
        let err = source
            .load(&jwk_request(SourceType::Certificate, material, None))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PluginError::Invalid { message, .. } if message.contains(needle)),
            "{needle}: {err:?}"
        );
    }
}

fn keytool(dir: &std::path::Path, args: &[&str]) {
    let output = std::process::Command::new("keytool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("keytool (a Java runtime) is installed");
    assert!(
        output.status.success(),
        "keytool {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn jwk_keystore() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A CA, a P-256 leaf signed by it, and the leaf's key with its chain in a
    // PKCS#12 (OpenSSL 3 defaults: AES-256-CBC, PBKDF2, SHA-256 MAC) and a JKS.
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=Keystore CA",
            "-days",
            "1",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=signer",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
        ],
    );
    openssl(
        d,
        &[
            "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-days", "1",
            "-out", "leaf.pem",
        ],
    );
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "leaf.key",
            "-in",
            "leaf.pem",
            "-certfile",
            "ca.pem",
            "-name",
            "Signer",
            "-passout",
            "pass:store-pw",
            "-out",
            "ks.p12",
        ],
    );
    keytool(
        d,
        &[
            "-importkeystore",
            "-srckeystore",
            "ks.p12",
            "-srcstoretype",
            "PKCS12",
            "-srcstorepass",
            "store-pw",
            "-destkeystore",
            "ks.jks",
            "-deststoretype",
            "JKS",
            "-deststorepass",
            "store-pw",
            "-noprompt",
        ],
    );
    keytool(
        d,
        &[
            "-importcert",
            "-alias",
            "trusted-ca",
            "-file",
            "ca.pem",
            "-keystore",
            "ks.jks",
            "-storetype",
            "JKS",
            "-storepass",
            "store-pw",
            "-noprompt",
        ],
    );
    let der = |name: &str| {
        openssl(
            d,
            &["x509", "-in", name, "-outform", "DER", "-out", "x.der"],
        );
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(d.join("x.der")).unwrap())
    };
    let (leaf, ca) = (der("leaf.pem"), der("ca.pem"));

    let registry = load(builtin("jwk-keystore")).await;
    let source = registry.jwk_source("jwk-keystore").unwrap();
    let call = |format, file: &str, password: &str, alias: Option<&str>, kid: Option<&str>| {
        let request = jwk_request(
            SourceType::Keystore,
            Material::Keystore(Keystore {
                format,
                data: std::fs::read(d.join(file)).unwrap(),
                password: password.into(),
                alias: alias.map(str::to_owned),
            }),
            kid,
        );
        let source = &source;
        async move { source.load(&request).await }
    };

    for (format, file) in [
        (KeystoreFormat::Pkcs12, "ks.p12"),
        (KeystoreFormat::Jks, "ks.jks"),
    ] {
        // The alias is matched without regard to case, as Java does.
        let jwk = one_jwk(
            call(format, file, "store-pw", Some("signer"), Some("kid-1"))
                .await
                .unwrap(),
        );
        assert_eq!(
            (&jwk["kty"], &jwk["crv"]),
            (&"EC".into(), &"P-256".into()),
            "{file}"
        );
        assert_eq!(jwk["kid"], "kid-1");
        assert_eq!(
            jwk["x5c"],
            serde_json::json!([leaf, ca]),
            "{file}: chain, leaf first"
        );
        assert!(jwk.get("d").is_none(), "{file}: never a private member");

        let err = call(format, file, "wrong-pw", Some("signer"), None)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PluginError::Invalid { message, .. } if message.contains("password is wrong")),
            "{file}: {err:?}"
        );
        let err = call(format, file, "store-pw", Some("nobody"), None)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PluginError::Invalid { message, .. }
                if message.contains("alias 'nobody' is not in the keystore")
                    // keytool lower-cases aliases; PKCS#12 keeps the friendly name as given.
                    && message.to_lowercase().contains("(its aliases: signer")),
            "{file}: {err:?}"
        );
    }

    // A trusted-certificate entry publishes the certificate's key; without an
    // alias, every entry is returned.
    let trusted = one_jwk(
        call(
            KeystoreFormat::Jks,
            "ks.jks",
            "store-pw",
            Some("trusted-ca"),
            None,
        )
        .await
        .unwrap(),
    );
    assert_eq!(trusted["x5c"], serde_json::json!([ca]));
    let all = call(KeystoreFormat::Jks, "ks.jks", "store-pw", None, None)
        .await
        .unwrap();
    let mut kids: Vec<String> = all
        .iter()
        .map(|jwk| {
            serde_json::from_str::<serde_json::Value>(jwk).unwrap()["kid"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    kids.sort();
    assert_eq!(
        kids,
        ["signer", "trusted-ca"],
        "every entry, named by its alias"
    );

    // The wrong format, and bytes that are no keystore at all.
    for (format, data) in [
        (
            KeystoreFormat::Jks,
            std::fs::read(d.join("ks.p12")).unwrap(),
        ),
        (
            KeystoreFormat::Pkcs12,
            std::fs::read(d.join("ks.jks")).unwrap(),
        ),
        (
            KeystoreFormat::Jks,
            vec![0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2, 0, 0],
        ),
    ] {
        let request = jwk_request(
            SourceType::Keystore,
            Material::Keystore(Keystore {
                format,
                data,
                password: "store-pw".into(),
                alias: None,
            }),
            None,
        );
        let err = source.load(&request).await.unwrap_err();
        assert!(
            matches!(&err, PluginError::Invalid { message, .. } if message.contains("not a readable")),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn jwk_url() {
    use keystead::plugins::jwk_source::Remote;
    let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    let y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    let set = format!(
        r#"{{"keys":[{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}","kid":"a"}},{{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":"b"}}]}}"#
    );
    let (addr, seen) = harness::serve(200, Bytes::from(set)).await;
    let (broken, _) = harness::serve(500, Bytes::from_static(b"oops")).await;
    let (junk, _) = harness::serve(200, Bytes::from_static(b"{not json")).await;
    let mut e = builtin("jwk-url");
    e.allow_loopback = true;
    let registry = load(e).await;
    let source = registry.jwk_source("jwk-url").unwrap();
    let req = |addr: std::net::SocketAddr, kid: Option<&str>, max_bytes: u32| {
        jwk_request(
            SourceType::Url,
            Material::Url(Remote {
                url: format!("http://{addr}/jwks.json"),
                connect_timeout_ms: 2000,
                read_timeout_ms: 2000,
                max_bytes,
            }),
            kid,
        )
    };
    let keys = source.load(&req(addr, None, 1 << 20)).await.unwrap();
    assert_eq!(keys.len(), 2);
    let picked = one_jwk(source.load(&req(addr, Some("b"), 1 << 20)).await.unwrap());
    assert_eq!(picked["crv"], "Ed25519");
    assert!(!seen.lock().unwrap().is_empty());

    let cases = [
        (req(addr, None, 10), "larger than 10 bytes"),
        (req(addr, Some("zz"), 1 << 20), "no key with kid"),
        (req(broken, None, 1 << 20), "HTTP 500"),
        (req(junk, None, 1 << 20), "not valid JSON"),
    ];
    for (request, needle) in cases {
        let err = source.load(&request).await.unwrap_err();
        assert!(
            matches!(&err, PluginError::Invalid { message, .. } if message.contains(needle)),
            "{needle}: {err:?}"
        );
    }

    // The default grants keep loopback out.
    let mut e = builtin("jwk-url");
    e.name = "strict".into();
    let registry = load(e).await;
    let strict = registry.jwk_source("strict").unwrap();
    let err = strict.load(&req(addr, None, 1 << 20)).await.unwrap_err();
    assert!(matches!(err, PluginError::Denied { .. }), "{err:?}");
}

/// A rotation-target entry that may reach this machine.
fn loopback(name: &str) -> PluginConfig {
    let mut e = builtin(name);
    e.allowed_hosts = vec!["127.0.0.1".into()];
    e.allow_loopback = true;
    e
}

fn json_of(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

#[tokio::test]
async fn openbao_kv() {
    // A KV v2 secret that exists with a field of someone else's and a key from before.
    let (addr, seen) = harness::serve_with(|x| match x.method.as_str() {
        "GET" if x.path.ends_with("/existing") => (
            200,
            r#"{"data":{"data":{"owner":"team-a","private_key":"old key"},"metadata":{"version":4}}}"#.into(),
        ),
        "GET" => (404, r#"{"errors":[]}"#.into()),
        "POST" if x.path.contains("/denied/") => (403, r#"{"errors":["permission denied"]}"#.into()),
        "POST" if x.path.contains("/sealed/") => (503, r#"{"errors":["Vault is sealed"]}"#.into()),
        _ => (200, r#"{"data":{"version":5}}"#.into()),
    })
    .await;
    let registry = load(loopback("openbao-kv")).await;
    let kv = registry.rotation_target("openbao-kv").unwrap();
    let token = credentials(None, Some("s.token"));
    let target =
        format!(r#"{{"address": "http://{addr}", "mount": "kv", "path": "pki/{{common_name}}"}}"#);

    let receipt = kv.push(&sample_bundle(), &target, &token).await.unwrap();
    assert_eq!(receipt.version.as_deref(), Some("5"));
    assert_eq!(
        receipt.location,
        format!("http://{addr}/v1/kv/data/pki/www.example.com")
    );
    let exchanges = seen.lock().unwrap().clone();
    assert_eq!(exchanges.len(), 2, "a read, then a write");
    let write = &exchanges[1];
    assert_eq!(
        (write.method.as_str(), write.path.as_str()),
        ("POST", "/v1/kv/data/pki/www.example.com")
    );
    assert_eq!(write.headers["x-vault-token"], "s.token");
    let body = json_of(&write.body);
    assert!(
        body.get("options").is_none(),
        "no check-and-set for a new secret"
    );
    assert!(
        body["data"]["certificate"]
            .as_str()
            .unwrap()
            .contains("AAAA")
    );
    assert!(body["data"]["chain"].as_str().unwrap().contains("BBBB"));
    assert!(
        body["data"]["private_key"]
            .as_str()
            .unwrap()
            .contains("CCCC")
    );
    assert_eq!(body["data"]["serial_number"], "01ab");
    assert_eq!(body["data"]["version"], 3);

    // An existing secret: its other fields and its key survive a push without a key,
    // written with check-and-set on the version read.
    seen.lock().unwrap().clear();
    let mut no_key = sample_bundle();
    no_key.private_key_pem = None;
    let existing = format!(r#"{{"address": "http://{addr}/", "destination": "existing"}}"#);
    kv.push(&no_key, &existing, &token).await.unwrap();
    let write = seen.lock().unwrap()[1].clone();
    assert_eq!(write.path, "/v1/secret/data/existing");
    let body = json_of(&write.body);
    assert_eq!(body["options"]["cas"], 4);
    assert_eq!(body["data"]["owner"], "team-a");
    assert_eq!(body["data"]["private_key"], "old key");
    assert!(
        body["data"]["certificate"]
            .as_str()
            .unwrap()
            .contains("AAAA")
    );
    // create_new_secret writes with cas = 0 and no read.
    seen.lock().unwrap().clear();
    let create = format!(
        r#"{{"address": "http://{addr}", "destination": "fresh", "create_new_secret": true}}"#
    );
    kv.push(&sample_bundle(), &create, &token).await.unwrap();
    let exchanges = seen.lock().unwrap().clone();
    assert_eq!(exchanges.len(), 1);
    assert_eq!(json_of(&exchanges[0].body)["options"]["cas"], 0);

    // Whose fault: a refused token is denied, a sealed server is worth a retry.
    let denied = format!(r#"{{"address": "http://{addr}", "path": "denied/x"}}"#);
    let err = kv
        .push(&sample_bundle(), &denied, &token)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::Denied { message, .. } if message.contains("permission denied")),
        "{err:?}"
    );
    let sealed = format!(r#"{{"address": "http://{addr}", "path": "sealed/x"}}"#);
    let err = kv
        .push(&sample_bundle(), &sealed, &token)
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::Retryable { .. }), "{err:?}");
    assert!(!err.to_string().contains("s.token"), "{err}");

    // Settings and credentials are checked before anything is sent.
    let checks = [
        (
            format!(r#"{{"address": "http://{addr}"}}"#),
            credentials(None, None),
            "token",
        ),
        (r#"{"mount": "kv"}"#.to_owned(), token.clone(), "address"),
        (
            format!(r#"{{"address": "http://{addr}", "path": "pki/{{nope}}"}}"#),
            token.clone(),
            "unknown placeholder",
        ),
        (
            format!(r#"{{"address": "http://{addr}", "path": "../x"}}"#),
            token.clone(),
            "segment",
        ),
        (
            format!(r#"{{"address": "ftp://{addr}"}}"#),
            token.clone(),
            "address",
        ),
        (
            format!(r#"{{"address": "http://{addr}", "tokne": "x"}}"#),
            token.clone(),
            "unknown field",
        ),
    ];
    for (target, creds, needle) in checks {
        let err = kv.check_target("org-a", &target, &creds).await.unwrap_err();
        assert!(is_invalid(&err, needle), "{target}: {err:?}");
    }
    kv.check_target("org-a", &target, &token).await.unwrap();

    // Without the loopback grant the same server is refused by the host.
    let registry = load(builtin("openbao-kv")).await;
    let strict = registry.rotation_target("openbao-kv").unwrap();
    let err = strict
        .push(&sample_bundle(), &target, &token)
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::Denied { .. }), "{err:?}");
}

#[tokio::test]
async fn aws_secrets_manager() {
    let (addr, seen) = harness::serve_with(|x| {
        let target = x.headers["x-amz-target"].to_str().unwrap().to_owned();
        let body = json_of(&x.body);
        match target.as_str() {
            "secretsmanager.GetSecretValue" if body["SecretId"] == "existing" => (
                200,
                r#"{"Name":"existing","SecretString":"{\"owner\":\"team-a\",\"private_key\":\"old key\"}"}"#.into(),
            ),
            "secretsmanager.GetSecretValue" if body["SecretId"] == "throttled" => (
                400,
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into(),
            ),
            "secretsmanager.GetSecretValue" => (
                400,
                r#"{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}"#.into(),
            ),
            "secretsmanager.CreateSecret" if body["Name"] == "taken" => (
                400,
                r#"{"__type":"ResourceExistsException","message":"exists"}"#.into(),
            ),
            "secretsmanager.CreateSecret" | "secretsmanager.PutSecretValue" => (
                200,
                format!(r#"{{"ARN":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:{}","VersionId":"v-1"}}"#,
                    body["Name"].as_str().or(body["SecretId"].as_str()).unwrap()),
            ),
            _ => (400, r#"{"__type":"UnknownOperationException"}"#.into()),
        }
    })
    .await;
    let registry = load(loopback("aws-secrets-manager")).await;
    let sm = registry.rotation_target("aws-secrets-manager").unwrap();
    let keys = credentials(
        Some("AKIDEXAMPLE"),
        Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
    );
    let target = format!(
        r#"{{"region": "eu-west-1", "endpoint": "http://{addr}", "secret_name": "tls/{{common_name}}"}}"#
    );

    // A new secret: read (not found), then created.
    let receipt = sm.push(&sample_bundle(), &target, &keys).await.unwrap();
    assert_eq!(
        receipt.location,
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tls/www.example.com"
    );
    assert_eq!(receipt.version.as_deref(), Some("v-1"));
    let exchanges = seen.lock().unwrap().clone();
    let targets: Vec<_> = exchanges
        .iter()
        .map(|x| x.headers["x-amz-target"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        targets,
        [
            "secretsmanager.GetSecretValue",
            "secretsmanager.CreateSecret"
        ]
    );
    let create = &exchanges[1];
    assert_eq!(create.headers["content-type"], "application/x-amz-json-1.1");
    let auth = create.headers["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
        "{auth}"
    );
    assert!(auth.contains("/eu-west-1/secretsmanager/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="), "{auth}");
    assert!(
        !auth.contains("wJalrXUtnFEMI"),
        "the secret key never travels"
    );
    assert_eq!(create.headers["x-amz-date"].len(), 16);
    let body = json_of(&create.body);
    assert_eq!(body["Name"], "tls/www.example.com");
    assert_eq!(body["ClientRequestToken"].as_str().unwrap().len(), 32);
    let secret: serde_json::Value =
        serde_json::from_str(body["SecretString"].as_str().unwrap()).unwrap();
    assert!(secret["certificate"].as_str().unwrap().contains("AAAA"));
    assert!(secret["private_key"].as_str().unwrap().contains("CCCC"));

    // An existing secret is merged: its other fields and its key stay.
    seen.lock().unwrap().clear();
    let mut no_key = sample_bundle();
    no_key.private_key_pem = None;
    let existing = format!(
        r#"{{"region": "eu-west-1", "endpoint": "http://{addr}", "destination": "existing"}}"#
    );
    sm.push(&no_key, &existing, &keys).await.unwrap();
    let put = seen.lock().unwrap()[1].clone();
    assert_eq!(put.headers["x-amz-target"], "secretsmanager.PutSecretValue");
    let secret: serde_json::Value =
        serde_json::from_str(json_of(&put.body)["SecretString"].as_str().unwrap()).unwrap();
    assert_eq!(secret["owner"], "team-a");
    assert_eq!(secret["private_key"], "old key");
    assert!(secret["certificate"].as_str().unwrap().contains("AAAA"));

    // create_new_secret only creates; an existing name is the caller's problem.
    let taken = format!(
        r#"{{"region": "eu-west-1", "endpoint": "http://{addr}", "destination": "taken", "create_new_secret": true}}"#
    );
    let err = sm.push(&sample_bundle(), &taken, &keys).await.unwrap_err();
    assert!(is_invalid(&err, "exists already"), "{err:?}");
    let throttled = format!(
        r#"{{"region": "eu-west-1", "endpoint": "http://{addr}", "destination": "throttled"}}"#
    );
    let err = sm
        .push(&sample_bundle(), &throttled, &keys)
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::Retryable { .. }), "{err:?}");

    let checks = [
        (
            target.clone(),
            credentials(Some("AKIDEXAMPLE"), None),
            "secret access key",
        ),
        (
            target.clone(),
            credentials(None, Some("x")),
            "access key id",
        ),
        (
            r#"{"region": "Not A Region"}"#.to_owned(),
            keys.clone(),
            "region",
        ),
        (
            r#"{"region": "eu-west-1", "secret_name": "a b"}"#.to_owned(),
            keys.clone(),
            "not allowed",
        ),
        (
            r#"{"region": "eu-west-1", "endpoint": "http://x/path"}"#.to_owned(),
            keys.clone(),
            "endpoint",
        ),
    ];
    for (target, creds, needle) in checks {
        let err = sm.check_target("org-a", &target, &creds).await.unwrap_err();
        assert!(is_invalid(&err, needle), "{target}: {err:?}");
    }
}

#[tokio::test]
async fn http() {
    let (addr, seen) = harness::serve_with(|x| {
        if x.path == "/busy" {
            (503, "try later".into())
        } else {
            (200, r#"{"version": "r7"}"#.into())
        }
    })
    .await;
    let registry = load(loopback("http")).await;
    let push = registry.rotation_target("http").unwrap();
    let secret = credentials(None, Some("hmac-key"));
    let target = format!(
        r#"{{"url": "http://{addr}/certs", "method": "PUT", "headers": {{"X-Team": "web"}}}}"#
    );
    let receipt = push.push(&sample_bundle(), &target, &secret).await.unwrap();
    assert_eq!(receipt.version.as_deref(), Some("r7"));
    let x = seen.lock().unwrap().pop().unwrap();
    assert_eq!((x.method.as_str(), x.path.as_str()), ("PUT", "/certs"));
    assert_eq!(x.headers["x-team"], "web");
    assert_eq!(x.headers["x-keystead-certificate"], "cert-1");
    let sig = x.headers["x-keystead-signature"].to_str().unwrap();
    let (t, v1) = sig
        .strip_prefix("t=")
        .and_then(|s| s.split_once(",v1="))
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"hmac-key").unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&x.body);
    assert_eq!(hex::encode(mac.finalize().into_bytes()), v1);
    let body = json_of(&x.body);
    assert_eq!(body["certificate_id"], "cert-1");
    assert_eq!(body["version"], 3);
    assert_eq!(body["not_after"], "2030-03-17T17:46:40Z");
    assert!(body["certificate_pem"].as_str().unwrap().contains("AAAA"));
    assert!(body["private_key_pem"].as_str().unwrap().contains("CCCC"));

    let busy = format!(r#"{{"url": "http://{addr}/busy"}}"#);
    let err = push
        .push(&sample_bundle(), &busy, &secret)
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::Retryable { .. }), "{err:?}");
    let checks = [
        (target.clone(), credentials(None, None), "signing key"),
        (r#"{"url": "ftp://x"}"#.to_owned(), secret.clone(), "url"),
        (
            format!(r#"{{"url": "http://{addr}", "method": "DELETE"}}"#),
            secret.clone(),
            "method",
        ),
        (
            format!(r#"{{"url": "http://{addr}", "headers": {{"X-Keystead-Signature": "x"}}}}"#),
            secret.clone(),
            "set by the plugin",
        ),
    ];
    for (target, creds, needle) in checks {
        let err = push
            .check_target("org-a", &target, &creds)
            .await
            .unwrap_err();
        assert!(is_invalid(&err, needle), "{target}: {err:?}");
    }
    // A receiver that is down: the outside world's fault, worth a retry.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let target = format!(r#"{{"url": "http://{down}/"}}"#);
    let err = push
        .push(&sample_bundle(), &target, &secret)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::Unavailable { .. } | PluginError::Retryable { .. }
        ),
        "{err:?}"
    );
}

//! One test per first-party plugin; `assert_test_exists` makes a plugin
//! without one a compile error.

use bytes::Bytes;
use hmac::{Hmac, Mac};
use keystead::config::Config;
use keystead::plugins::jwk_source::{JwkRequest, Material, SourceType};
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
    let bundle = Bundle {
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
    };
    let creds = Credentials {
        id: None,
        secret: None,
    };
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

    let err = target
        .push(&bundle, r#"{"directory": "../escape"}"#, &creds)
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::Invalid { .. }), "{err:?}");

    // Without a directory grant the plugin has nowhere to write.
    let registry = load(builtin("filesystem")).await;
    let target = registry.rotation_target("filesystem").unwrap();
    let err = target.push(&bundle, "{}", &creds).await.unwrap_err();
    assert!(matches!(err, PluginError::Denied { .. }), "{err:?}");
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
            "cloudevents",
            "copy-paste",
            "dns-suffix",
            "filesystem",
            "http-hmac",
            "jwk-certificate",
            "jwk-key",
            "jwk-url",
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
    assert_eq!(cached, 9);
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

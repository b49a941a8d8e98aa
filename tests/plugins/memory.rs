//! Resident memory across many plugin calls. A binary of its own: the process's RSS
//! is what it measures, and the other plugin tests, run beside it in one process,
//! would add their own allocations to it.

#[allow(dead_code)] // the helpers the other plugin tests use
#[path = "harness.rs"]
mod harness;

use std::time::Instant;

use keystead::plugins::PluginKind;

use harness::{load, request};

#[tokio::test]
async fn ten_thousand_calls_leave_resident_memory_flat() {
    let noop = harness::entry(
        "noop",
        PluginKind::TemplateValidator,
        keystead::plugins::test_components::TEST_NOOP,
    );
    let registry = load(vec![noop]).await;
    let v = registry.template_validator("noop").unwrap();
    let req = request("org-1", "t", &["a.example.com"]);
    for _ in 0..1_000 {
        v.validate(&req, "{}").await.unwrap();
    }
    let before = rss_kib();
    let started = Instant::now();
    for _ in 0..10_000 {
        v.validate(&req, "{}").await.unwrap();
    }
    let elapsed = started.elapsed();
    let after = rss_kib();
    let growth = after.saturating_sub(before);
    println!(
        "RSS after 1,000 warm-up calls: {before} KiB; after 10,000 more: {after} KiB (growth {growth} KiB); {:.1} µs per call",
        elapsed.as_secs_f64() * 1e6 / 10_000.0
    );
    assert!(growth < 16 * 1024, "RSS grew by {growth} KiB");
    assert_eq!(registry.snapshot()[0].calls, 11_000);
}

/// Resident memory of this process, from /proc/self/status.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

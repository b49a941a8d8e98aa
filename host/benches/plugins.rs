//! Per-call overhead of a no-op template validator (fresh store from the
//! `InstancePre`, and a reused instance) and start-up time with every
//! first-party plugin, from a cold and a warm compile cache.
//!
//! `cargo bench -p keystead --bench plugins`; besides criterion's estimates
//! it prints p50/p99 over 20,000 calls and the start-up figures.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use keystead::plugins::cache::ComponentCache;
use keystead::plugins::template_validator::{
    CertificateRequest, KeyAlgorithm, KeySpec, Subject, SubjectAltNames,
};
use keystead::plugins::{LoadOptions, PluginConfig, PluginKind, Registry, Tenant};
use tokio::runtime::Runtime;

fn request() -> CertificateRequest {
    CertificateRequest {
        tenant: Tenant {
            organization_id: "org".into(),
            project_id: None,
        },
        template: "web".into(),
        subject: Subject {
            common_name: Some("a.example.com".into()),
            organization: vec![],
            organizational_unit: vec![],
            country: None,
            state: None,
            locality: None,
            other: vec![],
        },
        sans: SubjectAltNames {
            dns: vec!["a.example.com".into()],
            ip: vec![],
            email: vec![],
            uri: vec![],
        },
        key: KeySpec {
            algorithm: KeyAlgorithm::Ecdsa,
            size_bits: 256,
            curve: Some("P-256".into()),
        },
        not_before: 0,
        not_after: 1,
        is_ca: false,
        key_usages: vec![],
        extended_key_usages: vec![],
    }
}

fn noop_registry(rt: &Runtime, reuse: bool) -> Registry {
    let mut entry = PluginConfig::builtin("noop", PluginKind::TemplateValidator);
    entry.builtin = None;
    entry.path = Some(PathBuf::from(keystead::plugins::test_components::TEST_NOOP));
    let options = LoadOptions {
        cache: ComponentCache::disabled(),
        reuse_instances: reuse,
        allow_loopback: false,
    };
    rt.block_on(Registry::load(&[entry], &options))
        .expect("load the no-op plugin")
}

fn percentiles(rt: &Runtime, registry: &Registry, label: &str) {
    let v = registry.template_validator("noop").expect("noop");
    let req = request();
    let mut samples: Vec<Duration> = Vec::with_capacity(20_000);
    rt.block_on(async {
        for _ in 0..2_000 {
            v.validate(&req, "{}").await.expect("call");
        }
        for _ in 0..20_000 {
            let started = Instant::now();
            v.validate(&req, "{}").await.expect("call");
            samples.push(started.elapsed());
        }
    });
    samples.sort_unstable();
    let at = |p: usize| samples[(samples.len() - 1) * p / 100].as_secs_f64() * 1e6;
    println!(
        "{label}: p50 {:.2} µs, p99 {:.2} µs over {} calls",
        at(50),
        at(99),
        samples.len()
    );
}

fn per_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let req = request();
    for (reuse, label) in [(false, "fresh store per call"), (true, "reused instance")] {
        let registry = noop_registry(&rt, reuse);
        percentiles(&rt, &registry, label);
        let v = registry.template_validator("noop").expect("noop");
        c.bench_function(&format!("no-op validator, {label}"), |b| {
            b.iter(|| rt.block_on(v.validate(&req, "{}")).expect("call"))
        });
    }
}

fn startup(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let entries = PluginConfig::defaults();
    let load = |dir: &std::path::Path| {
        let options = LoadOptions {
            cache: ComponentCache::new(dir),
            reuse_instances: true,
            allow_loopback: false,
        };
        let started = Instant::now();
        rt.block_on(Registry::load(&entries, &options))
            .expect("load the first-party plugins");
        started.elapsed()
    };
    // The engine is made once per process; start it before timing.
    let warmup = tempfile::tempdir().expect("tempdir");
    load(warmup.path());

    let mut cold = Vec::new();
    for _ in 0..3 {
        let dir = tempfile::tempdir().expect("tempdir");
        cold.push(load(dir.path()));
    }
    let mut warm = Vec::new();
    for _ in 0..10 {
        warm.push(load(warmup.path()));
    }
    let ms = |v: &mut Vec<Duration>| {
        v.sort_unstable();
        v[v.len() / 2].as_secs_f64() * 1e3
    };
    println!(
        "start-up with {} first-party plugins: cold cache {:.1} ms, warm cache {:.1} ms (medians)",
        entries.len(),
        ms(&mut cold),
        ms(&mut warm)
    );
    let mut group = c.benchmark_group("start-up");
    group.sample_size(10);
    group.bench_function("first-party plugins, warm cache", |b| {
        b.iter(|| load(warmup.path()))
    });
    group.finish();
}

criterion_group!(benches, per_call, startup);
criterion_main!(benches);

//! Shared helpers: plugin entries, requests, and a tiny local HTTP server.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use keystead::plugins::cache::ComponentCache;
use keystead::plugins::template_validator::{
    CertificateRequest, KeyAlgorithm, KeySpec, Subject, SubjectAltNames, Tenant,
};
use keystead::plugins::{LoadOptions, PluginConfig, PluginKind, Registry};

/// The compile cache shared by the tests (Python components take seconds).
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")
}

pub fn options() -> LoadOptions {
    LoadOptions {
        cache: ComponentCache::new(cache_dir()),
        reuse_instances: false,
        allow_loopback: false,
    }
}

pub fn entry(name: &str, kind: PluginKind, path: &str) -> PluginConfig {
    let mut e = PluginConfig::builtin(name, kind);
    e.builtin = None;
    e.path = Some(PathBuf::from(path));
    e
}

/// The hostile component with small limits.
pub fn hostile() -> PluginConfig {
    let mut e = entry(
        "hostile",
        PluginKind::TemplateValidator,
        keystead::plugins::test_components::TEST_HOSTILE,
    );
    e.limits.memory_mb = 32;
    e.limits.cpu_ms = 200;
    e.limits.timeout_ms = 3_000;
    e
}

pub async fn load(entries: Vec<PluginConfig>) -> Registry {
    Registry::load(&entries, &options()).await.unwrap()
}

pub fn request(org: &str, template: &str, dns: &[&str]) -> CertificateRequest {
    CertificateRequest {
        tenant: Tenant {
            organization_id: org.into(),
            project_id: None,
        },
        template: template.into(),
        subject: Subject {
            common_name: dns.first().map(|s| s.to_string()),
            organization: vec![],
            organizational_unit: vec![],
            country: None,
            state: None,
            locality: None,
            other: vec![],
        },
        sans: SubjectAltNames {
            dns: dns.iter().map(|s| s.to_string()).collect(),
            ip: vec![],
            email: vec![],
            uri: vec![],
        },
        key: KeySpec {
            algorithm: KeyAlgorithm::Ecdsa,
            size_bits: 256,
            curve: Some("P-256".into()),
        },
        not_before: 1_700_000_000,
        not_after: 1_700_000_000 + 90 * 86_400,
        is_ca: false,
        key_usages: vec!["digitalSignature".into()],
        extended_key_usages: vec!["serverAuth".into()],
    }
}

/// What the local server saw: (headers, body) of each request.
pub type Seen = Arc<Mutex<Vec<(http::HeaderMap, Bytes)>>>;

/// Serves `body` with `status` on 127.0.0.1 and records requests.
pub async fn serve(status: u16, body: Bytes) -> (SocketAddr, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let body = body.clone();
                    let log = log.clone();
                    async move {
                        use http_body_util::BodyExt;
                        let (parts, incoming) = req.into_parts();
                        let bytes = incoming
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        log.lock().unwrap().push((parts.headers, bytes));
                        let mut resp = Response::new(Full::new(body));
                        *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

/// One request a scripted server saw.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

pub type Exchanges = Arc<Mutex<Vec<Exchange>>>;

/// Answers each request with `respond(request)` = (status, body), on 127.0.0.1,
/// and records the requests.
pub async fn serve_with<F>(respond: F) -> (SocketAddr, Exchanges)
where
    F: Fn(&Exchange) -> (u16, String) + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Exchanges = Arc::default();
    let log = seen.clone();
    let respond = Arc::new(respond);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            let respond = respond.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let log = log.clone();
                    let respond = respond.clone();
                    async move {
                        use http_body_util::BodyExt;
                        let (parts, incoming) = req.into_parts();
                        let body = incoming
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        let exchange = Exchange {
                            method: parts.method.to_string(),
                            path: parts.uri.to_string(),
                            headers: parts.headers,
                            body,
                        };
                        let (status, answer) = respond(&exchange);
                        log.lock().unwrap().push(exchange);
                        let mut resp = Response::new(Full::new(Bytes::from(answer)));
                        *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

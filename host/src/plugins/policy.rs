//! Outgoing HTTP policy: the only way a plugin reaches the network.
//!
//! Every request from a guest goes through [`PolicyHooks::send_request`]:
//! the host must be on the plugin's allowed list, the name is resolved here
//! and every resolved address is checked (a public name may resolve to
//! loopback), and the connection goes to the checked address, not to a
//! second lookup. Connect and read timeouts and a response size cap apply.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::Scheme;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// One entry of a plugin's `allowed_hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// `*`: any host (address checks still apply).
    Any,
    /// `example.com`, `192.0.2.1`, `[2001:db8::1]`, optionally with `:port`.
    Exact { host: String, port: Option<u16> },
    /// `*.example.com`: any subdomain (not the apex), optionally with `:port`.
    Subdomains { suffix: String, port: Option<u16> },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{pattern}' is not a host pattern ({reason}); use host, *.domain, host:port or *")]
pub struct PatternError {
    pub pattern: String,
    pub reason: &'static str,
}

impl HostPattern {
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        let err = |reason| PatternError {
            pattern: pattern.to_owned(),
            reason,
        };
        let p = pattern.trim().to_ascii_lowercase();
        if p == "*" {
            return Ok(Self::Any);
        }
        if p.contains("://") || p.contains('/') || p.contains('@') {
            return Err(err("no scheme, path or user"));
        }
        let (host, port) = split_host_port(&p).ok_or_else(|| err("bad port"))?;
        if let Some(suffix) = host.strip_prefix("*.") {
            if !is_dns_name(suffix) || !suffix.contains('.') {
                return Err(err("a wildcard needs a domain of two labels or more"));
            }
            return Ok(Self::Subdomains {
                suffix: suffix.to_owned(),
                port,
            });
        }
        if host.parse::<IpAddr>().is_err() && !is_dns_name(host) {
            return Err(err("not a DNS name or IP address"));
        }
        Ok(Self::Exact {
            host: host.to_owned(),
            port,
        })
    }

    /// `host` is lowercase, without brackets; `port` is the effective port.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        match self {
            Self::Any => true,
            Self::Exact { host: h, port: p } => h == host && p.is_none_or(|p| p == port),
            Self::Subdomains { suffix, port: p } => {
                host.strip_suffix(suffix.as_str())
                    .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
                    && p.is_none_or(|p| p == port)
            }
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let port = |p: &Option<u16>| p.map(|p| format!(":{p}")).unwrap_or_default();
        match self {
            Self::Any => write!(f, "*"),
            Self::Exact { host, port: p } if host.contains(':') => write!(f, "[{host}]{}", port(p)),
            Self::Exact { host, port: p } => write!(f, "{host}{}", port(p)),
            Self::Subdomains { suffix, port: p } => write!(f, "*.{suffix}{}", port(p)),
        }
    }
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`; `:*` means any port.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let parse_port = |p: &str| -> Option<Option<u16>> {
        if p == "*" {
            Some(None)
        } else {
            p.parse::<u16>().ok().filter(|p| *p != 0).map(Some)
        }
    };
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<Ipv6Addr>().ok()?;
        return match after.strip_prefix(':') {
            Some(p) => Some((host, parse_port(p)?)),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match s.rsplit_once(':') {
        // A bare IPv6 address has colons but no brackets.
        _ if s.parse::<Ipv6Addr>().is_ok() => Some((s, None)),
        Some((host, p)) => Some((host, parse_port(p)?)),
        None => Some((s, None)),
    }
}

fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// What an address is, for the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    Loopback,
    /// RFC 1918, CGNAT (100.64/10), unique-local IPv6 (fc00::/7).
    Private,
    /// 169.254/16 (cloud metadata lives at 169.254.169.254), fe80::/10.
    LinkLocal,
    /// 0.0.0.0, ::, multicast, broadcast, documentation and reserved ranges.
    Unroutable,
}

pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify_v4(v4);
            }
            let seg = v6.segments();
            // NAT64 (64:ff9b::/96) embeds an IPv4 address.
            if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = seg[6].to_be_bytes();
                let [c, d] = seg[7].to_be_bytes();
                return classify_v4(Ipv4Addr::new(a, b, c, d));
            }
            if v6.is_loopback() {
                AddressClass::Loopback
            } else if v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] == 0x2001 && seg[1] == 0xdb8)
            {
                AddressClass::Unroutable
            } else if seg[0] & 0xffc0 == 0xfe80 {
                AddressClass::LinkLocal
            } else if seg[0] & 0xfe00 == 0xfc00 {
                AddressClass::Private
            } else {
                AddressClass::Public
            }
        }
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_link_local() {
        AddressClass::LinkLocal
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        AddressClass::Private
    } else if a == 0
        || a >= 224
        || ip.is_documentation()
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
    {
        AddressClass::Unroutable
    } else {
        AddressClass::Public
    }
}

/// A plugin's network grant, fixed at load.
#[derive(Debug, Clone)]
pub struct NetworkPolicy {
    pub allowed_hosts: Vec<HostPattern>,
    pub allow_loopback: bool,
    pub allow_private: bool,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub max_response_bytes: u64,
}

impl NetworkPolicy {
    fn address_allowed(&self, ip: IpAddr) -> bool {
        match classify(ip) {
            AddressClass::Public => true,
            AddressClass::Loopback => self.allow_loopback,
            AddressClass::Private => self.allow_private,
            AddressClass::LinkLocal | AddressClass::Unroutable => false,
        }
    }

    /// Checks the URI and resolves it to the address to connect to.
    pub async fn resolve(&self, uri: &http::Uri) -> Result<SocketAddr, Denial> {
        let host = uri
            .host()
            .ok_or_else(|| Denial::new("the URL has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme() == Some(&Scheme::HTTPS) {
                443
            } else {
                80
            });
        if !self.allowed_hosts.iter().any(|p| p.matches(&host, port)) {
            return Err(Denial::new(format!(
                "{host}:{port} is not in the plugin's allowed_hosts"
            )));
        }
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => {
                let lookup = tokio::net::lookup_host((host.as_str(), port));
                match tokio::time::timeout(self.connect_timeout, lookup).await {
                    Ok(Ok(addrs)) => addrs.collect(),
                    Ok(Err(err)) => {
                        return Err(Denial::unresolved(format!("cannot resolve {host}: {err}")));
                    }
                    Err(_) => {
                        return Err(Denial::unresolved(format!("resolving {host} timed out")));
                    }
                }
            }
        };
        // One forbidden answer denies the name: mixing answers is how
        // rebinding attacks slip a private address in.
        if let Some(bad) = addrs.iter().find(|a| !self.address_allowed(a.ip())) {
            return Err(Denial::new(format!(
                "{host} resolves to {} ({:?} address), which the plugin may not reach",
                bad.ip(),
                classify(bad.ip())
            )));
        }
        addrs
            .first()
            .copied()
            .ok_or_else(|| Denial::unresolved(format!("{host} has no address")))
    }
}

/// Why the policy refused a request; the reason goes to the host's log and
/// into the error the API caller sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub reason: String,
    /// The name did not resolve: a DNS error for the guest, not a denial.
    pub unresolved: bool,
}

impl Denial {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            unresolved: false,
        }
    }

    fn unresolved(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            unresolved: true,
        }
    }
}

/// The last denial of a call, read by the runtime after the call returns.
pub type DenialSlot = Arc<Mutex<Option<String>>>;

/// The `wasi:http` hooks of one store.
pub struct PolicyHooks {
    pub policy: Arc<NetworkPolicy>,
    pub denial: DenialSlot,
    pub plugin: Arc<str>,
}

impl WasiHttpHooks for PolicyHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                    ),
                    HttpError,
                >,
            > + Send,
    > {
        let policy = self.policy.clone();
        let denial = self.denial.clone();
        let plugin = self.plugin.clone();
        Box::new(async move {
            let addr = match policy.resolve(request.uri()).await {
                Ok(addr) => addr,
                Err(d) => {
                    tracing::warn!(plugin = %plugin, uri = %request.uri(), reason = %d.reason, "outgoing request denied");
                    if let Ok(mut slot) = denial.lock() {
                        *slot = Some(d.reason.clone());
                    }
                    return Err(if d.unresolved {
                        HttpError::DnsError {
                            rcode: Some(d.reason),
                            info_code: None,
                        }
                    } else {
                        HttpError::HttpRequestDenied
                    });
                }
            };
            send_to(&policy, addr, request, options).await
        })
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// Sends `request` to the already checked `addr`. The guest may shorten the
/// timeouts, not lengthen them.
async fn send_to(
    policy: &NetworkPolicy,
    addr: SocketAddr,
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
    let clamp = |guest: Option<Duration>, host: Duration| guest.map_or(host, |g| g.min(host));
    let connect_timeout = clamp(
        options.and_then(|o| o.connect_timeout),
        policy.connect_timeout,
    );
    let first_byte = clamp(
        options.and_then(|o| o.first_byte_timeout),
        policy.read_timeout,
    );
    let between_bytes = clamp(
        options.and_then(|o| o.between_bytes_timeout),
        policy.read_timeout,
    );
    let use_tls = request.uri().scheme() == Some(&Scheme::HTTPS);
    let server_name = request.uri().host().unwrap_or_default().to_owned();

    let tcp = match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(err)) => return Err(HttpError::Connect(err)),
        Err(_) => return Err(HttpError::ConnectionTimeout),
    };
    let handshake = async {
        if use_tls {
            let stream = tls_connect(&server_name, tcp).await?;
            hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map(|(s, c)| (s, Box::pin(c) as ConnFuture))
                .map_err(HttpError::from)
        } else {
            hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .map(|(s, c)| (s, Box::pin(c) as ConnFuture))
                .map_err(HttpError::from)
        }
    };
    let (mut sender, conn) = tokio::time::timeout(connect_timeout, handshake)
        .await
        .map_err(|_| HttpError::ConnectionTimeout)??;
    // The connection must be driven while the response is awaited.
    let conn_task = tokio::spawn(conn);

    // Origin-form on the wire; the Host header carries the authority.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse::<http::Uri>()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;
    *request.uri_mut() = path;

    let response = tokio::time::timeout(first_byte, sender.send_request(request))
        .await
        .map_err(|_| HttpError::ConnectionReadTimeout)??;
    let limit = policy.max_response_bytes;
    if response.body().size_hint().lower() > limit {
        return Err(HttpError::HttpResponseBodySize(Some(limit)));
    }
    let response = response.map(|incoming| {
        CappedBody {
            inner: incoming,
            remaining: limit,
            limit,
            idle: between_bytes,
            timer: None,
        }
        .boxed_unsync()
    });
    let io: IoFuture = Box::new(async move {
        match conn_task.await {
            Ok(result) => result.map_err(HttpError::from),
            Err(_) => Err(HttpError::ConnectionTerminated),
        }
    });
    Ok((response, io))
}

type ConnFuture = Pin<Box<dyn Future<Output = Result<(), hyper::Error>> + Send>>;

async fn tls_connect(
    server_name: &str,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, HttpError> {
    use tokio_rustls::rustls::{self, pki_types::ServerName};
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.into(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|_| HttpError::TlsProtocolError)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from(server_name.trim_start_matches('[').trim_end_matches(']'))
        .map_err(|_| HttpError::TlsProtocolError)?
        .to_owned();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(HttpError::Tls)
}

/// A response body cut at the size cap, with an idle (between-bytes) timeout.
struct CappedBody {
    inner: hyper::body::Incoming,
    remaining: u64,
    limit: u64,
    idle: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.timer = None;
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > this.remaining {
                        this.remaining = 0;
                        return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(
                            this.limit,
                        )))));
                    }
                    this.remaining -= len;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(HttpError::from(err)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let idle = this.idle;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(patterns: &[&str]) -> NetworkPolicy {
        NetworkPolicy {
            allowed_hosts: patterns
                .iter()
                .map(|p| HostPattern::parse(p).unwrap())
                .collect(),
            allow_loopback: false,
            allow_private: false,
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(2),
            max_response_bytes: 1024,
        }
    }

    #[test]
    fn patterns_parse_and_match() {
        let p = HostPattern::parse("*.Example.com").unwrap();
        assert!(p.matches("a.example.com", 443));
        assert!(p.matches("a.b.example.com", 80));
        assert!(!p.matches("example.com", 443));
        assert!(!p.matches("badexample.com", 443));
        let p = HostPattern::parse("api.example.com:8443").unwrap();
        assert!(p.matches("api.example.com", 8443));
        assert!(!p.matches("api.example.com", 443));
        assert!(
            HostPattern::parse("[::1]:8080")
                .unwrap()
                .matches("::1", 8080)
        );
        assert!(
            HostPattern::parse("127.0.0.1:*")
                .unwrap()
                .matches("127.0.0.1", 1)
        );
        for bad in [
            "",
            "https://x.com",
            "x.com/path",
            "*.com",
            "a..b",
            "x.com:99999",
            "*x.com",
            "a b",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_are_classified() {
        let c = |s: &str| classify(s.parse().unwrap());
        assert_eq!(c("127.0.0.1"), AddressClass::Loopback);
        assert_eq!(c("::1"), AddressClass::Loopback);
        assert_eq!(c("::ffff:127.0.0.1"), AddressClass::Loopback);
        assert_eq!(c("169.254.169.254"), AddressClass::LinkLocal);
        assert_eq!(c("fe80::1"), AddressClass::LinkLocal);
        assert_eq!(c("10.1.2.3"), AddressClass::Private);
        assert_eq!(c("172.16.0.1"), AddressClass::Private);
        assert_eq!(c("192.168.1.1"), AddressClass::Private);
        assert_eq!(c("100.64.0.1"), AddressClass::Private);
        assert_eq!(c("fd00::1"), AddressClass::Private);
        assert_eq!(c("0.0.0.0"), AddressClass::Unroutable);
        assert_eq!(c("::"), AddressClass::Unroutable);
        assert_eq!(c("224.0.0.1"), AddressClass::Unroutable);
        assert_eq!(c("64:ff9b::7f00:1"), AddressClass::Loopback);
        assert_eq!(c("93.184.216.34"), AddressClass::Public);
        assert_eq!(c("2606:4700::1111"), AddressClass::Public);
    }

    #[tokio::test]
    async fn resolution_checks_every_address() {
        let p = policy(&["*"]);
        let deny = |r: Result<SocketAddr, Denial>| r.unwrap_err().reason;
        assert!(deny(p.resolve(&"http://127.0.0.1/".parse().unwrap()).await).contains("Loopback"));
        assert!(
            deny(
                p.resolve(&"http://169.254.169.254/latest".parse().unwrap())
                    .await
            )
            .contains("LinkLocal")
        );
        assert!(
            deny(p.resolve(&"http://localhost:8080/".parse().unwrap()).await).contains("Loopback")
        );
        let p = policy(&["example.com"]);
        assert!(
            deny(p.resolve(&"https://evil.test/".parse().unwrap()).await).contains("allowed_hosts")
        );
        let mut p = policy(&["127.0.0.1"]);
        p.allow_loopback = true;
        assert!(
            p.resolve(&"http://127.0.0.1:9/".parse().unwrap())
                .await
                .is_ok()
        );
    }
}

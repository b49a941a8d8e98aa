//! Outgoing HTTP through `wasi:http`, the only network a plugin has.
//!
//! The host checks every request against the plugin's allowed hosts and
//! blocks private addresses; a denial reaches the plugin as
//! [`HttpError::Denied`], which converts to `PluginError::Denied`.

use std::time::Duration;

use crate::PluginError;
use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, RequestOptions,
    Scheme,
};
use crate::bindings::wasi::io::streams::StreamError;

/// Default cap on a response body the helper buffers.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub connect_timeout: Option<Duration>,
    /// Time to the first response byte, then between bytes.
    pub read_timeout: Option<Duration>,
    /// Larger bodies fail with [`HttpError::TooLarge`].
    pub max_response_bytes: usize,
}

impl Request {
    pub fn new(method: &str, url: &str) -> Self {
        Self {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            connect_timeout: None,
            read_timeout: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    pub fn post(url: &str, body: Vec<u8>) -> Self {
        Self {
            body,
            ..Self::new("POST", url)
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The URL cannot be sent (not absolute http/https, bad header, ...).
    InvalidRequest(String),
    /// The host's policy refused the request (host not allowed, private address).
    Denied(String),
    /// Connecting or reading took longer than allowed.
    Timeout(String),
    /// The response body exceeded the cap (the plugin's or the host's).
    TooLarge { limit: Option<u64> },
    /// Any other transport failure.
    Transport(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidRequest(m) => write!(f, "invalid request: {m}"),
            Self::Denied(url) => write!(f, "request to {url} denied by the host's network policy"),
            Self::Timeout(m) => write!(f, "timed out: {m}"),
            Self::TooLarge { limit: Some(n) } => write!(f, "response body larger than {n} bytes"),
            Self::TooLarge { limit: None } => write!(f, "response body too large"),
            Self::Transport(m) => write!(f, "transport error: {m}"),
        }
    }
}

impl From<HttpError> for PluginError {
    fn from(err: HttpError) -> Self {
        let message = err.to_string();
        match err {
            HttpError::InvalidRequest(_) => PluginError::InvalidInput(message),
            HttpError::Denied(_) => PluginError::Denied(message),
            HttpError::Timeout(_) => PluginError::retryable(message, None),
            HttpError::TooLarge { .. } | HttpError::Transport(_) => {
                PluginError::Unavailable(message)
            }
        }
    }
}

fn from_code(url: &str, code: ErrorCode) -> HttpError {
    match code {
        ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => {
            HttpError::Denied(url.to_owned())
        }
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::HttpResponseTimeout
        | ErrorCode::DnsTimeout => HttpError::Timeout(format!("{code:?}")),
        ErrorCode::HttpResponseBodySize(limit) => HttpError::TooLarge { limit },
        other => HttpError::Transport(format!("{other:?}")),
    }
}

/// Splits `http(s)://authority/path?query`; other schemes are refused.
fn split_url(url: &str) -> Result<(Scheme, &str, String), HttpError> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        return Err(HttpError::InvalidRequest(format!(
            "{url}: only http and https URLs"
        )));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(HttpError::InvalidRequest(format!(
            "{url}: missing host or has credentials"
        )));
    }
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    Ok((scheme, authority, path))
}

fn method(name: &str) -> Method {
    match name.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_owned()),
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Sends a request and buffers the response body (up to `max_response_bytes`).
pub fn send(request: &Request) -> Result<Response, HttpError> {
    let url = request.url.as_str();
    let (scheme, authority, path) = split_url(url)?;
    let invalid = |what: &str| HttpError::InvalidRequest(format!("{url}: invalid {what}"));

    let entries: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), v.as_bytes().to_vec()))
        .collect();
    let headers = Fields::from_list(&entries).map_err(|e| invalid(&format!("header ({e:?})")))?;
    let outgoing = OutgoingRequest::new(headers);
    outgoing
        .set_method(&method(&request.method))
        .map_err(|()| invalid("method"))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    outgoing
        .set_authority(Some(authority))
        .map_err(|()| invalid("authority"))?;
    outgoing
        .set_path_with_query(Some(&path))
        .map_err(|()| invalid("path"))?;
    let body = outgoing.body().map_err(|()| invalid("body"))?;

    let options = RequestOptions::new();
    if let Some(t) = request.connect_timeout {
        // The host may refuse to change a timeout; its own default then applies.
        let _ = options.set_connect_timeout(Some(nanos(t)));
    }
    if let Some(t) = request.read_timeout {
        let _ = options.set_first_byte_timeout(Some(nanos(t)));
        let _ = options.set_between_bytes_timeout(Some(nanos(t)));
    }
    let pending =
        outgoing_handler::handle(outgoing, Some(options)).map_err(|c| from_code(url, c))?;

    write_body(&body, &request.body).map_err(|e| match e {
        Some(code) => from_code(url, code),
        None => HttpError::Transport("request body stream closed".into()),
    })?;
    OutgoingBody::finish(body, None).map_err(|c| from_code(url, c))?;

    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(from_code(url, code)),
        Some(Err(())) | None => return Err(HttpError::Transport("response already taken".into())),
    };
    read_response(url, response, request.max_response_bytes)
}

fn write_body(body: &OutgoingBody, bytes: &[u8]) -> Result<(), Option<ErrorCode>> {
    if bytes.is_empty() {
        return Ok(());
    }
    let stream = body.write().map_err(|()| None)?;
    let mut rest = bytes;
    while !rest.is_empty() {
        let ready = stream.check_write().map_err(stream_code)?;
        if ready == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = rest.len().min(usize::try_from(ready).unwrap_or(usize::MAX));
        stream.write(&rest[..n]).map_err(stream_code)?;
        rest = &rest[n..];
    }
    stream.blocking_flush().map_err(stream_code)?;
    Ok(())
}

fn stream_code(err: StreamError) -> Option<ErrorCode> {
    match err {
        StreamError::LastOperationFailed(e) => {
            crate::bindings::wasi::http::types::http_error_code(&e)
        }
        StreamError::Closed => None,
    }
}

fn read_response(url: &str, response: IncomingResponse, max: usize) -> Result<Response, HttpError> {
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let incoming = response
        .consume()
        .map_err(|()| HttpError::Transport("response body already taken".into()))?;
    let stream = incoming
        .stream()
        .map_err(|()| HttpError::Transport("response body already taken".into()))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                if body.len() + chunk.len() > max {
                    return Err(HttpError::TooLarge {
                        limit: Some(max as u64),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => break,
            Err(err) => {
                return Err(match stream_code(err) {
                    Some(code) => from_code(url, code),
                    None => HttpError::Transport("response body stream failed".into()),
                });
            }
        }
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls() {
        let (_, a, p) = split_url("https://example.com:8443/a/b?c=1").unwrap();
        assert_eq!((a, p.as_str()), ("example.com:8443", "/a/b?c=1"));
        let (_, a, p) = split_url("http://example.com").unwrap();
        assert_eq!((a, p.as_str()), ("example.com", "/"));
        assert!(split_url("ftp://example.com").is_err());
        assert!(split_url("http://user@example.com/").is_err());
    }
}

//! For webhook transports: the signature and the headers every Keystead delivery
//! carries, whatever its body, and the POST itself.
//!
//! The signature is HMAC-SHA256 under the endpoint's secret over `<t>.<body>`, where
//! `<t>` is the Unix time of sending, as `t=<t>,v1=<hex>` in [`SIGNATURE_HEADER`] and,
//! with the same value, [`COMPAT_SIGNATURE_HEADER`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::PluginError;
use crate::http::{self, Request};

pub const SIGNATURE_HEADER: &str = "X-Keystead-Signature";
/// The header name of the WRVault-style webhooks API; same value as [`SIGNATURE_HEADER`].
pub const COMPAT_SIGNATURE_HEADER: &str = "X-WRVault-Signature";
/// The event type, e.g. `certificate.issued`.
pub const EVENT_HEADER: &str = "X-Keystead-Event";
/// The event id: the same on every retry and redelivery; receivers deduplicate on it.
pub const EVENT_ID_HEADER: &str = "X-Keystead-Event-Id";

/// Headers a transport sets itself; an endpoint's extra headers may not replace them.
const RESERVED: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "x-keystead-signature",
    "x-wrvault-signature",
    "x-keystead-event",
    "x-keystead-event-id",
];

/// Settings every transport accepts in an endpoint's `config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointSettings {
    /// Extra request headers, e.g. `{"Authorization": "Bearer ..."}`.
    pub headers: BTreeMap<String, String>,
}

/// `t=<timestamp>,v1=<hex(HMAC-SHA256(secret, "<timestamp>.<body>"))>`
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> Result<String, PluginError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)
        .map_err(|_| PluginError::invalid("unusable signing secret"))?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One delivery to send.
pub struct Post<'a> {
    pub url: &'a str,
    pub content_type: &'a str,
    pub body: Vec<u8>,
    pub event_id: &'a str,
    pub event_type: &'a str,
    /// Signs when present and not empty.
    pub secret: Option<&'a str>,
    pub settings: &'a EndpointSettings,
    pub timeout: Duration,
}

/// What the receiver answered.
pub struct Answer {
    pub status: u16,
    pub duration_ms: u32,
}

/// POSTs a delivery with the standard headers and the signature. Any HTTP status is an
/// answer; only a failure to get one is an error.
pub fn post(delivery: Post<'_>) -> Result<Answer, PluginError> {
    let mut request = Request::post(delivery.url, Vec::new());
    for (name, value) in &delivery.settings.headers {
        if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(PluginError::invalid(format!(
                "header '{name}' is set by the transport"
            )));
        }
        request = request.header(name, value);
    }
    request = request
        .header("content-type", delivery.content_type)
        .header("user-agent", "Keystead-Webhooks/1")
        .header(EVENT_HEADER, delivery.event_type)
        .header(EVENT_ID_HEADER, delivery.event_id);
    if let Some(secret) = delivery.secret.filter(|s| !s.is_empty()) {
        let value = signature(secret.as_bytes(), unix_now(), &delivery.body)?;
        request = request
            .header(SIGNATURE_HEADER, &value)
            .header(COMPAT_SIGNATURE_HEADER, &value);
    }
    request.body = delivery.body;
    request.connect_timeout = Some(delivery.timeout);
    request.read_timeout = Some(delivery.timeout);
    // Only the status matters; a receiver's long answer is cut short.
    request.max_response_bytes = 64 * 1024;
    let started = Instant::now();
    let response = match http::send(&request) {
        Ok(response) => response,
        Err(http::HttpError::TooLarge { .. }) => {
            return Err(PluginError::unavailable(
                "the receiver answered with a body larger than 64 KiB",
            ));
        }
        Err(err) => return Err(err.into()),
    };
    Ok(Answer {
        status: response.status,
        duration_ms: u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX),
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds (RFC 3339, UTC).
pub fn rfc3339(unix: u64) -> String {
    let days = i64::try_from(unix / 86_400).unwrap_or(0);
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_timestamp_dot_body() {
        // Checked against: printf '1700000000.{}' | openssl dgst -sha256 -hmac s3cret
        let sig = signature(b"s3cret", 1_700_000_000, b"{}").unwrap();
        assert_eq!(
            sig,
            "t=1700000000,v1=97926816e98fbb41ccb1673225ff29a2f35369099990e1b1561651e7bd097ebf"
        );
    }

    #[test]
    fn formats_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}

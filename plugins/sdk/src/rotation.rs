//! Helpers for rotation targets: the bundle as a secret's fields, naming
//! placeholders, dates, and HTTP answers turned into errors that say whose
//! fault they are (the host retries the outside world's faults only).

use serde_json::{Map, Value, json};

use crate::PluginError;

/// The parts of a `rotator` bundle the helpers need; each plugin fills it
/// from its own generated `Bundle`.
pub struct BundleView<'a> {
    pub organization_id: &'a str,
    pub project_id: Option<&'a str>,
    pub certificate_id: &'a str,
    pub serial: &'a str,
    pub version: u32,
    pub names: &'a [String],
    pub certificate_pem: &'a str,
    pub chain_pem: &'a str,
    pub private_key_pem: Option<&'a str>,
    pub not_after: u64,
}

/// Builds a [`BundleView`] from a generated `rotator::Bundle`.
#[macro_export]
macro_rules! bundle_view {
    ($b:expr) => {
        $crate::rotation::BundleView {
            organization_id: &$b.tenant.organization_id,
            project_id: $b.tenant.project_id.as_deref(),
            certificate_id: &$b.certificate_id,
            serial: &$b.serial,
            version: $b.version,
            names: &$b.names,
            certificate_pem: &$b.certificate_pem,
            chain_pem: &$b.chain_pem,
            private_key_pem: $b.private_key_pem.as_deref(),
            not_after: $b.not_after,
        }
    };
}

impl BundleView<'_> {
    /// True for a key deposited ahead of its certificate.
    pub fn key_only(&self) -> bool {
        self.certificate_pem.is_empty()
    }

    /// Values for [`crate::naming::render`].
    pub fn placeholders(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "common_name",
                self.names
                    .first()
                    .cloned()
                    .unwrap_or_else(|| self.certificate_id.to_owned()),
            ),
            ("certificate_id", self.certificate_id.to_owned()),
            ("serial", self.serial.to_owned()),
            ("version", self.version.to_string()),
            ("organization_id", self.organization_id.to_owned()),
            (
                "project_id",
                self.project_id.unwrap_or("default").to_owned(),
            ),
        ]
    }

    /// The fields a secret receives: `certificate`, `chain`, `fullchain`,
    /// `private_key` (when the bundle has one), `serial_number`, `not_after`,
    /// `certificate_id`, `version`. A key-only bundle gives `private_key` and
    /// `certificate_id` only.
    pub fn secret_fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        if !self.key_only() {
            fields.insert("certificate".into(), self.certificate_pem.into());
            fields.insert("chain".into(), self.chain_pem.into());
            let full = if self.chain_pem.is_empty() {
                self.certificate_pem.to_owned()
            } else {
                format!("{}\n{}", self.certificate_pem.trim_end(), self.chain_pem)
            };
            fields.insert("fullchain".into(), full.into());
            fields.insert("serial_number".into(), self.serial.into());
            fields.insert("not_after".into(), rfc3339(self.not_after).into());
            fields.insert("version".into(), json!(self.version));
        }
        fields.insert("certificate_id".into(), self.certificate_id.into());
        if let Some(key) = self.private_key_pem {
            fields.insert("private_key".into(), key.into());
        }
        fields
    }
}

/// Civil date (year, month, day) of a day count since 1970-01-01.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn parts(unix: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = i64::try_from(unix / 86_400).unwrap_or(0);
    let rest = unix % 86_400;
    let (y, m, d) = civil(days);
    (y, m, d, rest / 3600, rest / 60 % 60, rest % 60)
}

/// `2026-02-10T14:30:00Z`
pub fn rfc3339(unix: u64) -> String {
    let (y, m, d, hh, mm, ss) = parts(unix);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// `20150830T123600Z`, as SigV4 and others want it.
pub fn basic_timestamp(unix: u64) -> String {
    let (y, m, d, hh, mm, ss) = parts(unix);
    format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}Z")
}

/// Seconds since the Unix epoch, by the sandbox's clock.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A short, printable excerpt of a remote's error body for the operator.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    clean.trim().to_owned()
}

/// An HTTP answer that is not a success, by whose fault it is: 400/404/409/
/// 412/413/422 are the target's settings (`invalid-input`), 401/403 the
/// credentials or policy (`denied`), 408/429/5xx transient (`retryable`, with
/// `Retry-After` when given), anything else `unavailable`.
pub fn status_error(
    service: &str,
    status: u16,
    retry_after: Option<&str>,
    detail: &str,
) -> PluginError {
    let message = if detail.is_empty() {
        format!("{service} answered HTTP {status}")
    } else {
        format!("{service} answered HTTP {status}: {detail}")
    };
    match status {
        400 | 404 | 405 | 409 | 412 | 413 | 422 => PluginError::invalid(message),
        401 | 403 => PluginError::denied(message),
        408 | 429 | 500..=599 => PluginError::retryable(
            message,
            retry_after.and_then(|v| v.trim().parse::<u32>().ok()),
        ),
        _ => PluginError::unavailable(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(basic_timestamp(1_440_938_160), "20150830T123600Z");
        assert_eq!(rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn statuses() {
        assert!(matches!(
            status_error("x", 403, None, ""),
            PluginError::Denied(_)
        ));
        assert!(matches!(
            status_error("x", 503, Some("7"), ""),
            PluginError::Retryable(a) if a.after_seconds == Some(7)
        ));
        assert!(matches!(
            status_error("x", 400, None, "no"),
            PluginError::InvalidInput(_)
        ));
    }
}

//! Subject fields and subject alternative names, as requests and templates name them.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Error, Result};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    pub common_name: Option<String>,
    pub organization: Option<String>,
    pub organizational_unit: Option<String>,
    pub locality: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub email_address: Option<String>,
}

/// The subject field names templates use.
pub const SUBJECT_FIELDS: &[&str] = &[
    "common_name",
    "organization",
    "organizational_unit",
    "locality",
    "state",
    "country",
    "email_address",
];

impl Subject {
    /// `(field name, value)` for every present field.
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        [
            ("common_name", &self.common_name),
            ("organization", &self.organization),
            ("organizational_unit", &self.organizational_unit),
            ("locality", &self.locality),
            ("state", &self.state),
            ("country", &self.country),
            ("email_address", &self.email_address),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
        .collect()
    }

    /// Checks field syntax: lengths (RFC 5280 upper bounds) and a two-letter country.
    pub fn validate(&self) -> Result<()> {
        for (field, value) in self.fields() {
            let max = if field == "country" { 2 } else { 128 };
            if value.is_empty()
                || value.chars().count() > max
                || value.chars().any(char::is_control)
            {
                return Err(Error::bad_request(
                    format!("requested_subject.{field}"),
                    format!("must be 1 to {max} printable characters"),
                ));
            }
        }
        if let Some(country) = &self.country
            && !(country.len() == 2 && country.chars().all(|c| c.is_ascii_uppercase()))
        {
            return Err(Error::bad_request(
                "requested_subject.country",
                "must be a two-letter ISO 3166 code in capitals, e.g. US",
            ));
        }
        Ok(())
    }
}

/// Subject alternative names grouped by type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SanSet {
    #[serde(default)]
    pub dns_names: Vec<String>,
    #[serde(default)]
    pub ip_addresses: Vec<String>,
    #[serde(default)]
    pub email_addresses: Vec<String>,
    #[serde(default)]
    pub uris: Vec<String>,
}

impl SanSet {
    pub fn is_empty(&self) -> bool {
        self.dns_names.is_empty()
            && self.ip_addresses.is_empty()
            && self.email_addresses.is_empty()
            && self.uris.is_empty()
    }

    /// Every name, flattened, for lists.
    pub fn all(&self) -> Vec<String> {
        [
            &self.dns_names,
            &self.ip_addresses,
            &self.email_addresses,
            &self.uris,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }

    /// `(type, value)` pairs; types are `dns`, `ip`, `email`, `uri`.
    pub fn typed(&self) -> Vec<(&'static str, &str)> {
        let mut out = Vec::new();
        out.extend(self.dns_names.iter().map(|v| ("dns", v.as_str())));
        out.extend(self.ip_addresses.iter().map(|v| ("ip", v.as_str())));
        out.extend(self.email_addresses.iter().map(|v| ("email", v.as_str())));
        out.extend(self.uris.iter().map(|v| ("uri", v.as_str())));
        out
    }

    /// Lower-cases DNS names and checks each value's syntax; errors name the entry.
    pub fn normalize(mut self) -> Result<Self> {
        for (i, name) in self.dns_names.iter_mut().enumerate() {
            *name = name.trim().trim_end_matches('.').to_ascii_lowercase();
            if !is_dns_name(name) {
                return Err(Error::bad_request(
                    format!("requested_san.dns_names[{i}]"),
                    format!("'{name}' is not a DNS name"),
                ));
            }
        }
        for (i, ip) in self.ip_addresses.iter_mut().enumerate() {
            let parsed: IpAddr = ip.trim().parse().map_err(|_| {
                Error::bad_request(
                    format!("requested_san.ip_addresses[{i}]"),
                    format!("'{ip}' is not an IP address"),
                )
            })?;
            *ip = parsed.to_string();
        }
        for (i, email) in self.email_addresses.iter().enumerate() {
            let valid = email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && is_dns_name(domain) && email.is_ascii()
            });
            if !valid {
                return Err(Error::bad_request(
                    format!("requested_san.email_addresses[{i}]"),
                    format!("'{email}' is not an email address"),
                ));
            }
        }
        for (i, uri) in self.uris.iter().enumerate() {
            let valid = uri.split_once(':').is_some_and(|(scheme, rest)| {
                !scheme.is_empty()
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                    && !rest.is_empty()
            }) && uri.is_ascii()
                && !uri
                    .chars()
                    .any(|c| c.is_ascii_whitespace() || c.is_ascii_control());
            if !valid {
                return Err(Error::bad_request(
                    format!("requested_san.uris[{i}]"),
                    format!("'{uri}' is not an absolute URI"),
                ));
            }
        }
        Ok(self)
    }
}

/// RFC 1123 host names, with a leading `*.` wildcard label allowed.
fn is_dns_name(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn san_normalisation() {
        let set = SanSet {
            dns_names: vec!["API.Example.com.".into()],
            ip_addresses: vec!["::0001".into()],
            ..SanSet::default()
        }
        .normalize()
        .unwrap();
        assert_eq!(set.dns_names, vec!["api.example.com"]);
        assert_eq!(set.ip_addresses, vec!["::1"]);
        let err = SanSet {
            dns_names: vec!["a..b".into()],
            ..SanSet::default()
        }
        .normalize()
        .unwrap_err();
        assert!(err.to_string().starts_with("requested_san.dns_names[0]"));
        assert!(
            SanSet {
                uris: vec!["no scheme".into()],
                ..SanSet::default()
            }
            .normalize()
            .is_err()
        );
        assert!(
            SanSet {
                email_addresses: vec!["a@b.example".into()],
                ..SanSet::default()
            }
            .normalize()
            .is_ok()
        );
    }

    #[test]
    fn subject_checks() {
        let ok = Subject {
            common_name: Some("x".into()),
            country: Some("US".into()),
            ..Subject::default()
        };
        assert!(ok.validate().is_ok());
        let bad = Subject {
            country: Some("usa".into()),
            ..Subject::default()
        };
        assert!(bad.validate().is_err());
    }
}

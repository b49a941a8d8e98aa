//! Template rules at work: the check of a template itself, and the check that lists every
//! rule a request breaks.

use ipnet::IpNet;

use crate::model::{KeyAlgorithm, SUBJECT_FIELDS, SanSet, Subject, TemplateRules};
use crate::{Error, Result};

pub const SAN_TYPES: &[&str] = &["dns", "ip", "email", "uri"];
pub const KEY_USAGES: &[&str] = &[
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
];
pub const EXTENDED_KEY_USAGES: &[&str] = &[
    "server_auth",
    "client_auth",
    "code_signing",
    "email_protection",
    "time_stamping",
    "ocsp_signing",
];

/// What a request asks for, in the terms a template checks.
#[derive(Debug, Clone)]
pub struct RequestFacts<'a> {
    pub subject: &'a Subject,
    pub san: &'a SanSet,
    pub key: KeyAlgorithm,
    pub validity_days: u32,
}

impl TemplateRules {
    /// Checks the template itself; errors name the field.
    pub fn validate(&self) -> Result<()> {
        let known = |field: &str, list: &[String], allowed: &[&str]| -> Result<()> {
            for (i, v) in list.iter().enumerate() {
                if !allowed.contains(&v.as_str()) {
                    return Err(Error::bad_request(
                        format!("{field}[{i}]"),
                        format!("'{v}' is not one of {}", allowed.join(", ")),
                    ));
                }
            }
            Ok(())
        };
        known(
            "allowed_subject_fields",
            &self.allowed_subject_fields,
            SUBJECT_FIELDS,
        )?;
        known(
            "required_subject_fields",
            &self.required_subject_fields,
            SUBJECT_FIELDS,
        )?;
        known("allowed_san_types", &self.allowed_san_types, SAN_TYPES)?;
        known(
            "allowed_key_algorithms",
            &self.allowed_key_algorithms,
            &["ECDSA", "RSA", "Ed25519"],
        )?;
        known("key_usage", &self.key_usage, KEY_USAGES)?;
        known(
            "extended_key_usage",
            &self.extended_key_usage,
            EXTENDED_KEY_USAGES,
        )?;
        for (i, range) in self.ip_ranges.iter().enumerate() {
            if crate::auth::client_ip::parse_allow_entry(range).is_none() {
                return Err(Error::bad_request(
                    format!("ip_ranges[{i}]"),
                    format!("'{range}' is not a CIDR block"),
                ));
            }
        }
        if self.default_validity_days == 0 || self.max_validity_days == 0 {
            return Err(Error::bad_request(
                "default_validity_days",
                "validity must be at least 1 day",
            ));
        }
        if self.default_validity_days > self.max_validity_days {
            return Err(Error::bad_request(
                "default_validity_days",
                "must not exceed max_validity_days",
            ));
        }
        if self.renew_before_days >= self.default_validity_days {
            // Otherwise every renewal would be due again at once.
            return Err(Error::bad_request(
                "renew_before_days",
                "must be less than default_validity_days",
            ));
        }
        if self.max_validity_days > 3650 {
            return Err(Error::bad_request("max_validity_days", "at most 3650 days"));
        }
        if self.allowed_subject_fields.is_empty() {
            return Ok(());
        }
        for field in &self.required_subject_fields {
            if !self.allowed_subject_fields.contains(field) {
                return Err(Error::bad_request(
                    "required_subject_fields",
                    format!("'{field}' is required but not in allowed_subject_fields"),
                ));
            }
        }
        Ok(())
    }

    /// Every rule `request` breaks, in words a requester can act on. Empty means it fits.
    pub fn violations(&self, request: &RequestFacts<'_>) -> Vec<String> {
        let mut out = Vec::new();
        let present = request.subject.fields();
        for (field, _) in &present {
            if !self.allowed_subject_fields.is_empty()
                && !self.allowed_subject_fields.iter().any(|f| f == field)
            {
                out.push(format!(
                    "subject field {field} is not allowed by this template"
                ));
            }
        }
        for field in &self.required_subject_fields {
            if !present.iter().any(|(name, _)| name == field) {
                out.push(format!(
                    "subject field {field} is required by this template"
                ));
            }
        }
        for (ty, value) in request.san.typed() {
            if !self.allowed_san_types.is_empty() && !self.allowed_san_types.iter().any(|t| t == ty)
            {
                out.push(format!(
                    "SAN type {ty} ({value}) is not allowed by this template"
                ));
                continue;
            }
            let fits = match ty {
                "dns" => {
                    self.dns_patterns.is_empty()
                        || self.dns_patterns.iter().any(|p| dns_matches(p, value))
                }
                "ip" => {
                    self.ip_ranges.is_empty()
                        || value.parse::<std::net::IpAddr>().is_ok_and(|ip| {
                            self.ip_ranges
                                .iter()
                                .filter_map(|r| crate::auth::client_ip::parse_allow_entry(r))
                                .any(|net: IpNet| net.contains(&ip))
                        })
                }
                "email" => {
                    self.email_domains.is_empty()
                        || value.rsplit_once('@').is_some_and(|(_, domain)| {
                            self.email_domains
                                .iter()
                                .any(|d| d.eq_ignore_ascii_case(domain))
                        })
                }
                _ => {
                    self.uri_prefixes.is_empty()
                        || self
                            .uri_prefixes
                            .iter()
                            .any(|p| value.starts_with(p.as_str()))
                }
            };
            if !fits {
                out.push(format!(
                    "SAN {ty} {value} does not match the template's allowed {ty} names"
                ));
            }
        }
        if !self.allowed_key_algorithms.is_empty()
            && !self
                .allowed_key_algorithms
                .iter()
                .any(|a| a.eq_ignore_ascii_case(request.key.family()))
        {
            out.push(format!(
                "key algorithm {} is not allowed; allowed: {}",
                request.key.family(),
                self.allowed_key_algorithms.join(", ")
            ));
        } else if !self.allowed_key_sizes.is_empty()
            && request.key != KeyAlgorithm::Ed25519
            && !self.allowed_key_sizes.contains(&request.key.size())
        {
            out.push(format!(
                "key size {} is not allowed for {}",
                request.key.size(),
                request.key.family()
            ));
        }
        if request.validity_days > self.max_validity_days {
            out.push(format!(
                "validity of {} days exceeds the template's maximum of {} days",
                request.validity_days, self.max_validity_days
            ));
        }
        out
    }
}

/// `example.com` matches itself; `*.example.com` matches any name below `example.com`.
pub fn dns_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => name.len() > suffix.len() + 1 && name.ends_with(&format!(".{suffix}")),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_violation() {
        let rules = TemplateRules {
            allowed_subject_fields: vec!["common_name".into()],
            allowed_san_types: vec!["dns".into()],
            dns_patterns: vec!["*.example.com".into()],
            allowed_key_algorithms: vec!["ECDSA".into()],
            max_validity_days: 90,
            default_validity_days: 30,
            ..TemplateRules::default()
        };
        let subject = Subject {
            organization: Some("Evil".into()),
            ..Subject::default()
        };
        let san = SanSet {
            dns_names: vec!["api.example.com".into(), "example.org".into()],
            ip_addresses: vec!["10.0.0.1".into()],
            ..SanSet::default()
        };
        let found = rules.violations(&RequestFacts {
            subject: &subject,
            san: &san,
            key: KeyAlgorithm::Rsa(2048),
            validity_days: 400,
        });
        assert_eq!(found.len(), 6, "{found:#?}");
    }

    #[test]
    fn dns_patterns() {
        assert!(dns_matches("*.example.com", "a.b.example.com"));
        assert!(!dns_matches("*.example.com", "example.com"));
        assert!(!dns_matches("*.example.com", "badexample.com"));
        assert!(dns_matches("example.com", "example.com"));
    }
}

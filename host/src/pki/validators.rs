//! A template's chain of template-validator plugins, with each tenant's own config.

use time::OffsetDateTime;

use super::Pki;
use crate::model::KeyAlgorithm;
use crate::model::TemplateRules;
use crate::model::{SanSet, Subject};
use crate::plugins::Tenant;
use crate::plugins::template_validator::{
    CertificateRequest, KeyAlgorithm as PluginKeyAlgorithm, KeySpec, Subject as PluginSubject,
    SubjectAltNames, Verdict,
};
use crate::{Error, Result};

/// What a request asks for, as validator plugins see it.
pub(super) struct ValidationInput<'a> {
    pub organization_id: &'a str,
    pub project_id: &'a str,
    pub template: &'a str,
    pub rules: &'a TemplateRules,
    pub subject: &'a Subject,
    pub san: &'a SanSet,
    pub key: KeyAlgorithm,
    pub validity_days: u32,
}

impl Pki {
    /// Checks that every validator a template names is a loaded template-validator plugin.
    pub(super) fn check_validator_names(&self, rules: &TemplateRules) -> Result<()> {
        for (i, validator) in rules.validators.iter().enumerate() {
            if self.plugins.template_validator(&validator.plugin).is_none() {
                return Err(Error::bad_request(
                    format!("validators[{i}].plugin"),
                    format!(
                        "no template-validator plugin named '{}' is loaded",
                        validator.plugin
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Runs the chain; returns every violation the plugins report.
    pub(super) async fn run_validators(&self, input: &ValidationInput<'_>) -> Result<Vec<String>> {
        if input.rules.validators.is_empty() {
            return Ok(Vec::new());
        }
        let now = OffsetDateTime::now_utc();
        let request = CertificateRequest {
            tenant: Tenant {
                organization_id: input.organization_id.to_owned(),
                project_id: Some(input.project_id.to_owned()),
            },
            template: input.template.to_owned(),
            subject: PluginSubject {
                common_name: input.subject.common_name.clone(),
                organization: input.subject.organization.iter().cloned().collect(),
                organizational_unit: input.subject.organizational_unit.iter().cloned().collect(),
                country: input.subject.country.clone(),
                state: input.subject.state.clone(),
                locality: input.subject.locality.clone(),
                other: input
                    .subject
                    .email_address
                    .iter()
                    .map(|e| ("1.2.840.113549.1.9.1".to_owned(), e.clone()))
                    .collect(),
            },
            sans: SubjectAltNames {
                dns: input.san.dns_names.clone(),
                ip: input.san.ip_addresses.clone(),
                email: input.san.email_addresses.clone(),
                uri: input.san.uris.clone(),
            },
            key: KeySpec {
                algorithm: match input.key {
                    KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => PluginKeyAlgorithm::Ecdsa,
                    KeyAlgorithm::Rsa(_) => PluginKeyAlgorithm::Rsa,
                    KeyAlgorithm::Ed25519 => PluginKeyAlgorithm::Ed25519,
                },
                size_bits: input.key.size(),
                curve: match input.key {
                    KeyAlgorithm::EcdsaP256 => Some("P-256".into()),
                    KeyAlgorithm::EcdsaP384 => Some("P-384".into()),
                    _ => None,
                },
            },
            not_before: u64::try_from(now.unix_timestamp()).unwrap_or_default(),
            not_after: u64::try_from(
                (now + time::Duration::days(i64::from(input.validity_days))).unix_timestamp(),
            )
            .unwrap_or_default(),
            is_ca: false,
            key_usages: input
                .rules
                .key_usage
                .iter()
                .map(|u| rfc5280_name(u))
                .collect(),
            extended_key_usages: input
                .rules
                .extended_key_usage
                .iter()
                .map(|u| rfc5280_name(u))
                .collect(),
        };
        let mut violations = Vec::new();
        for validator in &input.rules.validators {
            let plugin = self
                .plugins
                .template_validator(&validator.plugin)
                .ok_or_else(|| {
                    Error::Unprocessable(vec![format!(
                        "validator plugin '{}' is not loaded",
                        validator.plugin
                    )])
                })?;
            let tenant_config = if validator.config.is_null() {
                "{}".to_owned()
            } else {
                validator.config.to_string()
            };
            match plugin.validate(&request, &tenant_config).await? {
                Verdict::Allow => {}
                Verdict::Deny(found) => violations.extend(
                    found
                        .into_iter()
                        .map(|v| format!("{} ({}): {}", v.field, validator.plugin, v.message)),
                ),
            }
        }
        Ok(violations)
    }
}

/// `server_auth` -> `serverAuth`, as RFC 5280 names usages.
fn rfc5280_name(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

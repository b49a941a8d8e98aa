//! Template validator: every DNS name (SANs and a DNS-like common name) must
//! end in one of the tenant's allowed suffixes.
//!
//! Operator config: `{"default": ["example.com"], "tenants": {"org-id": ["corp.example"]}}`.
//! A tenant's own config `{"allowed_suffixes": [...]}` can only narrow that list.

use std::collections::BTreeMap;

use keystead_plugin_sdk::{PluginError, PluginInfo, PluginKind, config};
use serde::Deserialize;

keystead_plugin_sdk::generate!("template-validator", "../../wit");

use exports::keystead::plugin::validator::{CertificateRequest, Verdict, Violation};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Suffixes for tenants without an entry of their own.
    #[serde(default)]
    default: Vec<String>,
    #[serde(default)]
    tenants: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TenantConfig {
    allowed_suffixes: Option<Vec<String>>,
}

const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "default": {"type": "array", "items": {"type": "string"}},
    "tenants": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}
  }
}"#;

fn normalize(suffix: &str) -> Result<String, PluginError> {
    let s = suffix
        .trim()
        .trim_start_matches("*.")
        .trim_start_matches('.')
        .to_ascii_lowercase();
    let valid = !s.is_empty()
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if valid {
        Ok(s)
    } else {
        Err(PluginError::invalid(format!(
            "'{suffix}' is not a DNS suffix"
        )))
    }
}

fn parse_config(json: &str) -> Result<Config, PluginError> {
    let mut c: Config = config::parse("config", json)?;
    c.default = c
        .default
        .iter()
        .map(|s| normalize(s))
        .collect::<Result<_, _>>()?;
    for list in c.tenants.values_mut() {
        *list = list
            .iter()
            .map(|s| normalize(s))
            .collect::<Result<_, _>>()?;
    }
    Ok(c)
}

/// `name` equals the suffix or is a subdomain of it (label boundary).
fn matches(name: &str, suffix: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let name = name.strip_prefix("*.").unwrap_or(&name);
    name == suffix
        || name
            .strip_suffix(suffix)
            .is_some_and(|head| head.ends_with('.'))
}

struct Plugin;

impl exports::keystead::plugin::plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "dns-suffix".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "DNS names must end in one of the tenant's allowed suffixes".into(),
            kinds: vec![PluginKind::TemplateValidator],
            config_schema: SCHEMA.into(),
            stateless: true,
        }
    }

    fn validate_config(config: String) -> Result<(), PluginError> {
        parse_config(&config).map(|_| ())
    }
}

impl exports::keystead::plugin::validator::Guest for Plugin {
    fn validate(
        request: CertificateRequest,
        config: String,
        tenant_config: String,
    ) -> Result<Verdict, PluginError> {
        let config = parse_config(&config)?;
        let tenant: TenantConfig =
            keystead_plugin_sdk::config::parse("tenant config", &tenant_config)?;
        let operator = config
            .tenants
            .get(&request.tenant.organization_id)
            .unwrap_or(&config.default);
        let narrowed = match tenant.allowed_suffixes {
            Some(list) => Some(
                list.iter()
                    .map(|s| normalize(s))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        let allowed = |name: &str| {
            operator.iter().any(|s| matches(name, s))
                && narrowed
                    .as_ref()
                    .is_none_or(|n| n.iter().any(|s| matches(name, s)))
        };

        let mut names: Vec<(String, &str)> = request
            .sans
            .dns
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("sans.dns[{i}]"), n.as_str()))
            .collect();
        // A common name that looks like a host name is a DNS name too.
        if let Some(cn) = request.subject.common_name.as_deref()
            && cn.contains('.')
            && !cn.contains(' ')
            && !cn.contains('@')
        {
            names.push(("subject.common-name".into(), cn));
        }
        let violations: Vec<Violation> = names
            .into_iter()
            .filter(|(_, name)| !allowed(name))
            .map(|(field, name)| Violation {
                message: if operator.is_empty() {
                    format!(
                        "no DNS suffix is allowed for organization '{}'",
                        request.tenant.organization_id
                    )
                } else {
                    format!(
                        "'{name}' is not under an allowed suffix ({})",
                        operator.join(", ")
                    )
                },
                field,
            })
            .collect();
        Ok(if violations.is_empty() {
            Verdict::Allow
        } else {
            Verdict::Deny(violations)
        })
    }
}

export!(Plugin);

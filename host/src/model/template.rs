//! Certificate templates: a name, the CA that signs, and the rules a request must meet.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

#[derive(Debug, Clone)]
pub struct Template {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub description: Option<String>,
    /// The CA that signs the template's certificates.
    pub ca_id: String,
    pub rules: TemplateRules,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalMode {
    /// Issued as soon as the request passes the template.
    Automatic,
    /// Waits in `pending_approval` for someone with `certificate:approve`.
    Manual,
}

/// A template-validator plugin in a template's chain, with this tenant's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidatorRef {
    /// The plugin's name in the server's `[[plugins]]` config.
    pub plugin: String,
    /// Passed to the plugin as JSON.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
}

/// Everything a template decides. Empty allow-lists mean "anything".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TemplateRules {
    /// Subject fields a request may set (`common_name`, `organization`, ...).
    pub allowed_subject_fields: Vec<String>,
    /// Subject fields a request must set.
    pub required_subject_fields: Vec<String>,
    /// SAN types a request may carry: `dns`, `ip`, `email`, `uri`.
    pub allowed_san_types: Vec<String>,
    /// DNS names must match one of these: `example.com` exactly, or `*.example.com` for any name under it.
    pub dns_patterns: Vec<String>,
    /// IP SANs must fall in one of these CIDR blocks.
    pub ip_ranges: Vec<String>,
    /// Email SANs must end with one of these domains.
    pub email_domains: Vec<String>,
    /// URI SANs must start with one of these prefixes.
    pub uri_prefixes: Vec<String>,
    /// `ECDSA`, `RSA`, `Ed25519`.
    pub allowed_key_algorithms: Vec<String>,
    /// Allowed sizes: RSA bits and ECDSA curve sizes (256, 384).
    pub allowed_key_sizes: Vec<u32>,
    pub default_validity_days: u32,
    pub max_validity_days: u32,
    pub key_usage: Vec<String>,
    pub extended_key_usage: Vec<String>,
    pub approval: ApprovalMode,
    /// Whether the requester may approve its own request (manual approval only).
    pub allow_self_approval: bool,
    /// Renew this many days before expiry.
    pub renew_before_days: u32,
    pub auto_renew: bool,
    pub validators: Vec<ValidatorRef>,
}

impl Default for TemplateRules {
    fn default() -> Self {
        Self {
            allowed_subject_fields: Vec::new(),
            required_subject_fields: vec!["common_name".into()],
            allowed_san_types: Vec::new(),
            dns_patterns: Vec::new(),
            ip_ranges: Vec::new(),
            email_domains: Vec::new(),
            uri_prefixes: Vec::new(),
            allowed_key_algorithms: Vec::new(),
            allowed_key_sizes: Vec::new(),
            default_validity_days: 90,
            max_validity_days: 397,
            key_usage: vec!["digital_signature".into(), "key_encipherment".into()],
            extended_key_usage: vec!["server_auth".into()],
            approval: ApprovalMode::Automatic,
            allow_self_approval: false,
            renew_before_days: 30,
            auto_renew: false,
            validators: Vec::new(),
        }
    }
}

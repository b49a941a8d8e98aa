//! `[[plugins]]` entries of the operator config, and their validation at
//! start-up: a bad grant stops the server with a message naming the plugin.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::LoadError;
use super::limits::Limits;
use super::policy::{HostPattern, NetworkPolicy};

/// The four plugin kinds; each is a world of `keystead:plugin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    JwkSource,
    RotationTarget,
    TemplateValidator,
    WebhookTransport,
}

impl PluginKind {
    pub const ALL: [PluginKind; 4] = [
        Self::JwkSource,
        Self::RotationTarget,
        Self::TemplateValidator,
        Self::WebhookTransport,
    ];

    /// The world's name in `wit/`.
    pub fn world(self) -> &'static str {
        match self {
            Self::JwkSource => "jwk-source",
            Self::RotationTarget => "rotation-target",
            Self::TemplateValidator => "template-validator",
            Self::WebhookTransport => "webhook-transport",
        }
    }

    /// The interface the world exports besides `plugin`.
    pub fn export(self) -> &'static str {
        match self {
            Self::JwkSource => "keystead:plugin/jwk-provider@0.1.0",
            Self::RotationTarget => "keystead:plugin/rotator@0.1.0",
            Self::TemplateValidator => "keystead:plugin/validator@0.1.0",
            Self::WebhookTransport => "keystead:plugin/webhook-sender@0.1.0",
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.world())
    }
}

impl FromStr for PluginKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.world() == s)
            .ok_or_else(|| format!("unknown plugin kind '{s}'"))
    }
}

/// A directory a plugin may use, preopened at `guest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryGrant {
    /// Directory on the host; must exist.
    pub host: PathBuf,
    /// Absolute path the plugin sees, e.g. `/certs`.
    pub guest: String,
    #[serde(default)]
    pub read_only: bool,
}

/// One `[[plugins]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Name the API and other config refer to.
    pub name: String,
    pub kind: PluginKind,
    /// A component file (`.wasm`, or `.cwasm` is not accepted: only components).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// A first-party plugin built into the binary, e.g. `dns-suffix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<String>,
    /// Hosts the plugin may call: `api.example.com`, `*.example.com`,
    /// `host:8443`, `*` for any. Empty means no network.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Lets the plugin reach loopback addresses (the global `allow_loopback` does too).
    #[serde(default)]
    pub allow_loopback: bool,
    /// Lets the plugin reach private-range addresses (RFC 1918, fc00::/7).
    #[serde(default)]
    pub allow_private: bool,
    #[serde(default)]
    pub directories: Vec<DirectoryGrant>,
    #[serde(default)]
    pub limits: Limits,
    /// Passed to the plugin as a JSON object.
    #[serde(default)]
    pub config: toml::Table,
    /// Organizations that may use the plugin; `*` for all.
    #[serde(default = "all_organizations")]
    pub organizations: Vec<String>,
}

fn all_organizations() -> Vec<String> {
    vec!["*".into()]
}

impl PluginConfig {
    /// An entry for a first-party plugin with default grants.
    pub fn builtin(name: &str, kind: PluginKind) -> Self {
        Self {
            name: name.into(),
            kind,
            path: None,
            builtin: Some(name.into()),
            allowed_hosts: Vec::new(),
            allow_loopback: false,
            allow_private: false,
            directories: Vec::new(),
            limits: Limits::default(),
            config: toml::Table::new(),
            organizations: all_organizations(),
        }
    }

    /// The first-party plugins the embedded default config declares.
    pub fn defaults() -> Vec<Self> {
        // Webhook endpoints are anywhere public; private ranges stay blocked.
        let transport = |name: &str| {
            let mut entry = Self::builtin(name, PluginKind::WebhookTransport);
            entry.allowed_hosts = vec!["*".into()];
            entry
        };
        // JWK URLs are anywhere public; private ranges stay blocked.
        let mut jwk_url = Self::builtin("jwk-url", PluginKind::JwkSource);
        jwk_url.allowed_hosts = vec!["*".into()];
        // Secret managers and HTTP receivers are anywhere public; private ranges stay
        // blocked until an operator allows them.
        let mut openbao = Self::builtin("openbao-kv", PluginKind::RotationTarget);
        openbao.allowed_hosts = vec!["*".into()];
        let mut aws = Self::builtin("aws-secrets-manager", PluginKind::RotationTarget);
        aws.allowed_hosts = vec!["*.amazonaws.com".into()];
        let mut http = Self::builtin("http", PluginKind::RotationTarget);
        http.allowed_hosts = vec!["*".into()];
        vec![
            Self::builtin("dns-suffix", PluginKind::TemplateValidator),
            Self::builtin("copy-paste", PluginKind::JwkSource),
            jwk_url,
            Self::builtin("jwk-certificate", PluginKind::JwkSource),
            Self::builtin("jwk-key", PluginKind::JwkSource),
            Self::builtin("jwk-keystore", PluginKind::JwkSource),
            Self::builtin("filesystem", PluginKind::RotationTarget),
            openbao,
            aws,
            http,
            transport("http-hmac"),
            transport("slack"),
            transport("cloudevents"),
        ]
    }
}

/// Where a plugin's component comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Builtin(&'static [u8]),
    File(PathBuf),
}

/// A `[[plugins]]` entry after validation: what the runtime enforces.
#[derive(Debug, Clone)]
pub struct Grants {
    pub name: Arc<str>,
    pub kind: PluginKind,
    pub source: Source,
    pub network: Arc<NetworkPolicy>,
    pub directories: Vec<DirectoryGrant>,
    pub limits: Limits,
    /// The `config` table as JSON text, given to every call.
    pub config_json: String,
    /// `None` means every organization.
    pub organizations: Option<Vec<String>>,
}

impl Grants {
    pub fn allows_organization(&self, organization: &str) -> bool {
        self.organizations
            .as_ref()
            .is_none_or(|list| list.iter().any(|o| o == organization))
    }
}

/// Validates one entry. `global_loopback` is the server-wide `allow_loopback`.
pub fn validate(entry: &PluginConfig, global_loopback: bool) -> Result<Grants, LoadError> {
    let invalid = |reason: String| LoadError::InvalidConfig {
        plugin: entry.name.clone(),
        reason,
    };
    let name_ok = !entry.name.is_empty()
        && entry.name.len() <= 64
        && entry
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !name_ok {
        return Err(invalid(
            "the name must be 1-64 characters of a-z, 0-9, '-' or '_'".into(),
        ));
    }
    let source = match (&entry.path, &entry.builtin) {
        (Some(path), None) => {
            if !path.is_file() {
                return Err(invalid(format!(
                    "component file {} does not exist",
                    path.display()
                )));
            }
            Source::File(path.clone())
        }
        (None, Some(name)) => match super::artifacts::builtin(name) {
            Some(bytes) => Source::Builtin(bytes),
            None => {
                return Err(invalid(format!(
                    "no built-in plugin '{name}' (built in: {})",
                    super::artifacts::builtin_names().join(", ")
                )));
            }
        },
        _ => return Err(invalid("set exactly one of `path` and `builtin`".into())),
    };
    let allowed_hosts = entry
        .allowed_hosts
        .iter()
        .map(|p| HostPattern::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("allowed_hosts: {e}")))?;
    for dir in &entry.directories {
        if !dir.guest.starts_with('/') || dir.guest.split('/').any(|c| c == "..") {
            return Err(invalid(format!(
                "directories: guest path '{}' must be absolute, without '..'",
                dir.guest
            )));
        }
        if !dir.host.is_dir() {
            return Err(invalid(format!(
                "directories: {} is not a directory",
                dir.host.display()
            )));
        }
    }
    entry
        .limits
        .validate()
        .map_err(|e| invalid(format!("limits: {e}")))?;
    if entry.organizations.is_empty() {
        return Err(invalid(
            "organizations is empty; use [\"*\"] for every organization".into(),
        ));
    }
    let config_json = serde_json::to_string(&entry.config)
        .map_err(|e| invalid(format!("config cannot be expressed as JSON: {e}")))?;
    let limits = entry.limits.clone();
    Ok(Grants {
        name: entry.name.as_str().into(),
        kind: entry.kind,
        source,
        network: Arc::new(NetworkPolicy {
            allowed_hosts,
            allow_loopback: entry.allow_loopback || global_loopback,
            allow_private: entry.allow_private,
            connect_timeout: Duration::from_millis(limits.connect_timeout_ms),
            read_timeout: Duration::from_millis(limits.read_timeout_ms),
            max_response_bytes: limits.max_response_bytes,
        }),
        directories: entry.directories.clone(),
        limits,
        config_json,
        organizations: (!entry.organizations.iter().any(|o| o == "*"))
            .then(|| entry.organizations.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(toml_text: &str) -> PluginConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn parses_a_full_entry() {
        let e = entry(
            r#"
            name = "corp-rules"
            kind = "template-validator"
            builtin = "dns-suffix"
            allowed_hosts = ["*.example.com"]
            organizations = ["org-1"]
            [limits]
            memory_mb = 32
            [config]
            default = ["example.com"]
            "#,
        );
        let g = validate(&e, false).unwrap();
        assert_eq!(&*g.config_json, r#"{"default":["example.com"]}"#);
        assert_eq!(g.limits.memory_mb, 32);
        assert!(g.allows_organization("org-1") && !g.allows_organization("org-2"));
    }

    #[test]
    fn the_shipped_config_declares_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/keystead.toml");
        let config = crate::config::Config::from_file(std::path::Path::new(path)).unwrap();
        assert_eq!(config.plugins, PluginConfig::defaults());
        for entry in &config.plugins {
            validate(entry, false).unwrap();
        }
    }

    #[test]
    fn bad_grants_name_the_plugin() {
        let base = "name = \"p\"\nkind = \"jwk-source\"\nbuiltin = \"copy-paste\"\n";
        let cases = [
            (
                format!("{base}allowed_hosts = [\"http://x.com\"]"),
                "allowed_hosts",
            ),
            (
                "name = \"p\"\nkind = \"jwk-source\"\npath = \"/nonexistent.wasm\"".into(),
                "does not exist",
            ),
            (
                "name = \"p\"\nkind = \"jwk-source\"\nbuiltin = \"nope\"".into(),
                "no built-in",
            ),
            (
                format!("{base}directories = [{{ host = \"/nonexistent\", guest = \"/d\" }}]"),
                "not a directory",
            ),
            (format!("{base}[limits]\nmemory_mb = 0"), "memory_mb"),
        ];
        for (text, needle) in cases {
            let err = validate(&entry(&text), false).unwrap_err().to_string();
            assert!(
                err.starts_with("plugin p:") && err.contains(needle),
                "{err}"
            );
        }
        let unknown = toml::from_str::<PluginConfig>(&format!("{base}allowed_host = []"));
        assert!(unknown.is_err());
    }
}

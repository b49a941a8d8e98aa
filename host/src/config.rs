//! Operator configuration: a TOML file plus `KEYSTEAD_*` environment overrides.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;

use crate::crypto::SecretString;

/// The default config file; a missing default file means "all defaults".
pub const DEFAULT_CONFIG_PATH: &str = "config/keystead.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// Folder for the SQLite database and the generated master key.
    pub data_dir: PathBuf,
    /// `sqlite://...` URL; defaults to `keystead.db` under `data_dir`.
    pub database_url: Option<String>,
    /// File with the 32-byte master key (hex); defaults to `master.key` under `data_dir`.
    pub master_key_file: Option<PathBuf>,
    /// Secret of the admin API key created on an empty database.
    pub bootstrap_token: Option<SecretString>,
    /// Public base URL of this server, used in links it hands out.
    pub public_base_url: Option<String>,
    /// Where compiled plugins are cached; defaults to `plugin-cache` under `data_dir`.
    pub plugin_cache_dir: Option<PathBuf>,
    /// Lets outgoing calls reach plain-http loopback addresses (development and tests only).
    pub allow_loopback: bool,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    pub log: LogConfig,
    pub auth: AuthConfig,
    pub rate_limit: RateLimitConfig,
    pub jobs: JobsConfig,
    pub rotation: RotationConfig,
    /// `[[plugins]]`: the plugins to load; the default is the first-party ones.
    pub plugins: Vec<crate::plugins::PluginConfig>,
    pub jwks: JwksConfig,
    pub webhooks: WebhooksConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `keystead=debug,tower_http=info`.
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of the bearer tokens handed out with new API keys, in seconds.
    pub token_ttl_secs: u64,
    /// Proxies whose `X-Forwarded-For` header is trusted to name the client.
    pub trusted_proxies: Vec<IpNet>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// Sustained requests per second per API key.
    pub requests_per_second: u32,
    /// Bucket size: requests a key may send at once.
    pub burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwksConfig {
    /// How long a deprecated (rotated) JWT key stays in its project's JWKS, in seconds,
    /// so that tokens signed before the rotation keep verifying.
    pub rollover_secs: u64,
    /// `Cache-Control: public, max-age` of the public JWKS, in seconds.
    pub max_age_secs: u64,
}

impl Default for JwksConfig {
    fn default() -> Self {
        Self {
            rollover_secs: 86_400,
            max_age_secs: 300,
        }
    }
}

/// Webhook delivery: the dispatcher's pace, retries and leases, and the expiry notices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Whether this node delivers. Several nodes may: leases give each delivery to one.
    pub deliver: bool,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Attempts before a delivery is given up (`dead`).
    pub max_attempts: u32,
    /// Delay before the first retry, in milliseconds; it doubles with each attempt, with
    /// random jitter, up to `retry_max_secs`.
    pub retry_initial_ms: u64,
    pub retry_max_secs: u64,
    /// How long a dispatcher holds a delivery; after that (a crash) it is due again.
    pub lease_secs: u64,
    /// The dispatcher is woken by each commit that queues deliveries; it also looks for
    /// due work this often, in milliseconds.
    pub poll_ms: u64,
    /// Days before `notAfter` at which `certificate.expiring` is sent, once each.
    pub expiring_days: Vec<u32>,
    /// Finished deliveries (delivered or dead) are kept this many days.
    pub retention_days: u32,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            deliver: true,
            concurrency: 16,
            max_attempts: 15,
            retry_initial_ms: 5_000,
            retry_max_secs: 3_600,
            lease_secs: 120,
            poll_ms: 5_000,
            expiring_days: vec![30, 7, 1],
            retention_days: 30,
        }
    }
}

impl WebhooksConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |text: &str| Err(ConfigError::Invalid(format!("webhooks.{text}")));
        if !(1..=256).contains(&self.concurrency) {
            return invalid("concurrency must be between 1 and 256");
        }
        if !(1..=100).contains(&self.max_attempts) {
            return invalid("max_attempts must be between 1 and 100");
        }
        if self.retry_initial_ms == 0 || self.retry_max_secs == 0 {
            return invalid("retry_initial_ms and retry_max_secs must be at least 1");
        }
        if self.retry_max_secs > 7 * 86_400 || self.retry_initial_ms > self.retry_max_secs * 1000 {
            return invalid("retry_max_secs must be at most 7 days and cover retry_initial_ms");
        }
        if !(1..=86_400).contains(&self.lease_secs) || !(10..=3_600_000).contains(&self.poll_ms) {
            return invalid("lease_secs must be 1 to 86400 and poll_ms 10 to 3600000");
        }
        if self.expiring_days.iter().any(|d| !(1..=3650).contains(d)) {
            return invalid("expiring_days must be between 1 and 3650");
        }
        if !(1..=3650).contains(&self.retention_days) {
            return invalid("retention_days must be between 1 and 3650");
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            master_key_file: None,
            bootstrap_token: None,
            public_base_url: None,
            plugin_cache_dir: None,
            allow_loopback: false,
            max_body_bytes: 2 * 1024 * 1024,
            log: LogConfig::default(),
            auth: AuthConfig::default(),
            rate_limit: RateLimitConfig::default(),
            jobs: JobsConfig::default(),
            rotation: RotationConfig::default(),
            plugins: crate::plugins::PluginConfig::defaults(),
            jwks: JwksConfig::default(),
            webhooks: WebhooksConfig::default(),
        }
    }
}

/// Background job intervals.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// How often CRLs close to their `nextUpdate` are re-signed, in seconds.
    pub crl_refresh_secs: u64,
    /// How often certificates inside their renew-before window are renewed or queued.
    pub renewal_scan_secs: u64,
    /// How often certificates are checked against `[webhooks] expiring_days` for the
    /// `certificate.expiring` and `certificate.expired` events.
    pub expiry_scan_secs: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            crl_refresh_secs: 600,
            renewal_scan_secs: 3600,
            expiry_scan_secs: 3600,
        }
    }
}

/// Pushing certificates to their rotation targets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RotationConfig {
    /// How often certificates due for a scheduled push, or for a renewal "N days
    /// before expiry", are looked for, in seconds.
    pub scan_secs: u64,
    /// Wait before the first retry of a failed push, in seconds; doubled each time.
    pub retry_base_secs: u64,
    /// Longest wait between retries, in seconds.
    pub retry_max_secs: u64,
    /// Attempts of one push in all, the first included.
    pub max_attempts: u32,
    /// Pushes running at once.
    pub concurrency: usize,
}

impl Default for RotationConfig {
    fn default() -> Self {
        Self {
            scan_secs: 60,
            retry_base_secs: 30,
            retry_max_secs: 3600,
            max_attempts: 6,
            concurrency: 4,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_ttl_secs: 900,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            requests_per_second: 100,
            burst: 200,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("invalid environment variable {name}: {reason}")]
    Env { name: &'static str, reason: String },
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads `path` (or the default file when it exists), then applies environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => Self::from_file(path)?,
            None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
                Self::from_file(Path::new(DEFAULT_CONFIG_PATH))?
            }
            None => Self::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = var("KEYSTEAD_LISTEN") {
            self.listen = v.parse().map_err(|_| ConfigError::Env {
                name: "KEYSTEAD_LISTEN",
                reason: format!("'{v}' is not an address like 127.0.0.1:8443"),
            })?;
        }
        if let Some(v) = var("KEYSTEAD_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = var("KEYSTEAD_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = var("KEYSTEAD_MASTER_KEY_FILE") {
            self.master_key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = var("KEYSTEAD_BOOTSTRAP_TOKEN").filter(|v| !v.is_empty()) {
            self.bootstrap_token = Some(v.into());
        }
        if let Some(v) = var("KEYSTEAD_PLUGIN_CACHE_DIR") {
            self.plugin_cache_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = var("KEYSTEAD_PUBLIC_BASE_URL") {
            self.public_base_url = Some(v);
        }
        if let Some(v) = var("KEYSTEAD_ALLOW_LOOPBACK") {
            self.allow_loopback = match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" | "" => false,
                _ => {
                    return Err(ConfigError::Env {
                        name: "KEYSTEAD_ALLOW_LOOPBACK",
                        reason: format!("'{v}' is not true or false"),
                    });
                }
            };
        }
        if let Some(v) = var("KEYSTEAD_LOG_FORMAT") {
            self.log.format = match v.as_str() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                _ => {
                    return Err(ConfigError::Env {
                        name: "KEYSTEAD_LOG_FORMAT",
                        reason: format!("'{v}' is not text or json"),
                    });
                }
            };
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.rate_limit.enabled
            && (self.rate_limit.requests_per_second == 0 || self.rate_limit.burst == 0)
        {
            return Err(ConfigError::Invalid(
                "rate_limit.requests_per_second and rate_limit.burst must be at least 1".into(),
            ));
        }
        // Ten years: beyond it a duration is a typo, and time arithmetic stays in range.
        const MAX_JWKS_SECS: u64 = 10 * 365 * 86_400;
        if self.jwks.rollover_secs > MAX_JWKS_SECS || self.jwks.max_age_secs > MAX_JWKS_SECS {
            return Err(ConfigError::Invalid(
                "jwks.rollover_secs and jwks.max_age_secs must be at most ten years".into(),
            ));
        }
        let r = &self.rotation;
        if r.scan_secs == 0
            || r.retry_base_secs == 0
            || r.retry_max_secs < r.retry_base_secs
            || r.retry_max_secs > MAX_JWKS_SECS
            || r.max_attempts == 0
            || r.max_attempts > 100
            || r.concurrency == 0
            || r.concurrency > 256
        {
            return Err(ConfigError::Invalid(
                "rotation: scan_secs, retry_base_secs, max_attempts (at most 100) and \
                 concurrency (at most 256) must be at least 1, and retry_max_secs between \
                 retry_base_secs and ten years"
                    .into(),
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max_body_bytes must be at least 1024".into(),
            ));
        }
        self.webhooks.validate()?;
        if let Some(token) = &self.bootstrap_token
            && token.expose().trim() != token.expose()
        {
            return Err(ConfigError::Invalid(
                "the bootstrap token must not start or end with whitespace".into(),
            ));
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("keystead.db").display()))
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    /// Base URL for links this server hands out.
    pub fn public_base_url(&self) -> String {
        self.public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file() {
        let mut config = Config::from_toml("listen = \"127.0.0.1:9000\"\n").unwrap();
        config
            .apply_env(|name| match name {
                "KEYSTEAD_LISTEN" => Some("127.0.0.1:9100".into()),
                "KEYSTEAD_BOOTSTRAP_TOKEN" => Some("t0".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.listen.port(), 9100);
        assert_eq!(
            config.bootstrap_token.as_ref().map(SecretString::expose),
            Some("t0")
        );
    }

    #[test]
    fn debug_does_not_print_the_bootstrap_token() {
        let mut config = Config::from_toml("bootstrap_token = \"file-token-1\"\n").unwrap();
        assert!(!format!("{config:?}").contains("file-token-1"));
        config
            .apply_env(|name| (name == "KEYSTEAD_BOOTSTRAP_TOKEN").then(|| "env-token-2".into()))
            .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("env-token-2"), "{debug}");
        assert!(
            debug.contains("bootstrap_token: Some([redacted])"),
            "{debug}"
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Config::from_toml("listne = \"x\"").unwrap_err();
        assert!(err.to_string().contains("listne"), "{err}");
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let mut config = Config::default();
        let err = config
            .apply_env(|name| (name == "KEYSTEAD_LISTEN").then(|| "nowhere".into()))
            .unwrap_err();
        assert!(err.to_string().contains("KEYSTEAD_LISTEN"));
    }
}

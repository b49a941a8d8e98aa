//! Rotation target for OpenBao and HashiCorp Vault: writes the bundle into a
//! KV version 2 secret (`POST /v1/<mount>/data/<path>`, token in
//! `X-Vault-Token`). The secret's fields are `certificate`, `chain`,
//! `fullchain`, `private_key` (when the key goes along), `serial_number`,
//! `not_after`, `certificate_id` and `version`.
//!
//! A push reads the current version first and writes the union of its fields
//! and the bundle's with check-and-set on that version, so a push without a
//! key keeps a key stored earlier and two writers never lose each other's
//! update. `create_new_secret` writes with `cas = 0`: it fails when the
//! secret exists.

use std::time::Duration;

use keystead_plugin_sdk::http::{self, Request, Response};
use keystead_plugin_sdk::rotation::{excerpt, status_error};
use keystead_plugin_sdk::{PluginError, PluginInfo, PluginKind, bundle_view, config, naming};
use serde::Deserialize;
use serde_json::{Map, Value, json};

keystead_plugin_sdk::generate!("rotation-target", "../../wit");

use exports::keystead::plugin::rotator::{Bundle, Credentials, Receipt};

const SERVICE: &str = "OpenBao";

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    /// Connect and read timeout of each request, in milliseconds.
    timeout_ms: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self { timeout_ms: 10_000 }
    }
}

fn default_mount() -> String {
    "secret".into()
}

fn default_path() -> String {
    "keystead/{common_name}".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    /// Server URL, e.g. `https://vault.example.com:8200`.
    address: String,
    /// The KV version 2 mount.
    #[serde(default = "default_mount")]
    mount: String,
    /// Secret path under the mount; placeholders as in `naming`.
    #[serde(default = "default_path")]
    path: String,
    /// Enterprise / OpenBao namespace, sent as `X-Vault-Namespace`.
    #[serde(default)]
    namespace: Option<String>,
    /// Set by the host: a literal path instead of `path`.
    #[serde(default)]
    destination: Option<String>,
    /// Set by the host: fail when the secret exists.
    #[serde(default)]
    create_new_secret: bool,
}

impl Target {
    fn parse(json: &str) -> Result<Self, PluginError> {
        let target: Self = config::parse("target", json)?;
        let address = target.address.trim_end_matches('/');
        let scheme_ok = address.starts_with("https://") || address.starts_with("http://");
        let rest = address.split_once("://").map_or("", |(_, r)| r);
        if !scheme_ok || rest.is_empty() || rest.contains(['/', '@', '?', '#', ' ']) {
            return Err(PluginError::invalid(format!(
                "address '{}' must be http(s)://host[:port] without a path",
                target.address
            )));
        }
        naming::check_literal("mount", &target.mount, "")?;
        naming::check_template("path", &target.path, "")?;
        if let Some(d) = &target.destination {
            naming::check_literal("destination", d, "")?;
        }
        if let Some(ns) = &target.namespace {
            naming::check_literal("namespace", ns, "")?;
        }
        Ok(target)
    }

    fn address(&self) -> &str {
        self.address.trim_end_matches('/')
    }
}

fn token(credentials: &Credentials) -> Result<&str, PluginError> {
    let token = credentials
        .secret
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| PluginError::invalid("credentials: 'secret' must hold the token"))?;
    if token.chars().any(|c| c.is_control() || c == ' ') {
        return Err(PluginError::invalid(
            "credentials: the token has characters a header cannot carry",
        ));
    }
    Ok(token)
}

/// The reasons OpenBao gives in `{"errors": [...]}`.
fn reasons(response: &Response) -> String {
    serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|v| {
            v["errors"].as_array().map(|e| {
                e.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        })
        .unwrap_or_else(|| excerpt(&response.body))
}

struct Client<'a> {
    target: &'a Target,
    token: &'a str,
    timeout: Duration,
}

impl Client<'_> {
    fn request(&self, method: &str, url: &str, body: Vec<u8>) -> Result<Response, PluginError> {
        let mut request = Request::new(method, url)
            .header("x-vault-token", self.token)
            .header("accept", "application/json");
        if !body.is_empty() {
            request = request.header("content-type", "application/json");
        }
        if let Some(ns) = &self.target.namespace {
            request = request.header("x-vault-namespace", ns);
        }
        request.body = body;
        request.connect_timeout = Some(self.timeout);
        request.read_timeout = Some(self.timeout);
        request.max_response_bytes = 1024 * 1024;
        Ok(http::send(&request)?)
    }
}

struct Plugin;

impl exports::keystead::plugin::plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "openbao-kv".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "writes certificate, chain and key into an OpenBao / Vault KV v2 secret"
                .into(),
            kinds: vec![PluginKind::RotationTarget],
            config_schema: r#"{"type":"object","additionalProperties":false,"properties":{"timeout_ms":{"type":"integer","minimum":1}}}"#.into(),
            stateless: true,
        }
    }

    fn validate_config(config: String) -> Result<(), PluginError> {
        let config: Config = config::parse("config", &config)?;
        if config.timeout_ms == 0 {
            return Err(PluginError::invalid("timeout_ms must be at least 1"));
        }
        Ok(())
    }
}

impl exports::keystead::plugin::rotator::Guest for Plugin {
    fn check_target(
        target: String,
        credentials: Credentials,
        config: String,
    ) -> Result<(), PluginError> {
        let _: Config = config::parse("config", &config)?;
        Target::parse(&target)?;
        token(&credentials)?;
        Ok(())
    }

    fn push(
        bundle: Bundle,
        target: String,
        credentials: Credentials,
        config: String,
    ) -> Result<Receipt, PluginError> {
        let config: Config = config::parse("config", &config)?;
        let target = Target::parse(&target)?;
        let client = Client {
            target: &target,
            token: token(&credentials)?,
            timeout: Duration::from_millis(u64::from(config.timeout_ms)),
        };
        let view = bundle_view!(bundle);
        let path = match &target.destination {
            Some(d) => d.clone(),
            None => {
                let values = view.placeholders();
                let values: Vec<(&str, &str)> =
                    values.iter().map(|(k, v)| (*k, v.as_str())).collect();
                naming::render("path", &target.path, "", &values)?
            }
        };
        let url = format!("{}/v1/{}/data/{path}", target.address(), target.mount);
        let fields = view.secret_fields();

        let (data, cas) = if target.create_new_secret {
            (fields, Some(0))
        } else {
            let current = client.request("GET", &url, Vec::new())?;
            match current.status {
                200 => {
                    let body: Value = serde_json::from_slice(&current.body).map_err(|_| {
                        PluginError::unavailable(format!("{SERVICE} answered a read with no JSON"))
                    })?;
                    let mut merged: Map<String, Value> = body["data"]["data"]
                        .as_object()
                        .cloned()
                        .unwrap_or_default();
                    merged.extend(fields);
                    (merged, body["data"]["metadata"]["version"].as_u64())
                }
                // Never written, or its newest version deleted: write without a guard.
                404 => (fields, None),
                status => {
                    return Err(status_error(
                        SERVICE,
                        status,
                        current.header("retry-after"),
                        &reasons(&current),
                    ));
                }
            }
        };
        let mut body = json!({ "data": data });
        if let Some(cas) = cas {
            body["options"] = json!({ "cas": cas });
        }
        let body = config::to_json(&body)?.into_bytes();
        let written = client.request("POST", &url, body)?;
        if !(200..300).contains(&written.status) {
            let why = reasons(&written);
            if written.status == 400 && why.contains("check-and-set") {
                return Err(if target.create_new_secret {
                    PluginError::invalid(format!(
                        "{SERVICE} secret {}/{path} exists already",
                        target.mount
                    ))
                } else {
                    PluginError::retryable(
                        format!("{SERVICE} secret {}/{path} changed meanwhile", target.mount),
                        Some(1),
                    )
                });
            }
            return Err(status_error(
                SERVICE,
                written.status,
                written.header("retry-after"),
                &why,
            ));
        }
        let version = serde_json::from_slice::<Value>(&written.body)
            .ok()
            .and_then(|v| v["data"]["version"].as_u64())
            .map(|v| v.to_string());
        Ok(Receipt {
            location: url,
            version,
        })
    }
}

export!(Plugin);

//! Rotation target for any HTTP endpoint: sends the bundle as JSON with PUT
//! or POST and signs it with HMAC-SHA256 over `<t>.<body>` in
//! `X-Keystead-Signature: t=<unix>,v1=<hex>` (the scheme of the `http-hmac`
//! webhooks), so the receiver can check who sent it and when. The key is in
//! the body only when the bundle carries one.

use std::collections::BTreeMap;
use std::time::Duration;

use hmac::{Hmac, Mac};
use keystead_plugin_sdk::http::{self, Request};
use keystead_plugin_sdk::rotation::{excerpt, now_unix, rfc3339, status_error};
use keystead_plugin_sdk::{PluginError, PluginInfo, PluginKind, bundle_view, config};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

keystead_plugin_sdk::generate!("rotation-target", "../../wit");

use exports::keystead::plugin::rotator::{Bundle, Credentials, Receipt};

pub const SIGNATURE_HEADER: &str = "X-Keystead-Signature";
const RESERVED: &[&str] = &[
    "content-type",
    "x-keystead-signature",
    "x-keystead-certificate",
    "host",
    "content-length",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    timeout_ms: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self { timeout_ms: 10_000 }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    url: String,
    /// `POST` (default) or `PUT`.
    #[serde(default)]
    method: Option<String>,
    /// Extra headers; they cannot replace the ones this plugin sets.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Set by the host; passed on in the body for the receiver.
    #[serde(default)]
    destination: Option<String>,
    #[serde(default)]
    create_new_secret: bool,
}

impl Target {
    fn parse(json: &str) -> Result<Self, PluginError> {
        let target: Self = config::parse("target", json)?;
        let rest = target
            .url
            .strip_prefix("https://")
            .or_else(|| target.url.strip_prefix("http://"))
            .unwrap_or("");
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        if authority.is_empty() || authority.contains('@') || target.url.contains([' ', '#']) {
            return Err(PluginError::invalid(format!(
                "url '{}' must be an http(s) URL without credentials or fragment",
                target.url
            )));
        }
        if !matches!(target.method(), "POST" | "PUT") {
            return Err(PluginError::invalid("method must be POST or PUT"));
        }
        for (name, value) in &target.headers {
            let name_ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !name_ok || value.chars().any(char::is_control) {
                return Err(PluginError::invalid(format!(
                    "header '{name}' is malformed"
                )));
            }
            if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(PluginError::invalid(format!(
                    "header '{name}' is set by the plugin"
                )));
            }
        }
        Ok(target)
    }

    fn method(&self) -> &str {
        self.method.as_deref().unwrap_or("POST")
    }
}

fn secret(credentials: &Credentials) -> Result<&str, PluginError> {
    credentials
        .secret
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| PluginError::invalid("credentials: 'secret' must hold the signing key"))
}

/// `t=<unix>,v1=<hex(HMAC-SHA256(secret, "<unix>.<body>"))>`
fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> Result<String, PluginError> {
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

struct Plugin;

impl exports::keystead::plugin::plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "http".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "sends the bundle as JSON with PUT or POST, signed with HMAC-SHA256"
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
        secret(&credentials)?;
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
        let key = secret(&credentials)?;
        let view = bundle_view!(bundle);
        let mut body = json!({
            "certificate_id": view.certificate_id,
            "organization_id": view.organization_id,
            "project_id": view.project_id,
            "serial_number": view.serial,
            "version": view.version,
            "names": view.names,
            "certificate_pem": view.certificate_pem,
            "chain_pem": view.chain_pem,
            "not_after": rfc3339(view.not_after),
        });
        if let Some(k) = view.private_key_pem {
            body["private_key_pem"] = k.into();
        }
        if let Some(d) = &target.destination {
            body["destination"] = d.as_str().into();
        }
        if target.create_new_secret {
            body["create_new_secret"] = true.into();
        }
        let body = config::to_json(&body)?.into_bytes();
        let timeout = Duration::from_millis(u64::from(config.timeout_ms));

        let mut request = Request::new(target.method(), &target.url);
        for (name, value) in &target.headers {
            request = request.header(name, value);
        }
        request = request
            .header("content-type", "application/json")
            .header("x-keystead-certificate", &bundle.certificate_id)
            .header(
                SIGNATURE_HEADER,
                &signature(key.as_bytes(), now_unix(), &body)?,
            );
        request.body = body;
        request.connect_timeout = Some(timeout);
        request.read_timeout = Some(timeout);
        request.max_response_bytes = 64 * 1024;
        let response = http::send(&request)?;
        if !(200..300).contains(&response.status) {
            return Err(status_error(
                &target.url,
                response.status,
                response.header("retry-after"),
                &excerpt(&response.body),
            ));
        }
        let version = serde_json::from_slice::<Value>(&response.body)
            .ok()
            .and_then(|v| match &v["version"] {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .or_else(|| response.header("etag").map(str::to_owned));
        Ok(Receipt {
            location: target.url.clone(),
            version,
        })
    }
}

export!(Plugin);

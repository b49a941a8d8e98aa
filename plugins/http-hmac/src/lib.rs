//! Webhook transport: POSTs the event as JSON and signs it with
//! HMAC-SHA256 over `<t>.<body>` in `X-Keystead-Signature: t=<unix>,v1=<hex>`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use keystead_plugin_sdk::http::{self, Request};
use keystead_plugin_sdk::{PluginError, PluginInfo, PluginKind, config};
use serde::Deserialize;
use sha2::Sha256;

keystead_plugin_sdk::generate!("webhook-transport", "../../wit");

use exports::keystead::plugin::webhook_sender::{Delivery, Endpoint, Event};

pub const SIGNATURE_HEADER: &str = "X-Keystead-Signature";

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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct EndpointConfig {
    /// Extra headers; they cannot replace the ones this plugin sets.
    headers: BTreeMap<String, String>,
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
            name: "http-hmac".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "HTTP POST with an HMAC-SHA256 signature header".into(),
            kinds: vec![PluginKind::WebhookTransport],
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

impl exports::keystead::plugin::webhook_sender::Guest for Plugin {
    fn deliver(event: Event, endpoint: Endpoint, config: String) -> Result<Delivery, PluginError> {
        let config: Config = config::parse("config", &config)?;
        let extra: EndpointConfig = config::parse("endpoint config", &endpoint.config)?;
        let secret = endpoint
            .secret
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| PluginError::invalid("the endpoint has no signing secret"))?;
        let payload: serde_json::Value = config::parse("event payload", &event.payload)?;
        let body = config::to_json(&serde_json::json!({
            "id": event.id,
            "type": event.event_type,
            "timestamp": event.timestamp,
            "organization_id": event.tenant.organization_id,
            "data": payload,
        }))?
        .into_bytes();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);

        let timeout = Duration::from_millis(u64::from(config.timeout_ms));
        let mut request = Request::post(&endpoint.url, body.clone());
        for (name, value) in &extra.headers {
            let reserved = ["content-type", "x-keystead-event", "x-keystead-delivery"];
            if reserved.contains(&name.to_ascii_lowercase().as_str())
                || name.eq_ignore_ascii_case(SIGNATURE_HEADER)
            {
                return Err(PluginError::invalid(format!(
                    "header '{name}' is set by the transport"
                )));
            }
            request = request.header(name, value);
        }
        request = request
            .header("content-type", "application/json")
            .header("x-keystead-event", &event.event_type)
            .header("x-keystead-delivery", &event.id)
            .header(SIGNATURE_HEADER, &signature(secret.as_bytes(), now, &body)?);
        request.connect_timeout = Some(timeout);
        request.read_timeout = Some(timeout);
        // The receiver's answer is not used beyond its status.
        request.max_response_bytes = 64 * 1024;

        let started = Instant::now();
        let response = http::send(&request)?;
        Ok(Delivery {
            status_code: response.status,
            duration_ms: u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX),
        })
    }
}

export!(Plugin);

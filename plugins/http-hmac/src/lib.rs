//! Webhook transport: POSTs the event as JSON, signed with HMAC-SHA256 over `<t>.<body>`
//! in `X-Keystead-Signature: t=<unix>,v1=<hex>` (and `X-WRVault-Signature`).
//!
//! Body: `{"id", "type", "createdAt", "timestamp", "organizationId", "projectId", "data"}`.

use std::time::Duration;

use keystead_plugin_sdk::webhook::{self, EndpointSettings, Post};
use keystead_plugin_sdk::{PluginError, PluginInfo, PluginKind, config};
use serde::Deserialize;

keystead_plugin_sdk::generate!("webhook-transport", "../../wit");

use exports::keystead::plugin::webhook_sender::{Delivery, Endpoint, Event};

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

fn parse_config(text: &str) -> Result<Config, PluginError> {
    let config: Config = config::parse("config", text)?;
    if config.timeout_ms == 0 {
        return Err(PluginError::invalid("timeout_ms must be at least 1"));
    }
    Ok(config)
}

struct Plugin;

impl exports::keystead::plugin::plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "http-hmac".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "HTTP POST of the event as JSON with an HMAC-SHA256 signature header"
                .into(),
            kinds: vec![PluginKind::WebhookTransport],
            config_schema: r#"{"type":"object","additionalProperties":false,"properties":{"timeout_ms":{"type":"integer","minimum":1}}}"#.into(),
            stateless: true,
        }
    }

    fn validate_config(config: String) -> Result<(), PluginError> {
        parse_config(&config).map(|_| ())
    }
}

impl exports::keystead::plugin::webhook_sender::Guest for Plugin {
    fn deliver(event: Event, endpoint: Endpoint, config: String) -> Result<Delivery, PluginError> {
        let config = parse_config(&config)?;
        let settings: EndpointSettings = config::parse("endpoint config", &endpoint.config)?;
        let secret = endpoint
            .secret
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| PluginError::invalid("the endpoint has no signing secret"))?;
        let data: serde_json::Value = config::parse("event payload", &event.payload)?;
        let body = config::to_json(&serde_json::json!({
            "id": event.id,
            "type": event.event_type,
            "createdAt": webhook::rfc3339(event.timestamp),
            "timestamp": event.timestamp,
            "organizationId": event.tenant.organization_id,
            "projectId": event.tenant.project_id,
            "data": data,
        }))?;
        let answer = webhook::post(Post {
            url: &endpoint.url,
            content_type: "application/json",
            body: body.into_bytes(),
            event_id: &event.id,
            event_type: &event.event_type,
            secret: Some(secret),
            settings: &settings,
            timeout: Duration::from_millis(u64::from(config.timeout_ms)),
        })?;
        Ok(Delivery {
            status_code: answer.status,
            duration_ms: answer.duration_ms,
        })
    }
}

export!(Plugin);

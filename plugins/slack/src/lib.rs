//! Webhook transport for Slack incoming webhooks (and the chat tools that accept their
//! format): POSTs `{"text": "<a readable summary>"}`. The delivery is signed like every
//! Keystead delivery (`X-Keystead-Signature`), which Slack ignores and a relay may check.

use std::time::Duration;

use keystead_plugin_sdk::webhook::{self, EndpointSettings, Post};
use keystead_plugin_sdk::{PluginError, PluginInfo, PluginKind, config};
use serde::Deserialize;
use serde_json::Value;

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

/// Slack's mrkdwn needs `&`, `<` and `>` escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A member of the event data as text (`?` when absent).
fn field(data: &Value, name: &str) -> String {
    match data.get(name) {
        Some(Value::String(s)) => escape(s),
        Some(Value::Null) | None => "?".into(),
        Some(other) => escape(&other.to_string()),
    }
}

/// One or two lines a person reads in a channel.
fn summary(event_type: &str, data: &Value) -> String {
    let cn = field(data, "commonName");
    let serial = field(data, "serialNumber");
    let until = field(data, "notAfter");
    let headline = match event_type {
        "certificate.issued" => {
            format!(":white_check_mark: Certificate issued for *{cn}*, valid until {until}")
        }
        "certificate.renewed" => format!(
            ":arrows_counterclockwise: Certificate for *{cn}* renewed, valid until {until}"
        ),
        "certificate.revoked" => format!(
            ":no_entry: Certificate for *{cn}* revoked (reason: {})",
            field(data, "reason")
        ),
        "certificate.expiring" => format!(
            ":warning: Certificate for *{cn}* expires in {} days, on {until}",
            field(data, "daysLeft")
        ),
        "certificate.expired" => format!(":x: Certificate for *{cn}* expired on {until}"),
        "key.rotated" => format!(
            ":key: JWT signing key *{}* rotated: new kid `{}`, previous kid `{}`",
            field(data, "name"),
            field(data, "kid"),
            field(data, "previousKid")
        ),
        "jwk.created" => format!(
            ":key: JWK *{}* created from {} (kid `{}`)",
            field(data, "name"),
            field(data, "sourceType"),
            field(data, "kid")
        ),
        "rotation.failed" => format!(
            ":rotating_light: Rotation failed for *{cn}*: {}",
            field(data, "error")
        ),
        "webhook.ping" => ":wave: Keystead can reach this webhook".into(),
        other => format!("Keystead event `{}`", escape(other)),
    };
    let detail = if data.get("serialNumber").is_some_and(|s| !s.is_null()) {
        format!("\nSerial `{serial}` · `{}`", escape(event_type))
    } else {
        format!("\n`{}`", escape(event_type))
    };
    format!("{headline}{detail}")
}

struct Plugin;

impl exports::keystead::plugin::plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "slack".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Slack incoming-webhook message with a readable summary of the event"
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
        let data: Value = config::parse("event payload", &event.payload)?;
        let body = config::to_json(&serde_json::json!({
            "text": summary(&event.event_type, &data),
        }))?;
        let answer = webhook::post(Post {
            url: &endpoint.url,
            content_type: "application/json",
            body: body.into_bytes(),
            event_id: &event.id,
            event_type: &event.event_type,
            secret: endpoint.secret.as_deref(),
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

//! Webhook transport: CloudEvents 1.0 in structured mode over HTTP
//! (`Content-Type: application/cloudevents+json`), signed like every Keystead delivery.
//!
//! `source` is `<config.source>/organizations/<id>[/projects/<id>]`, `type` is
//! `<config.type_prefix><event type>` (default `io.keystead.certificate.issued`), `id`
//! is the event id (the same on every retry), `subject` the object the event is about.

use std::time::Duration;

use keystead_plugin_sdk::webhook::{self, EndpointSettings, Post};
use keystead_plugin_sdk::{PluginError, PluginInfo, PluginKind, config};
use serde::Deserialize;
use serde_json::{Value, json};

keystead_plugin_sdk::generate!("webhook-transport", "../../wit");

use exports::keystead::plugin::webhook_sender::{Delivery, Endpoint, Event};

pub const CONTENT_TYPE: &str = "application/cloudevents+json";

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    timeout_ms: u32,
    /// A URI-reference naming this installation, e.g. `https://pki.example.com`.
    source: String,
    /// Put before the Keystead event type to make the CloudEvents `type`.
    type_prefix: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            timeout_ms: 10_000,
            source: "/keystead".into(),
            type_prefix: "io.keystead.".into(),
        }
    }
}

fn parse_config(text: &str) -> Result<Config, PluginError> {
    let config: Config = config::parse("config", text)?;
    if config.timeout_ms == 0 {
        return Err(PluginError::invalid("timeout_ms must be at least 1"));
    }
    if config.source.is_empty() || config.source.chars().any(char::is_whitespace) {
        return Err(PluginError::invalid(
            "source must be a non-empty URI-reference without spaces",
        ));
    }
    Ok(config)
}

/// The id of what the event is about, when it names one.
fn subject(data: &Value) -> Option<&str> {
    ["certificateId", "keyId", "jwkId", "webhookId"]
        .iter()
        .find_map(|name| data.get(*name).and_then(Value::as_str))
}

fn envelope(event: &Event, config: &Config) -> Result<Value, PluginError> {
    let data: Value = config::parse("event payload", &event.payload)?;
    let mut source = format!(
        "{}/organizations/{}",
        config.source.trim_end_matches('/'),
        event.tenant.organization_id
    );
    if let Some(project) = &event.tenant.project_id {
        source.push_str("/projects/");
        source.push_str(project);
    }
    let mut envelope = json!({
        "specversion": "1.0",
        "id": event.id,
        "source": source,
        "type": format!("{}{}", config.type_prefix, event.event_type),
        "time": webhook::rfc3339(event.timestamp),
        "datacontenttype": "application/json",
    });
    if let (Some(map), Some(subject)) = (envelope.as_object_mut(), subject(&data)) {
        map.insert("subject".into(), subject.into());
    }
    if let Some(map) = envelope.as_object_mut() {
        map.insert("data".into(), data);
    }
    Ok(envelope)
}

struct Plugin;

impl exports::keystead::plugin::plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "cloudevents".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "CloudEvents 1.0, structured mode, application/cloudevents+json".into(),
            kinds: vec![PluginKind::WebhookTransport],
            config_schema: r#"{"type":"object","additionalProperties":false,"properties":{"timeout_ms":{"type":"integer","minimum":1},"source":{"type":"string","minLength":1},"type_prefix":{"type":"string"}}}"#.into(),
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
        let body = config::to_json(&envelope(&event, &config)?)?;
        let answer = webhook::post(Post {
            url: &endpoint.url,
            content_type: CONTENT_TYPE,
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

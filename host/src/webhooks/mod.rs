//! Webhooks: endpoints that receive events, their delivery log, redelivery, and the
//! dispatcher that delivers the outbox through the webhook-transport plugins.
//!
//! An endpoint belongs to an organization and, optionally, one project (then it hears
//! only that project's events). Its signing secret is sealed under the master key with
//! the endpoint's id bound in, shown once when the server generates it, and opened only
//! to sign a delivery. Nothing here knows HTTP.

pub mod dispatcher;
pub mod events;

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use serde_json::{Map, Value, json};
use uuid::Uuid;

pub use dispatcher::Dispatcher;
pub use events::{Event, EventKind, emit, emit_now};

use crate::audit::{AuditEvent, Severity};
use crate::auth::Caller;
use crate::crypto::{MasterKey, Sealed, SecretString};
use crate::model::webhook::{DeliveryFilter, DeliveryStatus};
use crate::model::{DeliveryAttempt, Webhook, WebhookDelivery};
use crate::plugins::Registry;
use crate::store::Scope;
use crate::tenancy::{MAX_DESCRIPTION_LEN, ServiceContext};
use crate::{Error, Result, timestamp};

/// The transport of an endpoint that names none.
pub const DEFAULT_TRANSPORT: &str = "http-hmac";
pub const MAX_URL_LEN: usize = 2048;
pub const MIN_SECRET_LEN: usize = 8;
pub const MAX_SECRET_LEN: usize = 512;
pub const MAX_CONFIG_BYTES: usize = 8 * 1024;

/// A new endpoint. Anything left out takes its default.
#[derive(Debug, Default)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<String>,
    /// Generated (and returned once) when absent.
    pub secret: Option<SecretString>,
    pub active: Option<bool>,
    pub transport: Option<String>,
    pub config: Option<Value>,
    pub project_id: Option<String>,
    pub description: Option<String>,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub secret: Option<SecretString>,
    pub active: Option<bool>,
    pub transport: Option<String>,
    pub config: Option<Value>,
    /// `Some(None)` clears it.
    pub description: Option<Option<String>>,
}

pub struct CreatedWebhook {
    pub webhook: Webhook,
    /// The secret the server generated, returned this once; `None` when the caller gave one.
    pub generated_secret: Option<SecretString>,
}

/// A delivery with its attempts, oldest attempt first.
pub struct DeliveryRecord {
    pub delivery: WebhookDelivery,
    pub attempts: Vec<DeliveryAttempt>,
}

pub struct Webhooks {
    context: ServiceContext,
    master: Arc<MasterKey>,
    plugins: Arc<Registry>,
    allow_loopback: bool,
}

/// The associated data the secret of webhook `id` is sealed with.
pub(crate) fn secret_record(id: &str) -> String {
    format!("webhook:{id}")
}

impl Webhooks {
    pub fn new(
        context: ServiceContext,
        master: Arc<MasterKey>,
        plugins: Arc<Registry>,
        allow_loopback: bool,
    ) -> Self {
        Self {
            context,
            master,
            plugins,
            allow_loopback,
        }
    }

    /// The dispatcher that delivers this store's outbox.
    pub fn dispatcher(&self, settings: dispatcher::Settings) -> Dispatcher {
        Dispatcher::new(
            self.context.store.clone(),
            self.master.clone(),
            self.plugins.clone(),
            settings,
        )
    }

    pub async fn create(&self, caller: &Caller, input: NewWebhook) -> Result<CreatedWebhook> {
        let url = self.check_url(&input.url)?;
        let events = check_events(&input.events)?;
        let transport = self.check_transport(
            caller,
            input.transport.as_deref().unwrap_or(DEFAULT_TRANSPORT),
        )?;
        let config = check_config(input.config)?;
        let description = check_description(input.description)?;
        let project_id = self
            .resolve_project(caller, input.project_id.as_deref())
            .await?;
        let (secret, generated_secret) = match input.secret {
            Some(secret) => (check_secret(secret)?, None),
            None => {
                let secret = generate_secret();
                (secret.clone(), Some(secret))
            }
        };
        let id = Uuid::new_v4().to_string();
        let now = timestamp::now();
        let webhook = Webhook {
            sealed_secret: self
                .master
                .seal(&secret_record(&id), secret.expose().as_bytes())
                .0,
            id,
            organization_id: caller.organization_id().to_owned(),
            project_id,
            url,
            events,
            transport,
            config,
            description,
            active: input.active.unwrap_or(true),
            created_at: now,
            updated_at: now,
        };
        self.context.store.webhook_insert(webhook.clone()).await?;
        self.record(caller, "webhook.create", Severity::Medium, &webhook, None)
            .await?;
        Ok(CreatedWebhook {
            webhook,
            generated_secret,
        })
    }

    /// The webhooks the caller may see; only one project's when `project_id` is given.
    pub async fn list(&self, caller: &Caller, project_id: Option<&str>) -> Result<Vec<Webhook>> {
        let organization = caller.organization_id();
        let scope = match (project_id, caller.principal.project_id.as_deref()) {
            (Some(asked), Some(mine)) if asked != mine => return Ok(Vec::new()),
            (Some(p), _) | (None, Some(p)) => Scope::project(organization, p),
            (None, None) => Scope::organization(organization),
        };
        Ok(self.context.store.webhook_list(scope).await?)
    }

    /// A webhook the caller may see; another tenant's (or project's) is "not found".
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Webhook> {
        self.context
            .store
            .webhook_get(caller.scope(), id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    pub async fn update(
        &self,
        caller: &Caller,
        id: &str,
        changes: WebhookChanges,
    ) -> Result<Webhook> {
        let mut webhook = self.get(caller, id).await?;
        let mut changed = Vec::new();
        if let Some(url) = changes.url {
            webhook.url = self.check_url(&url)?;
            changed.push("url");
        }
        if let Some(events) = changes.events {
            webhook.events = check_events(&events)?;
            changed.push("events");
        }
        if let Some(transport) = changes.transport {
            webhook.transport = self.check_transport(caller, &transport)?;
            changed.push("transport");
        }
        if let Some(config) = changes.config {
            webhook.config = check_config(Some(config))?;
            changed.push("config");
        }
        if let Some(description) = changes.description {
            webhook.description = check_description(description)?;
            changed.push("description");
        }
        if let Some(active) = changes.active {
            webhook.active = active;
            changed.push("active");
        }
        if let Some(secret) = changes.secret {
            let secret = check_secret(secret)?;
            webhook.sealed_secret = self
                .master
                .seal(&secret_record(&webhook.id), secret.expose().as_bytes())
                .0;
            changed.push("secret");
        }
        webhook.updated_at = timestamp::now();
        if !self.context.store.webhook_update(webhook.clone()).await? {
            return Err(not_found(id));
        }
        let severity = if changed.contains(&"secret") {
            Severity::High
        } else {
            Severity::Medium
        };
        self.record(
            caller,
            "webhook.update",
            severity,
            &webhook,
            Some(json!({ "changed": changed })),
        )
        .await?;
        Ok(webhook)
    }

    /// Deletes a webhook; its pending deliveries and its log go with it.
    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<()> {
        let webhook = self.get(caller, id).await?;
        if !self
            .context
            .store
            .webhook_delete(caller.scope(), &webhook.id)
            .await?
        {
            return Err(not_found(id));
        }
        self.record(caller, "webhook.delete", Severity::High, &webhook, None)
            .await
    }

    /// A webhook's deliveries, newest first, each with its attempts; only those with
    /// `status` and of `event_type` when given.
    pub async fn deliveries(
        &self,
        caller: &Caller,
        id: &str,
        status: Option<&str>,
        event_type: Option<String>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<DeliveryRecord>, i64)> {
        let webhook = self.get(caller, id).await?;
        let status = status
            .map(|status| {
                DeliveryStatus::parse(status).ok_or_else(|| {
                    let names: Vec<&str> = DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect();
                    Error::bad_request(
                        "status",
                        format!("'{status}' is not one of {}", names.join(", ")),
                    )
                })
            })
            .transpose()?;
        let filter = DeliveryFilter { status, event_type };
        let (deliveries, total) = self
            .context
            .store
            .delivery_list(&webhook.id, &filter, offset, limit)
            .await?;
        let ids: Vec<&str> = deliveries.iter().map(|d| d.id.as_str()).collect();
        let mut attempts = self.context.store.attempt_list(&ids).await?;
        let records = deliveries
            .into_iter()
            .map(|delivery| {
                let (mine, rest): (Vec<_>, Vec<_>) = attempts
                    .drain(..)
                    .partition(|a| a.delivery_id == delivery.id);
                attempts = rest;
                DeliveryRecord {
                    delivery,
                    attempts: mine,
                }
            })
            .collect();
        Ok((records, total))
    }

    pub async fn delivery(
        &self,
        caller: &Caller,
        id: &str,
        delivery_id: &str,
    ) -> Result<DeliveryRecord> {
        let webhook = self.get(caller, id).await?;
        let delivery = self
            .context
            .store
            .delivery_get(&webhook.id, delivery_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("delivery '{delivery_id}'")))?;
        let attempts = self
            .context
            .store
            .attempt_list(&[delivery.id.as_str()])
            .await?;
        Ok(DeliveryRecord { delivery, attempts })
    }

    /// Queues the event of a delivery again for the same webhook, as a new delivery with
    /// the same event id (receivers deduplicate on it).
    pub async fn redeliver(
        &self,
        caller: &Caller,
        id: &str,
        delivery_id: &str,
    ) -> Result<DeliveryRecord> {
        let webhook = self.get(caller, id).await?;
        let mut audit =
            audit_event(caller, "webhook.redeliver", Severity::Low, &webhook, None).record();
        let repeated = delivery_id.to_owned();
        let new_id = self
            .context
            .store
            .transaction(move |tx| {
                let new_id = tx
                    .delivery_repeat(&webhook.id, &repeated, timestamp::now())?
                    .ok_or_else(|| Error::NotFound(format!("delivery '{repeated}'")))?;
                audit.details = Some(json!({ "delivery": repeated, "newDelivery": new_id }));
                tx.audit_insert(&audit)?;
                Ok::<_, Error>(new_id)
            })
            .await?;
        self.delivery(caller, id, &new_id).await
    }

    /// Sends a `webhook.ping` event to this webhook only, whatever it subscribes to.
    pub async fn ping(&self, caller: &Caller, id: &str) -> Result<DeliveryRecord> {
        let webhook = self.get(caller, id).await?;
        if !webhook.active {
            return Err(Error::Conflict(
                "the webhook is inactive; activate it to send a ping".into(),
            ));
        }
        let event = Event::new(
            EventKind::WebhookPing,
            &webhook.organization_id,
            webhook.project_id.as_deref(),
            json!({ "webhookId": webhook.id, "sentBy": caller.principal.actor() }),
        );
        let delivery_id = self
            .context
            .store
            .transaction(move |tx| events::emit_to(tx, &event, &webhook.id))
            .await?;
        self.delivery(caller, id, &delivery_id).await
    }

    /// The project an endpoint is bound to: the one given, the caller's own for a
    /// project-scoped key, or none (every project of the organization).
    async fn resolve_project(
        &self,
        caller: &Caller,
        asked: Option<&str>,
    ) -> Result<Option<String>> {
        let id = match (asked, caller.principal.project_id.as_deref()) {
            (Some(id), _) | (None, Some(id)) => id,
            (None, None) => return Ok(None),
        };
        match self.context.tenancy.get_project(caller, id).await {
            Ok(project) => Ok(Some(project.id)),
            Err(Error::NotFound(_)) => Err(Error::bad_request(
                "projectId",
                format!("no project '{id}'"),
            )),
            Err(other) => Err(other),
        }
    }

    fn check_url(&self, url: &str) -> Result<String> {
        check_url(url, self.allow_loopback)
    }

    fn check_transport(&self, caller: &Caller, name: &str) -> Result<String> {
        let usable = self
            .plugins
            .webhook_transport(name)
            .is_some_and(|t| t.allows_organization(caller.organization_id()));
        if usable {
            return Ok(name.to_owned());
        }
        let mut names: Vec<&str> = self
            .plugins
            .iter()
            .filter(|(n, _)| {
                self.plugins
                    .webhook_transport(n)
                    .is_some_and(|t| t.allows_organization(caller.organization_id()))
            })
            .map(|(n, _)| n)
            .collect();
        names.sort_unstable();
        Err(Error::bad_request(
            "transport",
            format!(
                "'{name}' is not a webhook transport available here (available: {})",
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            ),
        ))
    }

    async fn record(
        &self,
        caller: &Caller,
        action: &str,
        severity: Severity,
        webhook: &Webhook,
        extra: Option<Value>,
    ) -> Result<()> {
        self.context
            .audit
            .record(audit_event(caller, action, severity, webhook, extra))
            .await
    }
}

fn audit_event<'a>(
    caller: &'a Caller,
    action: &'a str,
    severity: Severity,
    webhook: &'a Webhook,
    extra: Option<Value>,
) -> AuditEvent<'a> {
    // The URL's host only: a path may carry a token (chat incoming webhooks do).
    let events: Vec<&str> = webhook.events.iter().map(|e| e.as_str()).collect();
    let mut details = json!({
        "host": url_host(&webhook.url), "events": events,
        "transport": webhook.transport, "projectId": webhook.project_id, "active": webhook.active,
    });
    if let (Some(map), Some(Value::Object(extra))) = (details.as_object_mut(), extra) {
        map.extend(extra);
    }
    caller.success(action, &webhook.id, severity, Some(details))
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("webhook '{id}'"))
}

/// `whsec_` and 32 random bytes, base64url.
fn generate_secret() -> SecretString {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("whsec_{}", URL_SAFE_NO_PAD.encode(bytes)).into()
}

fn check_secret(secret: SecretString) -> Result<SecretString> {
    let text = secret.expose();
    let length = text.chars().count();
    if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&length)
        || text.chars().any(char::is_control)
        || text.trim() != text
    {
        return Err(Error::bad_request(
            "secret",
            format!(
                "must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} characters, without control \
                 characters or surrounding spaces (leave it out to have one generated)"
            ),
        ));
    }
    Ok(secret)
}

/// The subscribed kinds, without duplicates, in the order given.
fn check_events(events: &[String]) -> Result<Vec<EventKind>> {
    if events.is_empty() {
        return Err(Error::bad_request(
            "events",
            format!(
                "subscribe to at least one event: {}",
                EventKind::names().join(", ")
            ),
        ));
    }
    let mut kinds = Vec::new();
    for name in events {
        let kind = EventKind::parse(name).ok_or_else(|| {
            Error::bad_request(
                "events",
                format!(
                    "'{name}' is not an event; use {}",
                    EventKind::names().join(", ")
                ),
            )
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// Headers a transport sets itself; `config.headers` may not name them.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "x-keystead-signature",
    "x-wrvault-signature",
    "x-keystead-event",
    "x-keystead-event-id",
];

/// A JSON object for the transport. Its `headers` member, which every first-party
/// transport reads, is checked here so that a bad one is a 400 now rather than a dead
/// delivery later.
fn check_config(config: Option<Value>) -> Result<Map<String, Value>> {
    let config = config.unwrap_or_else(|| json!({}));
    let Value::Object(map) = config else {
        return Err(Error::bad_request("config", "must be a JSON object"));
    };
    if let Some(headers) = map.get("headers") {
        let Some(headers) = headers.as_object() else {
            return Err(Error::bad_request(
                "config",
                "headers must map header names to strings",
            ));
        };
        for (name, value) in headers {
            let valid = http::HeaderName::from_bytes(name.as_bytes()).is_ok()
                && value
                    .as_str()
                    .is_some_and(|v| http::HeaderValue::from_str(v).is_ok());
            if !valid {
                return Err(Error::bad_request(
                    "config",
                    format!("headers: '{name}' is not a valid header name with a string value"),
                ));
            }
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(Error::bad_request(
                    "config",
                    format!("headers: '{name}' is set by the transport"),
                ));
            }
        }
    }
    let length = serde_json::to_string(&map).map_err(Error::internal)?.len();
    if length > MAX_CONFIG_BYTES {
        return Err(Error::bad_request(
            "config",
            format!("must be at most {MAX_CONFIG_BYTES} bytes of JSON"),
        ));
    }
    Ok(map)
}

fn check_description(description: Option<String>) -> Result<Option<String>> {
    match description.map(|d| d.trim().to_owned()) {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_LEN || d.chars().any(char::is_control) => {
            Err(Error::bad_request(
                "description",
                format!(
                    "must be at most {MAX_DESCRIPTION_LEN} characters, without control characters"
                ),
            ))
        }
        Some(d) if d.is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// An absolute `https` URL with a host and no credentials; plain `http` only to a
/// loopback address, and only when `allow_loopback` is on (development and tests).
pub fn check_url(url: &str, allow_loopback: bool) -> Result<String> {
    let bad = |message: &str| Err(Error::bad_request("url", message));
    let url = url.trim();
    if url.is_empty() || url.len() > MAX_URL_LEN {
        return bad(&format!(
            "must be an https URL of at most {MAX_URL_LEN} characters"
        ));
    }
    let Ok(uri) = url.parse::<http::Uri>() else {
        return bad("is not a valid URL");
    };
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return bad("must be an absolute URL such as https://hooks.example.com/keystead");
    };
    if authority.as_str().contains('@') {
        return bad("must not carry credentials (user:password@); use the signing secret");
    }
    let host = authority.host();
    if host.is_empty() {
        return bad("has no host");
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if allow_loopback && is_loopback(host) => {}
        "http" => {
            return bad(
                "must use https (plain http reaches only loopback addresses, with allow_loopback on)",
            );
        }
        other => return bad(&format!("scheme '{other}' is not supported; use https")),
    }
    Ok(url.to_owned())
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host of a stored URL, for logs and audit details.
pub(crate) fn url_host(url: &str) -> String {
    url.parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_owned))
        .unwrap_or_default()
}

/// The secret of a webhook, opened for one delivery.
pub(crate) fn open_secret(master: &MasterKey, webhook_id: &str, sealed: &[u8]) -> Result<String> {
    let bytes = master
        .open(&secret_record(webhook_id), &Sealed(sealed.to_vec()))
        .map_err(Error::internal)?;
    String::from_utf8(bytes).map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("https://hooks.example.com/x?y=1", false).is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url("http://[::1]:9000/hook", true).is_ok());
        for (url, loopback) in [
            ("http://127.0.0.1:9000/hook", false),
            ("http://hooks.example.com/", true),
            ("ftp://hooks.example.com/", true),
            ("https://user:pw@hooks.example.com/", true),
            ("/relative", true),
            ("not a url", true),
            ("", true),
        ] {
            let err = check_url(url, loopback).unwrap_err();
            assert!(err.to_string().starts_with("url:"), "{url}: {err}");
        }
    }

    #[test]
    fn events_and_secrets() {
        let ok = check_events(&["certificate.issued".into(), "certificate.issued".into()]);
        assert_eq!(ok.unwrap(), [EventKind::CertificateIssued]);
        assert!(check_events(&[]).is_err());
        assert!(check_events(&["certificate.exploded".into()]).is_err());
        let secret = |text: &str| SecretString::from(text.to_owned());
        assert!(check_secret(secret("short")).is_err());
        assert!(check_secret(secret(" padded-secret ")).is_err());
        assert!(check_secret(secret("my-signing-secret")).is_ok());
        assert!(generate_secret().expose().starts_with("whsec_"));
        assert!(check_config(Some(json!({"headers": {"X-Team": "pki"}}))).is_ok());
        for bad in [
            json!([]),
            json!({"headers": ["x"]}),
            json!({"headers": {"Bad Name": "v"}}),
            json!({"headers": {"X-Ok": 1}}),
            json!({"headers": {"X-Keystead-Signature": "t=1,v1=00"}}),
        ] {
            assert!(check_config(Some(bad.clone())).is_err(), "{bad}");
        }
        assert_ne!(generate_secret().expose(), generate_secret().expose());
    }

    #[test]
    fn debug_does_not_print_secrets() {
        let secret = || Some(SecretString::from("my-signing-secret".to_owned()));
        let new = NewWebhook {
            url: "https://hooks.example.com/".into(),
            secret: secret(),
            ..NewWebhook::default()
        };
        let changes = WebhookChanges {
            secret: secret(),
            ..WebhookChanges::default()
        };
        for debug in [format!("{new:?}"), format!("{changes:?}")] {
            assert!(!debug.contains("my-signing-secret"), "{debug}");
        }
    }
}

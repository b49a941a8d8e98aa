//! Typed calls of the `webhook-transport` world.

use std::time::Instant;

use super::bindings::webhook_transport::WebhookTransportPre;
use super::error::PluginError;
use super::sandbox::{Sandbox, State};

pub use super::bindings::Tenant;
pub use super::bindings::webhook_transport::exports::keystead::plugin::webhook_sender::{
    Delivery, Endpoint, Event,
};

/// A loaded webhook transport.
pub struct WebhookTransport {
    pub(crate) sandbox: Sandbox<WebhookTransportPre<State>>,
}

impl WebhookTransport {
    pub fn name(&self) -> &str {
        &self.sandbox.grants.name
    }

    /// Whether the operator lets `organization` use this transport.
    pub fn allows_organization(&self, organization: &str) -> bool {
        self.sandbox.grants.allows_organization(organization)
    }

    /// Delivers `event` to `endpoint`; any HTTP status is an outcome.
    pub async fn deliver(
        &self,
        event: &Event,
        endpoint: &Endpoint,
    ) -> Result<Delivery, PluginError> {
        let s = &self.sandbox;
        s.check_organization(&event.tenant.organization_id)?;
        let started = Instant::now();
        let mut lease = s.lease(started).await?;
        let call = lease
            .bindings
            .keystead_plugin_webhook_sender()
            .call_deliver(&mut lease.store, event, endpoint, s.config_json());
        let outcome = s.deadline(call).await;
        s.finish(lease, started, outcome)
    }
}

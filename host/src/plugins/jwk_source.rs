//! Typed calls of the `jwk-source` world.

use std::time::Instant;

use super::bindings::jwk_source::JwkSourcePre;
use super::error::PluginError;
use super::sandbox::{Sandbox, State};

pub use super::bindings::Tenant;
pub use super::bindings::jwk_source::exports::keystead::plugin::jwk_provider::{
    JwkRequest, Keystore, KeystoreFormat, Material, Remote, SourceType,
};

/// A loaded JWK source.
pub struct JwkSource {
    pub(crate) sandbox: Sandbox<JwkSourcePre<State>>,
}

impl JwkSource {
    pub fn name(&self) -> &str {
        &self.sandbox.grants.name
    }

    /// Turns the material into public JWKs, each a JSON object as text.
    pub async fn load(&self, request: &JwkRequest) -> Result<Vec<String>, PluginError> {
        let s = &self.sandbox;
        s.check_organization(&request.tenant.organization_id)?;
        let started = Instant::now();
        let mut lease = s.lease(started).await?;
        let call = lease.bindings.keystead_plugin_jwk_provider().call_load(
            &mut lease.store,
            request,
            s.config_json(),
        );
        let outcome = s.deadline(call).await;
        s.finish(lease, started, outcome)
    }
}

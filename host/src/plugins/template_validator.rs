//! Typed calls of the `template-validator` world.

use std::time::Instant;

use super::bindings::template_validator::TemplateValidatorPre;
use super::error::PluginError;
use super::sandbox::{Sandbox, State};

pub use super::bindings::Tenant;
pub use super::bindings::template_validator::exports::keystead::plugin::validator::{
    CertificateRequest, KeyAlgorithm, KeySpec, Subject, SubjectAltNames, Verdict, Violation,
};

/// A loaded template validator.
pub struct TemplateValidator {
    pub(crate) sandbox: Sandbox<TemplateValidatorPre<State>>,
}

impl TemplateValidator {
    pub fn name(&self) -> &str {
        &self.sandbox.grants.name
    }

    /// Allows or denies `request`; `tenant_config` is the tenant's own
    /// settings for this plugin as JSON (`{}` when none).
    pub async fn validate(
        &self,
        request: &CertificateRequest,
        tenant_config: &str,
    ) -> Result<Verdict, PluginError> {
        let s = &self.sandbox;
        s.check_organization(&request.tenant.organization_id)?;
        let started = Instant::now();
        // The bindings take owned strings by reference.
        let tenant_config = tenant_config.to_owned();
        let mut lease = s.lease(started).await?;
        let call = lease.bindings.keystead_plugin_validator().call_validate(
            &mut lease.store,
            request,
            s.config_json(),
            &tenant_config,
        );
        let outcome = s.deadline(call).await;
        s.finish(lease, started, outcome)
    }
}

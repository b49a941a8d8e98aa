//! Typed calls of the `rotation-target` world.

use std::time::Instant;

use super::bindings::rotation_target::RotationTargetPre;
use super::error::PluginError;
use super::sandbox::{Sandbox, State};

pub use super::bindings::Tenant;
pub use super::bindings::rotation_target::exports::keystead::plugin::rotator::{
    Bundle, Credentials, Receipt,
};

/// A loaded rotation target.
pub struct RotationTarget {
    pub(crate) sandbox: Sandbox<RotationTargetPre<State>>,
}

impl RotationTarget {
    pub fn name(&self) -> &str {
        &self.sandbox.grants.name
    }

    /// Pushes `bundle` to the target described by `target` (JSON), with
    /// `credentials` decrypted for this call only.
    pub async fn push(
        &self,
        bundle: &Bundle,
        target: &str,
        credentials: &Credentials,
    ) -> Result<Receipt, PluginError> {
        let s = &self.sandbox;
        s.check_organization(&bundle.tenant.organization_id)?;
        let started = Instant::now();
        // The bindings take owned strings by reference.
        let target = target.to_owned();
        let mut lease = s.lease(started).await?;
        let call = lease.bindings.keystead_plugin_rotator().call_push(
            &mut lease.store,
            bundle,
            &target,
            credentials,
            s.config_json(),
        );
        let outcome = s.deadline(call).await;
        s.finish(lease, started, outcome)
    }
}

impl RotationTarget {
    /// Checks a target's settings and credentials when the API stores them
    /// (`check-target`); `organization` is the tenant the target is for.
    pub async fn check_target(
        &self,
        organization: &str,
        target: &str,
        credentials: &Credentials,
    ) -> Result<(), PluginError> {
        let s = &self.sandbox;
        s.check_organization(organization)?;
        let started = Instant::now();
        let target = target.to_owned();
        let mut lease = s.lease(started).await?;
        let call = lease.bindings.keystead_plugin_rotator().call_check_target(
            &mut lease.store,
            &target,
            credentials,
            s.config_json(),
        );
        let outcome = s.deadline(call).await;
        s.finish(lease, started, outcome)
    }
}

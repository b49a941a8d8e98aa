//! `key_storage_mode: external`: a key generated here goes to a rotation
//! target (`key_integration_id`) and is not kept. The target's settings and
//! credentials are reused with the destination the request names
//! (`key_secret_path` for an existing secret, `key_secret_name` for a new one);
//! the new certificate gets that destination as a rotation target of its own,
//! marked as the key's custodian, so its certificates follow the key there.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use uuid::Uuid;

use super::worker::bundle_of;
use super::{Rotation, StoredCredentials, config_text, credentials_record};
use crate::auth::Caller;
use crate::model::rotation::{RunProgress, RunReason, RunStatus};
use crate::model::{Certificate, RotationRun, RotationTarget};
use crate::pki::{BoxFuture, KeyCustody};
use crate::plugins::PluginError;
use crate::plugins::rotation_target::{Credentials, Receipt};
use crate::{Error, Result, timestamp};

/// The request's fields for an external key (reference API names).
#[derive(Debug, Default, Clone)]
pub struct CustodyRequest {
    /// The rotation target that receives the key.
    pub key_integration_id: Option<String>,
    /// An existing secret (path, name or ARN) to write the key into.
    pub key_secret_path: Option<String>,
    /// A new secret to create for the key.
    pub key_secret_name: Option<String>,
    /// Create the destination; fail if it exists. Default: true with
    /// `key_secret_name`, false otherwise.
    pub create_new_secret: Option<bool>,
}

const MAX_DESTINATION_LEN: usize = 512;

struct ExternalCustody {
    rotation: Arc<Rotation>,
    source: RotationTarget,
    /// The source's config with the destination, as the new target keeps it.
    config: Map<String, Value>,
    create: bool,
    destination: Option<String>,
    deposited: Mutex<Option<(Receipt, u64)>>,
}

impl std::fmt::Debug for ExternalCustody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalCustody")
            .field("target", &self.source.id)
            .field("destination", &self.destination)
            .finish_non_exhaustive()
    }
}

impl Rotation {
    /// Checks the request's custody fields and returns the key's custodian.
    pub async fn key_custody(
        self: &Arc<Self>,
        caller: &Caller,
        request: CustodyRequest,
    ) -> Result<Arc<dyn KeyCustody>> {
        let id = request.key_integration_id.ok_or_else(|| {
            Error::bad_request(
                "key_integration_id",
                "is required for key_storage_mode external (a rotation target's id)",
            )
        })?;
        let source = self
            .store
            .rotation_target_get(caller.scope(), &id)
            .await?
            .ok_or_else(|| {
                Error::bad_request("key_integration_id", format!("no rotation target '{id}'"))
            })?;
        let destination = match (request.key_secret_path, request.key_secret_name) {
            (Some(_), Some(_)) => {
                return Err(Error::bad_request(
                    "key_secret_name",
                    "give key_secret_path (an existing secret) or key_secret_name (a new one), not both",
                ));
            }
            (Some(path), None) => Some(("key_secret_path", path)),
            (None, Some(name)) => Some(("key_secret_name", name)),
            (None, None) => None,
        };
        if let Some((field, value)) = &destination {
            let len = value.chars().count();
            if len == 0 || len > MAX_DESTINATION_LEN || value.chars().any(char::is_control) {
                return Err(Error::bad_request(
                    *field,
                    format!("must be 1 to {MAX_DESTINATION_LEN} printable characters"),
                ));
            }
        }
        let create = request
            .create_new_secret
            .unwrap_or(matches!(destination, Some(("key_secret_name", _))));
        let mut config = source.config.clone();
        if let Some((_, value)) = &destination {
            config.insert("destination".into(), value.clone().into());
        }
        let credentials = self.open_credentials(&source)?;
        // The plugin judges the destination (characters, shape) before any key exists.
        let mut checked = config.clone();
        checked.insert("create_new_secret".into(), create.into());
        let checked = config_text(&checked)?;
        match self
            .plugin_for(&source.target_type)?
            .check_target(&source.organization_id, &checked, &credentials)
            .await
        {
            Ok(()) => {}
            Err(PluginError::Invalid { message, .. }) => {
                return Err(Error::Unprocessable(vec![format!(
                    "key_integration_id: {message}"
                )]));
            }
            Err(other) => return Err(Error::Plugin(other)),
        }
        Ok(Arc::new(ExternalCustody {
            rotation: self.clone(),
            destination: destination.map(|(_, v)| v),
            source,
            config,
            create,
            deposited: Mutex::new(None),
        }))
    }
}

impl ExternalCustody {
    async fn deposit_key(&self, row: &Certificate, chain: &[String], key_pem: &str) -> Result<()> {
        if row.project_id != self.source.project_id {
            return Err(Error::bad_request(
                "key_integration_id",
                "the rotation target belongs to another project than the certificate",
            ));
        }
        let plugin = self.rotation.plugin_for(&self.source.target_type)?;
        let bundle = bundle_of(row, chain, 1, Some(key_pem.to_owned()));
        let mut target = self.config.clone();
        if self.create {
            target.insert("create_new_secret".into(), true.into());
        }
        let target = config_text(&target)?;
        let credentials: Credentials = self.rotation.open_credentials(&self.source)?;
        let started = std::time::Instant::now();
        let receipt = match plugin.push(&bundle, &target, &credentials).await {
            Ok(receipt) => receipt,
            Err(PluginError::Invalid { message, .. }) => {
                return Err(Error::Unprocessable(vec![format!(
                    "key_integration_id: {message}"
                )]));
            }
            Err(other) => return Err(Error::Plugin(other)),
        };
        let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        *self.deposited.lock().unwrap_or_else(|e| e.into_inner()) = Some((receipt, elapsed));
        Ok(())
    }

    async fn adopt_target(&self, row: &Certificate) -> Result<()> {
        let id = Uuid::new_v4().to_string();
        let now = timestamp::now();
        // The same credentials, sealed again for the new record.
        let sealed_credentials = match &self.source.sealed_credentials {
            None => None,
            Some(_) => {
                let c = self.rotation.open_credentials(&self.source)?;
                let plain = serde_json::to_vec(&StoredCredentials {
                    id: c.id,
                    secret: c.secret,
                })
                .map_err(Error::internal)?;
                Some(
                    self.rotation
                        .master
                        .seal(&credentials_record(&id), &plain)
                        .0,
                )
            }
        };
        let target = RotationTarget {
            id: id.clone(),
            organization_id: row.organization_id.clone(),
            project_id: row.project_id.clone(),
            certificate_id: row.id.clone(),
            name: "key-custody".into(),
            target_type: self.source.target_type.clone(),
            enabled: true,
            config: self.config.clone(),
            sealed_credentials,
            key_custody: true,
            last_status: Some(RunStatus::Succeeded),
            last_synced_at: Some(now),
            last_error: None,
            created_at: now,
            updated_at: now,
        };
        self.rotation
            .store
            .rotation_target_insert(target.clone())
            .await?;
        let deposited = self
            .deposited
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((receipt, duration_ms)) = deposited {
            let run = RotationRun {
                id: Uuid::new_v4().to_string(),
                organization_id: row.organization_id.clone(),
                target_id: id,
                certificate_id: row.id.clone(),
                target_name: target.name.clone(),
                target_type: target.target_type.clone(),
                serial_number: row.serial_number().map(str::to_owned),
                version: 1,
                reason: RunReason::KeyDeposit,
                status: RunStatus::Succeeded,
                attempt: 1,
                include_private_key: true,
                next_attempt_at: now,
                progress: RunProgress {
                    started_at: Some(now),
                    finished_at: Some(now),
                    duration_ms: Some(duration_ms),
                    location: Some(receipt.location),
                    destination_version: receipt.version,
                    ..RunProgress::default()
                },
                requested_by: row.requested_by.clone(),
                created_at: now,
            };
            self.rotation.store.rotation_run_insert(run).await?;
        }
        Ok(())
    }
}

impl KeyCustody for ExternalCustody {
    fn describe(&self) -> String {
        format!(
            "rotation target {} ({}){}",
            self.source.id,
            self.source.target_type,
            self.destination
                .as_deref()
                .map(|d| format!(" at {d}"))
                .unwrap_or_default()
        )
    }

    fn deposit<'a>(
        &'a self,
        row: &'a Certificate,
        chain: &'a [String],
        key_pem: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.deposit_key(row, chain, key_pem))
    }

    fn adopt<'a>(&'a self, row: &'a Certificate) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.adopt_target(row))
    }
}

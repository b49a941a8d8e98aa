//! Rotation: pushing a certificate (its chain, and its key when the config
//! says so) to the places it is used, through rotation-target plugins.
//!
//! Each certificate has a rotation config and targets; both follow the
//! certificate to the one that renews it. A push is a row in
//! `rotation_runs`: queued as `pending`, taken by the worker
//! ([`Rotation::run_queue`]) as `running`, and ending `succeeded` or
//! `failed` (a failure the outside world caused is queued again with an
//! exponential backoff), or `superseded` by a newer push to the same target.
//! The API only queues; nothing here blocks a request on a target.
//!
//! Target credentials are sealed under the master key (the target's id is
//! the associated data), opened for one plugin call at a time, and never
//! returned, logged or put in an error.

mod custody;
mod worker;

use std::ops::RangeInclusive;
use std::sync::{Arc, Weak};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};
use tokio::sync::{Notify, Semaphore};
use uuid::Uuid;

use crate::audit::{AuditLog, Severity};
use crate::auth::Caller;
use crate::crypto::{MasterKey, Sealed, SecretString};
use crate::error::OnConflict;
use crate::model::rotation::{RunFilter, RunProgress, RunReason, RunStatus};
use crate::model::{Certificate, RotationConfig, RotationRun, RotationTarget, Status};
use crate::pki::{BoxFuture, CertificateEvents, Pki};
use crate::plugins::rotation_target::Credentials;
use crate::plugins::{PluginError, Registry};
use crate::store::{Scope, Store};
use crate::{Error, Result, timestamp};

pub use crate::model::rotation::Trigger;
pub use custody::CustodyRequest;

/// Longest target name.
pub const MAX_NAME_LEN: usize = 100;
/// Largest target config, as JSON text.
pub const MAX_CONFIG_BYTES: usize = 16 * 1024;
/// Largest credential value.
pub const MAX_CREDENTIAL_LEN: usize = 8 * 1024;
/// Keys of a target's config that only the host sets.
const HOST_KEYS: &[&str] = &["destination", "create_new_secret"];

/// A change to the rotation config; absent fields keep their value.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigInput {
    pub enabled: Option<bool>,
    /// `on_renewal`, `before_expiry` or `schedule`.
    pub trigger: Option<String>,
    /// 1 to 3650; required for `before_expiry`.
    pub days_before_expiry: Option<u32>,
    /// 1 to 8760; required for `schedule`.
    pub interval_hours: Option<u32>,
    pub include_private_key: Option<bool>,
}

/// Credentials for a target; sealed at rest, never shown again.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsInput {
    /// An identifier (an AWS access key id); not needed by every type.
    pub id: Option<String>,
    /// The secret (an OpenBao token, an AWS secret access key, an HMAC key).
    #[schema(value_type = Option<String>)]
    pub secret: Option<SecretString>,
}

impl CredentialsInput {
    /// The credentials as a rotation-target plugin takes them, for one call.
    fn for_plugin(&self) -> Credentials {
        Credentials {
            id: self.id.clone(),
            secret: self.secret.as_ref().map(|s| s.expose().to_owned()),
        }
    }
}

impl std::fmt::Debug for CredentialsInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialsInput([elided])")
    }
}

#[derive(Serialize, Deserialize)]
struct StoredCredentials {
    id: Option<String>,
    secret: Option<String>,
}

/// A target to create, or a change to one (absent fields keep their value).
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetInput {
    /// Unique per certificate, 1 to 100 characters.
    pub name: Option<String>,
    /// The rotation-target plugin: `filesystem`, `openbao-kv`,
    /// `aws-secrets-manager`, `http`, or another configured one.
    #[serde(rename = "type")]
    pub target_type: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// The plugin's settings for this target (a JSON object; no secrets).
    #[schema(value_type = Option<Object>)]
    pub config: Option<Map<String, Value>>,
    /// Replaces the stored credentials; `{}` removes them.
    pub credentials: Option<CredentialsInput>,
}

/// How one push ended, when it failed.
#[derive(Debug, Clone)]
pub struct PushFailure {
    pub message: String,
    /// The outside world's fault: worth another attempt.
    pub retry: bool,
    /// The remote's own advice, in seconds.
    pub after_seconds: Option<u32>,
}

impl PushFailure {
    fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry: false,
            after_seconds: None,
        }
    }

    fn from_plugin(err: &PluginError) -> Self {
        let (retry, after_seconds) = match err {
            PluginError::Unavailable { .. } | PluginError::Timeout { .. } => (true, None),
            PluginError::Retryable { after_seconds, .. } => (true, *after_seconds),
            _ => (false, None),
        };
        Self {
            message: err.to_string(),
            retry,
            after_seconds,
        }
    }
}

/// Runs and queues pushes. Cheap to share behind an `Arc`.
pub struct Rotation {
    store: Store,
    master: Arc<MasterKey>,
    audit: AuditLog,
    pki: Arc<Pki>,
    plugins: Arc<Registry>,
    config: crate::config::RotationConfig,
    /// Wakes the worker when a push is queued or finished.
    wakeup: Notify,
    /// Pushes running at once.
    permits: Arc<Semaphore>,
}

/// The tenant a background step works in: a certificate's organization.
fn organization_of(certificate: &Certificate) -> Scope<'_> {
    Scope::organization(&certificate.organization_id)
}

/// A target's plugin settings as the plugin reads them (JSON text).
fn config_text(config: &Map<String, Value>) -> Result<String> {
    serde_json::to_string(config).map_err(Error::internal)
}

/// `value` when it lies in `range`, else a 400 naming `field`.
fn within(field: &str, value: u32, range: RangeInclusive<u32>) -> Result<u32> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(Error::bad_request(
            field,
            format!("must be between {} and {}", range.start(), range.end()),
        ))
    }
}

pub(crate) fn credentials_record(target_id: &str) -> String {
    format!("rotation_target:{target_id}")
}

impl Rotation {
    /// Builds the service and subscribes it to the PKI's renewals and issuances.
    pub fn new(
        store: Store,
        master: Arc<MasterKey>,
        audit: AuditLog,
        pki: Arc<Pki>,
        plugins: Arc<Registry>,
        config: crate::config::RotationConfig,
    ) -> Arc<Self> {
        let rotation = Arc::new(Self {
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            store,
            master,
            audit,
            pki: pki.clone(),
            plugins,
            config,
            wakeup: Notify::new(),
        });
        let weak: Weak<Self> = Arc::downgrade(&rotation);
        pki.subscribe(weak);
        rotation
    }

    // ---- config ----

    /// A certificate's config, or the default when it has none stored.
    async fn config_of(
        &self,
        scope: Scope<'_>,
        certificate: &Certificate,
    ) -> Result<RotationConfig> {
        Ok(self
            .store
            .rotation_config_get(scope, &certificate.id)
            .await?
            .unwrap_or_else(|| {
                RotationConfig::default_for(&certificate.id, &certificate.organization_id)
            }))
    }

    pub async fn get_config(
        &self,
        caller: &Caller,
        certificate_id: &str,
    ) -> Result<RotationConfig> {
        let certificate = self.pki.get_certificate(caller, certificate_id).await?;
        self.config_of(caller.scope(), &certificate).await
    }

    pub async fn update_config(
        &self,
        caller: &Caller,
        certificate_id: &str,
        input: ConfigInput,
    ) -> Result<RotationConfig> {
        let certificate = self.pki.get_certificate(caller, certificate_id).await?;
        let mut config = self.config_of(caller.scope(), &certificate).await?;
        if let Some(enabled) = input.enabled {
            config.enabled = enabled;
        }
        if let Some(trigger) = &input.trigger {
            config.trigger = Trigger::parse(trigger).ok_or_else(|| {
                Error::bad_request(
                    "trigger",
                    format!("'{trigger}' is not one of {}", Trigger::NAMES.join(", ")),
                )
            })?;
        }
        if let Some(days) = input.days_before_expiry {
            config.days_before_expiry = Some(within("days_before_expiry", days, 1..=3650)?);
        }
        if let Some(hours) = input.interval_hours {
            config.interval_hours = Some(within("interval_hours", hours, 1..=8760)?);
        }
        if let Some(include) = input.include_private_key {
            if include && certificate.sealed_key.is_none() {
                return Err(Error::Unprocessable(vec![format!(
                    "include_private_key: the certificate's private key is not kept here \
                     (key_storage_mode {})",
                    certificate.key_storage
                )]));
            }
            config.include_private_key = include;
        }
        let now = OffsetDateTime::now_utc();
        config.next_run_at = match config.trigger {
            Trigger::OnRenewal => None,
            Trigger::BeforeExpiry => {
                if config.days_before_expiry.is_none() {
                    return Err(Error::bad_request(
                        "days_before_expiry",
                        "is required when trigger is before_expiry",
                    ));
                }
                None
            }
            Trigger::Schedule => {
                let hours = config.interval_hours.ok_or_else(|| {
                    Error::bad_request("interval_hours", "is required when trigger is schedule")
                })?;
                Some(now + Duration::hours(i64::from(hours)))
            }
        };
        config.updated_by = Some(caller.principal.actor());
        config.updated_at = Some(now);
        self.store.rotation_config_upsert(config.clone()).await?;
        self.audit
            .record(caller.success(
                "rotation.config.update",
                certificate_id,
                Severity::Medium,
                Some(json!({
                    "enabled": config.enabled, "trigger": config.trigger.as_str(),
                    "include_private_key": config.include_private_key,
                })),
            ))
            .await?;
        Ok(config)
    }

    // ---- targets ----

    pub async fn list_targets(
        &self,
        caller: &Caller,
        certificate_id: &str,
    ) -> Result<Vec<RotationTarget>> {
        let certificate = self.pki.get_certificate(caller, certificate_id).await?;
        Ok(self
            .store
            .rotation_targets_of(caller.scope(), &certificate.id)
            .await?)
    }

    pub async fn get_target(
        &self,
        caller: &Caller,
        certificate_id: &str,
        target_id: &str,
    ) -> Result<RotationTarget> {
        let certificate = self.pki.get_certificate(caller, certificate_id).await?;
        self.store
            .rotation_target_get(caller.scope(), target_id)
            .await?
            .filter(|t| t.certificate_id == certificate.id)
            .ok_or_else(|| Error::NotFound(format!("rotation target '{target_id}'")))
    }

    fn check_name(name: &str) -> Result<()> {
        let len = name.chars().count();
        if len == 0 || len > MAX_NAME_LEN || name.chars().any(char::is_control) {
            return Err(Error::bad_request(
                "name",
                format!("must be 1 to {MAX_NAME_LEN} printable characters"),
            ));
        }
        Ok(())
    }

    fn check_config(config: &Map<String, Value>) -> Result<()> {
        if let Some(key) = HOST_KEYS.iter().find(|k| config.contains_key(**k)) {
            return Err(Error::bad_request(
                format!("config.{key}"),
                "is set by the server (from key_secret_path / key_secret_name), not by the caller",
            ));
        }
        if config_text(config)?.len() > MAX_CONFIG_BYTES {
            return Err(Error::bad_request(
                "config",
                format!("is larger than {MAX_CONFIG_BYTES} bytes"),
            ));
        }
        Ok(())
    }

    fn check_credentials(input: &CredentialsInput) -> Result<()> {
        let secret = input.secret.as_ref().map(SecretString::expose);
        for (field, value) in [("id", input.id.as_deref()), ("secret", secret)] {
            if value.is_some_and(|v| v.len() > MAX_CREDENTIAL_LEN) {
                return Err(Error::bad_request(
                    format!("credentials.{field}"),
                    format!("is longer than {MAX_CREDENTIAL_LEN} bytes"),
                ));
            }
        }
        Ok(())
    }

    /// The plugin a target type names. Whether the organization may use it is the
    /// plugin's own check (403).
    fn plugin_for(&self, target_type: &str) -> Result<Arc<crate::plugins::RotationTarget>> {
        self.plugins.rotation_target(target_type).ok_or_else(|| {
            let known: Vec<&str> = self
                .plugins
                .iter()
                .filter(|(_, p)| p.kind() == crate::plugins::PluginKind::RotationTarget)
                .map(|(n, _)| n)
                .collect();
            Error::bad_request(
                "type",
                format!(
                    "no rotation-target plugin named '{target_type}' is loaded (available: {})",
                    known.join(", ")
                ),
            )
        })
    }

    /// Lets the plugin check a target's settings and credentials; its
    /// `invalid-input` becomes a 422 listing the reason.
    async fn plugin_check(
        &self,
        organization_id: &str,
        target_type: &str,
        config: &Map<String, Value>,
        credentials: &Credentials,
    ) -> Result<()> {
        let plugin = self.plugin_for(target_type)?;
        match plugin
            .check_target(organization_id, &config_text(config)?, credentials)
            .await
        {
            Ok(()) => Ok(()),
            Err(PluginError::Invalid { message, .. }) => Err(Error::Unprocessable(vec![message])),
            Err(other) => Err(Error::Plugin(other)),
        }
    }

    fn seal_credentials(&self, target_id: &str, input: &CredentialsInput) -> Option<Vec<u8>> {
        let Credentials { id, secret } = input.for_plugin();
        let stored = StoredCredentials {
            id: id.filter(|v| !v.is_empty()),
            secret: secret.filter(|v| !v.is_empty()),
        };
        if stored.id.is_none() && stored.secret.is_none() {
            return None;
        }
        let plain = serde_json::to_vec(&stored).ok()?;
        Some(self.master.seal(&credentials_record(target_id), &plain).0)
    }

    /// Opens a target's credentials for one call.
    fn open_credentials(&self, target: &RotationTarget) -> Result<Credentials> {
        let Some(sealed) = &target.sealed_credentials else {
            return Ok(Credentials {
                id: None,
                secret: None,
            });
        };
        let plain = self
            .master
            .open(&credentials_record(&target.id), &Sealed(sealed.clone()))
            .map_err(Error::internal)?;
        let stored: StoredCredentials = serde_json::from_slice(&plain).map_err(Error::internal)?;
        Ok(Credentials {
            id: stored.id,
            secret: stored.secret,
        })
    }

    pub async fn create_target(
        &self,
        caller: &Caller,
        certificate_id: &str,
        input: TargetInput,
    ) -> Result<RotationTarget> {
        let certificate = self.pki.get_certificate(caller, certificate_id).await?;
        let name = input
            .name
            .ok_or_else(|| Error::bad_request("name", "is required"))?;
        Self::check_name(&name)?;
        let target_type = input
            .target_type
            .ok_or_else(|| Error::bad_request("type", "is required"))?;
        let config = input.config.unwrap_or_default();
        Self::check_config(&config)?;
        let credentials = input.credentials.unwrap_or_default();
        Self::check_credentials(&credentials)?;
        self.plugin_check(
            &certificate.organization_id,
            &target_type,
            &config,
            &credentials.for_plugin(),
        )
        .await?;
        let id = Uuid::new_v4().to_string();
        let now = timestamp::now();
        let target = RotationTarget {
            sealed_credentials: self.seal_credentials(&id, &credentials),
            id,
            organization_id: certificate.organization_id.clone(),
            project_id: certificate.project_id.clone(),
            certificate_id: certificate.id.clone(),
            name,
            target_type,
            enabled: input.enabled.unwrap_or(true),
            config,
            key_custody: false,
            last_status: None,
            last_synced_at: None,
            last_error: None,
            created_at: now,
            updated_at: now,
        };
        self.store
            .rotation_target_insert(target.clone())
            .await
            .on_conflict(|| duplicate_name(&target.name))?;
        self.audit.record(caller.success("rotation.target.create",
            &target.id,
            Severity::Medium,
            Some(json!({
                "certificate_id": target.certificate_id, "name": target.name,
                "type": target.target_type, "has_credentials": target.sealed_credentials.is_some(),
            }))))
        .await?;
        Ok(target)
    }

    pub async fn update_target(
        &self,
        caller: &Caller,
        certificate_id: &str,
        target_id: &str,
        input: TargetInput,
    ) -> Result<RotationTarget> {
        let mut row = self.get_target(caller, certificate_id, target_id).await?;
        if let Some(name) = input.name {
            Self::check_name(&name)?;
            row.name = name;
        }
        if let Some(target_type) = input.target_type {
            if row.key_custody && target_type != row.target_type {
                return Err(Error::bad_request(
                    "type",
                    "the target holds the certificate's private key; its type cannot change",
                ));
            }
            row.target_type = target_type;
        }
        if let Some(enabled) = input.enabled {
            row.enabled = enabled;
        }
        if let Some(config) = input.config {
            if row.key_custody {
                return Err(Error::bad_request(
                    "config",
                    "the target holds the certificate's private key; its destination cannot change",
                ));
            }
            Self::check_config(&config)?;
            row.config = config;
        }
        let credentials_changed = input.credentials.is_some();
        let credentials = match &input.credentials {
            Some(c) => {
                Self::check_credentials(c)?;
                c.for_plugin()
            }
            None => self.open_credentials(&row)?,
        };
        self.plugin_check(
            &row.organization_id,
            &row.target_type,
            &row.config,
            &credentials,
        )
        .await?;
        if let Some(c) = &input.credentials {
            row.sealed_credentials = self.seal_credentials(&row.id, c);
        }
        row.updated_at = timestamp::now();
        let updated = self
            .store
            .rotation_target_update(row.clone())
            .await
            .on_conflict(|| duplicate_name(&row.name))?;
        if !updated {
            return Err(Error::NotFound(format!("rotation target '{target_id}'")));
        }
        self.audit
            .record(caller.success(
                "rotation.target.update",
                &row.id,
                Severity::Medium,
                Some(json!({
                    "certificate_id": row.certificate_id, "name": row.name, "type": row.target_type,
                    "enabled": row.enabled, "credentials_changed": credentials_changed,
                })),
            ))
            .await?;
        Ok(row)
    }

    pub async fn delete_target(
        &self,
        caller: &Caller,
        certificate_id: &str,
        target_id: &str,
    ) -> Result<()> {
        let row = self.get_target(caller, certificate_id, target_id).await?;
        if !self
            .store
            .rotation_target_delete(caller.scope(), &row.id)
            .await?
        {
            return Err(Error::NotFound(format!("rotation target '{target_id}'")));
        }
        self.audit
            .record(caller.success(
                "rotation.target.delete",
                &row.id,
                Severity::Medium,
                Some(json!({"certificate_id": row.certificate_id, "name": row.name})),
            ))
            .await
    }

    // ---- pushes ----

    fn check_pushable(certificate: &Certificate) -> Result<()> {
        let expired = certificate.has_ended(OffsetDateTime::now_utc());
        if certificate.status != Status::Active || expired || certificate.issued.is_none() {
            return Err(Error::Conflict(format!(
                "only an active certificate can be rotated; this one is {}",
                if expired {
                    "expired"
                } else {
                    certificate.status.as_str()
                }
            )));
        }
        Ok(())
    }

    /// Pushes a certificate to every enabled target now (queued; see the history).
    pub async fn trigger(&self, caller: &Caller, certificate_id: &str) -> Result<Vec<RotationRun>> {
        let certificate = self.pki.get_certificate(caller, certificate_id).await?;
        Self::check_pushable(&certificate)?;
        let targets: Vec<RotationTarget> = self
            .store
            .rotation_targets_of(caller.scope(), &certificate.id)
            .await?
            .into_iter()
            .filter(|t| t.enabled)
            .collect();
        if targets.is_empty() {
            return Err(Error::Conflict(
                "the certificate has no enabled rotation target; create one first".into(),
            ));
        }
        let runs = self
            .queue_for(caller, &certificate, &targets, RunReason::Manual)
            .await?;
        self.audit
            .record(caller.success(
                "rotation.trigger",
                certificate_id,
                Severity::Low,
                Some(json!({"targets": runs.len()})),
            ))
            .await?;
        Ok(runs)
    }

    /// Pushes a certificate to one target now (queued; enabled or not).
    pub async fn sync(
        &self,
        caller: &Caller,
        certificate_id: &str,
        target_id: &str,
    ) -> Result<RotationRun> {
        let target = self.get_target(caller, certificate_id, target_id).await?;
        let certificate = self.pki.get_certificate(caller, certificate_id).await?;
        Self::check_pushable(&certificate)?;
        let mut runs = self
            .queue_for(
                caller,
                &certificate,
                std::slice::from_ref(&target),
                RunReason::Sync,
            )
            .await?;
        self.audit
            .record(caller.success(
                "rotation.sync",
                &target.id,
                Severity::Low,
                Some(json!({"certificate_id": certificate_id})),
            ))
            .await?;
        runs.pop()
            .ok_or_else(|| Error::internal(anyhow::anyhow!("no run was queued")))
    }

    pub async fn history(
        &self,
        caller: &Caller,
        certificate_id: &str,
        target_id: Option<&str>,
        status: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<RotationRun>, i64)> {
        let certificate = self.pki.get_certificate(caller, certificate_id).await?;
        let status = status
            .map(|s| {
                RunStatus::parse(s).ok_or_else(|| {
                    Error::bad_request(
                        "status",
                        "must be pending, running, succeeded, failed or superseded",
                    )
                })
            })
            .transpose()?;
        Ok(self
            .store
            .rotation_runs_list(
                caller.scope(),
                &certificate.id,
                &RunFilter { target_id, status },
                offset,
                limit,
            )
            .await?)
    }

    /// The certificate's place in its renewal chain, from 1.
    async fn version_of(&self, certificate: &Certificate) -> Result<u32> {
        let mut version = 1;
        let mut back = certificate.renewed_from.clone();
        while let Some(previous) = back {
            if version > 10_000 {
                break;
            }
            let Some(row) = self
                .store
                .certificate_get(Scope::organization(&certificate.organization_id), &previous)
                .await?
            else {
                break;
            };
            version += 1;
            back = row.renewed_from;
        }
        Ok(version)
    }

    /// Pushes queued by `caller`: the key goes along as the certificate's rotation config
    /// says.
    async fn queue_for(
        &self,
        caller: &Caller,
        certificate: &Certificate,
        targets: &[RotationTarget],
        reason: RunReason,
    ) -> Result<Vec<RotationRun>> {
        let config = self.config_of(caller.scope(), certificate).await?;
        self.insert_runs(
            certificate,
            targets,
            reason,
            config.include_private_key,
            &caller.principal.actor(),
            RunStatus::Pending,
        )
        .await
    }

    /// One run per target, in `status`. Pending ones supersede their target's older
    /// waiting runs and wake the worker: that is how a push is queued.
    async fn insert_runs(
        &self,
        certificate: &Certificate,
        targets: &[RotationTarget],
        reason: RunReason,
        include_private_key: bool,
        actor: &str,
        status: RunStatus,
    ) -> Result<Vec<RotationRun>> {
        let version = self.version_of(certificate).await?;
        let now = timestamp::now();
        let mut runs = Vec::with_capacity(targets.len());
        for target in targets {
            if status == RunStatus::Pending {
                self.store.rotation_runs_supersede(&target.id, now).await?;
            }
            let run = RotationRun {
                id: Uuid::new_v4().to_string(),
                organization_id: certificate.organization_id.clone(),
                target_id: target.id.clone(),
                certificate_id: certificate.id.clone(),
                target_name: target.name.clone(),
                target_type: target.target_type.clone(),
                serial_number: certificate.serial_number().map(str::to_owned),
                version,
                reason,
                status,
                attempt: 1,
                include_private_key: include_private_key
                    && certificate.sealed_key.is_some()
                    && !target.key_custody,
                next_attempt_at: now,
                progress: RunProgress::default(),
                requested_by: actor.into(),
                created_at: now,
            };
            self.store.rotation_run_insert(run.clone()).await?;
            runs.push(run);
        }
        if status == RunStatus::Pending && !runs.is_empty() {
            self.wakeup.notify_one();
        }
        Ok(runs)
    }

    /// Targets that follow a lifecycle step: enabled ones when rotation is on, and
    /// the custodian of an external key always (the certificate belongs next to it).
    async fn followers(&self, certificate: &Certificate) -> Result<(Vec<RotationTarget>, bool)> {
        let scope = organization_of(certificate);
        let config = self.config_of(scope, certificate).await?;
        let targets = self
            .store
            .rotation_targets_of(scope, &certificate.id)
            .await?
            .into_iter()
            .filter(|t| t.enabled && (config.enabled || t.key_custody))
            .collect();
        Ok((targets, config.include_private_key))
    }

    async fn on_renewed(&self, old: &Certificate, new: &Certificate) -> Result<()> {
        self.store.rotation_hand_over(&old.id, &new.id).await?;
        let (targets, include_key) = self.followers(new).await?;
        self.insert_runs(
            new,
            &targets,
            RunReason::Renewal,
            include_key,
            "system:rotation",
            RunStatus::Pending,
        )
        .await?;
        Ok(())
    }

    async fn on_issued(&self, row: &Certificate) -> Result<()> {
        let (targets, include_key) = self.followers(row).await?;
        self.insert_runs(
            row,
            &targets,
            RunReason::Issued,
            include_key,
            "system:rotation",
            RunStatus::Pending,
        )
        .await?;
        Ok(())
    }
}

fn duplicate_name(name: &str) -> Error {
    Error::Conflict(format!(
        "the certificate has a rotation target named '{name}' already"
    ))
}

impl CertificateEvents for Rotation {
    fn renewed<'a>(
        &'a self,
        old: &'a Certificate,
        new: &'a Certificate,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.on_renewed(old, new))
    }

    fn issued<'a>(&'a self, row: &'a Certificate) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.on_issued(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_are_refused() {
        let mut config = Map::new();
        config.insert("path".into(), "pki/{common_name}".into());
        assert!(Rotation::check_config(&config).is_ok());
        config.insert("create_new_secret".into(), true.into());
        let err = Rotation::check_config(&config).unwrap_err();
        assert!(
            matches!(&err, Error::BadRequest { field: Some(f), .. } if f == "config.create_new_secret")
        );
        let big: Map<String, Value> =
            [("x".to_owned(), Value::String("y".repeat(MAX_CONFIG_BYTES)))]
                .into_iter()
                .collect();
        assert!(Rotation::check_config(&big).is_err());
    }

    #[test]
    fn plugin_failures_retry_only_when_the_outside_world_caused_them() {
        let p = || "p".to_owned();
        let m = || "m".to_owned();
        let retried = [
            PluginError::Unavailable {
                plugin: p(),
                message: m(),
            },
            PluginError::Timeout {
                plugin: p(),
                limit_ms: 1,
                what: "wall clock",
            },
            PluginError::Retryable {
                plugin: p(),
                message: m(),
                after_seconds: Some(9),
            },
        ];
        for err in retried {
            assert!(PushFailure::from_plugin(&err).retry, "{err}");
        }
        assert_eq!(
            PushFailure::from_plugin(&PluginError::Retryable {
                plugin: p(),
                message: m(),
                after_seconds: Some(9)
            })
            .after_seconds,
            Some(9)
        );
        for err in [
            PluginError::Invalid {
                plugin: p(),
                message: m(),
            },
            PluginError::Denied {
                plugin: p(),
                message: m(),
            },
            PluginError::Trap {
                plugin: p(),
                message: m(),
            },
        ] {
            assert!(!PushFailure::from_plugin(&err).retry, "{err}");
        }
    }

    #[test]
    fn credentials_never_print() {
        let input = CredentialsInput {
            id: Some("AKIA".into()),
            secret: Some(SecretString::from("s3cr3t".to_owned())),
        };
        assert!(!format!("{input:?}").contains("s3cr3t"));
    }
}

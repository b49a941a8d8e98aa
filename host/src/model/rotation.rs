//! Rotation: pushing a certificate to the places it is used, through rotation targets.

use serde_json::{Map, Value};
use time::OffsetDateTime;

/// When a certificate is pushed besides a manual trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// After each renewal.
    OnRenewal,
    /// Renewed (and so pushed) this many days before it expires.
    BeforeExpiry,
    /// Pushed again every `interval_hours`, and after each renewal.
    Schedule,
}

impl Trigger {
    pub const NAMES: &'static [&'static str] = &["on_renewal", "before_expiry", "schedule"];

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "on_renewal" => Some(Self::OnRenewal),
            "before_expiry" => Some(Self::BeforeExpiry),
            "schedule" => Some(Self::Schedule),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnRenewal => "on_renewal",
            Self::BeforeExpiry => "before_expiry",
            Self::Schedule => "schedule",
        }
    }
}

/// Where a push stands: queued, under way, or how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    /// A newer push to the same target was queued before this one started.
    Superseded,
}

impl RunStatus {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Superseded => "superseded",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Why a push was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunReason {
    Manual,
    Sync,
    Renewal,
    Issued,
    Schedule,
    BeforeExpiry,
    Retry,
    /// An externally stored key was handed to its custodian at issuance.
    KeyDeposit,
}

impl RunReason {
    pub const ALL: [Self; 8] = [
        Self::Manual,
        Self::Sync,
        Self::Renewal,
        Self::Issued,
        Self::Schedule,
        Self::BeforeExpiry,
        Self::Retry,
        Self::KeyDeposit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Sync => "sync",
            Self::Renewal => "renewal",
            Self::Issued => "issued",
            Self::Schedule => "schedule",
            Self::BeforeExpiry => "before_expiry",
            Self::Retry => "retry",
            Self::KeyDeposit => "key_deposit",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// A certificate's rotation config. A certificate without a stored one has the
/// default: enabled, pushed on renewal, key not included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationConfig {
    pub certificate_id: String,
    pub organization_id: String,
    /// Off: renewals and the schedule push nothing (a manual trigger still does).
    pub enabled: bool,
    pub trigger: Trigger,
    /// `BeforeExpiry`: renew this many days before the certificate expires.
    pub days_before_expiry: Option<u32>,
    /// `Schedule`: push again this often.
    pub interval_hours: Option<u32>,
    /// Send the private key along (only for keys generated and kept here).
    pub include_private_key: bool,
    /// When the background scan next looks at this certificate.
    pub next_run_at: Option<OffsetDateTime>,
    /// Who changed it last, and when; `None` for the default config.
    pub updated_by: Option<String>,
    pub updated_at: Option<OffsetDateTime>,
}

impl RotationConfig {
    /// The config of a certificate that has none stored.
    pub fn default_for(certificate_id: &str, organization_id: &str) -> Self {
        Self {
            certificate_id: certificate_id.to_owned(),
            organization_id: organization_id.to_owned(),
            enabled: true,
            trigger: Trigger::OnRenewal,
            days_before_expiry: None,
            interval_hours: None,
            include_private_key: false,
            next_run_at: None,
            updated_by: None,
            updated_at: None,
        }
    }
}

/// A place a certificate is pushed to, through a rotation-target plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct RotationTarget {
    pub id: String,
    pub organization_id: String,
    pub project_id: String,
    pub certificate_id: String,
    /// Unique per certificate.
    pub name: String,
    /// The rotation-target plugin.
    pub target_type: String,
    pub enabled: bool,
    /// The plugin's settings for this target (no secrets).
    pub config: Map<String, Value>,
    /// The credentials, sealed; never shown.
    pub sealed_credentials: Option<Vec<u8>>,
    /// Holds the certificate's externally stored private key.
    pub key_custody: bool,
    /// How the last push ended: `Succeeded` or `Failed`.
    pub last_status: Option<RunStatus>,
    pub last_synced_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// One push of a certificate to one target: the queue and the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationRun {
    pub id: String,
    pub organization_id: String,
    pub target_id: String,
    /// The certificate pushed.
    pub certificate_id: String,
    pub target_name: String,
    pub target_type: String,
    pub serial_number: Option<String>,
    /// The certificate's place in its renewal chain, from 1.
    pub version: u32,
    pub reason: RunReason,
    pub status: RunStatus,
    /// 1 for the first attempt; retries count up.
    pub attempt: u32,
    pub include_private_key: bool,
    /// When a pending push is due.
    pub next_attempt_at: OffsetDateTime,
    pub progress: RunProgress,
    pub requested_by: String,
    pub created_at: OffsetDateTime,
}

/// How far a run got: its worker's lease, when it ran, and what it left. Every new run,
/// a retry included, starts with none of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunProgress {
    /// Until when a running push is held by its worker.
    pub lease_until: Option<OffsetDateTime>,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub duration_ms: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Where the bundle went (a path, a secret's URL or ARN).
    pub location: Option<String>,
    /// The destination's version id, when it has one.
    pub destination_version: Option<String>,
}

/// What a history list is narrowed to; `None` matches anything.
#[derive(Debug, Default)]
pub struct RunFilter<'a> {
    pub target_id: Option<&'a str>,
    pub status: Option<RunStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in Trigger::NAMES {
            assert_eq!(Trigger::parse(name).map(Trigger::as_str), Some(*name));
        }
        assert!(Trigger::parse("hourly").is_none());
        for status in RunStatus::ALL {
            assert_eq!(RunStatus::parse(status.as_str()), Some(status));
        }
        for reason in RunReason::ALL {
            assert_eq!(RunReason::parse(reason.as_str()), Some(reason));
        }
        assert!(RunStatus::parse("done").is_none());
        assert!(RunReason::parse("cron").is_none());
    }

    #[test]
    fn the_default_config_pushes_on_renewal_without_the_key() {
        let config = RotationConfig::default_for("c", "o");
        assert_eq!(config.trigger, Trigger::OnRenewal);
        assert!(config.enabled && !config.include_private_key);
    }
}

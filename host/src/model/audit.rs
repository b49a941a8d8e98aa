//! Security events: who did what to which object, and whether it was allowed.

use serde::Serialize;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "low" => Some(Self::Low),
            "medium" => Some(Self::Medium),
            "high" => Some(Self::High),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "success" => Some(Self::Success),
            "denied" => Some(Self::Denied),
            _ => None,
        }
    }
}

/// One event to record. `details` must never hold a secret.
#[derive(Debug)]
pub struct AuditEvent<'a> {
    pub organization_id: Option<&'a str>,
    pub actor: String,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub severity: Severity,
    pub outcome: Outcome,
    pub request_id: Option<&'a str>,
    pub details: Option<serde_json::Value>,
}

/// A recorded event, as the log keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: String,
    pub occurred_at: OffsetDateTime,
    pub organization_id: Option<String>,
    /// Who acted, e.g. `api_key:pk_...` or `system`.
    pub actor: String,
    /// What happened, e.g. `api_key.create`, `permission.denied`.
    pub action: String,
    pub target: Option<String>,
    pub severity: Severity,
    pub outcome: Outcome,
    pub request_id: Option<String>,
    pub details: Option<serde_json::Value>,
}

/// What a listing of the log is narrowed to; `None` matches anything.
#[derive(Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub severity: Option<Severity>,
    pub outcome: Option<Outcome>,
    /// At or after.
    pub since: Option<OffsetDateTime>,
    /// Before.
    pub until: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for severity in [Severity::Low, Severity::Medium, Severity::High] {
            assert_eq!(Severity::parse(severity.as_str()), Some(severity));
        }
        for outcome in [Outcome::Success, Outcome::Denied] {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(Severity::parse("High"), None);
        assert_eq!(Outcome::parse("allowed"), None);
    }
}

//! API keys. The secret is never part of the model: only its keyed hash is stored.

use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The public identifier (`pk_...`).
    pub public_key: String,
    pub organization_id: String,
    /// When set, the key sees only this project.
    pub project_id: Option<String>,
    pub alias: Option<String>,
    /// Allowed client addresses and CIDR blocks, normalised; empty means any.
    pub ips: Vec<String>,
    pub role: Option<String>,
    pub permissions: Vec<String>,
    pub platform_admin: bool,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

impl ApiKey {
    /// Whether the key may be used at `now`: not revoked and not expired.
    pub fn is_usable(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn revoked_or_expired_keys_are_not_usable() {
        let now = OffsetDateTime::now_utc();
        let key = ApiKey {
            public_key: "pk_1".into(),
            organization_id: "o".into(),
            project_id: None,
            alias: None,
            ips: Vec::new(),
            role: None,
            permissions: Vec::new(),
            platform_admin: false,
            created_at: now,
            expires_at: None,
            revoked_at: None,
        };
        assert!(key.is_usable(now));
        let expiring = ApiKey {
            expires_at: Some(now + Duration::seconds(1)),
            ..key.clone()
        };
        assert!(expiring.is_usable(now));
        assert!(!expiring.is_usable(now + Duration::seconds(1)));
        let revoked = ApiKey {
            revoked_at: Some(now),
            ..key
        };
        assert!(!revoked.is_usable(now));
    }
}

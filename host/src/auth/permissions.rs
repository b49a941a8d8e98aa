//! Permission names and the roles that bundle them.
//!
//! Names follow `area:action`. A granted `area:*` covers every action of the area,
//! and `*` covers everything.

/// Every permission Keystead checks.
pub const ALL: &[&str] = &[
    // Certificates (reference API "Required Permissions").
    "certificate:request",
    "certificate:read",
    "certificate:approve",
    "certificate:revoke",
    "certificate:import",
    "certificate:archive",
    "certificate:permanent_delete",
    "certificate:write",
    "rotation:write",
    "rotation:execute",
    "ca:read",
    "ca:write",
    "ca:admin",
    // JWT signing keys and JWK objects.
    "keys:read",
    "keys:write",
    "webhooks:read",
    "webhooks:write",
    "api_keys:read",
    "api_keys:write",
    "plugins:read",
    "plugins:write",
    "audit:read",
    "organizations:read",
    "organizations:write",
    "projects:read",
    "projects:write",
];

/// Only platform administrators (the bootstrap key, or keys they mint with it) hold this:
/// it creates organizations and mints keys in any organization.
pub const PLATFORM_ADMIN: &str = "platform:admin";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Operator,
    Requester,
    Auditor,
}

impl Role {
    pub const NAMES: &'static [&'static str] = &["admin", "operator", "requester", "auditor"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "admin" => Some(Self::Admin),
            "operator" => Some(Self::Operator),
            "requester" => Some(Self::Requester),
            "auditor" => Some(Self::Auditor),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Operator => "operator",
            Self::Requester => "requester",
            Self::Auditor => "auditor",
        }
    }

    /// The permissions this role grants.
    pub fn permissions(self) -> Vec<String> {
        let granted: &[&str] = match self {
            Self::Admin => ALL,
            // Runs the PKI day to day; cannot manage API keys, plugins, tenancy or read the audit log.
            Self::Operator => &[
                "certificate:request",
                "certificate:read",
                "certificate:approve",
                "certificate:revoke",
                "certificate:import",
                "certificate:archive",
                "certificate:write",
                "rotation:write",
                "rotation:execute",
                "ca:read",
                "ca:write",
                "keys:read",
                "keys:write",
                "webhooks:read",
                "webhooks:write",
                "plugins:read",
                "organizations:read",
                "projects:read",
            ],
            // Asks for certificates and reads what it may use.
            Self::Requester => &[
                "certificate:request",
                "certificate:read",
                "ca:read",
                "keys:read",
                "organizations:read",
                "projects:read",
            ],
            // Reads everything, changes nothing.
            Self::Auditor => &[
                "certificate:read",
                "ca:read",
                "keys:read",
                "webhooks:read",
                "api_keys:read",
                "plugins:read",
                "audit:read",
                "organizations:read",
                "projects:read",
            ],
        };
        granted.iter().map(|p| (*p).to_owned()).collect()
    }
}

/// Whether a permission pattern (`area:action`, `area:*` or `*`) is a known name.
pub fn is_known_pattern(pattern: &str) -> bool {
    pattern == "*"
        || ALL.contains(&pattern)
        || pattern
            .strip_suffix(":*")
            .is_some_and(|area| ALL.iter().any(|p| p.split(':').next() == Some(area)))
}

/// Whether `granted` (patterns) covers `required` (a concrete name).
pub fn covers(granted: &[String], required: &str) -> bool {
    granted.iter().any(|g| {
        g == "*"
            || g == required
            || g.strip_suffix(":*").is_some_and(|area| {
                required
                    .split_once(':')
                    .is_some_and(|(required_area, _)| required_area == area)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let granted = vec!["keys:*".to_owned()];
        assert!(covers(&granted, "keys:write"));
        assert!(!covers(&granted, "keystore:write"));
        assert!(covers(&["*".to_owned()], "audit:read"));
        assert!(is_known_pattern("certificate:*"));
        assert!(!is_known_pattern("certificates:*"));
        assert!(!is_known_pattern("keys:destroy"));
    }

    #[test]
    fn roles_are_nested_sensibly() {
        let admin = Role::Admin.permissions();
        for role in [Role::Operator, Role::Requester, Role::Auditor] {
            for p in role.permissions() {
                assert!(ALL.contains(&p.as_str()), "{p}");
                assert!(covers(&admin, &p));
            }
        }
        assert!(!covers(&Role::Auditor.permissions(), "certificate:request"));
        assert!(!covers(&Role::Requester.permissions(), "audit:read"));
        assert!(!covers(&Role::Operator.permissions(), "api_keys:write"));
    }
}

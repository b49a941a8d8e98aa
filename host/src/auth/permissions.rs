//! Permissions and the roles that bundle them.
//!
//! A [`Permission`] is one thing Keystead checks; its wire name follows `area:action`.
//! A key holds grants: the strings clients send and see, each a permission's name,
//! a pattern `area:*` covering every action of the area, or `*` covering everything.

use std::fmt;

/// The grant that covers every permission a grant can confer.
pub const ANY: &str = "*";

/// One permission Keystead checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    // Certificates (reference API "Required Permissions").
    CertificateRequest,
    CertificateRead,
    CertificateApprove,
    CertificateRevoke,
    CertificateImport,
    CertificateArchive,
    CertificatePermanentDelete,
    CertificateWrite,
    RotationWrite,
    RotationExecute,
    CaRead,
    CaWrite,
    CaAdmin,
    // JWT signing keys and JWK objects.
    KeysRead,
    KeysWrite,
    WebhooksRead,
    WebhooksWrite,
    ApiKeysRead,
    ApiKeysWrite,
    PluginsRead,
    PluginsWrite,
    AuditRead,
    OrganizationsRead,
    OrganizationsWrite,
    ProjectsRead,
    ProjectsWrite,
    /// Only platform administrators (the bootstrap key, or keys they mint with it) hold this:
    /// it creates organizations and mints keys in any organization. No grant confers it.
    PlatformAdmin,
}

impl Permission {
    /// Every permission, those a grant can confer first.
    pub const ALL: &'static [Permission] = &[
        Self::CertificateRequest,
        Self::CertificateRead,
        Self::CertificateApprove,
        Self::CertificateRevoke,
        Self::CertificateImport,
        Self::CertificateArchive,
        Self::CertificatePermanentDelete,
        Self::CertificateWrite,
        Self::RotationWrite,
        Self::RotationExecute,
        Self::CaRead,
        Self::CaWrite,
        Self::CaAdmin,
        Self::KeysRead,
        Self::KeysWrite,
        Self::WebhooksRead,
        Self::WebhooksWrite,
        Self::ApiKeysRead,
        Self::ApiKeysWrite,
        Self::PluginsRead,
        Self::PluginsWrite,
        Self::AuditRead,
        Self::OrganizationsRead,
        Self::OrganizationsWrite,
        Self::ProjectsRead,
        Self::ProjectsWrite,
        Self::PlatformAdmin,
    ];

    /// The wire name, e.g. `certificate:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CertificateRequest => "certificate:request",
            Self::CertificateRead => "certificate:read",
            Self::CertificateApprove => "certificate:approve",
            Self::CertificateRevoke => "certificate:revoke",
            Self::CertificateImport => "certificate:import",
            Self::CertificateArchive => "certificate:archive",
            Self::CertificatePermanentDelete => "certificate:permanent_delete",
            Self::CertificateWrite => "certificate:write",
            Self::RotationWrite => "rotation:write",
            Self::RotationExecute => "rotation:execute",
            Self::CaRead => "ca:read",
            Self::CaWrite => "ca:write",
            Self::CaAdmin => "ca:admin",
            Self::KeysRead => "keys:read",
            Self::KeysWrite => "keys:write",
            Self::WebhooksRead => "webhooks:read",
            Self::WebhooksWrite => "webhooks:write",
            Self::ApiKeysRead => "api_keys:read",
            Self::ApiKeysWrite => "api_keys:write",
            Self::PluginsRead => "plugins:read",
            Self::PluginsWrite => "plugins:write",
            Self::AuditRead => "audit:read",
            Self::OrganizationsRead => "organizations:read",
            Self::OrganizationsWrite => "organizations:write",
            Self::ProjectsRead => "projects:read",
            Self::ProjectsWrite => "projects:write",
            Self::PlatformAdmin => "platform:admin",
        }
    }

    /// The permission with this wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.as_str() == name)
    }

    /// The part before the colon, e.g. `certificate`.
    pub fn area(self) -> &'static str {
        let name = self.as_str();
        name.split_once(':').map_or(name, |(area, _)| area)
    }

    /// Whether a grant can confer it; `platform:admin` is a property of the key instead.
    pub fn is_grantable(self) -> bool {
        self != Self::PlatformAdmin
    }

    /// The permissions a grant can confer.
    pub fn grantable() -> impl Iterator<Item = Permission> {
        Self::ALL.iter().copied().filter(|p| p.is_grantable())
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    pub fn permissions(self) -> Vec<Permission> {
        let granted: &[Permission] = match self {
            Self::Admin => return Permission::grantable().collect(),
            // Runs the PKI day to day; cannot manage API keys, plugins, tenancy or read the audit log.
            Self::Operator => &[
                Permission::CertificateRequest,
                Permission::CertificateRead,
                Permission::CertificateApprove,
                Permission::CertificateRevoke,
                Permission::CertificateImport,
                Permission::CertificateArchive,
                Permission::CertificateWrite,
                Permission::RotationWrite,
                Permission::RotationExecute,
                Permission::CaRead,
                Permission::CaWrite,
                Permission::KeysRead,
                Permission::KeysWrite,
                Permission::WebhooksRead,
                Permission::WebhooksWrite,
                Permission::PluginsRead,
                Permission::OrganizationsRead,
                Permission::ProjectsRead,
            ],
            // Asks for certificates and reads what it may use.
            Self::Requester => &[
                Permission::CertificateRequest,
                Permission::CertificateRead,
                Permission::CaRead,
                Permission::KeysRead,
                Permission::OrganizationsRead,
                Permission::ProjectsRead,
            ],
            // Reads everything, changes nothing.
            Self::Auditor => &[
                Permission::CertificateRead,
                Permission::CaRead,
                Permission::KeysRead,
                Permission::WebhooksRead,
                Permission::ApiKeysRead,
                Permission::PluginsRead,
                Permission::AuditRead,
                Permission::OrganizationsRead,
                Permission::ProjectsRead,
            ],
        };
        granted.to_vec()
    }

    /// The grants a key of this role holds: its permissions by name.
    pub fn grants(self) -> Vec<String> {
        self.permissions()
            .into_iter()
            .map(|p| p.as_str().to_owned())
            .collect()
    }
}

/// Whether a grant (a permission's name, `area:*` or `*`) is one a key may hold.
pub fn is_known_pattern(grant: &str) -> bool {
    grant == ANY
        || Permission::parse(grant).is_some_and(Permission::is_grantable)
        || grant
            .strip_suffix(":*")
            .is_some_and(|area| Permission::grantable().any(|p| p.area() == area))
}

/// Whether `grants` cover `permission`.
pub fn covers(grants: &[String], permission: Permission) -> bool {
    permission.is_grantable()
        && grants.iter().any(|g| {
            g == ANY || g == permission.as_str() || g.strip_suffix(":*") == Some(permission.area())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    /// Every permission's wire name, in declaration order; `platform:admin` is last.
    const WIRE_NAMES: [&str; 27] = [
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
        "platform:admin",
    ];

    /// Every wire name but `excluded`, in order.
    fn without(excluded: &[&str]) -> Vec<&'static str> {
        WIRE_NAMES
            .into_iter()
            .filter(|name| !excluded.contains(name))
            .collect()
    }

    #[test]
    fn wire_names_round_trip() {
        let names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, WIRE_NAMES);
        for &p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
            assert_eq!(p.to_string(), p.as_str());
            assert!(p.as_str().starts_with(p.area()), "{p}");
        }
        assert_eq!(Permission::parse("certificates:read"), None);
        assert_eq!(Permission::parse("keys:*"), None);
        assert_eq!(Permission::parse("*"), None);
    }

    #[test]
    fn patterns_cover_their_area() {
        let keys = grants(&["keys:*"]);
        for &p in Permission::ALL {
            assert_eq!(covers(&keys, p), p.area() == "keys", "{p}");
            assert_eq!(covers(&grants(&["*"]), p), p.is_grantable(), "{p}");
            assert_eq!(covers(&grants(&[p.as_str()]), p), p.is_grantable(), "{p}");
        }
        assert!(!covers(&grants(&["keystore:*"]), Permission::KeysWrite));
        assert!(!covers(&grants(&["keys:read"]), Permission::KeysWrite));
        assert!(!covers(&[], Permission::KeysRead));
        assert!(!covers(
            &grants(&["platform:admin", "platform:*"]),
            Permission::PlatformAdmin
        ));
    }

    #[test]
    fn known_patterns() {
        for &p in Permission::ALL {
            assert_eq!(is_known_pattern(p.as_str()), p.is_grantable(), "{p}");
        }
        for known in ["*", "certificate:*", "keys:*", "api_keys:*", "audit:*"] {
            assert!(is_known_pattern(known), "{known}");
        }
        for unknown in [
            "certificates:*",
            "keys:destroy",
            "platform:admin",
            "platform:*",
            "keys",
            "*:read",
            "",
        ] {
            assert!(!is_known_pattern(unknown), "{unknown}");
        }
    }

    #[test]
    fn roles_grant_what_they_granted_before() {
        let before = [
            (Role::Admin, without(&["platform:admin"])),
            (
                Role::Operator,
                without(&[
                    "certificate:permanent_delete",
                    "ca:admin",
                    "api_keys:read",
                    "api_keys:write",
                    "plugins:write",
                    "audit:read",
                    "organizations:write",
                    "projects:write",
                    "platform:admin",
                ]),
            ),
            (
                Role::Requester,
                vec![
                    "certificate:request",
                    "certificate:read",
                    "ca:read",
                    "keys:read",
                    "organizations:read",
                    "projects:read",
                ],
            ),
            (
                Role::Auditor,
                vec![
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
            ),
        ];
        for (role, names) in before {
            assert_eq!(role.grants(), names, "{}", role.name());
        }
    }

    #[test]
    fn roles_are_nested_sensibly() {
        let admin = Role::Admin.grants();
        for role in [Role::Operator, Role::Requester, Role::Auditor] {
            for p in role.permissions() {
                assert!(covers(&admin, p), "{p}");
            }
        }
        assert!(!covers(
            &Role::Auditor.grants(),
            Permission::CertificateRequest
        ));
        assert!(!covers(&Role::Requester.grants(), Permission::AuditRead));
        assert!(!covers(&Role::Operator.grants(), Permission::ApiKeysWrite));
        assert!(!covers(&admin, Permission::PlatformAdmin));
    }
}

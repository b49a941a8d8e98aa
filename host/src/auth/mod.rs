//! Authentication and authorization: API keys, bearer tokens, permissions,
//! client addresses and per-key rate limits.

pub mod api_keys;
pub mod client_ip;
pub mod permissions;
pub mod rate_limit;
pub mod tokens;

pub use api_keys::{ApiKeys, CreateKey, CreatedKey, UpdateKey};
pub use permissions::Permission;

/// Actor names of background jobs start with this; API key identifiers never do.
const SYSTEM_PREFIX: &str = "system:";

/// The authenticated caller: one API key, its tenant and what it may do.
#[derive(Debug, Clone)]
pub struct Principal {
    pub public_key: String,
    pub organization_id: String,
    /// When set, the key sees only this project.
    pub project_id: Option<String>,
    pub role: Option<String>,
    /// Grants: permission names and patterns (`area:*`, `*`).
    pub permissions: Vec<String>,
    pub platform_admin: bool,
    pub allowed_ips: Vec<ipnet::IpNet>,
}

impl Principal {
    pub fn has(&self, permission: Permission) -> bool {
        match permission {
            Permission::PlatformAdmin => self.platform_admin,
            _ => permissions::covers(&self.permissions, permission),
        }
    }

    /// The name audit events record for this caller.
    pub fn actor(&self) -> String {
        if self.public_key.starts_with(SYSTEM_PREFIX) {
            self.public_key.clone()
        } else {
            format!("api_key:{}", self.public_key)
        }
    }

    /// The platform itself acting for a tenant (background jobs), e.g. `system:renewal`.
    pub fn system(job: &str, organization_id: &str) -> Self {
        Self {
            public_key: format!("{SYSTEM_PREFIX}{job}"),
            organization_id: organization_id.to_owned(),
            project_id: None,
            role: None,
            permissions: vec![permissions::ANY.into()],
            platform_admin: false,
            allowed_ips: Vec::new(),
        }
    }

    /// Whether the key may see `project_id` (project-scoped keys see one project).
    pub fn sees_project(&self, project_id: &str) -> bool {
        self.project_id.as_deref().is_none_or(|p| p == project_id)
    }

    pub fn allows_ip(&self, ip: std::net::IpAddr) -> bool {
        self.allowed_ips.is_empty() || self.allowed_ips.iter().any(|net| net.contains(&ip))
    }
}

/// A request's authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub request_id: Option<String>,
}

impl Caller {
    pub fn organization_id(&self) -> &str {
        &self.principal.organization_id
    }

    /// What this caller may see: its organization, or one project of it.
    pub fn scope(&self) -> crate::store::Scope<'_> {
        match &self.principal.project_id {
            Some(project) => crate::store::Scope::project(self.organization_id(), project),
            None => crate::store::Scope::organization(self.organization_id()),
        }
    }

    /// What this caller did successfully to `target`, as the audit log records it.
    pub fn success<'a>(
        &'a self,
        action: &'a str,
        target: &'a str,
        severity: crate::audit::Severity,
        details: Option<serde_json::Value>,
    ) -> crate::audit::AuditEvent<'a> {
        crate::audit::AuditEvent {
            organization_id: Some(self.organization_id()),
            actor: self.principal.actor(),
            action,
            target: Some(target),
            severity,
            outcome: crate::audit::Outcome::Success,
            request_id: self.request_id.as_deref(),
            details,
        }
    }
}

/// Checks permissions and records every denial in the audit log.
#[derive(Clone)]
pub struct Authorizer {
    audit: crate::audit::AuditLog,
}

impl Authorizer {
    pub fn new(audit: crate::audit::AuditLog) -> Self {
        Self { audit }
    }

    pub async fn require(&self, caller: &Caller, permission: Permission) -> crate::Result<()> {
        if caller.principal.has(permission) {
            return Ok(());
        }
        self.audit
            .record(crate::audit::AuditEvent {
                organization_id: Some(caller.organization_id()),
                actor: caller.principal.actor(),
                action: "permission.denied",
                target: Some(permission.as_str()),
                severity: crate::audit::Severity::Medium,
                outcome: crate::audit::Outcome::Denied,
                request_id: caller.request_id.as_deref(),
                details: None,
            })
            .await?;
        Err(crate::Error::Forbidden { permission })
    }
}

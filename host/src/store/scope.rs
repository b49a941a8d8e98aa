//! The tenant a query is confined to.

/// An organization, and within it one project when the caller is confined to one.
/// Tenant-scoped store queries take a `Scope`, so that no query can forget the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    organization_id: &'a str,
    project_id: Option<&'a str>,
}

impl<'a> Scope<'a> {
    /// Everything of one organization.
    pub fn organization(organization_id: &'a str) -> Self {
        Self {
            organization_id,
            project_id: None,
        }
    }

    /// One project of one organization.
    pub fn project(organization_id: &'a str, project_id: &'a str) -> Self {
        Self {
            organization_id,
            project_id: Some(project_id),
        }
    }

    pub fn organization_id(&self) -> &'a str {
        self.organization_id
    }

    /// The project this scope is confined to, if any.
    pub fn project_id(&self) -> Option<&'a str> {
        self.project_id
    }

    /// Whether an object of `project_id` lies inside this scope.
    pub fn contains_project(&self, project_id: &str) -> bool {
        self.project_id.is_none_or(|p| p == project_id)
    }
}

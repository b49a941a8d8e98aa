//! Organizations -> projects -> environments. Every lookup is scoped by the caller's
//! organization (and project, for project-scoped keys): another tenant's id is "not found".

use uuid::Uuid;

use crate::auth::{Caller, Permission};
use crate::store::{EnvironmentRow, OrganizationRow, ProjectRow, Store, is_unique_violation};
use crate::{Error, Result, timestamp};

pub const DEFAULT_ORGANIZATION: &str = "default";
pub const DEFAULT_PROJECT: &str = "default";
pub const DEFAULT_ENVIRONMENTS: &[&str] = &["production", "staging"];
pub const MAX_NAME_LEN: usize = 64;
pub const MAX_DESCRIPTION_LEN: usize = 1024;

#[derive(Clone)]
pub struct Tenancy {
    store: Store,
}

/// Changes to a named object; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct Changes {
    pub name: Option<String>,
    /// `Some(None)` clears it.
    pub description: Option<Option<String>>,
}

impl Tenancy {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates organization `default` with project `default` and its environments
    /// when absent; returns the organization's id.
    pub async fn ensure_default(&self) -> Result<String> {
        let org = match self
            .store
            .organization_by_name(DEFAULT_ORGANIZATION)
            .await?
        {
            Some(org) => org,
            None => {
                let org = new_organization(DEFAULT_ORGANIZATION.into(), Some("Default".into()));
                self.store.organization_insert(&org).await?;
                let project = new_project(&org.id, DEFAULT_PROJECT.into(), None);
                self.store.project_insert(&project).await?;
                for env in DEFAULT_ENVIRONMENTS {
                    let env = new_environment(&project.id, (*env).into(), None);
                    self.store.environment_insert(&env).await?;
                }
                org
            }
        };
        Ok(org.id)
    }

    // ---- organizations ----

    pub async fn create_organization(
        &self,
        caller: &Caller,
        name: String,
        display_name: Option<String>,
    ) -> Result<OrganizationRow> {
        require_platform_admin(caller)?;
        let org = new_organization(
            validate_name("name", name)?,
            validate_description("display_name", display_name)?,
        );
        self.store
            .organization_insert(&org)
            .await
            .map_err(|e| conflict_on_unique(e, || format!("organization '{}' exists", org.name)))?;
        Ok(org)
    }

    /// Platform administrators see every organization; everyone else sees their own.
    pub async fn list_organizations(
        &self,
        caller: &Caller,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<OrganizationRow>, i64)> {
        let only = (!caller.principal.platform_admin).then(|| caller.organization_id());
        Ok(self.store.organization_list(only, offset, limit).await?)
    }

    pub async fn get_organization(&self, caller: &Caller, id: &str) -> Result<OrganizationRow> {
        if id != caller.organization_id() && !caller.principal.platform_admin {
            return Err(not_found("organization", id));
        }
        self.store
            .organization_get(id)
            .await?
            .ok_or_else(|| not_found("organization", id))
    }

    pub async fn update_organization(
        &self,
        caller: &Caller,
        id: &str,
        name: Option<String>,
        display_name: Option<Option<String>>,
    ) -> Result<OrganizationRow> {
        let mut org = self.get_organization(caller, id).await?;
        if let Some(name) = name {
            org.name = validate_name("name", name)?;
        }
        if let Some(display_name) = display_name {
            org.display_name = validate_description("display_name", display_name)?;
        }
        org.updated_at = timestamp::now_string();
        self.store
            .organization_update(&org)
            .await
            .map_err(|e| conflict_on_unique(e, || format!("organization '{}' exists", org.name)))?;
        Ok(org)
    }

    pub async fn delete_organization(&self, caller: &Caller, id: &str) -> Result<OrganizationRow> {
        require_platform_admin(caller)?;
        let org = self.get_organization(caller, id).await?;
        if id == caller.organization_id() {
            return Err(Error::Conflict(
                "an organization cannot delete itself; use a key of another organization".into(),
            ));
        }
        let projects = self.store.project_count(id).await?;
        if projects > 0 {
            return Err(Error::Conflict(format!(
                "organization '{}' still has {projects} project(s); delete them first",
                org.name
            )));
        }
        self.store.organization_delete(id).await?;
        Ok(org)
    }

    // ---- projects ----

    pub async fn create_project(
        &self,
        caller: &Caller,
        name: String,
        description: Option<String>,
    ) -> Result<ProjectRow> {
        if caller.principal.project_id.is_some() {
            return Err(Error::Denied(
                "a project-scoped key cannot create projects".into(),
            ));
        }
        let project = new_project(
            caller.organization_id(),
            validate_name("name", name)?,
            validate_description("description", description)?,
        );
        self.store
            .project_insert(&project)
            .await
            .map_err(|e| conflict_on_unique(e, || format!("project '{}' exists", project.name)))?;
        Ok(project)
    }

    pub async fn list_projects(
        &self,
        caller: &Caller,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ProjectRow>, i64)> {
        Ok(self
            .store
            .project_list(
                caller.organization_id(),
                caller.principal.project_id.as_deref(),
                offset,
                limit,
            )
            .await?)
    }

    pub async fn get_project(&self, caller: &Caller, id: &str) -> Result<ProjectRow> {
        if !caller.principal.sees_project(id) {
            return Err(not_found("project", id));
        }
        self.store
            .project_get(caller.organization_id(), id)
            .await?
            .ok_or_else(|| not_found("project", id))
    }

    /// A project by name, for the routes that address projects by name.
    pub async fn get_project_by_name(&self, caller: &Caller, name: &str) -> Result<ProjectRow> {
        self.store
            .project_by_name(caller.organization_id(), name)
            .await?
            .filter(|p| caller.principal.sees_project(&p.id))
            .ok_or_else(|| not_found("project", name))
    }

    pub async fn update_project(
        &self,
        caller: &Caller,
        id: &str,
        changes: Changes,
    ) -> Result<ProjectRow> {
        let mut project = self.get_project(caller, id).await?;
        if let Some(name) = changes.name {
            project.name = validate_name("name", name)?;
        }
        if let Some(description) = changes.description {
            project.description = validate_description("description", description)?;
        }
        project.updated_at = timestamp::now_string();
        self.store
            .project_update(&project)
            .await
            .map_err(|e| conflict_on_unique(e, || format!("project '{}' exists", project.name)))?;
        Ok(project)
    }

    pub async fn delete_project(&self, caller: &Caller, id: &str) -> Result<ProjectRow> {
        let project = self.get_project(caller, id).await?;
        if caller.principal.project_id.is_some() {
            return Err(Error::Denied(
                "a project-scoped key cannot delete its project".into(),
            ));
        }
        self.store
            .project_delete(caller.organization_id(), id)
            .await?;
        Ok(project)
    }

    // ---- environments ----

    pub async fn create_environment(
        &self,
        caller: &Caller,
        project_id: &str,
        name: String,
        description: Option<String>,
    ) -> Result<EnvironmentRow> {
        let project = self.get_project(caller, project_id).await?;
        let env = new_environment(
            &project.id,
            validate_name("name", name)?,
            validate_description("description", description)?,
        );
        self.store
            .environment_insert(&env)
            .await
            .map_err(|e| conflict_on_unique(e, || format!("environment '{}' exists", env.name)))?;
        Ok(env)
    }

    pub async fn list_environments(
        &self,
        caller: &Caller,
        project_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<EnvironmentRow>, i64)> {
        let project = self.get_project(caller, project_id).await?;
        Ok(self
            .store
            .environment_list(&project.id, offset, limit)
            .await?)
    }

    pub async fn get_environment(
        &self,
        caller: &Caller,
        project_id: &str,
        env: &str,
    ) -> Result<EnvironmentRow> {
        let project = self.get_project(caller, project_id).await?;
        self.store
            .environment_get(&project.id, env)
            .await?
            .ok_or_else(|| not_found("environment", env))
    }

    pub async fn update_environment(
        &self,
        caller: &Caller,
        project_id: &str,
        env: &str,
        changes: Changes,
    ) -> Result<EnvironmentRow> {
        let mut row = self.get_environment(caller, project_id, env).await?;
        if let Some(name) = changes.name {
            row.name = validate_name("name", name)?;
        }
        if let Some(description) = changes.description {
            row.description = validate_description("description", description)?;
        }
        row.updated_at = timestamp::now_string();
        self.store
            .environment_update(&row)
            .await
            .map_err(|e| conflict_on_unique(e, || format!("environment '{}' exists", row.name)))?;
        Ok(row)
    }

    pub async fn delete_environment(
        &self,
        caller: &Caller,
        project_id: &str,
        env: &str,
    ) -> Result<EnvironmentRow> {
        let row = self.get_environment(caller, project_id, env).await?;
        self.store
            .environment_delete(&row.project_id, &row.id)
            .await?;
        Ok(row)
    }
}

fn require_platform_admin(caller: &Caller) -> Result<()> {
    if caller.principal.platform_admin {
        Ok(())
    } else {
        Err(Error::Forbidden {
            permission: Permission::PlatformAdmin,
        })
    }
}

fn not_found(kind: &str, id: &str) -> Error {
    Error::NotFound(format!("{kind} '{id}'"))
}

fn conflict_on_unique(err: sqlx::Error, message: impl FnOnce() -> String) -> Error {
    if is_unique_violation(&err) {
        Error::Conflict(message())
    } else {
        err.into()
    }
}

/// Names appear in paths: letters, digits, `-`, `_` and `.`, starting with a letter or digit.
pub fn validate_name(field: &str, name: String) -> Result<String> {
    let valid_start = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.is_empty() || name.len() > MAX_NAME_LEN || !valid_start || !valid_chars {
        return Err(Error::bad_request(
            field,
            format!(
                "must be 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.', starting with a letter or digit"
            ),
        ));
    }
    Ok(name)
}

fn validate_description(field: &str, text: Option<String>) -> Result<Option<String>> {
    match text {
        Some(t) if t.chars().count() > MAX_DESCRIPTION_LEN => Err(Error::bad_request(
            field,
            format!("at most {MAX_DESCRIPTION_LEN} characters"),
        )),
        other => Ok(other),
    }
}

fn new_organization(name: String, display_name: Option<String>) -> OrganizationRow {
    let now = timestamp::now_string();
    OrganizationRow {
        id: Uuid::new_v4().to_string(),
        name,
        display_name,
        created_at: now.clone(),
        updated_at: now,
    }
}

fn new_project(organization_id: &str, name: String, description: Option<String>) -> ProjectRow {
    let now = timestamp::now_string();
    ProjectRow {
        id: Uuid::new_v4().to_string(),
        organization_id: organization_id.to_owned(),
        name,
        description,
        created_at: now.clone(),
        updated_at: now,
    }
}

fn new_environment(project_id: &str, name: String, description: Option<String>) -> EnvironmentRow {
    let now = timestamp::now_string();
    EnvironmentRow {
        id: Uuid::new_v4().to_string(),
        project_id: project_id.to_owned(),
        name,
        description,
        created_at: now.clone(),
        updated_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("name", "prod-eu.1".into()).is_ok());
        for bad in ["", "-x", "a b", "ü", &"x".repeat(65)] {
            let err = validate_name("name", bad.into()).unwrap_err();
            assert!(err.to_string().starts_with("name:"), "{bad}");
        }
    }
}

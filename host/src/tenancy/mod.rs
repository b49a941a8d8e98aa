//! Organizations -> projects -> environments. Every lookup is scoped by the caller's
//! organization (and project, for project-scoped keys): another tenant's id is "not found".

use uuid::Uuid;

use crate::audit::AuditLog;
use crate::auth::{Caller, Permission};
use crate::error::OnConflict;
use crate::model::{Environment, Organization, Project};
use crate::store::{Scope, Store};
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

/// What every tenant-scoped service works through: the store, the audit log, and the
/// tenancy that resolves a caller's projects and environments.
#[derive(Clone)]
pub struct ServiceContext {
    pub store: Store,
    pub audit: AuditLog,
    pub tenancy: Tenancy,
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
                self.store.organization_insert(org.clone()).await?;
                let project = new_project(&org.id, DEFAULT_PROJECT.into(), None);
                self.store.project_insert(project.clone()).await?;
                for env in DEFAULT_ENVIRONMENTS {
                    let env = new_environment(&project.id, (*env).into(), None);
                    self.store.environment_insert(env).await?;
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
    ) -> Result<Organization> {
        require_platform_admin(caller)?;
        let org = new_organization(
            validate_name("name", name)?,
            validate_description("display_name", display_name)?,
        );
        self.store
            .organization_insert(org.clone())
            .await
            .on_conflict(|| exists("organization", &org.name))?;
        Ok(org)
    }

    /// Platform administrators see every organization; everyone else sees their own.
    pub async fn list_organizations(
        &self,
        caller: &Caller,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Organization>, i64)> {
        let only = (!caller.principal.platform_admin).then(|| caller.organization_id());
        Ok(self.store.organization_list(only, offset, limit).await?)
    }

    pub async fn get_organization(&self, caller: &Caller, id: &str) -> Result<Organization> {
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
    ) -> Result<Organization> {
        let mut org = self.get_organization(caller, id).await?;
        if let Some(name) = name {
            org.name = validate_name("name", name)?;
        }
        if let Some(display_name) = display_name {
            org.display_name = validate_description("display_name", display_name)?;
        }
        org.updated_at = timestamp::now();
        self.store
            .organization_update(org.clone())
            .await
            .on_conflict(|| exists("organization", &org.name))?;
        Ok(org)
    }

    pub async fn delete_organization(&self, caller: &Caller, id: &str) -> Result<Organization> {
        require_platform_admin(caller)?;
        let org = self.get_organization(caller, id).await?;
        if id == caller.organization_id() {
            return Err(Error::Conflict(
                "an organization cannot delete itself; use a key of another organization".into(),
            ));
        }
        let projects = self.store.project_count(Scope::organization(id)).await?;
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
    ) -> Result<Project> {
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
            .project_insert(project.clone())
            .await
            .on_conflict(|| exists("project", &project.name))?;
        Ok(project)
    }

    pub async fn list_projects(
        &self,
        caller: &Caller,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Project>, i64)> {
        Ok(self
            .store
            .project_list(caller.scope(), offset, limit)
            .await?)
    }

    pub async fn get_project(&self, caller: &Caller, id: &str) -> Result<Project> {
        self.store
            .project_get(caller.scope(), id)
            .await?
            .ok_or_else(|| not_found("project", id))
    }

    /// A project by name, for the routes that address projects by name.
    pub async fn get_project_by_name(&self, caller: &Caller, name: &str) -> Result<Project> {
        self.store
            .project_by_name(caller.scope(), name)
            .await?
            .ok_or_else(|| not_found("project", name))
    }

    pub async fn update_project(
        &self,
        caller: &Caller,
        id: &str,
        changes: Changes,
    ) -> Result<Project> {
        let mut project = self.get_project(caller, id).await?;
        if let Some(name) = changes.name {
            project.name = validate_name("name", name)?;
        }
        if let Some(description) = changes.description {
            project.description = validate_description("description", description)?;
        }
        project.updated_at = timestamp::now();
        self.store
            .project_update(project.clone())
            .await
            .on_conflict(|| exists("project", &project.name))?;
        Ok(project)
    }

    pub async fn delete_project(&self, caller: &Caller, id: &str) -> Result<Project> {
        let project = self.get_project(caller, id).await?;
        if caller.principal.project_id.is_some() {
            return Err(Error::Denied(
                "a project-scoped key cannot delete its project".into(),
            ));
        }
        self.store.project_delete(caller.scope(), id).await?;
        Ok(project)
    }

    // ---- environments ----

    pub async fn create_environment(
        &self,
        caller: &Caller,
        project_id: &str,
        name: String,
        description: Option<String>,
    ) -> Result<Environment> {
        let project = self.get_project(caller, project_id).await?;
        let env = new_environment(
            &project.id,
            validate_name("name", name)?,
            validate_description("description", description)?,
        );
        self.store
            .environment_insert(env.clone())
            .await
            .on_conflict(|| exists("environment", &env.name))?;
        Ok(env)
    }

    pub async fn list_environments(
        &self,
        caller: &Caller,
        project_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Environment>, i64)> {
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
    ) -> Result<Environment> {
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
    ) -> Result<Environment> {
        let mut environment = self.get_environment(caller, project_id, env).await?;
        if let Some(name) = changes.name {
            environment.name = validate_name("name", name)?;
        }
        if let Some(description) = changes.description {
            environment.description = validate_description("description", description)?;
        }
        environment.updated_at = timestamp::now();
        self.store
            .environment_update(environment.clone())
            .await
            .on_conflict(|| exists("environment", &environment.name))?;
        Ok(environment)
    }

    pub async fn delete_environment(
        &self,
        caller: &Caller,
        project_id: &str,
        env: &str,
    ) -> Result<Environment> {
        let environment = self.get_environment(caller, project_id, env).await?;
        self.store
            .environment_delete(&environment.project_id, &environment.id)
            .await?;
        Ok(environment)
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

fn exists(kind: &str, name: &str) -> Error {
    Error::Conflict(format!("{kind} '{name}' exists"))
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

fn new_organization(name: String, display_name: Option<String>) -> Organization {
    let now = timestamp::now();
    Organization {
        id: Uuid::new_v4().to_string(),
        name,
        display_name,
        created_at: now,
        updated_at: now,
    }
}

fn new_project(organization_id: &str, name: String, description: Option<String>) -> Project {
    let now = timestamp::now();
    Project {
        id: Uuid::new_v4().to_string(),
        organization_id: organization_id.to_owned(),
        name,
        description,
        created_at: now,
        updated_at: now,
    }
}

fn new_environment(project_id: &str, name: String, description: Option<String>) -> Environment {
    let now = timestamp::now();
    Environment {
        id: Uuid::new_v4().to_string(),
        project_id: project_id.to_owned(),
        name,
        description,
        created_at: now,
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

//! Organizations, projects and environments. Project queries are scoped by tenant;
//! environment queries by their project.

use rusqlite::params;
use sqlx::FromRow;
use sqlx::sqlite::SqliteRow;

use super::cache::Changed;
use super::codec::time;
use super::{Scope, Store, StoreError, Tx};
use crate::model::{Environment, Organization, Project};
use crate::timestamp;

#[derive(FromRow)]
struct OrganizationRow {
    id: String,
    name: String,
    display_name: Option<String>,
    created_at: String,
    updated_at: String,
}

impl OrganizationRow {
    fn into_model(self) -> Result<Organization, StoreError> {
        Ok(Organization {
            created_at: time("organizations.created_at", &self.created_at)?,
            updated_at: time("organizations.updated_at", &self.updated_at)?,
            id: self.id,
            name: self.name,
            display_name: self.display_name,
        })
    }
}

#[derive(FromRow)]
struct ProjectRow {
    id: String,
    organization_id: String,
    name: String,
    description: Option<String>,
    created_at: String,
    updated_at: String,
}

impl ProjectRow {
    fn into_model(self) -> Result<Project, StoreError> {
        Ok(Project {
            created_at: time("projects.created_at", &self.created_at)?,
            updated_at: time("projects.updated_at", &self.updated_at)?,
            id: self.id,
            organization_id: self.organization_id,
            name: self.name,
            description: self.description,
        })
    }
}

#[derive(FromRow)]
struct EnvironmentRow {
    id: String,
    project_id: String,
    name: String,
    description: Option<String>,
    created_at: String,
    updated_at: String,
}

impl EnvironmentRow {
    fn into_model(self) -> Result<Environment, StoreError> {
        Ok(Environment {
            created_at: time("environments.created_at", &self.created_at)?,
            updated_at: time("environments.updated_at", &self.updated_at)?,
            id: self.id,
            project_id: self.project_id,
            name: self.name,
            description: self.description,
        })
    }
}

/// The projects a scope contains: `?1` is its organization, `?2` its project (or NULL).
const PROJECT_IN_SCOPE: &str = "organization_id = ?1 AND (?2 IS NULL OR id = ?2)";

impl Store {
    /// One page of the rows `sql` selects in `scope`: it binds the scope's organization
    /// and project as `?1` and `?2`, and reads `LIMIT ?3 OFFSET ?4`.
    pub(super) async fn page_in_scope<R>(
        &self,
        sql: &str,
        scope: Scope<'_>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<R>, StoreError>
    where
        R: for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
    {
        let rows = sqlx::query_as(sql)
            .bind(scope.organization_id())
            .bind(scope.project_id())
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    pub async fn organization_insert(&self, org: Organization) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.organization_insert(&org))
            .await
    }

    pub async fn organization_get(&self, id: &str) -> Result<Option<Organization>, StoreError> {
        let row: Option<OrganizationRow> =
            sqlx::query_as("SELECT * FROM organizations WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(OrganizationRow::into_model).transpose()
    }

    pub async fn organization_by_name(
        &self,
        name: &str,
    ) -> Result<Option<Organization>, StoreError> {
        let row: Option<OrganizationRow> =
            sqlx::query_as("SELECT * FROM organizations WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        row.map(OrganizationRow::into_model).transpose()
    }

    /// Organizations in creation order; `only` restricts the list to one id.
    pub async fn organization_list(
        &self,
        only: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Organization>, i64), StoreError> {
        let rows: Vec<OrganizationRow> = sqlx::query_as(
            "SELECT * FROM organizations WHERE (?1 IS NULL OR id = ?1)
             ORDER BY created_at, id LIMIT ?2 OFFSET ?3",
        )
        .bind(only)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total =
            sqlx::query_scalar("SELECT COUNT(*) FROM organizations WHERE (?1 IS NULL OR id = ?1)")
                .bind(only)
                .fetch_one(&self.pool)
                .await?;
        let orgs = rows
            .into_iter()
            .map(OrganizationRow::into_model)
            .collect::<Result<_, _>>()?;
        Ok((orgs, total))
    }

    pub async fn organization_update(&self, org: Organization) -> Result<bool, StoreError> {
        self.transaction(move |tx| tx.organization_update(&org))
            .await
    }

    pub async fn organization_delete(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.transaction(move |tx| tx.organization_delete(&id))
            .await
    }

    pub async fn project_count(&self, scope: Scope<'_>) -> Result<i64, StoreError> {
        let count = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM projects WHERE {PROJECT_IN_SCOPE}"
        ))
        .bind(scope.organization_id())
        .bind(scope.project_id())
        .fetch_one(&self.pool)
        .await?;
        Ok(count)
    }

    pub async fn project_insert(&self, project: Project) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.project_insert(&project))
            .await
    }

    pub async fn project_get(
        &self,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<Option<Project>, StoreError> {
        // A project outside the scope is not there for this caller, cached or not.
        if !scope.contains_project(id) {
            return Ok(None);
        }
        let key = (scope.organization_id().to_owned(), id.to_owned());
        self.caches
            .projects
            .get_or_load(key, || async {
                let row: Option<ProjectRow> = scope
                    .query_as(
                        &format!("SELECT * FROM projects WHERE {PROJECT_IN_SCOPE} AND id = ?3"),
                        id,
                    )
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(ProjectRow::into_model).transpose()
            })
            .await
    }

    pub async fn project_by_name(
        &self,
        scope: Scope<'_>,
        name: &str,
    ) -> Result<Option<Project>, StoreError> {
        let row: Option<ProjectRow> = scope
            .query_as(
                &format!("SELECT * FROM projects WHERE {PROJECT_IN_SCOPE} AND name = ?3"),
                name,
            )
            .fetch_optional(&self.pool)
            .await?;
        row.map(ProjectRow::into_model).transpose()
    }

    /// The projects of a scope in creation order.
    pub async fn project_list(
        &self,
        scope: Scope<'_>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Project>, i64), StoreError> {
        let sql = format!(
            "SELECT * FROM projects WHERE {PROJECT_IN_SCOPE}
             ORDER BY created_at, id LIMIT ?3 OFFSET ?4"
        );
        let rows: Vec<ProjectRow> = self.page_in_scope(&sql, scope, offset, limit).await?;
        let total = self.project_count(scope).await?;
        let projects = rows
            .into_iter()
            .map(ProjectRow::into_model)
            .collect::<Result<_, _>>()?;
        Ok((projects, total))
    }

    pub async fn project_update(&self, project: Project) -> Result<bool, StoreError> {
        self.transaction(move |tx| tx.project_update(&project))
            .await
    }

    pub async fn project_delete(&self, scope: Scope<'_>, id: &str) -> Result<bool, StoreError> {
        let (scope, id) = (scope.to_owned_scope(), id.to_owned());
        self.transaction(move |tx| tx.project_delete(scope.scope(), &id))
            .await
    }

    pub async fn environment_insert(&self, env: Environment) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.environment_insert(&env))
            .await
    }

    /// An environment by id or by name within a project.
    pub async fn environment_get(
        &self,
        project_id: &str,
        id_or_name: &str,
    ) -> Result<Option<Environment>, StoreError> {
        let row: Option<EnvironmentRow> = sqlx::query_as(
            "SELECT * FROM environments WHERE project_id = ?1 AND (id = ?2 OR name = ?2)",
        )
        .bind(project_id)
        .bind(id_or_name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(EnvironmentRow::into_model).transpose()
    }

    pub async fn environment_list(
        &self,
        project_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Environment>, i64), StoreError> {
        let rows: Vec<EnvironmentRow> = sqlx::query_as(
            "SELECT * FROM environments WHERE project_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?",
        )
        .bind(project_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total = sqlx::query_scalar("SELECT COUNT(*) FROM environments WHERE project_id = ?")
            .bind(project_id)
            .fetch_one(&self.pool)
            .await?;
        let environments = rows
            .into_iter()
            .map(EnvironmentRow::into_model)
            .collect::<Result<_, _>>()?;
        Ok((environments, total))
    }

    pub async fn environment_update(&self, env: Environment) -> Result<bool, StoreError> {
        self.transaction(move |tx| tx.environment_update(&env))
            .await
    }

    pub async fn environment_delete(&self, project_id: &str, id: &str) -> Result<bool, StoreError> {
        let (project_id, id) = (project_id.to_owned(), id.to_owned());
        self.transaction(move |tx| tx.environment_delete(&project_id, &id))
            .await
    }
}

impl Tx<'_> {
    pub fn organization_insert(&mut self, org: &Organization) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO organizations (id, name, display_name, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?)",
            params![
                org.id,
                org.name,
                org.display_name,
                timestamp::format(org.created_at),
                timestamp::format(org.updated_at),
            ],
        )?;
        Ok(())
    }

    pub fn organization_update(&mut self, org: &Organization) -> Result<bool, StoreError> {
        let done = self.execute(
            "UPDATE organizations SET name = ?, display_name = ?, updated_at = ? WHERE id = ?",
            params![
                org.name,
                org.display_name,
                timestamp::format(org.updated_at),
                org.id,
            ],
        )?;
        Ok(done == 1)
    }

    pub fn organization_delete(&mut self, id: &str) -> Result<bool, StoreError> {
        let done = self.execute("DELETE FROM organizations WHERE id = ?", [id])?;
        self.change(Changed::ALL);
        Ok(done == 1)
    }

    pub fn project_insert(&mut self, project: &Project) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO projects (id, organization_id, name, description, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?)",
            params![
                project.id,
                project.organization_id,
                project.name,
                project.description,
                timestamp::format(project.created_at),
                timestamp::format(project.updated_at),
            ],
        )?;
        Ok(())
    }

    pub fn project_update(&mut self, project: &Project) -> Result<bool, StoreError> {
        let done = self.execute(
            "UPDATE projects SET name = ?, description = ?, updated_at = ?
             WHERE id = ? AND organization_id = ?",
            params![
                project.name,
                project.description,
                timestamp::format(project.updated_at),
                project.id,
                project.organization_id,
            ],
        )?;
        self.change(Changed::PROJECTS);
        Ok(done == 1)
    }

    pub fn project_delete(&mut self, scope: Scope<'_>, id: &str) -> Result<bool, StoreError> {
        let done = self.execute(
            &format!("DELETE FROM projects WHERE {PROJECT_IN_SCOPE} AND id = ?3"),
            params![scope.organization_id(), scope.project_id(), id],
        )?;
        self.change(Changed::ALL);
        Ok(done == 1)
    }

    pub fn environment_insert(&mut self, env: &Environment) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO environments (id, project_id, name, description, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?)",
            params![
                env.id,
                env.project_id,
                env.name,
                env.description,
                timestamp::format(env.created_at),
                timestamp::format(env.updated_at),
            ],
        )?;
        Ok(())
    }

    pub fn environment_update(&mut self, env: &Environment) -> Result<bool, StoreError> {
        let done = self.execute(
            "UPDATE environments SET name = ?, description = ?, updated_at = ?
             WHERE id = ? AND project_id = ?",
            params![
                env.name,
                env.description,
                timestamp::format(env.updated_at),
                env.id,
                env.project_id,
            ],
        )?;
        Ok(done == 1)
    }

    pub fn environment_delete(&mut self, project_id: &str, id: &str) -> Result<bool, StoreError> {
        let done = self.execute(
            "DELETE FROM environments WHERE project_id = ? AND id = ?",
            params![project_id, id],
        )?;
        Ok(done == 1)
    }
}

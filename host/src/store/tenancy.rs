//! Organizations, projects and environments. Project and environment queries are
//! always scoped by organization.

use sqlx::FromRow;

use super::Store;

#[derive(Debug, Clone, FromRow)]
pub struct OrganizationRow {
    pub id: String,
    pub name: String,
    pub display_name: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct ProjectRow {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct EnvironmentRow {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Store {
    pub async fn organization_insert(&self, row: &OrganizationRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO organizations (id, name, display_name, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&row.id)
        .bind(&row.name)
        .bind(&row.display_name)
        .bind(&row.created_at)
        .bind(&row.updated_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    pub async fn organization_get(&self, id: &str) -> Result<Option<OrganizationRow>, sqlx::Error> {
        sqlx::query_as("SELECT * FROM organizations WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn organization_by_name(
        &self,
        name: &str,
    ) -> Result<Option<OrganizationRow>, sqlx::Error> {
        sqlx::query_as("SELECT * FROM organizations WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
    }

    /// Organizations in creation order; `only` restricts the list to one id.
    pub async fn organization_list(
        &self,
        only: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<OrganizationRow>, i64), sqlx::Error> {
        let rows = sqlx::query_as(
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
        Ok((rows, total))
    }

    pub async fn organization_update(&self, row: &OrganizationRow) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE organizations SET name = ?, display_name = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&row.name)
        .bind(&row.display_name)
        .bind(&row.updated_at)
        .bind(&row.id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn organization_delete(&self, id: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM organizations WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.caches.invalidate_all();
        Ok(done.rows_affected() == 1)
    }

    pub async fn project_count(&self, organization_id: &str) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM projects WHERE organization_id = ?")
            .bind(organization_id)
            .fetch_one(&self.pool)
            .await
    }

    pub async fn project_insert(&self, row: &ProjectRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO projects (id, organization_id, name, description, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&row.id)
        .bind(&row.organization_id)
        .bind(&row.name)
        .bind(&row.description)
        .bind(&row.created_at)
        .bind(&row.updated_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    pub async fn project_get(
        &self,
        organization_id: &str,
        id: &str,
    ) -> Result<Option<ProjectRow>, sqlx::Error> {
        let key = (organization_id.to_owned(), id.to_owned());
        self.caches
            .projects
            .get_or_load(key, || {
                sqlx::query_as("SELECT * FROM projects WHERE organization_id = ? AND id = ?")
                    .bind(organization_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
            })
            .await
    }

    pub async fn project_by_name(
        &self,
        organization_id: &str,
        name: &str,
    ) -> Result<Option<ProjectRow>, sqlx::Error> {
        sqlx::query_as("SELECT * FROM projects WHERE organization_id = ? AND name = ?")
            .bind(organization_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
    }

    /// Projects of an organization; `only` restricts the list to one project.
    pub async fn project_list(
        &self,
        organization_id: &str,
        only: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ProjectRow>, i64), sqlx::Error> {
        let rows = sqlx::query_as(
            "SELECT * FROM projects WHERE organization_id = ?1 AND (?2 IS NULL OR id = ?2)
             ORDER BY created_at, id LIMIT ?3 OFFSET ?4",
        )
        .bind(organization_id)
        .bind(only)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total = sqlx::query_scalar(
            "SELECT COUNT(*) FROM projects WHERE organization_id = ?1 AND (?2 IS NULL OR id = ?2)",
        )
        .bind(organization_id)
        .bind(only)
        .fetch_one(&self.pool)
        .await?;
        Ok((rows, total))
    }

    pub async fn project_update(&self, row: &ProjectRow) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE projects SET name = ?, description = ?, updated_at = ?
             WHERE id = ? AND organization_id = ?",
        )
        .bind(&row.name)
        .bind(&row.description)
        .bind(&row.updated_at)
        .bind(&row.id)
        .bind(&row.organization_id)
        .execute(&self.pool)
        .await?;
        self.caches.projects.invalidate();
        Ok(done.rows_affected() == 1)
    }

    pub async fn project_delete(
        &self,
        organization_id: &str,
        id: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM projects WHERE organization_id = ? AND id = ?")
            .bind(organization_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.caches.invalidate_all();
        Ok(done.rows_affected() == 1)
    }

    pub async fn environment_insert(&self, row: &EnvironmentRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO environments (id, project_id, name, description, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&row.id)
        .bind(&row.project_id)
        .bind(&row.name)
        .bind(&row.description)
        .bind(&row.created_at)
        .bind(&row.updated_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    /// An environment by id or by name within a project.
    pub async fn environment_get(
        &self,
        project_id: &str,
        id_or_name: &str,
    ) -> Result<Option<EnvironmentRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT * FROM environments WHERE project_id = ?1 AND (id = ?2 OR name = ?2)",
        )
        .bind(project_id)
        .bind(id_or_name)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn environment_list(
        &self,
        project_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<EnvironmentRow>, i64), sqlx::Error> {
        let rows = sqlx::query_as(
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
        Ok((rows, total))
    }

    pub async fn environment_update(&self, row: &EnvironmentRow) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE environments SET name = ?, description = ?, updated_at = ?
             WHERE id = ? AND project_id = ?",
        )
        .bind(&row.name)
        .bind(&row.description)
        .bind(&row.updated_at)
        .bind(&row.id)
        .bind(&row.project_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn environment_delete(
        &self,
        project_id: &str,
        id: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM environments WHERE project_id = ? AND id = ?")
            .bind(project_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

//! JWK objects and their publication per environment.

use sqlx::FromRow;

use super::{Store, WriteTx};

#[derive(Debug, Clone, FromRow)]
pub struct JwkObjectRow {
    pub id: String,
    pub organization_id: String,
    pub project_id: String,
    pub name: String,
    pub description: Option<String>,
    pub source_type: String,
    pub source: String,
    pub jwk: String,
    pub kid: String,
    pub created_at: String,
    pub updated_at: String,
}

impl Store {
    /// Replaces everything but the id, the name and the creation time.
    pub async fn jwk_object_update(&self, row: &JwkObjectRow) -> Result<bool, sqlx::Error> {
        sqlx::query(
            "UPDATE jwk_objects SET description = ?, source_type = ?, source = ?, jwk = ?, \
             kid = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&row.description)
        .bind(&row.source_type)
        .bind(&row.source)
        .bind(&row.jwk)
        .bind(&row.kid)
        .bind(&row.updated_at)
        .bind(&row.id)
        .execute(&self.pool)
        .await
        .map(|r| r.rows_affected() == 1)
    }

    pub async fn jwk_object_list(
        &self,
        project_id: &str,
    ) -> Result<Vec<JwkObjectRow>, sqlx::Error> {
        sqlx::query_as("SELECT * FROM jwk_objects WHERE project_id = ? ORDER BY name")
            .bind(project_id)
            .fetch_all(&self.pool)
            .await
    }

    pub async fn jwk_object_get(
        &self,
        project_id: &str,
        name: &str,
    ) -> Result<Option<JwkObjectRow>, sqlx::Error> {
        sqlx::query_as("SELECT * FROM jwk_objects WHERE project_id = ? AND name = ?")
            .bind(project_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn jwk_object_delete(&self, id: &str) -> Result<bool, sqlx::Error> {
        sqlx::query("DELETE FROM jwk_objects WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map(|r| r.rows_affected() == 1)
    }

    /// Publishes the object in one environment (again, if it already is).
    pub async fn jwk_deploy(
        &self,
        jwk_id: &str,
        environment_id: &str,
        at: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO jwk_deployments (jwk_id, environment_id, deployed_at) VALUES (?, ?, ?) \
             ON CONFLICT (jwk_id, environment_id) DO UPDATE SET deployed_at = excluded.deployed_at",
        )
        .bind(jwk_id)
        .bind(environment_id)
        .bind(at)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    /// Names of the environments an object is published in.
    pub async fn jwk_deployed_environments(
        &self,
        jwk_id: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT e.name FROM jwk_deployments d JOIN environments e ON e.id = d.environment_id \
             WHERE d.jwk_id = ? ORDER BY e.name",
        )
        .bind(jwk_id)
        .fetch_all(&self.pool)
        .await
    }

    /// The public JWKs published in an environment, addressed by project id and
    /// environment id or name; `None` when no such environment exists.
    pub async fn environment_jwks(
        &self,
        project_id: &str,
        env: &str,
    ) -> Result<Option<Vec<String>>, sqlx::Error> {
        let environment: Option<String> = sqlx::query_scalar(
            "SELECT id FROM environments WHERE project_id = ?1 AND (id = ?2 OR name = ?2)",
        )
        .bind(project_id)
        .bind(env)
        .fetch_optional(&self.pool)
        .await?;
        let Some(environment) = environment else {
            return Ok(None);
        };
        let jwks = sqlx::query_scalar(
            "SELECT j.jwk FROM jwk_deployments d JOIN jwk_objects j ON j.id = d.jwk_id \
             WHERE d.environment_id = ? ORDER BY j.name",
        )
        .bind(environment)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(jwks))
    }

    /// The DER of the newest issued certificate of a project with that id or common name.
    pub async fn certificate_der_by_name(
        &self,
        project_id: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT certificate_der FROM certificates WHERE project_id = ?1 \
             AND (id = ?2 OR common_name = ?2) AND certificate_der IS NOT NULL \
             ORDER BY requested_at DESC LIMIT 1",
        )
        .bind(project_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
    }
}

impl WriteTx {
    pub async fn jwk_object_insert(&mut self, row: &JwkObjectRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO jwk_objects (id, organization_id, project_id, name, description, \
             source_type, source, jwk, kid, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&row.id)
        .bind(&row.organization_id)
        .bind(&row.project_id)
        .bind(&row.name)
        .bind(&row.description)
        .bind(&row.source_type)
        .bind(&row.source)
        .bind(&row.jwk)
        .bind(&row.kid)
        .bind(&row.created_at)
        .bind(&row.updated_at)
        .execute(self.conn())
        .await
        .map(|_| ())
    }
}

//! JWT signing key records. The private key column holds only sealed bytes.

use sqlx::FromRow;

use super::{Store, WriteTx};

/// A key's public record: everything but the sealed private key.
#[derive(Debug, Clone, FromRow)]
pub struct JwtKeyRow {
    pub id: String,
    pub organization_id: String,
    pub project_id: String,
    pub name: String,
    pub algorithm: String,
    pub key_size: Option<i64>,
    pub kid: String,
    /// The public JWK, serialized.
    pub public_jwk: String,
    pub public_pem: String,
    pub deprecated_at: Option<String>,
    pub replaced_by: Option<String>,
    pub created_at: String,
}

const COLUMNS: &str = "id, organization_id, project_id, name, algorithm, key_size, kid, \
                       public_jwk, public_pem, deprecated_at, replaced_by, created_at";

impl Store {
    pub async fn jwt_key_insert(&self, row: &JwtKeyRow, sealed: &[u8]) -> Result<(), sqlx::Error> {
        insert(&self.pool, row, sealed).await
    }

    pub async fn jwt_key_get(
        &self,
        organization_id: &str,
        id: &str,
    ) -> Result<Option<JwtKeyRow>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM jwt_keys WHERE organization_id = ? AND id = ?"
        ))
        .bind(organization_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn jwt_key_sealed_private(
        &self,
        organization_id: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT sealed_private FROM jwt_keys WHERE organization_id = ? AND id = ?",
        )
        .bind(organization_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// A project's keys, newest first.
    pub async fn jwt_key_list(&self, project_id: &str) -> Result<Vec<JwtKeyRow>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM jwt_keys WHERE project_id = ? ORDER BY created_at DESC, id"
        ))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await
    }

    /// Every key of every project, for building the JWKS at start-up.
    pub async fn jwt_key_list_all(&self) -> Result<Vec<JwtKeyRow>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM jwt_keys ORDER BY project_id, created_at DESC, id"
        ))
        .fetch_all(&self.pool)
        .await
    }

    pub async fn jwt_key_delete(
        &self,
        organization_id: &str,
        id: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM jwt_keys WHERE organization_id = ? AND id = ?")
            .bind(organization_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether a project with this id exists, in any organization (the JWKS is public).
    pub async fn project_exists(&self, id: &str) -> Result<bool, sqlx::Error> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM projects WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }
}

impl WriteTx {
    /// Inserts `new` and marks `old` deprecated, replaced by `new`. Returns false (and
    /// changes nothing) when `old` is no longer active.
    pub async fn jwt_key_rotate(
        &mut self,
        organization_id: &str,
        old_id: &str,
        new: &JwtKeyRow,
        sealed: &[u8],
        at: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE jwt_keys SET deprecated_at = ?, replaced_by = ?
             WHERE id = ? AND organization_id = ? AND deprecated_at IS NULL",
        )
        .bind(at)
        .bind(&new.id)
        .bind(old_id)
        .bind(organization_id)
        .execute(self.conn())
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        insert(self.conn(), new, sealed).await?;
        Ok(true)
    }
}

async fn insert<'e, E>(executor: E, row: &JwtKeyRow, sealed: &[u8]) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    sqlx::query(
        "INSERT INTO jwt_keys (id, organization_id, project_id, name, algorithm, key_size, kid,
                               public_jwk, public_pem, sealed_private, deprecated_at,
                               replaced_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&row.id)
    .bind(&row.organization_id)
    .bind(&row.project_id)
    .bind(&row.name)
    .bind(&row.algorithm)
    .bind(row.key_size)
    .bind(&row.kid)
    .bind(&row.public_jwk)
    .bind(&row.public_pem)
    .bind(sealed)
    .bind(&row.deprecated_at)
    .bind(&row.replaced_by)
    .bind(&row.created_at)
    .execute(executor)
    .await
    .map(|_| ())
}

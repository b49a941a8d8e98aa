//! Named key material per project and environment: uploaded keys and keystores.
//! Secret columns hold only sealed bytes.

use sqlx::FromRow;

use super::Store;

#[derive(Debug, Clone, FromRow)]
pub struct StoredKeyRow {
    pub id: String,
    pub organization_id: String,
    pub project_id: String,
    pub environment_id: String,
    pub name: String,
    pub description: Option<String>,
    pub key_type: String,
    pub encoding: String,
    pub public_pem: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct KeystoreRow {
    pub id: String,
    pub organization_id: String,
    pub project_id: String,
    pub environment_id: String,
    pub name: String,
    pub description: Option<String>,
    pub format: String,
    pub size_bytes: i64,
    /// The entries' aliases, a JSON array.
    pub aliases: String,
    pub created_at: String,
}

const KEY_COLUMNS: &str = "id, organization_id, project_id, environment_id, name, description, \
                           key_type, encoding, public_pem, created_at";
const KEYSTORE_COLUMNS: &str = "id, organization_id, project_id, environment_id, name, \
                                description, format, size_bytes, aliases, created_at";

impl Store {
    pub async fn stored_key_insert(
        &self,
        row: &StoredKeyRow,
        sealed_pem: Option<&[u8]>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO stored_keys (id, organization_id, project_id, environment_id, name,
                                      description, key_type, encoding, public_pem, sealed_pem,
                                      created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&row.id)
        .bind(&row.organization_id)
        .bind(&row.project_id)
        .bind(&row.environment_id)
        .bind(&row.name)
        .bind(&row.description)
        .bind(&row.key_type)
        .bind(&row.encoding)
        .bind(&row.public_pem)
        .bind(sealed_pem)
        .bind(&row.created_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    pub async fn stored_key_list(
        &self,
        environment_id: &str,
    ) -> Result<Vec<StoredKeyRow>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {KEY_COLUMNS} FROM stored_keys WHERE environment_id = ? ORDER BY name"
        ))
        .bind(environment_id)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn stored_key_get(
        &self,
        environment_id: &str,
        name: &str,
    ) -> Result<Option<StoredKeyRow>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {KEY_COLUMNS} FROM stored_keys WHERE environment_id = ? AND name = ?"
        ))
        .bind(environment_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn stored_key_sealed(&self, id: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
        sqlx::query_scalar("SELECT sealed_pem FROM stored_keys WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map(Option::flatten)
    }

    pub async fn stored_key_delete(
        &self,
        environment_id: &str,
        id: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM stored_keys WHERE environment_id = ? AND id = ?")
            .bind(environment_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn keystore_insert(
        &self,
        row: &KeystoreRow,
        sealed_content: &[u8],
        sealed_password: &[u8],
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO keystores (id, organization_id, project_id, environment_id, name,
                                    description, format, size_bytes, aliases, sealed_content,
                                    sealed_password, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&row.id)
        .bind(&row.organization_id)
        .bind(&row.project_id)
        .bind(&row.environment_id)
        .bind(&row.name)
        .bind(&row.description)
        .bind(&row.format)
        .bind(row.size_bytes)
        .bind(&row.aliases)
        .bind(sealed_content)
        .bind(sealed_password)
        .bind(&row.created_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    pub async fn keystore_list(
        &self,
        environment_id: &str,
    ) -> Result<Vec<KeystoreRow>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {KEYSTORE_COLUMNS} FROM keystores WHERE environment_id = ? ORDER BY name"
        ))
        .bind(environment_id)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn keystore_get(
        &self,
        environment_id: &str,
        name: &str,
    ) -> Result<Option<KeystoreRow>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {KEYSTORE_COLUMNS} FROM keystores WHERE environment_id = ? AND name = ?"
        ))
        .bind(environment_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
    }

    /// The sealed keystore bytes and password.
    pub async fn keystore_sealed(
        &self,
        id: &str,
    ) -> Result<Option<(Vec<u8>, Vec<u8>)>, sqlx::Error> {
        sqlx::query_as("SELECT sealed_content, sealed_password FROM keystores WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn keystore_delete(
        &self,
        environment_id: &str,
        id: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM keystores WHERE environment_id = ? AND id = ?")
            .bind(environment_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

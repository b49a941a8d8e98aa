//! Named key material per project and environment: uploaded keys and keystores.
//! Secret columns hold only sealed bytes.

use sqlx::FromRow;

use super::codec::{int, int_text, json, json_text, name, time};
use super::{Store, StoreError};
use crate::model::key_material::{KeyEncoding, KeyType, KeystoreFormat};
use crate::model::{StoredKey, StoredKeystore};
use crate::timestamp;

#[derive(FromRow)]
struct StoredKeyRow {
    id: String,
    organization_id: String,
    project_id: String,
    environment_id: String,
    name: String,
    description: Option<String>,
    key_type: String,
    encoding: String,
    public_pem: Option<String>,
    created_at: String,
}

impl StoredKeyRow {
    fn into_model(self) -> Result<StoredKey, StoreError> {
        Ok(StoredKey {
            key_type: name("stored_keys.key_type", &self.key_type, KeyType::parse)?,
            encoding: name("stored_keys.encoding", &self.encoding, KeyEncoding::parse)?,
            created_at: time("stored_keys.created_at", &self.created_at)?,
            id: self.id,
            organization_id: self.organization_id,
            project_id: self.project_id,
            environment_id: self.environment_id,
            name: self.name,
            description: self.description,
            public_pem: self.public_pem,
        })
    }
}

#[derive(FromRow)]
struct KeystoreRow {
    id: String,
    organization_id: String,
    project_id: String,
    environment_id: String,
    name: String,
    description: Option<String>,
    format: String,
    size_bytes: i64,
    /// The entries' aliases, a JSON array.
    aliases: String,
    created_at: String,
}

impl KeystoreRow {
    fn into_model(self) -> Result<StoredKeystore, StoreError> {
        Ok(StoredKeystore {
            format: name("keystores.format", &self.format, KeystoreFormat::parse)?,
            size_bytes: int("keystores.size_bytes", self.size_bytes)?,
            aliases: json("keystores.aliases", &self.aliases)?,
            created_at: time("keystores.created_at", &self.created_at)?,
            id: self.id,
            organization_id: self.organization_id,
            project_id: self.project_id,
            environment_id: self.environment_id,
            name: self.name,
            description: self.description,
        })
    }
}

const KEY_COLUMNS: &str = "id, organization_id, project_id, environment_id, name, description, \
                           key_type, encoding, public_pem, created_at";
const KEYSTORE_COLUMNS: &str = "id, organization_id, project_id, environment_id, name, \
                                description, format, size_bytes, aliases, created_at";

impl Store {
    pub async fn stored_key_insert(
        &self,
        key: &StoredKey,
        sealed_pem: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO stored_keys (id, organization_id, project_id, environment_id, name,
                                      description, key_type, encoding, public_pem, sealed_pem,
                                      created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&key.id)
        .bind(&key.organization_id)
        .bind(&key.project_id)
        .bind(&key.environment_id)
        .bind(&key.name)
        .bind(&key.description)
        .bind(key.key_type.as_str())
        .bind(key.encoding.as_str())
        .bind(&key.public_pem)
        .bind(sealed_pem)
        .bind(timestamp::format(key.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn stored_key_list(
        &self,
        environment_id: &str,
    ) -> Result<Vec<StoredKey>, StoreError> {
        let rows: Vec<StoredKeyRow> = sqlx::query_as(&format!(
            "SELECT {KEY_COLUMNS} FROM stored_keys WHERE environment_id = ? ORDER BY name"
        ))
        .bind(environment_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(StoredKeyRow::into_model).collect()
    }

    pub async fn stored_key_get(
        &self,
        environment_id: &str,
        name: &str,
    ) -> Result<Option<StoredKey>, StoreError> {
        let row: Option<StoredKeyRow> = sqlx::query_as(&format!(
            "SELECT {KEY_COLUMNS} FROM stored_keys WHERE environment_id = ? AND name = ?"
        ))
        .bind(environment_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(StoredKeyRow::into_model).transpose()
    }

    pub async fn stored_key_sealed(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let sealed: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT sealed_pem FROM stored_keys WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(sealed.flatten())
    }

    pub async fn stored_key_delete(
        &self,
        environment_id: &str,
        id: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM stored_keys WHERE environment_id = ? AND id = ?")
            .bind(environment_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn keystore_insert(
        &self,
        keystore: &StoredKeystore,
        sealed_content: &[u8],
        sealed_password: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO keystores (id, organization_id, project_id, environment_id, name,
                                    description, format, size_bytes, aliases, sealed_content,
                                    sealed_password, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&keystore.id)
        .bind(&keystore.organization_id)
        .bind(&keystore.project_id)
        .bind(&keystore.environment_id)
        .bind(&keystore.name)
        .bind(&keystore.description)
        .bind(keystore.format.as_str())
        .bind(int_text(keystore.size_bytes))
        .bind(json_text(&keystore.aliases)?)
        .bind(sealed_content)
        .bind(sealed_password)
        .bind(timestamp::format(keystore.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn keystore_list(
        &self,
        environment_id: &str,
    ) -> Result<Vec<StoredKeystore>, StoreError> {
        let rows: Vec<KeystoreRow> = sqlx::query_as(&format!(
            "SELECT {KEYSTORE_COLUMNS} FROM keystores WHERE environment_id = ? ORDER BY name"
        ))
        .bind(environment_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(KeystoreRow::into_model).collect()
    }

    pub async fn keystore_get(
        &self,
        environment_id: &str,
        name: &str,
    ) -> Result<Option<StoredKeystore>, StoreError> {
        let row: Option<KeystoreRow> = sqlx::query_as(&format!(
            "SELECT {KEYSTORE_COLUMNS} FROM keystores WHERE environment_id = ? AND name = ?"
        ))
        .bind(environment_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(KeystoreRow::into_model).transpose()
    }

    /// The sealed keystore bytes and password.
    pub async fn keystore_sealed(
        &self,
        id: &str,
    ) -> Result<Option<(Vec<u8>, Vec<u8>)>, StoreError> {
        let sealed =
            sqlx::query_as("SELECT sealed_content, sealed_password FROM keystores WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(sealed)
    }

    pub async fn keystore_delete(
        &self,
        environment_id: &str,
        id: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM keystores WHERE environment_id = ? AND id = ?")
            .bind(environment_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

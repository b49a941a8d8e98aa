//! Named key material per project and environment: uploaded keys and keystores.
//! Secret columns hold only sealed bytes.

use rusqlite::params;
use sqlx::FromRow;
use sqlx::sqlite::SqliteRow;

use super::codec::{int, int_text, json, json_text, name, time};
use super::{Store, StoreError, Tx};
use crate::model::key_material::{
    KeyEncoding, KeyType, KeystoreFile, KeystoreFormat, PemKey, Stored,
};
use crate::model::{StoredKey, StoredKeystore};
use crate::timestamp;

/// The columns every kind of key material has.
#[derive(FromRow)]
struct StoredRow {
    id: String,
    organization_id: String,
    project_id: String,
    environment_id: String,
    name: String,
    description: Option<String>,
    created_at: String,
}

/// How one kind of key material is kept: its table and its own columns.
trait Table: Sized {
    const TABLE: &'static str;
    /// Every column read back, in `SELECT` order.
    const COLUMNS: &'static str;
    const CREATED_AT: &'static str;

    fn read(row: &SqliteRow) -> Result<Self, StoreError>;

    fn read_stored(row: &SqliteRow) -> Result<Stored<Self>, StoreError> {
        let material = Self::read(row)?;
        let row = StoredRow::from_row(row)?;
        Ok(Stored {
            created_at: time(Self::CREATED_AT, &row.created_at)?,
            id: row.id,
            organization_id: row.organization_id,
            project_id: row.project_id,
            environment_id: row.environment_id,
            name: row.name,
            description: row.description,
            material,
        })
    }
}

#[derive(FromRow)]
struct PemKeyRow {
    key_type: String,
    encoding: String,
    public_pem: Option<String>,
}

impl Table for PemKey {
    const TABLE: &'static str = "stored_keys";
    const COLUMNS: &'static str = "id, organization_id, project_id, environment_id, name, \
                                   description, key_type, encoding, public_pem, created_at";
    const CREATED_AT: &'static str = "stored_keys.created_at";

    fn read(row: &SqliteRow) -> Result<Self, StoreError> {
        let row = PemKeyRow::from_row(row)?;
        Ok(PemKey {
            key_type: name("stored_keys.key_type", &row.key_type, KeyType::parse)?,
            encoding: name("stored_keys.encoding", &row.encoding, KeyEncoding::parse)?,
            public_pem: row.public_pem,
        })
    }
}

#[derive(FromRow)]
struct KeystoreFileRow {
    format: String,
    size_bytes: i64,
    /// The entries' aliases, a JSON array.
    aliases: String,
}

impl Table for KeystoreFile {
    const TABLE: &'static str = "keystores";
    const COLUMNS: &'static str = "id, organization_id, project_id, environment_id, name, \
                                   description, format, size_bytes, aliases, created_at";
    const CREATED_AT: &'static str = "keystores.created_at";

    fn read(row: &SqliteRow) -> Result<Self, StoreError> {
        let row = KeystoreFileRow::from_row(row)?;
        Ok(KeystoreFile {
            format: name("keystores.format", &row.format, KeystoreFormat::parse)?,
            size_bytes: int("keystores.size_bytes", row.size_bytes)?,
            aliases: json("keystores.aliases", &row.aliases)?,
        })
    }
}

impl Store {
    /// An environment's material of one kind, by name.
    async fn material_list<T: Table>(
        &self,
        environment_id: &str,
    ) -> Result<Vec<Stored<T>>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM {} WHERE environment_id = ? ORDER BY name",
            T::COLUMNS,
            T::TABLE
        ))
        .bind(environment_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(T::read_stored).collect()
    }

    async fn material_get<T: Table>(
        &self,
        environment_id: &str,
        name: &str,
    ) -> Result<Option<Stored<T>>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM {} WHERE environment_id = ? AND name = ?",
            T::COLUMNS,
            T::TABLE
        ))
        .bind(environment_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(T::read_stored).transpose()
    }

    pub async fn stored_key_insert(
        &self,
        key: StoredKey,
        sealed_pem: Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.stored_key_insert(&key, sealed_pem.as_deref()))
            .await
    }

    pub async fn stored_key_list(
        &self,
        environment_id: &str,
    ) -> Result<Vec<StoredKey>, StoreError> {
        self.material_list(environment_id).await
    }

    pub async fn stored_key_get(
        &self,
        environment_id: &str,
        name: &str,
    ) -> Result<Option<StoredKey>, StoreError> {
        self.material_get(environment_id, name).await
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
        let (environment_id, id) = (environment_id.to_owned(), id.to_owned());
        self.transaction(move |tx| tx.stored_key_delete(&environment_id, &id))
            .await
    }

    pub async fn keystore_insert(
        &self,
        keystore: StoredKeystore,
        sealed_content: Vec<u8>,
        sealed_password: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.keystore_insert(&keystore, &sealed_content, &sealed_password))
            .await
    }

    pub async fn keystore_list(
        &self,
        environment_id: &str,
    ) -> Result<Vec<StoredKeystore>, StoreError> {
        self.material_list(environment_id).await
    }

    pub async fn keystore_get(
        &self,
        environment_id: &str,
        name: &str,
    ) -> Result<Option<StoredKeystore>, StoreError> {
        self.material_get(environment_id, name).await
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
        let (environment_id, id) = (environment_id.to_owned(), id.to_owned());
        self.transaction(move |tx| tx.keystore_delete(&environment_id, &id))
            .await
    }
}

impl Tx<'_> {
    pub fn stored_key_insert(
        &mut self,
        key: &StoredKey,
        sealed_pem: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO stored_keys (id, organization_id, project_id, environment_id, name,
                                      description, key_type, encoding, public_pem, sealed_pem,
                                      created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                key.id,
                key.organization_id,
                key.project_id,
                key.environment_id,
                key.name,
                key.description,
                key.material.key_type.as_str(),
                key.material.encoding.as_str(),
                key.material.public_pem,
                sealed_pem,
                timestamp::format(key.created_at),
            ],
        )?;
        Ok(())
    }

    pub fn stored_key_delete(
        &mut self,
        environment_id: &str,
        id: &str,
    ) -> Result<bool, StoreError> {
        self.material_delete::<PemKey>(environment_id, id)
    }

    pub fn keystore_insert(
        &mut self,
        keystore: &StoredKeystore,
        sealed_content: &[u8],
        sealed_password: &[u8],
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO keystores (id, organization_id, project_id, environment_id, name,
                                    description, format, size_bytes, aliases, sealed_content,
                                    sealed_password, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                keystore.id,
                keystore.organization_id,
                keystore.project_id,
                keystore.environment_id,
                keystore.name,
                keystore.description,
                keystore.material.format.as_str(),
                int_text(keystore.material.size_bytes),
                json_text(&keystore.material.aliases)?,
                sealed_content,
                sealed_password,
                timestamp::format(keystore.created_at),
            ],
        )?;
        Ok(())
    }

    pub fn keystore_delete(&mut self, environment_id: &str, id: &str) -> Result<bool, StoreError> {
        self.material_delete::<KeystoreFile>(environment_id, id)
    }

    fn material_delete<T: Table>(
        &mut self,
        environment_id: &str,
        id: &str,
    ) -> Result<bool, StoreError> {
        let done = self.execute(
            &format!(
                "DELETE FROM {} WHERE environment_id = ? AND id = ?",
                T::TABLE
            ),
            params![environment_id, id],
        )?;
        Ok(done == 1)
    }
}

//! JWT signing key records. The private key column holds only sealed bytes.

use rusqlite::params;
use sqlx::FromRow;
use time::OffsetDateTime;

use super::codec::{int, int_text, name, optional_time, optional_time_text, time};
use super::{Scope, Store, StoreError, Tx};
use crate::model::JwtKey;
use crate::model::jwt_key::Algorithm;
use crate::timestamp;

/// A key's public record: everything but the sealed private key.
#[derive(FromRow)]
struct JwtKeyRow {
    id: String,
    organization_id: String,
    project_id: String,
    name: String,
    algorithm: String,
    key_size: Option<i64>,
    kid: String,
    public_jwk: String,
    public_pem: String,
    deprecated_at: Option<String>,
    replaced_by: Option<String>,
    created_at: String,
}

impl JwtKeyRow {
    fn into_model(self) -> Result<JwtKey, StoreError> {
        Ok(JwtKey {
            algorithm: name("jwt_keys.algorithm", &self.algorithm, Algorithm::parse)?,
            key_size: self
                .key_size
                .map(|bits| int("jwt_keys.key_size", bits))
                .transpose()?,
            deprecated_at: optional_time("jwt_keys.deprecated_at", self.deprecated_at.as_deref())?,
            created_at: time("jwt_keys.created_at", &self.created_at)?,
            id: self.id,
            organization_id: self.organization_id,
            project_id: self.project_id,
            name: self.name,
            kid: self.kid,
            public_jwk: self.public_jwk,
            public_pem: self.public_pem,
            replaced_by: self.replaced_by,
        })
    }
}

const COLUMNS: &str = "id, organization_id, project_id, name, algorithm, key_size, kid, \
                       public_jwk, public_pem, deprecated_at, replaced_by, created_at";

/// The keys a scope contains: `?1` is its organization, `?2` its project (or NULL).
const IN_SCOPE: &str = "organization_id = ?1 AND (?2 IS NULL OR project_id = ?2)";

fn into_models(rows: Vec<JwtKeyRow>) -> Result<Vec<JwtKey>, StoreError> {
    rows.into_iter().map(JwtKeyRow::into_model).collect()
}

impl Store {
    pub async fn jwt_key_insert(&self, key: JwtKey, sealed: Vec<u8>) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.jwt_key_insert(&key, &sealed))
            .await
    }

    pub async fn jwt_key_get(
        &self,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<Option<JwtKey>, StoreError> {
        let row: Option<JwtKeyRow> = scope
            .query_as(
                &format!("SELECT {COLUMNS} FROM jwt_keys WHERE {IN_SCOPE} AND id = ?3"),
                id,
            )
            .fetch_optional(&self.pool)
            .await?;
        row.map(JwtKeyRow::into_model).transpose()
    }

    pub async fn jwt_key_sealed_private(
        &self,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let sealed: Option<(Vec<u8>,)> = scope
            .query_as(
                &format!("SELECT sealed_private FROM jwt_keys WHERE {IN_SCOPE} AND id = ?3"),
                id,
            )
            .fetch_optional(&self.pool)
            .await?;
        Ok(sealed.map(|(sealed,)| sealed))
    }

    /// A project's keys, newest first.
    pub async fn jwt_key_list(&self, project_id: &str) -> Result<Vec<JwtKey>, StoreError> {
        let rows = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM jwt_keys WHERE project_id = ? ORDER BY created_at DESC, id"
        ))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        into_models(rows)
    }

    /// Every key of every project, for building the JWKS at start-up.
    pub async fn jwt_key_list_all(&self) -> Result<Vec<JwtKey>, StoreError> {
        let rows = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM jwt_keys ORDER BY project_id, created_at DESC, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        into_models(rows)
    }

    pub async fn jwt_key_delete(&self, scope: Scope<'_>, id: &str) -> Result<bool, StoreError> {
        let (scope, id) = (scope.to_owned_scope(), id.to_owned());
        self.transaction(move |tx| tx.jwt_key_delete(scope.scope(), &id))
            .await
    }

    /// Whether a project with this id exists, in any organization (the JWKS is public).
    pub async fn project_exists(&self, id: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM projects WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }
}

impl Tx<'_> {
    pub fn jwt_key_insert(&mut self, key: &JwtKey, sealed: &[u8]) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO jwt_keys (id, organization_id, project_id, name, algorithm, key_size, kid,
                                   public_jwk, public_pem, sealed_private, deprecated_at,
                                   replaced_by, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                key.id,
                key.organization_id,
                key.project_id,
                key.name,
                key.algorithm.name(),
                key.key_size.map(int_text),
                key.kid,
                key.public_jwk,
                key.public_pem,
                sealed,
                optional_time_text(key.deprecated_at),
                key.replaced_by,
                timestamp::format(key.created_at),
            ],
        )?;
        Ok(())
    }

    /// Inserts `new` and marks `old_id` deprecated at `at`, replaced by `new`. Returns
    /// false (and changes nothing) when `old_id` is not an active key of the scope.
    pub fn jwt_key_rotate(
        &mut self,
        scope: Scope<'_>,
        old_id: &str,
        new: &JwtKey,
        sealed: &[u8],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = self.execute(
            &format!(
                "UPDATE jwt_keys SET deprecated_at = ?3, replaced_by = ?4
                 WHERE {IN_SCOPE} AND id = ?5 AND deprecated_at IS NULL"
            ),
            params![
                scope.organization_id(),
                scope.project_id(),
                timestamp::format(at),
                new.id,
                old_id,
            ],
        )?;
        if done != 1 {
            return Ok(false);
        }
        self.jwt_key_insert(new, sealed)?;
        Ok(true)
    }

    pub fn jwt_key_delete(&mut self, scope: Scope<'_>, id: &str) -> Result<bool, StoreError> {
        let done = self.execute(
            &format!("DELETE FROM jwt_keys WHERE {IN_SCOPE} AND id = ?3"),
            params![scope.organization_id(), scope.project_id(), id],
        )?;
        Ok(done == 1)
    }
}

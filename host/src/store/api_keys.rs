//! API key records. The secret itself is never stored, only its keyed hash.

use rusqlite::params;
use sqlx::FromRow;
use time::OffsetDateTime;

use super::cache::Changed;
use super::codec::{json, json_text, optional_time, optional_time_text, time};
use super::{Scope, Store, StoreError, Tx};
use crate::model::ApiKey;
use crate::timestamp;

#[derive(FromRow)]
struct ApiKeyRow {
    public_key: String,
    organization_id: String,
    project_id: Option<String>,
    alias: Option<String>,
    /// JSON array of addresses and CIDRs.
    ips: String,
    role: Option<String>,
    /// JSON array of permission names.
    permissions: String,
    platform_admin: bool,
    created_at: String,
    expires_at: Option<String>,
    revoked_at: Option<String>,
}

impl ApiKeyRow {
    fn into_model(self) -> Result<ApiKey, StoreError> {
        Ok(ApiKey {
            ips: json("api_keys.ips", &self.ips)?,
            permissions: json("api_keys.permissions", &self.permissions)?,
            created_at: time("api_keys.created_at", &self.created_at)?,
            expires_at: optional_time("api_keys.expires_at", self.expires_at.as_deref())?,
            revoked_at: optional_time("api_keys.revoked_at", self.revoked_at.as_deref())?,
            public_key: self.public_key,
            organization_id: self.organization_id,
            project_id: self.project_id,
            alias: self.alias,
            role: self.role,
            platform_admin: self.platform_admin,
        })
    }
}

const COLUMNS: &str = "public_key, organization_id, project_id, alias, ips, role, permissions, \
                       platform_admin, created_at, expires_at, revoked_at";

/// The keys a scope contains: `?1` is its organization, `?2` its project (or NULL). A
/// project-scoped caller sees only its project's keys, not the organization's.
const IN_SCOPE: &str = "organization_id = ?1 AND (?2 IS NULL OR project_id = ?2)";

impl Store {
    pub async fn api_key_count(&self) -> Result<i64, StoreError> {
        let count = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys")
            .fetch_one(&self.pool)
            .await?;
        Ok(count)
    }

    pub async fn api_key_insert(
        &self,
        key: ApiKey,
        secret_hash: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.transaction(move |tx| tx.api_key_insert(&key, &secret_hash))
            .await
    }

    pub async fn api_key_by_hash(&self, hash: &[u8]) -> Result<Option<ApiKey>, StoreError> {
        self.caches
            .api_keys
            .get_or_load(hash.to_vec(), || self.api_key_by_hash_uncached(hash))
            .await
    }

    async fn api_key_by_hash_uncached(&self, hash: &[u8]) -> Result<Option<ApiKey>, StoreError> {
        let row: Option<ApiKeyRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE secret_hash = ?"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(ApiKeyRow::into_model).transpose()
    }

    /// A key by its public identifier, whatever its tenant: for authentication.
    pub async fn api_key_by_public_key(
        &self,
        public_key: &str,
    ) -> Result<Option<ApiKey>, StoreError> {
        let row: Option<ApiKeyRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE public_key = ?"
        ))
        .bind(public_key)
        .fetch_optional(&self.pool)
        .await?;
        row.map(ApiKeyRow::into_model).transpose()
    }

    /// An unrevoked key of a scope.
    pub async fn api_key_get(
        &self,
        scope: Scope<'_>,
        public_key: &str,
    ) -> Result<Option<ApiKey>, StoreError> {
        let row: Option<ApiKeyRow> = scope
            .query_as(
                &format!(
                    "SELECT {COLUMNS} FROM api_keys
             WHERE {IN_SCOPE} AND public_key = ?3 AND revoked_at IS NULL"
                ),
                public_key,
            )
            .fetch_optional(&self.pool)
            .await?;
        row.map(ApiKeyRow::into_model).transpose()
    }

    /// Unrevoked keys of a scope, oldest first.
    pub async fn api_key_list(
        &self,
        scope: Scope<'_>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<ApiKey>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM api_keys WHERE {IN_SCOPE} AND revoked_at IS NULL
             ORDER BY created_at, public_key LIMIT ?3 OFFSET ?4"
        );
        let rows: Vec<ApiKeyRow> = self.page_in_scope(&sql, scope, offset, limit).await?;
        rows.into_iter().map(ApiKeyRow::into_model).collect()
    }

    /// Writes the alias, the addresses and the expiry back.
    pub async fn api_key_update(&self, key: ApiKey) -> Result<bool, StoreError> {
        self.transaction(move |tx| tx.api_key_update(&key)).await
    }

    pub async fn api_key_revoke(
        &self,
        scope: Scope<'_>,
        public_key: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (scope, public_key) = (scope.to_owned_scope(), public_key.to_owned());
        self.transaction(move |tx| tx.api_key_revoke(scope.scope(), &public_key, at))
            .await
    }
}

impl Tx<'_> {
    pub fn api_key_insert(&mut self, key: &ApiKey, secret_hash: &[u8]) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO api_keys (public_key, organization_id, project_id, secret_hash, alias, ips,
                                   role, permissions, platform_admin, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                key.public_key,
                key.organization_id,
                key.project_id,
                secret_hash,
                key.alias,
                json_text(&key.ips)?,
                key.role,
                json_text(&key.permissions)?,
                key.platform_admin,
                timestamp::format(key.created_at),
                optional_time_text(key.expires_at),
            ],
        )?;
        self.change(Changed::API_KEYS);
        Ok(())
    }

    /// Writes the alias, the addresses and the expiry back.
    pub fn api_key_update(&mut self, key: &ApiKey) -> Result<bool, StoreError> {
        let done = self.execute(
            "UPDATE api_keys SET alias = ?, ips = ?, expires_at = ?
             WHERE public_key = ? AND organization_id = ? AND revoked_at IS NULL",
            params![
                key.alias,
                json_text(&key.ips)?,
                optional_time_text(key.expires_at),
                key.public_key,
                key.organization_id,
            ],
        )?;
        self.change(Changed::API_KEYS);
        Ok(done == 1)
    }

    pub fn api_key_revoke(
        &mut self,
        scope: Scope<'_>,
        public_key: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = self.execute(
            &format!(
                "UPDATE api_keys SET revoked_at = ?3
                 WHERE {IN_SCOPE} AND public_key = ?4 AND revoked_at IS NULL"
            ),
            params![
                scope.organization_id(),
                scope.project_id(),
                timestamp::format(at),
                public_key,
            ],
        )?;
        self.change(Changed::API_KEYS);
        Ok(done == 1)
    }
}

//! API key records. The secret itself is never stored, only its keyed hash.

use sqlx::FromRow;

use super::Store;

#[derive(Debug, Clone, FromRow)]
pub struct ApiKeyRow {
    pub public_key: String,
    pub organization_id: String,
    pub project_id: Option<String>,
    pub alias: Option<String>,
    /// JSON array of addresses and CIDRs.
    pub ips: String,
    pub role: Option<String>,
    /// JSON array of permission names.
    pub permissions: String,
    pub platform_admin: bool,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

pub struct NewApiKey<'a> {
    pub row: &'a ApiKeyRow,
    pub secret_hash: &'a [u8],
}

impl Store {
    pub async fn api_key_count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM api_keys")
            .fetch_one(&self.pool)
            .await
    }

    pub async fn api_key_insert(&self, key: NewApiKey<'_>) -> Result<(), sqlx::Error> {
        let row = key.row;
        sqlx::query(
            "INSERT INTO api_keys (public_key, organization_id, project_id, secret_hash, alias, ips,
                                   role, permissions, platform_admin, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&row.public_key)
        .bind(&row.organization_id)
        .bind(&row.project_id)
        .bind(key.secret_hash)
        .bind(&row.alias)
        .bind(&row.ips)
        .bind(&row.role)
        .bind(&row.permissions)
        .bind(row.platform_admin)
        .bind(&row.created_at)
        .bind(&row.expires_at)
        .execute(&self.pool)
        .await?;
        self.caches.api_keys.invalidate();
        Ok(())
    }

    pub async fn api_key_by_hash(&self, hash: &[u8]) -> Result<Option<ApiKeyRow>, sqlx::Error> {
        self.caches
            .api_keys
            .get_or_load(hash.to_vec(), || self.api_key_by_hash_uncached(hash))
            .await
    }

    async fn api_key_by_hash_uncached(
        &self,
        hash: &[u8],
    ) -> Result<Option<ApiKeyRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT public_key, organization_id, project_id, alias, ips, role, permissions,
                    platform_admin, created_at, expires_at, revoked_at
             FROM api_keys WHERE secret_hash = ?",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn api_key_get(&self, public_key: &str) -> Result<Option<ApiKeyRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT public_key, organization_id, project_id, alias, ips, role, permissions,
                    platform_admin, created_at, expires_at, revoked_at
             FROM api_keys WHERE public_key = ?",
        )
        .bind(public_key)
        .fetch_optional(&self.pool)
        .await
    }

    /// Unrevoked keys of an organization, oldest first.
    pub async fn api_key_list(
        &self,
        organization_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT public_key, organization_id, project_id, alias, ips, role, permissions,
                    platform_admin, created_at, expires_at, revoked_at
             FROM api_keys WHERE organization_id = ? AND revoked_at IS NULL
             ORDER BY created_at, public_key LIMIT ? OFFSET ?",
        )
        .bind(organization_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn api_key_update(&self, row: &ApiKeyRow) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE api_keys SET alias = ?, ips = ?, expires_at = ?
             WHERE public_key = ? AND organization_id = ? AND revoked_at IS NULL",
        )
        .bind(&row.alias)
        .bind(&row.ips)
        .bind(&row.expires_at)
        .bind(&row.public_key)
        .bind(&row.organization_id)
        .execute(&self.pool)
        .await?;
        self.caches.api_keys.invalidate();
        Ok(done.rows_affected() == 1)
    }

    pub async fn api_key_revoke(
        &self,
        organization_id: &str,
        public_key: &str,
        at: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = ?
             WHERE public_key = ? AND organization_id = ? AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(public_key)
        .bind(organization_id)
        .execute(&self.pool)
        .await?;
        self.caches.api_keys.invalidate();
        Ok(done.rows_affected() == 1)
    }
}

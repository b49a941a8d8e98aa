//! Platform metadata rows.

use super::{Store, StoreError, Tx};

impl Store {
    pub async fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let value = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value)
    }

    /// Inserts `value` unless `key` exists; returns whether it was inserted.
    pub async fn meta_insert(&self, key: &str, value: Vec<u8>) -> Result<bool, StoreError> {
        let key = key.to_owned();
        self.transaction(move |tx| tx.meta_insert(&key, &value))
            .await
    }
}

impl Tx<'_> {
    /// Inserts `value` unless `key` exists; returns whether it was inserted.
    pub fn meta_insert(&mut self, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        let done = self.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
            rusqlite::params![key, value],
        )?;
        Ok(done == 1)
    }
}

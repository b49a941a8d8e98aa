//! Storage: repositories over SQLite and the embedded migrations. Reads go through a
//! sqlx pool; writes are units of work of the group-commit writer ([`Tx`]).
//! No business rules live here; callers pass the tenant every query is scoped by.

mod api_keys;
mod audit;
mod cache;
mod codec;
mod jwk_objects;
mod jwt_keys;
mod key_material;
mod meta;
mod pki;
mod rotation;
mod scope;
mod tenancy;
mod tx;
mod webhooks;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio::sync::Notify;

pub use scope::Scope;
pub use tx::Tx;

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open database {url}: {source}")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot migrate database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot start the database writer: {0}")]
    Writer(String),
    #[error(
        "an in-memory SQLite database cannot be used: give a file (sqlite:///path/keystead.db)"
    )]
    InMemory,
}

/// What a repository call can fail with. Callers give `Conflict` and `NotFound`
/// their meaning; `Backend` is a fault of the database itself.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key (a name, a fingerprint, ...) is taken.
    #[error("a record with the same unique key exists")]
    Conflict,
    #[error("no such record")]
    NotFound,
    #[error("database error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub(crate) fn backend(cause: &str) -> Self {
        Self::Backend(cause.into())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict,
            sqlx::Error::RowNotFound => Self::NotFound,
            other => Self::Backend(Box::new(other)),
        }
    }
}

#[derive(Clone)]
pub struct Store {
    /// Reads only: every write is a unit of the writer.
    pool: SqlitePool,
    /// Woken when a commit has queued webhook deliveries.
    outbox: Arc<Notify>,
    /// Commits units of work in groups (see [`writer`]).
    writer: writer::Writer,
    caches: Arc<cache::Caches>,
}

impl Store {
    /// Opens (creating when absent) the SQLite database in WAL mode and applies migrations.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        let open_err = |source| OpenError::Open {
            url: url.to_owned(),
            source,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(open_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .pragma("wal_autocheckpoint", writer::WAL_RESTART_PAGES.to_string())
            .busy_timeout(Duration::from_secs(5));
        // The writer opens the same file on a connection of its own: an in-memory
        // database would be a different one there.
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(OpenError::InMemory);
        }
        // Migrations are the one write outside the writer, before it starts.
        let mut migrating = SqliteConnection::connect_with(&options)
            .await
            .map_err(open_err)?;
        sqlx::migrate!("./migrations").run(&mut migrating).await?;
        migrating.close().await.map_err(open_err)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone().pragma("query_only", "ON"))
            .await
            .map_err(open_err)?;
        let outbox = Arc::new(Notify::new());
        let caches = Arc::new(cache::Caches::new());
        let writer = writer::Writer::start(options.get_filename(), outbox.clone(), caches.clone())
            .map_err(|err| OpenError::Writer(err.to_string()))?;
        Ok(Self {
            pool,
            outbox,
            writer,
            caches,
        })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Runs `work` as one unit of a group commit: its statements commit together, with
    /// the other units queued meanwhile, and this answers once they are on disk. A unit
    /// that fails is rolled back alone. This is the only way to write.
    pub async fn transaction<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
    {
        self.writer.write(work).await
    }

    /// Notified after each commit that queued webhook deliveries.
    pub fn outbox_signal(&self) -> Arc<Notify> {
        self.outbox.clone()
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_in_memory_database_is_refused_with_a_clear_reason() {
        let refused = Store::open("sqlite::memory:").await;
        assert!(matches!(refused, Err(OpenError::InMemory)));
    }

    #[tokio::test]
    async fn only_the_writer_writes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        let refused = sqlx::query("INSERT INTO meta (key, value) VALUES ('k', x'00')")
            .execute(store.pool())
            .await;
        assert!(refused.is_err(), "the read pool wrote");
        assert!(store.meta_insert("k", vec![0]).await.unwrap());
        assert_eq!(store.meta_get("k").await.unwrap(), Some(vec![0]));
    }
}

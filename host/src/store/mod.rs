//! Storage: sqlx repositories over SQLite and the embedded migrations.
//! No business rules live here; callers pass the tenant every query is scoped by.

mod api_keys;
mod audit;
mod codec;
mod jwk_objects;
mod jwt_keys;
mod key_material;
mod meta;
mod pki;
mod rotation;
mod scope;
mod tenancy;
mod webhooks;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard};

pub use pki::{
    CaRow, CertificateFilter, CertificateRow, CrlRow, RenewalRow, RevokedEntry, TemplateRow,
};
pub use scope::Scope;

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
    pool: SqlitePool,
    /// Woken when a commit has queued webhook deliveries.
    outbox: Arc<Notify>,
    /// Write transactions queue here, in order, instead of polling SQLite's lock.
    writers: Arc<Mutex<()>>,
}

/// How long a write transaction waits for its turn, like SQLite's busy timeout.
const WRITE_WAIT: Duration = Duration::from_secs(5);

/// A write transaction (`BEGIN IMMEDIATE`): a change, its audit event and the webhook
/// events it causes commit together or not at all. Dropped without [`WriteTx::commit`],
/// it rolls back.
pub struct WriteTx {
    // Declared before the turn so that a rollback on drop happens while it is held.
    tx: Transaction<'static, Sqlite>,
    _turn: OwnedMutexGuard<()>,
    outbox: Arc<Notify>,
    queued_deliveries: bool,
}

impl WriteTx {
    pub fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }

    /// Commits; then wakes the webhook dispatcher when deliveries were queued.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        if self.queued_deliveries {
            self.outbox.notify_one();
        }
        Ok(())
    }
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
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self {
            pool,
            outbox: Arc::new(Notify::new()),
            writers: Arc::new(Mutex::new(())),
        })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Starts a write transaction. Writers of this process take turns first (SQLite
    /// admits one writer, and its busy handler sleeps in growing steps, so contending
    /// writers would mostly wait); then it takes SQLite's write lock at once, so that a
    /// transaction that reads before it writes cannot fail on a lock upgrade.
    pub async fn write(&self) -> Result<WriteTx, StoreError> {
        let turn = tokio::time::timeout(WRITE_WAIT, self.writers.clone().lock_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?;
        Ok(WriteTx {
            tx: self.pool.begin_with("BEGIN IMMEDIATE").await?,
            _turn: turn,
            outbox: self.outbox.clone(),
            queued_deliveries: false,
        })
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

/// True when `err` is a UNIQUE constraint violation.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

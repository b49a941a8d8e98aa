//! The group-commit writer: one thread owns a synchronous SQLite connection and
//! commits the work that queued while its previous commit was being made, in one
//! transaction.
//!
//! sqlx runs each connection on a thread of its own, so every statement is a round
//! trip between threads; here a unit of work runs its statements in place, and many
//! units share one `COMMIT`. Each unit runs inside a savepoint: one that fails is
//! rolled back alone and the others still commit.
//!
//! Commits are made durable beside the writer, not inside its cycle: the connection
//! commits with `synchronous = NORMAL` (the commit's WAL frames are written, not
//! synced), and hands the group to the sync thread, which syncs the WAL file and only
//! then answers the group's callers, while the writer already runs the next group. A
//! caller is therefore answered only after the commit that holds its work is on disk.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Notify, oneshot};

use super::StoreError;
use super::cache::{Caches, Changed};
use super::tx::Tx;

/// At most this many units share a transaction, so that one commit stays short.
const MAX_GROUP: usize = 512;

/// A commit that leaves the WAL longer than this many pages (16 MiB) finishes the
/// checkpoint itself, and the next transaction writes the WAL from its start again.
/// The background checkpoint alone cannot bound it: the WAL restarts only after a
/// checkpoint that caught up with the last commit, which under constant writes never
/// happens, and a WAL that keeps growing makes every commit extend the file.
pub(super) const WAL_RESTART_PAGES: u32 = 4096;

/// How long a group gathers before it commits while requests arrive together (the
/// previous group held more than one unit). A commit's cost is mostly per group (the
/// WAL pages every unit touches, the sync), so a busy server commits fewer, larger
/// groups; a lone request is never held back.
const GATHER: Duration = Duration::from_micros(300);

/// A unit of work as the writer thread sees it: runs against the connection (and the
/// store's caches) inside the group's transaction (or, given none, answers that the
/// write failed), and says whether it succeeded and whether it queued webhook
/// deliveries. Its result waits in `reply` until the commit is on disk (or failed).
type Unit = Box<dyn FnOnce(Option<(&Connection, &Caches)>) -> Ran + Send>;

/// Tells a unit's caller how its group's commit went (`Err` holds the cause).
type Reply = Box<dyn FnOnce(Result<(), &str>) + Send>;

struct Ran {
    ok: bool,
    queued_deliveries: bool,
    /// The cached kinds of record the unit changed: forgotten again when its group is
    /// decided, committed or not, since a reader may have cached them meanwhile.
    changed: Changed,
    reply: Reply,
}

#[derive(Clone)]
pub(crate) struct Writer {
    units: mpsc::Sender<Unit>,
}

impl Writer {
    /// Opens the database file at `path` (already created and migrated) and starts the
    /// writer thread.
    pub fn start(
        path: &Path,
        outbox: Arc<Notify>,
        caches: Arc<Caches>,
    ) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // NORMAL: a commit writes its WAL frames without syncing them; the sync thread
        // syncs the WAL before any caller of the group is answered, so an answered write
        // survives a power loss, not only a crash of this process (see `sync`).
        // The savepoints' undo records stay in memory rather than in temporary files.
        // Checkpoints run on a thread of their own (see `checkpoint`); a commit only
        // finishes one when the WAL has grown past `WAL_RESTART_PAGES`, by then mostly
        // copied already.
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
             PRAGMA wal_autocheckpoint = {WAL_RESTART_PAGES}; PRAGMA temp_store = MEMORY;"
        ))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(256);
        let checkpointer = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // A checkpoint syncs the WAL before it copies it, and the database file after.
        checkpointer.execute_batch("PRAGMA synchronous = FULL;")?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        let (units, queue) = mpsc::channel();
        let (committed, to_sync) = mpsc::channel();
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("keystead-sync".into())
            .spawn({
                let caches = caches.clone();
                move || sync(&wal, to_sync, &outbox, &caches)
            })
            .map_err(|err| StoreError::Backend(Box::new(err)))?;
        std::thread::Builder::new()
            .name("keystead-writer".into())
            .spawn(move || {
                run(conn, queue, committed, caches);
                drop(stop);
            })
            .map_err(|err| StoreError::Backend(Box::new(err)))?;
        std::thread::Builder::new()
            .name("keystead-checkpoint".into())
            .spawn(move || checkpoint(checkpointer, stopped))
            .map_err(|err| StoreError::Backend(Box::new(err)))?;
        Ok(Self { units })
    }

    /// Runs `work` in the next group and answers once that group is committed and synced.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<Result<T, E>>();
        let unit: Unit = Box::new(move |writing| {
            let Some((conn, caches)) = writing else {
                return Ran {
                    ok: false,
                    queued_deliveries: false,
                    changed: Changed::default(),
                    reply: Box::new(move |_| {
                        let _ = answer
                            .send(Err(
                                StoreError::backend("the database cannot be written").into()
                            ));
                    }),
                };
            };
            let mut tx = Tx::new(conn, caches);
            let done = work(&mut tx);
            let changed = tx.changed();
            match done {
                Ok(value) => Ran {
                    ok: true,
                    queued_deliveries: tx.queued_deliveries(),
                    changed,
                    reply: Box::new(move |commit| {
                        let _ = answer.send(match commit {
                            Ok(()) => Ok(value),
                            Err(cause) => Err(StoreError::backend(cause).into()),
                        });
                    }),
                },
                Err(err) => Ran {
                    ok: false,
                    queued_deliveries: false,
                    changed,
                    reply: Box::new(move |_| {
                        let _ = answer.send(Err(err));
                    }),
                },
            }
        });
        self.units
            .send(unit)
            .map_err(|_| StoreError::backend("the writer has stopped"))?;
        answered
            .await
            .map_err(|_| StoreError::backend("the writer stopped before answering"))?
    }
}

fn run(
    conn: Connection,
    queue: mpsc::Receiver<Unit>,
    committed: mpsc::Sender<Vec<Ran>>,
    caches: Arc<Caches>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    let mut busy = false;
    // Blocks until work arrives; ends when every sender (every `Store`) is gone.
    while let Ok(first) = queue.recv() {
        if busy {
            // Sleeping rather than waiting on the queue: senders need not wake the writer.
            std::thread::sleep(GATHER);
        }
        group.push(first);
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(unit) => group.push(unit),
                Err(_) => break,
            }
        }
        busy = group.len() > 1;
        match commit_group(&conn, &caches, &mut group) {
            Ok(ran) => {
                if let Err(mpsc::SendError(ran)) = committed.send(ran) {
                    answer(ran, Err("the database writer has stopped"), &caches);
                }
            }
            Err((ran, cause)) => answer(ran, Err(&cause), &caches),
        }
    }
}

/// Makes committed groups durable and answers their callers: each round syncs the
/// WAL file once for every group committed since the previous round. The writer has
/// written a group's frames before it sends the group, so the sync that follows covers
/// them (and every earlier frame: `fdatasync` writes out the whole file, whichever
/// descriptor wrote it).
///
/// A failed sync leaves it unknown what reached the disk, and a later sync can succeed
/// without having written the lost pages (the kernel may have dropped them), so after
/// one failure every write is answered as failed until the server restarts and
/// recovers the database from its files, as PostgreSQL does.
fn sync(wal_path: &Path, committed: mpsc::Receiver<Vec<Ran>>, outbox: &Notify, caches: &Caches) {
    let mut wal: Option<(File, u64)> = None;
    let mut failed: Option<String> = None;
    while let Ok(first) = committed.recv() {
        let mut groups = vec![first];
        groups.extend(committed.try_iter());
        if failed.is_none()
            && let Err(err) = sync_wal(wal_path, &mut wal)
        {
            tracing::error!(error = %err, "the WAL cannot be synced; writes fail until a restart");
            failed = Some(format!("the database cannot be synced to disk: {err}"));
        }
        let result = failed.as_deref().map_or(Ok(()), Err);
        let mut queued_deliveries = false;
        for ran in groups {
            queued_deliveries |= ran.iter().any(|unit| unit.ok && unit.queued_deliveries);
            answer(ran, result, caches);
        }
        if queued_deliveries && result.is_ok() {
            outbox.notify_one();
        }
    }
}

/// Syncs the WAL file, (re)opening it when it is not the file held open: SQLite
/// creates it at the first write and would create a new one after the last connection
/// to the database closed.
fn sync_wal(path: &Path, wal: &mut Option<(File, u64)>) -> std::io::Result<()> {
    let inode = std::fs::metadata(path)?.ino();
    let file = match wal {
        Some((file, held)) if *held == inode => file,
        _ => &wal.insert((File::open(path)?, inode)).0,
    };
    file.sync_data()
}

/// Gives each unit of a group its answer: the commit's outcome (its own error for a
/// unit that failed), once the cached records it changed are forgotten.
fn answer(ran: Vec<Ran>, commit: Result<(), &str>, caches: &Caches) {
    for unit in ran {
        caches.invalidate(unit.changed);
        (unit.reply)(commit);
    }
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Copies committed pages from the WAL into the database file, beside the writer
/// (a passive checkpoint never blocks it), so that no commit waits for a checkpoint
/// and the WAL is reused from its start once everything in it is copied.
fn checkpoint(conn: Connection, stopped: mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
        if let Err(err) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);") {
            tracing::warn!(error = %err, "a WAL checkpoint failed; the next one retries");
        }
    }
    // The writer is gone: copy everything back before the process ends.
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
}

/// Runs a group's units in one transaction and commits it (without syncing it);
/// gives back the units' outcomes, with the cause when the commit failed.
fn commit_group(
    conn: &Connection,
    caches: &Caches,
    group: &mut Vec<Unit>,
) -> Result<Vec<Ran>, (Vec<Ran>, String)> {
    let mut ran = Vec::with_capacity(group.len());
    if let Err(err) = statement(conn, "BEGIN IMMEDIATE") {
        let cause = err.to_string();
        tracing::error!(error = %cause, "the writer cannot begin a transaction");
        ran.extend(group.drain(..).map(|unit| unit(None)));
        return Err((ran, cause));
    }
    for unit in group.drain(..) {
        let savepoint = statement(conn, "SAVEPOINT unit");
        // A unit that panics is a failed unit, not a dead writer; its caller sees the
        // answer channel close.
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unit(Some((conn, caches)))))
                .unwrap_or_else(|_| Ran {
                    ok: false,
                    queued_deliveries: false,
                    changed: Changed::default(),
                    reply: Box::new(|_| {}),
                });
        let undo = if outcome.ok {
            statement(conn, "RELEASE unit")
        } else {
            statement(conn, "ROLLBACK TO unit").and_then(|()| statement(conn, "RELEASE unit"))
        };
        if let Err(err) = savepoint.and(undo) {
            tracing::error!(error = %err, "the writer lost a savepoint");
        }
        ran.push(outcome);
    }
    match statement(conn, "COMMIT") {
        Ok(()) => Ok(ran),
        Err(err) => {
            let cause = err.to_string();
            tracing::error!(error = %cause, "a group commit failed; its writes are rolled back");
            let _ = conn.execute_batch("ROLLBACK");
            Err((ran, cause))
        }
    }
}

/// Runs one statement of the writer's own, prepared once per connection.
fn statement(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match err {
            rusqlite::Error::SqliteFailure(code, _)
                if code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                Self::Conflict
            }
            rusqlite::Error::QueryReturnedNoRows => Self::NotFound,
            other => Self::Backend(Box::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(dir: &Path) -> (Writer, Connection) {
        let path = dir.join("w.db");
        let setup = Connection::open(&path).expect("open");
        setup
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k TEXT PRIMARY KEY);")
            .expect("schema");
        let writer =
            Writer::start(&path, Arc::new(Notify::new()), Arc::new(Caches::new())).expect("writer");
        (writer, setup)
    }

    fn insert(key: &'static str) -> impl FnOnce(&mut Tx<'_>) -> Result<(), StoreError> {
        move |tx| {
            tx.conn().execute("INSERT INTO t (k) VALUES (?)", [key])?;
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_failing_unit_is_rolled_back_alone_and_the_others_commit() {
        let dir = tempfile::tempdir().expect("dir");
        let (writer, reader) = writer(dir.path());
        // Sent together, these share groups; the duplicate fails on its own.
        let (a, b, dup, c) = tokio::join!(
            writer.write(insert("a")),
            writer.write(insert("b")),
            writer.write(|tx: &mut Tx<'_>| {
                tx.conn().execute("INSERT INTO t (k) VALUES ('x')", [])?;
                tx.conn().execute("INSERT INTO t (k) VALUES ('a')", [])?;
                Ok::<_, StoreError>(())
            }),
            writer.write(insert("c")),
        );
        assert!(a.is_ok() && b.is_ok() && c.is_ok());
        assert!(matches!(dup, Err(StoreError::Conflict)));
        let keys: Vec<String> = reader
            .prepare("SELECT k FROM t ORDER BY k")
            .expect("prepare")
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            keys,
            ["a", "b", "c"],
            "the failed unit's first insert is rolled back too"
        );
    }

    #[tokio::test]
    async fn the_wal_stays_bounded_under_constant_writes() {
        let dir = tempfile::tempdir().expect("dir");
        let (writer, _reader) = writer(dir.path());
        // 64 MiB of rows, four times the WAL bound, in overlapping groups.
        let mut writes = tokio::task::JoinSet::new();
        for i in 0..4096 {
            let writer = writer.clone();
            writes.spawn(async move {
                writer
                    .write(move |tx: &mut Tx<'_>| {
                        tx.conn().execute(
                            "INSERT INTO t (k) VALUES (?)",
                            [format!("{i:05}{}", "x".repeat(16 * 1024))],
                        )?;
                        Ok::<_, StoreError>(())
                    })
                    .await
            });
        }
        while let Some(written) = writes.join_next().await {
            written.expect("task").expect("write");
        }
        let wal = std::fs::metadata(dir.path().join("w.db-wal"))
            .expect("wal")
            .len();
        let bound = u64::from(WAL_RESTART_PAGES) * 4096;
        assert!(wal < 2 * bound, "the WAL is {wal} bytes");
    }

    #[test]
    fn the_wal_is_reopened_when_sqlite_made_a_new_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("w.db-wal");
        std::fs::write(&path, b"first").expect("write");
        let mut wal = None;
        sync_wal(&path, &mut wal).expect("sync");
        let first = wal.as_ref().map(|(_, inode)| *inode);
        // A new file at the same path (another inode): the next sync must reach it.
        std::fs::write(dir.path().join("new"), b"second").expect("write");
        std::fs::rename(dir.path().join("new"), &path).expect("rename");
        sync_wal(&path, &mut wal).expect("sync");
        let second = wal.as_ref().map(|(_, inode)| *inode);
        assert_ne!(first, second);
        assert_eq!(second, Some(std::fs::metadata(&path).expect("stat").ino()));
    }

    #[tokio::test]
    async fn an_answer_means_the_write_is_visible_to_other_connections() {
        let dir = tempfile::tempdir().expect("dir");
        let (writer, reader) = writer(dir.path());
        writer.write(insert("k")).await.expect("write");
        let count: i64 = reader
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .expect("count");
        assert_eq!(count, 1);
    }
}

//! A write transaction on the group-commit writer's connection: the statements of
//! one unit of work (a change, its audit event, the webhook events it causes), run in
//! place on the writer thread. See [`super::writer`]. Every write of the store goes
//! through it; each store module adds the `Tx` methods of its own records.

use rusqlite::{Connection, Params};

use super::StoreError;
use super::cache::{Caches, Changed};

pub struct Tx<'c> {
    conn: &'c Connection,
    caches: &'c Caches,
    queued_deliveries: bool,
    changed: Changed,
}

impl<'c> Tx<'c> {
    pub(super) fn new(conn: &'c Connection, caches: &'c Caches) -> Self {
        Self {
            conn,
            caches,
            queued_deliveries: false,
            changed: Changed::default(),
        }
    }

    pub(super) fn queued_deliveries(&self) -> bool {
        self.queued_deliveries
    }

    /// Wakes the webhook dispatcher once this unit's group is committed.
    pub(super) fn queue_deliveries(&mut self) {
        self.queued_deliveries = true;
    }

    /// The cached kinds of record this unit changed.
    pub(super) fn changed(&self) -> Changed {
        self.changed
    }

    /// Records a change to cached records: they are forgotten now, for the units after
    /// this one in its group, and again once the group is decided (see
    /// [`super::Store::transaction`]), for readers that filled the cache meanwhile.
    pub(super) fn change(&mut self, kind: Changed) {
        self.caches.invalidate(kind);
        self.changed |= kind;
    }

    pub(super) fn conn(&self) -> &Connection {
        self.conn
    }

    pub(super) fn caches(&self) -> &Caches {
        self.caches
    }

    /// Runs one statement (prepared once per connection); returns the rows it changed.
    pub(super) fn execute(&self, sql: &str, params: impl Params) -> Result<usize, StoreError> {
        Ok(self.conn.prepare_cached(sql)?.execute(params)?)
    }
}

//! Read-through caches of the records read on every request (API keys, templates,
//! projects) and of the webhook subscriptions every event is matched against, cleared
//! by the store's own writes to them.
//!
//! A record is cached only when no write to its kind happened while it was read, so a
//! read that raced a change cannot put the old version back after the change cleared
//! the cache. Only records found are cached: unknown keys do not fill memory.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// At most this many records per kind; a full cache starts over.
const CAPACITY: usize = 10_000;

pub(super) struct ReadCache<K, V> {
    entries: RwLock<HashMap<K, V>>,
    /// Bumped by every write to this kind of record.
    generation: AtomicU64,
}

/// Taken before reading the database; a fill with a stale ticket is dropped.
#[derive(Clone, Copy)]
pub(super) struct Ticket(u64);

impl<K: Eq + Hash, V: Clone> ReadCache<K, V> {
    pub fn new() -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire))
    }

    /// Caches `value` unless a write happened since `ticket` was taken.
    pub fn fill(&self, ticket: Ticket, key: K, value: V) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key, value);
    }

    /// The cached record for `key`, or what `load` reads (cached when found).
    pub async fn get_or_load<E, F, Fut>(&self, key: K, load: F) -> Result<Option<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        if let Some(hit) = self.get(&key) {
            return Ok(Some(hit));
        }
        let ticket = self.ticket();
        let found = load().await?;
        if let Some(value) = &found {
            self.fill(ticket, key, value.clone());
        }
        Ok(found)
    }

    /// Forgets everything; called after each write to this kind of record.
    pub fn invalidate(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

/// The caches of one store.
pub(super) struct Caches {
    /// API keys by the keyed hash of their secret.
    pub api_keys: ReadCache<Vec<u8>, crate::model::ApiKey>,
    /// Templates by organization and id or name.
    pub templates: ReadCache<(String, String), crate::model::Template>,
    /// Projects by organization and id.
    pub projects: ReadCache<(String, String), crate::model::Project>,
    /// The active webhooks of each organization (none is an answer too).
    pub subscriptions: ReadCache<String, Arc<[Subscription]>>,
}

/// An active webhook as the outbox sees it: whose events it wants.
pub(super) struct Subscription {
    pub webhook_id: String,
    /// `None`: every project of the organization.
    pub project_id: Option<String>,
    pub events: Vec<String>,
    /// When the webhook was created (stored form): it wants no event from before.
    pub created_at: String,
}

impl Subscription {
    /// Whether this webhook wants an event of `kind` about `project_id`.
    pub fn wants(&self, kind: &str, project_id: Option<&str>) -> bool {
        (self.project_id.is_none() || self.project_id.as_deref() == project_id)
            && self.events.iter().any(|wanted| wanted == kind)
    }
}

/// The kinds of cached records a write changed.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Changed(u8);

impl Changed {
    pub const API_KEYS: Self = Self(1);
    pub const TEMPLATES: Self = Self(2);
    pub const PROJECTS: Self = Self(4);
    pub const SUBSCRIPTIONS: Self = Self(8);
    /// A change that can cascade (an organization or project deleted).
    pub const ALL: Self = Self(15);

    fn has(self, kind: Self) -> bool {
        self.0 & kind.0 != 0
    }
}

impl std::ops::BitOrAssign for Changed {
    fn bitor_assign(&mut self, other: Self) {
        self.0 |= other.0;
    }
}

impl Caches {
    pub fn new() -> Self {
        Self {
            api_keys: ReadCache::new(),
            templates: ReadCache::new(),
            projects: ReadCache::new(),
            subscriptions: ReadCache::new(),
        }
    }

    /// Forgets the records of the kinds `changed` names.
    pub fn invalidate(&self, changed: Changed) {
        if changed.has(Changed::API_KEYS) {
            self.api_keys.invalidate();
        }
        if changed.has(Changed::TEMPLATES) {
            self.templates.invalidate();
        }
        if changed.has(Changed::PROJECTS) {
            self.projects.invalidate();
        }
        if changed.has(Changed::SUBSCRIPTIONS) {
            self.subscriptions.invalidate();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_that_raced_a_write_is_dropped() {
        let cache = ReadCache::<u8, &str>::new();
        let before = cache.ticket();
        cache.invalidate();
        cache.fill(before, 1, "old");
        assert_eq!(cache.get(&1), None);
        let after = cache.ticket();
        cache.fill(after, 1, "new");
        assert_eq!(cache.get(&1), Some("new"));
        cache.invalidate();
        assert_eq!(cache.get(&1), None);
    }
}

//! The public JWKS of each project, held in memory as ready-to-send bytes.
//!
//! Every project's public keys are loaded at start-up and replaced after each change
//! (generate, rotate, delete), so serving a JWKS reads only memory. A deprecated key is
//! published until its rollover window closes; the rendered bytes carry that moment and
//! are re-rendered from memory when it passes.

use std::collections::HashMap;
use std::sync::RwLock;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::model::JwtKey;
use crate::timestamp;

/// One JWKS document, ready to send.
#[derive(Debug, Clone)]
pub struct JwksDocument {
    pub body: Bytes,
    /// A strong entity tag, quoted (ASCII).
    pub etag: Bytes,
    /// When this document stops being current (a deprecated key's window closes).
    pub valid_until: Option<OffsetDateTime>,
}

impl JwksDocument {
    pub fn etag_str(&self) -> &str {
        std::str::from_utf8(&self.etag).unwrap_or_default()
    }
}

#[derive(Debug)]
struct PublishedKey {
    jwk: String,
    /// `None` while active; when deprecated, the moment it leaves the JWKS.
    published_until: Option<OffsetDateTime>,
}

#[derive(Debug)]
struct ProjectJwks {
    keys: Vec<PublishedKey>,
    document: JwksDocument,
}

#[derive(Debug)]
pub struct JwksCache {
    rollover: Duration,
    projects: RwLock<HashMap<String, ProjectJwks>>,
}

impl JwksCache {
    pub fn new(rollover: std::time::Duration) -> Self {
        Self {
            rollover: Duration::try_from(rollover).unwrap_or(Duration::DAY),
            projects: RwLock::default(),
        }
    }

    /// The current document of a known project, from memory. `None` when the project is
    /// not loaded (unknown, or created since start-up with no keys yet).
    pub fn get(&self, project_id: &str, now: OffsetDateTime) -> Option<JwksDocument> {
        {
            let projects = self.projects.read().unwrap_or_else(|e| e.into_inner());
            let project = projects.get(project_id)?;
            if project.document.valid_until.is_none_or(|until| now < until) {
                return Some(project.document.clone());
            }
        }
        // A deprecated key's window closed: render again, from memory.
        let mut projects = self.projects.write().unwrap_or_else(|e| e.into_inner());
        let project = projects.get_mut(project_id)?;
        if project
            .document
            .valid_until
            .is_some_and(|until| now >= until)
        {
            project.document = render(&project.keys, now);
        }
        Some(project.document.clone())
    }

    /// Replaces a project's keys (all of them, active and deprecated).
    pub fn set_project(&self, project_id: &str, keys: &[JwtKey]) {
        let keys: Vec<PublishedKey> = keys.iter().map(|key| self.published(key)).collect();
        let document = render(&keys, timestamp::now());
        let mut projects = self.projects.write().unwrap_or_else(|e| e.into_inner());
        projects.insert(project_id.to_owned(), ProjectJwks { keys, document });
    }

    /// Loads every project's keys at start-up. `keys` are grouped by project.
    pub fn load_all(&self, keys: &[JwtKey]) {
        for project in keys.chunk_by(|a, b| a.project_id == b.project_id) {
            if let Some(first) = project.first() {
                self.set_project(&first.project_id, project);
            }
        }
    }

    /// Forgets a deleted project.
    pub fn remove_project(&self, project_id: &str) {
        let mut projects = self.projects.write().unwrap_or_else(|e| e.into_inner());
        projects.remove(project_id);
    }

    fn published(&self, key: &JwtKey) -> PublishedKey {
        PublishedKey {
            jwk: key.public_jwk.clone(),
            published_until: key.deprecated_at.map(|at| at + self.rollover),
        }
    }
}

/// The JWKS of the keys still published at `now`, with the moment it next changes.
fn render(keys: &[PublishedKey], now: OffsetDateTime) -> JwksDocument {
    let mut body = String::from(r#"{"keys":["#);
    let mut valid_until: Option<OffsetDateTime> = None;
    let mut first = true;
    for key in keys {
        if let Some(until) = key.published_until {
            if now >= until {
                continue;
            }
            valid_until = Some(valid_until.map_or(until, |v| v.min(until)));
        }
        if !first {
            body.push(',');
        }
        first = false;
        body.push_str(&key.jwk);
    }
    body.push_str("]}");
    let digest = Sha256::digest(body.as_bytes());
    let etag = format!("\"{}\"", hex::encode(&digest[..16]));
    JwksDocument {
        body: Bytes::from(body),
        etag: Bytes::from(etag),
        valid_until,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(project: &str, kid: &str, deprecated_at: Option<OffsetDateTime>) -> JwtKey {
        JwtKey {
            id: kid.into(),
            organization_id: "o".into(),
            project_id: project.into(),
            name: "n".into(),
            algorithm: crate::model::jwt_key::Algorithm::Es256,
            key_size: None,
            kid: kid.into(),
            public_jwk: format!(r#"{{"kid":"{kid}"}}"#),
            public_pem: String::new(),
            deprecated_at,
            replaced_by: None,
            created_at: timestamp::now(),
        }
    }

    #[test]
    fn deprecated_keys_leave_when_the_window_closes() {
        let cache = JwksCache::new(std::time::Duration::from_secs(60));
        let now = timestamp::now();
        cache.load_all(&[
            key("p1", "new", None),
            key("p1", "old", Some(now - Duration::seconds(30))),
            key("p1", "older", Some(now - Duration::seconds(90))),
            key("p2", "other", None),
        ]);
        let doc = cache.get("p1", now).unwrap();
        assert_eq!(&*doc.body, br#"{"keys":[{"kid":"new"},{"kid":"old"}]}"#);
        let later = cache.get("p1", now + Duration::seconds(31)).unwrap();
        assert_eq!(&*later.body, br#"{"keys":[{"kid":"new"}]}"#);
        assert_ne!(doc.etag, later.etag);
        assert!(later.valid_until.is_none());
        assert_eq!(
            &*cache.get("p2", now).unwrap().body,
            br#"{"keys":[{"kid":"other"}]}"#
        );
        assert!(cache.get("p3", now).is_none());
        cache.set_project("p1", &[]);
        assert_eq!(&*cache.get("p1", now).unwrap().body, br#"{"keys":[]}"#);
        cache.remove_project("p1");
        assert!(cache.get("p1", now).is_none());
    }
}

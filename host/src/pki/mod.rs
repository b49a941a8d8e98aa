//! The PKI core: certificate authorities, templates, certificate requests and their
//! lifecycle, CRLs. No HTTP here; storage goes through `store`.

pub mod csr;
pub mod events;
pub mod export;
pub mod import;
pub mod issue;
pub mod keys;
pub mod lifecycle;
pub mod mtls;
pub mod names;
pub mod template;

mod authorities;
mod certificates;
mod crl;
mod delta;
mod expiry;
mod issuance;
mod ocsp;
mod renewal;
mod templates;
mod validators;
mod webhook_events;

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};

pub use authorities::{CreateCa, DEFAULT_CA_VALIDITY_DAYS};
pub use certificates::{
    CertificateQuery, KeyStorage, LIST_STATUSES, SubmitMode, SubmitRequest, pem_encode,
};
pub use events::{BoxFuture, CertificateEvents, KeyCustody};
pub use expiry::ExpiryScan;
pub use renewal::RenewalScan;
pub use templates::TemplateInput;

use crate::audit::AuditLog;
use crate::crypto::MasterKey;
use crate::plugins::Registry;
use crate::store::Store;

pub struct Pki {
    store: Store,
    master: Arc<MasterKey>,
    audit: AuditLog,
    base_url: String,
    plugins: Arc<Registry>,
    /// Loaded CA signing keys, by CA id; dropped when a CA changes.
    ca_cache: RwLock<HashMap<String, Arc<authorities::LoadedCa>>>,
    /// Serializes the creation of projects' mTLS CAs on this node.
    mtls_ca_lock: tokio::sync::Mutex<()>,
    /// Told of renewals and issuances (see [`events`]).
    listeners: RwLock<Vec<Weak<dyn CertificateEvents>>>,
}

/// Runs CPU-bound cryptography (key generation, CSR verification, signing) on the
/// blocking pool, so that the async workers keep answering other requests meanwhile.
pub(crate) async fn off_the_workers<T, F>(work: F) -> crate::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> crate::Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(crate::Error::internal)?
}

impl Pki {
    pub fn new(
        store: Store,
        master: Arc<MasterKey>,
        audit: AuditLog,
        base_url: String,
        plugins: Arc<Registry>,
    ) -> Self {
        Self {
            store,
            master,
            audit,
            base_url,
            plugins,
            ca_cache: RwLock::new(HashMap::new()),
            mtls_ca_lock: tokio::sync::Mutex::new(()),
            listeners: RwLock::new(Vec::new()),
        }
    }
}

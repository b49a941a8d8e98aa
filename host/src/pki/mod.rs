//! The PKI core: certificate authorities, templates, certificate requests and their
//! lifecycle, CRLs. No HTTP here; storage goes through `store`.

pub mod csr;
pub mod issue;
pub mod keys;
pub mod lifecycle;
pub mod names;
pub mod template;

mod authorities;
mod certificates;
mod crl;
mod delta;
mod ocsp;
mod templates;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

pub use authorities::{CaKind, CreateCa, DEFAULT_CA_VALIDITY_DAYS};
pub use certificates::{
    CertificateQuery, KeyStorage, LIST_STATUSES, SubmitMode, SubmitRequest, pem_encode,
};
pub use crl::CrlKind;
pub use templates::TemplateInput;

use crate::audit::AuditLog;
use crate::crypto::MasterKey;
use crate::store::Store;

/// Runs a template's validator plugins over a request; returns violations.
pub trait ValidatorHost: Send + Sync {
    fn validate<'a>(
        &'a self,
        organization_id: &'a str,
        validator: &'a template::ValidatorRef,
        request: &'a ValidationRequest,
    ) -> Pin<Box<dyn Future<Output = crate::Result<Vec<String>>> + Send + 'a>>;
}

/// What a validator plugin sees of a request.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ValidationRequest {
    pub organization_id: String,
    pub project_id: String,
    pub template: String,
    pub subject: names::Subject,
    pub san: names::SanSet,
    pub key_algorithm: String,
    pub key_size: u32,
    pub validity_days: u32,
}

pub struct Pki {
    store: Store,
    master: Arc<MasterKey>,
    audit: AuditLog,
    base_url: String,
    validators: Option<Arc<dyn ValidatorHost>>,
    /// Loaded CA signing keys, by CA id; dropped when a CA changes.
    ca_cache: RwLock<HashMap<String, Arc<authorities::LoadedCa>>>,
}

impl Pki {
    pub fn new(store: Store, master: Arc<MasterKey>, audit: AuditLog, base_url: String) -> Self {
        Self {
            store,
            master,
            audit,
            base_url,
            validators: None,
            ca_cache: RwLock::new(HashMap::new()),
        }
    }

    pub fn with_validators(mut self, host: Arc<dyn ValidatorHost>) -> Self {
        self.validators = Some(host);
        self
    }
}

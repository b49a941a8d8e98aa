//! Who else hears of certificates as they change (rotation, webhooks), and
//! where a server-generated key goes when it is not kept here.
//!
//! The PKI core knows neither: listeners subscribe with [`Pki::subscribe`],
//! and an external key's custodian comes with the request
//! ([`super::KeyStorage::External`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Weak;

use super::Pki;
use crate::Result;
use crate::model::Certificate;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Told of lifecycle steps after they are stored. A listener's failure is
/// logged; it never undoes the step.
pub trait CertificateEvents: Send + Sync {
    /// `new` renewed `old` (both stored).
    fn renewed<'a>(
        &'a self,
        old: &'a Certificate,
        new: &'a Certificate,
    ) -> BoxFuture<'a, Result<()>>;

    /// A request waiting for approval was approved and signed.
    fn issued<'a>(&'a self, certificate: &'a Certificate) -> BoxFuture<'a, Result<()>>;
}

/// Holds a server-generated private key outside this server
/// (`key_storage_mode: external`).
pub trait KeyCustody: Send + Sync + fmt::Debug {
    /// Where the key goes, for the audit log (never a secret).
    fn describe(&self) -> String;

    /// Stores `key_pem` (and the certificate, when it is signed already)
    /// at the destination. Runs before the certificate is stored: an error
    /// fails the request and nothing is kept.
    fn deposit<'a>(
        &'a self,
        certificate: &'a Certificate,
        chain: &'a [String],
        key_pem: &'a str,
    ) -> BoxFuture<'a, Result<()>>;

    /// The certificate is stored: the destination becomes one of its
    /// rotation targets, so that its certificates follow the key there.
    fn adopt<'a>(&'a self, certificate: &'a Certificate) -> BoxFuture<'a, Result<()>>;
}

impl Pki {
    /// Adds a listener; it is dropped from the list once it is gone.
    pub fn subscribe(&self, listener: Weak<dyn CertificateEvents>) {
        let mut listeners = self.listeners.write().unwrap_or_else(|e| e.into_inner());
        listeners.retain(|l| l.strong_count() > 0);
        listeners.push(listener);
    }

    fn listeners(&self) -> Vec<std::sync::Arc<dyn CertificateEvents>> {
        self.listeners
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    pub(super) async fn announce_renewed(&self, old: &Certificate, new: &Certificate) {
        for listener in self.listeners() {
            if let Err(err) = listener.renewed(old, new).await {
                tracing::warn!(certificate = %new.id, error = %err, "a renewal listener failed");
            }
        }
    }

    pub(super) async fn announce_issued(&self, certificate: &Certificate) {
        for listener in self.listeners() {
            if let Err(err) = listener.issued(certificate).await {
                tracing::warn!(certificate = %certificate.id, error = %err, "an issuance listener failed");
            }
        }
    }
}

//! The steps every issuance shares, whichever way the certificate is asked for (a CSR
//! submitted in any mode, the mTLS API, renewal; next, the enrolment protocols):
//! the key and CSR where the server makes them, signing (in
//! [`Pki::sign_with_usages`]), both off the async workers, and one transaction that
//! stores the certificate with its audit event and its webhook event.

use rcgen::KeyPair;

use super::Pki;
use super::csr::{self, ParsedCsr};
use crate::audit::AuditRecord;
use crate::model::{Certificate, KeyAlgorithm, SanSet, Subject};
use crate::webhooks::{self, Event};
use crate::{Error, Result};

impl Pki {
    /// A new key of `algorithm` and its CSR for `subject` and `san`, made on the blocking
    /// pool (an RSA key takes seconds).
    pub(super) async fn generate_key(
        algorithm: KeyAlgorithm,
        subject: Subject,
        san: SanSet,
    ) -> Result<(KeyPair, ParsedCsr)> {
        super::off_the_workers(move || {
            let key = algorithm.generate()?;
            let pem = csr::make(&subject, &san, &key)?;
            Ok((key, csr::parse_pem("csr_pem", &pem)?))
        })
        .await
    }

    /// Stores `certificate` with its audit event and, when given, its webhook event, in
    /// one transaction: all of them or none. Answers once they are on disk.
    pub(super) async fn commit_issuance(
        &self,
        certificate: Certificate,
        audit: AuditRecord,
        event: Option<Event>,
    ) -> Result<Certificate> {
        self.store
            .transaction(move |tx| {
                tx.certificate_insert(&certificate)?;
                tx.audit_insert(&audit)?;
                if let Some(event) = &event {
                    webhooks::emit(tx, event)?;
                }
                Ok::<_, Error>(certificate)
            })
            .await
    }
}

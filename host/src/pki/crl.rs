//! Certificate revocation lists per CA: full CRLs, and delta CRLs over the newest full one.

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use time::{Duration, OffsetDateTime};

use super::Pki;
use super::issue::parse_serial;
use crate::model::{Crl, CrlKind, RevocationReason};
use crate::{Error, Result};

/// How long a CRL is valid; a background job regenerates it well before.
pub const CRL_LIFETIME: Duration = Duration::hours(24);

fn rcgen_reason(reason: RevocationReason) -> rcgen::RevocationReason {
    use rcgen::RevocationReason as R;
    match reason {
        RevocationReason::Unspecified => R::Unspecified,
        RevocationReason::KeyCompromise => R::KeyCompromise,
        RevocationReason::CaCompromise => R::CaCompromise,
        RevocationReason::AffiliationChanged => R::AffiliationChanged,
        RevocationReason::Superseded => R::Superseded,
        RevocationReason::CessationOfOperation => R::CessationOfOperation,
        RevocationReason::CertificateHold => R::CertificateHold,
    }
}

impl Pki {
    /// The newest CRL of a CA, generating one when none is current. Public: no tenant.
    pub async fn current_crl(&self, ca_id: &str, kind: CrlKind) -> Result<Crl> {
        let now = OffsetDateTime::now_utc();
        match self.store.crl_latest(ca_id, kind).await? {
            Some(crl) if crl.next_update > now => Ok(crl),
            _ => self.regenerate_crl(ca_id, kind).await,
        }
    }

    /// Signs a new CRL with the next CRL number.
    pub async fn regenerate_crl(&self, ca_id: &str, kind: CrlKind) -> Result<Crl> {
        let ca = self.loaded_ca_any(None, ca_id).await?;
        let (since, base_number) = match kind {
            CrlKind::Full => (None, None),
            CrlKind::Delta => {
                let base = match self.store.crl_latest(ca_id, CrlKind::Full).await? {
                    Some(base) => base,
                    None => Box::pin(self.regenerate_crl(ca_id, CrlKind::Full)).await?,
                };
                (Some(base.this_update), Some(base.crl_number))
            }
        };
        let revoked = self.store.revoked_for_ca(ca_id, since).await?;
        let number = self.store.ca_next_crl_number(ca_id).await?;
        let this_update = OffsetDateTime::now_utc();
        let next_update = this_update + CRL_LIFETIME;
        let revoked_certs = revoked
            .iter()
            .filter_map(|entry| {
                Some(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&parse_serial(&entry.serial_number)?),
                    revocation_time: entry.revoked_at,
                    reason_code: Some(rcgen_reason(entry.reason)),
                    invalidity_date: None,
                })
            })
            .collect();
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(u64::try_from(number).unwrap_or_default()),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let der = match base_number {
            None => params
                .signed_by(&ca.issuer)
                .map_err(Error::internal)?
                .der()
                .to_vec(),
            Some(base) => super::delta::sign_delta(&params, base, &ca.issuer)?,
        };
        let crl = Crl {
            ca_id: ca_id.to_owned(),
            crl_number: number,
            kind,
            base_crl_number: base_number,
            der,
            this_update,
            next_update,
        };
        self.store.crl_insert(crl.clone()).await?;
        Ok(crl)
    }

    /// Regenerates the full CRL of every CA whose CRL expires within `margin`.
    pub async fn refresh_due_crls(&self, margin: Duration) -> Result<usize> {
        let due = self
            .store
            .cas_needing_crl(OffsetDateTime::now_utc() + margin)
            .await?;
        for ca_id in &due {
            self.regenerate_crl(ca_id, CrlKind::Full).await?;
        }
        Ok(due.len())
    }
}

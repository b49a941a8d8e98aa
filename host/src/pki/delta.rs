//! Delta CRLs. rcgen signs CRLs without custom extensions, so the delta CRL is that CRL
//! decoded with `x509-cert`, given its critical Delta CRL Indicator (RFC 5280 5.2.4),
//! and signed again with the CA key.

use der::asn1::{BitString, OctetString};
use der::{Decode, Encode};
use rcgen::{CertificateRevocationListParams, Issuer, KeyPair, SigningKey};
use x509_cert::crl::CertificateList;
use x509_cert::ext::Extension;

use crate::{Error, Result};

const OID_DELTA_CRL_INDICATOR: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.27");

pub fn sign_delta(
    params: &CertificateRevocationListParams,
    base_crl_number: i64,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<Vec<u8>> {
    let unsigned = params.signed_by(issuer).map_err(Error::internal)?;
    let mut list = CertificateList::from_der(unsigned.der()).map_err(Error::internal)?;
    let base = u64::try_from(base_crl_number).unwrap_or_default();
    let base_der = der::asn1::Uint::new(&base.to_be_bytes())
        .and_then(|n| n.to_der())
        .map_err(Error::internal)?;
    list.tbs_cert_list
        .crl_extensions
        .get_or_insert_with(Vec::new)
        .push(Extension {
            extn_id: OID_DELTA_CRL_INDICATOR,
            critical: true,
            extn_value: OctetString::new(base_der).map_err(Error::internal)?,
        });
    let tbs = list.tbs_cert_list.to_der().map_err(Error::internal)?;
    let signature = issuer.key().sign(&tbs).map_err(Error::internal)?;
    list.signature = BitString::from_bytes(&signature).map_err(Error::internal)?;
    list.to_der().map_err(Error::internal)
}

//! The OCSP responder (RFC 6960): answers good, revoked (with reason and time) or unknown
//! for each certificate asked about, signed by the issuing CA's own key.

use std::time::{Duration, SystemTime};

use der::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use rcgen::SigningKey;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::ext::pkix::CrlReason;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse,
    ResponderId, ResponseData, RevokedInfo, SingleResponse, Version,
};

use super::Pki;
use super::issue::format_serial;
use crate::model::{KeyAlgorithm, RevocationReason};
use crate::{Error, Result};

const OID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");

/// How long a response may be cached by relying parties.
const VALIDITY: Duration = Duration::from_secs(3600);

/// An OCSP answer: the DER body, and whether the request itself was malformed.
pub struct OcspAnswer {
    pub der: Vec<u8>,
    pub malformed: bool,
}

/// The issuer hashes a CertID must carry for one hash algorithm.
struct IssuerHashes {
    name: Vec<u8>,
    key: Vec<u8>,
}

fn signature_algorithm(key: KeyAlgorithm) -> AlgorithmIdentifierOwned {
    let (oid, null_params) = match key {
        KeyAlgorithm::EcdsaP256 => ("1.2.840.10045.4.3.2", false),
        KeyAlgorithm::EcdsaP384 => ("1.2.840.10045.4.3.3", false),
        KeyAlgorithm::Rsa(_) => ("1.2.840.113549.1.1.11", true),
        KeyAlgorithm::Ed25519 => ("1.3.101.112", false),
    };
    AlgorithmIdentifierOwned {
        oid: ObjectIdentifier::new_unwrap(oid),
        parameters: null_params.then(|| Null.into()),
    }
}

fn reason_of(reason: RevocationReason) -> CrlReason {
    match reason {
        RevocationReason::Unspecified => CrlReason::Unspecified,
        RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
        RevocationReason::CaCompromise => CrlReason::CaCompromise,
        RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
        RevocationReason::Superseded => CrlReason::Superseded,
        RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
        RevocationReason::CertificateHold => CrlReason::CertificateHold,
    }
}

fn generalized(at: SystemTime) -> Result<OcspGeneralizedTime> {
    // DER GeneralizedTime has whole seconds.
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    GeneralizedTime::from_unix_duration(Duration::from_secs(secs))
        .map(OcspGeneralizedTime)
        .map_err(Error::internal)
}

fn malformed() -> OcspAnswer {
    OcspAnswer {
        der: OcspResponse::malformed_request()
            .to_der()
            .unwrap_or_default(),
        malformed: true,
    }
}

impl Pki {
    /// Answers a DER OCSP request for CA `ca_id`. Unknown CA: `NotFound`.
    pub async fn ocsp(&self, ca_id: &str, request: &[u8]) -> Result<OcspAnswer> {
        let ca = self.loaded_ca_any(None, ca_id).await?;
        let Ok(request) = OcspRequest::from_der(request) else {
            return Ok(malformed());
        };
        if request.tbs_request.request_list.is_empty()
            || request.tbs_request.request_list.len() > 64
        {
            return Ok(malformed());
        }
        let ca_pem = ca.chain_pem.first().cloned().unwrap_or_default();
        let ca_der = super::authorities::pem_certificate_der("certificate_pem", &ca_pem)?;
        let ca_cert = Certificate::from_der(&ca_der).map_err(Error::internal)?;
        let subject = ca_cert
            .tbs_certificate
            .subject
            .to_der()
            .map_err(Error::internal)?;
        let public_key = ca_cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        let sha1 = IssuerHashes {
            name: Sha1::digest(&subject).to_vec(),
            key: Sha1::digest(public_key).to_vec(),
        };
        let sha256 = IssuerHashes {
            name: Sha256::digest(&subject).to_vec(),
            key: Sha256::digest(public_key).to_vec(),
        };

        let now = SystemTime::now();
        let mut responses = Vec::with_capacity(request.tbs_request.request_list.len());
        for single in &request.tbs_request.request_list {
            let id: &CertId = &single.req_cert;
            let hashes = if id.hash_algorithm.oid == OID_SHA1 {
                Some(&sha1)
            } else if id.hash_algorithm.oid == OID_SHA256 {
                Some(&sha256)
            } else {
                None
            };
            let ours = hashes.is_some_and(|h| {
                id.issuer_name_hash.as_bytes() == h.name.as_slice()
                    && id.issuer_key_hash.as_bytes() == h.key.as_slice()
            });
            let status = if ours {
                let serial = format_serial(id.serial_number.as_bytes());
                match self.store.certificate_by_serial(ca_id, &serial).await? {
                    None => CertStatus::unknown(),
                    Some(certificate) => match &certificate.revocation {
                        Some(revocation) => CertStatus::revoked(RevokedInfo {
                            revocation_time: generalized(revocation.revoked_at.into())?,
                            revocation_reason: Some(reason_of(revocation.reason)),
                        }),
                        None => CertStatus::good(),
                    },
                }
            } else {
                CertStatus::unknown()
            };
            responses.push(SingleResponse {
                cert_id: id.clone(),
                cert_status: status,
                this_update: generalized(now)?,
                next_update: Some(generalized(now + VALIDITY)?),
                single_extensions: None,
            });
        }
        // Echo the nonce so the client can match the answer to its request.
        let nonce = request
            .tbs_request
            .request_extensions
            .iter()
            .flatten()
            .find(|ext| ext.extn_id == OID_NONCE)
            .cloned();
        let tbs = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(
                OctetString::new(sha1.key.clone()).map_err(Error::internal)?,
            ),
            produced_at: generalized(now)?,
            responses,
            response_extensions: nonce.map(|n| vec![n]),
        };
        let tbs_der = tbs.to_der().map_err(Error::internal)?;
        let signature = ca.issuer.key().sign(&tbs_der).map_err(Error::internal)?;
        let basic = BasicOcspResponse {
            tbs_response_data: tbs,
            signature_algorithm: signature_algorithm(ca.authority.key_algorithm),
            signature: BitString::from_bytes(&signature).map_err(Error::internal)?,
            certs: None,
        };
        let response = OcspResponse::successful(basic).map_err(Error::internal)?;
        Ok(OcspAnswer {
            der: response.to_der().map_err(Error::internal)?,
            malformed: false,
        })
    }
}

//! Signing: CA certificates and leaf certificates, with the CRL distribution point and
//! authority information access of this server on every one.

use rand::RngCore;
use rand::rngs::OsRng;
use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, CustomExtension,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SerialNumber,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::model::{SanSet, Subject};
use crate::{Error, Result};

const OID_AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
const OID_AD_OCSP: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1];
const OID_AD_CA_ISSUERS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 2];

/// Where relying parties find a CA's CRL, OCSP responder and certificate.
#[derive(Debug, Clone)]
pub struct CaUrls {
    pub crl: String,
    pub ocsp: String,
    pub ca_issuers: String,
}

impl CaUrls {
    pub fn for_ca(base_url: &str, ca_id: &str) -> Self {
        Self {
            crl: format!("{base_url}/api/v1/ca/{ca_id}/crl"),
            ocsp: format!("{base_url}/api/v1/ocsp/{ca_id}"),
            ca_issuers: format!("{base_url}/api/v1/cas/{ca_id}/certificate"),
        }
    }
}

/// A signed certificate and the facts stored beside it.
#[derive(Debug)]
pub struct Signed {
    pub der: Vec<u8>,
    pub pem: String,
    pub serial_number: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub fingerprint_sha256: String,
}

/// A leaf certificate's profile, from its template.
pub struct LeafProfile<'a> {
    pub subject: &'a Subject,
    pub san: &'a SanSet,
    pub validity_days: u32,
    pub key_usage: &'a [String],
    pub extended_key_usage: &'a [String],
}

/// 16 bytes: the time of issue in milliseconds (6 bytes), then 80 random bits (the
/// Baseline Requirements ask for at least 64 bits from a CSPRNG).
///
/// Leading with the time keeps the serial index growing at its end, as UUIDv7 record ids
/// do: an issuance touches the index's last page instead of a random one, which is what
/// keeps writes cheap with millions of certificates. The first byte is the time's top
/// byte, between 1 and 127 until the year 6429, so the serial is positive and its DER
/// encoding is exactly these bytes.
pub fn new_serial() -> Vec<u8> {
    let millis = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let millis = u64::try_from(millis).unwrap_or_default();
    let mut bytes = vec![0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    OsRng.fill_bytes(&mut bytes[6..]);
    bytes[0] = bytes[0].clamp(0x01, 0x7f);
    bytes
}

/// `01:AB:CD:...`, the form lists show.
pub fn format_serial(bytes: &[u8]) -> String {
    let trimmed: &[u8] = match bytes.iter().position(|b| *b != 0) {
        Some(start) => &bytes[start..],
        None => &[0],
    };
    trimmed
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn parse_serial(text: &str) -> Option<Vec<u8>> {
    hex::decode(text.replace(':', "")).ok()
}

fn base_params(validity_days: u32, urls: Option<&CaUrls>) -> Result<(CertificateParams, Vec<u8>)> {
    let mut params = CertificateParams::default();
    let now = OffsetDateTime::now_utc();
    // Backdated a little so that clients with a slow clock accept it at once.
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + Duration::days(i64::from(validity_days));
    let serial = new_serial();
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.use_authority_key_identifier_extension = true;
    if let Some(urls) = urls {
        params.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec![urls.crl.clone()],
        }];
        params.custom_extensions.push(authority_info_access(urls));
    }
    Ok((params, serial))
}

fn authority_info_access(urls: &CaUrls) -> CustomExtension {
    let content = yasna::construct_der(|writer| {
        writer.write_sequence(|writer| {
            for (method, url) in [
                (OID_AD_OCSP, &urls.ocsp),
                (OID_AD_CA_ISSUERS, &urls.ca_issuers),
            ] {
                writer.next().write_sequence(|writer| {
                    writer
                        .next()
                        .write_oid(&yasna::models::ObjectIdentifier::from_slice(method));
                    writer
                        .next()
                        .write_tagged_implicit(yasna::Tag::context(6), |writer| {
                            writer.write_ia5_string(url)
                        });
                });
            }
        });
    });
    CustomExtension::from_oid_content(OID_AUTHORITY_INFO_ACCESS, content)
}

fn finish(cert: rcgen::Certificate, serial: &[u8], params: &CertificateParams) -> Signed {
    let der = cert.der().to_vec();
    Signed {
        pem: cert.pem(),
        fingerprint_sha256: hex::encode(Sha256::digest(&der)),
        der,
        serial_number: format_serial(serial),
        not_before: params.not_before,
        not_after: params.not_after,
    }
}

fn ca_params(
    subject: &Subject,
    validity_days: u32,
    path_len: Option<u8>,
    urls: Option<&CaUrls>,
) -> Result<(CertificateParams, Vec<u8>)> {
    let (mut params, serial) = base_params(validity_days, urls)?;
    params.distinguished_name = subject.to_distinguished_name();
    params.is_ca = IsCa::Ca(match path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok((params, serial))
}

/// A self-signed root.
pub fn self_signed_ca(subject: &Subject, validity_days: u32, key: &KeyPair) -> Result<Signed> {
    let (params, serial) = ca_params(subject, validity_days, None, None)?;
    let cert = params.self_signed(key).map_err(Error::internal)?;
    Ok(finish(cert, &serial, &params))
}

/// An intermediate signed by a parent CA of this server.
pub fn intermediate_ca(
    subject: &Subject,
    validity_days: u32,
    key: &impl PublicKeyData,
    parent: &Issuer<'_, KeyPair>,
    parent_urls: &CaUrls,
) -> Result<Signed> {
    let (params, serial) = ca_params(subject, validity_days, Some(0), Some(parent_urls))?;
    let cert = params.signed_by(key, parent).map_err(Error::internal)?;
    Ok(finish(cert, &serial, &params))
}

/// A leaf certificate for the public key of a verified CSR.
pub fn leaf(
    profile: &LeafProfile<'_>,
    csr_der: &[u8],
    issuer: &Issuer<'_, KeyPair>,
    urls: &CaUrls,
) -> Result<Signed> {
    let public_key = rcgen::SubjectPublicKeyInfo::from_der(&super::csr::public_key_info(csr_der)?)
        .map_err(|_| Error::bad_request("csr_pem", "the CSR's key type cannot be signed"))?;
    let (mut params, serial) = base_params(profile.validity_days, Some(urls))?;
    params.distinguished_name = profile.subject.to_distinguished_name();
    params.subject_alt_names = profile.san.to_rcgen()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = profile
        .key_usage
        .iter()
        .filter_map(|usage| match usage.as_str() {
            "digital_signature" => Some(KeyUsagePurpose::DigitalSignature),
            "content_commitment" => Some(KeyUsagePurpose::ContentCommitment),
            "key_encipherment" => Some(KeyUsagePurpose::KeyEncipherment),
            "data_encipherment" => Some(KeyUsagePurpose::DataEncipherment),
            "key_agreement" => Some(KeyUsagePurpose::KeyAgreement),
            _ => None,
        })
        .collect();
    params.extended_key_usages = profile
        .extended_key_usage
        .iter()
        .filter_map(|usage| match usage.as_str() {
            "server_auth" => Some(ExtendedKeyUsagePurpose::ServerAuth),
            "client_auth" => Some(ExtendedKeyUsagePurpose::ClientAuth),
            "code_signing" => Some(ExtendedKeyUsagePurpose::CodeSigning),
            "email_protection" => Some(ExtendedKeyUsagePurpose::EmailProtection),
            "time_stamping" => Some(ExtendedKeyUsagePurpose::TimeStamping),
            "ocsp_signing" => Some(ExtendedKeyUsagePurpose::OcspSigning),
            _ => None,
        })
        .collect();
    let cert = params
        .signed_by(&public_key, issuer)
        .map_err(Error::internal)?;
    Ok(finish(cert, &serial, &params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_positive_and_formatted() {
        let serial = new_serial();
        assert_eq!(serial.len(), 16);
        assert!(serial[0] != 0 && serial[0] < 0x80);
        assert_eq!(format_serial(&[0, 0x01, 0xab]), "01:AB");
        assert_eq!(parse_serial("01:AB"), Some(vec![1, 0xab]));
    }

    #[test]
    fn later_serials_sort_after_earlier_ones_and_never_repeat() {
        let earlier = format_serial(&new_serial());
        std::thread::sleep(std::time::Duration::from_millis(2));
        let batch: Vec<String> = (0..1000).map(|_| format_serial(&new_serial())).collect();
        assert!(batch.iter().all(|serial| *serial > earlier));
        let distinct: std::collections::HashSet<_> = batch.iter().collect();
        assert_eq!(distinct.len(), batch.len());
    }
}

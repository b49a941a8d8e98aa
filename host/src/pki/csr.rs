//! Certificate signing requests: parsing and verifying uploaded ones, making our own.

use rcgen::{CertificateParams, KeyPair};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use crate::model::KeyAlgorithm;
use crate::model::{SanSet, Subject};
use crate::{Error, Result};

/// Largest CSR accepted, in PEM characters.
pub const MAX_CSR_PEM: usize = 64 * 1024;

/// What a CSR asks for. Reading it does not check its self-signature: that costs as
/// much as signing, so it is done by [`verify`] on the trip off the async workers that
/// signs the certificate (see [`Possession`]).
#[derive(Debug)]
pub struct ParsedCsr {
    pub subject: Subject,
    pub san: SanSet,
    pub key: KeyAlgorithm,
    pub der: Vec<u8>,
}

/// Whether the requester has been shown to hold the CSR's private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Possession {
    /// An uploaded CSR: its self-signature is checked before anything is signed for it.
    Unchecked,
    /// A CSR made here, or one whose self-signature was checked when it was stored.
    Proven,
}

/// Reads a PEM CSR (see [`ParsedCsr`] for its self-signature).
pub fn parse_pem(field: &str, pem: &str) -> Result<ParsedCsr> {
    parse_der(field, pem_to_der(field, pem)?)
}

/// The DER inside a CSR's PEM block, unverified.
pub fn pem_to_der(field: &str, pem: &str) -> Result<Vec<u8>> {
    if pem.len() > MAX_CSR_PEM {
        return Err(Error::bad_request(
            field,
            format!("a CSR is at most {MAX_CSR_PEM} characters"),
        ));
    }
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.trim().as_bytes())
        .map_err(|_| Error::bad_request(field, "not a PEM block"))?;
    if !matches!(
        block.label.as_str(),
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST"
    ) {
        return Err(Error::bad_request(
            field,
            format!(
                "expected a CERTIFICATE REQUEST PEM block, got {}",
                block.label
            ),
        ));
    }
    Ok(block.contents)
}

/// The SubjectPublicKeyInfo (DER) of a CSR that was verified when it arrived: signing
/// needs only the key, and verifying the CSR's signature twice would double its cost.
pub fn public_key_info(der: &[u8]) -> Result<Vec<u8>> {
    let (_, csr) = X509CertificationRequest::from_der(der)
        .map_err(|_| Error::bad_request("csr_pem", "the stored CSR cannot be read"))?;
    Ok(csr.certification_request_info.subject_pki.raw.to_vec())
}

/// Checks a CSR's self-signature: the proof that the requester holds its private key.
pub fn verify(field: &str, der: &[u8]) -> Result<()> {
    let (_, csr) = X509CertificationRequest::from_der(der)
        .map_err(|_| Error::bad_request(field, "not a valid PKCS #10 certificate request"))?;
    csr.verify_signature()
        .map_err(|_| Error::bad_request(field, "the CSR's signature does not verify"))
}

pub fn parse_der(field: &str, der: Vec<u8>) -> Result<ParsedCsr> {
    let (rest, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|_| Error::bad_request(field, "not a valid PKCS #10 certificate request"))?;
    if !rest.is_empty() {
        return Err(Error::bad_request(
            field,
            "trailing data after the certificate request",
        ));
    }
    let info = &csr.certification_request_info;
    let key = key_algorithm(field, &info.subject_pki)?;
    let mut san = SanSet::default();
    if let Some(extensions) = csr.requested_extensions() {
        for ext in extensions {
            if let ParsedExtension::SubjectAlternativeName(names) = ext {
                let found = SanSet::from_general_names(&names.general_names);
                san.dns_names.extend(found.dns_names);
                san.ip_addresses.extend(found.ip_addresses);
                san.email_addresses.extend(found.email_addresses);
                san.uris.extend(found.uris);
            }
        }
    }
    let subject = Subject::from_x509_name(&info.subject);
    drop(csr);
    Ok(ParsedCsr {
        subject,
        san,
        key,
        der,
    })
}

fn key_algorithm(
    field: &str,
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
) -> Result<KeyAlgorithm> {
    use x509_parser::oid_registry::{
        OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
    };
    let unsupported = || {
        Error::bad_request(
            field,
            "the CSR's key type is not supported (use ECDSA P-256/P-384, RSA or Ed25519)",
        )
    };
    let algorithm = &spki.algorithm.algorithm;
    if *algorithm == OID_SIG_ED25519 {
        return Ok(KeyAlgorithm::Ed25519);
    }
    let parsed = spki.parsed().map_err(|_| unsupported())?;
    match parsed {
        PublicKey::RSA(rsa) if *algorithm == OID_PKCS1_RSAENCRYPTION => {
            let bits = rsa.key_size() as u32;
            if !(2048..=8192).contains(&bits) {
                return Err(Error::bad_request(
                    field,
                    format!("RSA keys of {bits} bits are not accepted; use 2048 to 8192"),
                ));
            }
            Ok(KeyAlgorithm::Rsa(bits))
        }
        PublicKey::EC(point) if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY => {
            match point.key_size() {
                256 => Ok(KeyAlgorithm::EcdsaP256),
                384 => Ok(KeyAlgorithm::EcdsaP384),
                _ => Err(unsupported()),
            }
        }
        _ => Err(unsupported()),
    }
}

/// Makes a CSR for a key generated here.
pub fn make(subject: &Subject, san: &SanSet, key: &KeyPair) -> Result<String> {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject.to_distinguished_name();
    params.subject_alt_names = san.to_rcgen()?;
    let csr = params.serialize_request(key).map_err(Error::internal)?;
    csr.pem().map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_our_own_csr() {
        let key = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let subject = Subject {
            common_name: Some("api.example.com".into()),
            ..Subject::default()
        };
        let san = SanSet {
            dns_names: vec!["api.example.com".into()],
            ..SanSet::default()
        };
        let pem = make(&subject, &san, &key).unwrap();
        let parsed = parse_pem("csr_pem", &pem).unwrap();
        assert_eq!(parsed.subject, subject);
        assert_eq!(parsed.san, san);
        assert_eq!(parsed.key, KeyAlgorithm::EcdsaP256);
    }

    #[test]
    fn garbage_and_tampering_are_refused() {
        assert!(parse_pem("csr_pem", "hello").is_err());
        let key = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let subject = Subject {
            common_name: Some("a.example".into()),
            ..Subject::default()
        };
        let pem = make(&subject, &SanSet::default(), &key).unwrap();
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let mut der = block.contents.clone();
        // Flip a byte inside the subject: the signature no longer matches.
        let at = der.windows(9).position(|w| w == b"a.example").unwrap();
        der[at] = b'b';
        assert!(
            parse_der("csr_pem", der.clone()).is_ok(),
            "reading does not verify"
        );
        let err = verify("csr_pem", &der).unwrap_err();
        assert!(
            err.to_string().contains("signature does not verify"),
            "{err}"
        );
    }
}

//! Certificates out: PEM (with chain and key when asked), DER, and PKCS #12 protected
//! the way OpenSSL 3 writes it (PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, an
//! HMAC-SHA256 MAC), so that current tools read it without a legacy provider.

use p12_keystore::{
    Certificate as P12Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm,
    PrivateKey, PrivateKeyChain,
};
use serde_json::json;
use sha1::{Digest, Sha1};

use super::Pki;
use super::certificates::pem_encode;
use crate::audit::Severity;
use crate::auth::Caller;
use crate::crypto::SecretBytes;
use crate::model::Certificate;
use crate::{Error, Result};

/// PBKDF2 and MAC iterations of exported PKCS #12 files.
const PKCS12_ITERATIONS: u32 = 100_000;
/// Longest PKCS #12 password accepted.
const MAX_PASSWORD_CHARS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Certificate PEM, then the chain and the key when asked.
    Pem,
    /// The certificate alone, DER.
    Der,
    /// PKCS #12, password-protected.
    Pkcs12,
    /// The private key alone, PKCS #8 PEM.
    KeyPem,
}

/// What to export. `password` is a secret: never logged, never recorded.
pub struct ExportRequest<'a> {
    pub format: ExportFormat,
    pub include_chain: bool,
    pub include_key: bool,
    pub password: Option<&'a str>,
    /// The route that asked, for the audit log (`export` or `mtls_download`).
    pub via: &'static str,
}

/// An exported file.
#[derive(Debug)]
pub struct Exported {
    /// Holds the private key when one was asked for.
    pub body: SecretBytes,
    pub content_type: &'static str,
    pub file_name: String,
}

impl Pki {
    /// Exports an issued certificate. Including the private key needs a key held here
    /// (generated or imported) and is a high-severity audit event.
    pub async fn export(
        &self,
        caller: &Caller,
        certificate: &Certificate,
        request: ExportRequest<'_>,
    ) -> Result<Exported> {
        let include_key = request.include_key || request.format == ExportFormat::KeyPem;
        if request.format == ExportFormat::Der && request.include_key {
            return Err(Error::bad_request(
                "include_key",
                "DER holds the certificate alone; use pem or pkcs12 to include the key",
            ));
        }
        let password = match (request.format, request.password) {
            (ExportFormat::Pkcs12, None) => {
                return Err(Error::bad_request(
                    "password",
                    "is required for a PKCS #12 export",
                ));
            }
            (ExportFormat::Pkcs12, Some(p))
                if p.is_empty() || p.chars().count() > MAX_PASSWORD_CHARS =>
            {
                return Err(Error::bad_request(
                    "password",
                    format!("must be 1 to {MAX_PASSWORD_CHARS} characters"),
                ));
            }
            (_, password) => password,
        };
        let der = certificate.der().map(<[u8]>::to_vec).ok_or_else(|| {
            Error::Conflict(format!(
                "the certificate has not been issued (it is {}); there is nothing to export",
                certificate.status
            ))
        })?;
        let key = if include_key {
            Some(self.private_key_der(certificate)?.ok_or_else(|| {
                Error::Conflict(
                    "this certificate's private key is not held here (it was neither generated nor imported with a key), so it cannot be exported"
                        .into(),
                )
            })?)
        } else {
            None
        };
        let chain = if request.include_chain {
            self.chain_der(certificate).await?
        } else {
            Vec::new()
        };
        let stem = file_stem(&certificate.common_name, &certificate.id);
        let exported = match request.format {
            ExportFormat::Pem => {
                let mut text = pem_encode("CERTIFICATE", &der);
                for issuer in &chain {
                    text.push_str(&pem_encode("CERTIFICATE", issuer));
                }
                if let Some(key) = &key {
                    text.push_str(&pem_encode("PRIVATE KEY", key));
                }
                Exported {
                    body: text.into_bytes().into(),
                    content_type: "application/x-pem-file",
                    file_name: format!("{stem}.pem"),
                }
            }
            ExportFormat::KeyPem => Exported {
                body: pem_encode("PRIVATE KEY", key.as_deref().unwrap_or_default())
                    .into_bytes()
                    .into(),
                content_type: "application/x-pem-file",
                file_name: format!("{stem}.key"),
            },
            ExportFormat::Der => Exported {
                body: der.into(),
                content_type: "application/pkix-cert",
                file_name: format!("{stem}.der"),
            },
            ExportFormat::Pkcs12 => {
                let password = password.unwrap_or_default().to_owned();
                let alias = certificate.common_name.clone();
                let body = tokio::task::spawn_blocking(move || {
                    pkcs12(&alias, &der, &chain, key.as_deref(), &password)
                })
                .await
                .map_err(Error::internal)??;
                Exported {
                    body: body.into(),
                    content_type: "application/x-pkcs12",
                    file_name: format!("{stem}.p12"),
                }
            }
        };
        if include_key {
            self.audit.record(caller.success("certificate.export",
                &certificate.id,
                Severity::High,
                Some(json!({
                    "via": request.via, "private_key": true, "common_name": certificate.common_name,
                    "format": match request.format {
                        ExportFormat::Pem => "pem",
                        ExportFormat::Der => "der",
                        ExportFormat::Pkcs12 => "pkcs12",
                        ExportFormat::KeyPem => "key",
                    },
                }))))
            .await?;
        }
        Ok(exported)
    }

    /// The certificates above `certificate` (DER, issuer first): its CA's chain, or the chain it
    /// was imported with.
    async fn chain_der(&self, certificate: &Certificate) -> Result<Vec<Vec<u8>>> {
        let pems = match &certificate.chain_pem {
            Some(text) => vec![text.clone()],
            None => self.chain_pem(certificate).await?,
        };
        let mut out = Vec::new();
        for text in pems {
            for block in pem::parse_many(text.as_bytes()).map_err(Error::internal)? {
                if block.tag() == "CERTIFICATE" {
                    out.push(block.into_contents());
                }
            }
        }
        Ok(out)
    }
}

/// A PKCS #12 file: with a key, one key entry whose chain is the certificate and the
/// certificates above it; without, each certificate as its own entry.
pub fn pkcs12(
    alias: &str,
    certificate: &[u8],
    chain: &[Vec<u8>],
    key: Option<&[u8]>,
    password: &str,
) -> Result<Vec<u8>> {
    let cert = |der: &[u8]| P12Certificate::from_der(der).map_err(Error::internal);
    let mut store = KeyStore::new();
    match key {
        Some(key) => {
            let key = PrivateKey::from_der(key).map_err(Error::internal)?;
            let mut certs = vec![cert(certificate)?];
            for der in chain {
                certs.push(cert(der)?);
            }
            // The local key id ties the key to its certificate; OpenSSL uses the
            // certificate's SHA-1 digest, and so do we.
            let local_key_id = Sha1::digest(certificate).to_vec();
            store.add_entry(
                alias,
                KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, key, certs)),
            );
        }
        None => {
            store.add_entry(alias, KeyStoreEntry::Certificate(cert(certificate)?));
            for (i, der) in chain.iter().enumerate() {
                store.add_entry(
                    &format!("{alias} issuer {}", i + 1),
                    KeyStoreEntry::Certificate(cert(der)?),
                );
            }
        }
    }
    store
        .writer(password)
        .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
        .encryption_iterations(PKCS12_ITERATIONS)
        .mac_algorithm(MacAlgorithm::HmacSha256)
        .mac_iterations(PKCS12_ITERATIONS)
        .write()
        .map_err(Error::internal)
}

/// A file name from the common name: letters, digits, `.`, `-`, `_`; the id when empty.
fn file_stem(common_name: &str, id: &str) -> String {
    let stem: String = common_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let stem = stem.trim_matches('.').to_owned();
    if stem.is_empty() { id.to_owned() } else { stem }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KeyAlgorithm;

    #[test]
    fn pkcs12_round_trips_and_checks_its_password() {
        let key = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["p12.example".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let file = pkcs12(
            "p12.example",
            cert.der(),
            &[],
            Some(key.serialized_der()),
            "s3cr3t",
        )
        .unwrap();
        let store = p12_keystore::KeyStore::from_pkcs12(
            &file,
            "s3cr3t",
            p12_keystore::Pkcs12ImportPolicy::Strict,
        )
        .unwrap();
        let (_, chain) = store.private_key_chain().unwrap();
        assert_eq!(chain.key().as_der(), key.serialized_der());
        assert_eq!(chain.certs()[0].as_der(), cert.der().as_ref());
        assert!(
            p12_keystore::KeyStore::from_pkcs12(
                &file,
                "wrong",
                p12_keystore::Pkcs12ImportPolicy::Strict
            )
            .is_err()
        );
    }

    #[test]
    fn file_names_are_tame() {
        assert_eq!(file_stem("api.example.com", "x"), "api.example.com");
        assert_eq!(file_stem("a b/../c", "x"), "a_b_.._c");
        assert_eq!(file_stem("", "id-1"), "id-1");
    }
}

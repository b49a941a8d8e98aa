//! Certificates that come from elsewhere: PEM text, DER and PKCS #12 files read into
//! candidates, checked (a key must belong to its certificate, a given chain must have
//! issued it), reported, and stored with their keys sealed like generated ones.

use rcgen::{KeyPair, PKCS_RSA_SHA256};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::EncodePrivateKey;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use super::Pki;
use super::certificates::{key_record, pem_encode};
use super::issue::format_serial;
use crate::audit::Severity;
use crate::auth::Caller;
use crate::crypto::{SecretBytes, SecretString};
use crate::model::{
    Certificate, CertificateSource, Issued, KeyStorageMode, KeyType, NewCertificate, SanSet,
    Subject,
};
use crate::store::{Scope, StoreError};
use crate::{Error, Result, timestamp};

/// Most certificates one bundle or file may hold.
pub const MAX_IMPORT_CERTIFICATES: usize = 500;

/// A PKCS #8 private key (DER), wiped on drop. Its `Debug` prints nothing of it.
pub struct Pkcs8Key(SecretBytes);

impl std::fmt::Debug for Pkcs8Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[private key elided]")
    }
}

impl Pkcs8Key {
    pub fn der(&self) -> &[u8] {
        self.0.expose()
    }
}

/// What an import reads.
#[derive(Debug)]
pub enum ImportInput {
    /// One certificate with, optionally, its key and the chain above it.
    Single {
        certificate_pem: String,
        private_key_pem: Option<SecretString>,
        chain_pem: Option<String>,
    },
    /// PEM text with any number of certificates (and keys, which join their certificate).
    Bundle { pem_bundle: SecretString },
    /// An uploaded file: PEM, DER or PKCS #12 (`format` names it; else it is recognised).
    File {
        bytes: SecretBytes,
        password: Option<SecretString>,
        format: Option<String>,
    },
}

/// A certificate found in the input, with its key and chain when given.
#[derive(Debug)]
pub struct Candidate {
    der: Vec<u8>,
    key: Option<Pkcs8Key>,
    chain: Vec<Vec<u8>>,
}

/// One entry of the input: a certificate, or something that could not become one.
#[derive(Debug)]
struct Entry {
    /// Position in the input (PEM block or keystore entry), from 0.
    index: usize,
    outcome: std::result::Result<Candidate, String>,
}

/// What a certificate says about itself, as an import reports it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CertificateFacts {
    pub common_name: String,
    pub subject: Subject,
    /// The issuer's distinguished name.
    pub issuer: String,
    pub issuer_cn: Option<String>,
    pub serial_number: String,
    pub not_before: String,
    pub not_after: String,
    /// `active` or `expired`, by the dates.
    pub status: String,
    /// E.g. `RSA-2048`, `ECDSA-P256`, `Ed25519`.
    pub key_type: String,
    pub san: Vec<String>,
    pub fingerprint_sha256: String,
    pub is_ca: bool,
    pub self_signed: bool,
    pub has_private_key: bool,
    /// Certificates above it that arrive with it.
    pub chain_length: usize,
}

/// The outcome of one entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportItem {
    /// Position in the input (PEM block or keystore entry), from 0.
    pub index: usize,
    /// `imported` (`new` in a preview), `duplicate` or `failed`.
    pub status: &'static str,
    /// The new certificate's id; for a duplicate, the id of the copy already held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Per-entry results of a bulk or file import, or of a preview.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    /// True for a preview: nothing was written.
    pub dry_run: bool,
    /// Certificates imported (in a preview: that would be).
    pub imported: usize,
    /// Certificates the project holds already (same SHA-256 fingerprint); not imported again.
    pub duplicates: usize,
    pub failed: usize,
    pub results: Vec<ImportItem>,
}

impl ImportInput {
    /// Reads the input into entries. Input that cannot be read at all is a 4xx.
    async fn entries(self) -> Result<Vec<Entry>> {
        match self {
            Self::Single {
                certificate_pem,
                private_key_pem,
                chain_pem,
            } => Ok(vec![Entry {
                index: 0,
                outcome: Ok(single(
                    &certificate_pem,
                    private_key_pem.as_ref().map(SecretString::expose),
                    chain_pem.as_deref(),
                )?),
            }]),
            Self::Bundle { pem_bundle } => {
                pem_entries("pem_bundle", pem_bundle.expose().as_bytes())
            }
            Self::File {
                bytes,
                password,
                format,
            } => {
                // PKCS #12 key derivation is deliberately slow: keep it off the async workers.
                tokio::task::spawn_blocking(move || {
                    file_entries(
                        bytes.expose(),
                        password.as_ref().map(SecretString::expose),
                        format.as_deref(),
                    )
                })
                .await
                .map_err(Error::internal)?
            }
        }
    }
}

impl Pki {
    /// Imports one certificate (with its key and chain when given) into a project.
    pub async fn import_single(
        &self,
        caller: &Caller,
        project_id: Option<String>,
        input: ImportInput,
    ) -> Result<Certificate> {
        let project_id = self.resolve_project(caller, project_id).await?;
        let candidate = input
            .entries()
            .await?
            .into_iter()
            .next()
            .and_then(|entry| entry.outcome.ok())
            .ok_or_else(|| Error::bad_request("certificate_pem", "no certificate found"))?;
        let facts =
            facts(&candidate).map_err(|message| Error::bad_request("certificate_pem", message))?;
        if let Some(existing) = self.held(caller, &project_id, &facts).await? {
            return Err(duplicate_error(&existing));
        }
        match self
            .store_import(caller, &project_id, candidate, &facts, "single")
            .await?
        {
            Stored::Inserted(certificate) => Ok(*certificate),
            Stored::Duplicate(id) => Err(duplicate_error(&id)),
        }
    }

    /// Imports every certificate of a bundle or file; with `dry_run`, only reports what an
    /// import would do. When no entry could be read at all, the answer is a 422 listing why.
    pub async fn import_many(
        &self,
        caller: &Caller,
        project_id: Option<String>,
        input: ImportInput,
        dry_run: bool,
    ) -> Result<ImportReport> {
        let via = match &input {
            ImportInput::Single { .. } => "single",
            ImportInput::Bundle { .. } => "bundle",
            ImportInput::File { .. } => "file",
        };
        // A preview reports duplicates when it knows the project; an import needs one.
        let project_id = if dry_run && project_id.is_none() && caller.principal.project_id.is_none()
        {
            None
        } else {
            Some(self.resolve_project(caller, project_id).await?)
        };
        let entries = input.entries().await?;
        let mut report = ImportReport {
            dry_run,
            imported: 0,
            duplicates: 0,
            failed: 0,
            results: Vec::with_capacity(entries.len()),
        };
        // Fingerprints seen earlier in this input, with the id they got.
        let mut seen: Vec<(String, Option<String>)> = Vec::new();
        for entry in entries {
            let mut item = ImportItem {
                index: entry.index,
                status: "failed",
                id: None,
                certificate: None,
                error: None,
            };
            // An entry that does not parse, or whose facts cannot be read, fails alone.
            let read = entry
                .outcome
                .and_then(|candidate| facts(&candidate).map(|facts| (candidate, facts)));
            let (candidate, facts) = match read {
                Ok(read) => read,
                Err(message) => {
                    item.error = Some(message);
                    report.failed += 1;
                    report.results.push(item);
                    continue;
                }
            };
            item.certificate = Some(facts.clone());
            let earlier = seen
                .iter()
                .find(|(fingerprint, _)| *fingerprint == facts.fingerprint_sha256);
            let held = match (earlier, &project_id) {
                (Some((_, id)), _) => Some(id.clone()),
                (None, Some(project_id)) => self.held(caller, project_id, &facts).await?.map(Some),
                (None, None) => None,
            };
            if let Some(id) = held {
                item.status = "duplicate";
                item.id = id;
                report.duplicates += 1;
                report.results.push(item);
                continue;
            }
            let fingerprint = facts.fingerprint_sha256.clone();
            match (&project_id, dry_run) {
                (Some(project_id), false) => {
                    match self
                        .store_import(caller, project_id, candidate, &facts, via)
                        .await?
                    {
                        Stored::Inserted(certificate) => {
                            item.status = "imported";
                            item.id = Some(certificate.id.clone());
                            report.imported += 1;
                        }
                        Stored::Duplicate(id) => {
                            item.status = "duplicate";
                            item.id = Some(id);
                            report.duplicates += 1;
                        }
                    }
                }
                _ => {
                    item.status = "new";
                    report.imported += 1;
                }
            }
            seen.push((fingerprint, item.id.clone()));
            report.results.push(item);
        }
        if report.imported == 0 && report.duplicates == 0 {
            return Err(Error::Unprocessable(
                report
                    .results
                    .iter()
                    .map(|item| {
                        format!(
                            "entry {}: {}",
                            item.index,
                            item.error.as_deref().unwrap_or("not imported")
                        )
                    })
                    .collect(),
            ));
        }
        Ok(report)
    }

    /// The id of the certificate with these facts that the project holds already.
    async fn held(
        &self,
        caller: &Caller,
        project_id: &str,
        facts: &CertificateFacts,
    ) -> Result<Option<String>> {
        let held = self
            .store
            .certificate_by_fingerprint(
                Scope::project(caller.organization_id(), project_id),
                &facts.serial_number,
                &facts.fingerprint_sha256,
            )
            .await?;
        Ok(held.map(|certificate| certificate.id))
    }

    async fn store_import(
        &self,
        caller: &Caller,
        project_id: &str,
        candidate: Candidate,
        facts: &CertificateFacts,
        via: &str,
    ) -> Result<Stored> {
        let id = Uuid::new_v4().to_string();
        let now = timestamp::now();
        let (_, cert) = X509Certificate::from_der(&candidate.der).map_err(|_| {
            Error::internal(anyhow::anyhow!("a checked certificate does not parse"))
        })?;
        let san = san_of(&cert);
        let not_before = cert.validity().not_before.to_datetime();
        let not_after = cert.validity().not_after.to_datetime();
        let days = (not_after - not_before).whole_days().max(0);
        let has_key = candidate.key.is_some();
        let chain_pem = (!candidate.chain.is_empty()).then(|| {
            candidate
                .chain
                .iter()
                .map(|der| pem_encode("CERTIFICATE", der))
                .collect::<String>()
        });
        let mut certificate = Certificate::granted(NewCertificate {
            sealed_key: candidate
                .key
                .as_ref()
                .map(|key| self.master.seal(&key_record(&id), key.der())),
            id,
            organization_id: caller.organization_id().to_owned(),
            project_id: project_id.to_owned(),
            source: CertificateSource::Imported,
            ca_id: None,
            template_id: None,
            common_name: facts.common_name.clone(),
            subject: facts.subject.clone(),
            san,
            key_type: KeyType::from_label(&facts.key_type),
            key_storage: if has_key {
                KeyStorageMode::Local
            } else {
                KeyStorageMode::None
            },
            validity_days: u32::try_from(days).unwrap_or(u32::MAX),
            csr_pem: None,
            requested_by: caller.principal.actor(),
            requested_at: now,
        });
        certificate.chain_pem = chain_pem;
        certificate.issued = Some(Issued {
            serial_number: facts.serial_number.clone(),
            der: candidate.der,
            fingerprint_sha256: facts.fingerprint_sha256.clone(),
            issuer_cn: facts.issuer_cn.clone(),
            not_before,
            not_after,
        });
        match self.store.certificate_insert(certificate.clone()).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                // Imported meanwhile by another request.
                let existing = self
                    .held(caller, project_id, facts)
                    .await?
                    .unwrap_or_default();
                return Ok(Stored::Duplicate(existing));
            }
            Err(other) => return Err(other.into()),
        }
        self.audit
            .record(caller.success(
                "certificate.import",
                &certificate.id,
                Severity::Medium,
                Some(serde_json::json!({
                    "via": via, "common_name": certificate.common_name,
                    "fingerprint_sha256": facts.fingerprint_sha256, "private_key": has_key,
                })),
            ))
            .await?;
        Ok(Stored::Inserted(Box::new(certificate)))
    }
}

enum Stored {
    Inserted(Box<Certificate>),
    Duplicate(String),
}

fn duplicate_error(existing_id: &str) -> Error {
    Error::Conflict(format!(
        "the project holds this certificate already (same SHA-256 fingerprint): '{existing_id}'"
    ))
}

/// One certificate, its key and its chain, each checked; errors name the field.
fn single(
    certificate_pem: &str,
    private_key_pem: Option<&str>,
    chain_pem: Option<&str>,
) -> Result<Candidate> {
    let blocks = pem_blocks("certificate_pem", certificate_pem.as_bytes())?;
    let mut certificates = blocks.into_iter().filter(|b| b.tag() == "CERTIFICATE");
    let der = certificates
        .next()
        .ok_or_else(|| Error::bad_request("certificate_pem", "no CERTIFICATE PEM block found"))?
        .into_contents();
    let (_, cert) = parse_certificate(&der)
        .map_err(|message| Error::bad_request("certificate_pem", message))?;
    // Certificates after the first one are taken as its chain.
    let mut chain: Vec<Vec<u8>> = certificates.map(pem::Pem::into_contents).collect();
    if let Some(text) = chain_pem.filter(|t| !t.trim().is_empty()) {
        let blocks = pem_blocks("chain_pem", text.as_bytes())?;
        if let Some(other) = blocks.iter().find(|b| b.tag() != "CERTIFICATE") {
            return Err(Error::bad_request(
                "chain_pem",
                format!("expected CERTIFICATE PEM blocks, got {}", other.tag()),
            ));
        }
        if blocks.is_empty() {
            return Err(Error::bad_request(
                "chain_pem",
                "no CERTIFICATE PEM block found",
            ));
        }
        chain.extend(blocks.into_iter().map(pem::Pem::into_contents));
    }
    check_chain(&cert, &chain).map_err(|message| Error::bad_request("chain_pem", message))?;
    let key = match private_key_pem.filter(|t| !t.trim().is_empty()) {
        None => None,
        Some(text) => {
            let blocks = pem_blocks("private_key_pem", text.as_bytes())?;
            let [block] = blocks.as_slice() else {
                return Err(Error::bad_request(
                    "private_key_pem",
                    "expected exactly one private key PEM block",
                ));
            };
            let key = private_key(block.tag(), block.contents())
                .map_err(|message| Error::bad_request("private_key_pem", message))?;
            let public = public_key_raw(&key)
                .map_err(|message| Error::bad_request("private_key_pem", message))?;
            if public != cert.public_key().subject_public_key.data.as_ref() {
                return Err(Error::bad_request(
                    "private_key_pem",
                    "the private key does not belong to the certificate (their public keys differ)",
                ));
            }
            Some(key)
        }
    };
    drop(cert);
    Ok(Candidate { der, key, chain })
}

/// Each chain certificate must have issued the one before it (signatures verify).
fn check_chain(leaf: &X509Certificate<'_>, chain: &[Vec<u8>]) -> std::result::Result<(), String> {
    let mut parsed = Vec::with_capacity(chain.len());
    for (i, der) in chain.iter().enumerate() {
        let (_, cert) =
            parse_certificate(der).map_err(|message| format!("certificate {i}: {message}"))?;
        parsed.push(cert);
    }
    let mut below = leaf;
    for (i, issuer) in parsed.iter().enumerate() {
        if below.issuer() != issuer.subject()
            || below.verify_signature(Some(issuer.public_key())).is_err()
        {
            return Err(format!(
                "certificate {i} of the chain ({}) did not issue {}",
                issuer.subject(),
                below.subject()
            ));
        }
        below = issuer;
    }
    Ok(())
}

fn pem_blocks(field: &str, text: &[u8]) -> Result<Vec<pem::Pem>> {
    // The parser's message may quote the input, which can be a private key: say less.
    pem::parse_many(text)
        .map_err(|_| Error::bad_request(field, "malformed PEM (framing or base64 is broken)"))
}

/// Entries of PEM text: each certificate, and keys joined to the certificate they belong to.
fn pem_entries(field: &str, text: &[u8]) -> Result<Vec<Entry>> {
    let blocks = pem_blocks(field, text)?;
    let certificates = blocks.iter().filter(|b| b.tag() == "CERTIFICATE").count();
    if certificates == 0 {
        return Err(Error::bad_request(field, "no CERTIFICATE PEM block found"));
    }
    if certificates > MAX_IMPORT_CERTIFICATES {
        return Err(Error::PayloadTooLarge(format!(
            "{field}: at most {MAX_IMPORT_CERTIFICATES} certificates per import; this one has {certificates}"
        )));
    }
    let mut entries = Vec::with_capacity(blocks.len());
    let mut keys = Vec::new();
    for (index, block) in blocks.into_iter().enumerate() {
        match block.tag() {
            "CERTIFICATE" => {
                let der = block.into_contents();
                let outcome = parse_certificate(&der).map(|_| ());
                entries.push(Entry {
                    index,
                    outcome: outcome.map(|()| Candidate {
                        der,
                        key: None,
                        chain: Vec::new(),
                    }),
                });
            }
            tag if tag.contains("PRIVATE KEY") => {
                keys.push((index, private_key(tag, block.contents())));
            }
            tag => entries.push(Entry {
                index,
                outcome: Err(format!(
                    "a {tag} PEM block; only certificates and private keys are imported"
                )),
            }),
        }
    }
    for (index, key) in keys {
        let failure = match key {
            Err(message) => Some(message),
            Ok(key) => attach_key(&mut entries, key).err(),
        };
        if let Some(message) = failure {
            entries.push(Entry {
                index,
                outcome: Err(format!("private key: {message}")),
            });
        }
    }
    entries.sort_by_key(|entry| entry.index);
    Ok(entries)
}

/// Gives `key` to the certificate it belongs to.
fn attach_key(entries: &mut [Entry], key: Pkcs8Key) -> std::result::Result<(), String> {
    let public = public_key_raw(&key)?;
    let owner = entries
        .iter_mut()
        .find_map(|entry| match &mut entry.outcome {
            Ok(candidate) if candidate.key.is_none() => {
                let matches = X509Certificate::from_der(&candidate.der).is_ok_and(|(_, cert)| {
                    cert.public_key().subject_public_key.data.as_ref() == public.as_slice()
                });
                matches.then_some(candidate)
            }
            _ => None,
        });
    match owner {
        Some(candidate) => {
            candidate.key = Some(key);
            Ok(())
        }
        None => Err("it belongs to no certificate of the input".into()),
    }
}

/// Entries of an uploaded file.
fn file_entries(bytes: &[u8], password: Option<&str>, format: Option<&str>) -> Result<Vec<Entry>> {
    let format = match format.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => None,
        Some("pem") => Some(FileFormat::Pem),
        Some("der" | "cer" | "crt") => Some(FileFormat::Der),
        Some("pkcs12" | "p12" | "pfx") => Some(FileFormat::Pkcs12),
        Some(other) => {
            return Err(Error::bad_request(
                "format",
                format!("'{other}' is not pem, der or pkcs12"),
            ));
        }
    };
    let looks_like_pem = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .is_some_and(|start| bytes[start..].starts_with(b"-----BEGIN"));
    let format = match format {
        Some(format) => format,
        None if looks_like_pem => FileFormat::Pem,
        None if parse_certificate(bytes).is_ok() => FileFormat::Der,
        None => FileFormat::Pkcs12,
    };
    match format {
        FileFormat::Pem => pem_entries("file", bytes),
        FileFormat::Der => {
            parse_certificate(bytes).map_err(|message| Error::bad_request("file", message))?;
            Ok(vec![Entry {
                index: 0,
                outcome: Ok(Candidate {
                    der: bytes.to_vec(),
                    key: None,
                    chain: Vec::new(),
                }),
            }])
        }
        FileFormat::Pkcs12 => pkcs12_entries(bytes, password),
    }
}

#[derive(Debug, Clone, Copy)]
enum FileFormat {
    Pem,
    Der,
    Pkcs12,
}

fn pkcs12_entries(bytes: &[u8], password: Option<&str>) -> Result<Vec<Entry>> {
    use p12_keystore::error::Error as P12Error;
    use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
    let not_a_file = || {
        Error::bad_request(
            "file",
            "not a certificate file: expected PEM, a DER certificate or PKCS #12",
        )
    };
    let read = |password: &str| KeyStore::from_pkcs12(bytes, password, Pkcs12ImportPolicy::Relaxed);
    let store = match password {
        Some(password) => read(password).map_err(|err| match err {
            P12Error::MacError(_) | P12Error::UnpadError | P12Error::Pkcs5Error(_) => {
                Error::bad_request(
                    "password",
                    "wrong password for the PKCS #12 file (its integrity check failed)",
                )
            }
            P12Error::DerError(_) | P12Error::InvalidVersion | P12Error::UnsupportedContentType => {
                not_a_file()
            }
            other => Error::bad_request("file", format!("cannot read the PKCS #12 file: {other}")),
        })?,
        // A PKCS #12 file protected by a password says so by failing its MAC check.
        None => read("").map_err(|err| match err {
            P12Error::MacError(_) | P12Error::UnpadError | P12Error::Pkcs5Error(_) => {
                Error::bad_request("password", "is required for a PKCS #12 file")
            }
            _ => not_a_file(),
        })?,
    };
    let mut entries = Vec::new();
    for (index, (_, entry)) in store.entries().enumerate() {
        let outcome = match entry {
            KeyStoreEntry::Certificate(cert) => Ok(Candidate {
                der: cert.as_der().to_vec(),
                key: None,
                chain: Vec::new(),
            }),
            KeyStoreEntry::PrivateKeyChain(chain) => match chain.certs() {
                [] => Err("a private key without its certificate".to_owned()),
                [leaf, rest @ ..] => {
                    let key = Pkcs8Key(chain.key().as_der().to_vec().into());
                    key_belongs(&key, leaf.as_der()).map(|()| Candidate {
                        der: leaf.as_der().to_vec(),
                        key: Some(key),
                        chain: rest.iter().map(|c| c.as_der().to_vec()).collect(),
                    })
                }
            },
            KeyStoreEntry::Secret(_) => {
                Err("a secret-key entry; only certificates and private keys are imported".into())
            }
        };
        entries.push(Entry { index, outcome });
    }
    let certificates = entries.iter().filter(|e| e.outcome.is_ok()).count();
    if entries.is_empty() {
        return Err(Error::bad_request(
            "file",
            "the PKCS #12 file holds no certificate",
        ));
    }
    if certificates > MAX_IMPORT_CERTIFICATES {
        return Err(Error::PayloadTooLarge(format!(
            "file: at most {MAX_IMPORT_CERTIFICATES} certificates per import; this one has {certificates}"
        )));
    }
    Ok(entries)
}

fn key_belongs(key: &Pkcs8Key, certificate_der: &[u8]) -> std::result::Result<(), String> {
    let public = public_key_raw(key)?;
    let (_, cert) = parse_certificate(certificate_der)?;
    if cert.public_key().subject_public_key.data.as_ref() == public.as_slice() {
        Ok(())
    } else {
        Err("the private key does not belong to its certificate".into())
    }
}

fn parse_certificate(der: &[u8]) -> std::result::Result<(&[u8], X509Certificate<'_>), String> {
    match X509Certificate::from_der(der) {
        Ok((rest, cert)) if rest.is_empty() => Ok((rest, cert)),
        Ok(_) => Err("trailing data after the certificate".into()),
        Err(_) => Err("not a valid X.509 certificate".into()),
    }
}

/// A private key PEM block as PKCS #8: `PRIVATE KEY`, `RSA PRIVATE KEY` (PKCS #1) or
/// `EC PRIVATE KEY` (SEC 1). Encrypted keys are refused.
fn private_key(tag: &str, der: &[u8]) -> std::result::Result<Pkcs8Key, String> {
    let key = match tag {
        "PRIVATE KEY" => der.to_vec(),
        "RSA PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs1_der(der)
            .ok()
            .and_then(|key| key.to_pkcs8_der().ok())
            .map(|doc| doc.as_bytes().to_vec())
            .ok_or("not a valid PKCS #1 RSA private key")?,
        "EC PRIVATE KEY" => sec1_to_pkcs8(der).ok_or("not a valid SEC 1 EC private key")?,
        "ENCRYPTED PRIVATE KEY" => {
            return Err(
                "encrypted private keys are not accepted; decrypt it first (openssl pkey -in key.pem)"
                    .into(),
            );
        }
        other => return Err(format!("expected a private key PEM block, got {other}")),
    };
    let key = Pkcs8Key(key.into());
    public_key_raw(&key)?;
    Ok(key)
}

/// The raw public key of a private key (the certificate's `subjectPublicKey` bits).
fn public_key_raw(key: &Pkcs8Key) -> std::result::Result<Vec<u8>, String> {
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from(key.der());
    KeyPair::try_from(&der)
        .or_else(|_| KeyPair::from_pkcs8_der_and_sign_algo(&der, &PKCS_RSA_SHA256))
        .map(|pair| pair.public_key_raw().to_vec())
        .map_err(|_| {
            "the private key cannot be read (supported: RSA 2048-8192, ECDSA P-256/P-384, Ed25519)"
                .to_owned()
        })
}

const OID_EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];

/// Wraps a SEC 1 `ECPrivateKey` into PKCS #8, moving its curve into the algorithm.
fn sec1_to_pkcs8(der: &[u8]) -> Option<Vec<u8>> {
    use yasna::Tag;
    type Sec1 = (
        Vec<u8>,
        Option<yasna::models::ObjectIdentifier>,
        Option<(Vec<u8>, usize)>,
    );
    let (private, curve, public): Sec1 = yasna::parse_der(der, |reader| {
        reader.read_sequence(|seq| {
            let version = seq.next().read_u8()?;
            if version != 1 {
                return Err(yasna::ASN1Error::new(yasna::ASN1ErrorKind::Invalid));
            }
            let private = seq.next().read_bytes()?;
            let curve = seq.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_oid()))?;
            let public =
                seq.read_optional(|r| r.read_tagged(Tag::context(1), |r| r.read_bitvec_bytes()))?;
            Ok((private, curve, public))
        })
    })
    .ok()?;
    let curve = curve?;
    let inner = yasna::construct_der(|writer| {
        writer.write_sequence(|seq| {
            seq.next().write_u8(1);
            seq.next().write_bytes(&private);
            if let Some((bits, len)) = &public {
                seq.next()
                    .write_tagged(Tag::context(1), |w| w.write_bitvec_bytes(bits, *len));
            }
        });
    });
    Some(yasna::construct_der(|writer| {
        writer.write_sequence(|seq| {
            seq.next().write_u8(0);
            seq.next().write_sequence(|alg| {
                alg.next()
                    .write_oid(&yasna::models::ObjectIdentifier::from_slice(
                        OID_EC_PUBLIC_KEY,
                    ));
                alg.next().write_oid(&curve);
            });
            seq.next().write_bytes(&inner);
        });
    }))
}

fn san_of(cert: &X509Certificate<'_>) -> SanSet {
    cert.subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| SanSet::from_general_names(&ext.value.general_names))
        .unwrap_or_default()
}

/// `RSA-2048`, `ECDSA-P256`, `Ed25519`, ... for any key a certificate may carry.
pub fn key_type_label(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> String {
    use x509_parser::oid_registry::{OID_SIG_ED448, OID_SIG_ED25519};
    let algorithm = &spki.algorithm.algorithm;
    if *algorithm == OID_SIG_ED25519 {
        return "Ed25519".into();
    }
    if *algorithm == OID_SIG_ED448 {
        return "Ed448".into();
    }
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA-{}", rsa.key_size()),
        Ok(PublicKey::EC(point)) => format!("ECDSA-P{}", point.key_size()),
        _ => algorithm.to_id_string(),
    }
}

/// The facts of a candidate, or why it is not a usable certificate.
fn facts(candidate: &Candidate) -> std::result::Result<CertificateFacts, String> {
    let (_, cert) = parse_certificate(&candidate.der)?;
    let subject = Subject::from_x509_name(cert.subject());
    let issuer = Subject::from_x509_name(cert.issuer());
    let san = san_of(&cert);
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();
    let common_name = subject
        .common_name
        .clone()
        .or_else(|| san.dns_names.first().cloned())
        .unwrap_or_else(|| cert.subject().to_string());
    Ok(CertificateFacts {
        common_name,
        issuer: cert.issuer().to_string(),
        issuer_cn: issuer.common_name,
        serial_number: format_serial(cert.raw_serial()),
        not_before: timestamp::format(not_before),
        not_after: timestamp::format(not_after),
        status: if not_after < OffsetDateTime::now_utc() {
            "expired"
        } else {
            "active"
        }
        .into(),
        key_type: key_type_label(cert.public_key()),
        san: san.all(),
        fingerprint_sha256: hex::encode(Sha256::digest(&candidate.der)),
        is_ca: cert.is_ca(),
        self_signed: cert.subject() == cert.issuer() && cert.verify_signature(None).is_ok(),
        has_private_key: candidate.key.is_some(),
        chain_length: candidate.chain.len(),
        subject,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KeyAlgorithm;

    /// The SEC 1 form of a PKCS #8 EC key, with its curve, as `openssl ecparam -genkey`
    /// writes it.
    fn sec1_of(pkcs8: &[u8]) -> Vec<u8> {
        use yasna::Tag;
        let (curve, inner) = yasna::parse_der(pkcs8, |r| {
            r.read_sequence(|seq| {
                seq.next().read_u8()?;
                let curve = seq.next().read_sequence(|alg| {
                    alg.next().read_oid()?;
                    alg.next().read_oid()
                })?;
                Ok((curve, seq.next().read_bytes()?))
            })
        })
        .unwrap();
        let (private, public) = yasna::parse_der(&inner, |r| {
            r.read_sequence(|seq| {
                seq.next().read_u8()?;
                let private = seq.next().read_bytes()?;
                let public = seq
                    .next()
                    .read_tagged(Tag::context(1), |r| r.read_bitvec_bytes())?;
                Ok((private, public))
            })
        })
        .unwrap();
        yasna::construct_der(|w| {
            w.write_sequence(|seq| {
                seq.next().write_u8(1);
                seq.next().write_bytes(&private);
                seq.next()
                    .write_tagged(Tag::context(0), |w| w.write_oid(&curve));
                seq.next().write_tagged(Tag::context(1), |w| {
                    w.write_bitvec_bytes(&public.0, public.1)
                });
            })
        })
    }

    #[test]
    fn sec1_and_pkcs1_keys_become_pkcs8_with_the_same_public_key() {
        let key = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let sec1 = sec1_of(key.serialized_der());
        let converted = private_key("EC PRIVATE KEY", &sec1).unwrap();
        assert_eq!(public_key_raw(&converted).unwrap(), key.public_key_raw());

        let rsa = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        let pkcs1 = rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_der(&rsa).unwrap();
        let converted = private_key("RSA PRIVATE KEY", pkcs1.as_bytes()).unwrap();
        assert!(public_key_raw(&converted).is_ok());

        assert!(private_key("ENCRYPTED PRIVATE KEY", b"x").is_err());
        assert!(private_key("EC PRIVATE KEY", b"\x30\x00").is_err());
    }

    #[test]
    fn keys_are_matched_to_their_certificate() {
        let key = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let other = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.example".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let pem_of = |k: &KeyPair| k.serialize_pem();
        let ok = single(&cert.pem(), Some(&pem_of(&key)), None).unwrap();
        assert!(ok.key.is_some());
        let err = single(&cert.pem(), Some(&pem_of(&other)), None).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
        assert!(format!("{:?}", ok.key).contains("elided"));
    }

    #[test]
    fn garbage_is_refused_and_bundles_report_each_entry() {
        assert!(single("hello", None, None).is_err());
        assert!(pem_entries("pem_bundle", b"no pem here").is_err());
        let key = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["b.example".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let broken = pem_encode("CERTIFICATE", b"\x30\x03\x02\x01\x01");
        let text = format!("{}{}{}", cert.pem(), broken, key.serialize_pem());
        let entries = pem_entries("pem_bundle", text.as_bytes()).unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries[0].outcome.as_ref().unwrap().key.is_some());
        assert!(entries[1].outcome.is_err());
        assert!(file_entries(b"\x00\x01garbage", None, None).is_err());
    }

    #[test]
    fn debug_prints_no_key_and_no_password() {
        let key = KeyAlgorithm::EcdsaP256.generate().unwrap();
        let key_pem = key.serialize_pem();
        let body = key_pem.lines().nth(1).unwrap().to_owned();
        let secret = |text: &str| SecretString::from(text.to_owned());
        let inputs = [
            ImportInput::Single {
                certificate_pem: String::new(),
                private_key_pem: Some(secret(&key_pem)),
                chain_pem: None,
            },
            ImportInput::Bundle {
                pem_bundle: secret(&key_pem),
            },
            ImportInput::File {
                bytes: SecretBytes::from(key_pem.clone().into_bytes()),
                password: Some(secret("p12-password")),
                format: None,
            },
        ];
        for input in &inputs {
            let debug = format!("{input:?}");
            assert!(debug.contains("[redacted]"), "{debug}");
            assert!(
                !debug.contains(&body) && !debug.contains("p12-password"),
                "{debug}"
            );
        }
    }
}

//! Named key material per project and environment, for the JWK sources to read: uploaded
//! PEM keys (public or private) and keystores (PKCS#12, JKS) with their passwords.
//!
//! The host checks only the envelope of what it stores (PEM armor, base64, a keystore's
//! magic bytes); parsing the key material itself is the sources' job (a keystore is
//! opened once at upload by the keystore source, to check its password and list its
//! aliases). Private keys,
//! keystores and passwords are sealed under the master key, bound to their record.
//! Nothing here knows HTTP.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use uuid::Uuid;

use crate::audit::Severity;
use crate::auth::Caller;
use crate::crypto::{MasterKey, Sealed, SecretString};
use crate::error::OnConflict;
pub use crate::model::key_material::{KeyEncoding, KeyType, KeystoreFormat};
use crate::model::key_material::{KeystoreFile, MaterialKind, PemKey, Stored};
use crate::model::{Environment, StoredKey, StoredKeystore};
use crate::plugins::jwk_source::{
    JwkRequest, Keystore, KeystoreFormat as WitKeystoreFormat, Material, SourceType,
};
use crate::plugins::{PluginError, Registry, Tenant};
use crate::store::{Store, StoreError};
use crate::tenancy::{MAX_DESCRIPTION_LEN, ServiceContext, validate_name};
use crate::{Error, Result, timestamp};

/// The largest PEM key accepted, in bytes.
pub const MAX_PEM_LEN: usize = 64 * 1024;
/// The largest keystore accepted, in bytes (decoded).
pub const MAX_KEYSTORE_LEN: usize = 1024 * 1024;
pub const MAX_PASSWORD_LEN: usize = 1024;

const PUBLIC_LABELS: [&str; 2] = ["PUBLIC KEY", "RSA PUBLIC KEY"];
const PRIVATE_LABELS: [&str; 3] = ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"];

const JKS_MAGIC: [u8; 4] = [0xFE, 0xED, 0xFE, 0xED];

#[derive(Debug)]
pub struct UploadKey {
    pub name: String,
    pub description: Option<String>,
    /// A public or a private key.
    pub pem: SecretString,
}

pub struct UploadKeystore {
    pub name: String,
    pub description: Option<String>,
    pub format: String,
    /// Base64 (standard alphabet) of the keystore file.
    pub content: String,
    pub password: String,
}

impl std::fmt::Debug for UploadKeystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "UploadKeystore({}, {}, [secret elided])",
            self.name, self.format
        )
    }
}

/// A keystore opened for a JWK source: its bytes and password.
pub struct OpenedKeystore {
    pub format: KeystoreFormat,
    pub content: Vec<u8>,
    pub password: String,
}

impl std::fmt::Debug for OpenedKeystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpenedKeystore({:?}, [secret elided])", self.format)
    }
}

pub struct KeyMaterial {
    context: ServiceContext,
    master: Arc<MasterKey>,
    /// The keystore source plugin reads a keystore's entries at upload.
    plugins: Arc<Registry>,
}

/// The jwk-source plugin that reads keystores.
const KEYSTORE_SOURCE: &str = "jwk-keystore";

impl KeyMaterial {
    pub fn new(context: ServiceContext, master: Arc<MasterKey>, plugins: Arc<Registry>) -> Self {
        Self {
            context,
            master,
            plugins,
        }
    }

    async fn environment(&self, caller: &Caller, project: &str, env: &str) -> Result<Environment> {
        self.context
            .tenancy
            .get_environment(caller, project, env)
            .await
    }

    /// An environment's material of one kind.
    pub async fn list<T: Kept>(
        &self,
        caller: &Caller,
        project: &str,
        env: &str,
    ) -> Result<Vec<Stored<T>>> {
        let environment = self.environment(caller, project, env).await?;
        Ok(T::list(&self.context.store, &environment.id).await?)
    }

    pub async fn get<T: Kept>(
        &self,
        caller: &Caller,
        project: &str,
        env: &str,
        name: &str,
    ) -> Result<Stored<T>> {
        let environment = self.environment(caller, project, env).await?;
        self.find(&environment, name).await
    }

    /// Material by name in an environment already resolved for the caller.
    async fn find<T: Kept>(&self, environment: &Environment, name: &str) -> Result<Stored<T>> {
        T::get(&self.context.store, &environment.id, name)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "{} '{name}' in environment '{}'",
                    T::NOUN,
                    environment.name
                ))
            })
    }

    pub async fn delete<T: Kept>(
        &self,
        caller: &Caller,
        project: &str,
        env: &str,
        name: &str,
    ) -> Result<()> {
        let environment = self.environment(caller, project, env).await?;
        let stored = self.find::<T>(&environment, name).await?;
        T::delete(&self.context.store, &environment.id, &stored.id).await?;
        let action = format!("key_material.{}_delete", T::NOUN);
        self.record(caller, &action, Severity::High, &stored, &environment)
            .await
    }

    /// New material in `environment`, before it is stored.
    fn placed<T>(
        caller: &Caller,
        environment: &Environment,
        name: String,
        description: Option<String>,
        material: T,
    ) -> Stored<T> {
        Stored {
            id: Uuid::new_v4().to_string(),
            organization_id: caller.organization_id().to_owned(),
            project_id: environment.project_id.clone(),
            environment_id: environment.id.clone(),
            name,
            description,
            material,
            created_at: timestamp::now(),
        }
    }

    /// Records an upload once its insert has run: a name already taken is a conflict.
    async fn uploaded<T: MaterialKind>(
        &self,
        caller: &Caller,
        environment: &Environment,
        stored: Stored<T>,
        inserted: std::result::Result<(), StoreError>,
    ) -> Result<Stored<T>> {
        inserted.on_conflict(|| name_conflict(T::NOUN, &stored.name, &environment.name))?;
        let action = format!("key_material.{}_upload", T::NOUN);
        self.record(caller, &action, Severity::Medium, &stored, environment)
            .await?;
        Ok(stored)
    }

    // ---- keys ----

    pub async fn upload_key(
        &self,
        caller: &Caller,
        project: &str,
        env: &str,
        upload: UploadKey,
    ) -> Result<StoredKey> {
        let environment = self.environment(caller, project, env).await?;
        let name = validate_name("name", upload.name)?;
        let description = validate_description(upload.description)?;
        let (key_type, label, pem) = check_pem(upload.pem.expose())?;
        let material = PemKey {
            key_type,
            encoding: KeyEncoding::of_label(&label),
            public_pem: (key_type == KeyType::PublicKey).then(|| pem.clone()),
        };
        let key = Self::placed(caller, &environment, name, description, material);
        let sealed =
            (key_type == KeyType::PrivateKey).then(|| self.master.seal(&key.id, pem.as_bytes()));
        let inserted = self
            .context
            .store
            .stored_key_insert(key.clone(), sealed.map(|s| s.0))
            .await;
        self.uploaded(caller, &environment, key, inserted).await
    }

    /// The key's PEM, opened for a JWK source (private keys are unsealed here only).
    pub async fn open_key(
        &self,
        caller: &Caller,
        project: &str,
        env: &str,
        name: &str,
    ) -> Result<(KeyType, String)> {
        let key: StoredKey = self.get(caller, project, env, name).await?;
        if let Some(pem) = key.material.public_pem {
            return Ok((KeyType::PublicKey, pem));
        }
        let sealed = self
            .context
            .store
            .stored_key_sealed(&key.id)
            .await?
            .ok_or_else(|| {
                Error::internal(anyhow::anyhow!("stored key {} has no content", key.id))
            })?;
        let pem = self
            .master
            .open(&key.id, &Sealed(sealed))
            .map_err(Error::internal)?;
        let pem = String::from_utf8(pem).map_err(Error::internal)?;
        Ok((KeyType::PrivateKey, pem))
    }

    // ---- keystores ----

    pub async fn upload_keystore(
        &self,
        caller: &Caller,
        project: &str,
        env: &str,
        upload: UploadKeystore,
    ) -> Result<StoredKeystore> {
        let environment = self.environment(caller, project, env).await?;
        let name = validate_name("name", upload.name)?;
        let description = validate_description(upload.description)?;
        let format = KeystoreFormat::parse(&upload.format).ok_or_else(|| {
            Error::bad_request(
                "format",
                format!(
                    "'{}' is not a keystore format; use PKCS12 or JKS",
                    upload.format
                ),
            )
        })?;
        let content = check_keystore(format, &upload.content)?;
        if upload.password.is_empty() || upload.password.chars().count() > MAX_PASSWORD_LEN {
            return Err(Error::bad_request(
                "password",
                format!("required, at most {MAX_PASSWORD_LEN} characters"),
            ));
        }
        let aliases = self
            .keystore_aliases(caller, &environment, format, &content, &upload.password)
            .await?;
        let material = KeystoreFile {
            format,
            size_bytes: u64::try_from(content.len()).unwrap_or(u64::MAX),
            aliases,
        };
        let keystore = Self::placed(caller, &environment, name, description, material);
        let sealed_content = self.master.seal(&keystore.id, &content);
        let sealed_password = self
            .master
            .seal(&password_record(&keystore.id), upload.password.as_bytes());
        let inserted = self
            .context
            .store
            .keystore_insert(keystore.clone(), sealed_content.0, sealed_password.0)
            .await;
        self.uploaded(caller, &environment, keystore, inserted)
            .await
    }

    /// Opens the keystore with its password through the keystore source plugin and
    /// lists its aliases: a wrong password or a damaged file is refused at upload.
    /// Without that plugin configured, the keystore is kept unread (no aliases).
    async fn keystore_aliases(
        &self,
        caller: &Caller,
        environment: &Environment,
        format: KeystoreFormat,
        content: &[u8],
        password: &str,
    ) -> Result<Vec<String>> {
        let Some(source) = self.plugins.jwk_source(KEYSTORE_SOURCE) else {
            return Ok(Vec::new());
        };
        let request = JwkRequest {
            tenant: Tenant {
                organization_id: caller.organization_id().to_owned(),
                project_id: Some(environment.project_id.clone()),
            },
            source_type: SourceType::Keystore,
            material: Material::Keystore(Keystore {
                format: match format {
                    KeystoreFormat::Pkcs12 => WitKeystoreFormat::Pkcs12,
                    KeystoreFormat::Jks => WitKeystoreFormat::Jks,
                },
                data: content.to_vec(),
                password: password.to_owned(),
                alias: None,
            }),
            kid: None,
        };
        let jwks = source.load(&request).await.map_err(|err| match err {
            PluginError::Invalid { message, .. } => Error::bad_request(
                "content",
                format!("the keystore could not be opened: {message}"),
            ),
            other => Error::from(other),
        })?;
        let mut aliases: Vec<String> = jwks
            .iter()
            .filter_map(|jwk| serde_json::from_str::<serde_json::Value>(jwk).ok())
            .filter_map(|jwk| jwk["kid"].as_str().map(str::to_owned))
            .collect();
        aliases.sort_unstable();
        Ok(aliases)
    }

    /// A keystore's bytes and password, opened for a JWK source.
    pub async fn open_keystore(
        &self,
        caller: &Caller,
        project: &str,
        env: &str,
        name: &str,
    ) -> Result<OpenedKeystore> {
        let keystore: StoredKeystore = self.get(caller, project, env, name).await?;
        let (content, password) = self
            .context
            .store
            .keystore_sealed(&keystore.id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("keystore '{name}'")))?;
        let content = self
            .master
            .open(&keystore.id, &Sealed(content))
            .map_err(Error::internal)?;
        let password = self
            .master
            .open(&password_record(&keystore.id), &Sealed(password))
            .map_err(Error::internal)?;
        Ok(OpenedKeystore {
            format: keystore.material.format,
            content,
            password: String::from_utf8(password).map_err(Error::internal)?,
        })
    }

    async fn record<T>(
        &self,
        caller: &Caller,
        action: &str,
        severity: Severity,
        stored: &Stored<T>,
        environment: &Environment,
    ) -> Result<()> {
        let details = json!({
            "name": stored.name, "projectId": environment.project_id,
            "environment": environment.name,
        });
        self.context
            .audit
            .record(caller.success(action, &stored.id, severity, Some(details)))
            .await
    }
}

/// The store's calls for one kind of key material.
pub trait Kept: MaterialKind + Sized + Send + Sync {
    fn list(
        store: &Store,
        environment_id: &str,
    ) -> impl Future<Output = StoreResult<Vec<Stored<Self>>>> + Send;
    fn get(
        store: &Store,
        environment_id: &str,
        name: &str,
    ) -> impl Future<Output = StoreResult<Option<Stored<Self>>>> + Send;
    fn delete(
        store: &Store,
        environment_id: &str,
        id: &str,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
}

type StoreResult<T> = std::result::Result<T, StoreError>;

impl Kept for PemKey {
    fn list(
        store: &Store,
        environment_id: &str,
    ) -> impl Future<Output = StoreResult<Vec<StoredKey>>> + Send {
        store.stored_key_list(environment_id)
    }
    fn get(
        store: &Store,
        environment_id: &str,
        name: &str,
    ) -> impl Future<Output = StoreResult<Option<StoredKey>>> + Send {
        store.stored_key_get(environment_id, name)
    }
    fn delete(
        store: &Store,
        environment_id: &str,
        id: &str,
    ) -> impl Future<Output = StoreResult<bool>> + Send {
        store.stored_key_delete(environment_id, id)
    }
}

impl Kept for KeystoreFile {
    fn list(
        store: &Store,
        environment_id: &str,
    ) -> impl Future<Output = StoreResult<Vec<StoredKeystore>>> + Send {
        store.keystore_list(environment_id)
    }
    fn get(
        store: &Store,
        environment_id: &str,
        name: &str,
    ) -> impl Future<Output = StoreResult<Option<StoredKeystore>>> + Send {
        store.keystore_get(environment_id, name)
    }
    fn delete(
        store: &Store,
        environment_id: &str,
        id: &str,
    ) -> impl Future<Output = StoreResult<bool>> + Send {
        store.keystore_delete(environment_id, id)
    }
}

/// The record id a keystore's password is sealed under: distinct from the content's, so
/// the two ciphertexts cannot be swapped.
fn password_record(id: &str) -> String {
    format!("{id}:password")
}

fn validate_description(text: Option<String>) -> Result<Option<String>> {
    match text {
        Some(t) if t.chars().count() > MAX_DESCRIPTION_LEN => Err(Error::bad_request(
            "description",
            format!("at most {MAX_DESCRIPTION_LEN} characters"),
        )),
        other => Ok(other),
    }
}

fn name_conflict(kind: &str, name: &str, environment: &str) -> Error {
    Error::Conflict(format!(
        "a {kind} named '{name}' exists in environment '{environment}'"
    ))
}

/// Checks that `text` is exactly one PEM block with a key label and a base64 body.
/// Returns the key type, the label and the PEM, trimmed, with one final newline.
fn check_pem(text: &str) -> Result<(KeyType, String, String)> {
    let bad = |message: String| Error::bad_request("pem", message);
    if text.len() > MAX_PEM_LEN {
        return Err(bad(format!("larger than {MAX_PEM_LEN} bytes")));
    }
    let text = text.trim();
    let label = text
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.split_once("-----"))
        .map(|(label, _)| label.to_owned())
        .ok_or_else(|| bad("not PEM: expected '-----BEGIN ...-----'".into()))?;
    let key_type = if PUBLIC_LABELS.contains(&label.as_str()) {
        KeyType::PublicKey
    } else if PRIVATE_LABELS.contains(&label.as_str()) {
        KeyType::PrivateKey
    } else if label == "ENCRYPTED PRIVATE KEY" {
        return Err(bad(
            "an encrypted private key: upload it unencrypted (it is \
                        encrypted at rest), or as a keystore with its password"
                .into(),
        ));
    } else if label == "CERTIFICATE" {
        return Err(bad(
            "a certificate, not a key: certificates come from the certificate store".into(),
        ));
    } else {
        let known = [PUBLIC_LABELS.as_slice(), PRIVATE_LABELS.as_slice()].concat();
        return Err(bad(format!(
            "'{label}' is not a key label; expected one of {}",
            known.join(", ")
        )));
    };
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = text
        .strip_prefix(&begin)
        .and_then(|rest| rest.strip_suffix(&end))
        .ok_or_else(|| {
            bad(format!(
                "expected exactly one PEM block ending with '{end}'"
            ))
        })?;
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD
        .decode(&compact)
        .map_err(|_| bad("the PEM body is not valid base64".into()))?;
    if der.is_empty() {
        return Err(bad("the PEM body is empty".into()));
    }
    Ok((key_type, label, format!("{text}\n")))
}

/// Decodes a keystore and checks its magic bytes (a DER SEQUENCE for PKCS#12, FEEDFEED
/// for JKS).
fn check_keystore(format: KeystoreFormat, content: &str) -> Result<Vec<u8>> {
    let compact: String = content
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = STANDARD
        .decode(&compact)
        .map_err(|_| Error::bad_request("content", "not valid base64"))?;
    if bytes.is_empty() || bytes.len() > MAX_KEYSTORE_LEN {
        return Err(Error::bad_request(
            "content",
            format!("a keystore must be 1 to {MAX_KEYSTORE_LEN} bytes"),
        ));
    }
    let looks_right = match format {
        KeystoreFormat::Pkcs12 => bytes.first() == Some(&0x30),
        KeystoreFormat::Jks => bytes.starts_with(&JKS_MAGIC),
    };
    if !looks_right {
        return Err(Error::bad_request(
            "content",
            format!("this is not a {} keystore", format.as_str()),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";

    #[test]
    fn pem_envelopes() {
        let (kind, label, pem) = check_pem(PUBLIC).unwrap();
        assert_eq!((kind, label.as_str()), (KeyType::PublicKey, "PUBLIC KEY"));
        assert_eq!(pem, PUBLIC);
        let private = PUBLIC.replace("PUBLIC KEY", "PRIVATE KEY");
        assert_eq!(check_pem(&private).unwrap().0, KeyType::PrivateKey);
        for bad in [
            "hello",
            &PUBLIC.replace("PUBLIC KEY", "CERTIFICATE"),
            &PUBLIC.replace("PUBLIC KEY", "ENCRYPTED PRIVATE KEY"),
            &PUBLIC.replace("MCow", "!!!!"),
            &format!("{PUBLIC}{PUBLIC}"),
            "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----",
        ] {
            let err = check_pem(bad).unwrap_err();
            assert!(err.to_string().starts_with("pem:"), "{bad}: {err}");
        }
    }

    #[test]
    fn keystore_magic() {
        let jks = STANDARD.encode([0xFE, 0xED, 0xFE, 0xED, 0]);
        assert!(check_keystore(KeystoreFormat::Jks, &jks).is_ok());
        let p12 = STANDARD.encode([0x30, 0x82, 0]);
        assert!(check_keystore(KeystoreFormat::Pkcs12, &p12).is_ok());
        assert!(check_keystore(KeystoreFormat::Jks, &p12).is_err());
        assert!(check_keystore(KeystoreFormat::Pkcs12, "***").is_err());
        assert!(check_keystore(KeystoreFormat::Pkcs12, "").is_err());
    }
}

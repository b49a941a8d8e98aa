//! JWT signing keys: generation, rotation, deletion, signing and verification with keys
//! whose private half never leaves the platform, and each project's public JWKS.
//!
//! A key belongs to a project (an "account" in the JWT Keys API). Its private key is a
//! JWK sealed under the master key with the key's id as associated data; it is opened
//! only to sign. Nothing here knows HTTP.

pub mod algorithm;
pub mod jwks;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use josekit::jwk::Jwk;
use josekit::jws::JwsHeader;
use josekit::jwt::{self, JwtPayload, JwtPayloadValidator};
use serde_json::{Map, Value, json};
use uuid::Uuid;

pub use algorithm::{Algorithm, DEFAULT_RSA_KEY_SIZE, PrivateJwk, RSA_KEY_SIZES};
pub use jwks::{JwksCache, JwksDocument};

use crate::audit::Severity;
use crate::auth::Caller;
use crate::crypto::{MasterKey, Sealed, SecretString};
use crate::error::OnConflict;
use crate::model::{JwtKey, Project};
use crate::store::Scope;
use crate::tenancy::{DEFAULT_PROJECT, ServiceContext};
use crate::webhooks::{self, Event, EventKind};
use crate::{Error, Result, timestamp};

pub const MAX_NAME_LEN: usize = 128;
/// The longest lifetime `expiresIn` may give a token: ten years.
pub const MAX_EXPIRES_IN_SECS: i64 = 10 * 365 * 24 * 3600;

pub struct JwtKeys {
    context: ServiceContext,
    master: Arc<MasterKey>,
    jwks: JwksCache,
    /// Serializes JWKS reloads so that the last reload always holds the newest keys.
    reload: tokio::sync::Mutex<()>,
}

/// A key to generate.
#[derive(Debug, Default)]
pub struct GenerateKey {
    pub project_id: Option<String>,
    pub name: String,
    pub algorithm: String,
    pub key_size: Option<i64>,
}

/// Claims to sign, with the `iat`/`exp` helpers.
#[derive(Debug, Default)]
pub struct SignRequest {
    pub claims: Map<String, Value>,
    /// Sets `exp` this many seconds after now.
    pub expires_in: Option<i64>,
}

#[derive(Debug)]
pub struct Signed {
    /// A bearer token for whoever trusts this key.
    pub token: SecretString,
    pub kid: String,
    pub algorithm: &'static str,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
}

#[derive(Debug)]
pub struct Verification {
    pub valid: bool,
    /// Why the token is not valid.
    pub reason: Option<String>,
    pub header: Option<Value>,
    pub claims: Option<Value>,
}

impl Verification {
    fn invalid(reason: impl Into<String>) -> Self {
        Self {
            valid: false,
            reason: Some(reason.into()),
            header: None,
            claims: None,
        }
    }
}

impl JwtKeys {
    pub fn new(context: ServiceContext, master: Arc<MasterKey>, rollover: Duration) -> Self {
        Self {
            context,
            master,
            jwks: JwksCache::new(rollover),
            reload: tokio::sync::Mutex::new(()),
        }
    }

    /// Loads every project's JWKS into memory (at start-up).
    pub async fn load_jwks(&self) -> Result<()> {
        let _guard = self.reload.lock().await;
        let keys = self.context.store.jwt_key_list_all().await?;
        self.jwks.load_all(&keys);
        Ok(())
    }

    /// The project a request works in: `project_id` when given, else the caller's own
    /// project for a project-scoped key, else the organization's `default` project.
    pub async fn resolve_project(
        &self,
        caller: &Caller,
        project_id: Option<&str>,
    ) -> Result<Project> {
        match (project_id, caller.principal.project_id.as_deref()) {
            (Some(id), _) | (None, Some(id)) => self.context.tenancy.get_project(caller, id).await,
            (None, None) => self
                .context
                .tenancy
                .get_project_by_name(caller, DEFAULT_PROJECT)
                .await
                .map_err(|_| {
                    Error::bad_request(
                        "projectId",
                        format!(
                            "required: this organization has no project named '{DEFAULT_PROJECT}'"
                        ),
                    )
                }),
        }
    }

    pub async fn list(&self, caller: &Caller, project_id: Option<&str>) -> Result<Vec<JwtKey>> {
        let project = self.resolve_project(caller, project_id).await?;
        Ok(self.context.store.jwt_key_list(&project.id).await?)
    }

    /// A key the caller may see; another tenant's key is "not found".
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<JwtKey> {
        self.context
            .store
            .jwt_key_get(caller.scope(), id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    pub async fn generate(&self, caller: &Caller, request: GenerateKey) -> Result<JwtKey> {
        let name = validate_name(request.name)?;
        let algorithm = Algorithm::parse(&request.algorithm).ok_or_else(|| {
            Error::bad_request(
                "algorithm",
                format!(
                    "'{}' is not supported; use one of {}",
                    request.algorithm,
                    Algorithm::ALL.map(Algorithm::name).join(", ")
                ),
            )
        })?;
        let rsa_bits = rsa_key_size(algorithm, request.key_size)?;
        let project = self
            .resolve_project(caller, request.project_id.as_deref())
            .await?;
        let (key, sealed) = self
            .new_key(caller, &project.id, name, algorithm, rsa_bits)
            .await?;
        self.context
            .store
            .jwt_key_insert(key.clone(), sealed.0)
            .await
            .on_conflict(|| name_conflict(&key.name))?;
        self.reload_jwks(&project.id).await?;
        self.record(caller, "jwt_key.generate", Severity::Medium, &key)
            .await?;
        Ok(key)
    }

    /// A new key with the same name and algorithm; the old one is deprecated, stays
    /// verifiable, and stays in the JWKS for the rollover window.
    pub async fn rotate(&self, caller: &Caller, id: &str) -> Result<JwtKey> {
        let old = self.get(caller, id).await?;
        if old.is_deprecated() {
            return Err(Error::Conflict(deprecated_text(&old, "rotate")));
        }
        let rsa_bits = old.key_size.unwrap_or(DEFAULT_RSA_KEY_SIZE);
        let (key, sealed) = self
            .new_key(
                caller,
                &old.project_id,
                old.name.clone(),
                old.algorithm,
                rsa_bits,
            )
            .await?;
        // The rotation, its audit event and its webhook event commit together.
        let deprecated_at = timestamp::now();
        let audit = caller
            .success(
                "jwt_key.rotate",
                &old.id,
                Severity::Medium,
                Some(json!({
                    "name": key.name, "algorithm": key.algorithm.name(), "projectId": key.project_id,
                    "oldKid": old.kid, "newId": key.id, "newKid": key.kid,
                })),
            )
            .record();
        let event = Event::new(
            EventKind::KeyRotated,
            caller.organization_id(),
            Some(&key.project_id),
            json!({
                "keyId": key.id, "kid": key.kid, "name": key.name,
                "algorithm": key.algorithm.name(), "projectId": key.project_id,
                "previousKeyId": old.id, "previousKid": old.kid,
                "deprecatedAt": timestamp::format(deprecated_at),
            }),
        );
        let old_project = old.project_id.clone();
        let key = self
            .context
            .store
            .transaction(move |tx| {
                // The old key was read inside the caller's scope.
                let scope = Scope::project(&old.organization_id, &old.project_id);
                let rotated = tx
                    .jwt_key_rotate(scope, &old.id, &key, &sealed.0, deprecated_at)
                    .on_conflict(|| name_conflict(&key.name))?;
                if !rotated {
                    return Err(Error::Conflict(format!(
                        "JWT key '{}' was rotated or deleted meanwhile",
                        old.id
                    )));
                }
                tx.audit_insert(&audit)?;
                webhooks::emit(tx, &event)?;
                Ok(key)
            })
            .await?;
        self.reload_jwks(&old_project).await?;
        Ok(key)
    }

    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<()> {
        let key = self.get(caller, id).await?;
        if !self
            .context
            .store
            .jwt_key_delete(caller.scope(), &key.id)
            .await?
        {
            return Err(not_found(id));
        }
        self.reload_jwks(&key.project_id).await?;
        self.record(caller, "jwt_key.delete", Severity::High, &key)
            .await
    }

    pub async fn sign(&self, caller: &Caller, id: &str, request: SignRequest) -> Result<Signed> {
        let key = self.get(caller, id).await?;
        if key.is_deprecated() {
            return Err(Error::Conflict(deprecated_text(&key, "sign with")));
        }
        let algorithm = key.algorithm;
        let mut claims = request.claims;
        let now = unix_now();
        if !claims.contains_key("iat") {
            claims.insert("iat".into(), now.into());
        }
        if let Some(secs) = request.expires_in {
            if !(1..=MAX_EXPIRES_IN_SECS).contains(&secs) {
                return Err(Error::bad_request(
                    "expiresIn",
                    format!("must be between 1 and {MAX_EXPIRES_IN_SECS} seconds"),
                ));
            }
            if claims.contains_key("exp") {
                return Err(Error::bad_request(
                    "expiresIn",
                    "give either expiresIn or an 'exp' claim, not both",
                ));
            }
            claims.insert("exp".into(), (now + secs).into());
        }
        let issued_at = claims.get("iat").and_then(Value::as_i64).unwrap_or(now);
        let payload = JwtPayload::from_map(claims)
            .map_err(|e| Error::bad_request("claims", jose_text(&e)))?;
        let expires_at = payload
            .expires_at()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_secs()).ok());

        let sealed = self
            .context
            .store
            .jwt_key_sealed_private(caller.scope(), &key.id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let opened = self
            .master
            .open(&key.id, &Sealed(sealed))
            .map_err(Error::internal)?;
        let private = PrivateJwk::from_bytes(&opened).map_err(Error::internal)?;
        let signer = algorithm.signer(&private).map_err(Error::internal)?;
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        header.set_key_id(&key.kid);
        let token =
            jwt::encode_with_signer(&payload, &header, signer.as_ref()).map_err(Error::internal)?;
        Ok(Signed {
            token: token.into(),
            kid: key.kid,
            algorithm: algorithm.name(),
            issued_at,
            expires_at,
        })
    }

    /// Checks a token's signature against this key (deprecated keys included) and its
    /// `exp`/`nbf` against the clock.
    pub async fn verify(&self, caller: &Caller, id: &str, token: &str) -> Result<Verification> {
        let key = self.get(caller, id).await?;
        let jwk = Jwk::from_bytes(key.public_jwk.as_bytes()).map_err(Error::internal)?;
        let verifier = key.algorithm.verifier(&jwk).map_err(Error::internal)?;
        let (payload, header) = match jwt::decode_with_verifier(token.trim(), verifier.as_ref()) {
            Ok(decoded) => decoded,
            Err(err) => return Ok(Verification::invalid(jose_text(&err))),
        };
        if let Some(kid) = header.key_id()
            && kid != key.kid
        {
            return Ok(Verification::invalid(format!(
                "the token names key '{kid}', not this key ('{}')",
                key.kid
            )));
        }
        let mut validator = JwtPayloadValidator::new();
        validator.set_base_time(SystemTime::now());
        let reason = validator.validate(&payload).err().map(|e| jose_text(&e));
        Ok(Verification {
            valid: reason.is_none(),
            reason,
            header: Some(Value::Object(header.claims_set().clone())),
            claims: Some(Value::Object(payload.claims_set().clone())),
        })
    }

    /// A project's public JWKS: from memory; a project not yet loaded (created since
    /// start-up, no keys yet) is looked up once. Unknown projects are "not found".
    pub async fn jwks(&self, project_id: &str) -> Result<JwksDocument> {
        let now = timestamp::now();
        if let Some(document) = self.jwks.get(project_id, now) {
            return Ok(document);
        }
        let plausible = !project_id.is_empty()
            && project_id.len() <= 64
            && project_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !plausible || !self.context.store.project_exists(project_id).await? {
            return Err(Error::NotFound(format!("account '{project_id}'")));
        }
        self.reload_jwks(project_id).await?;
        self.jwks
            .get(project_id, now)
            .ok_or_else(|| Error::NotFound(format!("account '{project_id}'")))
    }

    /// Drops a deleted project's JWKS.
    pub fn forget_project(&self, project_id: &str) {
        self.jwks.remove_project(project_id);
    }

    async fn reload_jwks(&self, project_id: &str) -> Result<()> {
        let _guard = self.reload.lock().await;
        let keys = self.context.store.jwt_key_list(project_id).await?;
        self.jwks.set_project(project_id, &keys);
        Ok(())
    }

    /// Generates a key (off the async runtime: RSA 4096 takes a while) and seals it.
    async fn new_key(
        &self,
        caller: &Caller,
        project_id: &str,
        name: String,
        algorithm: Algorithm,
        rsa_bits: u32,
    ) -> Result<(JwtKey, Sealed)> {
        let generated = tokio::task::spawn_blocking(move || algorithm.generate(rsa_bits))
            .await
            .map_err(Error::internal)?
            .map_err(Error::internal)?;
        let id = Uuid::new_v4().to_string();
        let sealed = self.master.seal(&id, &generated.private_jwk.to_bytes());
        let key = JwtKey {
            id,
            organization_id: caller.organization_id().to_owned(),
            project_id: project_id.to_owned(),
            name,
            algorithm,
            key_size: algorithm.is_rsa().then_some(rsa_bits),
            kid: generated.kid,
            public_jwk: generated.public_jwk.to_string(),
            public_pem: generated.public_pem,
            deprecated_at: None,
            replaced_by: None,
            created_at: timestamp::now(),
        };
        Ok((key, sealed))
    }

    async fn record(
        &self,
        caller: &Caller,
        action: &str,
        severity: Severity,
        key: &JwtKey,
    ) -> Result<()> {
        let details = json!({
            "name": key.name, "algorithm": key.algorithm.name(), "kid": key.kid,
            "projectId": key.project_id,
        });
        self.context
            .audit
            .record(caller.success(action, &key.id, severity, Some(details)))
            .await
    }
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("JWT key '{id}'"))
}

fn deprecated_text(key: &JwtKey, verb: &str) -> String {
    let successor = key
        .replaced_by
        .as_deref()
        .map(|s| format!("; use its replacement '{s}'"))
        .unwrap_or_default();
    format!(
        "JWT key '{}' is deprecated (rotated); cannot {verb} it{successor}",
        key.id
    )
}

fn name_conflict(name: &str) -> Error {
    Error::Conflict(format!(
        "an active JWT key named '{name}' exists in this project; rotate it or choose another name"
    ))
}

fn validate_name(name: String) -> Result<String> {
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control)
    {
        return Err(Error::bad_request(
            "name",
            format!("must be 1 to {MAX_NAME_LEN} characters, without control characters"),
        ));
    }
    Ok(name)
}

/// The RSA modulus length: 2048 (default) or 4096; ignored for other key types.
fn rsa_key_size(algorithm: Algorithm, key_size: Option<i64>) -> Result<u32> {
    if !algorithm.is_rsa() {
        return Ok(DEFAULT_RSA_KEY_SIZE);
    }
    match key_size {
        None => Ok(DEFAULT_RSA_KEY_SIZE),
        Some(bits) => u32::try_from(bits)
            .ok()
            .filter(|b| RSA_KEY_SIZES.contains(b))
            .ok_or_else(|| {
                Error::bad_request(
                    "keySize",
                    format!("{bits} is not supported for RSA; use 2048 or 4096"),
                )
            }),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or_default()
}

/// josekit's message without its error-kind prefix noise.
fn jose_text(err: &josekit::JoseError) -> String {
    let text = err.to_string();
    match std::error::Error::source(err) {
        Some(source) if !text.contains(&source.to_string()) => format!("{text}: {source}"),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_sizes() {
        assert_eq!(rsa_key_size(Algorithm::Rs256, None).unwrap(), 2048);
        assert_eq!(rsa_key_size(Algorithm::Ps384, Some(4096)).unwrap(), 4096);
        let err = rsa_key_size(Algorithm::Rs256, Some(3072)).unwrap_err();
        assert!(err.to_string().starts_with("keySize:"), "{err}");
        assert!(rsa_key_size(Algorithm::Es256, Some(3072)).is_ok());
    }

    #[test]
    fn names() {
        assert_eq!(validate_name(" prod key ".into()).unwrap(), "prod key");
        assert!(validate_name("".into()).is_err());
        assert!(validate_name("a\nb".into()).is_err());
        assert!(validate_name("x".repeat(129)).is_err());
    }
}

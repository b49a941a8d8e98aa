//! API keys: creation (shown once), keyed-hash lookup, update and revocation.
//!
//! A key has a public identifier (`pk_...`, listed and used in paths) and a secret
//! (`ks_...`, shown once). Only HMAC-SHA256(secret) under a key derived from the
//! master key is stored, so a stolen database does not yield usable keys.

use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use ipnet::IpNet;
use rand::RngCore;
use rand::rngs::OsRng;
use serde_json::json;
use sha2::Sha256;
use time::OffsetDateTime;

use super::permissions::{self, Permission, Role};
use super::tokens::{TokenSigner, looks_like_jwt};
use super::{Caller, Principal, client_ip};
use crate::audit::{AuditEvent, AuditLog, Outcome, Severity};
use crate::crypto::{MasterKey, SecretString};
use crate::error::OnConflict;
use crate::model::ApiKey;
use crate::store::{Scope, Store};
use crate::{Error, Result, timestamp};

pub const MAX_ALIAS_LEN: usize = 128;
pub const MAX_IPS: usize = 64;

pub struct ApiKeys {
    store: Store,
    audit: AuditLog,
    tokens: TokenSigner,
    /// Keyed once: each lookup clones it instead of repeating the key schedule.
    hash_mac: Hmac<Sha256>,
}

/// A new key's settings. Anything left out follows the creator.
#[derive(Debug, Default)]
pub struct CreateKey {
    pub alias: Option<String>,
    pub ips: Vec<String>,
    pub role: Option<String>,
    pub permissions: Option<Vec<String>>,
    pub project_id: Option<String>,
    pub organization_id: Option<String>,
    pub expires: Option<String>,
}

#[derive(Debug, Default)]
pub struct UpdateKey {
    /// `Some(None)` clears the alias.
    pub alias: Option<Option<String>>,
    pub ips: Option<Vec<String>>,
    pub expires: Option<Option<String>>,
}

pub struct CreatedKey {
    pub key: ApiKey,
    /// The secret, returned exactly once.
    pub secret: SecretString,
    pub jwt: SecretString,
    pub jwt_expires: SystemTime,
}

/// HMAC-SHA256 keyed with a 32-byte key. HMAC pads a key shorter than its 64-byte block
/// with zeros (RFC 2104, section 2), so keying with the padded block is the same MAC,
/// through a constructor that cannot fail.
fn hash_mac(key: &[u8; 32]) -> Hmac<Sha256> {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    <Hmac<Sha256> as KeyInit>::new(&block.into())
}

impl ApiKeys {
    pub fn new(store: Store, audit: AuditLog, tokens: TokenSigner, master: &MasterKey) -> Self {
        Self {
            store,
            audit,
            tokens,
            hash_mac: hash_mac(&master.derive("api-key-hash")),
        }
    }

    fn hash(&self, secret: &str) -> [u8; 32] {
        let mut mac = self.hash_mac.clone();
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Resolves a presented credential (an API key secret or a bearer token) to its key.
    pub async fn authenticate(&self, credential: &str) -> Result<Principal> {
        let invalid = || Error::Unauthorized("invalid, expired or revoked credentials".into());
        let key = if looks_like_jwt(credential) {
            let claims = self.tokens.verify(credential).ok_or_else(invalid)?;
            self.store.api_key_by_public_key(&claims.public_key).await?
        } else {
            self.store.api_key_by_hash(&self.hash(credential)).await?
        };
        let key = key
            .filter(|key| key.is_usable(timestamp::now()))
            .ok_or_else(invalid)?;
        Ok(principal_of(key))
    }

    /// A fresh bearer token for the caller's own key.
    pub fn issue_token(&self, caller: &Caller) -> Result<(String, SystemTime)> {
        self.tokens
            .issue(&caller.principal.public_key)
            .map_err(Error::internal)
    }

    /// Creates the bootstrap admin key (secret = `token`) when no key exists yet.
    /// Returns the public key when one was created.
    pub async fn bootstrap(&self, organization_id: &str, token: &str) -> Result<Option<String>> {
        if self.store.api_key_count().await? > 0 {
            return Ok(None);
        }
        let key = ApiKey {
            public_key: new_public_key(),
            organization_id: organization_id.to_owned(),
            project_id: None,
            alias: Some("bootstrap admin".into()),
            ips: Vec::new(),
            role: Some(Role::Admin.name().into()),
            permissions: Role::Admin.grants(),
            platform_admin: true,
            created_at: timestamp::now(),
            expires_at: None,
            revoked_at: None,
        };
        self.store
            .api_key_insert(key.clone(), self.hash(token).to_vec())
            .await?;
        self.audit
            .record(AuditEvent {
                organization_id: Some(organization_id),
                actor: "system".into(),
                action: "api_key.bootstrap",
                target: Some(&key.public_key),
                severity: Severity::High,
                outcome: Outcome::Success,
                request_id: None,
                details: None,
            })
            .await?;
        Ok(Some(key.public_key))
    }

    /// Generates a secret for the bootstrap key when the operator gave none.
    pub fn generate_secret() -> String {
        new_secret()
    }

    pub async fn create(&self, caller: &Caller, request: CreateKey) -> Result<CreatedKey> {
        let me = &caller.principal;
        let organization_id = match request.organization_id {
            Some(org) if org != me.organization_id => {
                if !me.platform_admin {
                    return Err(Error::Forbidden {
                        permission: Permission::PlatformAdmin,
                    });
                }
                self.store
                    .organization_get(&org)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("organization '{org}'")))?;
                org
            }
            _ => me.organization_id.clone(),
        };
        let project_id = match (request.project_id, &me.project_id) {
            (Some(p), Some(mine)) if &p != mine => {
                return Err(Error::NotFound(format!("project '{p}'")));
            }
            (Some(p), _) => {
                self.store
                    .project_get(Scope::organization(&organization_id), &p)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("project '{p}'")))?;
                Some(p)
            }
            // A project-scoped key mints only keys of its own project.
            (None, mine) => mine.clone(),
        };
        let (role, granted) = match (request.role, request.permissions) {
            (Some(_), Some(_)) => {
                return Err(Error::bad_request(
                    "permissions",
                    "give either role or permissions, not both",
                ));
            }
            (Some(name), None) => {
                let role = Role::parse(&name).ok_or_else(|| {
                    Error::bad_request(
                        "role",
                        format!("'{name}' is not one of {}", Role::NAMES.join(", ")),
                    )
                })?;
                (Some(role.name().to_owned()), role.grants())
            }
            (None, Some(list)) => (None, validate_permissions(list)?),
            (None, None) => (me.role.clone(), me.permissions.clone()),
        };
        // No key may hold more than the key that creates it.
        if let Some(missing) = granted.iter().find(|p| !covers_pattern(&me.permissions, p)) {
            return Err(match Permission::parse(missing) {
                Some(permission) => Error::Forbidden { permission },
                // A pattern is no single permission; the refusal reads the same.
                None => Error::Denied(format!("missing permission '{missing}'")),
            });
        }
        let ips = validate_ips(request.ips)?;
        let expires_at = request
            .expires
            .map(|text| parse_expiry(&text))
            .transpose()?;
        let key = ApiKey {
            public_key: new_public_key(),
            organization_id,
            project_id,
            alias: validate_alias(request.alias)?,
            ips,
            role,
            permissions: granted,
            platform_admin: false,
            created_at: timestamp::now(),
            expires_at,
            revoked_at: None,
        };
        let secret = new_secret();
        self.store
            .api_key_insert(key.clone(), self.hash(&secret).to_vec())
            .await
            .on_conflict(|| Error::Conflict("key collision; retry".into()))?;
        let (jwt, jwt_expires) = self
            .tokens
            .issue(&key.public_key)
            .map_err(Error::internal)?;
        self.record(caller, "api_key.create", &key, Severity::High, Some(json!({
            "alias": key.alias, "role": key.role, "permissions": key.permissions, "project_id": key.project_id,
        })))
        .await?;
        Ok(CreatedKey {
            key,
            secret: secret.into(),
            jwt: jwt.into(),
            jwt_expires,
        })
    }

    /// The caller's unrevoked keys; a project-scoped caller sees its project's only.
    pub async fn list(&self, caller: &Caller, offset: i64, limit: i64) -> Result<Vec<ApiKey>> {
        Ok(self
            .store
            .api_key_list(caller.scope(), offset, limit)
            .await?)
    }

    async fn get_visible(&self, caller: &Caller, public_key: &str) -> Result<ApiKey> {
        self.store
            .api_key_get(caller.scope(), public_key)
            .await?
            .ok_or_else(|| Error::NotFound(format!("key '{public_key}'")))
    }

    pub async fn update(
        &self,
        caller: &Caller,
        public_key: &str,
        update: UpdateKey,
    ) -> Result<ApiKey> {
        let mut key = self.get_visible(caller, public_key).await?;
        if let Some(alias) = update.alias {
            key.alias = validate_alias(alias)?;
        }
        if let Some(ips) = update.ips {
            key.ips = validate_ips(ips)?;
        }
        if let Some(expires) = update.expires {
            key.expires_at = expires.map(|text| parse_expiry(&text)).transpose()?;
        }
        if !self.store.api_key_update(key.clone()).await? {
            return Err(Error::NotFound(format!("key '{public_key}'")));
        }
        self.record(
            caller,
            "api_key.update",
            &key,
            Severity::Medium,
            Some(json!({
                "alias": key.alias, "ips": key.ips,
                "expires": key.expires_at.map(timestamp::format),
            })),
        )
        .await?;
        Ok(key)
    }

    pub async fn revoke(&self, caller: &Caller, public_key: &str) -> Result<()> {
        let key = self.get_visible(caller, public_key).await?;
        if !self
            .store
            .api_key_revoke(caller.scope(), public_key, timestamp::now())
            .await?
        {
            return Err(Error::NotFound(format!("key '{public_key}'")));
        }
        self.record(caller, "api_key.revoke", &key, Severity::High, None)
            .await
    }

    async fn record(
        &self,
        caller: &Caller,
        action: &str,
        key: &ApiKey,
        severity: Severity,
        details: Option<serde_json::Value>,
    ) -> Result<()> {
        self.audit
            .record(AuditEvent {
                organization_id: Some(&key.organization_id),
                actor: caller.principal.actor(),
                action,
                target: Some(&key.public_key),
                severity,
                outcome: Outcome::Success,
                request_id: caller.request_id.as_deref(),
                details,
            })
            .await
    }
}

/// Whether the creator's grants cover a whole requested pattern (e.g. `keys:*`).
fn covers_pattern(granted: &[String], requested: &str) -> bool {
    if requested == permissions::ANY {
        return granted.iter().any(|g| g == permissions::ANY);
    }
    match requested.strip_suffix(":*") {
        Some(area) => Permission::grantable()
            .filter(|p| p.area() == area)
            .all(|p| permissions::covers(granted, p)),
        None => Permission::parse(requested).is_some_and(|p| permissions::covers(granted, p)),
    }
}

fn principal_of(key: ApiKey) -> Principal {
    Principal {
        allowed_ips: key
            .ips
            .iter()
            .filter_map(|entry| client_ip::parse_allow_entry(entry))
            .collect(),
        public_key: key.public_key,
        organization_id: key.organization_id,
        project_id: key.project_id,
        role: key.role,
        permissions: key.permissions,
        platform_admin: key.platform_admin,
    }
}

fn validate_alias(alias: Option<String>) -> Result<Option<String>> {
    match alias {
        Some(a) if a.chars().count() > MAX_ALIAS_LEN => Err(Error::bad_request(
            "alias",
            format!("at most {MAX_ALIAS_LEN} characters"),
        )),
        Some(a) if a.chars().any(char::is_control) => Err(Error::bad_request(
            "alias",
            "must not contain control characters",
        )),
        other => Ok(other),
    }
}

fn validate_ips(ips: Vec<String>) -> Result<Vec<String>> {
    if ips.len() > MAX_IPS {
        return Err(Error::bad_request(
            "ips",
            format!("at most {MAX_IPS} entries"),
        ));
    }
    ips.into_iter()
        .enumerate()
        .map(|(i, entry)| {
            client_ip::parse_allow_entry(&entry)
                .map(|net: IpNet| {
                    if net.prefix_len() == net.max_prefix_len() {
                        net.addr().to_string()
                    } else {
                        net.to_string()
                    }
                })
                .ok_or_else(|| {
                    Error::bad_request(
                        format!("ips[{i}]"),
                        format!("'{entry}' is not an IP address or CIDR block"),
                    )
                })
        })
        .collect()
}

fn validate_permissions(list: Vec<String>) -> Result<Vec<String>> {
    if list.is_empty() {
        return Err(Error::bad_request("permissions", "must not be empty"));
    }
    for (i, p) in list.iter().enumerate() {
        if !permissions::is_known_pattern(p) {
            return Err(Error::bad_request(
                format!("permissions[{i}]"),
                format!("'{p}' is not a known permission"),
            ));
        }
    }
    Ok(list)
}

fn parse_expiry(text: &str) -> Result<OffsetDateTime> {
    let at = timestamp::parse(text)
        .ok_or_else(|| Error::bad_request("expires", "must be an RFC 3339 timestamp"))?;
    if at <= OffsetDateTime::now_utc() {
        return Err(Error::bad_request("expires", "must be in the future"));
    }
    Ok(at)
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

fn new_public_key() -> String {
    format!("pk_{}", random_token(15))
}

fn new_secret() -> String {
    format!("ks_{}", random_token(32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_padded_key_gives_the_same_mac_as_the_key_itself() {
        let key = [7u8; 32];
        let mut padded = hash_mac(&key);
        let mut plain = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
        padded.update(b"ks_secret");
        plain.update(b"ks_secret");
        assert_eq!(
            padded.finalize().into_bytes(),
            plain.finalize().into_bytes()
        );
    }

    #[test]
    fn ips_are_normalised_and_errors_name_the_entry() {
        let ips = validate_ips(vec!["10.0.0.1".into(), "10.1.2.3/16".into()]).unwrap();
        assert_eq!(ips, vec!["10.0.0.1", "10.1.0.0/16"]);
        let err = validate_ips(vec!["10.0.0.1".into(), "nope".into()]).unwrap_err();
        assert!(err.to_string().starts_with("ips[1]:"), "{err}");
    }

    #[test]
    fn creator_bounds_patterns() {
        let granted = vec!["keys:read".to_owned()];
        assert!(covers_pattern(&granted, "keys:read"));
        assert!(!covers_pattern(&granted, "keys:*"));
        assert!(covers_pattern(&["keys:*".to_owned()], "keys:*"));
        assert!(!covers_pattern(&["keys:*".to_owned()], "*"));
    }
}

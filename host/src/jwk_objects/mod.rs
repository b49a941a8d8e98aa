//! JWK objects: named public JWKs per project, made from a source through the
//! jwk-source plugins and published in each environment's JWKS.
//!
//! The host resolves named material (certificates from the certificate store,
//! uploaded keys and keystores) to bytes, a plugin parses it and returns
//! public JWKs, and the rules of the object (required fields per source type,
//! the algorithm table per key type and use, unique names) are checked here.
//! Messages are the callers': they appear as-is in the API's 400 bodies.
//! Nothing here knows HTTP.

pub mod algorithm;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::{AuditEvent, Severity};
use crate::auth::Caller;
use crate::crypto::{SecretString, serialize_withheld};
use crate::error::OnConflict;
use crate::key_material::{KeyMaterial, KeyType, KeystoreFormat};
use crate::model::jwk_object::JwkSourceType;
use crate::model::{JwkObject, Project};
use crate::plugins::Registry;
use crate::plugins::jwk_source::{
    JwkRequest, Keystore, KeystoreFormat as WitKeystoreFormat, Material, Remote, SourceType,
};
use crate::tenancy::{MAX_DESCRIPTION_LEN, ServiceContext};
use crate::webhooks::{self, Event, EventKind};
use crate::{Error, Result, timestamp};

use algorithm::UseType;

pub const DEFAULT_CONNECT_TIMEOUT_MS: u32 = 5_000;
pub const DEFAULT_READ_TIMEOUT_MS: u32 = 10_000;
pub const DEFAULT_SIZE_LIMIT: u32 = 1_048_576;
/// Upper bounds of the URL options.
pub const MAX_CONNECT_TIMEOUT_MS: u32 = 60_000;
pub const MAX_READ_TIMEOUT_MS: u32 = 120_000;
pub const MAX_SIZE_LIMIT: u32 = 10 * 1_048_576;
pub const MAX_NAME_LEN: usize = 128;
pub const MAX_JWK_STR_LEN: usize = 1_048_576;

/// Members that only a private or symmetric key has; never published.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What a caller sends to create or update a JWK object (seed field names).
#[derive(Debug, Default, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwkInput {
    /// Unique in the project; cannot be changed.
    #[schema(example = "my-jwk")]
    pub name: Option<String>,
    pub description: Option<String>,
    /// `URL`, `COPY_PASTE`, `CERTIFICATE`, `PUBLIC_KEY`, `PRIVATE_KEY` or `KEYSTORE`.
    #[schema(example = "COPY_PASTE")]
    pub source_type: Option<String>,
    /// For `URL`: where the JWK or JWK Set is.
    pub url: Option<String>,
    /// Milliseconds; default 5000.
    pub url_option_connect_timeout: Option<u32>,
    /// Milliseconds; default 10000.
    pub url_option_read_timeout: Option<u32>,
    /// Bytes; default 1048576.
    pub url_option_size_limit: Option<u32>,
    /// For `COPY_PASTE`: a JWK or a JWK Set as JSON text.
    #[serde(serialize_with = "serialize_withheld")]
    #[schema(value_type = Option<String>)]
    pub jwk_str: Option<SecretString>,
    /// For `CERTIFICATE`: the certificate's id or common name.
    pub certificate_name: Option<String>,
    /// For `PUBLIC_KEY` and `PRIVATE_KEY`: an uploaded key's name.
    pub key_name: Option<String>,
    /// For `KEYSTORE`: an uploaded keystore's name.
    pub key_store_name: Option<String>,
    /// Selects a key from a JWK Set (`URL`, `COPY_PASTE`); names the key otherwise.
    pub kid: Option<String>,
    /// Where the certificate, key or keystore is.
    pub environment_name: Option<String>,
    /// For `KEYSTORE`: the entry to read.
    pub alias_name: Option<String>,
    /// `SIGNATURE` or `ENCRYPTION`.
    pub use_type: Option<String>,
    /// An algorithm valid for the key type and use, e.g. `RS256` (not `RSA`).
    pub algorithm: Option<String>,
}

/// A stored JWK object with the names of the environments whose JWKS has it.
#[derive(Debug, Clone)]
pub struct PublishedJwk {
    pub object: JwkObject,
    pub environments: Vec<String>,
}

/// One environment's publication outcome.
#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentResult {
    pub environment_name: String,
    pub success: bool,
    pub message: String,
}

/// The outcome of publishing an object in every environment of its project.
#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    pub success: bool,
    pub message: String,
    pub environment_results: Vec<EnvironmentResult>,
}

fn bad(message: impl Into<String>) -> Error {
    Error::BadRequest {
        field: None,
        message: message.into(),
    }
}

/// A source object that is not there: the reference API answers 400, naming it.
fn missing(what: &str, name: &str) -> Error {
    bad(format!("{what} (name: {name}) is not found!"))
}

/// Turns a lookup's "not found" into [`missing`]; other errors stay as they are.
fn missing_as_bad<'a>(what: &'a str, name: &'a str) -> impl FnOnce(Error) -> Error + 'a {
    move |err| match err {
        Error::NotFound(_) => missing(what, name),
        other => other,
    }
}

fn source_type(text: &str) -> Result<JwkSourceType> {
    if text == "GENERATE" {
        return Err(bad(
            "GENERATE source type is not supported here! Use the Generate JWK endpoint: \
             POST /api/keys/jwt/generate",
        ));
    }
    JwkSourceType::parse(text).ok_or_else(|| {
        bad(format!(
            "Source type ({text}) is not supported! Use one of URL, COPY_PASTE, CERTIFICATE, \
             PUBLIC_KEY, PRIVATE_KEY, KEYSTORE."
        ))
    })
}

/// The jwk-source plugin that reads each source type, and the type as plugins name it.
fn reader(source: JwkSourceType) -> (SourceType, &'static str) {
    match source {
        JwkSourceType::Url => (SourceType::Url, "jwk-url"),
        JwkSourceType::CopyPaste => (SourceType::CopyPaste, "copy-paste"),
        JwkSourceType::Certificate => (SourceType::Certificate, "jwk-certificate"),
        JwkSourceType::PublicKey => (SourceType::PublicKey, "jwk-key"),
        JwkSourceType::PrivateKey => (SourceType::PrivateKey, "jwk-key"),
        JwkSourceType::Keystore => (SourceType::Keystore, "jwk-keystore"),
    }
}

/// The source fields an object keeps: the checked input, as a JSON object.
fn source_fields(stored: &JwkInput) -> Result<Map<String, Value>> {
    match serde_json::to_value(stored).map_err(Error::internal)? {
        Value::Object(fields) => Ok(fields),
        _ => Err(Error::internal(anyhow::anyhow!(
            "JWK source fields are not a JSON object"
        ))),
    }
}

fn kid_of(jwk: &Map<String, Value>) -> String {
    jwk.get("kid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn present(value: &Option<String>) -> Option<&str> {
    nonblank(value.as_deref())
}

fn nonblank(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

fn required<'a>(value: &'a Option<String>, message: &str) -> Result<&'a str> {
    present(value).ok_or_else(|| bad(message))
}

fn bounded(value: Option<u32>, default: u32, max: u32, field: &str) -> Result<u32> {
    let value = value.unwrap_or(default);
    if value == 0 || value > max {
        return Err(bad(format!("{field} must be between 1 and {max}!")));
    }
    Ok(value)
}

/// RFC 7638 thumbprint of a public JWK, base64url.
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    // serde_json's map keeps keys sorted, which is the canonical order.
    let canonical: Map<String, Value> = members
        .iter()
        .map(|m| Some(((*m).to_owned(), jwk.get(*m)?.clone())))
        .collect::<Option<_>>()?;
    let text = serde_json::to_string(&canonical).ok()?;
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes())))
}

pub struct JwkObjects {
    context: ServiceContext,
    key_material: Arc<KeyMaterial>,
    plugins: Arc<Registry>,
}

impl JwkObjects {
    pub fn new(
        context: ServiceContext,
        key_material: Arc<KeyMaterial>,
        plugins: Arc<Registry>,
    ) -> Self {
        Self {
            context,
            key_material,
            plugins,
        }
    }

    /// The caller's project of that name: JWK objects are addressed by project name.
    async fn project(&self, caller: &Caller, name: &str) -> Result<Project> {
        self.context.tenancy.get_project_by_name(caller, name).await
    }

    pub async fn create(
        &self,
        caller: &Caller,
        project: &str,
        input: JwkInput,
    ) -> Result<(PublishedJwk, Deployment)> {
        let project = self.project(caller, project).await?;
        let name = check_name(&input)?;
        if self
            .context
            .store
            .jwk_object_get(&project.id, &name)
            .await?
            .is_some()
        {
            return Err(exists(&name));
        }
        let description = check_description(&input)?;
        let (source_type, jwk, source) = self.resolve(caller, &project, &input).await?;
        let now = timestamp::now();
        let object = JwkObject {
            id: Uuid::new_v4().to_string(),
            organization_id: project.organization_id.clone(),
            project_id: project.id.clone(),
            name: name.clone(),
            description,
            source_type,
            source: source_fields(&source)?,
            kid: kid_of(&jwk),
            jwk,
            created_at: now,
            updated_at: now,
        };
        // The object, its audit event and its webhook event commit together; publishing
        // in each environment follows.
        let audit = audit_event(caller, "jwk.created", &object).record();
        let event = Event::new(
            EventKind::JwkCreated,
            &object.organization_id,
            Some(&object.project_id),
            json!({
                "jwkId": object.id, "name": object.name, "projectId": object.project_id,
                "projectName": project.name, "sourceType": object.source_type.as_str(),
                "kid": object.kid, "jwk": object.jwk,
            }),
        );
        let object = self
            .context
            .store
            .transaction(move |tx| {
                tx.jwk_object_insert(&object)
                    .on_conflict(|| exists(&object.name))?;
                tx.audit_insert(&audit)?;
                webhooks::emit(tx, &event)?;
                Ok::<_, Error>(object)
            })
            .await?;
        let deployment = self.deploy(&project, &object.id).await?;
        Ok((self.published(object).await?, deployment))
    }

    /// Replaces an object's source (and so its JWK); the name stays.
    pub async fn update(
        &self,
        caller: &Caller,
        project: &str,
        name: Option<&str>,
        input: JwkInput,
    ) -> Result<(PublishedJwk, Deployment)> {
        let project = self.project(caller, project).await?;
        let body_name = present(&input.name).map(str::to_owned);
        let name = match (name, body_name) {
            (Some(path), Some(body)) if path != body => {
                return Err(bad("JWK name can not be changed!"));
            }
            (Some(path), _) => path.to_owned(),
            (None, Some(body)) => body,
            (None, None) => return Err(bad("JWK name can not be empty!")),
        };
        let existing = self.object_in(&project, &name).await?;
        let description = check_description(&input)?;
        let (source_type, jwk, source) = self.resolve(caller, &project, &input).await?;
        let object = JwkObject {
            description,
            source_type,
            source: source_fields(&source)?,
            kid: kid_of(&jwk),
            jwk,
            updated_at: timestamp::now(),
            ..existing
        };
        if !self.context.store.jwk_object_update(object.clone()).await? {
            return Err(not_found(&name));
        }
        let deployment = self.deploy(&project, &object.id).await?;
        self.record(caller, "jwk.updated", &object).await?;
        Ok((self.published(object).await?, deployment))
    }

    pub async fn list(&self, caller: &Caller, project: &str) -> Result<Vec<PublishedJwk>> {
        let project = self.project(caller, project).await?;
        let mut objects = Vec::new();
        for object in self.context.store.jwk_object_list(&project.id).await? {
            objects.push(self.published(object).await?);
        }
        Ok(objects)
    }

    pub async fn get(&self, caller: &Caller, project: &str, name: &str) -> Result<PublishedJwk> {
        let project = self.project(caller, project).await?;
        let object = self.object_in(&project, name).await?;
        self.published(object).await
    }

    /// An object by name in a project already resolved for the caller.
    async fn object_in(&self, project: &Project, name: &str) -> Result<JwkObject> {
        self.context
            .store
            .jwk_object_get(&project.id, name)
            .await?
            .ok_or_else(|| not_found(name))
    }

    /// Deletes an object; it leaves every environment's JWKS at once.
    pub async fn delete(&self, caller: &Caller, project: &str, name: &str) -> Result<()> {
        let project = self.project(caller, project).await?;
        let object = self.object_in(&project, name).await?;
        self.context.store.jwk_object_delete(&object.id).await?;
        self.record(caller, "jwk.deleted", &object).await
    }

    /// The public JWKs published in an environment: a JWK Set document. Public.
    pub async fn environment_jwks(&self, project_id: &str, env: &str) -> Result<Value> {
        let keys = self
            .context
            .store
            .environment_jwks(project_id, env)
            .await?
            .ok_or_else(|| Error::NotFound(format!("environment '{env}'")))?;
        Ok(json!({ "keys": keys }))
    }

    async fn published(&self, object: JwkObject) -> Result<PublishedJwk> {
        let environments = self
            .context
            .store
            .jwk_deployed_environments(&object.id)
            .await?;
        Ok(PublishedJwk {
            object,
            environments,
        })
    }

    /// Publishes an object in every environment of its project.
    async fn deploy(&self, project: &Project, jwk_id: &str) -> Result<Deployment> {
        let (environments, _) = self
            .context
            .store
            .environment_list(&project.id, 0, i64::MAX)
            .await?;
        let now = timestamp::now();
        let mut results = Vec::new();
        for env in environments {
            let outcome = self.context.store.jwk_deploy(jwk_id, &env.id, now).await;
            if let Err(err) = &outcome {
                tracing::error!(error = %err, environment = %env.id, "cannot publish a JWK");
            }
            results.push(EnvironmentResult {
                environment_name: env.name,
                success: outcome.is_ok(),
                message: if outcome.is_ok() {
                    "Deployed successfully".into()
                } else {
                    "Deployment failed".into()
                },
            });
        }
        let success = results.iter().all(|r| r.success);
        Ok(Deployment {
            success,
            message: if success {
                "Deployment completed successfully".into()
            } else {
                "Deployment failed in some environments".into()
            },
            environment_results: results,
        })
    }

    /// Checks the input, resolves the material, runs the source's plugin and
    /// applies use and algorithm: (source type, public JWK, stored source fields).
    async fn resolve(
        &self,
        caller: &Caller,
        project: &Project,
        input: &JwkInput,
    ) -> Result<(JwkSourceType, Map<String, Value>, JwkInput)> {
        let type_name = required(&input.source_type, "Source type is required!")?;
        let source_type = source_type(type_name)?;
        let (source, plugin) = reader(source_type);
        let use_type = match present(&input.use_type) {
            None => None,
            Some(text) => Some(UseType::parse(text).ok_or_else(|| {
                bad(format!(
                    "Use type ({text}) is not valid! Use SIGNATURE or ENCRYPTION."
                ))
            })?),
        };
        let algorithm = present(&input.algorithm);
        let kid = present(&input.kid).map(str::to_owned);
        let mut stored = JwkInput {
            name: None,
            description: None,
            source_type: Some(type_name.to_owned()),
            kid: kid.clone(),
            use_type: use_type.map(|u| u.as_str().to_owned()),
            algorithm: algorithm.map(str::to_owned),
            ..JwkInput::default()
        };
        let mut deadline = None;
        let material = match source {
            SourceType::Url => {
                let url = required(&input.url, "URL is required for URL source type!")?;
                let connect = bounded(
                    input.url_option_connect_timeout,
                    DEFAULT_CONNECT_TIMEOUT_MS,
                    MAX_CONNECT_TIMEOUT_MS,
                    "urlOptionConnectTimeout",
                )?;
                let read = bounded(
                    input.url_option_read_timeout,
                    DEFAULT_READ_TIMEOUT_MS,
                    MAX_READ_TIMEOUT_MS,
                    "urlOptionReadTimeout",
                )?;
                let size = bounded(
                    input.url_option_size_limit,
                    DEFAULT_SIZE_LIMIT,
                    MAX_SIZE_LIMIT,
                    "urlOptionSizeLimit",
                )?;
                stored.url = Some(url.to_owned());
                stored.url_option_connect_timeout = Some(connect);
                stored.url_option_read_timeout = Some(read);
                stored.url_option_size_limit = Some(size);
                deadline = Some(Duration::from_millis(u64::from(connect) + u64::from(read)));
                Material::Url(Remote {
                    url: url.to_owned(),
                    connect_timeout_ms: connect,
                    read_timeout_ms: read,
                    max_bytes: size,
                })
            }
            SourceType::CopyPaste => {
                let text = nonblank(input.jwk_str.as_ref().map(SecretString::expose)).ok_or_else(
                    || bad("JWK string (jwkStr) is required for COPY_PASTE source type!"),
                )?;
                if text.len() > MAX_JWK_STR_LEN {
                    return Err(bad(format!(
                        "JWK string (jwkStr) is larger than {MAX_JWK_STR_LEN} bytes!"
                    )));
                }
                Material::Text(text.to_owned())
            }
            SourceType::Certificate
            | SourceType::PublicKey
            | SourceType::PrivateKey
            | SourceType::Keystore => {
                let (what, name) = match source {
                    SourceType::Certificate => ("Certificate name", &input.certificate_name),
                    SourceType::Keystore => ("Key store name", &input.key_store_name),
                    _ => ("Key name", &input.key_name),
                };
                let name = required(
                    name,
                    &format!("{what} is required for {type_name} source type!"),
                )?;
                let env = required(
                    &input.environment_name,
                    &format!("Environment name is required for {type_name} source type!"),
                )?;
                let alias = if source == SourceType::Keystore {
                    Some(required(
                        &input.alias_name,
                        "Alias name is required for KEYSTORE source type!",
                    )?)
                } else {
                    None
                };
                if use_type.is_none() {
                    return Err(bad(format!(
                        "Use type is required for {type_name} source type!"
                    )));
                }
                if algorithm.is_none() {
                    return Err(bad(format!(
                        "Algorithm is required for {type_name} source type!"
                    )));
                }
                let environment = self
                    .context
                    .store
                    .environment_get(&project.id, env)
                    .await?
                    .ok_or_else(|| missing("Environment", env))?;
                stored.environment_name = Some(environment.name.clone());
                stored.alias_name = alias.map(str::to_owned);
                match source {
                    SourceType::Certificate => {
                        stored.certificate_name = Some(name.to_owned());
                        let der = self
                            .context
                            .store
                            .certificate_der_by_name(&project.id, name)
                            .await?
                            .ok_or_else(|| missing("Certificate", name))?;
                        Material::Binary(der)
                    }
                    SourceType::Keystore => {
                        stored.key_store_name = Some(name.to_owned());
                        let opened = self
                            .key_material
                            .open_keystore(caller, &project.id, &environment.id, name)
                            .await
                            .map_err(missing_as_bad("Key store", name))?;
                        Material::Keystore(Keystore {
                            format: match opened.format {
                                KeystoreFormat::Pkcs12 => WitKeystoreFormat::Pkcs12,
                                KeystoreFormat::Jks => WitKeystoreFormat::Jks,
                            },
                            data: opened.content,
                            password: opened.password,
                            alias: alias.map(str::to_owned),
                        })
                    }
                    _ => {
                        stored.key_name = Some(name.to_owned());
                        let (key_type, pem) = self
                            .key_material
                            .open_key(caller, &project.id, &environment.id, name)
                            .await
                            .map_err(missing_as_bad("Key", name))?;
                        let expected = if source == SourceType::PublicKey {
                            KeyType::PublicKey
                        } else {
                            KeyType::PrivateKey
                        };
                        if key_type != expected {
                            return Err(bad(format!(
                                "Key (name: {name}) is a {}, not a {}! Use the {} source type.",
                                human(key_type),
                                human(expected),
                                key_type.as_str()
                            )));
                        }
                        Material::Text(pem)
                    }
                }
            }
        };

        let loader = self.plugins.jwk_source(plugin).ok_or_else(|| {
            bad(format!(
                "Source type {type_name} is not available: the '{plugin}' jwk-source plugin is \
                 not configured!"
            ))
        })?;
        let request = JwkRequest {
            tenant: crate::plugins::Tenant {
                organization_id: project.organization_id.clone(),
                project_id: Some(project.id.clone()),
            },
            source_type: source,
            material,
            kid: kid.clone(),
        };
        let call = loader.load(&request);
        let loaded = match deadline {
            // A second above the caller's own timeouts, so the plugin reports first.
            Some(limit) => tokio::time::timeout(limit + Duration::from_secs(1), call)
                .await
                .map_err(|_| {
                    bad(format!(
                        "JWK could not be loaded from the {type_name} source: timed out after {} ms!",
                        limit.as_millis()
                    ))
                })?,
            None => call.await,
        };
        let keys = loaded.map_err(|err| {
            bad(format!(
                "JWK could not be loaded from the {type_name} source: {}",
                plugin_message(&err)
            ))
        })?;
        let mut jwk = match keys.as_slice() {
            [one] => serde_json::from_str::<Map<String, Value>>(one).map_err(|_| {
                bad(format!(
                    "JWK could not be loaded from the {type_name} source: not a JSON object"
                ))
            })?,
            [] => {
                return Err(bad(format!(
                    "JWK could not be loaded from the {type_name} source: no key found"
                )));
            }
            _ => {
                return Err(bad(
                    "kid is required when the source contains multiple keys (JWK Set)!",
                ));
            }
        };
        apply(&mut jwk, use_type, algorithm, kid.as_deref())?;
        Ok((source_type, jwk, stored))
    }

    async fn record(&self, caller: &Caller, action: &str, object: &JwkObject) -> Result<()> {
        self.context
            .audit
            .record(audit_event(caller, action, object))
            .await
    }
}

fn audit_event<'a>(caller: &'a Caller, action: &'a str, object: &'a JwkObject) -> AuditEvent<'a> {
    let severity = if action == "jwk.deleted" {
        Severity::High
    } else {
        Severity::Medium
    };
    let details = json!({
        "name": object.name, "projectId": object.project_id,
        "sourceType": object.source_type.as_str(), "kid": object.kid,
    });
    caller.success(action, &object.id, severity, Some(details))
}

fn human(key_type: KeyType) -> &'static str {
    match key_type {
        KeyType::PublicKey => "public key",
        KeyType::PrivateKey => "private key",
    }
}

/// The plugin's own words for invalid input; the error otherwise.
fn plugin_message(err: &crate::plugins::PluginError) -> String {
    use crate::plugins::PluginError as E;
    match err {
        E::Invalid { message, .. } | E::Denied { message, .. } => message.clone(),
        E::Timeout { .. } => "timed out".into(),
        other => other.to_string(),
    }
}

fn check_name(input: &JwkInput) -> Result<String> {
    let name = present(&input.name).ok_or_else(|| bad("JWK name can not be empty!"))?;
    if name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) || name.contains('/') {
        return Err(bad(format!(
            "JWK name must be at most {MAX_NAME_LEN} characters, without '/' or control characters!"
        )));
    }
    Ok(name.to_owned())
}

fn check_description(input: &JwkInput) -> Result<Option<String>> {
    match present(&input.description) {
        Some(d) if d.len() > MAX_DESCRIPTION_LEN => Err(bad(format!(
            "Description must be at most {MAX_DESCRIPTION_LEN} characters!"
        ))),
        other => Ok(other.map(str::to_owned)),
    }
}

fn exists(name: &str) -> Error {
    bad(format!(
        "JWK (name: {name}) is already exist! Try update operation if want to change its value."
    ))
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!("JWK (name: {name})"))
}

/// Sets `use`, `alg` and `kid` on a loaded JWK and enforces the algorithm table.
fn apply(
    jwk: &mut Map<String, Value>,
    use_type: Option<UseType>,
    algorithm: Option<&str>,
    kid: Option<&str>,
) -> Result<()> {
    for member in PRIVATE_MEMBERS {
        jwk.remove(*member);
    }
    let kty = jwk
        .get("kty")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if !matches!(kty.as_str(), "RSA" | "EC" | "OKP") {
        return Err(bad(format!("Key type ({kty}) cannot be published!")));
    }
    let existing_use = jwk
        .get("use")
        .and_then(Value::as_str)
        .and_then(UseType::from_jwk_use);
    let use_type = use_type.or(existing_use);
    let algorithm = algorithm
        .map(str::to_owned)
        .or_else(|| jwk.get("alg").and_then(Value::as_str).map(str::to_owned));
    if let Some(algorithm) = &algorithm {
        let use_type = match use_type {
            Some(u) => u,
            // Without a use, the algorithm decides it.
            None if algorithm::allowed(&kty, UseType::Signature).contains(&algorithm.as_str()) => {
                UseType::Signature
            }
            None => UseType::Encryption,
        };
        algorithm::check(&kty, use_type, algorithm).map_err(bad)?;
        jwk.insert("use".into(), Value::String(use_type.jwk_use().into()));
        jwk.insert("alg".into(), Value::String(algorithm.clone()));
    } else if let Some(use_type) = use_type {
        jwk.insert("use".into(), Value::String(use_type.jwk_use().into()));
    }
    if !jwk.contains_key("kid") {
        let kid = kid.map(str::to_owned).or_else(|| thumbprint(jwk));
        if let Some(kid) = kid {
            jwk.insert("kid".into(), Value::String(kid));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc7638() {
        // RFC 7638, section 3.1.
        let jwk: Map<String, Value> = serde_json::from_value(json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"
        }))
        .unwrap();
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn applies_use_and_algorithm() {
        let mut jwk: Map<String, Value> = serde_json::from_value(
            json!({"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "s"}),
        )
        .unwrap();
        apply(&mut jwk, None, Some("ES256"), None).unwrap();
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], "ES256");
        assert!(jwk.get("d").is_none());
        let mut rsa: Map<String, Value> =
            serde_json::from_value(json!({"kty": "RSA", "n": "a", "e": "AQAB"})).unwrap();
        assert!(
            apply(
                &mut rsa.clone(),
                Some(UseType::Signature),
                Some("RSA"),
                None
            )
            .is_err()
        );
        assert!(apply(&mut rsa, Some(UseType::Encryption), Some("RS256"), None).is_err());
    }
}

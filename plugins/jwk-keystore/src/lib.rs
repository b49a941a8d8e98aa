//! JWK source for keystores: the public key of one entry (or of every entry)
//! of a PKCS#12 or JKS keystore, with the entry's certificate chain in `x5c`.
//! The keystore and its password come from the host for this call only; the
//! private key is read only to check that it belongs to its certificate.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keystead_plugin_sdk::{PluginError, PluginInfo, PluginKind, config};
use serde_json::{Map, Value};

#[path = "../../jwk-key/src/der.rs"]
#[allow(dead_code)] // the PEM and public-key parsers serve the key source
mod der_jwk;
mod jks;
#[path = "../../jwk-certificate/src/x509.rs"]
mod x509;

keystead_plugin_sdk::generate!("jwk-source", "../../wit");

use exports::keystead::plugin::jwk_provider::{
    JwkRequest, Keystore, KeystoreFormat, Material, SourceType,
};

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {}

/// One keystore entry: a private key with its chain, or a trusted certificate.
struct Entry {
    alias: String,
    /// PKCS#8 DER, for private-key entries.
    private_key: Option<Vec<u8>>,
    /// DER certificates, the entry's own first.
    chain: Vec<Vec<u8>>,
}

const WRONG_PASSWORD: &str = "the keystore password is wrong or the keystore is damaged";

fn pkcs12_entries(data: &[u8], password: &str) -> Result<Vec<Entry>, PluginError> {
    use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
    let store = KeyStore::from_pkcs12(data, password, Pkcs12ImportPolicy::Strict).map_err(|e| {
        match e {
            // A MAC that does not verify, or a decryption that does not unpad.
            p12_keystore::error::Error::MacError(_) | p12_keystore::error::Error::UnpadError => {
                PluginError::invalid(WRONG_PASSWORD)
            }
            other => PluginError::invalid(format!("not a readable PKCS#12 keystore: {other}")),
        }
    })?;
    Ok(store
        .entries()
        .filter_map(|(alias, entry)| match entry {
            KeyStoreEntry::PrivateKeyChain(chain) => Some(Entry {
                alias: alias.clone(),
                private_key: Some(chain.key().as_der().to_vec()),
                chain: chain.certs().iter().map(|c| c.as_der().to_vec()).collect(),
            }),
            KeyStoreEntry::Certificate(cert) => Some(Entry {
                alias: alias.clone(),
                private_key: None,
                chain: vec![cert.as_der().to_vec()],
            }),
            // Secret (symmetric) entries have no public key to publish.
            KeyStoreEntry::Secret(_) => None,
        })
        .collect())
}

fn jks_entries(data: &[u8], password: &str) -> Result<Vec<Entry>, PluginError> {
    jks::entries(data, password).map_err(|e| match e {
        jks::JksError::WrongPassword => PluginError::invalid(WRONG_PASSWORD),
        jks::JksError::KeyPassword(alias) => PluginError::invalid(format!(
            "the key of alias '{alias}' is not protected by the keystore password"
        )),
        jks::JksError::Malformed(m) => {
            PluginError::invalid(format!("not a readable JKS keystore: {m}"))
        }
    })
}

/// The members that identify a public key, to compare two JWKs of one key.
fn key_members(jwk: &Map<String, Value>) -> Vec<(&String, &Value)> {
    jwk.iter()
        .filter(|(name, _)| ["kty", "crv", "n", "e", "x", "y"].contains(&name.as_str()))
        .collect()
}

fn entry_jwk(entry: &Entry, kid: Option<&str>) -> Result<Map<String, Value>, PluginError> {
    let alias = &entry.alias;
    let leaf = entry.chain.first().ok_or_else(|| {
        PluginError::invalid(format!("alias '{alias}' has no certificate to publish"))
    })?;
    let mut jwk = x509::certificate_key(leaf)
        .map_err(|e| PluginError::invalid(format!("alias '{alias}': {}", message(&e))))?;
    if let Some(key) = &entry.private_key {
        // A PKCS#8 v1 Ed25519 key does not carry its public half; nothing to compare then.
        if let Ok(public) = der_jwk::pkcs8_private(key)
            && key_members(&public) != key_members(&jwk)
        {
            return Err(PluginError::invalid(format!(
                "the private key of alias '{alias}' does not match its certificate"
            )));
        }
    }
    jwk.insert(
        "x5c".into(),
        Value::Array(
            entry
                .chain
                .iter()
                .map(|der| Value::String(STANDARD.encode(der)))
                .collect(),
        ),
    );
    if let Some(kid) = kid {
        jwk.insert("kid".into(), Value::String(kid.to_owned()));
    }
    Ok(jwk)
}

fn message(err: &PluginError) -> String {
    match err {
        PluginError::InvalidInput(m) => m.clone(),
        other => format!("{other:?}"),
    }
}

fn load(keystore: &Keystore, kid: Option<&str>) -> Result<Vec<String>, PluginError> {
    let entries = match keystore.format {
        KeystoreFormat::Pkcs12 => pkcs12_entries(&keystore.data, &keystore.password)?,
        KeystoreFormat::Jks => jks_entries(&keystore.data, &keystore.password)?,
    };
    let chosen: Vec<&Entry> = match &keystore.alias {
        // Java treats aliases case-insensitively; so does this lookup.
        Some(alias) => {
            let found: Vec<&Entry> = entries
                .iter()
                .filter(|e| e.alias.eq_ignore_ascii_case(alias))
                .collect();
            if found.is_empty() {
                let mut known: Vec<&str> = entries.iter().map(|e| e.alias.as_str()).collect();
                known.sort_unstable();
                return Err(PluginError::invalid(format!(
                    "alias '{alias}' is not in the keystore (its aliases: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            found
        }
        None => entries.iter().collect(),
    };
    chosen
        .into_iter()
        .map(|entry| {
            // Listing every entry names each JWK by its alias, so that a caller can
            // tell the entries apart.
            let kid = match (&keystore.alias, kid) {
                (_, Some(kid)) => Some(kid),
                (None, None) => Some(entry.alias.as_str()),
                (Some(_), None) => None,
            };
            config::to_json(&entry_jwk(entry, kid)?)
        })
        .collect()
}

struct Plugin;

impl exports::keystead::plugin::plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "jwk-keystore".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "the public JWK of a PKCS#12 or JKS keystore entry, with x5c".into(),
            kinds: vec![PluginKind::JwkSource],
            config_schema: r#"{"type":"object","additionalProperties":false}"#.into(),
            stateless: true,
        }
    }

    fn validate_config(config: String) -> Result<(), PluginError> {
        config::parse::<Config>("config", &config).map(|_| ())
    }
}

impl exports::keystead::plugin::jwk_provider::Guest for Plugin {
    fn load(request: JwkRequest, _config: String) -> Result<Vec<String>, PluginError> {
        if request.source_type != SourceType::Keystore {
            return Err(PluginError::invalid(
                "this source reads KEYSTORE material only",
            ));
        }
        match &request.material {
            Material::Keystore(keystore) => load(keystore, request.kid.as_deref()),
            _ => Err(PluginError::invalid(
                "keystore material must be a PKCS#12 or JKS keystore",
            )),
        }
    }
}

export!(Plugin);

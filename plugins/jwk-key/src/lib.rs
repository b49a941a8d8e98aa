//! JWK source for uploaded keys: a PEM public key (`PUBLIC KEY`, `RSA PUBLIC
//! KEY`) or private key (`PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`).
//! Only the public part comes back.

use keystead_plugin_sdk::{PluginError, PluginInfo, PluginKind, config};
use serde_json::{Map, Value};

#[path = "der.rs"]
mod der_jwk;

keystead_plugin_sdk::generate!("jwk-source", "../../wit");

use exports::keystead::plugin::jwk_provider::{JwkRequest, Material, SourceType};

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {}

fn load(source: SourceType, text: &str) -> Result<Map<String, Value>, PluginError> {
    let (label, bytes) = der_jwk::pem(text)?;
    match (source, label.as_str()) {
        (SourceType::PublicKey, "PUBLIC KEY") => der_jwk::spki(&bytes),
        (SourceType::PublicKey, "RSA PUBLIC KEY") => der_jwk::rsa_public(&bytes),
        (SourceType::PrivateKey, "PRIVATE KEY") => der_jwk::pkcs8_private(&bytes),
        (SourceType::PrivateKey, "RSA PRIVATE KEY") => der_jwk::rsa_private(&bytes),
        (SourceType::PrivateKey, "EC PRIVATE KEY") => der_jwk::ec_private(&bytes, None),
        (_, "ENCRYPTED PRIVATE KEY") => Err(PluginError::invalid(
            "encrypted private keys are not supported; upload the key unencrypted",
        )),
        (SourceType::PublicKey, other) => Err(PluginError::invalid(format!(
            "a PUBLIC_KEY source needs a public key, not a '{other}' PEM block"
        ))),
        (_, other) => Err(PluginError::invalid(format!(
            "a PRIVATE_KEY source needs a private key, not a '{other}' PEM block"
        ))),
    }
}

struct Plugin;

impl exports::keystead::plugin::plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "jwk-key".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "the public JWK of a PEM public or private key (RSA, EC, OKP)".into(),
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
        if !matches!(
            request.source_type,
            SourceType::PublicKey | SourceType::PrivateKey
        ) {
            return Err(PluginError::invalid(
                "this source reads PUBLIC_KEY and PRIVATE_KEY material only",
            ));
        }
        let Material::Text(text) = &request.material else {
            return Err(PluginError::invalid("key material must be PEM text"));
        };
        let mut jwk = load(request.source_type, text)?;
        if let Some(kid) = request.kid {
            jwk.insert("kid".into(), Value::String(kid));
        }
        Ok(vec![config::to_json(&jwk)?])
    }
}

export!(Plugin);

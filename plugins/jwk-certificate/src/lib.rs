//! JWK source for certificates: the public key of an X.509 certificate (DER
//! or PEM), with the certificate itself in `x5c`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keystead_plugin_sdk::{PluginError, PluginInfo, PluginKind, config};
use serde_json::Value;

#[path = "../../jwk-key/src/der.rs"]
#[allow(dead_code)] // the private-key parsers serve the key source
mod der_jwk;
mod x509;

keystead_plugin_sdk::generate!("jwk-source", "../../wit");

use exports::keystead::plugin::jwk_provider::{JwkRequest, Material, SourceType};

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {}

fn load(cert_der: &[u8], kid: Option<String>) -> Result<String, PluginError> {
    let mut jwk = x509::certificate_key(cert_der)?;
    jwk.insert(
        "x5c".into(),
        Value::Array(vec![Value::String(STANDARD.encode(cert_der))]),
    );
    if let Some(kid) = kid {
        jwk.insert("kid".into(), Value::String(kid));
    }
    config::to_json(&jwk)
}

struct Plugin;

impl exports::keystead::plugin::plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "jwk-certificate".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "the public JWK of an X.509 certificate's key, with x5c".into(),
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
        if request.source_type != SourceType::Certificate {
            return Err(PluginError::invalid(
                "this source reads CERTIFICATE material only",
            ));
        }
        let der = match &request.material {
            Material::Binary(der) => der.clone(),
            Material::Text(pem) => {
                let (label, der) = der_jwk::pem(pem)?;
                if label != "CERTIFICATE" {
                    return Err(PluginError::invalid(format!(
                        "expected a CERTIFICATE PEM block, not '{label}'"
                    )));
                }
                der
            }
            _ => {
                return Err(PluginError::invalid(
                    "certificate material must be DER or PEM",
                ));
            }
        };
        Ok(vec![load(&der, request.kid)?])
    }
}

export!(Plugin);

//! JWK source for pasted material: a JWK or a JWK Set as JSON. Members are
//! checked per key type and only the public members are returned, so a
//! pasted private key never leaves the sandbox as such.

use keystead_plugin_sdk::{PluginError, PluginInfo, PluginKind, config};

mod jwk;

keystead_plugin_sdk::generate!("jwk-source", "../../wit");

use exports::keystead::plugin::jwk_provider::{JwkRequest, Material, SourceType};

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {}

struct Plugin;

impl exports::keystead::plugin::plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "copy-paste".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "pasted JWK or JWK Set JSON, checked and reduced to public members".into(),
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
        if request.source_type != SourceType::CopyPaste {
            return Err(PluginError::invalid(
                "this source reads COPY_PASTE material only",
            ));
        }
        match &request.material {
            Material::Text(text) => jwk::load(text, request.kid.as_deref()),
            _ => Err(PluginError::invalid("COPY_PASTE material must be text")),
        }
    }
}

export!(Plugin);

//! A validator that allows everything: measures the host's per-call overhead.

use keystead_plugin_sdk::{PluginError, PluginInfo, PluginKind};

keystead_plugin_sdk::generate!("template-validator", "../../wit");

use exports::keystead::plugin::validator::{CertificateRequest, Verdict};

struct Plugin;

impl exports::keystead::plugin::plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "test-noop".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "allows every request".into(),
            kinds: vec![PluginKind::TemplateValidator],
            config_schema: "{}".into(),
            stateless: true,
        }
    }

    fn validate_config(_config: String) -> Result<(), PluginError> {
        Ok(())
    }
}

impl exports::keystead::plugin::validator::Guest for Plugin {
    fn validate(_: CertificateRequest, _: String, _: String) -> Result<Verdict, PluginError> {
        Ok(Verdict::Allow)
    }
}

export!(Plugin);

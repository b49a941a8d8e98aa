//! A template validator that misbehaves on request, for the host's sandbox
//! tests. The template name picks the behaviour:
//! `loop`, `bomb`, `trap`, `panic`, `http:<url>`, `read:<path>`, `write:<path>`,
//! `env`, `count`; anything else allows.

use std::sync::atomic::{AtomicU64, Ordering};

use keystead_plugin_sdk::http::{self, Request};
use keystead_plugin_sdk::{PluginError, PluginInfo, PluginKind, log};

keystead_plugin_sdk::generate!("template-validator", "../../wit");

use exports::keystead::plugin::validator::{CertificateRequest, Verdict, Violation};

static CALLS: AtomicU64 = AtomicU64::new(0);

/// Reports a value back to the test through a violation.
fn report(field: &str, message: String) -> Result<Verdict, PluginError> {
    Ok(Verdict::Deny(vec![Violation {
        field: field.into(),
        message,
    }]))
}

struct Plugin;

impl exports::keystead::plugin::plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "test-hostile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "misbehaves on request".into(),
            kinds: vec![PluginKind::TemplateValidator],
            config_schema: "{}".into(),
            stateless: false,
        }
    }

    fn validate_config(config: String) -> Result<(), PluginError> {
        if config.contains("\"reject\"") {
            return Err(PluginError::invalid("config says reject"));
        }
        Ok(())
    }
}

impl exports::keystead::plugin::validator::Guest for Plugin {
    fn validate(request: CertificateRequest, _: String, _: String) -> Result<Verdict, PluginError> {
        let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        let template = request.template.as_str();
        match template {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => core::arch::wasm32::unreachable(),
            "panic" => panic!("the hostile plugin panics on purpose"),
            "env" => report("env", format!("{}", std::env::vars().count())),
            "count" => report("count", calls.to_string()),
            "log" => {
                log::info("hello from the hostile plugin");
                Ok(Verdict::Allow)
            }
            _ => {
                if let Some(url) = template.strip_prefix("http:") {
                    let response = http::send(&Request::get(url))?;
                    return report(
                        "http",
                        format!("{} {}", response.status, response.body.len()),
                    );
                }
                if let Some(path) = template.strip_prefix("read:") {
                    return match std::fs::read_to_string(path) {
                        Ok(text) => report("read", text),
                        Err(err) => Err(PluginError::denied(format!("cannot read {path}: {err}"))),
                    };
                }
                if let Some(path) = template.strip_prefix("write:") {
                    return match std::fs::write(path, b"written") {
                        Ok(()) => report("write", "ok".into()),
                        Err(err) => Err(PluginError::denied(format!("cannot write {path}: {err}"))),
                    };
                }
                Ok(Verdict::Allow)
            }
        }
    }
}

export!(Plugin);

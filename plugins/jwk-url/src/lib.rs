//! JWK source for a remote JWK or JWK Set. The fetch goes through the host's
//! outgoing-HTTP policy (allowed hosts, no loopback/private/link-local targets
//! unless granted) with the request's connect and read timeouts and size cap;
//! the body is then checked like pasted material.

use std::time::Duration;

use keystead_plugin_sdk::http::{self, HttpError};
use keystead_plugin_sdk::{PluginError, PluginInfo, PluginKind, config};

#[path = "../../copy-paste/src/jwk.rs"]
mod jwk;

keystead_plugin_sdk::generate!("jwk-source", "../../wit");

use exports::keystead::plugin::jwk_provider::{JwkRequest, Material, Remote, SourceType};

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {}

/// Every transport failure is the source's fault, so it is invalid input for the caller.
/// `max_bytes` is the caller's size limit; the host's own cap may be what tripped.
fn fetch_error(url: &str, max_bytes: u32, err: HttpError) -> PluginError {
    match err {
        HttpError::Denied(_) => PluginError::Denied(format!(
            "fetching {url} is not allowed by the network policy"
        )),
        HttpError::Timeout(_) => PluginError::InvalidInput(format!("fetching {url} timed out")),
        HttpError::TooLarge { limit } => {
            let limit = limit.map_or(u64::from(max_bytes), |l| l.min(u64::from(max_bytes)));
            PluginError::InvalidInput(format!(
                "the response from {url} is larger than {limit} bytes"
            ))
        }
        HttpError::InvalidRequest(m) => PluginError::InvalidInput(format!("invalid URL: {m}")),
        HttpError::Transport(m) => PluginError::InvalidInput(format!("fetching {url} failed: {m}")),
    }
}

fn fetch(remote: &Remote, kid: Option<&str>) -> Result<Vec<String>, PluginError> {
    let mut request = http::Request::get(&remote.url).header("accept", "application/json");
    request.connect_timeout = Some(Duration::from_millis(remote.connect_timeout_ms.into()));
    request.read_timeout = Some(Duration::from_millis(remote.read_timeout_ms.into()));
    request.max_response_bytes = usize::try_from(remote.max_bytes).unwrap_or(usize::MAX);
    let response =
        http::send(&request).map_err(|e| fetch_error(&remote.url, remote.max_bytes, e))?;
    if response.status != 200 {
        return Err(PluginError::InvalidInput(format!(
            "{} answered HTTP {}",
            remote.url, response.status
        )));
    }
    let text = String::from_utf8(response.body)
        .map_err(|_| PluginError::invalid("the response is not UTF-8 text"))?;
    jwk::load(&text, kid)
}

struct Plugin;

impl exports::keystead::plugin::plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "jwk-url".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "a JWK or JWK Set fetched over HTTP(S), reduced to public members".into(),
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
        if request.source_type != SourceType::Url {
            return Err(PluginError::invalid("this source reads URL material only"));
        }
        match &request.material {
            Material::Url(remote) => fetch(remote, request.kid.as_deref()),
            _ => Err(PluginError::invalid("URL material must be a remote")),
        }
    }
}

export!(Plugin);

//! The loaded plugins, by name, built once from the config at start-up.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::cache::{CacheOutcome, ComponentCache};
use super::config::{self, Grants, PluginConfig, PluginKind, Source};
use super::engine::Runtime;
use super::error::LoadError;
use super::jwk_source::JwkSource;
use super::rotation_target::RotationTarget;
use super::sandbox::{Sandbox, WorldPre};
use super::stats::{self, Identity, PluginStats};
use super::template_validator::TemplateValidator;
use super::webhook_transport::WebhookTransport;

/// One loaded plugin, by kind.
#[derive(Clone)]
pub enum Plugin {
    TemplateValidator(Arc<TemplateValidator>),
    JwkSource(Arc<JwkSource>),
    RotationTarget(Arc<RotationTarget>),
    WebhookTransport(Arc<WebhookTransport>),
}

/// Applies `$body` to the sandbox of any kind of plugin.
macro_rules! with_sandbox {
    ($plugin:expr, |$s:ident| $body:expr) => {
        match $plugin {
            Plugin::TemplateValidator(p) => {
                let $s = &p.sandbox;
                $body
            }
            Plugin::JwkSource(p) => {
                let $s = &p.sandbox;
                $body
            }
            Plugin::RotationTarget(p) => {
                let $s = &p.sandbox;
                $body
            }
            Plugin::WebhookTransport(p) => {
                let $s = &p.sandbox;
                $body
            }
        }
    };
}

impl Plugin {
    pub fn kind(&self) -> PluginKind {
        match self {
            Self::TemplateValidator(_) => PluginKind::TemplateValidator,
            Self::JwkSource(_) => PluginKind::JwkSource,
            Self::RotationTarget(_) => PluginKind::RotationTarget,
            Self::WebhookTransport(_) => PluginKind::WebhookTransport,
        }
    }

    pub fn stats(&self) -> PluginStats {
        with_sandbox!(self, |s| stats::snapshot(
            Identity {
                name: &s.grants.name,
                kind: s.grants.kind,
                version: &s.info.version,
                description: &s.info.description,
                builtin: s.builtin,
                stateless: s.info.stateless,
                limits: &s.grants.limits,
            },
            &s.stats,
        ))
    }

    /// The JSON Schema of the plugin's config, as the plugin declared it.
    pub fn config_schema(&self) -> String {
        with_sandbox!(self, |s| s.info.config_schema.clone())
    }
}

/// How the registry loads components.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub cache: ComponentCache,
    /// Reuse instances of plugins that declare themselves stateless.
    pub reuse_instances: bool,
    /// The server-wide `allow_loopback`.
    pub allow_loopback: bool,
}

impl LoadOptions {
    /// The server's options: the cache under the data dir, reuse on.
    pub fn for_config(config: &crate::config::Config) -> Self {
        Self {
            cache: ComponentCache::new(cache_dir(config)),
            reuse_instances: true,
            allow_loopback: config.allow_loopback,
        }
    }
}

pub fn cache_dir(config: &crate::config::Config) -> PathBuf {
    config
        .plugin_cache_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("plugin-cache"))
}

/// The plugins of this process.
#[derive(Clone, Default)]
pub struct Registry {
    plugins: BTreeMap<String, Plugin>,
}

impl Registry {
    /// Loads the `[[plugins]]` of `config`. Any bad entry stops start-up.
    pub async fn from_config(config: &crate::config::Config) -> Result<Self, LoadError> {
        Self::load(&config.plugins, &LoadOptions::for_config(config)).await
    }

    pub async fn load(entries: &[PluginConfig], options: &LoadOptions) -> Result<Self, LoadError> {
        let runtime = Runtime::shared().map_err(LoadError::Runtime)?;
        let mut plugins = BTreeMap::new();
        for entry in entries {
            let grants = config::validate(entry, options.allow_loopback)?;
            if plugins.contains_key(&entry.name) {
                return Err(LoadError::Duplicate(entry.name.clone()));
            }
            let plugin = load_one(&runtime, grants, options).await?;
            plugins.insert(entry.name.clone(), plugin);
        }
        Ok(Self { plugins })
    }

    pub fn get(&self, name: &str) -> Option<&Plugin> {
        self.plugins.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Plugin)> {
        self.plugins.iter().map(|(n, p)| (n.as_str(), p))
    }

    pub fn template_validator(&self, name: &str) -> Option<Arc<TemplateValidator>> {
        match self.plugins.get(name)? {
            Plugin::TemplateValidator(p) => Some(p.clone()),
            _ => None,
        }
    }

    pub fn jwk_source(&self, name: &str) -> Option<Arc<JwkSource>> {
        match self.plugins.get(name)? {
            Plugin::JwkSource(p) => Some(p.clone()),
            _ => None,
        }
    }

    pub fn rotation_target(&self, name: &str) -> Option<Arc<RotationTarget>> {
        match self.plugins.get(name)? {
            Plugin::RotationTarget(p) => Some(p.clone()),
            _ => None,
        }
    }

    pub fn webhook_transport(&self, name: &str) -> Option<Arc<WebhookTransport>> {
        match self.plugins.get(name)? {
            Plugin::WebhookTransport(p) => Some(p.clone()),
            _ => None,
        }
    }

    /// Every plugin's identity, limits and call stats, by name.
    pub fn snapshot(&self) -> Vec<PluginStats> {
        self.plugins.values().map(Plugin::stats).collect()
    }

    /// Prometheus text lines for `/metrics`.
    pub fn render_prometheus(&self) -> String {
        stats::render_prometheus(&self.snapshot())
    }
}

/// Reads and compiles (or loads from the cache) a component, off the async workers.
pub(crate) async fn compile(
    runtime: &Runtime,
    grants: &Grants,
    cache: &ComponentCache,
) -> Result<(wasmtime::component::Component, CacheOutcome), LoadError> {
    let plugin = grants.name.to_string();
    let wasm: Vec<u8> = match &grants.source {
        Source::Builtin(bytes) => bytes.to_vec(),
        Source::File(path) => std::fs::read(path).map_err(|source| LoadError::Read {
            plugin: plugin.clone(),
            path: path.clone(),
            source,
        })?,
    };
    let engine = runtime.engine().clone();
    let cache = cache.clone();
    let compiled = tokio::task::spawn_blocking(move || cache.load(&engine, &wasm))
        .await
        .map_err(|e| LoadError::Runtime(format!("compile task failed: {e}")))?;
    compiled.map_err(|e| LoadError::Compile {
        plugin,
        message: format!("{e:#}"),
    })
}

async fn load_one(
    runtime: &Runtime,
    grants: Grants,
    options: &LoadOptions,
) -> Result<Plugin, LoadError> {
    let (component, outcome) = compile(runtime, &grants, &options.cache).await?;
    tracing::debug!(plugin = %grants.name, cached = outcome == CacheOutcome::Hit, "plugin component ready");
    let reuse = options.reuse_instances;
    Ok(match grants.kind {
        PluginKind::TemplateValidator => Plugin::TemplateValidator(Arc::new(TemplateValidator {
            sandbox: sandbox(runtime, grants, &component, reuse).await?,
        })),
        PluginKind::JwkSource => Plugin::JwkSource(Arc::new(JwkSource {
            sandbox: sandbox(runtime, grants, &component, reuse).await?,
        })),
        PluginKind::RotationTarget => Plugin::RotationTarget(Arc::new(RotationTarget {
            sandbox: sandbox(runtime, grants, &component, reuse).await?,
        })),
        PluginKind::WebhookTransport => Plugin::WebhookTransport(Arc::new(WebhookTransport {
            sandbox: sandbox(runtime, grants, &component, reuse).await?,
        })),
    })
}

async fn sandbox<W: WorldPre>(
    runtime: &Runtime,
    grants: Grants,
    component: &wasmtime::component::Component,
    reuse: bool,
) -> Result<Sandbox<W>, LoadError> {
    let kind = grants.kind;
    let sandbox = Sandbox::<W>::load(runtime, grants, component, reuse).await?;
    if !sandbox.info.kinds.iter().any(|k| same_kind(k, kind)) {
        tracing::warn!(plugin = %sandbox.grants.name, kind = %kind, "the plugin's describe() does not list the configured kind");
    }
    Ok(sandbox)
}

fn same_kind(wit: &super::bindings::PluginKind, kind: PluginKind) -> bool {
    use super::bindings::PluginKind as W;
    matches!(
        (wit, kind),
        (W::JwkSource, PluginKind::JwkSource)
            | (W::RotationTarget, PluginKind::RotationTarget)
            | (W::TemplateValidator, PluginKind::TemplateValidator)
            | (W::WebhookTransport, PluginKind::WebhookTransport)
    )
}

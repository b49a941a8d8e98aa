//! `keystead plugin list` and `keystead plugin check`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use wasmtime::component::Component;

use super::cache::ComponentCache;
use super::config::{PluginConfig, PluginKind};
use super::engine::Runtime;
use super::registry::{LoadOptions, Registry};
use crate::config::Config;

/// What a component is, from its imports and exports.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The world it implements, if any.
    pub kind: Option<PluginKind>,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// Reads a component's interface names and tells which world it implements.
pub fn inspect(runtime: &Runtime, component: &Component) -> Inspection {
    let engine = runtime.engine();
    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_owned()).collect();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_owned()).collect();
    let has = |name: &str| exports.iter().any(|e| e == name);
    let kind = PluginKind::ALL
        .into_iter()
        .find(|k| has("keystead:plugin/plugin@0.1.0") && has(k.export()));
    Inspection {
        kind,
        imports,
        exports,
    }
}

/// `keystead plugin list`: the configured plugins and their grants.
pub fn list(config: &Config) -> String {
    let mut out = String::new();
    if config.plugins.is_empty() {
        out.push_str("no plugins configured\n");
    }
    for p in &config.plugins {
        let source = match (&p.builtin, &p.path) {
            (Some(b), _) => format!("builtin:{b}"),
            (None, Some(path)) => path.display().to_string(),
            (None, None) => "-".into(),
        };
        let _ = writeln!(out, "{}\t{}\t{}", p.name, p.kind, source);
        let hosts = if p.allowed_hosts.is_empty() {
            "none".to_owned()
        } else {
            p.allowed_hosts.join(", ")
        };
        let _ = writeln!(out, "  allowed hosts: {hosts}");
        for d in &p.directories {
            let mode = if d.read_only { "ro" } else { "rw" };
            let _ = writeln!(
                out,
                "  directory: {} -> {} ({mode})",
                d.host.display(),
                d.guest
            );
        }
        let l = &p.limits;
        let _ = writeln!(
            out,
            "  limits: memory {} MiB, timeout {} ms, cpu {} ms, response {} bytes",
            l.memory_mb, l.timeout_ms, l.cpu_ms, l.max_response_bytes
        );
        let _ = writeln!(out, "  organizations: {}", p.organizations.join(", "));
    }
    out
}

/// `keystead plugin check FILE [--config FILE]`. `Ok` is the report for a
/// component that is a plugin (and fits the config's grants when one
/// declares it); `Err` is the report explaining why not.
pub async fn check(file: &Path, config: Option<&Config>) -> Result<String, String> {
    let runtime = Runtime::shared()?;
    let wasm = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let engine = runtime.engine().clone();
    let component = tokio::task::spawn_blocking(move || Component::new(&engine, &wasm))
        .await
        .map_err(|e| format!("compile task failed: {e}"))?
        .map_err(|e| format!("{} is not a WebAssembly component: {e:#}", file.display()))?;
    let info = inspect(&runtime, &component);

    let mut out = String::new();
    let _ = writeln!(out, "component: {}", file.display());
    let _ = writeln!(out, "imports:");
    for i in &info.imports {
        let _ = writeln!(out, "  {i}");
    }
    let _ = writeln!(out, "exports:");
    for e in &info.exports {
        let _ = writeln!(out, "  {e}");
    }
    let Some(kind) = info.kind else {
        let _ = writeln!(
            out,
            "error: not a Keystead plugin: it implements none of the worlds {} of keystead:plugin@0.1.0 (it must export keystead:plugin/plugin@0.1.0 and the world's interface)",
            PluginKind::ALL.map(|k| k.world()).join(", ")
        );
        return Err(out);
    };
    let _ = writeln!(out, "world: keystead:plugin/{kind}@0.1.0");

    let declared = config.and_then(|c| find_entry(c, file));
    let (entry, allow_loopback) = match (config, declared) {
        (Some(c), Some(entry)) => {
            let _ = writeln!(out, "config: declared as plugin '{}'", entry.name);
            if entry.kind != kind {
                let _ = writeln!(
                    out,
                    "error: the config declares kind {} but the component implements {kind}",
                    entry.kind
                );
                return Err(out);
            }
            (entry.clone(), c.allow_loopback)
        }
        (Some(_), None) => {
            let _ = writeln!(
                out,
                "config: no [[plugins]] entry has this path; checking with no grants"
            );
            (probe_entry(file, kind), false)
        }
        (None, _) => (probe_entry(file, kind), false),
    };
    for warning in grant_warnings(&info, &entry) {
        let _ = writeln!(out, "warning: {warning}");
    }
    let options = LoadOptions {
        cache: ComponentCache::disabled(),
        reuse_instances: false,
        allow_loopback,
    };
    match Registry::load(std::slice::from_ref(&entry), &options).await {
        Ok(registry) => {
            if let Some(plugin) = registry.get(&entry.name) {
                let s = plugin.stats();
                let _ = writeln!(
                    out,
                    "plugin: {} {} ({}), stateless: {}",
                    s.description, s.version, s.kind, s.stateless
                );
            }
            let _ = writeln!(out, "ok: loads, and validate-config accepts the config");
            Ok(out)
        }
        Err(err) => {
            let _ = writeln!(out, "error: {err}");
            Err(out)
        }
    }
}

fn find_entry<'a>(config: &'a Config, file: &Path) -> Option<&'a PluginConfig> {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let target = canonical(file);
    config
        .plugins
        .iter()
        .find(|p| p.path.as_deref().map(canonical) == Some(target.clone()))
}

fn probe_entry(file: &Path, kind: PluginKind) -> PluginConfig {
    let mut entry = PluginConfig::builtin("checked-plugin", kind);
    entry.builtin = None;
    entry.path = Some(PathBuf::from(file));
    entry
}

/// Imports that the grants make useless: the plugin will fail at run time.
fn grant_warnings(info: &Inspection, entry: &PluginConfig) -> Vec<String> {
    let imports = |prefix: &str| info.imports.iter().any(|i| i.starts_with(prefix));
    let mut warnings = Vec::new();
    if imports("wasi:http/outgoing-handler") && entry.allowed_hosts.is_empty() {
        warnings.push("imports wasi:http/outgoing-handler but allowed_hosts is empty: every request will be denied".into());
    }
    if imports("wasi:filesystem/") && entry.directories.is_empty() {
        warnings
            .push("imports wasi:filesystem but no directory is granted: it sees no files".into());
    }
    if imports("wasi:sockets/") {
        warnings.push("imports wasi:sockets: sockets are always denied; use wasi:http".into());
    }
    warnings
}

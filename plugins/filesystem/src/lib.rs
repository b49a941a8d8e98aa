//! Rotation target that writes `<name>.crt`, `<name>.chain.pem`,
//! `<name>.fullchain.pem` and, when the bundle carries one, `<name>.key`
//! into a directory the operator granted. Each file is written to a
//! temporary name and renamed, so a reader never sees half a file.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use keystead_plugin_sdk::{PluginError, PluginInfo, PluginKind, config};
use serde::Deserialize;

keystead_plugin_sdk::generate!("rotation-target", "../../wit");

use exports::keystead::plugin::rotator::{Bundle, Credentials, Receipt};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    /// The granted directory, as the plugin sees it (its `guest` path).
    root: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            root: "/certs".into(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct Target {
    /// Subdirectory under the root (relative, no `..`).
    directory: Option<String>,
    /// File stem; defaults to the first name of the bundle, then its id.
    name: Option<String>,
    /// Write the private key when the bundle has one (default true).
    include_key: Option<bool>,
}

fn safe_stem(name: &str) -> Option<String> {
    let stem: String = name
        .trim_start_matches("*.")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    (!stem.is_empty() && !stem.starts_with('.') && stem.len() <= 200).then_some(stem)
}

fn relative_dir(dir: &str) -> Result<PathBuf, PluginError> {
    let path = Path::new(dir);
    if path.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(path.to_path_buf())
    } else {
        Err(PluginError::invalid(format!(
            "target directory '{dir}' must be relative, without '..'"
        )))
    }
}

fn write_atomically(dir: &Path, file: &str, contents: &str) -> Result<(), PluginError> {
    let tmp = dir.join(format!(".{file}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(file))
    };
    write().map_err(|err| {
        let _ = std::fs::remove_file(&tmp);
        PluginError::unavailable(format!("cannot write {file}: {err}"))
    })
}

struct Plugin;

impl exports::keystead::plugin::plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "filesystem".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "writes certificate, chain and key files into a granted directory".into(),
            kinds: vec![PluginKind::RotationTarget],
            config_schema: r#"{"type":"object","additionalProperties":false,"properties":{"root":{"type":"string"}}}"#.into(),
            stateless: true,
        }
    }

    fn validate_config(config: String) -> Result<(), PluginError> {
        let config: Config = config::parse("config", &config)?;
        if !config.root.starts_with('/') {
            return Err(PluginError::invalid("root must be an absolute guest path"));
        }
        Ok(())
    }
}

impl exports::keystead::plugin::rotator::Guest for Plugin {
    fn push(
        bundle: Bundle,
        target: String,
        _: Credentials,
        config: String,
    ) -> Result<Receipt, PluginError> {
        let config: Config = config::parse("config", &config)?;
        let target: Target = config::parse("target", &target)?;
        let root = PathBuf::from(&config.root);
        if !root.is_dir() {
            return Err(PluginError::denied(format!(
                "no directory is granted at {}; add one to the plugin's directories",
                config.root
            )));
        }
        let dir = match &target.directory {
            Some(d) => root.join(relative_dir(d)?),
            None => root,
        };
        std::fs::create_dir_all(&dir).map_err(|err| {
            PluginError::unavailable(format!("cannot create {}: {err}", dir.display()))
        })?;
        let stem = target
            .name
            .as_deref()
            .or(bundle.names.first().map(String::as_str))
            .and_then(safe_stem)
            .or_else(|| safe_stem(&bundle.certificate_id))
            .ok_or_else(|| PluginError::invalid("no usable file name; set 'name' in the target"))?;

        if !bundle
            .certificate_pem
            .contains("-----BEGIN CERTIFICATE-----")
        {
            return Err(PluginError::invalid("the bundle's certificate is not PEM"));
        }
        write_atomically(&dir, &format!("{stem}.crt"), &bundle.certificate_pem)?;
        write_atomically(&dir, &format!("{stem}.chain.pem"), &bundle.chain_pem)?;
        let full = format!(
            "{}\n{}",
            bundle.certificate_pem.trim_end(),
            bundle.chain_pem
        );
        write_atomically(&dir, &format!("{stem}.fullchain.pem"), &full)?;
        if let Some(key) = &bundle.private_key_pem
            && target.include_key.unwrap_or(true)
        {
            write_atomically(&dir, &format!("{stem}.key"), key)?;
        }
        Ok(Receipt {
            location: dir.join(format!("{stem}.crt")).display().to_string(),
            version: Some(bundle.version.to_string()),
        })
    }
}

export!(Plugin);

//! Rotation target that writes `<name>.crt`, `<name>.chain.pem`,
//! `<name>.fullchain.pem` and, when the bundle carries one, `<name>.key`
//! into a directory the operator granted. Each file is written to a
//! temporary name and renamed, so a reader never sees half a file.
//!
//! Names come from the target (`name`, `directory`) or the host
//! (`destination`); one that would leave the granted directory (`..`, `/`,
//! a leading `.`) is refused, never rewritten. A push without a key leaves an
//! existing `<name>.key` in place; a key-only push (a request that awaits
//! approval) writes only `<name>.key`.

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
    /// Set by the host: the file stem to write instead of `name`.
    destination: Option<String>,
    /// Set by the host: fail when the files exist already.
    create_new_secret: bool,
}

impl Target {
    fn check(&self) -> Result<(), PluginError> {
        if let Some(d) = &self.directory {
            relative_dir(d)?;
        }
        for (field, value) in [("name", &self.name), ("destination", &self.destination)] {
            if let Some(v) = value {
                explicit_stem(field, v)?;
            }
        }
        Ok(())
    }
}

/// A stem the caller chose: used as it is, or refused.
fn explicit_stem(field: &str, name: &str) -> Result<String, PluginError> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(PluginError::invalid(format!(
            "{field} '{name}' must be 1-200 characters of letters, digits, '.', '-' or '_', \
             not starting with '.' (no directories, no '..')"
        )))
    }
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
    let normal = path.components().all(|c| match c {
        Component::Normal(part) => !part.to_string_lossy().starts_with('.'),
        _ => false,
    });
    if normal && !dir.is_empty() && !dir.contains('\\') {
        Ok(path.to_path_buf())
    } else {
        Err(PluginError::invalid(format!(
            "target directory '{dir}' must be relative, without '..' or hidden parts"
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
    fn check_target(target: String, _: Credentials, config: String) -> Result<(), PluginError> {
        Plugin::check(&target, &config)
    }

    fn push(
        bundle: Bundle,
        target: String,
        _: Credentials,
        config: String,
    ) -> Result<Receipt, PluginError> {
        let config: Config = config::parse("config", &config)?;
        let target: Target = config::parse("target", &target)?;
        target.check()?;
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
        let stem = match (&target.destination, &target.name) {
            (Some(d), _) => explicit_stem("destination", d)?,
            (None, Some(n)) => explicit_stem("name", n)?,
            (None, None) => bundle
                .names
                .first()
                .and_then(|n| safe_stem(n))
                .or_else(|| safe_stem(&bundle.certificate_id))
                .ok_or_else(|| {
                    PluginError::invalid("no usable file name; set 'name' in the target")
                })?,
        };
        if target.create_new_secret
            && ["crt", "key"]
                .iter()
                .any(|ext| dir.join(format!("{stem}.{ext}")).exists())
        {
            return Err(PluginError::invalid(format!(
                "{stem} exists already in {}",
                dir.display()
            )));
        }
        let key = bundle
            .private_key_pem
            .as_deref()
            .filter(|_| target.include_key.unwrap_or(true));
        if bundle.certificate_pem.is_empty() {
            // A key deposited ahead of its certificate.
            let key = key.ok_or_else(|| PluginError::invalid("the bundle has no certificate"))?;
            write_atomically(&dir, &format!("{stem}.key"), key)?;
            return Ok(Receipt {
                location: dir.join(format!("{stem}.key")).display().to_string(),
                version: None,
            });
        }
        if !bundle
            .certificate_pem
            .contains("-----BEGIN CERTIFICATE-----")
        {
            return Err(PluginError::invalid("the bundle's certificate is not PEM"));
        }
        // The key first: a reader that sees the new certificate finds its key.
        if let Some(key) = key {
            write_atomically(&dir, &format!("{stem}.key"), key)?;
        }
        write_atomically(&dir, &format!("{stem}.crt"), &bundle.certificate_pem)?;
        write_atomically(&dir, &format!("{stem}.chain.pem"), &bundle.chain_pem)?;
        let full = format!(
            "{}\n{}",
            bundle.certificate_pem.trim_end(),
            bundle.chain_pem
        );
        write_atomically(&dir, &format!("{stem}.fullchain.pem"), &full)?;
        Ok(Receipt {
            location: dir.join(format!("{stem}.crt")).display().to_string(),
            version: Some(bundle.version.to_string()),
        })
    }
}

impl Plugin {
    fn check(target: &str, config: &str) -> Result<(), PluginError> {
        let _: Config = config::parse("config", config)?;
        let target: Target = config::parse("target", target)?;
        target.check()
    }
}

export!(Plugin);

//! Compiled components cached on disk. Compiling a component takes from
//! 30 ms (Rust) to seconds (Python); loading a serialized one takes about a
//! millisecond. Files are keyed by the component's SHA-256 and the engine's
//! compatibility hash, so a new wasmtime or other engine settings never load
//! a stale file.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled components live, usually `<data_dir>/plugin-cache`.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: Option<PathBuf>,
}

/// How a component was obtained, for start-up logs and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Compiled,
}

impl ComponentCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: Some(dir.into()),
        }
    }

    /// No disk cache: every load compiles.
    pub fn disabled() -> Self {
        Self { dir: None }
    }

    fn path_for(dir: &Path, engine: &Engine, wasm: &[u8]) -> PathBuf {
        let mut engine_hash = DefaultHasher::new();
        engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        let digest = hex::encode(Sha256::digest(wasm));
        dir.join(format!("{digest}-{:016x}.cwasm", engine_hash.finish()))
    }

    /// Loads the compiled form of `wasm`, compiling and storing it on a miss.
    /// A cache that cannot be read or written only costs a compile.
    pub fn load(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> Result<(Component, CacheOutcome), wasmtime::Error> {
        let Some(dir) = &self.dir else {
            return Ok((Component::new(engine, wasm)?, CacheOutcome::Compiled));
        };
        let path = Self::path_for(dir, engine, wasm);
        if path.exists() {
            // SAFETY: the file is one this cache wrote under the data dir,
            // named by the hash of its source and of the engine's settings;
            // wasmtime also checks the engine compatibility header.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %format!("{err:#}"), "discarding unusable cached component");
                }
            }
        }
        let component = Component::new(engine, wasm)?;
        if let Err(err) = Self::store(dir, &path, &component) {
            tracing::warn!(path = %path.display(), error = %err, "cannot cache compiled component");
        }
        Ok((component, CacheOutcome::Compiled))
    }

    /// Writes to a temporary file and renames it, so a concurrent reader
    /// never sees a partial file.
    fn store(dir: &Path, path: &Path, component: &Component) -> Result<(), String> {
        let bytes = component.serialize().map_err(|e| format!("{e:#}"))?;
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, path).map_err(|e| e.to_string())
    }
}

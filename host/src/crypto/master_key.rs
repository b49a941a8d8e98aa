//! The master key: 32 random bytes in a 0600 file, hex-encoded.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{KeyInit, OsRng, rand_core::RngCore};
use aes_gcm::{Aes256Gcm, Key};
use hkdf::Hkdf;
use sha2::Sha256;

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("cannot read master key file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create master key file {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("master key file {path} must hold 64 hex characters (32 bytes)")]
    Malformed { path: PathBuf },
}

/// The key that wraps every data key. Never printed, never cloned into logs.
pub struct MasterKey {
    bytes: [u8; 32],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([secret key elided])")
    }
}

impl MasterKey {
    /// Loads the key from `path`, creating it (mode 0600) when the file does not exist.
    /// Returns the key and whether it was just created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), MasterKeyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Self::parse(path, &text)?, false)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                Ok((Self::create(path)?, true))
            }
            Err(source) => Err(MasterKeyError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    fn parse(path: &Path, text: &str) -> Result<Self, MasterKeyError> {
        let malformed = || MasterKeyError::Malformed {
            path: path.to_owned(),
        };
        let decoded = hex::decode(text.trim()).map_err(|_| malformed())?;
        let bytes: [u8; 32] = decoded.try_into().map_err(|_| malformed())?;
        Ok(Self { bytes })
    }

    fn create(path: &Path) -> Result<Self, MasterKeyError> {
        let create_err = |source| MasterKeyError::Create {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(create_err)?;
        }
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(create_err)?;
        file.write_all(hex::encode(bytes).as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .map_err(create_err)?;
        Ok(Self { bytes })
    }

    #[cfg(test)]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self { bytes }
    }

    pub(super) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.bytes))
    }

    /// A 32-byte key for one purpose (e.g. API key hashing), derived with HKDF-SHA256
    /// so that no two uses share key material.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let hk = Hkdf::<Sha256>::new(Some(b"keystead-v1"), &self.bytes);
        let mut out = [0u8; 32];
        // 32 bytes is far below HKDF's output limit, so expand cannot fail.
        let _ = hk.expand(purpose.as_bytes(), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_file_is_private_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        let (key, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(key.derive("x"), again.derive("x"));
        assert_ne!(key.derive("x"), key.derive("y"));
    }

    #[test]
    fn malformed_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        std::fs::write(&path, "not hex").unwrap();
        let err = MasterKey::load_or_create(&path).unwrap_err();
        assert!(err.to_string().contains("64 hex characters"));
    }

    #[test]
    fn debug_does_not_print_the_key() {
        let key = MasterKey::from_bytes([7; 32]);
        assert!(!format!("{key:?}").contains('7'));
    }
}

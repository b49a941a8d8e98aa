//! Key algorithms, the key types certificates carry, and where a certificate's key is kept.

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
}

/// The key a certificate carries: an algorithm this server signs and generates for, or,
/// for an imported certificate, any other (`Ed448`, `ECDSA-P521`, an OID, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyType {
    Known(KeyAlgorithm),
    Other(String),
}

impl KeyType {
    /// The label lists show and the store keeps, e.g. `RSA-2048`.
    pub fn label(&self) -> String {
        match self {
            Self::Known(algorithm) => algorithm.label(),
            Self::Other(label) => label.clone(),
        }
    }

    pub fn from_label(label: &str) -> Self {
        match KeyAlgorithm::from_label(label) {
            Some(algorithm) if algorithm.label() == label => Self::Known(algorithm),
            _ => Self::Other(label.to_owned()),
        }
    }

    pub fn algorithm(&self) -> Option<KeyAlgorithm> {
        match self {
            Self::Known(algorithm) => Some(*algorithm),
            Self::Other(_) => None,
        }
    }
}

super::wire_enum! {
    /// Where a certificate's private key is kept.
    pub enum KeyStorageMode {
        /// The client made the key (uploaded CSR), or it was imported without one.
        None = "none",
        /// Sealed under the master key, with the certificate.
        Local = "local",
        /// Handed to a custodian (a rotation target) and not kept here.
        External = "external",
    }
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
    fn key_types_keep_their_labels() {
        for label in [
            "RSA-2048",
            "ECDSA-P384",
            "Ed25519",
            "Ed448",
            "ECDSA-P521",
            "1.2.3.4",
        ] {
            assert_eq!(KeyType::from_label(label).label(), label);
        }
        assert_eq!(
            KeyType::from_label("RSA-3072").algorithm(),
            Some(KeyAlgorithm::Rsa(3072))
        );
        assert_eq!(KeyType::from_label("Ed448").algorithm(), None);
    }

    #[test]
    fn storage_modes_round_trip() {
        for mode in KeyStorageMode::ALL {
            assert_eq!(KeyStorageMode::parse(mode.as_str()), Some(*mode));
        }
        assert_eq!(KeyStorageMode::parse("azure"), None);
    }
}

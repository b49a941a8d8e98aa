//! Named key material per project and environment: uploaded keys and keystores. The
//! secret parts (a private key, a keystore and its password) are sealed and not part of
//! the model.

use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    PublicKey,
    PrivateKey,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PublicKey => "PUBLIC_KEY",
            Self::PrivateKey => "PRIVATE_KEY",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "PUBLIC_KEY" => Some(Self::PublicKey),
            "PRIVATE_KEY" => Some(Self::PrivateKey),
            _ => None,
        }
    }
}

/// The encoding of an uploaded key, named after its structure rather than its PEM label
/// so that no private-key marker is stored in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEncoding {
    Spki,
    Pkcs8,
    Sec1,
    Pkcs1,
}

impl KeyEncoding {
    pub const ALL: [Self; 4] = [Self::Spki, Self::Pkcs8, Self::Sec1, Self::Pkcs1];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spki => "SPKI",
            Self::Pkcs8 => "PKCS8",
            Self::Sec1 => "SEC1",
            Self::Pkcs1 => "PKCS1",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == text)
    }

    /// The encoding a key's PEM label stands for (RFC 7468).
    pub fn of_label(label: &str) -> Self {
        match label {
            "PUBLIC KEY" => Self::Spki,
            "PRIVATE KEY" => Self::Pkcs8,
            "EC PRIVATE KEY" => Self::Sec1,
            _ => Self::Pkcs1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeystoreFormat {
    Pkcs12,
    Jks,
}

impl KeystoreFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pkcs12 => "PKCS12",
            Self::Jks => "JKS",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "PKCS12" => Some(Self::Pkcs12),
            "JKS" => Some(Self::Jks),
            _ => None,
        }
    }
}

/// Key material uploaded to an environment under a name: a PEM key or a keystore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored<T> {
    pub id: String,
    pub organization_id: String,
    pub project_id: String,
    pub environment_id: String,
    /// Unique among the environment's material of its kind.
    pub name: String,
    pub description: Option<String>,
    /// What this kind of material adds.
    pub material: T,
    pub created_at: OffsetDateTime,
}

/// A kind of key material: a key or a keystore.
pub trait MaterialKind {
    /// The kind's name in messages and audit actions.
    const NOUN: &'static str;
}

/// An uploaded PEM key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemKey {
    pub key_type: KeyType,
    pub encoding: KeyEncoding,
    /// The PEM of a public key; a private key is sealed instead.
    pub public_pem: Option<String>,
}

impl MaterialKind for PemKey {
    const NOUN: &'static str = "key";
}

/// An uploaded keystore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeystoreFile {
    pub format: KeystoreFormat,
    pub size_bytes: u64,
    /// The entries' aliases, sorted; empty when the keystore was not read at upload.
    pub aliases: Vec<String>,
}

impl MaterialKind for KeystoreFile {
    const NOUN: &'static str = "keystore";
}

pub type StoredKey = Stored<PemKey>;
pub type StoredKeystore = Stored<KeystoreFile>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for key_type in [KeyType::PublicKey, KeyType::PrivateKey] {
            assert_eq!(KeyType::parse(key_type.as_str()), Some(key_type));
        }
        for encoding in KeyEncoding::ALL {
            assert_eq!(KeyEncoding::parse(encoding.as_str()), Some(encoding));
        }
        for format in [KeystoreFormat::Pkcs12, KeystoreFormat::Jks] {
            assert_eq!(KeystoreFormat::parse(format.as_str()), Some(format));
        }
        assert_eq!(KeystoreFormat::parse("pkcs12"), None);
    }

    #[test]
    fn encodings_follow_pem_labels() {
        assert_eq!(KeyEncoding::of_label("PUBLIC KEY"), KeyEncoding::Spki);
        assert_eq!(KeyEncoding::of_label("PRIVATE KEY"), KeyEncoding::Pkcs8);
        assert_eq!(KeyEncoding::of_label("EC PRIVATE KEY"), KeyEncoding::Sec1);
        assert_eq!(KeyEncoding::of_label("RSA PUBLIC KEY"), KeyEncoding::Pkcs1);
        assert_eq!(KeyEncoding::of_label("RSA PRIVATE KEY"), KeyEncoding::Pkcs1);
    }
}

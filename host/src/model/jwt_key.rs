//! JWT signing keys: a key pair per project whose private half never leaves the platform.

use time::OffsetDateTime;

/// A JWS signing algorithm Keystead generates keys for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    Es512,
    EdDsa,
}

impl Algorithm {
    pub const ALL: [Self; 10] = [
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::Es256,
        Self::Es384,
        Self::Es512,
        Self::EdDsa,
    ];

    /// The JWS `alg` name (RFC 7518, RFC 8037).
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
            Self::EdDsa => "EdDSA",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            Self::Rs256 | Self::Rs384 | Self::Rs512 | Self::Ps256 | Self::Ps384 | Self::Ps512
        )
    }

    /// The curve of an elliptic-curve or Edwards key (`crv` in its JWK).
    pub fn curve(self) -> Option<&'static str> {
        match self {
            Self::Es256 => Some("P-256"),
            Self::Es384 => Some("P-384"),
            Self::Es512 => Some("P-521"),
            Self::EdDsa => Some("Ed25519"),
            _ => None,
        }
    }
}

/// A key's public record: everything but the sealed private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtKey {
    pub id: String,
    pub organization_id: String,
    pub project_id: String,
    /// Unique among the project's active keys.
    pub name: String,
    pub algorithm: Algorithm,
    /// The RSA modulus length; `None` for other key types.
    pub key_size: Option<u32>,
    pub kid: String,
    /// The public JWK as JSON text, published as is in the project's JWKS.
    pub public_jwk: String,
    pub public_pem: String,
    /// Set when the key was rotated; it still verifies, and stays in the JWKS for the
    /// rollover window.
    pub deprecated_at: Option<OffsetDateTime>,
    /// The key that replaced this one on rotation.
    pub replaced_by: Option<String>,
    pub created_at: OffsetDateTime,
}

impl JwtKey {
    pub fn is_deprecated(&self) -> bool {
        self.deprecated_at.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::parse(alg.name()), Some(alg));
        }
        assert_eq!(Algorithm::parse("HS256"), None);
        assert_eq!(Algorithm::parse("rs256"), None);
        assert!(Algorithm::Ps384.is_rsa() && Algorithm::Ps384.curve().is_none());
        assert_eq!(Algorithm::Es512.curve(), Some("P-521"));
    }
}

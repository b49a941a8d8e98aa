//! Which algorithms a JWK may carry, per key type and use.

/// `SIGNATURE` or `ENCRYPTION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseType {
    Signature,
    Encryption,
}

impl UseType {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "SIGNATURE" => Some(Self::Signature),
            "ENCRYPTION" => Some(Self::Encryption),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signature => "SIGNATURE",
            Self::Encryption => "ENCRYPTION",
        }
    }

    /// The JWK `use` member.
    pub fn jwk_use(self) -> &'static str {
        match self {
            Self::Signature => "sig",
            Self::Encryption => "enc",
        }
    }

    /// From a JWK `use` member.
    pub fn from_jwk_use(text: &str) -> Option<Self> {
        match text {
            "sig" => Some(Self::Signature),
            "enc" => Some(Self::Encryption),
            _ => None,
        }
    }
}

const ECDH: &[&str] = &[
    "ECDH-ES",
    "ECDH-ES+A128KW",
    "ECDH-ES+A192KW",
    "ECDH-ES+A256KW",
    "ECDH-1PU",
    "ECDH-1PU+A128KW",
    "ECDH-1PU+A192KW",
    "ECDH-1PU+A256KW",
];

/// The algorithms a key type (`RSA`, `EC`, `OCT`, `OKP`, as in a JWK's `kty`,
/// case-insensitive) may carry for a use.
pub fn allowed(kty: &str, use_type: UseType) -> &'static [&'static str] {
    match (kty.to_ascii_uppercase().as_str(), use_type) {
        ("RSA", UseType::Signature) => &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
        ("RSA", UseType::Encryption) => &[
            "RSA1_5",
            "RSA-OAEP",
            "RSA-OAEP-256",
            "RSA-OAEP-384",
            "RSA-OAEP-512",
        ],
        ("EC", UseType::Signature) => &["ES256", "ES384", "ES512", "ES256K"],
        ("EC", UseType::Encryption) | ("OKP", UseType::Encryption) => ECDH,
        ("OCT", UseType::Signature) => &["HS256", "HS384", "HS512"],
        ("OCT", UseType::Encryption) => &[
            "A128KW",
            "A192KW",
            "A256KW",
            "A128GCMKW",
            "A192GCMKW",
            "A256GCMKW",
            "DIR",
            "PBES2-HS256+A128KW",
            "PBES2-HS384+A192KW",
            "PBES2-HS512+A256KW",
        ],
        ("OKP", UseType::Signature) => &["EdDSA"],
        _ => &[],
    }
}

/// True for a key type name given where an algorithm belongs.
pub fn is_key_type(text: &str) -> bool {
    matches!(
        text.to_ascii_uppercase().as_str(),
        "RSA" | "EC" | "OCT" | "OKP"
    )
}

/// Checks `algorithm` against the key type and use. The error is the caller's message.
pub fn check(kty: &str, use_type: UseType, algorithm: &str) -> Result<(), String> {
    if is_key_type(algorithm) {
        return Err(format!(
            "Algorithm ({algorithm}) is a key type, not an algorithm! Use a valid algorithm \
             name (e.g., use RS256 not RSA)."
        ));
    }
    let allowed = allowed(kty, use_type);
    if allowed.contains(&algorithm) {
        return Ok(());
    }
    Err(format!(
        "Algorithm ({algorithm}) is not valid for key type {} with use type {}! Valid \
         algorithms: {}.",
        kty.to_ascii_uppercase(),
        use_type.as_str(),
        allowed.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert!(check("RSA", UseType::Signature, "PS512").is_ok());
        assert!(check("RSA", UseType::Encryption, "RSA-OAEP-256").is_ok());
        assert!(check("EC", UseType::Signature, "ES256K").is_ok());
        assert!(check("EC", UseType::Encryption, "ECDH-1PU+A256KW").is_ok());
        assert!(check("oct", UseType::Encryption, "PBES2-HS512+A256KW").is_ok());
        assert!(check("OKP", UseType::Signature, "EdDSA").is_ok());
        assert!(check("OKP", UseType::Encryption, "ECDH-ES").is_ok());
        assert!(check("RSA", UseType::Signature, "ES256").is_err());
        assert!(check("EC", UseType::Signature, "EdDSA").is_err());
        assert!(check("OKP", UseType::Signature, "ES256").is_err());
        assert!(check("RSA", UseType::Encryption, "RS256").is_err());
        let err = check("RSA", UseType::Signature, "RSA").unwrap_err();
        assert!(err.contains("key type"), "{err}");
        // Names are case-sensitive, as in JOSE.
        assert!(check("RSA", UseType::Signature, "rs256").is_err());
    }
}

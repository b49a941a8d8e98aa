//! JWK objects: named public JWKs of a project, made from a source and published in
//! each environment's JWKS.

use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Where an object's JWK comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwkSourceType {
    Url,
    CopyPaste,
    Certificate,
    PublicKey,
    PrivateKey,
    Keystore,
}

impl JwkSourceType {
    pub const ALL: [Self; 6] = [
        Self::Url,
        Self::CopyPaste,
        Self::Certificate,
        Self::PublicKey,
        Self::PrivateKey,
        Self::Keystore,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Url => "URL",
            Self::CopyPaste => "COPY_PASTE",
            Self::Certificate => "CERTIFICATE",
            Self::PublicKey => "PUBLIC_KEY",
            Self::PrivateKey => "PRIVATE_KEY",
            Self::Keystore => "KEYSTORE",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct JwkObject {
    pub id: String,
    pub organization_id: String,
    pub project_id: String,
    /// Unique in the project; never changes.
    pub name: String,
    pub description: Option<String>,
    pub source_type: JwkSourceType,
    /// The source fields the object was made from (never a pasted JWK or a secret), in
    /// the API's camelCase names; unset fields are null.
    pub source: Map<String, Value>,
    /// The public JWK, as published.
    pub jwk: Map<String, Value>,
    /// The `kid` of the published JWK.
    pub kid: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_types_round_trip() {
        for source in JwkSourceType::ALL {
            assert_eq!(JwkSourceType::parse(source.as_str()), Some(source));
        }
        assert_eq!(JwkSourceType::parse("GENERATE"), None);
        assert_eq!(JwkSourceType::parse("url"), None);
    }
}

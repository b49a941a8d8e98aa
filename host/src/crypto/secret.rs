//! Secrets in memory: passwords, tokens, signing secrets and private keys held in a
//! request or a domain value. Their `Debug` prints a redaction, their memory is wiped
//! when they are dropped (`secrecy`), and they have neither `Display` nor `Serialize`:
//! a response hands one out only through a field marked with [`serialize_exposed`].

use std::fmt;

use secrecy::ExposeSecret;
use serde::{Deserialize, Serializer};

const REDACTED: &str = "[redacted]";

/// A secret text. Deserialises from a JSON string, a query parameter or a form field.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct SecretString(secrecy::SecretString);

impl SecretString {
    /// The value, for the one place that uses it (a hash, a seal, a signature).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value.into())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Secret bytes: an uploaded file that may hold private keys, a private key's DER.
pub struct SecretBytes(secrecy::SecretSlice<u8>);

impl SecretBytes {
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(value: Vec<u8>) -> Self {
        Self(value.into())
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// `#[serde(serialize_with = ...)]` for the field of a response that hands a new secret
/// to its owner: an API key's secret, a generated webhook secret, a bearer token.
pub fn serialize_exposed<S: Serializer>(
    secret: &SecretString,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose())
}

/// [`serialize_exposed`] for an optional secret.
pub fn serialize_exposed_option<S: Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => serializer.serialize_some(secret.expose()),
        None => serializer.serialize_none(),
    }
}

/// `#[serde(serialize_with = ...)]` for a secret a request body carries in but whose
/// serialised (stored, shown) form never holds: written as `null`.
pub fn serialize_withheld<S: Serializer>(
    _secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_and_expose_reads() {
        let secret = SecretString::from("hunter2-hunter2".to_owned());
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some([redacted])");
        assert_eq!(secret.expose(), "hunter2-hunter2");
        let bytes = SecretBytes::from(b"sealed-key-material-0123".to_vec());
        assert_eq!(format!("{bytes:?}"), REDACTED);
        assert_eq!(bytes.expose(), b"sealed-key-material-0123");
    }

    #[test]
    fn deserialises_from_a_string_and_serialises_only_when_asked() {
        #[derive(Debug, Deserialize, serde::Serialize)]
        struct Body {
            #[serde(serialize_with = "serialize_exposed")]
            shown: SecretString,
            #[serde(serialize_with = "serialize_exposed_option")]
            maybe: Option<SecretString>,
            #[serde(serialize_with = "serialize_withheld")]
            withheld: Option<SecretString>,
        }
        let body: Body = serde_json::from_str(
            r#"{"shown": "s-one-secret", "maybe": "s-two-secret", "withheld": "s-three-secret"}"#,
        )
        .unwrap();
        let debug = format!("{body:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"shown": "s-one-secret", "maybe": "s-two-secret", "withheld": null})
        );
    }
}

//! Key generation, signers and verifiers for each signing algorithm ([`Algorithm`],
//! in the model). No cryptography is implemented here: josekit (OpenSSL) does it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::JoseError;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::ed::{EdCurve, EdKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{
    ES256, ES384, ES512, EdDSA, JwsSigner, JwsVerifier, PS256, PS384, PS512, RS256, RS384, RS512,
};
use sha2::{Digest, Sha256};

pub use crate::model::jwt_key::Algorithm;

/// RSA modulus lengths a key may have.
pub const RSA_KEY_SIZES: [u32; 2] = [2048, 4096];
pub const DEFAULT_RSA_KEY_SIZE: u32 = 2048;

/// The cryptography of each algorithm, through josekit.
impl Algorithm {
    /// Generates a key pair. `rsa_bits` is used only by the RSA algorithms.
    /// Slow for RSA 4096 (seconds): call it off the async runtime.
    pub fn generate(self, rsa_bits: u32) -> Result<GeneratedKey, JoseError> {
        let pair: Box<dyn KeyPair> = match self {
            // PS* keys are ordinary RSA keys (kty "RSA", rsaEncryption SPKI), as JOSE expects.
            _ if self.is_rsa() => Box::new(RsaKeyPair::generate(rsa_bits)?),
            Self::Es256 => Box::new(EcKeyPair::generate(EcCurve::P256)?),
            Self::Es384 => Box::new(EcKeyPair::generate(EcCurve::P384)?),
            Self::Es512 => Box::new(EcKeyPair::generate(EcCurve::P521)?),
            _ => Box::new(EdKeyPair::generate(EdCurve::Ed25519)?),
        };
        let mut public_jwk = pair.to_jwk_public_key();
        let kid = thumbprint(&public_jwk)?;
        public_jwk.set_key_use("sig");
        public_jwk.set_algorithm(self.name());
        public_jwk.set_key_id(&kid);
        let mut private_jwk = pair.to_jwk_private_key();
        private_jwk.set_key_use("sig");
        private_jwk.set_algorithm(self.name());
        private_jwk.set_key_id(&kid);
        let public_pem = String::from_utf8(pair.to_pem_public_key())
            .map_err(|e| JoseError::InvalidKeyFormat(e.into()))?;
        Ok(GeneratedKey {
            kid,
            public_jwk,
            public_pem,
            private_jwk: PrivateJwk(private_jwk),
        })
    }

    pub fn signer(self, key: &PrivateJwk) -> Result<Box<dyn JwsSigner>, JoseError> {
        let jwk = &key.0;
        Ok(match self {
            Self::Rs256 => Box::new(RS256.signer_from_jwk(jwk)?),
            Self::Rs384 => Box::new(RS384.signer_from_jwk(jwk)?),
            Self::Rs512 => Box::new(RS512.signer_from_jwk(jwk)?),
            Self::Ps256 => Box::new(PS256.signer_from_jwk(jwk)?),
            Self::Ps384 => Box::new(PS384.signer_from_jwk(jwk)?),
            Self::Ps512 => Box::new(PS512.signer_from_jwk(jwk)?),
            Self::Es256 => Box::new(ES256.signer_from_jwk(jwk)?),
            Self::Es384 => Box::new(ES384.signer_from_jwk(jwk)?),
            Self::Es512 => Box::new(ES512.signer_from_jwk(jwk)?),
            Self::EdDsa => Box::new(EdDSA.signer_from_jwk(jwk)?),
        })
    }

    pub fn verifier(self, public_jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, JoseError> {
        let jwk = public_jwk;
        Ok(match self {
            Self::Rs256 => Box::new(RS256.verifier_from_jwk(jwk)?),
            Self::Rs384 => Box::new(RS384.verifier_from_jwk(jwk)?),
            Self::Rs512 => Box::new(RS512.verifier_from_jwk(jwk)?),
            Self::Ps256 => Box::new(PS256.verifier_from_jwk(jwk)?),
            Self::Ps384 => Box::new(PS384.verifier_from_jwk(jwk)?),
            Self::Ps512 => Box::new(PS512.verifier_from_jwk(jwk)?),
            Self::Es256 => Box::new(ES256.verifier_from_jwk(jwk)?),
            Self::Es384 => Box::new(ES384.verifier_from_jwk(jwk)?),
            Self::Es512 => Box::new(ES512.verifier_from_jwk(jwk)?),
            Self::EdDsa => Box::new(EdDSA.verifier_from_jwk(jwk)?),
        })
    }
}

/// A private key as a JWK. Its `Debug` never prints the key.
pub struct PrivateJwk(Jwk);

impl std::fmt::Debug for PrivateJwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateJwk([secret key elided])")
    }
}

impl PrivateJwk {
    /// The serialized form, to be sealed and never stored or sent otherwise.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_string().into_bytes()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, JoseError> {
        Jwk::from_bytes(bytes).map(Self)
    }
}

#[derive(Debug)]
pub struct GeneratedKey {
    pub kid: String,
    pub public_jwk: Jwk,
    pub public_pem: String,
    pub private_jwk: PrivateJwk,
}

/// The RFC 7638 JWK thumbprint (SHA-256, base64url) of a public key: the required members
/// in lexicographic order, no whitespace.
pub fn thumbprint(public_jwk: &Jwk) -> Result<String, JoseError> {
    let member = |name: &str| -> Result<String, JoseError> {
        let value = public_jwk
            .parameter(name)
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                JoseError::InvalidKeyFormat(anyhow::anyhow!("public JWK lacks '{name}'"))
            })?;
        // Members are base64url or curve names: JSON strings without escapes.
        Ok(serde_json::Value::String(value.to_owned()).to_string())
    };
    let canonical = match public_jwk.key_type() {
        "RSA" => format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            member("e")?,
            member("n")?
        ),
        "EC" => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            member("crv")?,
            member("x")?,
            member("y")?
        ),
        "OKP" => format!(
            r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
            member("crv")?,
            member("x")?
        ),
        other => {
            return Err(JoseError::InvalidKeyFormat(anyhow::anyhow!(
                "no thumbprint for key type '{other}'"
            )));
        }
    };
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 section 3.1's example key and thumbprint.
    #[test]
    fn thumbprint_matches_rfc_7638() {
        let jwk = Jwk::from_bytes(
            br#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
        )
        .unwrap();
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn every_algorithm_signs_and_verifies() {
        for alg in Algorithm::ALL {
            let key = alg.generate(2048).unwrap();
            let signer = alg.signer(&key.private_jwk).unwrap();
            let verifier = alg.verifier(&key.public_jwk).unwrap();
            let signature = signer.sign(b"message").unwrap();
            verifier.verify(b"message", &signature).unwrap();
            assert!(verifier.verify(b"other", &signature).is_err(), "{alg:?}");
            assert!(key.public_jwk.parameter("d").is_none());
            assert!(key.public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
            assert_eq!(key.public_jwk.algorithm(), Some(alg.name()));
            assert_eq!(key.public_jwk.curve(), alg.curve());
            let reopened = PrivateJwk::from_bytes(&key.private_jwk.to_bytes()).unwrap();
            assert!(alg.signer(&reopened).is_ok());
            assert!(!format!("{:?}", key.private_jwk).contains("\"d\""));
        }
    }
}

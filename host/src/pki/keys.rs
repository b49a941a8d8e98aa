//! Key generation for CAs and server-generated certificate keys, and loading stored keys.

use rand::rngs::OsRng;
use rcgen::{
    KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256,
};
use rsa::pkcs8::EncodePrivateKey;

use crate::model::KeyAlgorithm;
use crate::{Error, Result};

impl KeyAlgorithm {
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

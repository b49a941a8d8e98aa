//! Short-lived bearer tokens: ES256 JWTs signed with the platform's own key, which is
//! generated on first start and stored sealed under the master key.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use josekit::jws::alg::ecdsa::{EcdsaJwsSigner, EcdsaJwsVerifier};
use josekit::jws::{ES256, JwsHeader};
use josekit::jwt::{self, JwtPayload, JwtPayloadValidator};
use uuid::Uuid;

use crate::crypto::{MasterKey, Sealed};
use crate::store::{Store, StoreError};

const ISSUER: &str = "keystead";
const KEY_RECORD: &str = "platform_token_signing_key";

#[derive(Debug, thiserror::Error)]
pub enum TokenKeyError {
    #[error("cannot read the token signing key: {0}")]
    Store(#[from] StoreError),
    #[error(
        "the master key does not open this database's secrets; \
         start with the master key file this data directory was created with"
    )]
    WrongMasterKey,
    #[error("cannot create the token signing key: {0}")]
    Key(#[from] josekit::JoseError),
}

pub struct TokenSigner {
    signer: EcdsaJwsSigner,
    verifier: EcdsaJwsVerifier,
    ttl: Duration,
}

/// What a valid token says.
#[derive(Debug)]
pub struct TokenClaims {
    pub public_key: String,
}

impl TokenSigner {
    /// Loads the signing key, creating it on an empty database.
    pub async fn load_or_create(
        store: &Store,
        master: &MasterKey,
        ttl: Duration,
    ) -> Result<Self, TokenKeyError> {
        let pem = match store.meta_get(KEY_RECORD).await? {
            Some(sealed) => master
                .open(KEY_RECORD, &Sealed(sealed))
                .map_err(|_| TokenKeyError::WrongMasterKey)?,
            None => {
                let pem = ES256.generate_key_pair()?.to_pem_private_key();
                let sealed = master.seal(KEY_RECORD, &pem);
                if !store.meta_insert(KEY_RECORD, sealed.0).await? {
                    // Another process created it first; use theirs.
                    return Box::pin(Self::load_or_create(store, master, ttl)).await;
                }
                pem
            }
        };
        let key_pair = ES256.key_pair_from_pem(&pem)?;
        Ok(Self {
            signer: ES256.signer_from_jwk(&key_pair.to_jwk_private_key())?,
            verifier: ES256.verifier_from_jwk(&key_pair.to_jwk_public_key())?,
            ttl,
        })
    }

    /// A token for `public_key` and its expiry time.
    pub fn issue(&self, public_key: &str) -> Result<(String, SystemTime), josekit::JoseError> {
        // Whole seconds: NumericDate values are conventionally integers.
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let now = UNIX_EPOCH + Duration::from_secs(since_epoch);
        let expires = now + self.ttl;
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        let mut payload = JwtPayload::new();
        payload.set_issuer(ISSUER);
        payload.set_subject(public_key);
        payload.set_issued_at(&now);
        payload.set_expires_at(&expires);
        payload.set_jwt_id(Uuid::new_v4().to_string());
        let token = jwt::encode_with_signer(&payload, &header, &self.signer)?;
        Ok((token, expires))
    }

    /// Verifies signature, issuer and expiry. `None` for any invalid token.
    pub fn verify(&self, token: &str) -> Option<TokenClaims> {
        let (payload, _) = jwt::decode_with_verifier(token, &self.verifier).ok()?;
        let mut validator = JwtPayloadValidator::new();
        validator.set_base_time(SystemTime::now());
        validator.set_issuer(ISSUER);
        validator.validate(&payload).ok()?;
        payload.expires_at()?;
        Some(TokenClaims {
            public_key: payload.subject()?.to_owned(),
        })
    }
}

/// Whether a credential looks like a compact JWS rather than an API key.
pub fn looks_like_jwt(credential: &str) -> bool {
    credential.starts_with("eyJ") && credential.matches('.').count() == 2
}

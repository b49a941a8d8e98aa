//! The public JWK of an X.509 certificate's key. Shared by the
//! `jwk-certificate` and `jwk-keystore` sources (the latter includes this file
//! by path, next to `der_jwk`).

use der::{Decode, Encode};
use keystead_plugin_sdk::PluginError;
use serde_json::{Map, Value};

use super::der_jwk;

/// The public key of a DER certificate as JWK members (no `x5c`, no `kid`).
pub fn certificate_key(der: &[u8]) -> Result<Map<String, Value>, PluginError> {
    let cert = x509_cert::Certificate::from_der(der)
        .map_err(|e| PluginError::invalid(format!("not a DER X.509 certificate: {e}")))?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| PluginError::invalid(format!("unreadable certificate key: {e}")))?;
    der_jwk::spki(&spki).map_err(|e| match e {
        PluginError::InvalidInput(m) => PluginError::invalid(format!("certificate key: {m}")),
        other => other,
    })
}

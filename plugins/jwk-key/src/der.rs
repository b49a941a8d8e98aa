//! DER key structures to public JWKs: SubjectPublicKeyInfo, PKCS#1, PKCS#8
//! and SEC1. Shared by the `jwk-key`, `jwk-certificate` and `jwk-keystore`
//! sources (the latter two include this file by path). Only public members
//! are produced.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use der::asn1::ObjectIdentifier;
use der::{AnyRef, Decode};
use keystead_plugin_sdk::PluginError;
use serde_json::{Map, Value, json};

const RSA: &str = "1.2.840.113549.1.1.1";
const RSA_PSS: &str = "1.2.840.113549.1.1.10";
const EC: &str = "1.2.840.10045.2.1";
const ED25519: &str = "1.3.101.112";
const ED448: &str = "1.3.101.113";
const X25519: &str = "1.3.101.110";
const X448: &str = "1.3.101.111";

/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;

fn b64(bytes: &[u8]) -> Value {
    Value::String(URL_SAFE_NO_PAD.encode(bytes))
}

fn bad(message: impl Into<String>) -> PluginError {
    PluginError::invalid(message)
}

fn rsa_jwk(modulus: &[u8], exponent: &[u8]) -> Result<Map<String, Value>, PluginError> {
    let n: Vec<u8> = modulus.iter().copied().skip_while(|b| *b == 0).collect();
    let e: Vec<u8> = exponent.iter().copied().skip_while(|b| *b == 0).collect();
    let bits = n.len() * 8;
    if bits < MIN_RSA_BITS {
        return Err(bad(format!(
            "RSA modulus of {bits} bits; at least {MIN_RSA_BITS} required"
        )));
    }
    if e.is_empty() || e.len() > 8 {
        return Err(bad("RSA public exponent has an invalid length"));
    }
    Ok(obj(json!({"kty": "RSA", "n": b64(&n), "e": b64(&e)})))
}

fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// (JWK curve name, coordinate size) of a named curve.
fn curve(oid: &ObjectIdentifier) -> Result<(&'static str, usize), PluginError> {
    match oid.to_string().as_str() {
        "1.2.840.10045.3.1.7" => Ok(("P-256", 32)),
        "1.3.132.0.34" => Ok(("P-384", 48)),
        "1.3.132.0.35" => Ok(("P-521", 66)),
        "1.3.132.0.10" => Ok(("secp256k1", 32)),
        other => Err(bad(format!("unsupported EC curve (OID {other})"))),
    }
}

fn named_curve(parameters: Option<AnyRef<'_>>) -> Result<ObjectIdentifier, PluginError> {
    parameters
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
        .ok_or_else(|| bad("EC key without a named curve"))
}

fn ec_jwk(curve_oid: &ObjectIdentifier, point: &[u8]) -> Result<Map<String, Value>, PluginError> {
    let (crv, size) = curve(curve_oid)?;
    match point.first() {
        Some(0x04) if point.len() == 1 + 2 * size => Ok(obj(json!({
            "kty": "EC",
            "crv": crv,
            "x": b64(&point[1..=size]),
            "y": b64(&point[1 + size..]),
        }))),
        Some(0x02 | 0x03) => Err(bad("compressed EC points are not supported")),
        _ => Err(bad(format!("malformed {crv} public point"))),
    }
}

fn okp_jwk(crv: &str, size: usize, x: &[u8]) -> Result<Map<String, Value>, PluginError> {
    if x.len() != size {
        return Err(bad(format!("{crv} public key must be {size} bytes")));
    }
    Ok(obj(json!({"kty": "OKP", "crv": crv, "x": b64(x)})))
}

/// A SubjectPublicKeyInfo (`PUBLIC KEY`, or a certificate's key).
pub fn spki(der: &[u8]) -> Result<Map<String, Value>, PluginError> {
    let info = spki::SubjectPublicKeyInfoRef::from_der(der)
        .map_err(|e| bad(format!("not a DER SubjectPublicKeyInfo: {e}")))?;
    let key = info
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| bad("the public key bit string has unused bits"))?;
    match info.algorithm.oid.to_string().as_str() {
        RSA | RSA_PSS => rsa_public(key),
        EC => ec_jwk(&named_curve(info.algorithm.parameters)?, key),
        ED25519 => okp_jwk("Ed25519", 32, key),
        ED448 => okp_jwk("Ed448", 57, key),
        X25519 => okp_jwk("X25519", 32, key),
        X448 => okp_jwk("X448", 56, key),
        other => Err(bad(format!("unsupported key algorithm (OID {other})"))),
    }
}

/// A PKCS#1 `RSAPublicKey` (`RSA PUBLIC KEY`).
pub fn rsa_public(der: &[u8]) -> Result<Map<String, Value>, PluginError> {
    let key = pkcs1::RsaPublicKey::from_der(der)
        .map_err(|e| bad(format!("not a PKCS#1 RSA public key: {e}")))?;
    rsa_jwk(key.modulus.as_bytes(), key.public_exponent.as_bytes())
}

/// A PKCS#1 `RSAPrivateKey` (`RSA PRIVATE KEY`): its public part.
pub fn rsa_private(der: &[u8]) -> Result<Map<String, Value>, PluginError> {
    let key = pkcs1::RsaPrivateKey::from_der(der)
        .map_err(|e| bad(format!("not a PKCS#1 RSA private key: {e}")))?;
    rsa_jwk(key.modulus.as_bytes(), key.public_exponent.as_bytes())
}

/// A SEC1 `ECPrivateKey` (`EC PRIVATE KEY`): its public part. `outer` is the
/// curve named by an enclosing PKCS#8 structure, when there is one.
pub fn ec_private(
    der: &[u8],
    outer: Option<ObjectIdentifier>,
) -> Result<Map<String, Value>, PluginError> {
    let key = sec1::EcPrivateKey::from_der(der)
        .map_err(|e| bad(format!("not a SEC1 EC private key: {e}")))?;
    let oid = key
        .parameters
        .and_then(|p| p.named_curve())
        .or(outer)
        .ok_or_else(|| bad("EC key without a named curve"))?;
    let point = key
        .public_key
        .ok_or_else(|| bad("the EC private key does not carry its public key"))?;
    ec_jwk(&oid, point)
}

/// A PKCS#8 `PrivateKeyInfo` (`PRIVATE KEY`): its public part.
pub fn pkcs8_private(der: &[u8]) -> Result<Map<String, Value>, PluginError> {
    let info = pkcs8::PrivateKeyInfo::from_der(der)
        .map_err(|e| bad(format!("not a PKCS#8 private key: {e}")))?;
    let okp = |crv: &str, size: usize| match info.public_key {
        Some(x) => okp_jwk(crv, size, x),
        None => Err(bad(format!(
            "the {crv} private key does not carry its public key (PKCS#8 v2 needed)"
        ))),
    };
    match info.algorithm.oid.to_string().as_str() {
        RSA | RSA_PSS => rsa_private(info.private_key),
        EC => ec_private(info.private_key, info.algorithm.parameters_oid().ok()),
        ED25519 => okp("Ed25519", 32),
        ED448 => okp("Ed448", 57),
        X25519 => okp("X25519", 32),
        X448 => okp("X448", 56),
        other => Err(bad(format!("unsupported key algorithm (OID {other})"))),
    }
}

/// Decodes one PEM block: (label, DER).
pub fn pem(text: &str) -> Result<(String, Vec<u8>), PluginError> {
    let (label, der) = pem_rfc7468::decode_vec(text.trim().as_bytes())
        .map_err(|e| bad(format!("not a PEM block: {e}")))?;
    Ok((label.to_owned(), der))
}

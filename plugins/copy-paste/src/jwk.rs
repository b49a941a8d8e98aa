//! Checks JWK and JWK Set JSON and reduces each key to its public members.
//! Shared by the `copy-paste` and `jwk-url` sources (the latter includes
//! this file by path).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keystead_plugin_sdk::{PluginError, config};
use serde_json::{Map, Value};

/// Members every key may carry besides its key-type-specific ones.
const COMMON: &[&str] = &[
    "kty", "use", "key_ops", "alg", "kid", "x5u", "x5c", "x5t", "x5t#S256",
];
/// Largest accepted set; more is almost certainly a mistake.
const MAX_KEYS: usize = 100;

fn invalid(index: usize, message: impl std::fmt::Display) -> PluginError {
    PluginError::invalid(format!("keys[{index}]: {message}"))
}

fn b64(key: &Map<String, Value>, index: usize, member: &str) -> Result<Vec<u8>, PluginError> {
    let text = key.get(member).and_then(Value::as_str).ok_or_else(|| {
        invalid(
            index,
            format!("member '{member}' is missing or not a string"),
        )
    })?;
    URL_SAFE_NO_PAD.decode(text).map_err(|_| {
        invalid(
            index,
            format!("member '{member}' is not unpadded base64url"),
        )
    })
}

/// Checks one key and returns its public members.
fn public_jwk(key: &Value, index: usize) -> Result<Map<String, Value>, PluginError> {
    let key = key
        .as_object()
        .ok_or_else(|| invalid(index, "a JWK must be a JSON object"))?;
    let kty = key
        .get("kty")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(index, "member 'kty' is missing"))?;
    let public: &[&str] = match kty {
        "RSA" => {
            let n = b64(key, index, "n")?;
            let e = b64(key, index, "e")?;
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            if bits < 2048 {
                return Err(invalid(
                    index,
                    format!("RSA modulus of {bits} bits; at least 2048 required"),
                ));
            }
            if e.is_empty() || e.len() > 8 {
                return Err(invalid(index, "RSA exponent 'e' has an invalid length"));
            }
            &["n", "e"]
        }
        "EC" => {
            let size = match key.get("crv").and_then(Value::as_str) {
                Some("P-256") => 32,
                Some("P-384") => 48,
                Some("P-521") => 66,
                other => return Err(invalid(index, format!("unsupported EC curve {other:?}"))),
            };
            for member in ["x", "y"] {
                if b64(key, index, member)?.len() != size {
                    return Err(invalid(
                        index,
                        format!("EC coordinate '{member}' must be {size} bytes"),
                    ));
                }
            }
            &["crv", "x", "y"]
        }
        "OKP" => {
            let size = match key.get("crv").and_then(Value::as_str) {
                Some("Ed25519" | "X25519") => 32,
                Some("Ed448") => 57,
                Some("X448") => 56,
                other => return Err(invalid(index, format!("unsupported OKP curve {other:?}"))),
            };
            if b64(key, index, "x")?.len() != size {
                return Err(invalid(
                    index,
                    format!("OKP member 'x' must be {size} bytes"),
                ));
            }
            &["crv", "x"]
        }
        "oct" => return Err(invalid(index, "symmetric ('oct') keys cannot be published")),
        other => return Err(invalid(index, format!("unsupported key type '{other}'"))),
    };
    if let Some(use_) = key.get("use")
        && !matches!(use_.as_str(), Some("sig" | "enc"))
    {
        return Err(invalid(index, "member 'use' must be \"sig\" or \"enc\""));
    }
    if key.get("kid").is_some_and(|k| !k.is_string()) {
        return Err(invalid(index, "member 'kid' must be a string"));
    }
    Ok(key
        .iter()
        .filter(|(name, _)| COMMON.contains(&name.as_str()) || public.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect())
}

pub fn load(text: &str, kid: Option<&str>) -> Result<Vec<String>, PluginError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|err| PluginError::invalid(format!("not valid JSON: {err}")))?;
    let (keys, is_set) = match value.get("keys") {
        Some(Value::Array(keys)) => (keys.clone(), true),
        Some(_) => return Err(PluginError::invalid("member 'keys' must be an array")),
        None => (vec![value], false),
    };
    if keys.is_empty() {
        return Err(PluginError::invalid("the JWK Set has no keys"));
    }
    if keys.len() > MAX_KEYS {
        return Err(PluginError::invalid(format!("more than {MAX_KEYS} keys")));
    }
    let mut jwks = keys
        .iter()
        .enumerate()
        .map(|(i, key)| public_jwk(key, i))
        .collect::<Result<Vec<_>, _>>()?;
    let kids: Vec<&str> = jwks.iter().filter_map(|k| k.get("kid")?.as_str()).collect();
    if (1..kids.len()).any(|i| kids[..i].contains(&kids[i])) {
        return Err(PluginError::invalid("duplicate 'kid' in the JWK Set"));
    }
    if let Some(kid) = kid {
        if is_set {
            // With a set, the kid selects one key.
            jwks.retain(|k| k.get("kid").and_then(Value::as_str) == Some(kid));
            if jwks.is_empty() {
                return Err(PluginError::invalid(format!(
                    "no key with kid '{kid}' in the set"
                )));
            }
        } else if let Some(jwk) = jwks.first_mut() {
            // With a single key, the caller's kid names it.
            jwk.insert("kid".into(), Value::String(kid.to_owned()));
        }
    }
    jwks.iter().map(config::to_json).collect()
}

//! Rotation target for AWS Secrets Manager (JSON 1.1 protocol,
//! `X-Amz-Target: secretsmanager.<Action>`, SigV4-signed). The secret's
//! value is a JSON object with `certificate`, `chain`, `fullchain`,
//! `private_key` (when the key goes along), `serial_number`, `not_after`,
//! `certificate_id` and `version`.
//!
//! A push reads the current value (`GetSecretValue`) and writes the union of
//! its fields and the bundle's (`PutSecretValue`), so a push without a key
//! keeps a key stored earlier; a secret that does not exist yet is created
//! (`CreateSecret`). `create_new_secret` only creates, and fails when the
//! secret exists.

mod sigv4;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keystead_plugin_sdk::http::{self, Request, Response};
use keystead_plugin_sdk::rotation::{basic_timestamp, excerpt, now_unix, status_error};
use keystead_plugin_sdk::{PluginError, PluginInfo, PluginKind, bundle_view, config, naming};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

keystead_plugin_sdk::generate!("rotation-target", "../../wit");

use exports::keystead::plugin::rotator::{Bundle, Credentials, Receipt};

const SERVICE: &str = "AWS Secrets Manager";
/// Characters AWS allows in secret names besides letters, digits, `/_.-`.
const NAME_EXTRA: &str = "+=@";

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    /// Connect and read timeout of each request, in milliseconds.
    timeout_ms: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self { timeout_ms: 10_000 }
    }
}

fn default_name() -> String {
    "keystead/{common_name}".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    /// e.g. `eu-west-1`.
    region: String,
    /// Another endpoint (a VPC endpoint, a local emulator);
    /// default `https://secretsmanager.<region>.amazonaws.com`.
    #[serde(default)]
    endpoint: Option<String>,
    /// Secret name; placeholders as in `naming`.
    #[serde(default = "default_name")]
    secret_name: String,
    /// KMS key for a secret this target creates.
    #[serde(default)]
    kms_key_id: Option<String>,
    /// Set by the host: a literal name or ARN instead of `secret_name`.
    #[serde(default)]
    destination: Option<String>,
    /// Set by the host: create the secret; fail when it exists.
    #[serde(default)]
    create_new_secret: bool,
}

impl Target {
    fn parse(json: &str) -> Result<Self, PluginError> {
        let target: Self = config::parse("target", json)?;
        let region_ok = !target.region.is_empty()
            && target.region.len() <= 32
            && target
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(PluginError::invalid(format!(
                "region '{}' is not an AWS region name",
                target.region
            )));
        }
        if let Some(endpoint) = &target.endpoint {
            let e = endpoint.trim_end_matches('/');
            let rest = e
                .strip_prefix("https://")
                .or_else(|| e.strip_prefix("http://"))
                .unwrap_or("");
            if rest.is_empty() || rest.contains(['/', '@', '?', '#', ' ']) {
                return Err(PluginError::invalid(format!(
                    "endpoint '{endpoint}' must be http(s)://host[:port] without a path"
                )));
            }
        }
        naming::check_template("secret_name", &target.secret_name, NAME_EXTRA)?;
        if let Some(d) = &target.destination {
            naming::check_literal("destination", d, "+=@:")?;
        }
        Ok(target)
    }

    fn endpoint(&self) -> String {
        match &self.endpoint {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => format!("https://secretsmanager.{}.amazonaws.com", self.region),
        }
    }
}

struct Keys<'a> {
    id: &'a str,
    secret: &'a str,
}

fn credential<'a>(value: &'a Option<String>, what: &str) -> Result<&'a str, PluginError> {
    value
        .as_deref()
        .filter(|v| !v.trim().is_empty() && !v.chars().any(|c| c.is_control() || c == ' '))
        .ok_or_else(|| PluginError::invalid(format!("credentials: {what}")))
}

fn keys(credentials: &Credentials) -> Result<Keys<'_>, PluginError> {
    Ok(Keys {
        id: credential(&credentials.id, "'id' must hold the access key id")?,
        secret: credential(
            &credentials.secret,
            "'secret' must hold the secret access key",
        )?,
    })
}

/// An error answer: its type (without a namespace prefix) and message.
fn aws_error(response: &Response) -> (String, String) {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let kind = body["__type"]
        .as_str()
        .map(|t| t.rsplit(['#', ':']).next().unwrap_or(t).to_owned())
        .or_else(|| {
            response
                .header("x-amzn-errortype")
                .map(|t| t.split(':').next().unwrap_or(t).to_owned())
        })
        .unwrap_or_default();
    let message = body["message"]
        .as_str()
        .or_else(|| body["Message"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| excerpt(&response.body));
    (kind, message)
}

fn failure(response: &Response) -> PluginError {
    let (kind, message) = aws_error(response);
    let detail = if kind.is_empty() {
        message
    } else {
        format!("{kind}: {message}")
    };
    match kind.as_str() {
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "AccessDeniedException"
        | "ExpiredTokenException"
        | "IncompleteSignature"
        | "MissingAuthenticationToken" => PluginError::denied(format!("{SERVICE}: {detail}")),
        "ThrottlingException"
        | "Throttling"
        | "LimitExceededException"
        | "InternalServiceError"
        | "ServiceUnavailable" => PluginError::retryable(format!("{SERVICE}: {detail}"), None),
        _ => status_error(
            SERVICE,
            response.status,
            response.header("retry-after"),
            &detail,
        ),
    }
}

struct Client<'a> {
    endpoint: String,
    region: &'a str,
    keys: Keys<'a>,
    timeout: Duration,
}

impl Client<'_> {
    /// One signed JSON 1.1 call; returns the answer whatever its status.
    fn call(&self, action: &str, body: &Value) -> Result<Response, PluginError> {
        let payload = config::to_json(body)?.into_bytes();
        let authority = self
            .endpoint
            .split_once("://")
            .map_or("", |(_, rest)| rest)
            .to_owned();
        let amz_date = basic_timestamp(now_unix());
        let target = format!("secretsmanager.{action}");
        let headers = vec![
            (
                "content-type".to_owned(),
                "application/x-amz-json-1.1".to_owned(),
            ),
            ("host".to_owned(), authority),
            ("x-amz-date".to_owned(), amz_date.clone()),
            ("x-amz-target".to_owned(), target),
        ];
        let authorization = sigv4::authorization(
            &sigv4::Scope {
                access_key_id: self.keys.id,
                secret_access_key: self.keys.secret,
                region: self.region,
                service: "secretsmanager",
                amz_date: &amz_date,
            },
            &sigv4::Request {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                payload: &payload,
            },
        );
        let mut request = Request::post(&format!("{}/", self.endpoint), payload);
        // The host header comes from the URL's authority; the rest are sent as signed.
        for (name, value) in headers.iter().filter(|(n, _)| n != "host") {
            request = request.header(name, value);
        }
        request = request.header("authorization", &authorization);
        request.connect_timeout = Some(self.timeout);
        request.read_timeout = Some(self.timeout);
        request.max_response_bytes = 1024 * 1024;
        Ok(http::send(&request)?)
    }
}

/// An idempotency token for one write (32 hex characters).
fn request_token(bundle: &Bundle) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let digest = Sha256::digest(format!(
        "{}|{}|{}|{nanos}",
        bundle.certificate_id, bundle.serial, bundle.version
    ));
    hex::encode(&digest[..16])
}

fn receipt(response: &Response, fallback: &str) -> Receipt {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    Receipt {
        location: body["ARN"].as_str().unwrap_or(fallback).to_owned(),
        version: body["VersionId"].as_str().map(str::to_owned),
    }
}

struct Plugin;

impl exports::keystead::plugin::plugin::Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "aws-secrets-manager".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "writes certificate, chain and key into an AWS Secrets Manager secret"
                .into(),
            kinds: vec![PluginKind::RotationTarget],
            config_schema: r#"{"type":"object","additionalProperties":false,"properties":{"timeout_ms":{"type":"integer","minimum":1}}}"#.into(),
            stateless: true,
        }
    }

    fn validate_config(config: String) -> Result<(), PluginError> {
        let config: Config = config::parse("config", &config)?;
        if config.timeout_ms == 0 {
            return Err(PluginError::invalid("timeout_ms must be at least 1"));
        }
        Ok(())
    }
}

impl exports::keystead::plugin::rotator::Guest for Plugin {
    fn check_target(
        target: String,
        credentials: Credentials,
        config: String,
    ) -> Result<(), PluginError> {
        let _: Config = config::parse("config", &config)?;
        Target::parse(&target)?;
        keys(&credentials)?;
        Ok(())
    }

    fn push(
        bundle: Bundle,
        target: String,
        credentials: Credentials,
        config: String,
    ) -> Result<Receipt, PluginError> {
        let config: Config = config::parse("config", &config)?;
        let target = Target::parse(&target)?;
        let client = Client {
            endpoint: target.endpoint(),
            region: &target.region,
            keys: keys(&credentials)?,
            timeout: Duration::from_millis(u64::from(config.timeout_ms)),
        };
        let view = bundle_view!(bundle);
        let name = match &target.destination {
            Some(d) => d.clone(),
            None => {
                let values = view.placeholders();
                let values: Vec<(&str, &str)> =
                    values.iter().map(|(k, v)| (*k, v.as_str())).collect();
                naming::render("secret_name", &target.secret_name, NAME_EXTRA, &values)?
            }
        };
        let fields = view.secret_fields();
        let token = request_token(&bundle);

        let create = |fields: Map<String, Value>| -> Result<Receipt, PluginError> {
            let mut body = json!({
                "Name": name,
                "SecretString": config::to_json(&fields)?,
                "ClientRequestToken": token,
                "Description": "Certificate bundle written by Keystead",
            });
            if let Some(kms) = &target.kms_key_id {
                body["KmsKeyId"] = kms.as_str().into();
            }
            let created = client.call("CreateSecret", &body)?;
            if created.status == 200 {
                return Ok(receipt(&created, &name));
            }
            let (kind, _) = aws_error(&created);
            if kind == "ResourceExistsException" {
                return Err(PluginError::invalid(format!(
                    "{SERVICE} secret '{name}' exists already"
                )));
            }
            Err(failure(&created))
        };
        if target.create_new_secret {
            return create(fields);
        }

        let current = client.call("GetSecretValue", &json!({ "SecretId": name }))?;
        let merged = match current.status {
            200 => {
                let body: Value = serde_json::from_slice(&current.body).unwrap_or(Value::Null);
                let mut merged: Map<String, Value> = body["SecretString"]
                    .as_str()
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or_default();
                merged.extend(fields);
                merged
            }
            _ => {
                let (kind, _) = aws_error(&current);
                if kind == "ResourceNotFoundException" {
                    return create(fields);
                }
                return Err(failure(&current));
            }
        };
        let put = client.call(
            "PutSecretValue",
            &json!({
                "SecretId": name,
                "SecretString": config::to_json(&merged)?,
                "ClientRequestToken": token,
            }),
        )?;
        if put.status == 200 {
            Ok(receipt(&put, &name))
        } else {
            Err(failure(&put))
        }
    }
}

export!(Plugin);

//! AWS Signature Version 4 for requests signed in the `Authorization`
//! header: canonical request, string to sign, signing key, signature.
//! Checked against AWS's published test suite (see the tests below).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// What is signed. `headers` must hold `host` and `x-amz-date`; `path` is
/// the URI-encoded absolute path and `query` the raw query without `?`.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    pub payload: &'a [u8],
}

/// Who signs, for which service, when.
pub struct Scope<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    /// `YYYYMMDDTHHMMSSZ`
    pub amz_date: &'a str,
}

impl Scope<'_> {
    fn date(&self) -> &str {
        self.amz_date.get(..8).unwrap_or(self.amz_date)
    }

    fn credential_scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date(),
            self.region,
            self.service
        )
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Lowercase names, values trimmed with inner runs of spaces folded, sorted
/// by name; repeated names joined with commas. Returns (canonical headers,
/// signed headers).
fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut entries: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            let value = v.split_whitespace().collect::<Vec<_>>().join(" ");
            (n.to_ascii_lowercase(), value)
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut merged: Vec<(String, String)> = Vec::new();
    for (name, value) in entries {
        match merged.last_mut() {
            Some((last, values)) if *last == name => {
                values.push(',');
                values.push_str(&value);
            }
            _ => merged.push((name, value)),
        }
    }
    let canonical = merged.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let signed = merged
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    (canonical, signed)
}

/// Parameters sorted by name, then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn canonical_request(request: &Request<'_>) -> (String, String) {
    let (headers, signed) = canonical_headers(request.headers);
    let path = if request.path.is_empty() {
        "/"
    } else {
        request.path
    };
    let text = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        path,
        canonical_query(request.query),
        headers,
        signed,
        sha256_hex(request.payload)
    );
    (text, signed)
}

pub fn string_to_sign(scope: &Scope<'_>, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        scope.amz_date,
        scope.credential_scope(),
        sha256_hex(canonical_request.as_bytes())
    )
}

pub fn signature(scope: &Scope<'_>, string_to_sign: &str) -> String {
    let secret = format!("AWS4{}", scope.secret_access_key);
    let k_date = hmac(secret.as_bytes(), scope.date().as_bytes());
    let k_region = hmac(&k_date, scope.region.as_bytes());
    let k_service = hmac(&k_region, scope.service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    hex::encode(hmac(&k_signing, string_to_sign.as_bytes()))
}

/// The `Authorization` header value.
pub fn authorization(scope: &Scope<'_>, request: &Request<'_>) -> String {
    let (canonical, signed) = canonical_request(request);
    let sig = signature(scope, &string_to_sign(scope, &canonical));
    format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={signed}, Signature={sig}",
        scope.access_key_id,
        scope.credential_scope()
    )
}

#[cfg(test)]
mod tests {
    //! Vectors of AWS's SigV4 test suite: the suite's credentials, region
    //! `us-east-1`, service `service`, time 2015-08-30T12:36:00Z.
    use super::*;

    const SCOPE: Scope<'static> = Scope {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        region: "us-east-1",
        service: "service",
        amz_date: "20150830T123600Z",
    };

    fn headers(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut h: Vec<(String, String)> = extra
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        h.push(("Host".into(), "example.amazonaws.com".into()));
        h.push(("X-Amz-Date".into(), "20150830T123600Z".into()));
        h
    }

    fn prefix(signed: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed}, Signature="
        )
    }

    #[test]
    fn get_vanilla() {
        let h = headers(&[]);
        let request = Request {
            method: "GET",
            path: "/",
            query: "",
            headers: &h,
            payload: b"",
        };
        let (canonical, _) = canonical_request(&request);
        assert_eq!(
            canonical,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            authorization(&SCOPE, &request),
            format!(
                "{}5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
                prefix("host;x-amz-date")
            )
        );
    }

    #[test]
    fn get_vanilla_query_order_key_case() {
        let h = headers(&[]);
        let request = Request {
            method: "GET",
            path: "/",
            query: "Param2=value2&Param1=value1",
            headers: &h,
            payload: b"",
        };
        let (canonical, _) = canonical_request(&request);
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0"
        );
        assert!(authorization(&SCOPE, &request).ends_with(
            "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        ));
    }

    #[test]
    fn post_x_www_form_urlencoded() {
        let h = headers(&[("Content-Type", "application/x-www-form-urlencoded")]);
        let request = Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &h,
            payload: b"Param1=value1",
        };
        let (canonical, _) = canonical_request(&request);
        assert!(canonical.ends_with(
            "\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
        ));
        assert_eq!(
            authorization(&SCOPE, &request),
            format!(
                "{}ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
                prefix("content-type;host;x-amz-date")
            )
        );
    }
}

//! A reader for Java KeyStore (JKS) files: the entries, their certificate
//! chains, and private keys opened with the store password.
//!
//! The layout (big-endian): magic `FEEDFEED`, version (1 or 2), entry count;
//! per entry a tag (1 = private key, 2 = trusted certificate), a Java UTF
//! alias, a millisecond timestamp, then the protected key and its chain or a
//! certificate; last, SHA-1 over the UTF-16 password, the phrase "Mighty
//! Aphrodite" and everything before it. Keys are protected by Sun's
//! key-protector scheme: a SHA-1 keystream over the password and a salt,
//! with a SHA-1 check of the plain key. SHA-1 comes from the `sha1` crate.

use der::Decode;
use sha1::{Digest, Sha1};

use super::Entry;

const MAGIC: u32 = 0xFEED_FEED;
const PRIVATE_KEY: u32 = 1;
const TRUSTED_CERT: u32 = 2;
/// The algorithm of a key protected by Sun's JKS key protector.
const KEY_PROTECTOR: &str = "1.3.6.1.4.1.42.2.17.1.1";
const DIGEST_LEN: usize = 20;

#[derive(Debug, PartialEq, Eq)]
pub enum JksError {
    /// The bytes are not a JKS keystore, or are cut short.
    Malformed(String),
    /// The integrity digest does not match: a wrong password or a damaged file.
    WrongPassword,
    /// A key's own protection does not open with the store password.
    KeyPassword(String),
}

/// `EncryptedPrivateKeyInfo` (RFC 5208).
#[derive(der::Sequence)]
struct EncryptedPrivateKeyInfo<'a> {
    algorithm: spki::AlgorithmIdentifierRef<'a>,
    encrypted_data: der::asn1::OctetStringRef<'a>,
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], JksError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|end| *end <= self.data.len())
            .ok_or_else(|| JksError::Malformed("the keystore is cut short".into()))?;
        let bytes = &self.data[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn u16(&mut self) -> Result<u16, JksError> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn u32(&mut self) -> Result<u32, JksError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn utf(&mut self) -> Result<String, JksError> {
        let len = usize::from(self.u16()?);
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }

    /// A length-prefixed block.
    fn block(&mut self) -> Result<&'a [u8], JksError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn certificate(&mut self, version: u32) -> Result<Vec<u8>, JksError> {
        if version == 2 {
            let kind = self.utf()?;
            if kind != "X.509" {
                return Err(JksError::Malformed(format!(
                    "unsupported certificate type '{kind}'"
                )));
            }
        }
        Ok(self.block()?.to_vec())
    }
}

/// The password as Java encodes it for JKS: UTF-16 big-endian.
fn password_bytes(password: &str) -> Vec<u8> {
    password.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Reads every entry; private keys are opened with `password`.
pub fn entries(data: &[u8], password: &str) -> Result<Vec<Entry>, JksError> {
    let password = password_bytes(password);
    let body_len = data
        .len()
        .checked_sub(DIGEST_LEN)
        .ok_or_else(|| JksError::Malformed("the keystore is cut short".into()))?;
    let digest = Sha1::new()
        .chain_update(&password)
        .chain_update(b"Mighty Aphrodite")
        .chain_update(&data[..body_len])
        .finalize();

    let mut reader = Reader {
        data: &data[..body_len],
        at: 0,
    };
    if reader.u32()? != MAGIC {
        return Err(JksError::Malformed("not a JKS keystore".into()));
    }
    let version = reader.u32()?;
    if version != 1 && version != 2 {
        return Err(JksError::Malformed(format!(
            "unsupported JKS version {version}"
        )));
    }
    // Check the password before reading further, so a wrong one is reported as such.
    if digest.as_slice() != &data[body_len..] {
        return Err(JksError::WrongPassword);
    }
    let count = reader.u32()?;
    let mut entries = Vec::new();
    for _ in 0..count {
        let tag = reader.u32()?;
        let alias = reader.utf()?;
        reader.take(8)?; // creation time
        match tag {
            PRIVATE_KEY => {
                let protected = reader.block()?;
                let chain_len = reader.u32()?;
                let mut chain = Vec::new();
                for _ in 0..chain_len {
                    chain.push(reader.certificate(version)?);
                }
                let private_key = Some(open_key(protected, &password, &alias)?);
                entries.push(Entry {
                    alias,
                    private_key,
                    chain,
                });
            }
            TRUSTED_CERT => {
                let chain = vec![reader.certificate(version)?];
                entries.push(Entry {
                    alias,
                    private_key: None,
                    chain,
                });
            }
            other => {
                return Err(JksError::Malformed(format!(
                    "unsupported entry type {other} (alias '{alias}')"
                )));
            }
        }
    }
    Ok(entries)
}

/// Opens a key protected by Sun's key protector: `salt || xored key || check`.
fn open_key(protected: &[u8], password: &[u8], alias: &str) -> Result<Vec<u8>, JksError> {
    let info = EncryptedPrivateKeyInfo::from_der(protected).map_err(|e| {
        JksError::Malformed(format!("alias '{alias}': unreadable protected key: {e}"))
    })?;
    if info.algorithm.oid.to_string() != KEY_PROTECTOR {
        return Err(JksError::Malformed(format!(
            "alias '{alias}': unsupported key protection {}",
            info.algorithm.oid
        )));
    }
    let sealed = info.encrypted_data.as_bytes();
    if sealed.len() < 2 * DIGEST_LEN {
        return Err(JksError::Malformed(format!(
            "alias '{alias}': the protected key is cut short"
        )));
    }
    let (salt, rest) = sealed.split_at(DIGEST_LEN);
    let (xored, check) = rest.split_at(rest.len() - DIGEST_LEN);
    let mut plain = Vec::with_capacity(xored.len());
    let mut block = salt.to_vec();
    for chunk in xored.chunks(DIGEST_LEN) {
        block = Sha1::new()
            .chain_update(password)
            .chain_update(&block)
            .finalize()
            .to_vec();
        plain.extend(chunk.iter().zip(&block).map(|(c, k)| c ^ k));
    }
    let expected = Sha1::new()
        .chain_update(password)
        .chain_update(&plain)
        .finalize();
    if expected.as_slice() != check {
        return Err(JksError::KeyPassword(alias.to_owned()));
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keystore claiming `count` entries and holding none, with the digest Java computes.
    fn store_claiming(count: u32, password: &str) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(MAGIC.to_be_bytes());
        body.extend(2u32.to_be_bytes());
        body.extend(count.to_be_bytes());
        let digest = Sha1::new()
            .chain_update(password_bytes(password))
            .chain_update(b"Mighty Aphrodite")
            .chain_update(&body)
            .finalize();
        body.extend(digest);
        body
    }

    #[test]
    fn password_is_utf16_big_endian() {
        assert_eq!(password_bytes("ab"), [0, b'a', 0, b'b']);
        assert_eq!(password_bytes("é"), [0, 0xE9]);
    }

    #[test]
    fn digest_checks_the_password() {
        let store = store_claiming(0, "changeit");
        assert!(entries(&store, "changeit").unwrap().is_empty());
        assert_eq!(
            entries(&store, "wrong").err(),
            Some(JksError::WrongPassword)
        );
    }

    #[test]
    fn truncated_and_foreign_bytes_are_malformed() {
        let store = store_claiming(0, "changeit");
        for bad in [&store[..10], &[0x30, 0x82, 0, 0][..], &[][..]] {
            assert!(matches!(
                entries(bad, "changeit"),
                Err(JksError::Malformed(_))
            ));
        }
        // An entry count larger than the data does not read past the end.
        let lying = store_claiming(5, "pw");
        assert!(matches!(entries(&lying, "pw"), Err(JksError::Malformed(_))));
    }
}

//! Encryption at rest: the master key and the envelope format for every stored secret;
//! secrets in memory: redacted in `Debug`, wiped on drop.

mod envelope;
mod master_key;
mod secret;

pub use envelope::{SealError, Sealed};
pub use master_key::{MasterKey, MasterKeyError};
pub use secret::{
    SecretBytes, SecretString, serialize_exposed, serialize_exposed_option, serialize_withheld,
};

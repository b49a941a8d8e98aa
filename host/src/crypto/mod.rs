//! Encryption at rest: the master key and the envelope format for every stored secret.

mod envelope;
mod master_key;

pub use envelope::{SealError, Sealed};
pub use master_key::{MasterKey, MasterKeyError};

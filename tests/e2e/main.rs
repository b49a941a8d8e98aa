//! End-to-end tests: the real `keystead` binary on a temp data directory, over HTTP.
//! One test binary for the whole suite, so it links once.

mod harness;

mod api_keys;
mod durability;
mod errors;
mod jwk_objects;
mod jwt_keys;
mod key_material;
mod lifecycle;
mod pki;
mod pki_io;
mod renewal;
mod roles;
mod rotation;
mod tenancy;
mod webhooks;

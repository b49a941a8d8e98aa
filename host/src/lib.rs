//! Keystead: a PKI platform extensible with WebAssembly plugins.
//!
//! Layers, with dependencies pointing one way:
//! `api` -> (`auth`, `tenancy`, `audit`, `pki`, `jwt_keys`, `key_material`,
//! `jwk_objects`, `rotation`, `webhooks`)
//! -> (`store`, `crypto`, `plugins`); `rotation` also uses `pki`.
//! Domain services emit webhook events (`webhooks::events`) the way they record audit
//! events: in the transaction of the change.

// Outside tests a failure is an error the caller sees, never a panic of the process;
// a lock held across an await would stall every task waiting on it.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]
#![deny(clippy::await_holding_lock)]

pub mod api;
pub mod audit;
pub mod auth;
pub mod config;
pub mod crypto;
pub mod error;
pub mod jobs;
pub mod jwk_objects;
pub mod jwt_keys;
pub mod key_material;
pub mod model;
pub mod pki;
pub mod plugins;
pub mod rotation;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tenancy;
pub mod timestamp;
pub mod webhooks;

pub use error::{Error, Result};

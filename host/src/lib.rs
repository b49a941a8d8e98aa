//! Keystead: a PKI platform extensible with WebAssembly plugins.
//!
//! Layers, with dependencies pointing one way:
//! `api` -> (`auth`, `tenancy`, `audit`) -> (`store`, `crypto`, `plugins`).

pub mod config;
pub mod plugins;

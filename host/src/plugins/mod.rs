//! The plugin runtime: sandboxed WebAssembly components under wasmtime.
//!
//! Start-up builds a [`Registry`] from the config ([`Registry::from_config`]);
//! a bad `[[plugins]]` entry is a [`LoadError`] naming the plugin. Callers
//! take a typed plugin from the registry and call it:
//!
//! - [`TemplateValidator::validate`] (`template_validator`)
//! - [`JwkSource::load`] (`jwk_source`)
//! - [`RotationTarget::push`] (`rotation_target`)
//! - [`WebhookTransport::deliver`] (`webhook_transport`)
//!
//! Every call runs in a fresh store from the plugin's `InstancePre` (or a
//! warm instance for plugins that declare themselves stateless), under a
//! memory cap, a CPU budget and a wall-clock timeout; failures are
//! [`PluginError`]s. [`Registry::snapshot`] and
//! [`Registry::render_prometheus`] expose the call stats.

mod artifacts;
pub mod bindings;
pub mod cache;
pub mod cli;
pub mod config;
pub mod engine;
pub mod error;
pub mod jwk_source;
pub mod limits;
pub mod policy;
pub mod registry;
pub mod rotation_target;
mod sandbox;
pub mod stats;
pub mod template_validator;
pub mod webhook_transport;

pub use artifacts::{BUILTIN, builtin_names, test_components};
pub use bindings::Tenant;
pub use config::{DirectoryGrant, PluginConfig, PluginKind};
pub use error::{LoadError, PluginError};
pub use jwk_source::JwkSource;
pub use limits::Limits;
pub use registry::{LoadOptions, Plugin, Registry};
pub use rotation_target::RotationTarget;
pub use sandbox::State;
pub use stats::PluginStats;
pub use template_validator::TemplateValidator;
pub use webhook_transport::WebhookTransport;

//! Helpers for writing Keystead plugins in Rust.
//!
//! A plugin crate is a `cdylib` built for `wasm32-wasip2`. It generates the
//! bindings of its world with [`generate!`], implements the exported traits
//! and calls `export!`:
//!
//! ```ignore
//! keystead_plugin_sdk::generate!("template-validator", "../../wit");
//! struct Plugin;
//! impl exports::keystead::plugin::plugin::Guest for Plugin { /* describe, validate_config */ }
//! impl exports::keystead::plugin::validator::Guest for Plugin { /* validate */ }
//! export!(Plugin);
//! ```
//!
//! The shared types ([`PluginError`], [`PluginInfo`], ...) and the host's
//! imports (log, outgoing HTTP) come from this crate, so the helpers here work
//! with every world.

pub mod config;
pub mod error;
pub mod http;
pub mod log;
pub mod naming;
pub mod rotation;
#[cfg(feature = "webhook")]
pub mod webhook;

#[doc(hidden)]
pub use wit_bindgen;

/// Bindings of the host's imports, shared by every plugin world.
pub mod bindings {
    wit_bindgen::generate!({
        world: "host-imports",
        path: "../../wit",
        generate_all,
    });
}

pub use bindings::keystead::plugin::types::{
    PluginError, PluginInfo, PluginKind, RetryAdvice, Tenant,
};

/// Generates the bindings of a Keystead world in the calling crate, sharing
/// this crate's types and imports. `$wit` is the `wit/` folder, relative to the
/// calling crate's manifest.
#[macro_export]
macro_rules! generate {
    ($world:literal, $wit:literal) => {
        $crate::wit_bindgen::generate!({
            world: $world,
            path: $wit,
            runtime_path: "keystead_plugin_sdk::wit_bindgen::rt",
            with: {
                "keystead:plugin/types@0.1.0": keystead_plugin_sdk::bindings::keystead::plugin::types,
                "keystead:plugin/log@0.1.0": keystead_plugin_sdk::bindings::keystead::plugin::log,
                "wasi:http/types@0.2.12": keystead_plugin_sdk::bindings::wasi::http::types,
                "wasi:http/outgoing-handler@0.2.12": keystead_plugin_sdk::bindings::wasi::http::outgoing_handler,
                "wasi:io/error@0.2.12": keystead_plugin_sdk::bindings::wasi::io::error,
                "wasi:io/poll@0.2.12": keystead_plugin_sdk::bindings::wasi::io::poll,
                "wasi:io/streams@0.2.12": keystead_plugin_sdk::bindings::wasi::io::streams,
                "wasi:clocks/monotonic-clock@0.2.12": keystead_plugin_sdk::bindings::wasi::clocks::monotonic_clock,
            },
        });
    };
}

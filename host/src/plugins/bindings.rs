//! Host bindings of the `keystead:plugin` worlds. The shared interfaces
//! (types, log, WASI) are generated once and reused by every world.

/// The imports every plugin may use, and the shared types.
pub mod host {
    wasmtime::component::bindgen!({
        world: "host-imports",
        path: "../wit",
        require_store_data_send: true,
        additional_derives: [PartialEq],
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
    });
}

macro_rules! world {
    ($module:ident, $world:literal) => {
        pub mod $module {
            wasmtime::component::bindgen!({
                world: $world,
                path: "../wit",
                exports: { default: async },
                additional_derives: [PartialEq],
                with: {
                    "keystead:plugin/types": crate::plugins::bindings::host::keystead::plugin::types,
                    "keystead:plugin/log": crate::plugins::bindings::host::keystead::plugin::log,
                    "wasi:http": wasmtime_wasi_http::p2::bindings::http,
                    "wasi:io": wasmtime_wasi::p2::bindings::io,
                    "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
                },
            });
        }
    };
}

world!(template_validator, "template-validator");
world!(jwk_source, "jwk-source");
world!(rotation_target, "rotation-target");
world!(webhook_transport, "webhook-transport");

pub use host::keystead::plugin::types::{PluginError as WitError, PluginInfo, PluginKind, Tenant};

//! Components the build produced (see `host/build.rs`).

include!(concat!(env!("OUT_DIR"), "/plugin_components.rs"));

/// The component of a first-party plugin.
pub fn builtin(name: &str) -> Option<&'static [u8]> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

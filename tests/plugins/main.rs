//! The plugin runtime against real components: the first-party plugins, a
//! Python plugin, and hostile test components. One binary for all of it.

mod first_party;
mod harness;
mod python;
mod sandbox;
mod tools;

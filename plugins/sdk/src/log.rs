//! Log lines into the host's log, tagged with the plugin's name.

use crate::bindings::keystead::plugin::log::{Level, log};

pub fn debug(message: &str) {
    log(Level::Debug, message);
}

pub fn info(message: &str) {
    log(Level::Info, message);
}

pub fn warn(message: &str) {
    log(Level::Warn, message);
}

pub fn error(message: &str) {
    log(Level::Error, message);
}

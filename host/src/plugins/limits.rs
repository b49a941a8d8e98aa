//! Per-store resource limits: memory (a [`ResourceLimiter`] that records why
//! it refused, so a memory bomb is told apart from other traps) and the CPU
//! budget counted in epoch ticks.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmtime::ResourceLimiter;

/// How often the engine's epoch advances; the CPU budget's granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The `limits` table of a `[[plugins]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Linear memory a plugin instance may grow to, in MiB.
    pub memory_mb: u32,
    /// Wall-clock time per call, including outgoing HTTP, in milliseconds.
    pub timeout_ms: u64,
    /// Time the guest may spend running code per call, in milliseconds
    /// (checked every 10 ms by epoch interruption).
    pub cpu_ms: u64,
    /// Outgoing HTTP: time to connect (DNS included), in milliseconds.
    pub connect_timeout_ms: u64,
    /// Outgoing HTTP: time to the first byte and between bytes, in milliseconds.
    pub read_timeout_ms: u64,
    /// Outgoing HTTP: largest response body, in bytes.
    pub max_response_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_mb: 64,
            timeout_ms: 10_000,
            cpu_ms: 2_000,
            connect_timeout_ms: 5_000,
            read_timeout_ms: 10_000,
            max_response_bytes: 10 * 1024 * 1024,
        }
    }
}

impl Limits {
    pub const MAX_MEMORY_MB: u32 = 4096;

    pub fn validate(&self) -> Result<(), String> {
        if self.memory_mb == 0 || self.memory_mb > Self::MAX_MEMORY_MB {
            return Err(format!("memory_mb must be 1..={}", Self::MAX_MEMORY_MB));
        }
        let times = [
            ("timeout_ms", self.timeout_ms),
            ("cpu_ms", self.cpu_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("read_timeout_ms", self.read_timeout_ms),
        ];
        if let Some((name, _)) = times.iter().find(|(_, v)| *v == 0 || *v > 3_600_000) {
            return Err(format!("{name} must be 1..=3600000"));
        }
        if self.max_response_bytes == 0 {
            return Err("max_response_bytes must be at least 1".into());
        }
        Ok(())
    }

    pub fn memory_bytes(&self) -> usize {
        (self.memory_mb as usize) << 20
    }

    /// The CPU budget in epoch ticks (at least one).
    pub fn cpu_ticks(&self) -> u64 {
        (self.cpu_ms / EPOCH_TICK.as_millis() as u64).max(1)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Memory and table limits of one store.
#[derive(Debug)]
pub struct MemoryLimiter {
    max_memory: usize,
    /// Set when a growth was refused, so the trap that follows maps to
    /// `MemoryExceeded`.
    pub exceeded: bool,
}

/// Generous: components from Python or JavaScript toolchains use large tables.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl MemoryLimiter {
    pub fn new(max_memory: usize) -> Self {
        Self {
            max_memory,
            exceeded: false,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.max_memory;
        if !ok {
            self.exceeded = true;
        }
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zero_is_not() {
        assert!(Limits::default().validate().is_ok());
        let bad = Limits {
            cpu_ms: 0,
            ..Limits::default()
        };
        assert!(bad.validate().unwrap_err().contains("cpu_ms"));
        assert_eq!(Limits::default().cpu_ticks(), 200);
    }
}

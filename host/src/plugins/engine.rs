//! The process's wasmtime engine, its epoch ticker and the linker every
//! plugin is instantiated against.

use std::sync::{Arc, OnceLock};

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings::host::keystead::plugin::log;
use super::limits::{EPOCH_TICK, Limits};
use super::sandbox::State;

/// The engine and linker, shared by every plugin of the process.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<State>,
}

static SHARED: OnceLock<Result<Runtime, String>> = OnceLock::new();

impl Runtime {
    /// The process-wide runtime: one engine and one ticker thread per process.
    pub fn shared() -> Result<Runtime, String> {
        SHARED.get_or_init(Runtime::new).clone()
    }

    fn new() -> Result<Runtime, String> {
        let mut pool = PoolingAllocationConfig::default();
        // Virtual address space is reserved per slot; the largest plugin cap
        // bounds what a slot must hold.
        pool.max_memory_size(Limits::MAX_MEMORY_MB as usize * (1 << 20));
        pool.total_component_instances(500);
        pool.total_core_instances(2000);
        pool.total_memories(1000);
        pool.total_tables(1000);
        // Components built by Python toolchains carry many core instances and big tables.
        pool.max_core_instances_per_component(50);
        pool.max_memories_per_component(10);
        pool.max_tables_per_component(20);
        pool.table_elements(1 << 20);
        pool.max_component_instance_size(1 << 20);
        pool.max_core_instance_size(8 << 20);

        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| format!("{e:#}"))?;

        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| format!("{e:#}"))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| format!("{e:#}"))?;
        log::add_to_linker::<State, HasSelf<State>>(&mut linker, |state| state)
            .map_err(|e| format!("{e:#}"))?;

        spawn_ticker(&engine)?;
        Ok(Runtime {
            inner: Arc::new(Inner { engine, linker }),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn linker(&self) -> &Linker<State> {
        &self.inner.linker
    }
}

/// Advances the epoch every tick; ends when the engine is dropped.
fn spawn_ticker(engine: &Engine) -> Result<(), String> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("keystead-plugin-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(|_| ())
        .map_err(|e| format!("cannot start the epoch ticker: {e}"))
}

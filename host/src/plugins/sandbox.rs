//! One plugin's sandbox: the store state, how a store is made for a call,
//! how a call is bounded, and how its failures become [`PluginError`]s.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use wasmtime::component::{Component, InstancePre, ResourceTable};
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::host::keystead::plugin::log;
use super::bindings::{PluginInfo, WitError};
use super::config::Grants;
use super::engine::Runtime;
use super::error::PluginError;
use super::limits::MemoryLimiter;
use super::policy::{DenialSlot, PolicyHooks};
use super::stats::Recorder;

/// The tail of the guest's stderr kept for error messages (a panic message).
const STDERR_CAPACITY: usize = 4096;

/// The data of a plugin's store.
pub struct State {
    plugin: Arc<str>,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: PolicyHooks,
    table: ResourceTable,
    limiter: MemoryLimiter,
    stderr: MemoryOutputPipe,
    cpu_ticks_left: u64,
    cpu_exhausted: bool,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl log::Host for State {
    fn log(&mut self, level: log::Level, message: String) {
        let plugin = &*self.plugin;
        match level {
            log::Level::Trace => tracing::trace!(plugin, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

/// A world's pre-instantiated form, so the call machinery is written once.
pub trait WorldPre: Send + Sync + 'static {
    type Bindings: Send + Sync + 'static;

    fn from_instance_pre(pre: InstancePre<State>) -> wasmtime::Result<Self>
    where
        Self: Sized;

    fn instantiate(
        &self,
        store: &mut Store<State>,
    ) -> impl Future<Output = wasmtime::Result<Self::Bindings>> + Send;
}

macro_rules! world_pre {
    ($pre:ty, $bindings:ty) => {
        impl WorldPre for $pre {
            type Bindings = $bindings;

            fn from_instance_pre(pre: InstancePre<State>) -> wasmtime::Result<Self> {
                <$pre>::new(pre)
            }

            async fn instantiate(
                &self,
                store: &mut Store<State>,
            ) -> wasmtime::Result<Self::Bindings> {
                self.instantiate_async(store).await
            }
        }
    };
}

use super::bindings::{jwk_source, rotation_target, template_validator, webhook_transport};
world_pre!(
    template_validator::TemplateValidatorPre<State>,
    template_validator::TemplateValidator
);
world_pre!(jwk_source::JwkSourcePre<State>, jwk_source::JwkSource);
world_pre!(
    rotation_target::RotationTargetPre<State>,
    rotation_target::RotationTarget
);
world_pre!(
    webhook_transport::WebhookTransportPre<State>,
    webhook_transport::WebhookTransport
);

/// A store with an instance, ready for one call.
pub struct Lease<B> {
    pub store: Store<State>,
    pub bindings: B,
}

/// How long the plugin has to answer, and the caller's wall clock.
pub type Deadline<T> = Result<T, tokio::time::error::Elapsed>;

/// Everything needed to call one plugin: its grants, its pre-instantiated
/// component, warm instances for stateless plugins, and its stats.
pub struct Sandbox<W: WorldPre> {
    runtime: Runtime,
    pub grants: Grants,
    pub info: PluginInfo,
    pub builtin: bool,
    pre: W,
    /// Instances kept between calls; only for plugins that declare
    /// themselves stateless. Taken out for a call, put back after success.
    warm: Option<Mutex<Vec<Lease<W::Bindings>>>>,
    pub stats: Recorder,
}

/// Idle warm instances kept per plugin.
const MAX_WARM: usize = 8;

impl<W: WorldPre> Sandbox<W> {
    /// Links the component, checks it implements `W`, and reads `describe`.
    pub async fn load(
        runtime: &Runtime,
        grants: Grants,
        component: &Component,
        reuse_instances: bool,
    ) -> Result<Self, super::error::LoadError> {
        use super::error::LoadError;
        let plugin = grants.name.to_string();
        let instance_pre =
            runtime
                .linker()
                .instantiate_pre(component)
                .map_err(|e| LoadError::WrongWorld {
                    plugin: plugin.clone(),
                    kind: grants.kind.to_string(),
                    message: format!("{e:#}"),
                })?;
        let pre =
            W::from_instance_pre(instance_pre.clone()).map_err(|e| LoadError::WrongWorld {
                plugin: plugin.clone(),
                kind: grants.kind.to_string(),
                message: format!("{e:#}"),
            })?;
        let mut sandbox = Sandbox {
            runtime: runtime.clone(),
            builtin: matches!(grants.source, super::config::Source::Builtin(_)),
            grants,
            info: PluginInfo {
                name: plugin.clone(),
                version: String::new(),
                description: String::new(),
                kinds: Vec::new(),
                config_schema: String::new(),
                stateless: false,
            },
            pre,
            warm: None,
            stats: Recorder::default(),
        };
        let (info, checked) = sandbox
            .common_calls(&instance_pre)
            .await
            .map_err(|source| LoadError::Rejected {
                plugin: plugin.clone(),
                source,
            })?;
        checked.map_err(|source| LoadError::Rejected { plugin, source })?;
        if reuse_instances && info.stateless {
            sandbox.warm = Some(Mutex::new(Vec::new()));
        }
        sandbox.info = info;
        Ok(sandbox)
    }

    /// Calls `describe` and `validate-config` (the `plugin` interface every
    /// world exports) on one fresh instance.
    async fn common_calls(
        &self,
        pre: &InstancePre<State>,
    ) -> Result<(PluginInfo, Result<(), PluginError>), PluginError> {
        const INTERFACE: &str = "keystead:plugin/plugin@0.1.0";
        let mut store = self.new_store()?;
        let fut = async {
            let instance = pre.instantiate_async(&mut store).await?;
            let iface = instance
                .get_export_index(&mut store, None, INTERFACE)
                .ok_or_else(|| wasmtime::format_err!("no export {INTERFACE}"))?;
            let describe = instance
                .get_export_index(&mut store, Some(&iface), "describe")
                .ok_or_else(|| wasmtime::format_err!("no function describe"))?;
            let validate = instance
                .get_export_index(&mut store, Some(&iface), "validate-config")
                .ok_or_else(|| wasmtime::format_err!("no function validate-config"))?;
            let describe = instance.get_typed_func::<(), (PluginInfo,)>(&mut store, describe)?;
            let validate = instance
                .get_typed_func::<(&str,), (Result<(), WitError>,)>(&mut store, validate)?;
            let (info,) = describe.call_async(&mut store, ()).await?;
            let (checked,) = validate
                .call_async(&mut store, (self.grants.config_json.as_str(),))
                .await?;
            Ok::<_, wasmtime::Error>((info, checked))
        };
        let outcome = tokio::time::timeout(self.grants.limits.timeout(), fut).await;
        let (info, checked) = self.map_outcome(&mut store, outcome)?;
        Ok((info, checked.map_err(|e| self.map_plugin_error(e, &store))))
    }

    /// A fresh store: WASI without environment, sockets or files except the
    /// granted directories; outgoing HTTP through the policy hooks; memory
    /// and CPU limits.
    fn new_store(&self) -> Result<Store<State>, PluginError> {
        let grants = &self.grants;
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for dir in &grants.directories {
            let perms = if dir.read_only {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            wasi.preopened_dir(&dir.host, &dir.guest, perms)
                .map_err(|e| PluginError::Unavailable {
                    plugin: grants.name.to_string(),
                    message: format!(
                        "cannot open granted directory {}: {e:#}",
                        dir.host.display()
                    ),
                })?;
        }
        let state = State {
            plugin: grants.name.clone(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: PolicyHooks {
                policy: grants.network.clone(),
                denial: DenialSlot::default(),
                plugin: grants.name.clone(),
            },
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(grants.limits.memory_bytes()),
            stderr,
            cpu_ticks_left: 0,
            cpu_exhausted: false,
        };
        let mut store = Store::new(self.runtime.engine(), state);
        store.limiter(|s| &mut s.limiter);
        // Each tick the guest runs costs one unit of its CPU budget; between
        // ticks it yields, so a busy guest never holds a tokio worker long.
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            if state.cpu_ticks_left == 0 {
                state.cpu_exhausted = true;
                return Ok(UpdateDeadline::Interrupt);
            }
            state.cpu_ticks_left -= 1;
            Ok(UpdateDeadline::Yield(1))
        });
        self.reset(&mut store);
        Ok(store)
    }

    /// Per-call state: a full CPU budget and no leftover failure marks.
    fn reset(&self, store: &mut Store<State>) {
        let state = store.data_mut();
        state.cpu_ticks_left = self.grants.limits.cpu_ticks();
        state.cpu_exhausted = false;
        state.limiter.exceeded = false;
        if let Ok(mut slot) = state.hooks.denial.lock() {
            *slot = None;
        }
        store.set_epoch_deadline(1);
    }

    /// A store and instance for one call: a warm one when the plugin allows
    /// reuse and one is idle, otherwise a fresh store from the `InstancePre`.
    /// A failure here is recorded in the stats as the call's outcome.
    pub async fn lease(&self, started: Instant) -> Result<Lease<W::Bindings>, PluginError> {
        let lease = self.lease_inner().await;
        if let Err(err) = &lease {
            self.stats.record(started.elapsed(), Some(err.label()));
        }
        lease
    }

    async fn lease_inner(&self) -> Result<Lease<W::Bindings>, PluginError> {
        if let Some(warm) = &self.warm {
            let idle = warm.lock().unwrap_or_else(|e| e.into_inner()).pop();
            if let Some(mut lease) = idle {
                self.reset(&mut lease.store);
                return Ok(lease);
            }
        }
        let mut store = self.new_store()?;
        let outcome = tokio::time::timeout(
            self.grants.limits.timeout(),
            self.pre.instantiate(&mut store),
        )
        .await;
        let bindings = self.map_outcome(&mut store, outcome)?;
        Ok(Lease { store, bindings })
    }

    /// Bounds a call by the plugin's wall-clock timeout.
    pub async fn deadline<F: Future>(&self, call: F) -> Deadline<F::Output> {
        tokio::time::timeout(self.grants.limits.timeout(), call).await
    }

    /// Turns a call's outcome into the caller's result, records stats, and
    /// keeps the instance for the next call when that is allowed and safe.
    pub fn finish<R>(
        &self,
        mut lease: Lease<W::Bindings>,
        started: Instant,
        outcome: Deadline<wasmtime::Result<Result<R, WitError>>>,
    ) -> Result<R, PluginError> {
        let trapped = !matches!(outcome, Ok(Ok(_)));
        let result = self
            .map_outcome(&mut lease.store, outcome)
            .and_then(|r| r.map_err(|e| self.map_plugin_error(e, &lease.store)));
        self.stats.record(
            started.elapsed(),
            result.as_ref().err().map(PluginError::label),
        );
        if let Err(err) = &result {
            tracing::debug!(plugin = %self.grants.name, error = %err, "plugin call failed");
        }
        // After a trap or a timeout the instance is unusable: drop it.
        if let (Some(warm), false) = (&self.warm, trapped) {
            let mut idle = warm.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < MAX_WARM {
                idle.push(lease);
            }
        }
        result
    }

    /// Checks the organization may use this plugin.
    pub fn check_organization(&self, organization: &str) -> Result<(), PluginError> {
        if self.grants.allows_organization(organization) {
            Ok(())
        } else {
            Err(PluginError::Denied {
                plugin: self.grants.name.to_string(),
                message: format!("organization '{organization}' may not use this plugin"),
            })
        }
    }

    pub fn config_json(&self) -> &String {
        &self.grants.config_json
    }

    fn plugin(&self) -> String {
        self.grants.name.to_string()
    }

    /// Maps a runtime failure (timeout, trap, memory) to a [`PluginError`].
    fn map_outcome<T>(
        &self,
        store: &mut Store<State>,
        outcome: Deadline<wasmtime::Result<T>>,
    ) -> Result<T, PluginError> {
        let limits = &self.grants.limits;
        let err = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Err(_) => {
                return Err(PluginError::Timeout {
                    plugin: self.plugin(),
                    limit_ms: limits.timeout_ms,
                    what: "wall clock",
                });
            }
            Ok(Err(err)) => err,
        };
        let state = store.data();
        if state.cpu_exhausted {
            return Err(PluginError::Timeout {
                plugin: self.plugin(),
                limit_ms: limits.cpu_ms,
                what: "CPU time",
            });
        }
        if state.limiter.exceeded {
            return Err(PluginError::MemoryExceeded {
                plugin: self.plugin(),
                limit_mb: limits.memory_mb,
            });
        }
        match err.downcast_ref::<Trap>() {
            Some(trap) => {
                let stderr = String::from_utf8_lossy(&state.stderr.contents()).into_owned();
                // Rust prints "panicked at FILE:LINE:" and the message on the next line.
                let lines: Vec<&str> = stderr.lines().collect();
                // A Python guest prints its traceback first; its last line names the exception.
                let exception = stderr
                    .contains("Traceback (most recent call last)")
                    .then(|| {
                        let end = lines.iter().position(|l| l.contains("panicked at"));
                        lines[..end.unwrap_or(lines.len())]
                            .iter()
                            .rev()
                            .find(|l| !l.trim().is_empty())
                            .map(|l| format!("; {}", l.trim()))
                    })
                    .flatten()
                    .unwrap_or_default();
                let detail = lines
                    .iter()
                    .position(|l| l.contains("panicked at"))
                    .map(|i| {
                        format!(
                            " ({}{exception})",
                            lines[i..(i + 2).min(lines.len())].join(" ").trim()
                        )
                    })
                    .or_else(|| {
                        let tail = stderr.trim();
                        (!tail.is_empty()).then(|| format!(" (stderr: {tail})"))
                    })
                    .unwrap_or_default();
                let message = if detail.contains("panicked at") {
                    format!("the plugin panicked{detail}")
                } else {
                    format!("{trap}{detail}")
                };
                Err(PluginError::Trap {
                    plugin: self.plugin(),
                    message,
                })
            }
            None => Err(PluginError::Internal {
                plugin: self.plugin(),
                message: format!("{err:#}"),
            }),
        }
    }

    /// Maps the plugin's own error, adding the host's denial reason if the
    /// network policy refused something during the call.
    fn map_plugin_error(&self, err: WitError, store: &Store<State>) -> PluginError {
        let plugin = self.plugin();
        match err {
            WitError::InvalidInput(message) => PluginError::Invalid { plugin, message },
            WitError::Denied(message) => {
                let host_reason = store
                    .data()
                    .hooks
                    .denial
                    .lock()
                    .ok()
                    .and_then(|slot| slot.clone());
                let message = match host_reason {
                    Some(reason) => format!("{message} ({reason})"),
                    None => message,
                };
                PluginError::Denied { plugin, message }
            }
            WitError::Unavailable(message) => PluginError::Unavailable { plugin, message },
            WitError::Retryable(advice) => PluginError::Retryable {
                plugin,
                message: advice.message,
                after_seconds: advice.after_seconds,
            },
            WitError::Internal(message) => PluginError::Internal { plugin, message },
        }
    }
}

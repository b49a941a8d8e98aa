//! Per-plugin call statistics: counts, errors by cause and latency
//! percentiles over the most recent calls.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use super::config::PluginKind;
use super::limits::Limits;

/// Latencies kept for the percentiles.
const WINDOW: usize = 4096;

#[derive(Debug, Default)]
pub struct Recorder {
    inner: Mutex<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    calls: u64,
    errors: BTreeMap<&'static str, u64>,
    /// Ring buffer of latencies in microseconds.
    latencies: Vec<u32>,
    next: usize,
}

impl Recorder {
    pub fn record(&self, elapsed: Duration, error: Option<&'static str>) {
        let micros = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
        // A poisoned lock only means another call panicked mid-update; the counters stay usable.
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        c.calls += 1;
        if let Some(label) = error {
            *c.errors.entry(label).or_default() += 1;
        }
        if c.latencies.len() < WINDOW {
            c.latencies.push(micros);
        } else {
            let i = c.next;
            c.latencies[i] = micros;
        }
        c.next = (c.next + 1) % WINDOW;
    }

    fn read(&self) -> (u64, BTreeMap<&'static str, u64>, Vec<u32>) {
        let c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (c.calls, c.errors.clone(), c.latencies.clone())
    }
}

/// One plugin's state, as plain data for the API and metrics.
#[derive(Debug, Clone, Serialize)]
pub struct PluginStats {
    pub name: String,
    pub kind: PluginKind,
    pub version: String,
    pub description: String,
    pub builtin: bool,
    pub stateless: bool,
    pub limits: Limits,
    pub calls: u64,
    pub errors: u64,
    pub errors_by_cause: BTreeMap<String, u64>,
    /// Over the last 4096 calls, in microseconds; `None` before the first call.
    pub latency_p50_us: Option<u32>,
    pub latency_p90_us: Option<u32>,
    pub latency_p99_us: Option<u32>,
}

pub struct Identity<'a> {
    pub name: &'a str,
    pub kind: PluginKind,
    pub version: &'a str,
    pub description: &'a str,
    pub builtin: bool,
    pub stateless: bool,
    pub limits: &'a Limits,
}

pub fn snapshot(id: Identity<'_>, recorder: &Recorder) -> PluginStats {
    let (calls, errors, mut latencies) = recorder.read();
    latencies.sort_unstable();
    let pct = |p: usize| -> Option<u32> {
        (!latencies.is_empty()).then(|| latencies[(latencies.len() - 1) * p / 100])
    };
    PluginStats {
        name: id.name.to_owned(),
        kind: id.kind,
        version: id.version.to_owned(),
        description: id.description.to_owned(),
        builtin: id.builtin,
        stateless: id.stateless,
        limits: id.limits.clone(),
        calls,
        errors: errors.values().sum(),
        errors_by_cause: errors.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        latency_p50_us: pct(50),
        latency_p90_us: pct(90),
        latency_p99_us: pct(99),
    }
}

/// Prometheus text exposition lines for the plugins (HELP and TYPE included).
pub fn render_prometheus(stats: &[PluginStats]) -> String {
    let mut out = String::new();
    let label =
        |s: &PluginStats| format!("plugin=\"{}\",kind=\"{}\"", escape(&s.name), s.kind.world());
    out.push_str(
        "# HELP keystead_plugin_calls Plugin calls.\n# TYPE keystead_plugin_calls counter\n",
    );
    for s in stats {
        let _ = writeln!(
            out,
            "keystead_plugin_calls_total{{{}}} {}",
            label(s),
            s.calls
        );
    }
    out.push_str("# HELP keystead_plugin_errors Failed plugin calls by cause.\n# TYPE keystead_plugin_errors counter\n");
    for s in stats {
        for (cause, n) in &s.errors_by_cause {
            let _ = writeln!(
                out,
                "keystead_plugin_errors_total{{{},cause=\"{}\"}} {n}",
                label(s),
                escape(cause)
            );
        }
    }
    out.push_str("# HELP keystead_plugin_call_latency_seconds Plugin call latency over recent calls.\n# TYPE keystead_plugin_call_latency_seconds gauge\n");
    for s in stats {
        for (q, v) in [
            ("0.5", s.latency_p50_us),
            ("0.9", s.latency_p90_us),
            ("0.99", s.latency_p99_us),
        ] {
            if let Some(v) = v {
                let _ = writeln!(
                    out,
                    "keystead_plugin_call_latency_seconds{{{},quantile=\"{q}\"}} {}",
                    label(s),
                    f64::from(v) / 1e6
                );
            }
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_metrics() {
        let r = Recorder::default();
        for i in 1..=100 {
            r.record(Duration::from_micros(i), (i % 10 == 0).then_some("trap"));
        }
        let limits = Limits::default();
        let s = snapshot(
            Identity {
                name: "p",
                kind: PluginKind::TemplateValidator,
                version: "1",
                description: "",
                builtin: true,
                stateless: true,
                limits: &limits,
            },
            &r,
        );
        assert_eq!((s.calls, s.errors), (100, 10));
        assert_eq!(s.latency_p50_us, Some(50));
        assert_eq!(s.latency_p99_us, Some(99));
        let text = render_prometheus(&[s]);
        assert!(
            text.contains(
                "keystead_plugin_calls_total{plugin=\"p\",kind=\"template-validator\"} 100"
            )
        );
        assert!(text.contains("cause=\"trap\"} 10"));
        assert!(text.contains("quantile=\"0.5\"} 0.00005"));
    }
}

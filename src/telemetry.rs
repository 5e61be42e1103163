//! Logging set-up and the gateway's counters (rendered in Prometheus text format).
//!
//! Counters carry bounded-cardinality labels only: never a token, UPN or message id.

use std::collections::BTreeMap;

use parking_lot::Mutex;

/// The id of the current request (request extensions): answered as `request-id`, sent to
/// Graph as `client-request-id`, recorded on the request's span.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global tracing subscriber (`RUST_LOG` filters; default `info`). Idempotent.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Named counters with labels, e.g. `inbound_token_rejected_total{reason="expired"}`.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    /// Adds one to the counter `name` with `labels`.
    pub fn incr(&self, name: &str, labels: &[(&str, &str)]) {
        self.add(name, labels, 1);
    }

    /// Adds `n` to the counter `name` with `labels`.
    pub fn add(&self, name: &str, labels: &[(&str, &str)], n: u64) {
        let key = series_key(name, labels);
        *self.counters.lock().entry(key).or_insert(0) += n;
    }

    /// Current value of one series (0 when never incremented).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.counters
            .lock()
            .get(&series_key(name, labels))
            .copied()
            .unwrap_or(0)
    }

    /// All series in Prometheus text exposition format.
    pub fn render(&self) -> String {
        let counters = self.counters.lock();
        let mut out = String::new();
        let mut last_name = "";
        for (series, value) in counters.iter() {
            let name = series.split('{').next().unwrap_or(series);
            if name != last_name {
                out.push_str(&format!("# TYPE {name} counter\n"));
                last_name = name;
            }
            out.push_str(&format!("{series} {value}\n"));
        }
        out
    }
}

fn series_key(name: &str, labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{name}{{{}}}", inner.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_in_prometheus_format() {
        let m = Metrics::default();
        m.incr("inbound_token_rejected_total", &[("reason", "expired")]);
        m.incr("inbound_token_rejected_total", &[("reason", "expired")]);
        m.incr("inbound_token_rejected_total", &[("reason", "wrong_audience")]);
        assert_eq!(m.get("inbound_token_rejected_total", &[("reason", "expired")]), 2);
        let text = m.render();
        assert_eq!(text.matches("# TYPE inbound_token_rejected_total counter").count(), 1);
        assert!(text.contains("inbound_token_rejected_total{reason=\"expired\"} 2\n"));
        assert!(text.contains("inbound_token_rejected_total{reason=\"wrong_audience\"} 1\n"));
    }
}

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
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Upper bounds (seconds) of the latency histograms' buckets.
pub const LATENCY_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// What each documented series means (rendered as `# HELP`; the README's metrics table).
pub const METRIC_HELP: &[(&str, &str)] = &[
    (
        "http_requests_total",
        "Requests answered, by front_end, operation, outcome and status.",
    ),
    ("http_request_duration_seconds", "Time to answer headers, by front_end."),
    ("inbound_token_accepted_total", "Inbound tokens accepted."),
    ("inbound_token_rejected_total", "Inbound tokens refused, by reason."),
    (
        "inbound_token_cache_hits_total",
        "Inbound tokens served from the validation cache.",
    ),
    (
        "signing_key_refresh_total",
        "Refreshes of tenants' signing keys, by result.",
    ),
    ("ews_requests_total", "EWS SOAP requests, by operation."),
    (
        "obo_exchanges_total",
        "On-behalf-of token requests sent to Entra ID, by outcome.",
    ),
    ("obo_cache_entries", "Graph tokens held in the in-process (L1) cache."),
    (
        "obo_cache_total",
        "In-process (L1) token cache lookups, by result (hit, miss, coalesced, bypass).",
    ),
    (
        "obo_l2_total",
        "Shared (Redis, L2) token cache lookups, by result (hit, miss, coalesced, lock_timeout, undecryptable, unavailable).",
    ),
    ("graph_requests_total", "Graph calls, by status (or error kind)."),
    (
        "graph_request_duration_seconds",
        "Graph latency to response headers, by method.",
    ),
    ("graph_throttled_total", "Graph answers 429 or 503."),
    (
        "graph_mailbox_queued_total",
        "Graph calls that waited for a slot of their mailbox.",
    ),
    ("graph_in_flight", "Graph calls holding a mailbox slot (all mailboxes)."),
    (
        "graph_mailboxes_busy",
        "Mailboxes with at least one Graph call in flight.",
    ),
    (
        "graph_mailboxes_at_cap",
        "Mailboxes with as many calls in flight as the per-mailbox cap.",
    ),
    (
        "graph_mailbox_slots_total",
        "Mailbox slots granted, by scope (shared across replicas or local only).",
    ),
    (
        "redis_errors_total",
        "Failed or timed-out Redis commands, by component and kind.",
    ),
    (
        "redis_skipped_total",
        "Redis commands not sent because the circuit breaker was open, by component.",
    ),
    (
        "redis_breaker_open",
        "1 while the circuit breaker of a component is open.",
    ),
    (
        "rate_limited_total",
        "Requests refused by a rate limit, by scope (user or tenant).",
    ),
];

/// Named counters, gauges and histograms with labels, e.g.
/// `inbound_token_rejected_total{reason="expired"}`.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<String, u64>>,
    gauges: Mutex<BTreeMap<String, i64>>,
    /// By (name, rendered labels without braces).
    histograms: Mutex<BTreeMap<(String, String), Histogram>>,
}

#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    /// Per-bucket counts (not cumulative); one more than `bounds` for `+Inf`.
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

/// The front end's name for the operation a response answered (response extension), e.g. an
/// EWS `GetItem`; without it the request metrics use the method and route template.
#[derive(Debug, Clone, Copy)]
pub struct Operation(pub &'static str);

// === impl Metrics ===

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

    /// Current value of one counter series (0 when never incremented).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.counters
            .lock()
            .get(&series_key(name, labels))
            .copied()
            .unwrap_or(0)
    }

    /// Sets the gauge `name` with `labels`.
    pub fn gauge_set(&self, name: &str, labels: &[(&str, &str)], value: i64) {
        self.gauges.lock().insert(series_key(name, labels), value);
    }

    /// Adds `delta` (may be negative) to the gauge `name` with `labels`.
    pub fn gauge_add(&self, name: &str, labels: &[(&str, &str)], delta: i64) {
        *self.gauges.lock().entry(series_key(name, labels)).or_insert(0) += delta;
    }

    /// Current value of one gauge series (0 when never set).
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> i64 {
        self.gauges.lock().get(&series_key(name, labels)).copied().unwrap_or(0)
    }

    /// Records a duration in the histogram `name` (buckets [`LATENCY_BUCKETS`]).
    pub fn observe(&self, name: &str, labels: &[(&str, &str)], seconds: f64) {
        self.observe_in(name, labels, seconds, LATENCY_BUCKETS);
    }

    /// Records `value` in the histogram `name` with the given bucket upper bounds (ascending;
    /// the first observation of a series fixes them).
    pub fn observe_in(&self, name: &str, labels: &[(&str, &str)], value: f64, bounds: &'static [f64]) {
        let key = (name.to_string(), label_text(labels));
        let mut histograms = self.histograms.lock();
        let h = histograms.entry(key).or_insert_with(|| Histogram {
            bounds,
            buckets: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        });
        let slot = h.bounds.iter().position(|b| value <= *b).unwrap_or(h.bounds.len());
        h.buckets[slot] += 1;
        h.sum += value;
        h.count += 1;
    }

    /// Observations recorded in one histogram series.
    pub fn histogram_count(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let key = (name.to_string(), label_text(labels));
        self.histograms.lock().get(&key).map_or(0, |h| h.count)
    }

    /// All series in Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        render_scalars(&mut out, &self.counters.lock(), "counter");
        render_scalars(&mut out, &self.gauges.lock(), "gauge");
        let histograms = self.histograms.lock();
        let mut last_name = "";
        for ((name, labels), h) in histograms.iter() {
            if name != last_name {
                type_line(&mut out, name, "histogram");
                last_name = name;
            }
            h.render(&mut out, name, labels);
        }
        out
    }
}

fn render_scalars<V: std::fmt::Display>(out: &mut String, series: &BTreeMap<String, V>, kind: &str) {
    let mut last_name = "";
    for (series, value) in series.iter() {
        let name = series.split('{').next().unwrap_or(series);
        if name != last_name {
            type_line(out, name, kind);
            last_name = name;
        }
        out.push_str(&format!("{series} {value}\n"));
    }
}

fn type_line(out: &mut String, name: &str, kind: &str) {
    if let Some((_, help)) = METRIC_HELP.iter().find(|(n, _)| *n == name) {
        out.push_str(&format!("# HELP {name} {help}\n"));
    }
    out.push_str(&format!("# TYPE {name} {kind}\n"));
}

// === impl Histogram ===

impl Histogram {
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, count) in self.buckets.iter().enumerate() {
            cumulative += count;
            let le = self.bounds.get(i).map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            out.push_str(&format!("{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}\n"));
        }
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        out.push_str(&format!("{name}_sum{braces} {}\n", self.sum));
        out.push_str(&format!("{name}_count{braces} {}\n", self.count));
    }
}

fn series_key(name: &str, labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    format!("{name}{{{}}}", label_text(labels))
}

fn label_text(labels: &[(&str, &str)]) -> String {
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    inner.join(",")
}

// === request metrics ===

/// Middleware counting every response by front end, operation, outcome and status and timing
/// it. Labels come from fixed sets and route templates only, never from the request's values.
pub async fn track_requests(
    axum::extract::State(metrics): axum::extract::State<std::sync::Arc<Metrics>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let front_end = front_end(req.uri().path());
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string());
    let method = method_label(req.method());
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let operation = match response.extensions().get::<Operation>() {
        Some(op) => op.0.to_string(),
        None => format!("{method} {}", route.as_deref().unwrap_or("unmatched")),
    };
    let status = response.status();
    // Fills the request span's `operation` field when the span declares one.
    tracing::Span::current().record("operation", operation.as_str());
    metrics.incr(
        "http_requests_total",
        &[
            ("front_end", front_end),
            ("operation", &operation),
            ("outcome", outcome(status.as_u16())),
            ("status", status.as_str()),
        ],
    );
    metrics.observe(
        "http_request_duration_seconds",
        &[("front_end", front_end)],
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The method, or `OTHER` for extension methods (a client could otherwise mint labels).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ]
    .into_iter()
    .zip(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    .find_map(|(m, label)| (m == method).then_some(label))
    .unwrap_or("OTHER")
}

/// Which front end a path belongs to.
fn front_end(path: &str) -> &'static str {
    let lower = path.to_ascii_lowercase();
    if lower.starts_with("/ews/") {
        "ews"
    } else if lower.starts_with("/api/") {
        "rest"
    } else if lower.starts_with("/v1.0/") || lower.starts_with("/beta/") {
        "graph"
    } else if lower == "/healthz" || lower == "/readyz" {
        "health"
    } else {
        "other"
    }
}

/// A coarse outcome for dashboards and alerts.
fn outcome(status: u16) -> &'static str {
    match status {
        0..=399 => "ok",
        401 => "unauthenticated",
        403 => "forbidden",
        429 => "throttled",
        400..=499 => "client_error",
        _ => "server_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_and_histograms_render_in_prometheus_format() {
        let m = Metrics::default();
        m.gauge_add("graph_in_flight", &[], 3);
        m.gauge_add("graph_in_flight", &[], -1);
        m.observe("graph_request_duration_seconds", &[("method", "GET")], 0.02);
        m.observe("graph_request_duration_seconds", &[("method", "GET")], 7.0);
        m.observe("graph_request_duration_seconds", &[("method", "GET")], 99.0);
        assert_eq!(m.gauge("graph_in_flight", &[]), 2);
        assert_eq!(
            m.histogram_count("graph_request_duration_seconds", &[("method", "GET")]),
            3
        );
        let text = m.render();
        assert!(
            text.contains("# TYPE graph_in_flight gauge\ngraph_in_flight 2\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE graph_request_duration_seconds histogram\n"),
            "{text}"
        );
        assert!(text.contains("graph_request_duration_seconds_bucket{method=\"GET\",le=\"0.01\"} 0\n"));
        assert!(text.contains("graph_request_duration_seconds_bucket{method=\"GET\",le=\"0.025\"} 1\n"));
        assert!(text.contains("graph_request_duration_seconds_bucket{method=\"GET\",le=\"10\"} 2\n"));
        assert!(text.contains("graph_request_duration_seconds_bucket{method=\"GET\",le=\"+Inf\"} 3\n"));
        assert!(text.contains("graph_request_duration_seconds_count{method=\"GET\"} 3\n"));
        assert!(text.contains("# HELP graph_in_flight "), "{text}");
    }

    #[tokio::test]
    async fn the_request_middleware_labels_by_route_template_never_by_values() {
        use axum::{Router, body::Body, http::Request, routing::get};
        use tower::ServiceExt as _;
        let metrics = std::sync::Arc::new(Metrics::default());
        let router = Router::new()
            .route("/v1.0/me/messages/{id}", get(|| async { "ok" }))
            .route(
                "/EWS/Exchange.asmx",
                axum::routing::post(|| async {
                    let mut res = axum::response::IntoResponse::into_response("soap");
                    res.extensions_mut().insert(Operation("GetItem"));
                    res
                }),
            )
            .layer(axum::middleware::from_fn_with_state(metrics.clone(), track_requests));
        let send = |method: &str, uri: &str| {
            let req = Request::builder().method(method).uri(uri).body(Body::empty()).unwrap();
            router.clone().oneshot(req)
        };
        send("GET", "/v1.0/me/messages/AAMk-secret-id").await.unwrap();
        send("POST", "/EWS/Exchange.asmx").await.unwrap();
        send("BREW", "/alice@contoso.com").await.unwrap();
        let ok = [
            ("front_end", "graph"),
            ("operation", "GET /v1.0/me/messages/{id}"),
            ("outcome", "ok"),
            ("status", "200"),
        ];
        assert_eq!(metrics.get("http_requests_total", &ok), 1, "{}", metrics.render());
        let ews = [
            ("front_end", "ews"),
            ("operation", "GetItem"),
            ("outcome", "ok"),
            ("status", "200"),
        ];
        assert_eq!(metrics.get("http_requests_total", &ews), 1);
        let text = metrics.render();
        assert!(
            !text.contains("AAMk") && !text.contains("alice") && !text.contains("BREW"),
            "{text}"
        );
        assert!(text.contains("operation=\"OTHER unmatched\""), "{text}");
    }

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

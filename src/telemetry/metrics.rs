//! Prometheus metrics. Code records through the `metrics` facade (cheap when nothing is installed);
//! [`install`] puts a Prometheus recorder behind it once per process, and the admin listener renders it
//! at `/metrics` (the exporter's own HTTP listener is not used: one admin server, one set of routes).
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `bedrock_guard_requests_total` | counter | `operation`, `decision` (allow, deny, none), `status` |
//! | `bedrock_guard_request_duration_seconds` | histogram | `operation` |
//! | `bedrock_guard_policy_evaluation_seconds` | histogram | |
//! | `bedrock_guard_upstream_latency_seconds` | histogram (request sent to response headers) | `operation` |
//! | `bedrock_guard_upstream_ttfb_seconds` | histogram (request sent to first body byte) | `operation` |
//! | `bedrock_guard_tokens_total` | counter | `principal`, `model`, `direction` (input, output) |
//! | `bedrock_guard_denials_total` | counter | `rule` (the deciding rule, or `implicit`) |
//! | `bedrock_guard_open_streams` | gauge | |
//! | `bedrock_guard_in_flight_requests` | gauge | |
//! | `bedrock_guard_overload_rejections_total` | counter | |
//! | `bedrock_guard_config_reloads_total` | counter (recorded by `config::reload`, or [`record_reload`]) | `result` |
//! | `bedrock_guard_config_version_info` | gauge, 1 for the live version | `version` |
//! | `bedrock_guard_control_plane_up` | gauge (recorded by `controlplane`): 1 when the region's listing succeeded | `region` |
//! | `bedrock_guard_routing_fallback_total` | counter (recorded by `http::proxy`): calls routed from a built-in table | `source` |

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latencies of a model call: tens of milliseconds to the ten-minute response timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];
/// Policy evaluation is in-memory: microseconds, and anything near a millisecond is worth seeing.
const POLICY_BUCKETS: &[f64] = &[
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005, 0.01,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static LIVE_VERSION: Mutex<Option<String>> = Mutex::new(None);

/// Installs the Prometheus recorder (once per process; later calls return the same handle). When the
/// embedding program already installed another recorder, the handle renders only what reaches it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("bedrock_guard_policy_evaluation_seconds".to_owned()),
                    POLICY_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Suffix("_seconds".to_owned()),
                        LATENCY_BUCKETS,
                    )
                });
            let recorder = match builder {
                Ok(builder) => builder.build_recorder(),
                // Only reachable with empty bucket lists; summaries are still useful.
                Err(_) => PrometheusBuilder::new().build_recorder(),
            };
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics will be empty");
            }
            describe();
            handle
        })
        .clone()
}

/// The installed handle, if [`install`] ran.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get()
}

fn describe() {
    metrics::describe_counter!(
        "bedrock_guard_requests_total",
        "Requests answered, by operation, policy decision and status returned"
    );
    metrics::describe_histogram!(
        "bedrock_guard_request_duration_seconds",
        metrics::Unit::Seconds,
        "Arrival to the end of the response body (streams included)"
    );
    metrics::describe_histogram!(
        "bedrock_guard_policy_evaluation_seconds",
        metrics::Unit::Seconds,
        "Time to evaluate the policies for one request"
    );
    metrics::describe_histogram!(
        "bedrock_guard_upstream_latency_seconds",
        metrics::Unit::Seconds,
        "Upstream request sent to response headers received"
    );
    metrics::describe_histogram!(
        "bedrock_guard_upstream_ttfb_seconds",
        metrics::Unit::Seconds,
        "Upstream request sent to the first response body byte"
    );
    metrics::describe_counter!(
        "bedrock_guard_tokens_total",
        "Model tokens reported by Bedrock, by principal, model and direction"
    );
    metrics::describe_counter!(
        "bedrock_guard_denials_total",
        "Calls the policies denied, by deciding rule (implicit: nothing allowed them)"
    );
    crate::quota::metrics::describe();
    metrics::describe_gauge!(
        "bedrock_guard_open_streams",
        "Event-stream responses being passed through now"
    );
    metrics::describe_gauge!(
        "bedrock_guard_in_flight_requests",
        "Requests admitted and not yet finished (streams included)"
    );
    metrics::describe_counter!(
        "bedrock_guard_overload_rejections_total",
        "Requests refused with 503 because the concurrent request cap was reached"
    );
    metrics::describe_counter!(
        "bedrock_guard_config_reloads_total",
        "Configuration reload attempts, by result"
    );
    metrics::describe_gauge!(
        "bedrock_guard_config_version_info",
        "1 for the configuration version in force"
    );
}

/// Renders every metric in the Prometheus text format, with the live configuration version.
pub fn render(live_version: &str) -> String {
    set_config_version(live_version);
    match handle() {
        Some(handle) => handle.render(),
        None => String::new(),
    }
}

/// Drains histogram buffers so they do not grow between scrapes; call periodically.
pub fn run_upkeep() {
    if let Some(handle) = handle() {
        handle.run_upkeep();
    }
}

/// Records one reload attempt (`ok`: the candidate was valid) and the version now in force.
pub fn record_reload(ok: bool, version: &str) {
    // Same label values as `config::reload` uses for the same counter.
    let result = if ok { "published" } else { "failed" };
    metrics::counter!("bedrock_guard_config_reloads_total", "result" => result).increment(1);
    set_config_version(version);
}

/// Marks `version` as the live configuration (the previous version's series drops to 0).
pub fn set_config_version(version: &str) {
    let mut live = LIVE_VERSION.lock().unwrap_or_else(PoisonError::into_inner);
    if live.as_deref() == Some(version) {
        return;
    }
    if let Some(previous) = live.take() {
        metrics::gauge!("bedrock_guard_config_version_info", "version" => previous).set(0.0);
    }
    metrics::gauge!("bedrock_guard_config_version_info", "version" => version.to_owned()).set(1.0);
    *live = Some(version.to_owned());
}

/// Series handles resolved once per label set and thread. The facade's macros build the key (label
/// strings included) and look it up in the recorder's registry on every call; for the six series one
/// forwarded call records, that was about 1.5% of the proxy's CPU at saturation (docs/BENCHMARKS.md).
/// Handles are cached only once [`install`] ran: before that they would come from the no-op recorder.
/// The recorder has no idle timeout, so a handle stays the series' own for the life of the process.
#[derive(Default)]
struct Handles {
    requests: HashMap<(&'static str, &'static str, u16), Counter>,
    durations: HashMap<&'static str, Histogram>,
    upstream_latency: HashMap<&'static str, Histogram>,
    upstream_ttfb: HashMap<&'static str, Histogram>,
    /// principal -> model -> (input, output): as many entries as the exporter has token series.
    tokens: HashMap<String, HashMap<String, [Counter; 2]>>,
    policy_evaluation: HashMap<(), Histogram>,
}

thread_local! {
    static HANDLES: RefCell<Handles> = RefCell::default();
}

/// The handle `make` resolves, cached in the map `pick` selects under `key` (resolved anew, uncached,
/// when there is no recorder of ours or the thread is exiting). A handle is a shared pointer: the
/// copy returned costs a reference count, not a registry lookup.
fn cached<K, H>(
    pick: fn(&mut Handles) -> &mut HashMap<K, H>,
    key: K,
    make: impl Fn() -> H + Copy,
) -> H
where
    K: Eq + std::hash::Hash,
    H: Clone,
{
    if HANDLE.get().is_none() {
        return make();
    }
    HANDLES
        .try_with(|h| {
            pick(&mut h.borrow_mut())
                .entry(key)
                .or_insert_with(make)
                .clone()
        })
        .unwrap_or_else(|_| make())
}

pub fn record_request(
    operation: &'static str,
    decision: &'static str,
    status: u16,
    total: Duration,
) {
    let requests = cached(
        |h| &mut h.requests,
        (operation, decision, status),
        || {
            metrics::counter!(
                "bedrock_guard_requests_total",
                "operation" => operation,
                "decision" => decision,
                "status" => status.to_string()
            )
        },
    );
    requests.increment(1);
    let duration = cached(
        |h| &mut h.durations,
        operation,
        || metrics::histogram!("bedrock_guard_request_duration_seconds", "operation" => operation),
    );
    duration.record(total.as_secs_f64());
}

pub fn record_policy_evaluation(elapsed: Duration) {
    let histogram = cached(
        |h| &mut h.policy_evaluation,
        (),
        || metrics::histogram!("bedrock_guard_policy_evaluation_seconds"),
    );
    histogram.record(elapsed.as_secs_f64());
}

pub fn record_upstream(operation: &'static str, latency: Option<Duration>, ttfb: Option<Duration>) {
    if let Some(latency) = latency {
        let histogram = cached(
            |h| &mut h.upstream_latency,
            operation,
            || metrics::histogram!("bedrock_guard_upstream_latency_seconds", "operation" => operation),
        );
        histogram.record(latency.as_secs_f64());
    }
    if let Some(ttfb) = ttfb {
        let histogram = cached(
            |h| &mut h.upstream_ttfb,
            operation,
            || metrics::histogram!("bedrock_guard_upstream_ttfb_seconds", "operation" => operation),
        );
        histogram.record(ttfb.as_secs_f64());
    }
}

pub fn record_tokens(principal: &str, model: &str, input: Option<u64>, output: Option<u64>) {
    if input.is_none() && output.is_none() {
        return;
    }
    let counter = |direction: &'static str| {
        metrics::counter!(
            "bedrock_guard_tokens_total",
            "principal" => principal.to_owned(),
            "model" => model.to_owned(),
            "direction" => direction
        )
    };
    let make = || [counter("input"), counter("output")];
    let cached = match HANDLE.get() {
        Some(_) => HANDLES
            .try_with(|h| {
                let tokens = &mut h.borrow_mut().tokens;
                // Looked up by borrowed strings first: a known pair costs no allocation.
                match tokens.get(principal).and_then(|models| models.get(model)) {
                    Some(pair) => pair.clone(),
                    None => tokens
                        .entry(principal.to_owned())
                        .or_default()
                        .entry(model.to_owned())
                        .or_insert_with(make)
                        .clone(),
                }
            })
            .ok(),
        None => None,
    };
    let [input_counter, output_counter] = cached.unwrap_or_else(make);
    if let Some(count) = input {
        input_counter.increment(count);
    }
    if let Some(count) = output {
        output_counter.increment(count);
    }
}

pub fn record_denial(rule: &str) {
    metrics::counter!("bedrock_guard_denials_total", "rule" => rule.to_owned()).increment(1);
}

pub fn record_overload() {
    metrics::counter!("bedrock_guard_overload_rejections_total").increment(1);
}

/// Counts one gauge up while alive (open streams, in-flight requests).
#[derive(Debug)]
pub struct GaugeGuard(Gauge);

impl GaugeGuard {
    pub fn open_stream() -> Self {
        static OPEN_STREAMS: OnceLock<Gauge> = OnceLock::new();
        Self::up(&OPEN_STREAMS, "bedrock_guard_open_streams")
    }

    pub fn in_flight() -> Self {
        static IN_FLIGHT: OnceLock<Gauge> = OnceLock::new();
        Self::up(&IN_FLIGHT, "bedrock_guard_in_flight_requests")
    }

    /// The handle is resolved once per process, once our recorder is installed.
    fn up(cache: &'static OnceLock<Gauge>, name: &'static str) -> Self {
        let gauge = match HANDLE.get() {
            Some(_) => cache.get_or_init(|| metrics::gauge!(name)).clone(),
            None => metrics::gauge!(name),
        };
        gauge.increment(1.0);
        GaugeGuard(gauge)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

//! The Prometheus recorder behind `/metrics`. Installed once per process (tests
//! start several gateways in one process and share it).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds: sub-millisecond gateway work to slow upstreams.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's metrics handle, installing the recorder on first use. `None` if
/// another recorder was installed first (metrics then go there).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

/// How often histogram samples are folded into their buckets.
pub const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Starts, once per process, the thread that folds histogram samples into
/// their buckets every [`UPKEEP_INTERVAL`], for as long as the process lives
/// (the recorder is process-wide too), and returns it. Nothing is started
/// if the recorder is not ours or the thread cannot be started (then
/// `/metrics` scrapes still fold the samples; the warning says so).
///
/// The recorder keeps every histogram sample until this runs or `/metrics` is
/// scraped: without it, a gateway nobody scrapes grows by a sample per request
/// without bound. On its own thread, not a task: folding five seconds of
/// samples at ~55,000 requests a second took about 2 ms (perf of bench/'s GET
/// load), and as a task it held a request worker that long every five seconds,
/// every connection on the worker waiting.
pub fn start_upkeep() -> Option<&'static std::thread::JoinHandle<()>> {
    static UPKEEP: OnceLock<Option<std::thread::JoinHandle<()>>> = OnceLock::new();
    UPKEEP.get_or_init(spawn_upkeep).as_ref()
}

fn spawn_upkeep() -> Option<std::thread::JoinHandle<()>> {
    let handle = handle()?;
    std::thread::Builder::new()
        .name("rampart-metrics".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        })
        .inspect_err(|error| {
            tracing::warn!(%error, "metrics upkeep thread not started: samples are folded only by scrapes");
        })
        .ok()
}

fn describe() {
    metrics::describe_counter!(
        "rampart_requests_total",
        "Requests by API, route, status and decision."
    );
    metrics::describe_histogram!(
        "rampart_request_duration_seconds",
        "Time from request head to end of response."
    );
    metrics::describe_counter!(
        "rampart_upstream_errors_total",
        "Upstream failures by API and kind."
    );
    metrics::describe_counter!(
        "rampart_audit_dropped_total",
        "Audit records dropped because the queue was full."
    );
    metrics::describe_counter!(
        "rampart_audit_lost_total",
        "Audit records a sink failed to write (a full disk, a closed output); each sink counts its own."
    );
    metrics::describe_counter!(
        "rampart_audit_write_errors_total",
        "Failed audit sink writes (batches)."
    );
    metrics::describe_counter!(
        "rampart_config_reloads_total",
        "Configuration reloads by result."
    );
    metrics::describe_counter!(
        "rampart_connections_rejected_total",
        "Connections closed at the connection cap."
    );
    metrics::describe_counter!(
        "rampart_admin_connections_rejected_total",
        "Admin listener connections closed at its cap (256)."
    );
    metrics::describe_counter!(
        "rampart_admin_auth_failures_total",
        "Admin API requests refused for a missing or wrong bearer token."
    );
    metrics::describe_counter!(
        "rampart_send_timeouts_total",
        "HTTP/2 (and hyper-served) connections closed because a response waited for the client past the send timeout."
    );
    metrics::describe_counter!(
        "rampart_stage_denials_total",
        "Requests refused by a stage, by stage and reason."
    );
    metrics::describe_counter!(
        "rampart_tls_handshake_failures_total",
        "Failed or timed-out TLS handshakes."
    );
}

/// Handles of the per-request metrics, cached per (api, route, status, decision).
///
/// `metrics::counter!` with dynamic labels allocates the label set, hashes it and
/// looks it up in the recorder on every call; this cache does that once per series.
/// Series are bounded by configuration (APIs, route templates, statuses); past
/// `MAX_CACHED_SERIES` the slow path is taken so memory stays bounded.
pub struct RequestMetrics {
    series: parking_lot::Mutex<SeriesMap>,
}

/// Series by the hash of their labels (a hit is checked against the labels).
/// foldhash, not SipHash: the labels come from the configuration (API names,
/// route templates, statuses), not from clients, so a keyed hash buys nothing.
type SeriesMap = std::collections::HashMap<u64, CachedSeries, foldhash::fast::FixedState>;

struct CachedSeries {
    api: String,
    route: String,
    status: u16,
    decision: &'static str,
    requests: metrics::Counter,
    duration: metrics::Histogram,
}

const MAX_CACHED_SERIES: usize = 16_384;

impl RequestMetrics {
    /// The process-wide cache (the recorder is process-wide too).
    pub fn global() -> &'static RequestMetrics {
        static CACHE: OnceLock<RequestMetrics> = OnceLock::new();
        CACHE.get_or_init(|| RequestMetrics {
            series: parking_lot::Mutex::new(SeriesMap::default()),
        })
    }

    /// Counts one finished request and records its duration.
    pub fn record(&self, api: &str, route: &str, status: u16, decision: &'static str, secs: f64) {
        use std::hash::BuildHasher;
        let key = foldhash::fast::FixedState::default().hash_one((api, route, status, decision));
        let mut series = self.series.lock();
        if let Some(hit) = series.get(&key)
            && hit.api == api
            && hit.route == route
            && hit.status == status
            && hit.decision == decision
        {
            hit.requests.increment(1);
            hit.duration.record(secs);
            return;
        }
        let requests = metrics::counter!(
            "rampart_requests_total",
            "api" => api.to_owned(),
            "route" => route.to_owned(),
            "status" => status.to_string(),
            "decision" => decision,
        );
        let duration =
            metrics::histogram!("rampart_request_duration_seconds", "api" => api.to_owned());
        requests.increment(1);
        duration.record(secs);
        // A hash collision keeps the first series cached; the other takes this path.
        if series.len() < MAX_CACHED_SERIES && !series.contains_key(&key) {
            series.insert(
                key,
                CachedSeries {
                    api: api.to_owned(),
                    route: route.to_owned(),
                    status,
                    decision,
                    requests,
                    duration,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The upkeep runs on one named thread of its own, alive, however many
    /// gateways (and starts) a process has.
    #[test]
    fn upkeep_runs_on_one_thread_of_its_own() {
        assert!(handle().is_some(), "the recorder is this crate's");
        let first = start_upkeep().expect("started");
        assert_eq!(first.thread().name(), Some("rampart-metrics"));
        assert!(!first.is_finished());
        let again = start_upkeep().expect("still there");
        assert_eq!(again.thread().id(), first.thread().id());
    }

    fn cache() -> RequestMetrics {
        RequestMetrics {
            series: parking_lot::Mutex::new(SeriesMap::default()),
        }
    }

    #[test]
    fn each_series_is_cached_once_and_shifted_labels_stay_apart() {
        let metrics = cache();
        for _ in 0..3 {
            metrics.record("ab", "c", 200, "allow", 0.001);
            metrics.record("a", "bc", 200, "allow", 0.001);
            metrics.record("a", "bc", 404, "deny", 0.001);
        }
        let series = metrics.series.lock();
        assert_eq!(series.len(), 3);
        assert!(series.values().any(|s| s.api == "ab" && s.route == "c"));
        assert!(
            series
                .values()
                .any(|s| s.api == "a" && s.route == "bc" && s.status == 404)
        );
    }
}

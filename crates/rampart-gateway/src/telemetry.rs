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
        "rampart_config_reloads_total",
        "Configuration reloads by result."
    );
    metrics::describe_counter!(
        "rampart_connections_rejected_total",
        "Connections closed at the connection cap."
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

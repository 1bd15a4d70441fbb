//! What a data plane did, counted with atomics on the hot path and served as
//! JSON (`/v1/counters`, for the aggregator) and Prometheus text (`/metrics`).

use brokerbench_core::wire::SutCounters;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters; see [`SutCounters`] for what each means.
#[derive(Debug, Default)]
pub struct Counters {
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub backpressured: AtomicU64,
    pub replies: AtomicU64,
    pub routed: AtomicU64,
    pub delivered: AtomicU64,
    pub retried: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub dropped: AtomicU64,
    /// Requests answered by an injected fault (`sut-5xx`).
    pub faulted: AtomicU64,
    /// The faults its ingress was told to inject (`PUT /v1/faults`).
    pub faults: crate::faults::IngressFaults,
}

/// When this process first counted (a SUT process started again has a
/// later one).
static STARTED: std::sync::LazyLock<u64> =
    std::sync::LazyLock::new(brokerbench_core::clock::unix_now_ns);

/// Adds one to a counter.
pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

impl Counters {
    /// Zeros, taking faults from whoever holds `token` (none without one).
    pub fn with_fault_token(token: Option<String>) -> Self {
        Counters {
            faults: crate::faults::IngressFaults::with_token(token),
            ..Default::default()
        }
    }

    /// A consistent-enough copy for reporting.
    pub fn snapshot(&self, queued: u64, cpu_ns: u64) -> SutCounters {
        let r = |c: &AtomicU64| c.load(Relaxed);
        SutCounters {
            accepted: r(&self.accepted),
            rejected: r(&self.rejected),
            backpressured: r(&self.backpressured),
            produce_failed: 0,
            replies: r(&self.replies),
            routed: r(&self.routed),
            delivered: r(&self.delivered),
            retried: r(&self.retried),
            dead_lettered: r(&self.dead_lettered),
            dropped: r(&self.dropped),
            faulted: r(&self.faulted),
            queued,
            cpu_ns,
            throttled_ns: throttled_ns(),
            started_unix_ns: *STARTED,
            restarted: false,
        }
    }
}

/// How long this process's CPU quota stopped it so far, ns (0 without a
/// quota): read from its cgroup, found once.
fn throttled_ns() -> u64 {
    static CGROUP: std::sync::OnceLock<Option<brokerbench_core::cgroup::CpuCgroup>> =
        std::sync::OnceLock::new();
    CGROUP
        .get_or_init(|| brokerbench_core::cgroup::CpuCgroup::own().filter(|c| c.quota().is_some()))
        .as_ref()
        .and_then(|c| c.throttling())
        .map_or(0, |t| t.throttled_ns)
}

/// Prometheus text exposition of a snapshot.
pub fn prometheus(sut: &str, c: &SutCounters) -> String {
    let rows = [
        ("accepted_total", "counter", c.accepted, "events taken in"),
        (
            "rejected_total",
            "counter",
            c.rejected,
            "requests refused with a 4xx",
        ),
        (
            "backpressured_total",
            "counter",
            c.backpressured,
            "requests refused with a 503, queue full",
        ),
        (
            "replies_total",
            "counter",
            c.replies,
            "reply events taken back in",
        ),
        ("routed_total", "counter", c.routed, "deliveries owed"),
        (
            "delivered_total",
            "counter",
            c.delivered,
            "deliveries acknowledged",
        ),
        (
            "retried_total",
            "counter",
            c.retried,
            "delivery attempts after the first",
        ),
        (
            "dead_lettered_total",
            "counter",
            c.dead_lettered,
            "deliveries sent to the dead-letter sink",
        ),
        ("dropped_total", "counter", c.dropped, "deliveries given up"),
        ("queued", "gauge", c.queued, "events inside the SUT"),
        (
            "cpu_throttled_ns_total",
            "counter",
            c.throttled_ns,
            "ns its CPU quota (its cgroup's CFS bandwidth) stopped it",
        ),
    ];
    let mut out = String::new();
    for (name, kind, value, help) in rows {
        out += &format!(
            "# HELP brokerbench_sut_{name} {help}\n# TYPE brokerbench_sut_{name} {kind}\nbrokerbench_sut_{name}{{sut=\"{sut}\"}} {value}\n"
        );
    }
    out
}

/// The control endpoints every SUT serves beside its ingress: `/healthz`,
/// `/readyz` (200 once `ready`), `/v1/counters` (JSON) and `/metrics`
/// (Prometheus text). `None` for any other request.
pub fn control(
    method: &http::Method,
    path: &str,
    sut: &str,
    ready: bool,
    counters: impl FnOnce() -> SutCounters,
) -> Option<http::Response<http_body_util::Full<bytes::Bytes>>> {
    use http::{header::CONTENT_TYPE, HeaderValue, StatusCode};
    let (status, body, json) = match (method, path) {
        (&http::Method::GET, "/healthz") => (StatusCode::OK, "ok\n".to_string(), false),
        (&http::Method::GET, "/readyz") if ready => (StatusCode::OK, "ok\n".to_string(), false),
        (&http::Method::GET, "/readyz") => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready\n".to_string(),
            false,
        ),
        (&http::Method::GET, brokerbench_core::session::path::COUNTERS) => (
            StatusCode::OK,
            serde_json::to_string(&counters()).unwrap_or_default(),
            true,
        ),
        (&http::Method::GET, "/metrics") => (StatusCode::OK, prometheus(sut, &counters()), false),
        _ => return None,
    };
    let mut r = http::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
    *r.status_mut() = status;
    if json {
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    Some(r)
}

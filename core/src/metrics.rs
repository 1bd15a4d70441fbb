//! Prometheus text for the roles' live figures (`/metrics` on the
//! aggregator, the receiver and a sender's `--metrics-listen`): the
//! counters of each role's latest [`Progress`], failures by reason, events
//! in flight, the clock offset, and a latency histogram (publish for a
//! sender, e2e for a receiver) cumulated over the measured seconds.

use crate::buckets::{LatencyBuckets, BOUNDS_MS};
use crate::wire::{Progress, Role};
use std::fmt::Write as _;

/// A role's latest progress, served as `/metrics` (and `/healthz`).
#[derive(Debug, Default)]
pub struct Latest(std::sync::Mutex<Option<Progress>>);

impl Latest {
    /// Keeps `p` as the latest.
    pub fn set(&self, p: &Progress) {
        *self.0.lock().unwrap() = Some(p.clone());
    }

    /// The Prometheus text of the latest progress (empty before the first).
    pub fn text(&self) -> String {
        let latest = self.0.lock().unwrap().clone();
        render(latest.as_slice())
    }
}

/// The `/metrics` answer: Prometheus text.
pub fn answer(text: String) -> http::Response<http_body_util::Full<bytes::Bytes>> {
    let mut r = http::Response::new(http_body_util::Full::new(bytes::Bytes::from(text)));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

impl crate::serve::Handler for Latest {
    async fn answer(
        &self,
        req: http::Request<hyper::body::Incoming>,
    ) -> http::Response<http_body_util::Full<bytes::Bytes>> {
        match (req.method(), req.uri().path()) {
            (&http::Method::GET, "/metrics") => answer(self.text()),
            (&http::Method::GET, "/healthz" | "/readyz") => http::Response::new(
                http_body_util::Full::new(bytes::Bytes::from_static(b"ok\n")),
            ),
            _ => {
                let mut r = http::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from_static(b"GET /metrics\n"),
                ));
                *r.status_mut() = http::StatusCode::NOT_FOUND;
                r
            }
        }
    }
}

fn labels(p: &Progress) -> String {
    let role = p.role.map_or("unknown", Role::name);
    format!("role=\"{role}\",index=\"{}\"", p.index)
}

/// One metric of a role's progress: its name, Prometheus type, help, the
/// role it is of (`None`: every role) and its value.
struct Metric {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    role: Option<Role>,
    value: fn(&Progress) -> Option<f64>,
}

/// Every plain metric, in the order they are written.
const METRICS: &[Metric] = &[
    Metric {
        name: "sent_total",
        kind: "counter",
        help: "events released (sent or failed)",
        role: Some(Role::Sender),
        value: |p| Some(p.sent as f64),
    },
    Metric {
        name: "accepted_total",
        kind: "counter",
        help: "events the SUT accepted (2xx, or acknowledged by Kafka)",
        role: Some(Role::Sender),
        value: |p| Some(p.accepted as f64),
    },
    Metric {
        name: "in_flight",
        kind: "gauge",
        help: "events released and not yet answered",
        role: Some(Role::Sender),
        value: |p| p.in_flight.map(|v| v as f64),
    },
    Metric {
        name: "delivered_total",
        kind: "counter",
        help: "distinct events received",
        role: Some(Role::Receiver),
        value: |p| Some(p.delivered as f64),
    },
    Metric {
        name: "duplicates_total",
        kind: "counter",
        help: "events received again",
        role: Some(Role::Receiver),
        value: |p| Some(p.duplicates as f64),
    },
    Metric {
        name: "reordered_total",
        kind: "counter",
        help: "events received after a later one of their partition key",
        role: Some(Role::Receiver),
        value: |p| Some(p.reordered as f64),
    },
    Metric {
        name: "rejected_total",
        kind: "counter",
        help: "requests refused as no event of the run",
        role: Some(Role::Receiver),
        value: |p| Some(p.rejected as f64),
    },
    Metric {
        name: "clock_offset_ms",
        kind: "gauge",
        help: "the aggregator's clock minus the role's host's, ms",
        role: None,
        value: |p| p.clock_offset_ms,
    },
    Metric {
        name: "p99_ms",
        kind: "gauge",
        help: "P99 of the last complete second, ms: publish (sender), e2e (receiver)",
        role: None,
        // A role measures one headline latency.
        value: |p| {
            p.p99_ms
                .iter()
                .find(|(k, _)| k.headline())
                .map(|(_, ms)| *ms)
        },
    },
    Metric {
        name: "host_steal_ratio",
        kind: "gauge",
        help: "share of the machine's CPU time the hypervisor took in the last second",
        role: None,
        value: |p| p.host_steal.map(f64::from),
    },
    Metric {
        name: "cpu_throttled_ms",
        kind: "gauge",
        help: "ms the role's CPU quota (its cgroup's CFS bandwidth) stopped it in the last second",
        role: None,
        value: |p| p.throttled_ms.map(f64::from),
    },
];

/// A metric's HELP and TYPE, then a line per labelled value (nothing
/// when there is no value).
fn write_metric(out: &mut String, name: &str, kind: &str, help: &str, rows: &[(String, f64)]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "# HELP brokerbench_{name} {help}\n# TYPE brokerbench_{name} {kind}"
    );
    for (labels, v) in rows {
        let _ = writeln!(out, "brokerbench_{name}{{{labels}}} {v}");
    }
}

/// The Prometheus text of `roles`' latest progress.
pub fn render(roles: &[Progress]) -> String {
    let mut out = String::new();
    for m in METRICS {
        let rows: Vec<(String, f64)> = roles
            .iter()
            .filter(|p| m.role.is_none() || p.role == m.role)
            .filter_map(|p| (m.value)(p).map(|v| (labels(p), v)))
            .collect();
        write_metric(&mut out, m.name, m.kind, m.help, &rows);
        // The failures, by reason, after the sender's in-flight count.
        if m.name == "accepted_total" {
            let failed = failed_rows(roles);
            write_metric(
                &mut out,
                "failed_total",
                "counter",
                "events that failed, by reason",
                &failed,
            );
        }
    }
    histograms(&mut out, roles);
    out
}

/// Each sender's failures, one row per reason.
fn failed_rows(roles: &[Progress]) -> Vec<(String, f64)> {
    roles
        .iter()
        .filter(|p| p.role == Some(Role::Sender))
        .flat_map(|p| {
            let f = p.failures.unwrap_or_default();
            [
                ("status_4xx", f.status_4xx),
                ("status_5xx", f.status_5xx),
                ("status_other", f.status_other),
                ("connect", f.connect),
                ("timeout", f.timeout),
                ("transport", f.transport),
                ("inflight_limit", f.inflight_limit),
                ("cancelled", f.cancelled),
            ]
            .map(|(reason, v)| (format!("{},reason=\"{reason}\"", labels(p)), v as f64))
        })
        .collect()
}

/// Latency histograms: a sender's publish, a receiver's e2e latency.
fn histograms(out: &mut String, roles: &[Progress]) {
    for (role, name, help) in [
        (
            Role::Sender,
            "publish_latency_ms",
            "publish latency from the intended send time, ms",
        ),
        (
            Role::Receiver,
            "e2e_latency_ms",
            "end-to-end latency from the intended send time, ms",
        ),
    ] {
        let with: Vec<(&Progress, &LatencyBuckets)> = roles
            .iter()
            .filter(|p| p.role == Some(role))
            .filter_map(|p| p.latency.as_ref().map(|l| (p, l)))
            .filter(|(_, l)| l.le.len() == BOUNDS_MS.len())
            .collect();
        if with.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "# HELP brokerbench_{name} {help}\n# TYPE brokerbench_{name} histogram"
        );
        for (p, l) in with {
            let lb = labels(p);
            for (bound, n) in BOUNDS_MS.iter().zip(&l.le) {
                let _ = writeln!(out, "brokerbench_{name}_bucket{{{lb},le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "brokerbench_{name}_bucket{{{lb},le=\"+Inf\"}} {}",
                l.count
            );
            let _ = writeln!(out, "brokerbench_{name}_sum{{{lb}}} {}", l.sum_ms);
            let _ = writeln!(out, "brokerbench_{name}_count{{{lb}}} {}", l.count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buckets::Cumulative;
    use crate::histogram::Histogram;
    use crate::wire::FailureCounts;

    #[test]
    fn buckets_cumulate_each_second_once_and_render_as_prometheus_text() {
        let mut seconds = [Histogram::default(), Histogram::default()];
        for ms in [0.2, 0.9, 3.0, 40.0] {
            seconds[0].record((ms * 1e6) as u64);
        }
        seconds[1].record(20_000_000_000); // 20 s: above every bound
        let mut c = Cumulative::default();
        let b = c.upto(1, |s| seconds.get(s as usize));
        assert_eq!(
            (b.count, b.le[1], b.le[3], b.le[5], b.le[8], b.le[15]),
            (4, 1, 2, 3, 4, 4)
        );
        let b = c.upto(2, |s| seconds.get(s as usize));
        let again = c.upto(2, |s| seconds.get(s as usize));
        assert_eq!((b.count, b.le[15]), (5, 4), "the 20 s event only in +Inf");
        assert_eq!(again, b, "each second once");
        assert!(
            (b.sum_ms - 20_044.1).abs() < 20_044.1 * 0.004,
            "{}",
            b.sum_ms
        );

        let sender = Progress {
            role: Some(Role::Sender),
            index: 1,
            sent: 10,
            accepted: 7,
            failures: Some(FailureCounts {
                timeout: 2,
                status_5xx: 1,
                ..Default::default()
            }),
            in_flight: Some(0),
            latency: Some(b),
            clock_offset_ms: Some(-0.25),
            throttled_ms: Some(42.5),
            ..Progress::default()
        };
        let text = render(&[sender]);
        for line in [
            "# TYPE brokerbench_sent_total counter",
            "brokerbench_sent_total{role=\"sender\",index=\"1\"} 10",
            "brokerbench_failed_total{role=\"sender\",index=\"1\",reason=\"timeout\"} 2",
            "brokerbench_failed_total{role=\"sender\",index=\"1\",reason=\"status_5xx\"} 1",
            "brokerbench_in_flight{role=\"sender\",index=\"1\"} 0",
            "brokerbench_clock_offset_ms{role=\"sender\",index=\"1\"} -0.25",
            "brokerbench_cpu_throttled_ms{role=\"sender\",index=\"1\"} 42.5",
            "# TYPE brokerbench_publish_latency_ms histogram",
            "brokerbench_publish_latency_ms_bucket{role=\"sender\",index=\"1\",le=\"1\"} 2",
            "brokerbench_publish_latency_ms_bucket{role=\"sender\",index=\"1\",le=\"+Inf\"} 5",
            "brokerbench_publish_latency_ms_count{role=\"sender\",index=\"1\"} 5",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(
            !text.contains("delivered_total"),
            "no receiver, no receiver metrics"
        );
    }
}

#[cfg(test)]
mod dashboard {
    use super::*;
    use crate::histogram::Histogram;
    use crate::wire::FailureCounts;

    /// Every series the Grafana dashboard (deploy/grafana-dashboard.json)
    /// queries is one the roles serve.
    #[test]
    fn the_dashboard_queries_only_series_the_roles_serve() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/grafana-dashboard.json"
        ))
        .unwrap();
        let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut h = Histogram::default();
        h.record(1_000_000);
        let mut buckets = LatencyBuckets::default();
        buckets.add(&h);
        let served = render(&[
            Progress {
                role: Some(Role::Sender),
                failures: Some(FailureCounts::default()),
                in_flight: Some(0),
                latency: Some(buckets.clone()),
                clock_offset_ms: Some(0.0),
                host_steal: Some(0.0),
                ..Progress::default()
            },
            Progress {
                role: Some(Role::Receiver),
                latency: Some(buckets),
                ..Progress::default()
            },
        ]);
        let exprs: Vec<&str> = dashboard["panels"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["targets"].as_array().unwrap())
            .map(|t| t["expr"].as_str().unwrap())
            .collect();
        assert!(exprs.len() >= 10, "{exprs:?}");
        for expr in exprs {
            for name in expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("brokerbench_"))
            {
                assert!(
                    served.lines().any(|l| l.starts_with(&format!("{name}{{"))),
                    "{name} (in {expr}) is not served:\n{served}"
                );
            }
        }
    }
}

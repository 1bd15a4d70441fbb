//! Validated sender settings.

use std::time::Duration;

/// Errors that stop the sender before or while it runs.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("target {0:?}: only http:// or https://host[:port][/path] URLs are supported")]
    TargetUrl(String),
    #[error("target {0}: expected kafka://host:port[,host:port...]/topic")]
    KafkaUrl(String),
    #[error("target {url}: cannot resolve host: {reason}")]
    Resolve { url: String, reason: String },
    /// Its message carries the client error's, so it names no source (an
    /// error chain would print it twice).
    #[error("aggregator: {0}")]
    Aggregator(brokerbench_core::client::ClientError),
    #[error("cannot build CloudEvent: {0}")]
    Encode(String),
    #[error("Kafka producer: {0}")]
    Kafka(String),
    #[error("cannot start pacer thread: {0}")]
    Thread(std::io::Error),
    #[error("target {url}: only {open} of {wanted} connections opened within {within:?}: is it up and accepting connections?")]
    Connect {
        url: String,
        open: usize,
        wanted: usize,
        within: Duration,
    },
    #[error("target {url}: {reason} (give the CA that signed it with --ca-file, or --insecure for a self-signed test cluster)")]
    Tls { url: String, reason: String },
    #[error("target {0}")]
    TlsConfig(#[from] crate::tls::TlsError),
    #[error("the aggregator took no report ({reason}): {kept}")]
    ReportNotTaken { reason: String, kept: String },
}

impl From<brokerbench_core::client::ClientError> for SenderError {
    fn from(e: brokerbench_core::client::ClientError) -> Self {
        SenderError::Aggregator(e)
    }
}

/// CloudEvents HTTP content mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Attributes in `ce-*` headers, data as the body (the default).
    #[default]
    Binary,
    /// The whole event as a JSON document (`application/cloudevents+json`).
    Structured,
}

/// How the pacer waits for the next event (see [`crate::pacer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PacerMode {
    /// Busy: never parks the sender's thread while events are near.
    #[default]
    Spin,
    /// A thread of its own that sleeps between releases.
    Sleep,
}

/// Where events go: an `http://` or `https://` URL, split once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    /// `host:port` as written, for the `Host` header and for resolving.
    pub authority: String,
    /// Path and query, at least `/`.
    pub path: String,
    /// `https://`: TLS to the host (its certificate must name it).
    pub secure: bool,
}

impl Target {
    /// Parses an `http://` or `https://` URL.
    pub fn parse(url: &str) -> Result<Self, SenderError> {
        let bad = || SenderError::TargetUrl(url.to_string());
        let uri: http::Uri = url.parse().map_err(|_| bad())?;
        let secure = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad()),
        };
        let auth = uri.authority().ok_or_else(bad)?;
        let authority = if auth.port().is_some() {
            auth.to_string()
        } else {
            format!("{}:{}", auth.host(), if secure { 443 } else { 80 })
        };
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".to_string());
        Ok(Target {
            url: url.to_string(),
            authority,
            path,
            secure,
        })
    }

    /// The host, for TLS's server name.
    pub fn host(&self) -> &str {
        let host = self
            .authority
            .rsplit_once(':')
            .map_or(self.authority.as_str(), |(h, _)| h);
        host.trim_start_matches('[').trim_end_matches(']')
    }
}

/// Where a Kafka sender produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaTarget {
    pub bootstrap: String,
    pub topic: String,
    /// The user's librdkafka settings (SASL, TLS ...), over the suite's.
    pub settings: Vec<(String, String)>,
}

impl KafkaTarget {
    /// Reads `kafka://host:port[,host:port...]/topic`; `None` for a URL of
    /// another scheme.
    pub fn from_url(url: &str) -> Option<Result<KafkaTarget, SenderError>> {
        let rest = url.strip_prefix("kafka://")?;
        let bad = || SenderError::KafkaUrl(url.to_string());
        let parsed = rest
            .split_once('/')
            .filter(|(hosts, topic)| {
                !hosts.is_empty()
                    && !topic.is_empty()
                    && !topic.contains('/')
                    && hosts.split(',').all(|h| {
                        h.rsplit_once(':')
                            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
                    })
            })
            .map(|(hosts, topic)| KafkaTarget {
                bootstrap: hosts.to_string(),
                topic: topic.to_string(),
                settings: Vec::new(),
            });
        Some(parsed.ok_or_else(bad))
    }
}

/// Test-only faults, for checking the suite's own accounting.
#[derive(Debug, Clone, Copy, Default)]
pub struct SenderFaults {
    /// Send every Nth accepted event a second time (a duplicate delivery).
    pub duplicate_every: Option<u64>,
}

/// Everything the sender needs besides the run plan.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// This sender's index (its own sequence space).
    pub index: u32,
    pub target: Target,
    /// Keep-alive connections opened before the start (one request in
    /// flight each).
    pub connections: usize,
    /// Most connections open at once: when events queue because the SUT is
    /// slow to answer, the pool grows up to this many (see
    /// [`crate::publisher`]).
    pub max_connections: usize,
    /// Give up opening a connection after this long; the initial ones must
    /// all open within it.
    pub connect_timeout: Duration,
    /// Give up on a request after this long (counted as a timeout).
    pub request_timeout: Duration,
    /// Most events released but not finished; events due beyond it are
    /// counted as failures (`inflight_limit`), never delayed.
    pub max_inflight: u64,
    pub mode: Mode,
    pub pacer: PacerMode,
    /// Why `pacer` is what it is, when a CPU quota decided it (said once
    /// when the sender starts).
    pub pacer_note: Option<String>,
    /// The sleeping pacer's shortest time between two wake-ups (see
    /// [`crate::pacer::QUANTUM`], its default).
    pub quantum: Duration,
    /// Tokio worker threads (when the caller builds the runtime from it).
    pub threads: usize,
    pub faults: SenderFaults,
    /// Produce to Kafka instead of POSTing to `target` (source-kafka).
    pub kafka: Option<KafkaTarget>,
    /// Estimate this host's clock against the aggregator's when the run
    /// starts (and adopt it) and when it reports: a sender on its own host.
    pub sync_clock: bool,
    /// How often the clock is estimated again during the run.
    pub clock_every: Duration,
    /// The node it runs on, for the summary (a pod's `spec.nodeName`).
    pub node: Option<String>,
    /// Extra headers on every request (e.g. `Authorization` for an
    /// OIDC-protected ingress).
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// TLS settings of an `https://` target.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// Where its live figures go for `/metrics` (`--metrics-listen`).
    pub metrics: Option<std::sync::Arc<brokerbench_core::metrics::Latest>>,
    /// Where to keep its report when the aggregator does not take it (a
    /// sender on its own: `--report-file`).
    pub keep_report: Option<std::path::PathBuf>,
}

impl SenderConfig {
    /// Defaults for a target URL.
    pub fn new(target: Target) -> Self {
        SenderConfig {
            index: 0,
            target,
            connections: 64,
            max_connections: 1024,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_inflight: 20_000,
            mode: Mode::Binary,
            pacer: PacerMode::Spin,
            pacer_note: None,
            quantum: crate::pacer::QUANTUM,
            threads: 1,
            faults: SenderFaults::default(),
            kafka: None,
            sync_clock: false,
            clock_every: brokerbench_core::session::CLOCK_EVERY,
            node: None,
            headers: Vec::new(),
            tls: None,
            metrics: None,
            keep_report: None,
        }
    }

    /// How long after the schedule's end the sender reports at the latest:
    /// queued events get a request timeout to leave (then fail as
    /// `cancelled`), the last to leave a request timeout to be answered,
    /// and its connection a connect timeout to open, plus a margin.
    pub fn report_within(&self) -> Duration {
        2 * self.request_timeout + self.connect_timeout + Duration::from_secs(5)
    }
}

/// Whether `pacer` keeps time inside a CPU quota of `quota` cores beside
/// the sender's `threads`: the spinning pacer keeps a core busy, and under
/// a smaller quota the kernel stops the whole sender for the rest of each
/// period once it is used (pauses of up to 100 ms, seen as the SUT's
/// latency). Without `explicit` choice the sleeping pacer is taken there;
/// a spinning one asked for is kept, with a warning. The line says which.
pub fn pacer_for_quota(
    pacer: PacerMode,
    explicit: bool,
    threads: usize,
    quota: Option<f64>,
) -> (PacerMode, Option<String>) {
    let needed = threads as f64 + 1.0;
    let Some(quota) = quota.filter(|&q| pacer == PacerMode::Spin && q < needed) else {
        return (pacer, None);
    };
    let why = format!(
        "the sender's CPU quota is {quota} cores, less than its {threads} runtime thread(s) plus the spinning pacer's core ({needed})"
    );
    match explicit {
        true => (PacerMode::Spin, Some(format!(
            "warning: {why}: the kernel will throttle the spinning pacer and its pauses will show as latency (--pacer sleep keeps time inside the quota)"
        ))),
        false => (PacerMode::Sleep, Some(format!(
            "pacer: sleep, as {why}: a spinning pacer would be throttled and its pauses shown as latency (give it {needed} cores, or --pacer spin, to spin)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_urls() {
        let t = Target::parse("http://127.0.0.1:8080/broker/default?x=1").unwrap();
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.path, "/broker/default?x=1");
        let t = Target::parse("http://broker-ingress.knative-eventing.svc.cluster.local").unwrap();
        assert_eq!(
            t.authority,
            "broker-ingress.knative-eventing.svc.cluster.local:80"
        );
        assert_eq!(t.path, "/");
        let t = Target::parse("https://broker.example.com/ns/default").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.host(), t.secure),
            ("broker.example.com:443", "broker.example.com", true)
        );
        assert!(Target::parse("ftp://x").is_err());
        assert!(Target::parse("not a url").is_err());
    }

    #[test]
    fn kafka_target_urls() {
        let k = KafkaTarget::from_url("kafka://a:9092,b:9093/runs")
            .unwrap()
            .unwrap();
        assert_eq!(
            (k.bootstrap.as_str(), k.topic.as_str()),
            ("a:9092,b:9093", "runs")
        );
        assert!(KafkaTarget::from_url("http://a/").is_none());
        for bad in [
            "kafka://a/runs",
            "kafka://a:9092/",
            "kafka://:1/t",
            "kafka://a:1/t/u",
        ] {
            let e = KafkaTarget::from_url(bad).unwrap().unwrap_err().to_string();
            assert!(e.contains("expected kafka://host:port"), "{bad}: {e}");
        }
    }

    /// The spinning pacer needs a core beside the sender's threads: under
    /// a smaller quota the default becomes the sleeping pacer, and a
    /// spinning one asked for is kept with a warning.
    #[test]
    fn a_pacer_that_cannot_keep_time_inside_the_quota_is_not_the_default() {
        use super::PacerMode::{Sleep, Spin};
        let table = [
            // (wanted, explicit, threads, quota) -> (pacer, says)
            ((Spin, false, 1, None), (Spin, None)),
            ((Spin, false, 1, Some(2.0)), (Spin, None)),
            ((Spin, false, 1, Some(1.0)), (Sleep, Some("pacer: sleep"))),
            ((Spin, false, 1, Some(1.5)), (Sleep, Some("pacer: sleep"))),
            ((Spin, false, 2, Some(2.0)), (Sleep, Some("pacer: sleep"))),
            ((Spin, false, 2, Some(3.0)), (Spin, None)),
            ((Spin, true, 1, Some(1.0)), (Spin, Some("warning: "))),
            ((Sleep, true, 1, Some(0.5)), (Sleep, None)),
            ((Sleep, false, 1, Some(0.5)), (Sleep, None)),
        ];
        for ((wanted, explicit, threads, quota), (pacer, says)) in table {
            let (got, note) = pacer_for_quota(wanted, explicit, threads, quota);
            assert_eq!(got, pacer, "{wanted:?} {explicit} {threads} {quota:?}");
            match says {
                None => assert_eq!(note, None),
                Some(start) => {
                    let note = note.unwrap();
                    assert!(note.starts_with(start), "{note}");
                    assert!(
                        note.contains(&format!("{} cores", quota.unwrap())),
                        "{note}"
                    );
                }
            }
        }
    }
}

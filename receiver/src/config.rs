//! Receiver settings.

use std::time::Duration;

/// Errors that stop the receiver.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// Its message carries the client error's, so it names no source (an
    /// error chain would print it twice).
    #[error("aggregator: {0}")]
    Aggregator(brokerbench_core::client::ClientError),
    #[error("Kafka: {0}")]
    Kafka(String),
    #[error("listener: {0}")]
    Listen(std::io::Error),
    #[error("the aggregator took no report ({reason}): {kept}")]
    ReportNotTaken { reason: String, kept: String },
}

impl From<brokerbench_core::client::ClientError> for ReceiverError {
    fn from(e: brokerbench_core::client::ClientError) -> Self {
        ReceiverError::Aggregator(e)
    }
}

/// Where the receiver reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSource {
    pub bootstrap: String,
    pub topic: String,
    /// Consumer group; empty for one of the run's own
    /// (`brokerbench-receiver-<run id>`), which reads from the start.
    pub group: String,
    /// `fetch.wait.max.ms`.
    pub fetch_wait: Duration,
    /// The user's librdkafka settings (SASL, TLS ...), over the suite's.
    pub settings: Vec<(String, String)>,
}

/// Test-only faults, for checking the suite's own accounting (the plan's
/// `receiver-drop` and `receiver-stall` are the faults a user sets).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReceiverFaults {
    /// Take this much longer to read each event's identity (a slow
    /// decoder, which no latency may include).
    pub decode: Option<Duration>,
}

/// Everything the receiver needs besides the run plan.
#[derive(Debug, Clone, Default)]
pub struct ReceiverConfig {
    pub index: u32,
    /// Worker threads of the runtime the receiver runs on (for its CPU share).
    pub threads: u32,
    /// URL the SUT delivers to, announced to the aggregator; defaults to
    /// `http://<listen address>/`.
    pub advertise_url: Option<String>,
    pub faults: ReceiverFaults,
    /// Read events from a Kafka topic as well (a Kafka sink's output).
    pub kafka: Option<KafkaSource>,
    /// Estimate this host's clock against the aggregator's when the run
    /// starts (and adopt it) and when it reports: a receiver on its own host.
    pub sync_clock: bool,
    /// How often the clock is estimated again during the run.
    pub clock_every: Duration,
    /// The node it runs on, for the summary (a pod's `spec.nodeName`).
    pub node: Option<String>,
    /// Where to keep its report when the aggregator does not take it (a
    /// receiver on its own: `--report-file`).
    pub keep_report: Option<std::path::PathBuf>,
}

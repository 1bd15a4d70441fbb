//! The validated settings each command runs with (a local run's are
//! `brokerbench_local::config`'s, a render's `brokerbench_k8s::config`'s).

use brokerbench_aggregator::plot::PlotOptions;
use brokerbench_aggregator::slo::Slo;
use brokerbench_aggregator::AggregatorConfig;
use brokerbench_local::config::LocalConfig;
use brokerbench_receiver::ReceiverConfig;
use brokerbench_sender::SenderConfig;
use brokerbench_sut::config::ImcConfig;
use brokerbench_sut::kafka::topic::KafkaSettings;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Validated `plot` settings.
#[derive(Debug, Clone)]
pub struct PlotConfig {
    pub dir: PathBuf,
    pub options: PlotOptions,
}

/// Validated `sender` settings.
#[derive(Debug, Clone)]
pub struct SenderRoleConfig {
    pub aggregator: String,
    pub sender: SenderConfig,
    pub clock_faults: ClockFault,
    /// Where `/metrics` is served, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// Validated `receiver` settings.
#[derive(Debug, Clone)]
pub struct ReceiverRoleConfig {
    pub aggregator: String,
    pub listen: SocketAddr,
    pub threads: usize,
    pub receiver: ReceiverConfig,
    pub clock_faults: ClockFault,
}

/// Validated `aggregator` settings.
#[derive(Debug, Clone)]
pub struct AggregatorRoleConfig {
    pub listen: SocketAddr,
    pub aggregator: AggregatorConfig,
    pub plot: Option<PlotOptions>,
    pub slo: Option<Slo>,
    /// How long the results are served for collection after the run.
    pub keep_results: std::time::Duration,
}

/// Validated `sut` settings.
#[derive(Debug, Clone)]
pub struct SutRoleConfig {
    pub listen: SocketAddr,
    pub threads: usize,
    /// The SUT, its routes and bounds (for a Kafka SUT too).
    pub imc: ImcConfig,
    /// A Kafka SUT: its settings and its topic's name.
    pub kafka: Option<(KafkaSettings, String)>,
}

/// Validated `search` settings.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// Everything but the pace, as for `run`.
    pub run: LocalConfig,
    pub slo: Slo,
    /// Rates to search between, events/s.
    pub low: u32,
    pub high: u32,
    /// Seconds of each bisection trial.
    pub seconds: u32,
    /// Seconds of the confirming run.
    pub confirm_seconds: u32,
    /// Stop when the bracket is narrower than this fraction of its low end.
    pub precision: f64,
}

/// A role's clock made to read off by a known amount (a test fault).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClockFault {
    pub shift_ms: Option<f64>,
    pub drift_ppm: Option<f64>,
}

impl ClockFault {
    /// Skews this process's clock, if asked.
    pub fn apply(&self) {
        if self.shift_ms.is_some() || self.drift_ppm.is_some() {
            brokerbench_core::clock::skew_for_tests(
                (self.shift_ms.unwrap_or(0.0) * 1e6) as i64,
                self.drift_ppm.unwrap_or(0.0),
            );
        }
    }
}

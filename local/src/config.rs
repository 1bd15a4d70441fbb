//! The validated settings of a local run (`brokerbench run`): built once
//! from the options, read by every stage.

use brokerbench_aggregator::plot::PlotOptions;
use brokerbench_aggregator::slo::Slo;
use brokerbench_core::plan::RunPlan;
use brokerbench_receiver::ReceiverConfig;
use brokerbench_sender::config::Target;
use brokerbench_sender::SenderConfig;
use brokerbench_sut::fan_out::FanOut;
use brokerbench_sut::Sut;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Validated `run` settings.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub plan: RunPlan,
    pub sut: Sut,
    /// External SUT ingress; `None` to publish to the local SUT's.
    pub external: Option<Target>,
    /// Sender settings; its target is replaced by the SUT's ingress at run time.
    pub sender: SenderConfig,
    pub receiver: ReceiverConfig,
    pub receiver_listen: SocketAddr,
    pub receiver_threads: usize,
    pub out: PathBuf,
    pub progress: bool,
    /// Graphs to draw at the end, if any.
    pub plot: Option<PlotOptions>,
    pub slo: Option<Slo>,
    pub profile: Option<ProfilePlan>,
    /// The local in-memory SUT: its data plane (routes are made at run
    /// time, once the receiver's address is known), fan-out and threads.
    pub imc: Option<LocalImc>,
    /// An external SUT's base URL for readiness and counters.
    pub sut_url: Option<String>,
    /// Kafka settings of a Kafka SUT.
    pub kafka: brokerbench_sut::kafka::topic::KafkaSettings,
}

/// A local in-memory SUT.
#[derive(Debug, Clone)]
pub struct LocalImc {
    pub config: brokerbench_sut::config::ImcConfig,
    pub fan_out: FanOut,
    pub delivery: brokerbench_sut::config::DeliverySpec,
}

impl LocalImc {
    /// The same SUT, taking faults from whoever holds `token`.
    pub fn with_fault_token(&self, token: &str) -> LocalImc {
        let mut imc = self.clone();
        imc.config.fault_token = Some(token.to_string());
        imc
    }
}

/// What `run --profile` captures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfilePlan {
    /// Roles to draw flamegraphs of (`receiver`, `sender`).
    pub roles: Vec<String>,
    /// 1-based step; `None` for every step, keeping the last that held.
    pub step: Option<usize>,
    /// CPU samples per second.
    pub hz: u32,
}

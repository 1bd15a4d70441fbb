//! Command-line options, one struct per subcommand, and their validation
//! into the roles' configs. Cross-flag checks happen here, once.

use anyhow::{bail, Context};
use brokerbench_aggregator::plot::PlotOptions;
use brokerbench_aggregator::slo::Slo;
use brokerbench_core::pace::Schedule;
use brokerbench_core::plan::{RunPlan, Warmup};
use brokerbench_receiver::{ReceiverConfig, ReceiverFaults};
use brokerbench_sender::config::{Mode, PacerMode, SenderFaults, Target};
use brokerbench_sender::SenderConfig;
use brokerbench_sut::Sut;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::role_opts::{
    AggregatorOpts, AggregatorRoleConfig, ReceiverOpts, ReceiverRoleConfig, SenderOpts,
    SenderRoleConfig,
};

/// Throughput and latency test suite for event brokers.
///
/// A sender publishes CloudEvents at a paced, open-loop rate through a system
/// under test to a receiver; the aggregator joins their ledgers and writes
/// results/<timestamp>-<scenario>/ (summary.json, series.tsv, steps.tsv, lost.tsv).
#[derive(Debug, Parser)]
#[command(name = "brokerbench", version, propagate_version = true)]
pub struct Opts {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a whole scenario on this machine: receiver, SUT, sender and
    /// aggregator on loopback; prints progress and a summary, writes results.
    Run(RunOpts),
    /// The sender role alone: publish paced CloudEvents to --target, on the
    /// plan of the aggregator at --aggregator.
    Sender(SenderOpts),
    /// The receiver role alone: accept CloudEvents on --listen and report to
    /// the aggregator at --aggregator.
    Receiver(ReceiverOpts),
    /// The aggregator role alone: hand out the plan, start the run when every
    /// role is ready, join the ledgers, write results.
    Aggregator(AggregatorOpts),
    /// Capture a CPU or heap profile from any pprof HTTP endpoint: writes the
    /// .pb.gz and a flamegraph .svg.
    Profile(CaptureOpts),
    /// Draw the graphs of a results folder with gnuplot (six-metric.png,
    /// points.png, generator.png; trimmed, zoom and SVG on request).
    Plot(PlotOpts),
    /// Compare runs: per-step deltas of throughput and latency against the
    /// first, the spread of three or more runs of one pace, and one graph.
    Compare(CompareOpts),
    /// Serve a SUT on its own: the in-memory or Kafka-backed channel or
    /// broker, or the Kafka source, with subscribers or triggers from flags
    /// or a config file. Runs until Ctrl-C, then drains and prints its
    /// counters.
    Sut(crate::sut_opts::SutOpts),
    /// Find the highest rate that meets --slo: bisection over short runs,
    /// then a longer confirming run; prints and saves the trail (search.tsv).
    Search(SearchOpts),
}

/// `brokerbench compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareOpts {
    /// Results folders; the first is the baseline.
    #[arg(value_name = "RESULTS_DIR", num_args = 2.., required = true)]
    pub dirs: Vec<PathBuf>,
    /// Graph of all runs (.png or .svg).
    #[arg(long, default_value = "compare.png", value_name = "FILE")]
    pub graph: PathBuf,
    /// No graph.
    #[arg(long)]
    pub no_plot: bool,
}

/// `brokerbench search`.
#[derive(Debug, Clone, Args)]
pub struct SearchOpts {
    /// Lowest rate to try, events/s (must meet the SLO).
    #[arg(long, default_value_t = 1000, value_name = "RPS")]
    pub low: u32,
    /// Highest rate to try, events/s.
    #[arg(long, default_value_t = 40_000, value_name = "RPS")]
    pub high: u32,
    /// Seconds of each bisection trial.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub trial_seconds: u32,
    /// Seconds of the confirming run at the rate found.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub confirm_seconds: u32,
    /// Stop bisecting when the bracket is narrower than this share of its
    /// low end (0.05 = 5%).
    #[arg(long, default_value_t = 0.05, value_name = "FRACTION")]
    pub precision: f64,
    /// Every `run` flag applies to each trial (--pace is set by the search).
    #[command(flatten)]
    pub run: RunOpts,
}

impl SearchOpts {
    pub fn into_config(self) -> anyhow::Result<crate::search::SearchConfig> {
        if self.run.output.slo.is_none() {
            bail!("search needs --slo, e.g. --slo \"e2e.p99.99<50ms,lost=0\"");
        }
        if self.low == 0 || self.low >= self.high {
            bail!("--low must be at least 1 and below --high");
        }
        if self.trial_seconds == 0 || self.confirm_seconds == 0 {
            bail!("--trial-seconds and --confirm-seconds must be at least 1");
        }
        if !(self.precision > 0.0 && self.precision < 1.0) {
            bail!("--precision must be between 0 and 1");
        }
        let mut run = self.run.into_config()?;
        let slo = run.slo.take().expect("checked above");
        run.plot = None;
        Ok(crate::search::SearchConfig {
            run,
            slo,
            low: self.low,
            high: self.high,
            seconds: self.trial_seconds,
            confirm_seconds: self.confirm_seconds,
            precision: self.precision,
        })
    }
}

/// Which graphs to draw.
#[derive(Debug, Clone, Args)]
pub struct GraphOpts {
    /// Also write SVG copies of the graphs.
    #[arg(long)]
    pub svg: bool,
    /// Also draw trimmed.png: the six-metric graph without the first N
    /// seconds (the warmup-trimmed, "sanitized" graph).
    #[arg(long, value_name = "N")]
    pub trim_seconds: Option<u64>,
    /// Also draw zoom.png: the six-metric graph from second FROM to TO.
    #[arg(long, value_name = "FROM:TO")]
    pub zoom: Option<String>,
}

impl GraphOpts {
    fn options(&self) -> anyhow::Result<PlotOptions> {
        let zoom = match &self.zoom {
            None => None,
            Some(z) => {
                let parsed = z
                    .split_once(':')
                    .and_then(|(a, b)| Some((a.parse::<f64>().ok()?, b.parse::<f64>().ok()?)))
                    .filter(|(a, b)| a < b);
                Some(parsed.with_context(|| {
                    format!("--zoom {z:?}: expected FROM:TO seconds, FROM < TO")
                })?)
            }
        };
        Ok(PlotOptions {
            svg: self.svg,
            trim_seconds: self.trim_seconds,
            zoom,
        })
    }
}

/// Where results go and what is shown while they are made.
#[derive(Debug, Clone, Args)]
pub struct OutputOpts {
    /// Parent folder of the results folder.
    #[arg(long, default_value = "results", value_name = "DIR")]
    pub out: PathBuf,
    /// No live progress lines.
    #[arg(long)]
    pub quiet: bool,
    /// Do not draw graphs at the end.
    #[arg(long)]
    pub no_plot: bool,
    #[command(flatten)]
    pub graphs: GraphOpts,
    /// Objectives the run must meet, e.g. "e2e.p99.99<50ms,lost=0"; the exit
    /// code is 3 when one is missed. Latencies: publish, publish_raw, e2e,
    /// e2e_raw, lag with .p50 .p90 .p99 .p99.9 .p99.99 .max (us, ms, s);
    /// counts: lost, failed, duplicates, unexpected, rejected.
    #[arg(long, value_name = "SPEC")]
    pub slo: Option<String>,
}

impl OutputOpts {
    pub(crate) fn slo(&self) -> anyhow::Result<Option<Slo>> {
        Ok(self.slo.as_deref().map(Slo::parse).transpose()?)
    }

    /// The graphs to draw at the end, if any.
    pub(crate) fn plot(&self) -> anyhow::Result<Option<PlotOptions>> {
        if self.no_plot {
            return Ok(None);
        }
        self.graphs.options().map(Some)
    }
}

/// `brokerbench plot`.
#[derive(Debug, Clone, Args)]
pub struct PlotOpts {
    /// A results folder (results/<timestamp>-<scenario>).
    #[arg(value_name = "RESULTS_DIR")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub graphs: GraphOpts,
}

/// Validated `plot` settings.
#[derive(Debug, Clone)]
pub struct PlotConfig {
    pub dir: PathBuf,
    pub options: PlotOptions,
}

impl PlotOpts {
    pub fn into_config(self) -> anyhow::Result<PlotConfig> {
        Ok(PlotConfig {
            options: self.graphs.options()?,
            dir: self.dir,
        })
    }
}

/// What every role agrees on: the run plan.
#[derive(Debug, Clone, Args)]
pub struct PlanOpts {
    /// Pace: inline steps `rps:seconds[,rps:seconds...]` (seconds default to
    /// 10), a pace file, or the name of a file in paces/ (e.g. `1k-2k`).
    #[arg(
        long,
        default_value = "1000:10",
        value_name = "PACE",
        allow_hyphen_values = true
    )]
    pub pace: String,
    /// Bytes of data in each event.
    #[arg(long, default_value_t = 8192, value_name = "BYTES")]
    pub payload_size: usize,
    /// Events per second during warmup (same connections, excluded from every figure).
    #[arg(long, default_value_t = 500, value_name = "RPS")]
    pub warmup_rate: u32,
    /// Seconds of warmup before the measured schedule; 0 for none.
    #[arg(long, default_value_t = 3, value_name = "SECONDS")]
    pub warmup_seconds: u32,
    /// Seconds the receiver keeps listening after the last send before
    /// undelivered events count as lost.
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    pub drain_seconds: u32,
    /// Deliveries owed per event when an external SUT fans out (N
    /// subscriptions or matching triggers delivering to the receiver's
    /// /c/0 ... /c/N-1). A local SUT sets it from --subscribers/--matching.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub copies: u32,
    /// Values of the `partitionkey` extension the events are spread over
    /// (event seq has key seq % N; on Kafka, the record key): order is
    /// checked within each key. 0: no `partitionkey`, so Kafka producers
    /// batch records freely; order is then checked across each sender
    /// [default: 100; 0 for a Kafka SUT on the local broker `run` starts,
    /// whose fetches grow with the number of record batches: docs/suts.md]
    #[arg(long, value_name = "N")]
    pub partition_keys: Option<u32>,
}

impl PlanOpts {
    /// The plan (without `t0`) for `scenario`; `keys` is the number of
    /// partition keys unless `--partition-keys` says otherwise.
    pub fn plan(
        &self,
        scenario: &str,
        senders: u32,
        receivers: u32,
        keys: u32,
    ) -> anyhow::Result<RunPlan> {
        let schedule = Schedule::from_arg(&self.pace, Path::new("paces"))?;
        if self.payload_size == 0 {
            bail!("--payload-size must be at least 1 byte");
        }
        let warmup = match (self.warmup_seconds, self.warmup_rate) {
            (0, _) => None,
            (_, 0) => bail!("--warmup-rate must be at least 1 when --warmup-seconds is set"),
            (seconds, rate) => Some(Warmup { rate, seconds }),
        };
        if self.copies == 0 {
            bail!("--copies must be at least 1");
        }
        Ok(RunPlan {
            copies: self.copies,
            partition_keys: self.partition_keys.unwrap_or(keys),
            run_id: run_id(),
            scenario: scenario.to_string(),
            schedule,
            payload_size: self.payload_size,
            warmup,
            drain_seconds: self.drain_seconds,
            senders,
            receivers,
            t0_unix_ns: None,
        })
    }
}

/// A run id unique enough to tell runs apart: time plus random bits.
fn run_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    let rand = RandomState::new().hash_one(std::process::id()) & 0xffff_ffff;
    format!("{}-{rand:08x}", chrono::Utc::now().format("%Y%m%dT%H%M%S"))
}

/// The sender's connections unless `--connections` says otherwise.
pub const DEFAULT_CONNECTIONS: usize = 64;

/// The sender's connections before the start, unless `--connections`
/// says: what the SUT's spec asks for, the default for an external one.
pub fn default_connections(sut: Sut, external: bool) -> usize {
    match external {
        true => DEFAULT_CONNECTIONS,
        false => sut.spec().connections,
    }
}

/// The pacer of `run --sut`, unless `--pacer` says: what the SUT's spec asks for.
pub fn default_pacer(sut: Sut) -> PacerMode {
    match sut.spec().sleeping_pacer {
        true => PacerMode::Sleep,
        false => PacerMode::Spin,
    }
}

/// Most connections a sender opens unless `--max-connections` says.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// How the sender publishes.
#[derive(Debug, Clone, Args)]
pub struct PublishOpts {
    /// Keep-alive connections opened to the target before the start, one
    /// request in flight on each [default: 64; 256 for `run --sut
    /// channel-kafka|broker-kafka`, whose ingress answers only once Kafka
    /// acknowledged the write].
    #[arg(long, value_name = "N")]
    pub connections: Option<usize>,
    /// Most connections open at once. When events queue for a connection
    /// because the SUT is slow to answer (none for 20 ms, or 20 ms or more
    /// on average), the sender opens what the offered rate needs, up to
    /// this many, so the SUT keeps seeing the planned load; past it, events
    /// wait for a connection (connection wait) [default: 1024, or
    /// --connections if more].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Seconds to open a connection; every initial connection must open
    /// within it, or the run stops before it starts, naming the target.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    pub connect_timeout: f64,
    /// Seconds before a request counts as a timeout failure. After the
    /// schedule, queued events get this long to leave before they fail as
    /// `cancelled`.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub request_timeout: f64,
    /// Most events in flight (queued for a connection or awaiting an answer);
    /// events due beyond it are counted as failures, never delayed.
    #[arg(long, default_value_t = 20_000, value_name = "N")]
    pub max_inflight: u64,
    /// Send structured-mode CloudEvents (JSON) instead of binary mode.
    #[arg(long)]
    pub structured: bool,
    /// How the pacer waits: `spin` keeps the sender's thread busy so no event
    /// waits for a wake-up (schedule lag in microseconds, one busy core);
    /// `sleep` sleeps between releases (little CPU, lag up to the machine's
    /// wake-up latency, milliseconds on many VMs) [default: spin; sleep for
    /// `run --sut channel-kafka|broker-kafka|source-kafka`, whose e2e floor
    /// is the broker's fetch wait, milliseconds: there a spinning core only
    /// takes CPU from the SUT and the local broker]
    #[arg(long, value_name = "MODE", value_parser = ["spin", "sleep"])]
    pub pacer: Option<String>,
    /// Worker threads of the sender's runtime.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub sender_threads: usize,
    /// Test fault: send every Nth accepted event twice.
    #[arg(long, hide = true, value_name = "N")]
    pub fault_duplicate_every: Option<u64>,
}

impl PublishOpts {
    /// The sender's configuration; `connections` unless `--connections`,
    /// `pacer` unless `--pacer`.
    pub(crate) fn config(
        &self,
        target: Target,
        index: u32,
        connections: usize,
        pacer: PacerMode,
    ) -> anyhow::Result<SenderConfig> {
        let connections = self.connections.unwrap_or(connections);
        if connections == 0 {
            bail!("--connections must be at least 1");
        }
        let max_connections = match self.max_connections {
            Some(m) if m < connections => bail!(
                "--max-connections {m} is below the {connections} connections opened before the start"
            ),
            Some(m) => m,
            None => DEFAULT_MAX_CONNECTIONS.max(connections),
        };
        for (flag, seconds) in [
            ("--request-timeout", self.request_timeout),
            ("--connect-timeout", self.connect_timeout),
        ] {
            if !(seconds > 0.0 && seconds.is_finite() && seconds < 1e9) {
                bail!("{flag} must be a positive number of seconds, not {seconds}");
            }
        }
        if self.max_inflight == 0 {
            bail!("--max-inflight must be at least 1");
        }
        Ok(SenderConfig {
            index,
            connections,
            max_connections,
            connect_timeout: Duration::from_secs_f64(self.connect_timeout),
            request_timeout: Duration::from_secs_f64(self.request_timeout),
            max_inflight: self.max_inflight,
            mode: if self.structured {
                Mode::Structured
            } else {
                Mode::Binary
            },
            pacer: match self.pacer.as_deref() {
                Some("sleep") => PacerMode::Sleep,
                Some(_) => PacerMode::Spin,
                None => pacer,
            },
            threads: self.sender_threads.max(1),
            faults: SenderFaults {
                duplicate_every: self.fault_duplicate_every.filter(|n| *n > 0),
            },
            ..SenderConfig::new(target)
        })
    }
}

/// Test-only receiver faults (hidden from --help).
#[derive(Debug, Clone, Args)]
pub struct FaultOpts {
    /// Test fault: answer 202 to every Nth event but never record it.
    #[arg(long, hide = true, value_name = "N")]
    pub fault_drop_every: Option<u64>,
    /// Test fault: stall the receiver this many seconds after t0 ...
    #[arg(long, hide = true, value_name = "SECONDS")]
    pub fault_stall_at: Option<f64>,
    /// ... for this many seconds.
    #[arg(long, hide = true, value_name = "SECONDS", default_value_t = 1.0)]
    pub fault_stall_seconds: f64,
}

impl FaultOpts {
    pub(crate) fn faults(&self) -> ReceiverFaults {
        ReceiverFaults {
            drop_every: self.fault_drop_every.filter(|n| *n > 0),
            stall: self.fault_stall_at.map(|at| {
                (
                    Duration::from_secs_f64(at.max(0.0)),
                    Duration::from_secs_f64(self.fault_stall_seconds.max(0.0)),
                )
            }),
        }
    }
}

/// Test-only clock faults of a role on its own (hidden from --help).
#[derive(Debug, Clone, Args)]
pub struct ClockFaultOpts {
    /// Test fault: this role's clock reads this many ms off ...
    #[arg(long, hide = true, value_name = "MS", allow_hyphen_values = true)]
    pub fault_clock_shift_ms: Option<f64>,
    /// ... and drifts this many millionths of a second per second further.
    #[arg(long, hide = true, value_name = "PPM", allow_hyphen_values = true)]
    pub fault_clock_drift_ppm: Option<f64>,
}

impl ClockFaultOpts {
    /// Skews this process's clock, if asked.
    pub(crate) fn apply(&self) {
        if self.fault_clock_shift_ms.is_some() || self.fault_clock_drift_ppm.is_some() {
            brokerbench_core::clock::skew_for_tests(
                (self.fault_clock_shift_ms.unwrap_or(0.0) * 1e6) as i64,
                self.fault_clock_drift_ppm.unwrap_or(0.0),
            );
        }
    }
}

/// The profiling port of a role.
#[derive(Debug, Clone, Args)]
pub struct ProfileOpts {
    /// Serve pprof profiles of this process on ADDR: /debug/pprof/profile?seconds=N
    /// (CPU) and /debug/pprof/heap; off unless given.
    #[arg(long, value_name = "ADDR")]
    pub profile_listen: Option<SocketAddr>,
}

/// `brokerbench profile`.
#[derive(Debug, Clone, Args)]
pub struct CaptureOpts {
    /// A pprof endpoint: http://host:port (ours, or a Go service such as a
    /// Knative dispatcher on :8008), or a full /debug/pprof/... URL.
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// Seconds of CPU profile.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub seconds: u64,
    /// Take the heap profile instead of a CPU profile.
    #[arg(long)]
    pub heap: bool,
    /// Folder for the .pb.gz and the flamegraph .svg.
    #[arg(long, default_value = "profiles", value_name = "DIR")]
    pub out: PathBuf,
    /// File name (without extension); default cpu-<host>-<port> or heap-<host>-<port>.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// `brokerbench run`.
#[derive(Debug, Clone, Args)]
pub struct RunOpts {
    #[command(flatten)]
    pub profiling: ProfileOpts,
    /// System under test the suite starts itself: `direct` (sender ->
    /// receiver), `channel-imc` (in-memory channel), `broker-imc` (in-memory
    /// broker with triggers), `channel-kafka`, `broker-kafka` (the same,
    /// backed by a Kafka topic) or `source-kafka` (the sender produces to a
    /// topic, a source adapter POSTs each record to the receiver).
    #[arg(long, default_value = "direct", value_name = "SUT")]
    pub sut: String,
    #[command(flatten)]
    pub fan_out: crate::sut_opts::FanOutOpts,
    #[command(flatten)]
    pub imc: crate::sut_opts::ImcOpts,
    /// With --target: the external SUT's base URL serving /readyz (the
    /// start waits for it) and /v1/counters (reported), e.g. a
    /// `brokerbench sut`.
    #[arg(long, value_name = "URL", requires = "target")]
    pub sut_url: Option<String>,
    #[command(flatten)]
    pub kafka: crate::sut_opts::KafkaOpts,
    /// With --target: the receiver also reads this Kafka topic (on
    /// --kafka-bootstrap), to measure a SUT that writes to Kafka (a sink).
    #[arg(long, value_name = "TOPIC", requires_all = ["target", "kafka_bootstrap"])]
    pub from_kafka: Option<String>,
    /// Measure an external SUT instead: publish to this URL (a broker
    /// ingress, a channel, any CloudEvents sink) whose subscriber is this
    /// run's receiver (see --receiver-listen).
    #[arg(long, value_name = "URL", conflicts_with = "sut")]
    pub target: Option<String>,
    #[command(flatten)]
    pub plan: PlanOpts,
    #[command(flatten)]
    pub publish: PublishOpts,
    /// Address the receiver listens on.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub receiver_listen: SocketAddr,
    /// Worker threads of the receiver's runtime.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub receiver_threads: usize,
    #[command(flatten)]
    pub output: OutputOpts,
    /// Capture CPU and heap profiles of these roles (comma-separated:
    /// receiver, sender, sut) during the steady middle third of a step, into the
    /// results folder's profiles/ with flamegraphs.
    #[arg(long, value_name = "ROLES")]
    pub profile: Option<String>,
    /// The step to profile; default: every step, keeping the last that held.
    #[arg(long, value_name = "N", requires = "profile")]
    pub profile_step: Option<usize>,
    #[command(flatten)]
    pub faults: FaultOpts,
}

/// What `run --profile` captures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfilePlan {
    /// Roles to draw flamegraphs of (`receiver`, `sender`).
    pub roles: Vec<String>,
    /// 1-based step; `None` for every step, keeping the last that held.
    pub step: Option<usize>,
}

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
    pub fan_out: crate::sut_opts::FanOutOpts,
    pub delivery: brokerbench_sut::config::DeliverySpec,
}

impl RunOpts {
    pub fn into_config(self) -> anyhow::Result<LocalConfig> {
        let sut: Sut = self.sut.parse()?;
        let external = self.target.as_deref().map(Target::parse).transpose()?;
        if external.is_some() && self.receiver_listen.port() == 0 {
            bail!("--target needs --receiver-listen with a fixed port, so the SUT's subscriber can point at the receiver");
        }
        let scenario = if external.is_some() {
            "target".to_string()
        } else {
            sut.to_string()
        };
        let routing = sut.spec().routing.filter(|_| external.is_none());
        self.fan_out.check(routing, &sut.to_string())?;
        if !sut.spec().ingress && self.fan_out.subscribers != 1 {
            bail!("{sut} delivers to one sink: --subscribers is for channel-imc and channel-kafka");
        }
        if routing.is_some() && self.plan.copies != 1 {
            bail!("--copies is for an external SUT (--target); a local SUT's fan-out sets it");
        }
        // The local broker (tansu) cannot carry keyed records for long: see
        // --partition-keys.
        let on_local_broker =
            sut.on_kafka() && external.is_none() && self.kafka.kafka_bootstrap.is_none();
        let keys = if on_local_broker {
            0
        } else {
            brokerbench_core::identity::PARTITION_KEYS
        };
        let mut plan = self.plan.plan(&scenario, 1, 1, keys)?;
        let imc = match routing {
            Some(routing) => {
                plan.copies = self.fan_out.copies(Some(routing));
                let delivery = self.imc.delivery()?;
                let routes = self
                    .fan_out
                    .routes(routing, "http://127.0.0.1:1/", &delivery);
                Some(LocalImc {
                    config: self.imc.config(sut, routes)?,
                    fan_out: self.fan_out.clone(),
                    delivery,
                })
            }
            None => None,
        };
        let sut_url = self
            .sut_url
            .as_deref()
            .map(|u| check_url(u, "--sut-url"))
            .transpose()?;
        let profile = profile_plan(
            self.profile.as_deref(),
            self.profile_step,
            sut,
            plan.schedule.steps().len(),
        )?;
        let connections = default_connections(sut, external.is_some());
        if let Some(topic) = &self.from_kafka {
            brokerbench_sut::kafka::admin::check_topic_name(topic)
                .map_err(|e| anyhow::anyhow!("--from-kafka: {e}"))?;
        }
        let placeholder = external
            .clone()
            .unwrap_or(Target::parse("http://127.0.0.1:80/")?);
        Ok(LocalConfig {
            plan,
            sut,
            external,
            sender: self
                .publish
                .config(placeholder, 0, connections, default_pacer(sut))?,
            receiver: ReceiverConfig {
                index: 0,
                sync_clock: false,
                threads: self.receiver_threads.max(1) as u32,
                advertise_url: None,
                faults: self.faults.faults(),
                kafka: self.from_kafka.as_ref().map(|topic| {
                    brokerbench_receiver::config::KafkaSource {
                        bootstrap: self.kafka.kafka_bootstrap.clone().unwrap_or_default(),
                        topic: topic.clone(),
                        group: String::new(),
                        fetch_wait: Duration::from_millis(5),
                    }
                }),
            },
            receiver_listen: self.receiver_listen,
            receiver_threads: self.receiver_threads.max(1),
            profile,
            imc,
            sut_url,
            kafka: self.kafka.settings()?,
            plot: self.output.plot()?,
            slo: self.output.slo()?,
            out: self.output.out,
            progress: !self.output.quiet,
        })
    }
}

fn profile_plan(
    roles: Option<&str>,
    step: Option<usize>,
    sut: Sut,
    steps: usize,
) -> anyhow::Result<Option<ProfilePlan>> {
    let Some(roles) = roles else { return Ok(None) };
    let roles: Vec<String> = roles
        .split(',')
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect();
    for r in &roles {
        match r.as_str() {
            "receiver" | "sender" => {}
            "sut" if sut.spec().routing.is_some() => {}
            "sut" => bail!("--profile sut: the {sut} scenario runs no SUT of its own; profile receiver or sender, or the external SUT's pprof endpoint with brokerbench profile"),
            other => bail!("--profile {other:?}: expected receiver, sender, sut"),
        }
    }
    if roles.is_empty() {
        bail!("--profile needs at least one role: receiver, sender");
    }
    if let Some(n) = step {
        if n == 0 || n > steps {
            bail!("--profile-step {n}: the pace has steps 1 to {steps}");
        }
    }
    Ok(Some(ProfilePlan { roles, step }))
}

pub(crate) fn check_url(url: &str, flag: &str) -> anyhow::Result<String> {
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("{flag} {url:?} is not a URL"))?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        bail!("{flag} {url:?}: expected http://host:port");
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration of `brokerbench run ARGS`.
    fn run_config(args: &[&str]) -> LocalConfig {
        let opts = Opts::try_parse_from([&["brokerbench", "run"], args].concat()).unwrap();
        match opts.command {
            Command::Run(run) => run.into_config().unwrap(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn kafka_ingresses_get_more_connections_unless_told() {
        assert_eq!(default_connections(Sut::ChannelKafka, false), 256);
        assert_eq!(default_connections(Sut::BrokerKafka, false), 256);
        assert_eq!(default_connections(Sut::ChannelKafka, true), 64, "--target");
        for sut in [Sut::Direct, Sut::ChannelImc, Sut::SourceKafka] {
            assert_eq!(default_connections(sut, false), 64, "{sut}");
        }
        let parse = |args: &[&str]| run_config(args).sender.connections;
        assert_eq!(parse(&["--sut", "channel-kafka"]), 256);
        assert_eq!(parse(&["--sut", "channel-kafka", "--connections", "8"]), 8);
        assert_eq!(parse(&[]), 64);
    }

    #[test]
    fn kafka_suts_pace_with_the_sleeping_pacer_unless_told() {
        let pacer = |args: &[&str]| run_config(args).sender.pacer;
        for sut in ["channel-kafka", "broker-kafka", "source-kafka"] {
            assert_eq!(pacer(&["--sut", sut]), PacerMode::Sleep, "{sut}");
            assert_eq!(pacer(&["--sut", sut, "--pacer", "spin"]), PacerMode::Spin);
        }
        for sut in ["direct", "channel-imc", "broker-imc"] {
            assert_eq!(pacer(&["--sut", sut]), PacerMode::Spin, "{sut}");
            assert_eq!(pacer(&["--sut", sut, "--pacer", "sleep"]), PacerMode::Sleep);
        }
    }

    #[test]
    fn kafka_suts_on_the_local_broker_send_no_partition_keys_unless_told() {
        let keys = |args: &[&str]| run_config(args).plan.partition_keys;
        for sut in ["channel-kafka", "broker-kafka", "source-kafka"] {
            assert_eq!(keys(&["--sut", sut]), 0, "{sut}");
            assert_eq!(keys(&["--sut", sut, "--partition-keys", "7"]), 7, "{sut}");
            let real = ["--sut", sut, "--kafka-bootstrap", "kafka:9092"];
            assert_eq!(keys(&real), 100, "{sut} on a real cluster");
        }
        for sut in ["direct", "channel-imc", "broker-imc"] {
            assert_eq!(keys(&["--sut", sut]), 100, "{sut}");
        }
        let external = [
            "--target",
            "http://127.0.0.1:1/",
            "--receiver-listen",
            "127.0.0.1:9",
        ];
        assert_eq!(keys(&external), 100, "an external SUT");
    }
}

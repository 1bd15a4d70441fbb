//! The options several commands share: the plan, how the sender
//! publishes, where results go, graphs, faults, the profiling port.

use crate::config::ClockFault;
use anyhow::{bail, Context};
use brokerbench_aggregator::plot::PlotOptions;
use brokerbench_aggregator::slo::Slo;
use brokerbench_core::fault::Fault;
use brokerbench_core::pace::Schedule;
use brokerbench_core::plan::{RunPlan, Warmup};
use brokerbench_receiver::ReceiverFaults;
use brokerbench_sender::config::{Mode, PacerMode, SenderFaults, Target};
use brokerbench_sender::SenderConfig;
use brokerbench_sut::Sut;
use clap::Args;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    pub(crate) fn options(&self) -> anyhow::Result<PlotOptions> {
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
    /// code is 3 when one is missed (the metrics it takes follow).
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

/// What every role agrees on: the run plan.
#[derive(Debug, Clone, Args)]
pub struct PlanOpts {
    /// Pace: inline steps `rps:seconds[,rps:seconds...]` (seconds default to
    /// 10), a pace file, or a named pace: built in are smoke, 1k-2k (the
    /// reference runs' 1000 to 2000/s) and 1k-long (1000/s for 6 minutes);
    /// a file NAME.pace in paces/ of the working folder overrides them. At
    /// most 100000 steps, 10000000 events/s a step and 1000000000 events
    /// (the ledgers keep a bit per event).
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
    /// With several senders, each runs the whole pace (a step then offers
    /// senders times its rate). Default: the pace is the senders' total,
    /// sender i taking every N-th event from i, so their merged stream is
    /// as evenly spaced as one sender's.
    #[arg(long)]
    pub pace_per_sender: bool,
    /// A fault on the run's timeline, AT seconds after the measured start,
    /// lasting FOR seconds (repeatable): sut-kill@AT+FOR, sut-pause@AT+FOR,
    /// sut-cut@AT+FOR (off the network; needs root),
    /// sut-latency@AT+FOR:50ms, sut-5xx@AT+FOR[:STATUS],
    /// kafka-kill@AT+FOR (the local Kafka-protocol broker),
    /// receiver-stall@AT+FOR, receiver-drop@AT+FOR:N, receiver-5xx@AT+FOR,
    /// command@AT[+FOR]:CMD. Each fault's effect (lost, duplicated, failed,
    /// recovery time) is in the report; see docs/faults.md
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<String>,
}

/// The first two faults `of` picks whose windows overlap, if any.
fn first_overlap(faults: &[Fault], of: impl Fn(&Fault) -> bool) -> Option<(&Fault, &Fault)> {
    let picked: Vec<&Fault> = faults.iter().filter(|f| of(f)).collect();
    picked.iter().enumerate().find_map(|(i, a)| {
        picked[i + 1..]
            .iter()
            .find(|b| a.at_s < b.end_s() && b.at_s < a.end_s())
            .map(|b| (*a, *b))
    })
}

/// The largest event data the suite sends.
pub const MAX_PAYLOAD: usize = 16 << 20;

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
        if self.payload_size > MAX_PAYLOAD {
            bail!(
                "--payload-size {}: at most {MAX_PAYLOAD} bytes (16 MiB) an event",
                self.payload_size
            );
        }
        let warmup = match (self.warmup_seconds, self.warmup_rate) {
            (0, _) => None,
            (_, 0) => bail!("--warmup-rate must be at least 1 when --warmup-seconds is set"),
            (seconds, rate) => Some(Warmup { rate, seconds }),
        };
        if self.copies == 0 {
            bail!("--copies must be at least 1");
        }
        let faults = self
            .faults
            .iter()
            .map(|f| Fault::parse(f))
            .collect::<Result<Vec<_>, _>>()?;
        // Two kills, pauses or cuts at once would undo each other.
        if let Some((a, b)) = first_overlap(&faults, |f| f.kind.on_sut_process()) {
            bail!(
                "--fault {:?} and {:?}: the SUT's process faults (kill, pause, cut) may not overlap",
                a.spec,
                b.spec
            );
        }
        let broker_kill = |f: &Fault| f.kind == brokerbench_core::fault::FaultKind::KafkaKill;
        if let Some((a, b)) = first_overlap(&faults, broker_kill) {
            bail!(
                "--fault {:?} and {:?}: two kills of the broker may not overlap",
                a.spec,
                b.spec
            );
        }
        let length = schedule.total_seconds();
        if let Some(f) = faults.iter().find(|f| f.at_s >= length as f64) {
            bail!(
                "--fault {:?}: starts at {} s, after the measured run ({length} s)",
                f.spec,
                f.at_s
            );
        }
        Ok(RunPlan {
            faults,
            split: !self.pace_per_sender,
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
    /// request in flight on each [default: 64; with `run --sut`, what the
    /// SUT asks for: more for a Kafka SUT's ingress, which answers only once
    /// Kafka acknowledged the write].
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
    /// `cancelled`; after Ctrl-C or SIGTERM, queued events are cancelled at
    /// once and events on the wire get this long to be answered.
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
    /// wake-up latency, milliseconds on many VMs) [default: spin; with `run
    /// --sut`, what the SUT asks for: sleep for a Kafka SUT, whose e2e floor
    /// is the broker's fetch wait, milliseconds: there a spinning core only
    /// takes CPU from the SUT and the local broker]
    #[arg(long, value_name = "MODE", value_parser = ["spin", "sleep"])]
    pub pacer: Option<String>,
    /// With `--pacer sleep`: the shortest time between two of its
    /// wake-ups, each releasing every event due by then. Events leave up to
    /// this late (pacer lag), and the sender's CPU per event falls as it
    /// grows (each wake-up also wakes the sender's runtime; oha's is 1ms,
    /// its runtime's timer) [default: 200us]
    #[arg(long, value_name = "DURATION")]
    pub pacer_quantum: Option<String>,
    /// Worker threads of the sender's runtime.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub sender_threads: usize,
    /// An extra request header, `Name: value`, or `Name: @FILE` to read the
    /// value from a file (a token: `Authorization: @/var/run/secrets/token`
    /// sends `Authorization: <the file's text>`; write `Bearer ` into the
    /// file or the value); repeat for several. `ce-*` and Content-Type are
    /// the event's own.
    #[arg(long, value_name = "HEADER")]
    pub header: Vec<String>,
    /// An https:// target's CA: PEM certificates trusted besides the
    /// Mozilla roots (a cluster's own CA).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// An https:// target's certificate is not verified (a self-signed
    /// test cluster): the traffic is encrypted, the peer unproven.
    #[arg(long, conflicts_with = "ca_file")]
    pub insecure: bool,
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
        let threads = self.sender_threads.max(1);
        let (pacer, pacer_note) = brokerbench_sender::config::pacer_for_quota(
            match self.pacer.as_deref() {
                Some("sleep") => PacerMode::Sleep,
                Some(_) => PacerMode::Spin,
                None => pacer,
            },
            self.pacer.is_some(),
            threads,
            brokerbench_core::cgroup::own_quota_cores(),
        );
        let quantum = match &self.pacer_quantum {
            None => brokerbench_sender::pacer::QUANTUM,
            Some(_) if pacer != PacerMode::Sleep => {
                bail!("--pacer-quantum is for the sleeping pacer: add --pacer sleep")
            }
            Some(q) => match brokerbench_core::duration::parse(q) {
                Ok(d) if d >= Duration::from_micros(1) && d <= Duration::from_millis(20) => d,
                Ok(_) => bail!("--pacer-quantum {q:?}: between 1us and 20ms"),
                Err(e) => bail!("--pacer-quantum: {e}"),
            },
        };
        if (self.ca_file.is_some() || self.insecure) && !target.secure {
            bail!("--ca-file and --insecure are for an https:// --target");
        }
        let tls = match target.secure {
            true => Some(brokerbench_sender::tls::client_config(
                self.ca_file.as_deref(),
                self.insecure,
            )?),
            false => None,
        };
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
            pacer,
            pacer_note,
            quantum,
            threads,
            tls,
            headers: self
                .header
                .iter()
                .map(|h| extra_header(h))
                .collect::<anyhow::Result<_>>()?,
            faults: SenderFaults {
                duplicate_every: self.fault_duplicate_every.filter(|n| *n > 0),
            },
            ..SenderConfig::new(target)
        })
    }
}

/// librdkafka settings for a secured Kafka cluster (SASL, TLS).
#[derive(Debug, Clone, Default, Args)]
pub struct KafkaClientOpts {
    /// A librdkafka setting for every Kafka client, `key=value` (e.g.
    /// security.protocol=SASL_SSL, sasl.mechanism=SCRAM-SHA-512,
    /// sasl.username=..., ssl.ca.location=/etc/kafka/ca.crt); repeat for
    /// several. librdkafka checks them before anything starts.
    #[arg(long, value_name = "KEY=VALUE")]
    pub kafka_config: Vec<String>,
    /// A properties file of librdkafka settings (`key=value` lines, `#`
    /// comments; a Kafka client.properties); --kafka-config wins over it.
    #[arg(long, value_name = "FILE")]
    pub kafka_config_file: Option<PathBuf>,
}

impl KafkaClientOpts {
    /// The settings, checked by librdkafka.
    pub fn settings(&self) -> anyhow::Result<Vec<(String, String)>> {
        brokerbench_sut::kafka::settings(&self.kafka_config, self.kafka_config_file.as_deref())
            .map_err(|e| anyhow::anyhow!(e))
    }

    /// Whether any setting was given.
    pub fn given(&self) -> bool {
        !self.kafka_config.is_empty() || self.kafka_config_file.is_some()
    }
}

/// An extra header of `--header`: `Name: value` or `Name: @FILE`.
fn extra_header(spec: &str) -> anyhow::Result<(http::HeaderName, http::HeaderValue)> {
    let Some((name, value)) = spec.split_once(':') else {
        bail!("--header {spec:?}: expected `Name: value` or `Name: @FILE`");
    };
    let name: http::HeaderName = name
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("--header {spec:?}: {:?} is no header name", name.trim()))?;
    if name.as_str().starts_with("ce-") || name == http::header::CONTENT_TYPE {
        bail!("--header {spec:?}: {name} is the event's own (the CloudEvents binding sets it)");
    }
    let value = value.trim();
    let (value, from_file) = match value.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("--header {name}: cannot read {path}"))?
                .trim()
                .to_string(),
            true,
        ),
        None => (value.to_string(), false),
    };
    let mut value = http::HeaderValue::from_str(&value).map_err(|_| {
        anyhow::anyhow!(
            "--header {name}: its value{} has characters a header cannot carry",
            if from_file { " (from the file)" } else { "" }
        )
    })?;
    // Kept out of debug output and HPACK tables.
    value.set_sensitive(from_file || name == http::header::AUTHORIZATION);
    Ok((name, value))
}

/// Test-only receiver faults (hidden from --help).
#[derive(Debug, Clone, Args)]
pub struct FaultOpts {
    /// Test fault: take this many ms more to read each event's identity.
    #[arg(long, hide = true, value_name = "MS")]
    pub fault_decode_ms: Option<u64>,
}

impl FaultOpts {
    pub(crate) fn faults(&self) -> ReceiverFaults {
        ReceiverFaults {
            decode: self.fault_decode_ms.map(Duration::from_millis),
        }
    }
}

/// How a role on its own follows its clock (and hidden test faults of it).
#[derive(Debug, Clone, Args)]
pub struct ClockOpts {
    /// Test fault: this role's clock reads this many ms off ...
    #[arg(long, hide = true, value_name = "MS", allow_hyphen_values = true)]
    pub fault_clock_shift_ms: Option<f64>,
    /// ... and drifts this many millionths of a second per second further.
    #[arg(long, hide = true, value_name = "PPM", allow_hyphen_values = true)]
    pub fault_clock_drift_ppm: Option<f64>,
    /// Seconds between the estimates of this role's clock during the run.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub clock_every: f64,
}

impl ClockOpts {
    /// How often the clock is estimated again during the run.
    pub(crate) fn every(&self) -> anyhow::Result<std::time::Duration> {
        if !(self.clock_every >= 0.1 && self.clock_every < 1e6) {
            bail!(
                "--clock-every must be at least 0.1 seconds, not {}",
                self.clock_every
            );
        }
        Ok(std::time::Duration::from_secs_f64(self.clock_every))
    }

    pub(crate) fn fault(&self) -> ClockFault {
        ClockFault {
            shift_ms: self.fault_clock_shift_ms,
            drift_ppm: self.fault_clock_drift_ppm,
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

pub(crate) fn check_url(url: &str, flag: &str) -> anyhow::Result<String> {
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("{flag} {url:?} is not a URL"))?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        bail!("{flag} {url:?}: expected http://host:port");
    }
    Ok(url.to_string())
}

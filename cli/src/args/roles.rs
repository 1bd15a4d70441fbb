//! Options of the standalone roles (`sender`, `receiver`, `aggregator`),
//! for separate hosts or pods, and their validation into the roles' configs.

use super::common::{
    check_url, ClockOpts, FaultOpts, KafkaClientOpts, OutputOpts, PlanOpts, ProfileOpts,
    PublishOpts, DEFAULT_CONNECTIONS,
};
use crate::config::{AggregatorRoleConfig, ReceiverRoleConfig, SenderRoleConfig};
use anyhow::bail;
use brokerbench_aggregator::AggregatorConfig;
use brokerbench_receiver::ReceiverConfig;
use brokerbench_sender::config::{KafkaTarget, PacerMode, Target};
use brokerbench_sender::SenderConfig;
use clap::Args;
use std::net::SocketAddr;
use std::time::Duration;

/// How a sender or a receiver on its own host takes part in a run.
#[derive(Debug, Clone, Args)]
pub struct RunLink {
    /// Aggregator URL, e.g. http://aggregator:7000.
    #[arg(long, value_name = "URL")]
    pub aggregator: String,
    /// The run's token, when the aggregator has one (its --token; on
    /// Kubernetes, from the run's Secret). Also `?token=` on --aggregator.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// The node (host) this role runs on, shown in the summary; a pod
    /// sets it from the Downward API (spec.nodeName).
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// Where to keep this role's report (with the run's plan) when the
    /// aggregator does not take it (gone: killed, its pod deleted, the
    /// network cut); `brokerbench aggregate FILE...` joins kept reports
    /// [default: brokerbench-<role>-<index>-report.json in the working folder].
    #[arg(long, value_name = "FILE")]
    pub report_file: Option<std::path::PathBuf>,
}

impl RunLink {
    /// Where `role` `index` keeps a report its aggregator did not take.
    fn report_file(&self, role: &str, index: u32) -> std::path::PathBuf {
        self.report_file
            .clone()
            .unwrap_or_else(|| format!("brokerbench-{role}-{index}-report.json").into())
    }

    /// The aggregator's URL, with the run's token if one was given.
    fn aggregator(&self) -> anyhow::Result<String> {
        let url = check_url(&self.aggregator, "--aggregator")?;
        Ok(match self.token.as_deref().filter(|t| !t.is_empty()) {
            Some(t) if url.contains('?') => format!("{url}&token={t}"),
            Some(t) => format!("{}/?token={t}", url.trim_end_matches('/')),
            None => url,
        })
    }
}

/// `brokerbench sender`.
#[derive(Debug, Clone, Args)]
pub struct SenderOpts {
    #[command(flatten)]
    pub profiling: ProfileOpts,
    #[command(flatten)]
    pub run: RunLink,
    /// Where to publish: any CloudEvents HTTP endpoint (a Knative broker, a
    /// channel, a sink), or a Kafka topic as kafka://host:port[,...]/topic
    /// (a KafkaSource's, with the CloudEvents Kafka binding).
    #[arg(long, value_name = "URL")]
    pub target: String,
    /// This sender's index when several share a run (each has its own
    /// sequence space; it sends every N-th event of the pace from its
    /// index, or the whole pace with the aggregator's --pace-per-sender).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub index: u32,
    #[command(flatten)]
    pub publish: PublishOpts,
    /// With a kafka:// --target.
    #[command(flatten)]
    pub kafka: KafkaClientOpts,
    /// Serve Prometheus `/metrics` (sent, accepted, failed by reason, in
    /// flight, publish latency, clock offset) on this address.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub clock_faults: ClockOpts,
}

impl SenderOpts {
    pub fn into_config(self) -> anyhow::Result<SenderRoleConfig> {
        let (target, kafka) = match KafkaTarget::from_url(&self.target) {
            Some(k) => {
                let k = KafkaTarget {
                    settings: self.kafka.settings()?,
                    ..k?
                };
                let at = Target {
                    url: self.target.clone(),
                    authority: k.bootstrap.clone(),
                    path: "/".into(),
                    secure: false,
                };
                (at, Some(k))
            }
            None if self.kafka.given() => {
                bail!(
                    "--kafka-config is for a kafka:// --target, not {}",
                    self.target
                )
            }
            None => (Target::parse(&self.target)?, None),
        };
        let mut sender =
            self.publish
                .config(target, self.index, DEFAULT_CONNECTIONS, PacerMode::Spin)?;
        sender.kafka = kafka;
        if self.metrics_listen.is_some() {
            sender.metrics = Some(Default::default());
        }
        Ok(SenderRoleConfig {
            metrics_listen: self.metrics_listen,
            aggregator: self.run.aggregator()?,
            // On its own host: its clock is estimated against the aggregator's.
            sender: SenderConfig {
                sync_clock: true,
                clock_every: self.clock_faults.every()?,
                keep_report: Some(self.run.report_file("sender", self.index)),
                node: self.run.node_name,
                ..sender
            },
            clock_faults: self.clock_faults.fault(),
        })
    }
}

/// `brokerbench receiver`.
#[derive(Debug, Clone, Args)]
pub struct ReceiverOpts {
    #[command(flatten)]
    pub profiling: ProfileOpts,
    #[command(flatten)]
    pub run: RunLink,
    /// Address to accept CloudEvents on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// URL the SUT delivers to, as announced to the aggregator (default http://<listen>/).
    #[arg(long, value_name = "URL")]
    pub advertise_url: Option<String>,
    /// This receiver's index.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub index: u32,
    /// Also read events from this Kafka topic (a Kafka sink's output).
    #[arg(long, value_name = "TOPIC", requires = "kafka_bootstrap")]
    pub from_kafka: Option<String>,
    /// Kafka cluster of --from-kafka (`host:port[,host:port...]`).
    #[arg(long, value_name = "HOSTS")]
    pub kafka_bootstrap: Option<String>,
    #[command(flatten)]
    pub kafka: KafkaClientOpts,
    /// Worker threads of the receiver's runtime.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub threads: usize,
    #[command(flatten)]
    pub faults: FaultOpts,
    #[command(flatten)]
    pub clock_faults: ClockOpts,
}

impl ReceiverOpts {
    pub fn into_config(self) -> anyhow::Result<ReceiverRoleConfig> {
        if self.kafka.given() && self.from_kafka.is_none() {
            bail!("--kafka-config is for --from-kafka");
        }
        Ok(ReceiverRoleConfig {
            aggregator: self.run.aggregator()?,
            listen: self.listen,
            threads: self.threads.max(1),
            clock_faults: self.clock_faults.fault(),
            receiver: ReceiverConfig {
                // On its own host: its clock is estimated against the aggregator's.
                sync_clock: true,
                clock_every: self.clock_faults.every()?,
                keep_report: Some(self.run.report_file("receiver", self.index)),
                node: self.run.node_name,
                index: self.index,
                threads: self.threads.max(1) as u32,
                advertise_url: self.advertise_url,
                faults: self.faults.faults(),
                kafka: match (&self.from_kafka, &self.kafka_bootstrap) {
                    (Some(topic), Some(bootstrap)) => {
                        brokerbench_sut::kafka::admin::check_topic_name(topic)
                            .map_err(|e| anyhow::anyhow!("--from-kafka: {e}"))?;
                        Some(brokerbench_receiver::config::KafkaSource {
                            bootstrap: bootstrap.clone(),
                            topic: topic.clone(),
                            group: String::new(),
                            fetch_wait: Duration::from_millis(5),
                            settings: self.kafka.settings()?,
                        })
                    }
                    (Some(_), None) => bail!("--from-kafka needs --kafka-bootstrap"),
                    _ => None,
                },
            },
        })
    }
}

/// How long an aggregator waits for its roles to be ready, by default.
pub const DEFAULT_START_TIMEOUT: &str = "5m";

/// `--start-timeout`: None for 0 (no limit).
pub fn start_timeout(text: &str) -> anyhow::Result<Option<std::time::Duration>> {
    let d = brokerbench_core::duration::parse(text)
        .map_err(|e| anyhow::anyhow!("--start-timeout: {e}"))?;
    Ok((!d.is_zero()).then_some(d))
}

/// `brokerbench aggregator`.
#[derive(Debug, Clone, Args)]
pub struct AggregatorOpts {
    #[command(flatten)]
    pub profiling: ProfileOpts,
    /// Address to serve the protocol on.
    #[arg(long, default_value = "127.0.0.1:7000", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// The run's token: roles' requests without it (Authorization: Bearer
    /// TOKEN, their --token) get a 401, counted and logged once. Without
    /// one, any client may take part.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Scenario name, for the results folder.
    #[arg(long, default_value = "target", value_name = "NAME")]
    pub scenario: String,
    /// Senders to wait for (0 to N-1). The pace is their total, each
    /// taking every N-th event (unless --pace-per-sender).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub senders: u32,
    /// Receivers to wait for.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub receivers: u32,
    /// The SUT's base URL, if it serves /readyz (the start waits for it)
    /// and /v1/counters (reported), e.g. a `brokerbench sut`.
    #[arg(long, value_name = "URL")]
    pub sut_url: Option<String>,
    /// After the run, serve the results folder (`GET /v1/results`, a tar)
    /// and the run's end (`GET /v1/status`) this long, or until someone
    /// collects them (`DELETE /v1/results`, as `k8s collect` does); the
    /// exit code stays the run's. 0: exit at once.
    #[arg(long, default_value = "0s", value_name = "DURATION")]
    pub keep_results: String,
    /// How long every sender and receiver has to say it is ready (a pod
    /// that gets no node stays Pending); then the run fails, naming the
    /// roles that never came. 0: wait for ever.
    #[arg(long, default_value = DEFAULT_START_TIMEOUT, value_name = "DURATION")]
    pub start_timeout: String,
    #[command(flatten)]
    pub plan: PlanOpts,
    #[command(flatten)]
    pub output: OutputOpts,
}

impl AggregatorOpts {
    pub fn into_config(self) -> anyhow::Result<AggregatorRoleConfig> {
        if self.senders == 0 || self.receivers == 0 {
            bail!("--senders and --receivers must be at least 1");
        }
        let plan = self.plan.plan(
            &self.scenario,
            self.senders,
            self.receivers,
            brokerbench_core::identity::PARTITION_KEYS,
        )?;
        // Commands are run by whoever watches the run (`k8s wait`); the
        // aggregator measures their effect.
        if let Some(f) = plan.faults.iter().find(|f| !f.kind.for_separate_roles()) {
            bail!(
                "--fault {:?}: the aggregator hands the receivers their faults (receiver-stall, receiver-drop, receiver-5xx) and `k8s wait` runs commands; {} needs brokerbench run",
                f.spec,
                f.kind
            );
        }
        Ok(AggregatorRoleConfig {
            listen: self.listen,
            plot: self.output.plot()?,
            slo: self.output.slo()?,
            keep_results: brokerbench_core::duration::parse(&self.keep_results)
                .map_err(|e| anyhow::anyhow!("--keep-results: {e}"))?,
            aggregator: AggregatorConfig {
                plan,
                out: self.output.out,
                progress: !self.output.quiet,
                sut: self
                    .sut_url
                    .as_deref()
                    .map(|u| check_url(u, "--sut-url"))
                    .transpose()?,
                token: self.token.filter(|t| !t.is_empty()),
                start_timeout: start_timeout(&self.start_timeout)?,
            },
        })
    }
}

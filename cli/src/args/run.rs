//! Options of `run`: a whole scenario on this machine.

use super::common::{
    check_url, default_connections, default_pacer, FaultOpts, OutputOpts, PlanOpts, ProfileOpts,
    PublishOpts,
};
use super::sut::{FanOutOpts, ImcOpts, KafkaOpts};
use anyhow::bail;
use brokerbench_local::config::{LocalConfig, LocalImc, ProfilePlan};
use brokerbench_receiver::ReceiverConfig;
use brokerbench_sender::config::Target;
use brokerbench_sut::Sut;
use clap::Args;
use std::net::SocketAddr;
use std::time::Duration;

/// `brokerbench run`.
#[derive(Debug, Clone, Args)]
pub struct RunOpts {
    #[command(flatten)]
    pub profiling: ProfileOpts,
    /// System under test the suite starts itself (to measure one of
    /// yours, give --target URL instead).
    #[arg(long, value_enum, default_value_t = Sut::Direct, value_name = "SUT")]
    pub sut: Sut,
    #[command(flatten)]
    pub fan_out: FanOutOpts,
    #[command(flatten)]
    pub imc: ImcOpts,
    /// With --target: the external SUT's base URL serving /readyz (the
    /// start waits for it) and /v1/counters (reported), e.g. a
    /// `brokerbench sut`.
    #[arg(long, value_name = "URL", requires = "target")]
    pub sut_url: Option<String>,
    #[command(flatten)]
    pub kafka: KafkaOpts,
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
    /// CPU samples per second of --profile (1 to 1000; at most the
    /// kernel's tick rate is delivered, 250 on many VMs): more reads a
    /// lightly loaded role in a short step, at more cost to it.
    #[arg(long, default_value_t = brokerbench_profile::endpoint::FREQUENCY as u32, value_name = "HZ", requires = "profile")]
    pub profile_hz: u32,
    #[command(flatten)]
    pub faults: FaultOpts,
}

impl RunOpts {
    pub fn into_config(self) -> anyhow::Result<LocalConfig> {
        let sut = self.sut;
        let external = self.target.as_deref().map(Target::parse).transpose()?;
        if external.is_some() && self.receiver_listen.port() == 0 {
            bail!("--target needs --receiver-listen with a fixed port, so the SUT's subscriber can point at the receiver");
        }
        let scenario = if external.is_some() {
            "target".to_string()
        } else {
            sut.to_string()
        };
        let kafka_settings = self.kafka.client.settings()?;
        let routing = sut.spec().routing.filter(|_| external.is_none());
        let fan_out = self.fan_out.fan_out();
        match external {
            Some(_) => fan_out.check(None, "--target")?,
            None => fan_out.check_sut(sut)?,
        }
        if routing.is_some() && self.plan.copies != 1 {
            bail!("--copies is for an external SUT (--target); a local SUT's fan-out sets it");
        }
        // A Kafka SUT of the suite's with no --kafka-bootstrap: the run
        // starts the local broker.
        let on_local_broker =
            sut.on_kafka() && external.is_none() && self.kafka.kafka_bootstrap.is_none();
        let keys = match external {
            Some(_) => brokerbench_core::identity::PARTITION_KEYS,
            None => sut.partition_keys(on_local_broker),
        };
        let mut plan = self.plan.plan(&scenario, 1, 1, keys)?;
        let ingress = brokerbench_sut::config::ImcConfig::new(sut, Vec::new()).max_event_bytes;
        check_payload(plan.payload_size, sut, external.is_some(), ingress)?;
        let imc = match routing {
            Some(routing) => {
                plan.copies = fan_out.copies(Some(routing));
                let delivery = self.imc.delivery()?;
                let routes = fan_out.routes(routing, "http://127.0.0.1:1/", &delivery);
                Some(LocalImc {
                    config: self.imc.config(sut, routes)?,
                    fan_out,
                    delivery,
                })
            }
            None => None,
        };
        check_faults(
            &plan,
            sut,
            imc.is_some() && external.is_none(),
            on_local_broker,
            self.profile.as_deref(),
        )?;
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
            self.profile_hz,
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
            receiver: self.receiver_config(&kafka_settings),
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

impl RunOpts {
    /// The receiver of a local run: index 0, on loopback, or a Kafka
    /// consumer with --from-kafka.
    fn receiver_config(&self, kafka_settings: &[(String, String)]) -> ReceiverConfig {
        ReceiverConfig {
            index: 0,
            sync_clock: false,
            clock_every: brokerbench_core::session::CLOCK_EVERY,
            node: None,
            keep_report: None,
            threads: self.receiver_threads.max(1) as u32,
            advertise_url: None,
            faults: self.faults.faults(),
            kafka: self.from_kafka.as_ref().map(|topic| {
                brokerbench_receiver::config::KafkaSource {
                    bootstrap: self.kafka.kafka_bootstrap.clone().unwrap_or_default(),
                    topic: topic.clone(),
                    group: String::new(),
                    fetch_wait: Duration::from_millis(5),
                    settings: kafka_settings.to_vec(),
                }
            }),
        }
    }
}

/// Checks the payload fits through the SUT this run starts: its ingress's
/// body limit (with room for the event's attributes), or the Kafka
/// clients' `message.max.bytes`.
fn check_payload(payload: usize, sut: Sut, external: bool, ingress: usize) -> anyhow::Result<()> {
    /// librdkafka's default `message.max.bytes`, less room for headers.
    const KAFKA_RECORD: usize = 1_000_000 - (64 << 10);
    let room = 64 << 10;
    let limit = match (external, sut.on_kafka(), sut.spec().routing) {
        (true, ..) | (false, false, None) => return Ok(()),
        (false, true, _) => KAFKA_RECORD,
        (false, false, Some(_)) => ingress.saturating_sub(room),
    };
    if payload > limit {
        bail!(
            "--payload-size {payload}: over what {sut} takes ({limit} bytes: {})",
            if sut.on_kafka() {
                "a Kafka record, message.max.bytes"
            } else {
                "its ingress's body limit"
            }
        );
    }
    Ok(())
}

/// Checks each fault can act on what this run starts: the SUT's faults
/// need a SUT of its own (and the ingress ones an HTTP ingress), a broker
/// kill the local broker.
fn check_faults(
    plan: &brokerbench_core::plan::RunPlan,
    sut: Sut,
    own_sut: bool,
    local_broker: bool,
    profile: Option<&str>,
) -> anyhow::Result<()> {
    for f in &plan.faults {
        if f.kind == brokerbench_core::fault::FaultKind::KafkaKill && !(own_sut && local_broker) {
            let kafka: Vec<String> = Sut::all()
                .iter()
                .filter(|s| s.on_kafka())
                .map(Sut::to_string)
                .collect();
            bail!(
                "--fault {:?}: kafka-kill kills the local Kafka-protocol broker a run starts for {} without --kafka-bootstrap (for a cluster of yours, use command@AT:CMD)",
                f.spec,
                kafka.join(", ")
            );
        }
        let on_sut = f.kind.on_sut_process() || f.kind.on_sut_ingress();
        if on_sut && !own_sut {
            bail!(
                "--fault {:?}: {} acts on a SUT this run starts, and {sut} is none (for a SUT of yours, use command@AT:CMD)",
                f.spec,
                f.kind
            );
        }
        if f.kind == brokerbench_core::fault::FaultKind::SutCut && sut.on_kafka() && !local_broker {
            bail!(
                "--fault {:?}: a SUT in a network namespace of its own reaches only the local Kafka-protocol broker, not --kafka-bootstrap's",
                f.spec
            );
        }
        if f.kind.on_sut_ingress() && !sut.spec().ingress {
            bail!(
                "--fault {:?}: {sut} takes no events over HTTP (the sender writes to its topic); use sut-kill or sut-pause",
                f.spec
            );
        }
        if f.kind.sut_apart() && profile.is_some_and(|p| p.split(',').any(|r| r.trim() == "sut")) {
            bail!(
                "--fault {:?}: with this fault the SUT runs as a process of its own, which --profile sut does not reach",
                f.spec
            );
        }
    }
    Ok(())
}

/// A profile's samples per second, as the endpoints take it.
pub(crate) fn check_hz(hz: u32, flag: &str) -> anyhow::Result<()> {
    let max = brokerbench_profile::endpoint::MAX_HZ;
    if !(1..=max).contains(&hz) {
        bail!("{flag} {hz}: expected 1 to {max} samples per second");
    }
    Ok(())
}

fn profile_plan(
    roles: Option<&str>,
    step: Option<usize>,
    sut: Sut,
    steps: usize,
    hz: u32,
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
    check_hz(hz, "--profile-hz")?;
    Ok(Some(ProfilePlan { roles, step, hz }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Command, Opts};
    use brokerbench_sender::config::PacerMode;
    use clap::Parser;

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
        let (kafka, memory): (Vec<Sut>, Vec<Sut>) = Sut::all().iter().partition(|s| s.on_kafka());
        assert_eq!((kafka.len(), memory.len()), (3, 3));
        for sut in kafka.iter().map(Sut::to_string) {
            assert_eq!(pacer(&["--sut", &sut]), PacerMode::Sleep, "{sut}");
            assert_eq!(pacer(&["--sut", &sut, "--pacer", "spin"]), PacerMode::Spin);
        }
        for sut in memory.iter().map(Sut::to_string) {
            assert_eq!(pacer(&["--sut", &sut]), PacerMode::Spin, "{sut}");
            assert_eq!(
                pacer(&["--sut", &sut, "--pacer", "sleep"]),
                PacerMode::Sleep
            );
        }
    }

    #[test]
    fn kafka_suts_on_the_local_broker_send_no_partition_keys_unless_told() {
        let keys = |args: &[&str]| run_config(args).plan.partition_keys;
        for sut in Sut::all()
            .iter()
            .filter(|s| s.on_kafka())
            .map(Sut::to_string)
        {
            assert_eq!(keys(&["--sut", &sut]), 0, "{sut}");
            assert_eq!(keys(&["--sut", &sut, "--partition-keys", "7"]), 7, "{sut}");
            let real = ["--sut", &sut, "--kafka-bootstrap", "kafka:9092"];
            assert_eq!(keys(&real), 100, "{sut} on a real cluster");
        }
        for sut in Sut::all()
            .iter()
            .filter(|s| !s.on_kafka())
            .map(Sut::to_string)
        {
            assert_eq!(keys(&["--sut", &sut]), 100, "{sut}");
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

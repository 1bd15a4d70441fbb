//! Options of the SUTs the suite runs itself: the data-plane flags shared by
//! `run --sut channel-imc|broker-imc` and `brokerbench sut`, the fan-out of a
//! local run, and the standalone `sut` command.

use super::common::{KafkaClientOpts, ProfileOpts};
use crate::config::SutRoleConfig;
use anyhow::bail;
use brokerbench_sut::config::{self, DeliveryPatch, DeliverySpec, ImcConfig, Route, Routing};
use brokerbench_sut::fan_out::FanOut;
use brokerbench_sut::kafka::topic::KafkaSettings;
use brokerbench_sut::{PlaneKind, Sut};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

/// How an in-memory data plane holds and delivers events.
#[derive(Debug, Clone, Args)]
pub struct ImcOpts {
    /// Events the SUT holds at once (queued, retrying or in flight); when
    /// full its ingress answers 503. Memory is bounded by this times the
    /// event size.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub queue_capacity: usize,
    /// Keep-alive connections (deliveries in flight) per subscriber.
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub dispatch_connections: usize,
    /// Delivery attempts after the first (default 3).
    #[arg(long, value_name = "N")]
    pub retry: Option<u32>,
    /// How waits between attempts grow: exponential (delay × 2^n) or linear.
    #[arg(long, value_name = "POLICY")]
    pub backoff_policy: Option<String>,
    /// First wait between attempts, e.g. 100ms or PT0.1S (default 100ms).
    #[arg(long, value_name = "DURATION")]
    pub backoff_delay: Option<String>,
    /// Longest wait between attempts (default 5s).
    #[arg(long, value_name = "DURATION")]
    pub backoff_cap: Option<String>,
    /// Time one delivery attempt may take (default 10s).
    #[arg(long, value_name = "DURATION")]
    pub delivery_timeout: Option<String>,
    /// Dead-letter sink: where deliveries that keep failing go; without one
    /// they are dropped and counted.
    #[arg(long, value_name = "URL")]
    pub dead_letter: Option<String>,
}

impl ImcOpts {
    /// The delivery spec the flags say, over the built-in defaults.
    pub fn delivery(&self) -> anyhow::Result<DeliverySpec> {
        Ok(self.patch().apply(&DeliverySpec::default())?)
    }

    fn patch(&self) -> DeliveryPatch {
        DeliveryPatch {
            retry: self.retry,
            backoff_policy: self.backoff_policy.clone(),
            backoff_delay: self.backoff_delay.clone(),
            backoff_cap: self.backoff_cap.clone(),
            timeout: self.delivery_timeout.clone(),
            dead_letter_sink: self.dead_letter.clone(),
        }
    }

    /// The data plane of `sut` with `routes`, checked.
    pub fn config(&self, sut: Sut, routes: Vec<Route>) -> anyhow::Result<ImcConfig> {
        let c = ImcConfig {
            capacity: self.queue_capacity,
            connections: self.dispatch_connections,
            ..ImcConfig::new(sut, routes)
        };
        c.validate()?;
        Ok(c)
    }
}

/// The fan-out of a local run's SUT.
#[derive(Debug, Clone, Args)]
pub struct FanOutOpts {
    /// Channels (channel-imc, channel-kafka): subscriptions, each
    /// delivering every event to the receiver (as copy k at /c/k): N
    /// deliveries per event.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub subscribers: u32,
    /// Brokers (broker-imc, broker-kafka): triggers; --matching of them
    /// match the suite's events and deliver to the receiver, the others
    /// filter them out.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub triggers: u32,
    /// Brokers: how many of --triggers match.
    #[arg(long, default_value_t = 1, value_name = "M")]
    pub matching: u32,
    /// Worker threads of the SUT's runtime (one caps the SUT at one core).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub sut_threads: usize,
}

impl FanOutOpts {
    /// The fan-out the flags say.
    pub fn fan_out(&self) -> FanOut {
        FanOut {
            subscribers: self.subscribers,
            triggers: self.triggers,
            matching: self.matching,
            sut_threads: self.sut_threads,
        }
    }
}

/// `brokerbench sut`.
#[derive(Debug, Clone, Args)]
pub struct SutOpts {
    /// Which SUT to serve: any of `run --sut`'s with a data plane (all but
    /// direct; a source reads a topic and has no ingress).
    #[arg(value_name = "SUT", value_parser = serves)]
    pub name: Sut,
    /// Address of the ingress (and of /healthz, /readyz, /metrics, /v1/counters).
    #[arg(long, default_value = "127.0.0.1:8081", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Channels and the source: a subscriber URL; repeat for several
    /// subscriptions (a source takes one).
    #[arg(long, value_name = "URL")]
    pub subscriber: Vec<String>,
    /// Brokers: a trigger, `URL[,attribute=value...]` (exact matches,
    /// Knative's filter.attributes; an empty value matches any); repeat for
    /// several. The `filters` dialect is for --config.
    #[arg(long, value_name = "SPEC")]
    pub trigger: Vec<String>,
    /// A YAML or JSON file of `subscriptions:` or `triggers:` (with
    /// `filter.attributes` or `filters`, and `delivery` per route) and a
    /// top-level `delivery`; see docs/sut-config.md.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub imc: ImcOpts,
    #[command(flatten)]
    pub kafka: KafkaOpts,
    /// Kafka SUTs: the topic (created when missing, with --partitions and
    /// --replication).
    #[arg(long, default_value = "brokerbench", value_name = "NAME")]
    pub topic: String,
    /// Worker threads of the SUT's runtime.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub threads: usize,
    /// Whoever sends this token (`Authorization: Bearer TOKEN`) may tell
    /// the SUT to inject faults (`PUT /v1/faults?latency_ms=MS|status=5xx`);
    /// without it the SUT takes none (403).
    #[arg(long, value_name = "TOKEN")]
    pub fault_token: Option<String>,
    #[command(flatten)]
    pub profiling: ProfileOpts,
}

/// A SUT `brokerbench sut` can serve: one with a data plane.
fn serves(name: &str) -> Result<Sut, String> {
    match name.parse::<Sut>() {
        Ok(sut) if sut.spec().plane != PlaneKind::Nothing => Ok(sut),
        Ok(sut) => Err(format!(
            "{sut} is no SUT to serve: it is the sender and the receiver alone"
        )),
        Err(e) => Err(e.to_string()),
    }
}

impl SutOpts {
    pub fn into_config(self) -> anyhow::Result<SutRoleConfig> {
        let sut = self.name;
        let spec = sut.spec();
        match spec.routing {
            Some(Routing::Channel) if !self.trigger.is_empty() => {
                bail!("{sut} takes --subscriber; --trigger is for a broker")
            }
            Some(Routing::Broker) if !self.subscriber.is_empty() => {
                bail!("{sut} takes --trigger; --subscriber is for a channel or a source")
            }
            _ => {}
        }
        let delivery = self.imc.delivery()?;
        let mut routes = match &self.config {
            Some(path) => {
                // The file's delivery sits under the flags': read the file
                // over the defaults, then apply the flags to each route.
                let file = config::read_file(path, sut, &DeliverySpec::default())?;
                file.into_iter()
                    .map(|mut r| {
                        r.delivery = self.imc.patch().apply(&r.delivery)?;
                        Ok(r)
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?
            }
            None => Vec::new(),
        };
        let offset = routes.len();
        for (i, s) in self.subscriber.iter().enumerate() {
            routes.push(config::subscriber_flag(offset + i, s, &delivery)?);
        }
        for (i, t) in self.trigger.iter().enumerate() {
            routes.push(config::trigger_flag(offset + i, t, &delivery)?);
        }
        if !spec.ingress && routes.len() != 1 {
            bail!("{sut} delivers to one sink: give exactly one --subscriber");
        }
        let kafka = match sut.on_kafka() {
            true => {
                brokerbench_sut::kafka::admin::check_topic_name(&self.topic)
                    .map_err(|e| anyhow::anyhow!("--topic: {e}"))?;
                Some((self.kafka.settings()?, self.topic.clone()))
            }
            false => None,
        };
        Ok(SutRoleConfig {
            listen: self.listen,
            threads: self.threads.max(1),
            imc: ImcConfig {
                fault_token: self.fault_token,
                ..self.imc.config(sut, routes)?
            },
            kafka,
        })
    }
}

/// Kafka settings of a Kafka SUT (`run --sut`, `brokerbench sut`).
#[derive(Debug, Clone, Args)]
pub struct KafkaOpts {
    /// A Kafka cluster to use (`host:port[,host:port...]`): Apache Kafka,
    /// Strimzi, Redpanda. Without it the run starts a local Kafka-protocol
    /// broker (tansu, in memory) on loopback and stops it afterwards.
    #[arg(long, value_name = "HOSTS")]
    pub kafka_bootstrap: Option<String>,
    /// Partitions of the run's topic (a fresh topic per run).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub partitions: i32,
    /// Replication factor of the run's topic.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub replication: i32,
    /// How long the broker may hold a fetch for data (`fetch.wait.max.ms`);
    /// brokers that always wait this long (tansu does) add it to e2e
    /// latency; shorter costs the SUT more CPU.
    #[arg(long, default_value = "5ms", value_name = "DURATION")]
    pub fetch_wait: String,
    /// How long the SUT's producer waits to fill a batch (`linger.ms`):
    /// fewer, larger batches cost the broker and the SUT less per event,
    /// for more publish latency at low rates (docs/performance.md).
    #[arg(long, default_value = "5ms", value_name = "DURATION")]
    pub linger: String,
    /// Deliver in order: one event in flight per partition per route
    /// (default: ordered for source-kafka, unordered for the others).
    #[arg(long, value_name = "ORDER", value_parser = ["ordered", "unordered"])]
    pub delivery_order: Option<String>,
    #[command(flatten)]
    pub client: KafkaClientOpts,
}

impl KafkaOpts {
    pub fn settings(&self) -> anyhow::Result<KafkaSettings> {
        if self.partitions < 1 || self.replication < 1 {
            bail!("--partitions and --replication must be at least 1");
        }
        Ok(KafkaSettings {
            bootstrap: self.kafka_bootstrap.clone(),
            partitions: self.partitions,
            replication: self.replication,
            fetch_wait: brokerbench_core::duration::parse(&self.fetch_wait)
                .map_err(|e| anyhow::anyhow!("--fetch-wait: {e}"))?,
            linger: brokerbench_core::duration::parse(&self.linger)
                .map_err(|e| anyhow::anyhow!("--linger: {e}"))?,
            ordered: self.delivery_order.as_deref().map(|o| o == "ordered"),
            settings: self.client.settings()?,
        })
    }
}

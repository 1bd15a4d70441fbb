//! Systems under test that `brokerbench run` can wire between the sender and
//! the receiver, each also runnable on its own (`brokerbench sut NAME`).
//!
//! Layout:
//! - [`Sut`]: which SUT a run measures.
//! - [`direct`]: the baseline, no SUT at all: the sender publishes straight to
//!   the receiver, which shows what the generator itself can hold.
//! - [`event`]: a CloudEvent as a data plane holds it (headers and body,
//!   forwarded unchanged; attributes read on demand).
//! - [`filter`]: trigger filters (Knative's `filter.attributes` and the
//!   `filters` dialect).
//! - [`config`]: routes (subscriptions, triggers), delivery specs, the
//!   config file.
//! - [`dispatch`]: delivery to one subscriber: workers, retries, backoff,
//!   dead-letter sink.
//! - [`imc`]: the in-memory channel and broker data planes.
//! - [`ingress`]: what every SUT's HTTP ingress shares (reading an event,
//!   the 503 of a full SUT, waiting to empty).
//! - [`kafka`]: the Kafka SUTs (channel-kafka, broker-kafka, source-kafka),
//!   the local Kafka-protocol broker, topics and offset commits.
//! - [`counters`]: what a data plane did, as JSON and Prometheus text.

pub mod config;
pub mod counters;
pub mod direct;
pub mod dispatch;
pub mod event;
pub mod filter;
pub mod imc;
pub mod ingress;
pub mod kafka;

use std::fmt;
use std::str::FromStr;

/// A running data plane (in-memory or Kafka): its state, and how to wait
/// for its end and its final counters.
pub struct Running<P> {
    pub plane: std::sync::Arc<P>,
    pub done: tokio::task::JoinHandle<brokerbench_core::wire::SutCounters>,
}

/// The SUTs the suite can run locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sut {
    /// Sender -> receiver, nothing between.
    Direct,
    /// Sender -> in-memory channel -> every subscription -> receiver.
    ChannelImc,
    /// Sender -> broker ingress -> in-memory channel -> triggers -> receiver.
    BrokerImc,
    /// Sender -> channel ingress -> Kafka topic -> consumer group -> receiver.
    ChannelKafka,
    /// Sender -> broker ingress -> Kafka topic -> group per trigger -> receiver.
    BrokerKafka,
    /// Sender produces to a Kafka topic -> source adapter -> receiver.
    SourceKafka,
}

/// Every name `--sut` takes.
pub const NAMES: &[&str] = &[
    "direct",
    "channel-imc",
    "broker-imc",
    "channel-kafka",
    "broker-kafka",
    "source-kafka",
];

/// A `--sut` value the suite does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown SUT {0:?}: the suite runs direct, channel-imc, broker-imc, channel-kafka, broker-kafka or source-kafka (or measure any broker with --target URL)")]
pub struct UnknownSut(String);

impl FromStr for Sut {
    type Err = UnknownSut;
    fn from_str(s: &str) -> Result<Self, UnknownSut> {
        match s {
            "direct" => Ok(Sut::Direct),
            "channel-imc" => Ok(Sut::ChannelImc),
            "broker-imc" => Ok(Sut::BrokerImc),
            "channel-kafka" => Ok(Sut::ChannelKafka),
            "broker-kafka" => Ok(Sut::BrokerKafka),
            "source-kafka" => Ok(Sut::SourceKafka),
            other => Err(UnknownSut(other.to_string())),
        }
    }
}

impl fmt::Display for Sut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sut::Direct => "direct",
            Sut::ChannelImc => "channel-imc",
            Sut::BrokerImc => "broker-imc",
            Sut::ChannelKafka => "channel-kafka",
            Sut::BrokerKafka => "broker-kafka",
            Sut::SourceKafka => "source-kafka",
        })
    }
}

impl Sut {
    /// The in-memory data plane behind this SUT, if it is one.
    pub fn imc_kind(&self) -> Option<config::Kind> {
        match self {
            Sut::ChannelImc => Some(config::Kind::Channel),
            Sut::BrokerImc => Some(config::Kind::Broker),
            _ => None,
        }
    }

    /// The Kafka data plane behind this SUT, if it is one.
    pub fn kafka_kind(&self) -> Option<kafka::plane::KafkaKind> {
        use kafka::plane::KafkaKind;
        match self {
            Sut::ChannelKafka => Some(KafkaKind::Channel),
            Sut::BrokerKafka => Some(KafkaKind::Broker),
            Sut::SourceKafka => Some(KafkaKind::Source),
            _ => None,
        }
    }

    /// How the SUT routes: like a channel (every subscription, every event;
    /// a source has one) or like a broker (triggers); `None` for direct.
    pub fn shape(&self) -> Option<config::Kind> {
        match self {
            Sut::Direct => None,
            Sut::BrokerImc | Sut::BrokerKafka => Some(config::Kind::Broker),
            _ => Some(config::Kind::Channel),
        }
    }
}

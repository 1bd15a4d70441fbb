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
pub mod kafka;

use std::fmt;
use std::str::FromStr;

/// The SUTs the suite can run locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sut {
    /// Sender -> receiver, nothing between.
    Direct,
    /// Sender -> in-memory channel -> every subscription -> receiver.
    ChannelImc,
    /// Sender -> broker ingress -> in-memory channel -> triggers -> receiver.
    BrokerImc,
}

/// Every name `--sut` takes.
pub const NAMES: &[&str] = &["direct", "channel-imc", "broker-imc"];

/// A `--sut` value the suite does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown SUT {0:?}: the suite runs direct, channel-imc or broker-imc (or measure any broker with --target URL)")]
pub struct UnknownSut(String);

impl FromStr for Sut {
    type Err = UnknownSut;
    fn from_str(s: &str) -> Result<Self, UnknownSut> {
        match s {
            "direct" => Ok(Sut::Direct),
            "channel-imc" => Ok(Sut::ChannelImc),
            "broker-imc" => Ok(Sut::BrokerImc),
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
        })
    }
}

impl Sut {
    /// The in-memory data plane behind this SUT, if it is one.
    pub fn imc_kind(&self) -> Option<config::Kind> {
        match self {
            Sut::Direct => None,
            Sut::ChannelImc => Some(config::Kind::Channel),
            Sut::BrokerImc => Some(config::Kind::Broker),
        }
    }
}

//! The registry of SUTs: one enum arm and one spec per SUT. `run`, the
//! `sut` command and the conformance suite ask the spec what a SUT is and
//! what it needs, and start it with [`crate::start`].

use std::fmt;
use std::str::FromStr;

/// The SUTs the suite can run itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Sut {
    /// Sender -> receiver, nothing between (the generator's own baseline).
    Direct,
    /// Sender -> in-memory channel -> every subscription -> receiver.
    ChannelImc,
    /// Sender -> broker ingress -> in-memory channel -> trigger filters -> receiver.
    BrokerImc,
    /// Sender -> channel ingress -> Kafka topic -> a consumer group per subscription -> receiver.
    ChannelKafka,
    /// Sender -> broker ingress -> Kafka topic -> a consumer group per trigger, filter -> receiver.
    BrokerKafka,
    /// The sender produces to a Kafka topic -> source adapter -> receiver.
    SourceKafka,
}

/// How a data plane routes an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// A channel: every subscription gets every event.
    Channel,
    /// A broker: triggers filter; subscribers' reply events come back in.
    Broker,
}

/// The data plane behind a SUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaneKind {
    /// None: the direct scenario.
    Nothing,
    /// The in-memory data plane ([`crate::imc`]).
    Memory,
    /// The Kafka data plane ([`crate::kafka::plane`]), on a broker.
    Kafka,
}

/// What a SUT is, and the defaults a run of it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SutSpec {
    /// Its `--sut` name.
    pub name: &'static str,
    /// How it routes events: every subscription (a channel, or a source's
    /// one sink) or matching triggers (a broker); `None` for direct.
    pub routing: Option<Routing>,
    pub plane: PlaneKind,
    /// Whether it takes events over HTTP; a source reads them from its
    /// topic, where the sender produces them.
    pub ingress: bool,
    /// Connections the sender opens before the start unless told: a
    /// Kafka-backed ingress holds each request until the broker
    /// acknowledged the write (milliseconds), so 64 would cap the sender
    /// near 64 divided by that latency.
    pub connections: usize,
    /// Whether the sender's pacer sleeps unless told: a Kafka SUT's e2e
    /// latency starts at the broker's fetch wait, so a spinning pacer buys
    /// nothing and takes a core from the SUT and the local broker.
    pub sleeping_pacer: bool,
    /// Whether it delivers in order (one event in flight per partition)
    /// unless told: a Knative KafkaSource does, the others do not.
    pub ordered: bool,
}

impl Sut {
    /// What this SUT is.
    pub fn spec(self) -> SutSpec {
        let base = SutSpec {
            name: "direct",
            routing: None,
            plane: PlaneKind::Nothing,
            ingress: true,
            connections: 64,
            sleeping_pacer: false,
            ordered: false,
        };
        let kafka = SutSpec {
            plane: PlaneKind::Kafka,
            connections: 256,
            sleeping_pacer: true,
            ..base
        };
        match self {
            Sut::Direct => base,
            Sut::ChannelImc => SutSpec {
                name: "channel-imc",
                routing: Some(Routing::Channel),
                plane: PlaneKind::Memory,
                ..base
            },
            Sut::BrokerImc => SutSpec {
                name: "broker-imc",
                routing: Some(Routing::Broker),
                plane: PlaneKind::Memory,
                ..base
            },
            Sut::ChannelKafka => SutSpec {
                name: "channel-kafka",
                routing: Some(Routing::Channel),
                ..kafka
            },
            Sut::BrokerKafka => SutSpec {
                name: "broker-kafka",
                routing: Some(Routing::Broker),
                ..kafka
            },
            Sut::SourceKafka => SutSpec {
                name: "source-kafka",
                routing: Some(Routing::Channel),
                ingress: false,
                // The sender produces: no HTTP connections to speak of.
                connections: 64,
                ordered: true,
                ..kafka
            },
        }
    }

    /// Every SUT, `direct` first.
    pub fn all() -> &'static [Sut] {
        <Sut as clap::ValueEnum>::value_variants()
    }

    /// Every SUT with a data plane of its own (what `brokerbench sut`
    /// serves and the conformance suite checks).
    pub fn planes() -> impl Iterator<Item = Sut> {
        Sut::all()
            .iter()
            .copied()
            .filter(|s| s.spec().plane != PlaneKind::Nothing)
    }

    /// Partition keys a run of it gives its events (`--partition-keys`
    /// unless told): none for a Kafka SUT on the local Kafka-protocol
    /// broker, whose fetches grow with a topic of keyed records; the
    /// suite's default otherwise.
    pub fn partition_keys(self, on_local_broker: bool) -> u32 {
        match self.on_kafka() && on_local_broker {
            true => 0,
            false => brokerbench_core::identity::PARTITION_KEYS,
        }
    }

    /// Whether it stands on a Kafka broker.
    pub fn on_kafka(self) -> bool {
        self.spec().plane == PlaneKind::Kafka
    }
}

/// A `--sut` value the suite does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown SUT {0:?}: the suite runs {names} (or measure any broker with --target URL)", names = names())]
pub struct UnknownSut(String);

fn names() -> String {
    let names: Vec<&str> = Sut::all().iter().map(|s| s.spec().name).collect();
    names.join(", ")
}

impl FromStr for Sut {
    type Err = UnknownSut;
    fn from_str(s: &str) -> Result<Self, UnknownSut> {
        Sut::all()
            .iter()
            .copied()
            .find(|sut| sut.spec().name == s)
            .ok_or_else(|| UnknownSut(s.to_string()))
    }
}

impl fmt::Display for Sut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spec().name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sut_has_one_name_and_its_defaults() {
        for &sut in Sut::all() {
            assert_eq!(sut.to_string().parse::<Sut>().unwrap(), sut);
            let clap_name = clap::ValueEnum::to_possible_value(&sut).unwrap();
            assert_eq!(clap_name.get_name(), sut.spec().name, "one name for both");
        }
        assert_eq!(Sut::planes().count(), 5);
        // scripts/run installs the local Kafka-protocol broker by this rule.
        for &sut in Sut::all() {
            assert_eq!(sut.on_kafka(), sut.spec().name.ends_with("-kafka"), "{sut}");
        }
        assert_eq!(Sut::ChannelKafka.spec().connections, 256);
        assert!(Sut::SourceKafka.spec().ordered && !Sut::SourceKafka.spec().ingress);
        assert!(Sut::all()
            .iter()
            .filter(|s| s.on_kafka())
            .all(|s| s.spec().sleeping_pacer));
        let e = "kafka".parse::<Sut>().unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown SUT \"kafka\": the suite runs direct, channel-imc, broker-imc, channel-kafka, broker-kafka, source-kafka (or measure any broker with --target URL)"
        );
    }
}

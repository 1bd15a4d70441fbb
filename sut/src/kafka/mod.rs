//! Kafka-backed SUTs and what they stand on: the local Kafka-protocol
//! broker, topics, at-least-once offset commits, and the data plane shared
//! by channel-kafka, broker-kafka and source-kafka.
//!
//! Layout:
//! - [`local`]: the local broker (`tansu`, in-memory) a run starts itself.
//! - [`admin`]: topic creation, reachability.
//! - [`offsets`]: commit points that never skip an undelivered record.
//! - [`plane`]: HTTP ingress -> topic -> one consumer group per route ->
//!   HTTP delivery (retries, dead letter), for the three Kafka SUTs.
//! - [`topic`]: a Kafka SUT's settings, and the run's topic on a broker.

pub mod admin;
pub mod local;
pub mod offsets;
pub mod plane;
pub mod topic;

use rdkafka::ClientConfig;

/// What goes wrong with Kafka before or around a run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KafkaError {
    #[error("no local Kafka-protocol broker: `tansu` is not installed (scripts/setup --kafka installs it, about 13 minutes once), or give --kafka-bootstrap HOST:PORT")]
    NoLocalBroker,
    #[error("local Kafka-protocol broker: {0}")]
    LocalBroker(String),
    #[error("Kafka at {0} is unreachable (no answer to a metadata request)")]
    Unreachable(String),
    #[error("topic {0:?} was not created: {1}")]
    TopicRefused(String, String),
    #[error("Kafka client: {0}")]
    Client(String),
}

/// Settings every Kafka client of the suite starts from.
pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("client.id", "brokerbench")
        .set("log_level", "3");
    c
}

/// A duration as librdkafka's fractional milliseconds (`linger.ms` takes
/// 0.5): whole microseconds kept, not truncated to whole milliseconds.
pub fn fractional_ms(d: std::time::Duration) -> String {
    format!("{}", d.as_micros() as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::producer::FutureProducer;
    use std::time::Duration;

    #[test]
    fn sub_millisecond_linger_is_kept_and_librdkafka_takes_it() {
        assert_eq!(fractional_ms(Duration::from_micros(500)), "0.5");
        assert_eq!(fractional_ms(Duration::from_millis(5)), "5");
        assert_eq!(fractional_ms(Duration::from_nanos(1_234_567)), "1.234");
        assert_eq!(fractional_ms(Duration::ZERO), "0");
        // Creating a producer checks its settings; no broker is needed.
        let producer: Result<FutureProducer, _> = client_config("127.0.0.1:1")
            .set("linger.ms", fractional_ms(Duration::from_micros(500)))
            .create();
        assert!(producer.is_ok(), "{:?}", producer.err());
        let refused: Result<FutureProducer, _> = client_config("127.0.0.1:1")
            .set("linger.ms", "half")
            .create();
        assert!(refused.is_err(), "librdkafka checks linger.ms");
    }
}

//! What a Kafka SUT stands on: its settings, and the run's topic on a
//! broker (a cluster given by `--kafka-bootstrap`, or a local one started
//! for the run and stopped with it).

use super::local::LocalKafka;
use super::plane::KafkaPlaneConfig;
use super::KafkaError;
use crate::config::ImcConfig;
use std::time::Duration;

/// A Kafka SUT's settings, validated.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// A cluster to use; `None` starts a local broker.
    pub bootstrap: Option<String>,
    pub partitions: i32,
    pub replication: i32,
    /// The consumers' `fetch.wait.max.ms`.
    pub fetch_wait: Duration,
    /// The producer's `linger.ms`.
    pub linger: Duration,
    /// One event in flight per partition; `None`: the SUT's default.
    pub ordered: Option<bool>,
    /// The user's librdkafka settings (SASL, TLS ...), for every client.
    pub settings: Vec<(String, String)>,
}

/// The run's topic and the broker it is on (the local one, when the run
/// started it, lives as long as this does).
pub struct KafkaTopic {
    pub bootstrap: String,
    pub name: String,
    /// The local broker started for it, if any; stopped when dropped.
    pub local: Option<std::sync::Arc<LocalKafka>>,
}

impl KafkaSettings {
    /// Finds or starts the broker and creates topic `name` (kept if it
    /// exists). A local broker listens on loopback.
    pub async fn topic(&self, name: &str) -> Result<KafkaTopic, KafkaError> {
        self.topic_on(name, std::net::Ipv4Addr::LOCALHOST).await
    }

    /// As [`KafkaSettings::topic`], a local broker listening on `ip`.
    pub async fn topic_on(
        &self,
        name: &str,
        ip: std::net::Ipv4Addr,
    ) -> Result<KafkaTopic, KafkaError> {
        let (bootstrap, local) = match &self.bootstrap {
            Some(b) => (b.clone(), None),
            None => {
                let b = LocalKafka::start_on(ip).await?;
                eprintln!("local Kafka-protocol broker (tansu) on {}", b.bootstrap);
                (b.bootstrap.clone(), Some(std::sync::Arc::new(b)))
            }
        };
        let topic = KafkaTopic {
            bootstrap,
            name: name.to_string(),
            local,
        };
        self.create(&topic).await?;
        Ok(topic)
    }

    /// Creates `topic` on its broker (kept if it exists): after a local
    /// broker restarted empty, it is there again.
    pub async fn create(&self, topic: &KafkaTopic) -> Result<(), KafkaError> {
        super::admin::create_topic_with(
            &topic.bootstrap,
            &self.settings,
            &topic.name,
            self.partitions,
            self.replication,
        )
        .await
    }

    /// The data plane of the Kafka SUT `imc.sut` on `topic`, with the
    /// routes and bounds of `imc`.
    pub fn plane(&self, topic: &KafkaTopic, imc: &ImcConfig) -> KafkaPlaneConfig {
        KafkaPlaneConfig {
            sut: imc.sut,
            routes: imc.routes.clone(),
            bootstrap: topic.bootstrap.clone(),
            settings: self.settings.clone(),
            topic: topic.name.clone(),
            group_prefix: topic.name.clone(),
            ordered: self.ordered.unwrap_or(imc.sut.spec().ordered),
            capacity: imc.capacity,
            connections: imc.connections,
            fetch_wait: self.fetch_wait,
            linger: self.linger,
            max_event_bytes: imc.max_event_bytes,
            grace: imc.grace,
            fault_token: imc.fault_token.clone(),
            instance: None,
        }
    }
}

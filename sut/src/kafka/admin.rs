//! Topics: created by the suite, a fresh one per run, with the partitions
//! and replication asked for; and whether a cluster answers at all.

use super::{client_config, KafkaError};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::time::Duration;

/// Whether the cluster at `bootstrap` answers a metadata request in `timeout`.
pub async fn reachable(bootstrap: &str, timeout: Duration) -> bool {
    let bootstrap = bootstrap.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: Result<BaseConsumer, _> = client_config(&bootstrap).create();
        consumer.is_ok_and(|c| c.fetch_metadata(None, timeout).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// Creates `topic` and waits until its metadata shows every partition.
pub async fn create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replication: i32,
) -> Result<(), KafkaError> {
    if !reachable(bootstrap, Duration::from_secs(5)).await {
        return Err(KafkaError::Unreachable(bootstrap.to_string()));
    }
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap)
        .create()
        .map_err(|e| KafkaError::Client(e.to_string()))?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&[new], &options)
        .await
        .map_err(|e| KafkaError::TopicRefused(topic.to_string(), e.to_string()))?;
    for r in results {
        match r {
            // A standalone SUT reuses its topic.
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) | Ok(_) => {}
            Err((name, code)) => return Err(KafkaError::TopicRefused(name, code.to_string())),
        }
    }
    let (bootstrap, name) = (bootstrap.to_string(), topic.to_string());
    let shown = tokio::task::spawn_blocking(move || -> bool {
        let Ok(c): Result<BaseConsumer, _> = client_config(&bootstrap).create() else {
            return false;
        };
        for _ in 0..100 {
            if let Ok(md) = c.fetch_metadata(Some(&name), Duration::from_secs(2)) {
                if md
                    .topics()
                    .iter()
                    .any(|t| t.name() == name && t.partitions().len() == partitions as usize)
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    })
    .await
    .unwrap_or(false);
    if shown {
        Ok(())
    } else {
        Err(KafkaError::TopicRefused(
            topic.to_string(),
            format!("metadata never showed {partitions} partitions"),
        ))
    }
}

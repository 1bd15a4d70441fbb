//! Topics: created by the suite, a fresh one per run, with the partitions
//! and replication asked for; and whether a cluster answers at all.

use super::{client_config_with, KafkaError};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::time::Duration;

/// Whether the cluster at `bootstrap` answers a metadata request in `timeout`.
pub async fn reachable(bootstrap: &str, timeout: Duration) -> bool {
    reachable_with(bootstrap, &[], timeout).await
}

/// [`reachable`], with the user's librdkafka `settings`.
pub async fn reachable_with(
    bootstrap: &str,
    settings: &[(String, String)],
    timeout: Duration,
) -> bool {
    let (bootstrap, settings) = (bootstrap.to_string(), settings.to_vec());
    tokio::task::spawn_blocking(move || {
        let consumer: Result<BaseConsumer, _> = client_config_with(&bootstrap, &settings).create();
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
    create_topic_with(bootstrap, &[], topic, partitions, replication).await
}

/// [`create_topic`], with the user's librdkafka `settings`.
pub async fn create_topic_with(
    bootstrap: &str,
    settings: &[(String, String)],
    topic: &str,
    partitions: i32,
    replication: i32,
) -> Result<(), KafkaError> {
    if !reachable_with(bootstrap, settings, Duration::from_secs(5)).await {
        return Err(KafkaError::Unreachable(bootstrap.to_string()));
    }
    let admin: AdminClient<DefaultClientContext> = client_config_with(bootstrap, settings)
        .create()
        .map_err(|e| KafkaError::Client(e.to_string()))?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&[new], &options)
        .await
        .map_err(|e| KafkaError::TopicRefused(topic.to_string(), e.to_string()))?;
    let mut existed = false;
    for r in results {
        match r {
            Ok(_) => {}
            // A standalone SUT reuses its topic, if it has the partitions asked for.
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => existed = true,
            Err((name, code)) => return Err(KafkaError::TopicRefused(name, code.to_string())),
        }
    }
    let (bootstrap, name, settings) = (bootstrap.to_string(), topic.to_string(), settings.to_vec());
    let shown = tokio::task::spawn_blocking(move || -> Option<usize> {
        let c: BaseConsumer = client_config_with(&bootstrap, &settings).create().ok()?;
        let mut seen = None;
        for _ in 0..100 {
            if let Ok(md) = c.fetch_metadata(Some(&name), Duration::from_secs(2)) {
                seen = md
                    .topics()
                    .iter()
                    .find(|t| t.name() == name && t.error().is_none())
                    .map(|t| t.partitions().len());
                match seen {
                    Some(n) if n == partitions as usize => return seen,
                    // An existing topic's partitions do not change by waiting.
                    Some(n) if existed && n > 0 => return seen,
                    _ => {}
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        seen
    })
    .await
    .unwrap_or(None);
    match shown {
        Some(n) if n == partitions as usize => Ok(()),
        Some(n) if existed => Err(KafkaError::TopicRefused(
            topic.to_string(),
            format!("it already exists with {n} partitions, not the {partitions} asked for"),
        )),
        _ => Err(KafkaError::TopicRefused(
            topic.to_string(),
            format!("metadata never showed {partitions} partitions"),
        )),
    }
}

/// Checks `name` against Kafka's rules for topic names (1 to 249 of
/// `a-z A-Z 0-9 . _ -`, not `.` or `..`), which some brokers (tansu) do not
/// enforce: a name Kafka would refuse is refused before anything starts.
pub fn check_topic_name(name: &str) -> Result<(), String> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name == "." || name == ".." {
        Err(format!("topic name {name:?} is not allowed by Kafka"))
    } else if let Some(c) = name.chars().find(|&c| !legal(c)) {
        Err(format!(
            "topic name {name:?} has {c:?}: Kafka allows only letters, digits, '.', '_' and '-'"
        ))
    } else if name.len() > MAX_TOPIC_NAME {
        Err(format!(
            "topic name of {} characters: Kafka allows at most {MAX_TOPIC_NAME}",
            name.len()
        ))
    } else {
        Ok(())
    }
}

/// Kafka's longest topic name.
const MAX_TOPIC_NAME: usize = 249;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafkas_rules() {
        for ok in [
            "brokerbench",
            "bb-20261123T1-abc",
            "a.b_c-D9",
            &"x".repeat(249),
        ] {
            assert_eq!(check_topic_name(ok), Ok(()), "{ok}");
        }
        let long = "x".repeat(250);
        for (bad, says) in [
            ("", "not allowed"),
            (".", "not allowed"),
            ("..", "not allowed"),
            ("bad name!", "' '"),
            ("caf\u{e9}", "'\u{e9}'"),
            ("a/b", "'/'"),
            (long.as_str(), "250 characters"),
        ] {
            let e = check_topic_name(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }
}

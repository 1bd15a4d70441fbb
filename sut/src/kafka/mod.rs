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
    client_config_with(bootstrap, &[])
}

/// The suite's settings, then the user's librdkafka `settings` (SASL,
/// TLS ...: `--kafka-config`), which win.
pub fn client_config_with(bootstrap: &str, settings: &[(String, String)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("client.id", "brokerbench")
        .set("log_level", "3");
    apply(&mut c, settings);
    c
}

/// Sets the user's librdkafka `settings` on `c`.
pub fn apply(c: &mut ClientConfig, settings: &[(String, String)]) {
    for (k, v) in settings {
        c.set(k, v);
    }
}

/// librdkafka settings given as `key=value` (`--kafka-config`, repeatable)
/// and in a properties file (`key=value` lines, `#` comments), checked by
/// librdkafka itself: an unknown property or a bad value is refused with
/// its message.
pub fn settings(
    pairs: &[String],
    file: Option<&std::path::Path>,
) -> Result<Vec<(String, String)>, String> {
    let mut lines: Vec<(String, String)> = Vec::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--kafka-config-file {}: {e}", path.display()))?;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            lines.push(
                pair(line).map_err(|e| format!("--kafka-config-file {}: {e}", path.display()))?,
            );
        }
    }
    for p in pairs {
        lines.push(pair(p).map_err(|e| format!("--kafka-config: {e}"))?);
    }
    let mut c = ClientConfig::new();
    apply(&mut c, &lines);
    c.create_native_config()
        .map_err(|e| format!("--kafka-config: librdkafka refused it: {e}"))?;
    Ok(lines)
}

fn pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!(
            "{text:?}: expected key=value (a librdkafka property)"
        )),
    }
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

    #[test]
    fn kafka_settings_reach_librdkafka_which_refuses_bad_ones_in_its_words() {
        let dir = std::env::temp_dir().join(format!("bb-kafka-props-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("client.properties");
        std::fs::write(
            &file,
            "# SASL over TLS\nsecurity.protocol=SASL_SSL\nsasl.mechanism = SCRAM-SHA-512\n\n",
        )
        .unwrap();
        let s = settings(&["sasl.username=bench".into()], Some(&file)).unwrap();
        assert_eq!(
            s,
            [
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.username", "bench")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        let c = client_config_with("b:9092", &s);
        assert_eq!(c.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(c.get("bootstrap.servers"), Some("b:9092"));
        let e = settings(&["no.such.property=1".into()], None).unwrap_err();
        assert!(
            e.contains("librdkafka refused it")
                && e.contains("No such configuration property: \"no.such.property\""),
            "{e}"
        );
        let e = settings(&["security.protocol=PIGEON".into()], None).unwrap_err();
        assert!(
            e.contains("Invalid value \"PIGEON\" for configuration property \"security.protocol\""),
            "{e}"
        );
        let e = settings(&["just-a-word".into()], None).unwrap_err();
        assert!(e.contains("expected key=value"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The receiver as a Kafka consumer (`--from-kafka`): reads a topic that a
//! SUT writes to (a Kafka sink), decodes each record with the CloudEvents
//! Kafka binding and the SDK, and records it like an HTTP delivery.

use crate::config::KafkaSource;
use crate::server::{identity_of, Sink};
use brokerbench_core::clock::unix_now_ns;
use brokerbench_core::kafka_binding::to_http_headers;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::ClientConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A subscribed consumer.
pub fn consumer(source: &KafkaSource) -> Result<StreamConsumer, String> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &source.bootstrap)
        .set("client.id", "brokerbench-receiver")
        .set("group.id", &source.group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set(
            "fetch.wait.max.ms",
            source.fetch_wait.as_millis().max(1).to_string(),
        )
        .set("log_level", "3");
    for (k, v) in &source.settings {
        config.set(k, v);
    }
    let c: StreamConsumer = config.create().map_err(|e| e.to_string())?;
    c.subscribe(&[&source.topic]).map_err(|e| e.to_string())?;
    Ok(c)
}

/// Polls until the consumer has its partitions (the readiness of a Kafka
/// receiver), while reading.
pub async fn wait_assigned(consumer: &StreamConsumer, patience: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + patience;
    while tokio::time::Instant::now() < deadline {
        if consumer.assignment().is_ok_and(|a| a.count() > 0) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Reads records into the sink's ledger until stopped.
pub async fn consume(
    consumer: Arc<StreamConsumer>,
    sink: Arc<Sink>,
    run_id: String,
    stop: CancellationToken,
) {
    loop {
        let m = tokio::select! {
            m = consumer.recv() => m,
            _ = stop.cancelled() => return,
        };
        let Ok(m) = m else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let received = unix_now_ns();
        let headers = m
            .headers()
            .and_then(|h| to_http_headers(h.iter().map(|h| (h.key, h.value.unwrap_or_default()))));
        let event = headers.and_then(|h| {
            cloudevents::binding::http::to_event(&h, m.payload().unwrap_or_default().to_vec()).ok()
        });
        let Some(event) = event else {
            sink.rejected.lock().unwrap().not_cloudevent += 1;
            continue;
        };
        let Some(id) = identity_of(&event, &run_id) else {
            sink.rejected.lock().unwrap().foreign += 1;
            continue;
        };
        let _ = sink.record(&id, 0, received);
    }
}

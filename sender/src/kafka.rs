//! Kafka publishing (the source-kafka scenario): each event is produced to a
//! topic as a CloudEvents Kafka binary-mode record; publish latency is the
//! broker's acknowledgement (`acks=all`). Every due event is handed to the
//! producer at once (bounded by `--max-inflight`), so a slow broker shows
//! as latency and failures, never as a slower sender.

use crate::config::KafkaTarget;
use crate::encode::Encoder;
use crate::ledger::Outcome;
use crate::pacer::Job;
use crate::publisher::{Publisher, SharedLedger};
use brokerbench_core::clock::unix_now_ns;
use brokerbench_core::kafka_binding::to_record_headers;
use brokerbench_core::wire::FailureReason;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use std::sync::Arc;
use std::time::Duration;

/// Creates the producer.
pub fn producer(target: &KafkaTarget, timeout: Duration) -> Result<FutureProducer, String> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &target.bootstrap)
        .set("client.id", "brokerbench-sender")
        .set("acks", "all")
        .set("linger.ms", "1")
        .set("log_level", "3")
        .set("message.timeout.ms", timeout.as_millis().max(1).to_string())
        .set("queue.buffering.max.messages", "1000000");
    for (k, v) in &target.settings {
        c.set(k, v);
    }
    c.create().map_err(|e| e.to_string())
}

/// Produces every job from `queue` until it is closed and empty; after
/// the run is interrupted or the drain is over, what is left fails as
/// `cancelled` (the producer's message timeout bounds the rest).
pub async fn work(
    producer: FutureProducer,
    target: KafkaTarget,
    encoder: Arc<Encoder>,
    shared: Arc<SharedLedger>,
    queue: async_channel::Receiver<Job>,
    publisher: Arc<Publisher>,
) {
    let mut acks = tokio::task::JoinSet::new();
    while let Ok(job) = queue.recv().await {
        if publisher.shutdown.is_cancelled() || publisher.drain_over.is_cancelled() {
            shared.finish(&job, None, Outcome::Failed(FailureReason::Cancelled));
            continue;
        }
        let sent = unix_now_ns();
        let (headers, key) = to_record_headers(&encoder.headers(&job, sent));
        let mut owned = OwnedHeaders::new_with_capacity(headers.len());
        for (k, v) in &headers {
            owned = owned.insert(Header {
                key: k,
                value: Some(v),
            });
        }
        let body = encoder.body(&job, sent);
        let mut record = FutureRecord::to(&target.topic)
            .payload(&body[..])
            .headers(owned);
        if let Some(k) = &key {
            record = record.key(&k[..]);
        }
        match producer.send_result(record) {
            Ok(ack) => {
                let shared = shared.clone();
                acks.spawn(async move {
                    let outcome = match ack.await {
                        Ok(Ok(_)) => Outcome::Accepted {
                            acked_unix_ns: unix_now_ns(),
                        },
                        Ok(Err((e, _)))
                            if e.rdkafka_error_code()
                                == Some(RDKafkaErrorCode::MessageTimedOut) =>
                        {
                            Outcome::Failed(FailureReason::Timeout)
                        }
                        _ => Outcome::Failed(FailureReason::Transport),
                    };
                    shared.finish(&job, Some(sent), outcome);
                });
            }
            Err((e, _)) => {
                // Refused by the producer: the record never left.
                let reason = if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) {
                    FailureReason::InflightLimit
                } else {
                    FailureReason::Transport
                };
                shared.finish(&job, None, Outcome::Failed(reason));
            }
        }
        while acks.try_join_next().is_some() {}
    }
    while acks.join_next().await.is_some() {}
}

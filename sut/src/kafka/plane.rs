//! The Kafka data plane behind channel-kafka, broker-kafka and source-kafka.
//!
//! Ingress (channel and broker): each CloudEvent is produced to the topic
//! (CloudEvents Kafka binding) and answered 202 only once the broker
//! acknowledged the write (`acks=all`), 503 when the producer's queue is
//! full, 502 when the write failed. Dispatch: one consumer group per route
//! (subscription or trigger) reads the topic from the start, filters,
//! delivers over HTTP with retries and a dead-letter sink, and commits an
//! offset only once it and every offset before it are settled
//! (at-least-once: nothing skipped). Ordered delivery keeps one event in
//! flight per partition. A broker produces its subscribers' replies back to
//! the topic. The source has no ingress: a sender produces to the topic.

use super::offsets::Offsets;
use super::{client_config_with, KafkaError};
use crate::config::Route;
use crate::counters::{bump, control, Counters};
use crate::dispatch::{Admitted, Dispatcher, Replies, ReplyRefused};
use crate::event::Envelope;
use crate::ingress::{full, read_event, text, until_empty};
use crate::running::Running;
use crate::spec::Routing;
use crate::spec::Sut;
use brokerbench_core::cpu::ThreadCpu;
use brokerbench_core::kafka_binding::to_http_headers;
use brokerbench_core::wire::SutCounters;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often consumer groups commit what is settled.
const COMMIT_EVERY: Duration = Duration::from_millis(100);
/// How long the ingress waits for the broker's acknowledgement.
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(10);

/// A Kafka data plane.
#[derive(Debug, Clone)]
pub struct KafkaPlaneConfig {
    /// Which Kafka SUT: channel-kafka (every subscription gets every
    /// event), broker-kafka (triggers filter; replies go back to the
    /// topic) or source-kafka (no ingress; records become CloudEvents for
    /// the sink).
    pub sut: Sut,
    pub routes: Vec<Route>,
    /// `host:port[,host:port...]`.
    pub bootstrap: String,
    /// The user's librdkafka settings (SASL, TLS ...).
    pub settings: Vec<(String, String)>,
    /// The topic (created before the plane starts).
    pub topic: String,
    /// Consumer group of route `r` is `<group_prefix>.<r's name>`.
    pub group_prefix: String,
    /// One event in flight per partition (per route) instead of many.
    pub ordered: bool,
    /// Records in flight per route; the consumer waits above it.
    pub capacity: usize,
    /// Keep-alive connections per subscriber.
    pub connections: usize,
    /// How long the broker may hold a fetch for data (`fetch.wait.max.ms`):
    /// a floor under e2e latency on brokers that always wait this long.
    pub fetch_wait: Duration,
    /// How long the producer waits to fill a batch (`linger.ms`).
    pub linger: Duration,
    pub max_event_bytes: usize,
    /// On shutdown, time given to what is in flight before it is dropped.
    pub grace: Duration,
    /// Who may tell its ingress to inject faults (see [`crate::config::ImcConfig`]).
    pub fault_token: Option<String>,
    /// A name this data plane keeps when started again (a local run's SUT
    /// process after a kill): its consumers then rejoin their groups as
    /// the same static members, at once. `None`: dynamic members.
    pub instance: Option<String>,
}

/// One consumer group: its route's dispatcher, offsets and flow control.
struct Group {
    topic: String,
    dispatcher: Arc<Dispatcher>,
    consumer: StreamConsumer<GroupContext>,
    offsets: Arc<Offsets>,
    slots: Arc<Semaphore>,
    assigned: AtomicBool,
}

/// A group's consumer callbacks: partitions revoked in a rebalance commit
/// what they settled, then nothing more (their new owner's offset is its
/// own).
struct GroupContext {
    topic: String,
    offsets: Arc<Offsets>,
}

impl rdkafka::ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(revoked) = rebalance else {
            return;
        };
        let partitions: Vec<i32> = revoked
            .elements_for_topic(&self.topic)
            .iter()
            .map(|e| e.partition())
            .collect();
        let points = self.offsets.release(&partitions);
        if !points.is_empty() {
            let _ = consumer.commit(&commit_list(&self.topic, &points), CommitMode::Sync);
        }
    }
}

/// The plane's shared state.
pub struct KafkaPlane {
    sut: Sut,
    topic: String,
    producer: FutureProducer,
    groups: Vec<Arc<Group>>,
    pub counters: Arc<Counters>,
    /// Produce requests that failed (answered 502).
    produce_failed: AtomicU64,
    cpu: ThreadCpu,
    stopping: AtomicBool,
    max_event_bytes: usize,
}

impl KafkaPlane {
    /// Every consumer group has its partitions (and the plane is not stopping).
    pub fn ready(&self) -> bool {
        !self.stopping.load(Ordering::Relaxed)
            && self
                .groups
                .iter()
                .all(|g| g.assigned.load(Ordering::Relaxed))
    }

    /// The counters now; `queued` is what is being delivered.
    pub fn counters(&self) -> SutCounters {
        let busy = self.groups.iter().map(|g| g.offsets.busy() as u64).sum();
        let mut c = self.counters.snapshot(busy, self.cpu.total_ns());
        c.produce_failed = self.produce_failed.load(Ordering::Relaxed);
        c
    }

    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let name = self.sut.spec().name;
        if let Some(r) = control(req.method(), req.uri().path(), name, self.ready(), || {
            self.counters()
        }) {
            return r;
        }
        if let Some(r) = self.counters.faults.control(&req) {
            return r;
        }
        if req.method() != Method::POST || !self.sut.spec().ingress {
            return text(
                StatusCode::METHOD_NOT_ALLOWED,
                "GET /healthz, /readyz, /metrics or /v1/counters; POST a CloudEvent (not to a source)\n",
            );
        }
        let event = match read_event(req, self.max_event_bytes, &self.counters).await {
            Ok(e) => e,
            Err(refused) => return refused,
        };
        if let Some(injected) = self.counters.faults.before(&self.counters.faulted).await {
            return injected;
        }
        match self.produce(&event) {
            Err(Produce::Full) => full(&self.counters, "producer queue full\n"),
            Err(Produce::Failed) => self.failed(),
            Ok(ack) => match tokio::time::timeout(PRODUCE_TIMEOUT, ack).await {
                Ok(Ok(Ok(_))) => {
                    bump(&self.counters.accepted);
                    text(StatusCode::ACCEPTED, "")
                }
                _ => self.failed(),
            },
        }
    }

    fn failed(&self) -> Response<Full<Bytes>> {
        self.produce_failed.fetch_add(1, Ordering::Relaxed);
        text(
            StatusCode::BAD_GATEWAY,
            "Kafka did not acknowledge the write\n",
        )
    }

    /// Queues an event for the topic; the future resolves with the ack.
    fn produce(&self, event: &Envelope) -> Result<rdkafka::producer::DeliveryFuture, Produce> {
        let (headers, key, value) = event.kafka_record();
        let mut owned = OwnedHeaders::new_with_capacity(headers.len());
        for (k, v) in &headers {
            owned = owned.insert(Header {
                key: k,
                value: Some(v),
            });
        }
        let mut record = FutureRecord::to(&self.topic)
            .payload(&value[..])
            .headers(owned);
        if let Some(k) = &key {
            record = record.key(&k[..]);
        }
        self.producer.send_result(record).map_err(|(e, _)| {
            if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) {
                Produce::Full
            } else {
                Produce::Failed
            }
        })
    }
}

enum Produce {
    Full,
    Failed,
}

/// A broker's replies are produced back to the topic.
impl Replies for std::sync::Weak<KafkaPlane> {
    fn reply(&self, answer: &Response<Bytes>, to: &Envelope) -> Result<(), ReplyRefused> {
        let plane = self.upgrade().ok_or(ReplyRefused)?;
        let Some(event) = to.reply_in(answer) else {
            return Ok(());
        };
        plane.produce(&event).map_err(|_| ReplyRefused)?;
        bump(&plane.counters.replies);
        Ok(())
    }
}

impl crate::running::DataPlane for KafkaPlane {
    fn counters(&self) -> SutCounters {
        KafkaPlane::counters(self)
    }
    fn ready(&self) -> bool {
        KafkaPlane::ready(self)
    }
}

impl brokerbench_core::serve::Handler for KafkaPlane {
    fn answer(
        &self,
        req: Request<Incoming>,
    ) -> impl std::future::Future<Output = Response<Full<Bytes>>> + Send {
        KafkaPlane::answer(self, req)
    }
}

/// A record as a CloudEvent: as carried (binary or structured binding), or,
/// for a source, a new event around a plain record (id `partition-offset`).
fn event_of(m: &impl Message, sut: Sut, topic: &str) -> Option<Envelope> {
    let value = Bytes::copy_from_slice(m.payload().unwrap_or_default());
    let carried = m
        .headers()
        .and_then(|h| to_http_headers(h.iter().map(|h| (h.key, h.value.unwrap_or_default()))));
    let headers = match carried {
        Some(h) => h,
        None if !sut.spec().ingress => {
            let mut h = HeaderMap::new();
            let id = format!("{}-{}", m.partition(), m.offset());
            let source = format!("/brokerbench/kafka/{topic}#{}", m.partition());
            for (k, v) in [
                ("ce-specversion", "1.0"),
                ("ce-id", id.as_str()),
                ("ce-source", source.as_str()),
                ("ce-type", "dev.knative.kafka.event"),
            ] {
                h.insert(k, HeaderValue::from_str(v).ok()?);
            }
            h
        }
        None => return None,
    };
    Envelope::parse(&headers, value).ok()
}

/// Starts the plane on `listener` (ingress and control endpoints). On
/// `shutdown`: stops taking events and reading records, gives what is in
/// flight `grace`, commits what is settled, drops the rest (uncommitted,
/// so a restart would deliver it again), and ends with its counters.
pub fn start(
    config: KafkaPlaneConfig,
    listener: TcpListener,
    cpu: ThreadCpu,
    shutdown: CancellationToken,
) -> Result<Running<KafkaPlane>, KafkaError> {
    let client = |e: rdkafka::error::KafkaError| KafkaError::Client(e.to_string());
    let producer: FutureProducer = client_config_with(&config.bootstrap, &config.settings)
        .set("acks", "all")
        .set("linger.ms", super::fractional_ms(config.linger))
        .set("message.timeout.ms", "10000")
        .set(
            "queue.buffering.max.messages",
            config.capacity.max(1).to_string(),
        )
        .create()
        .map_err(client)?;
    let counters = Arc::new(Counters::with_fault_token(config.fault_token.clone()));
    let stop_workers = CancellationToken::new();
    let stop_reading = CancellationToken::new();
    let plane = Arc::new_cyclic(|weak: &std::sync::Weak<KafkaPlane>| {
        let replies: Option<Arc<dyn Replies>> = match config.sut.spec().routing {
            Some(Routing::Broker) => Some(Arc::new(weak.clone())),
            _ => None,
        };
        let groups = config
            .routes
            .iter()
            .filter_map(|r| group(&config, r, &counters, &replies, &stop_workers))
            .collect();
        KafkaPlane {
            sut: config.sut,
            topic: config.topic.clone(),
            producer,
            groups,
            counters: counters.clone(),
            produce_failed: AtomicU64::new(0),
            cpu,
            stopping: AtomicBool::new(false),
            max_event_bytes: config.max_event_bytes,
        }
    });
    if plane.groups.len() != config.routes.len() {
        return Err(KafkaError::Client(format!(
            "cannot create the consumers of topic {}",
            config.topic
        )));
    }
    let workers = TaskTracker::new();
    let readers = TaskTracker::new();
    for g in &plane.groups {
        for _ in 0..config.connections.max(1) {
            workers.spawn(g.dispatcher.clone().work());
        }
        readers.spawn(read(
            plane.clone(),
            g.clone(),
            config.ordered,
            stop_reading.clone(),
        ));
        readers.spawn(commit(g.clone(), stop_reading.clone()));
    }
    workers.close();
    readers.close();
    let p = plane.clone();
    let done = tokio::spawn(async move {
        brokerbench_core::serve::serve(p.clone(), listener, shutdown, Duration::from_secs(1)).await;
        p.stopping.store(true, Ordering::Relaxed);
        stop_reading.cancel();
        // A reader may be taking one more record as it sees the stop: only
        // once every reader is done is nothing more coming in.
        readers.wait().await;
        until_empty(|| p.counters().queued, config.grace).await;
        for g in &p.groups {
            commit_now(g, CommitMode::Sync);
            g.offsets.close();
        }
        stop_workers.cancel();
        workers.wait().await;
        for g in &p.groups {
            g.dispatcher.drop_queued();
        }
        let flushing = p.clone();
        let _ =
            tokio::task::spawn_blocking(move || flushing.producer.flush(Duration::from_secs(5)))
                .await;
        p.counters()
    });
    Ok(Running { plane, done })
}

/// The consumer group of route `r` and its dispatcher; `None` when its
/// consumer cannot be made or subscribed.
fn group(
    config: &KafkaPlaneConfig,
    r: &Route,
    counters: &Arc<Counters>,
    replies: &Option<Arc<dyn Replies>>,
    stop_workers: &CancellationToken,
) -> Option<Arc<Group>> {
    let offsets = Arc::new(Offsets::default());
    let context = GroupContext {
        topic: config.topic.clone(),
        offsets: offsets.clone(),
    };
    let consumer: StreamConsumer<GroupContext> =
        client_config_with(&config.bootstrap, &config.settings)
            .set("group.id", format!("{}.{}", config.group_prefix, r.name))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "fetch.wait.max.ms",
                config.fetch_wait.as_millis().max(1).to_string(),
            )
            .set("session.timeout.ms", "10000")
            .set_opt_instance(
                config
                    .instance
                    .as_ref()
                    .map(|i| format!("{}.{}.{i}", config.group_prefix, r.name)),
            )
            .create_with_context(context)
            .ok()?;
    consumer.subscribe(&[&config.topic]).ok()?;
    Some(Arc::new(Group {
        topic: config.topic.clone(),
        dispatcher: Dispatcher::new(
            r.clone(),
            counters.clone(),
            replies.clone(),
            stop_workers.clone(),
        ),
        consumer,
        offsets,
        slots: Arc::new(Semaphore::new(config.capacity.max(1))),
        assigned: AtomicBool::new(false),
    }))
}

/// Reads one group's records until stopped: filter, then hand to the
/// dispatcher (straight away, or one at a time per partition when ordered).
async fn read(plane: Arc<KafkaPlane>, group: Arc<Group>, ordered: bool, stop: CancellationToken) {
    let mut lanes: HashMap<i32, mpsc::UnboundedSender<Lane>> = HashMap::new();
    loop {
        let message = tokio::select! {
            m = group.consumer.recv() => m,
            _ = stop.cancelled() => return,
        };
        let Ok(m) = message else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (partition, offset) = (m.partition(), m.offset());
        let event = event_of(&m, plane.sut, &plane.topic);
        drop(m);
        let Some(event) = event else {
            bump(&plane.counters.rejected);
            group.offsets.take(partition, offset);
            group.offsets.done(partition, offset);
            continue;
        };
        if !plane.sut.spec().ingress && Arc::ptr_eq(&group, &plane.groups[0]) {
            bump(&plane.counters.accepted);
        }
        if !group.dispatcher.route.filter.matches(&event) {
            group.offsets.take(partition, offset);
            group.offsets.done(partition, offset);
            continue;
        }
        // Stopped while waiting for room: the record stays uncommitted and
        // is read again by the next consumer of the group.
        let slot = tokio::select! {
            s = group.slots.clone().acquire_owned() => s.expect("never closed"),
            _ = stop.cancelled() => return,
        };
        group.offsets.take(partition, offset);
        bump(&plane.counters.routed);
        let g = group.clone();
        if !ordered {
            let settle: crate::dispatch::Settled =
                Box::new(move || g.offsets.done(partition, offset));
            group
                .dispatcher
                .push(Admitted::settling(event, slot, Some(settle)));
            continue;
        }
        let (settled_tx, settled) = tokio::sync::oneshot::channel();
        let settle: crate::dispatch::Settled = Box::new(move || {
            g.offsets.done(partition, offset);
            let _ = settled_tx.send(());
        });
        let lane = lanes.entry(partition).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(one_at_a_time(group.clone(), rx));
            tx
        });
        let _ = lane.send((Admitted::settling(event, slot, Some(settle)), settled));
    }
}

/// An ordered partition's next event, and the signal that it is settled.
type Lane = (Arc<Admitted>, tokio::sync::oneshot::Receiver<()>);

/// Ordered delivery of one partition: the next event goes when the last is settled.
async fn one_at_a_time(group: Arc<Group>, mut lane: mpsc::UnboundedReceiver<Lane>) {
    while let Some((admitted, settled)) = lane.recv().await {
        group.dispatcher.push(admitted);
        let _ = settled.await;
    }
}

/// Commits settled offsets until stopped.
async fn commit(group: Arc<Group>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(COMMIT_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        if !group.assigned.load(Ordering::Relaxed)
            && !group.consumer.assignment().is_ok_and(|a| a.count() > 0)
        {
            continue;
        }
        group.assigned.store(true, Ordering::Relaxed);
        commit_now(&group, CommitMode::Async);
    }
}

fn commit_now(group: &Group, mode: CommitMode) {
    let points = group.offsets.to_commit();
    if points.is_empty() {
        return;
    }
    let _ = group
        .consumer
        .commit(&commit_list(&group.topic, &points), mode);
}

/// Offsets to commit, as Kafka takes them.
fn commit_list(topic: &str, points: &[(i32, i64)]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for &(partition, offset) in points {
        let _ = tpl.add_partition_offset(topic, partition, Offset::Offset(offset));
    }
    tpl
}

/// A consumer's static membership, when it has one.
trait SetInstance {
    fn set_opt_instance(&mut self, id: Option<String>) -> &mut Self;
}

impl SetInstance for rdkafka::ClientConfig {
    /// A SUT started again after a kill takes its own place in the group
    /// at once (static membership, `group.instance.id`), not after the
    /// dead member's session ran out.
    fn set_opt_instance(&mut self, id: Option<String>) -> &mut Self {
        match id {
            Some(id) => self.set("group.instance.id", id),
            None => self,
        }
    }
}

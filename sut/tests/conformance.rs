//! The SUT conformance suite: what every system under test must do, checked
//! over real loopback HTTP against each SUT of the registry, one test per
//! SUT and check (so a failure in one hides no other's), with counting
//! subscribers and dead-letter sinks served by the test.
//!
//! Each test asserts exact numbers: ids delivered once each, attempts,
//! retries, dead letters, 503s, and the SUT's own counters balancing
//! (`routed = delivered + dead_lettered + dropped`).

use brokerbench_core::conn::{connect, exchange};
use brokerbench_core::cpu::ThreadCpu;
use brokerbench_core::serve::{serve, Handler};
use brokerbench_core::wire::SutCounters;
use brokerbench_sut::config::{DeliverySpec, ImcConfig, Route, Routing};
use brokerbench_sut::filter::Filter;
use brokerbench_sut::kafka;
use brokerbench_sut::kafka::local::LocalKafka;
use brokerbench_sut::kafka::plane::KafkaPlaneConfig;
use brokerbench_sut::{RunningSut, Sut};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const EVENT_TYPE: &str = "dev.brokerbench.conformance";

/// Every check of `$checks` for each SUT of `$suts`, as one test each:
/// `<group>::<sut>::<check>`.
macro_rules! conformance {
    ($group:ident, [$($m:ident => $sut:expr),* $(,)?], $checks:tt) => {
        mod $group {
            $( conformance!(@one $m, $sut, $checks); )*
        }
    };
    (@one $m:ident, $sut:expr, [$($check:ident),* $(,)?]) => {
        mod $m {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::super::$check($sut).await
                }
            )*
        }
    };
}

conformance!(
    every_plane,
    [
        channel_imc => brokerbench_sut::Sut::ChannelImc,
        broker_imc => brokerbench_sut::Sut::BrokerImc,
        channel_kafka => brokerbench_sut::Sut::ChannelKafka,
        broker_kafka => brokerbench_sut::Sut::BrokerKafka,
        source_kafka => brokerbench_sut::Sut::SourceKafka,
    ],
    [
        no_loss_and_no_duplicates_at_a_low_rate,
        fan_out_delivers_every_event_to_every_subscriber_once,
        failing_subscribers_are_retried_then_dead_lettered,
        a_client_error_is_not_retried_and_no_sink_means_dropped,
        a_full_queue_answers_503_and_holds_no_more,
        shutdown_drains_what_it_can_then_accounts_for_the_rest,
    ]
);

// A source has no ingress; what it reads is a record, CloudEvent or not.
conformance!(
    with_ingress,
    [
        channel_imc => brokerbench_sut::Sut::ChannelImc,
        broker_imc => brokerbench_sut::Sut::BrokerImc,
        channel_kafka => brokerbench_sut::Sut::ChannelKafka,
        broker_kafka => brokerbench_sut::Sut::BrokerKafka,
    ],
    [what_is_not_a_cloudevent_gets_a_4xx_and_the_sut_keeps_going]
);

conformance!(
    brokers,
    [
        broker_imc => brokerbench_sut::Sut::BrokerImc,
        broker_kafka => brokerbench_sut::Sut::BrokerKafka,
    ],
    [broker_replies_come_back_in_and_loops_end_at_the_hop_limit]
);

conformance!(
    kafka_ingress,
    [
        channel_kafka => brokerbench_sut::Sut::ChannelKafka,
        broker_kafka => brokerbench_sut::Sut::BrokerKafka,
    ],
    [kafka_commits_only_what_was_delivered_so_a_restart_skips_nothing]
);

/// Every SUT with a data plane is checked by the groups above.
#[test]
fn every_sut_with_a_plane_is_under_test() {
    let checked = [
        Sut::ChannelImc,
        Sut::BrokerImc,
        Sut::ChannelKafka,
        Sut::BrokerKafka,
        Sut::SourceKafka,
    ];
    assert_eq!(Sut::planes().collect::<Vec<_>>(), checked);
}

thread_local! {
    static BROKER: std::cell::RefCell<Option<LocalKafka>> = const { std::cell::RefCell::new(None) };
}

/// The local Kafka-protocol broker of this test: started on first use, on
/// the test's thread, and stopped when the test's thread ends. Each plane
/// has topics of its own.
async fn kafka() -> String {
    if let Some(b) = BROKER.with(|b| b.borrow().as_ref().map(|k| k.bootstrap.clone())) {
        return b;
    }
    let broker = LocalKafka::start()
        .await
        .expect("the local Kafka-protocol broker starts (scripts/setup installs tansu)");
    let bootstrap = broker.bootstrap.clone();
    BROKER.with(|b| *b.borrow_mut() = Some(broker));
    bootstrap
}

/// A topic name no other test uses.
fn fresh_topic() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("conformance-{}-{n}", std::process::id())
}

/// How a test starts its SUT.
struct Setup<'a> {
    subscribers: &'a [String],
    /// Where the triggers that never match deliver.
    never: &'a str,
    delivery: DeliverySpec,
    /// What it holds (in-memory) or has in flight per route (Kafka).
    capacity: usize,
    /// What it gives in-flight events at shutdown.
    grace: Duration,
}

impl<'a> Setup<'a> {
    /// `retries` fast retries and no dead-letter sink, 1,000 held, 5 s of grace.
    fn new(subscribers: &'a [String], never: &'a str, retries: u32) -> Self {
        Setup {
            subscribers,
            never,
            delivery: fast_retries(retries, None),
            capacity: 1000,
            grace: Duration::from_secs(5),
        }
    }
}

/// A running SUT as the tests see it.
struct UnderTest {
    ingress: String,
    /// A source's topic and broker: events are produced there.
    source: Option<(String, String)>,
    stop: CancellationToken,
    running: RunningSut,
}

/// Starts `under` with `routes`; `capacity` bounds what it holds (in-memory)
/// or has in flight per route (Kafka).
async fn start_plane(
    under: Sut,
    routes: Vec<Route>,
    capacity: usize,
    grace: Duration,
    group_prefix: Option<(&str, &str)>,
) -> UnderTest {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ingress = format!("http://{}/", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let mut source = None;
    let config = ImcConfig {
        capacity,
        connections: 4,
        grace,
        ..ImcConfig::new(under, routes)
    };
    let kafka = match under.on_kafka() {
        false => None,
        true => {
            let bootstrap = kafka().await;
            let (topic, prefix) = match group_prefix {
                Some((t, p)) => (t.to_string(), p.to_string()),
                None => {
                    let t = fresh_topic();
                    kafka::admin::create_topic(&bootstrap, &t, 4, 1)
                        .await
                        .unwrap();
                    (t.clone(), t)
                }
            };
            if !under.spec().ingress {
                source = Some((bootstrap.clone(), topic.clone()));
            }
            Some(KafkaPlaneConfig {
                sut: under,
                routes: config.routes.clone(),
                bootstrap,
                settings: Vec::new(),
                topic,
                group_prefix: prefix,
                ordered: false,
                capacity,
                connections: 4,
                fetch_wait: Duration::from_millis(10),
                linger: Duration::from_millis(5),
                max_event_bytes: 4 << 20,
                grace,
                fault_token: None,
                instance: None,
            })
        }
    };
    let running =
        brokerbench_sut::start(config, kafka, listener, ThreadCpu::default(), stop.clone())
            .unwrap();
    let sut = UnderTest {
        ingress,
        source,
        stop,
        running,
    };
    sut.wait_ready().await;
    sut
}

impl UnderTest {
    /// Starts `under` as `setup` says: delivering every event to each of
    /// its subscribers; a broker also gets two triggers that never match
    /// (their subscriber is `never`, which must stay empty).
    async fn start(under: Sut, setup: Setup<'_>) -> UnderTest {
        let Setup {
            subscribers,
            never,
            delivery,
            capacity,
            grace,
        } = setup;
        let route = |i: usize, url: &str, filter: Filter| Route {
            name: format!("r{i}"),
            subscriber: url.to_string(),
            filter,
            delivery: delivery.clone(),
        };
        let routes = match under.spec().routing {
            Some(Routing::Channel) | None => subscribers
                .iter()
                .enumerate()
                .map(|(i, s)| route(i, s, Filter::everything()))
                .collect::<Vec<_>>(),
            Some(Routing::Broker) => {
                let ty = |t: &str| {
                    Filter::from_attributes(&BTreeMap::from([("type".into(), t.to_string())]))
                };
                let mut routes: Vec<_> = subscribers
                    .iter()
                    .enumerate()
                    .map(|(i, s)| route(i, s, ty(EVENT_TYPE)))
                    .collect();
                routes.push(route(90, never, ty("dev.brokerbench.other")));
                routes.push(route(
                    91,
                    never,
                    Filter::Not(Box::new(Filter::Prefix(BTreeMap::from([(
                        "type".into(),
                        "dev.".into(),
                    )])))),
                ));
                routes
            }
        };
        start_plane(under, routes, capacity, grace, None).await
    }

    /// Sends `n` events (ids `0..n`) the way this SUT takes them: POSTs to
    /// its ingress, or records produced to a source's topic; the statuses
    /// (202 for a record the broker acknowledged).
    async fn publish(&self, n: usize, gap: Duration, extra: &[(&str, &str)]) -> Vec<u16> {
        let Some((bootstrap, topic)) = &self.source else {
            return publish(&self.ingress, n, gap, extra).await;
        };
        use rdkafka::message::{Header, OwnedHeaders};
        use rdkafka::producer::{FutureProducer, FutureRecord};
        let producer: FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("acks", "all")
            .create()
            .unwrap();
        let mut statuses = Vec::with_capacity(n);
        let payload = vec![b'x'; 8192];
        for i in 0..n {
            let id = i.to_string();
            let mut headers = OwnedHeaders::new();
            for (k, v) in [
                ("ce_specversion", "1.0"),
                ("ce_id", id.as_str()),
                ("ce_source", "/conformance"),
                ("ce_type", EVENT_TYPE),
                ("content-type", "application/octet-stream"),
            ]
            .into_iter()
            .chain(extra.iter().map(|(k, v)| (*k, *v)))
            {
                let key = k.replacen("ce-", "ce_", 1);
                headers = headers.insert(Header {
                    key: &key,
                    value: Some(v.as_bytes()),
                });
            }
            let record = FutureRecord::<(), _>::to(topic)
                .payload(&payload)
                .headers(headers);
            let acked = producer.send(record, Duration::from_secs(10)).await.is_ok();
            statuses.push(if acked { 202 } else { 502 });
            if !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
        }
        statuses
    }

    fn counters(&self) -> SutCounters {
        self.running.plane.counters()
    }

    /// Waits for `/readyz` (a Kafka SUT: every consumer group assigned).
    async fn wait_ready(&self) {
        let client = brokerbench_core::client::JsonClient::new(self.ingress.trim_end_matches('/'));
        client
            .wait_ready("/readyz", Duration::from_secs(30))
            .await
            .expect("the SUT gets ready");
    }

    /// Waits until nothing is inside the SUT and `f` holds of its counters.
    async fn settle(&self, f: impl Fn(&SutCounters) -> bool) -> SutCounters {
        for _ in 0..1000 {
            let c = self.counters();
            if c.queued == 0 && f(&c) {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the SUT did not settle: {:?}", self.counters());
    }

    /// Waits until exactly `n` deliveries are in flight (and stay so).
    async fn settle_busy(&self, n: u64) -> SutCounters {
        for _ in 0..1000 {
            let c = self.counters();
            if c.queued == n {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let again = self.counters();
                assert_eq!(again.queued, n, "in flight grew past the bound: {again:?}");
                return again;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never {n} in flight: {:?}", self.counters());
    }

    async fn shutdown(self) -> SutCounters {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.running.done)
            .await
            .expect("shutdown took too long")
            .unwrap()
    }
}

/// What a test subscriber does with a request.
#[derive(Clone, Default)]
struct Behaviour {
    /// Fail the first N attempts of each event with this status.
    fail_first: u32,
    status: u16,
    /// Hold requests while this says `true`.
    stall: Option<watch::Receiver<bool>>,
    /// Answer with a reply event of this type (binary mode).
    reply_type: Option<String>,
}

/// A counting subscriber (or dead-letter sink) on loopback.
#[derive(Default)]
struct Subscriber {
    behaviour: Behaviour,
    /// Every attempt, by event id.
    attempts: Mutex<HashMap<String, u32>>,
    /// Events answered 2xx, in order: (id, type, knativeerrorcode).
    taken: Mutex<Vec<(String, String, Option<String>)>>,
}

impl Subscriber {
    async fn start(behaviour: Behaviour) -> (Arc<Subscriber>, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/sink", listener.local_addr().unwrap());
        let s = Arc::new(Subscriber {
            behaviour,
            ..Subscriber::default()
        });
        tokio::spawn(serve(
            s.clone(),
            listener,
            CancellationToken::new(),
            Duration::ZERO,
        ));
        (s, url)
    }

    /// Ids taken, each with how many times.
    fn taken_ids(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for (id, _, _) in self.taken.lock().unwrap().iter() {
            *m.entry(id.clone()).or_default() += 1;
        }
        m
    }

    fn attempts_total(&self) -> u32 {
        self.attempts.lock().unwrap().values().sum()
    }
}

impl Handler for Subscriber {
    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let header = |n: &str| {
            req.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (id, ty, code) = (
            header("ce-id").unwrap_or_default(),
            header("ce-type").unwrap_or_default(),
            header("ce-knativeerrorcode"),
        );
        let _ = req.into_body().collect().await;
        if let Some(mut stall) = self.behaviour.stall.clone() {
            let _ = stall.wait_for(|s| !*s).await;
        }
        let n = {
            let mut a = self.attempts.lock().unwrap();
            let n = a.entry(id.clone()).or_default();
            *n += 1;
            *n
        };
        let mut resp = Response::new(Full::new(Bytes::new()));
        if n <= self.behaviour.fail_first {
            *resp.status_mut() = StatusCode::from_u16(self.behaviour.status).unwrap();
            return resp;
        }
        self.taken.lock().unwrap().push((id.clone(), ty, code));
        *resp.status_mut() = StatusCode::ACCEPTED;
        if let Some(t) = &self.behaviour.reply_type {
            *resp.status_mut() = StatusCode::OK;
            for (k, v) in [
                ("ce-specversion", "1.0"),
                ("ce-id", &format!("reply-{id}")),
                ("ce-source", "/conformance/subscriber"),
                ("ce-type", t),
            ] {
                resp.headers_mut().insert(k, v.parse().unwrap());
            }
        }
        resp
    }
}

/// Posts `n` binary-mode events (ids `0..n`) to `url`, `gap` apart, over one
/// connection; returns the statuses.
async fn publish(url: &str, n: usize, gap: Duration, extra: &[(&str, &str)]) -> Vec<u16> {
    publish_ids(url, 0..n, gap, extra).await
}

/// POSTs the events of `ids` to `url` on one connection; their statuses.
async fn publish_ids(
    url: &str,
    ids: std::ops::Range<usize>,
    gap: Duration,
    extra: &[(&str, &str)],
) -> Vec<u16> {
    let n = ids.len();
    let uri: http::Uri = url.parse().unwrap();
    let addr = uri.authority().unwrap().as_str().parse().unwrap();
    let mut conn = connect(addr).await.expect("SUT ingress reachable");
    let mut statuses = Vec::with_capacity(n);
    for i in ids {
        let mut req = Request::post(uri.path())
            .header("host", uri.authority().unwrap().as_str())
            .header("ce-specversion", "1.0")
            .header("ce-id", i.to_string())
            .header("ce-source", "/conformance")
            .header("ce-type", EVENT_TYPE)
            .header("content-type", "application/octet-stream");
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(vec![b'x'; 8192]))).unwrap();
        conn.ready().await.unwrap();
        statuses.push(exchange(&mut conn, req).await.unwrap().status().as_u16());
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
    }
    statuses
}

fn fast_retries(retry: u32, dead_letter: Option<String>) -> DeliverySpec {
    DeliverySpec {
        retry,
        backoff_delay: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(20),
        timeout: Duration::from_secs(5),
        dead_letter,
        ..DeliverySpec::default()
    }
}

fn exactly_once(ids: &BTreeMap<String, usize>, n: usize) {
    assert_eq!(ids.len(), n, "distinct ids");
    assert!(ids.values().all(|&c| c == 1), "duplicates: {ids:?}");
    assert!((0..n).all(|i| ids.contains_key(&i.to_string())));
}

async fn no_loss_and_no_duplicates_at_a_low_rate(under: Sut) {
    let (sub, url) = Subscriber::start(Behaviour::default()).await;
    let (never, never_url) = Subscriber::start(Behaviour::default()).await;
    let sut = UnderTest::start(under, Setup::new(&[url], &never_url, 3)).await;
    let statuses = sut.publish(300, Duration::from_millis(2), &[]).await;
    assert!(
        statuses.iter().all(|&s| s == 202),
        "{under:?}: {statuses:?}"
    );
    let c = sut.settle(|c| c.delivered == 300).await;
    exactly_once(&sub.taken_ids(), 300);
    assert_eq!(
        never.attempts_total(),
        0,
        "{under:?}: a trigger that never matches delivered"
    );
    assert_eq!(
        (c.accepted, c.routed, c.delivered, c.retried, c.dropped),
        (300, 300, 300, 0, 0),
        "{under:?}"
    );
    let end = sut.shutdown().await;
    assert_eq!(end.routed, end.delivered + end.dead_lettered + end.dropped);
}

async fn fan_out_delivers_every_event_to_every_subscriber_once(under: Sut) {
    let mut subs = Vec::new();
    let mut urls = Vec::new();
    for _ in 0..3 {
        let (s, u) = Subscriber::start(Behaviour::default()).await;
        subs.push(s);
        urls.push(u);
    }
    let (never, never_url) = Subscriber::start(Behaviour::default()).await;
    let sut = UnderTest::start(under, Setup::new(&urls, &never_url, 3)).await;
    sut.publish(200, Duration::ZERO, &[]).await;
    let c = sut.settle(|c| c.delivered == 600).await;
    for s in &subs {
        exactly_once(&s.taken_ids(), 200);
    }
    assert_eq!(never.attempts_total(), 0, "{under:?}");
    assert_eq!(
        (c.accepted, c.routed, c.delivered),
        (200, 600, 600),
        "{under:?}"
    );
    sut.shutdown().await;
}

async fn failing_subscribers_are_retried_then_dead_lettered(under: Sut) {
    let n = 50;
    // Recovers on the third attempt: retried twice, delivered once.
    let flaky = Behaviour {
        fail_first: 2,
        status: 503,
        ..Behaviour::default()
    };
    let (recovering, recovering_url) = Subscriber::start(flaky).await;
    // Always 500: three attempts with retry 2, then the dead-letter sink.
    let broken = Behaviour {
        fail_first: u32::MAX,
        status: 500,
        ..Behaviour::default()
    };
    let (failing, failing_url) = Subscriber::start(broken).await;
    let (dls, dls_url) = Subscriber::start(Behaviour::default()).await;
    let (never, never_url) = Subscriber::start(Behaviour::default()).await;
    let sut = UnderTest::start(
        under,
        Setup {
            delivery: fast_retries(2, Some(dls_url)),
            ..Setup::new(&[recovering_url, failing_url.clone()], &never_url, 0)
        },
    )
    .await;
    sut.publish(n, Duration::ZERO, &[]).await;
    let c = sut
        .settle(|c| c.delivered + c.dead_lettered == 2 * n as u64)
        .await;
    exactly_once(&recovering.taken_ids(), n);
    assert_eq!(recovering.attempts_total(), 3 * n as u32, "{under:?}");
    assert_eq!(failing.attempts_total(), 3 * n as u32, "{under:?}");
    exactly_once(&dls.taken_ids(), n);
    let codes: Vec<_> = dls
        .taken
        .lock()
        .unwrap()
        .iter()
        .map(|t| t.2.clone())
        .collect();
    assert!(
        codes.iter().all(|c| c.as_deref() == Some("500")),
        "{codes:?}"
    );
    assert_eq!(never.attempts_total(), 0);
    assert_eq!(
        (c.delivered, c.retried, c.dead_lettered, c.dropped),
        (n as u64, 4 * n as u64, n as u64, 0),
        "{under:?}"
    );
    sut.shutdown().await;
}

async fn a_client_error_is_not_retried_and_no_sink_means_dropped(under: Sut) {
    let refusing = Behaviour {
        fail_first: u32::MAX,
        status: 400,
        ..Behaviour::default()
    };
    let (sub, url) = Subscriber::start(refusing).await;
    let (_, never_url) = Subscriber::start(Behaviour::default()).await;
    let sut = UnderTest::start(under, Setup::new(&[url], &never_url, 5)).await;
    sut.publish(40, Duration::ZERO, &[]).await;
    let c = sut.settle(|c| c.dropped == 40).await;
    assert_eq!(sub.attempts_total(), 40, "{under:?}: a 400 is final");
    assert_eq!((c.retried, c.dead_lettered, c.delivered), (0, 0, 0));
    sut.shutdown().await;
}

async fn a_full_queue_answers_503_and_holds_no_more(under: Sut) {
    let (release, stall) = watch::channel(true);
    let stalled = Behaviour {
        stall: Some(stall),
        ..Behaviour::default()
    };
    let (sub, url) = Subscriber::start(stalled).await;
    let (_, never_url) = Subscriber::start(Behaviour::default()).await;
    let capacity = 50;
    let sut = UnderTest::start(
        under,
        Setup {
            capacity,
            ..Setup::new(&[url], &never_url, 0)
        },
    )
    .await;
    let statuses = sut.publish(200, Duration::ZERO, &[]).await;
    let accepted = statuses.iter().filter(|&&s| s == 202).count();
    let refused = statuses.iter().filter(|&&s| s == 503).count();
    if under.on_kafka() {
        // Kafka keeps what it acknowledged: all 200 are taken, and the
        // dispatcher holds no more than its capacity in flight.
        assert_eq!((accepted, refused), (200, 0), "{under:?}");
        let c = sut.settle_busy(capacity as u64).await;
        assert_eq!(
            (c.queued, c.routed),
            (capacity as u64, capacity as u64),
            "{under:?}"
        );
    } else {
        assert_eq!((accepted, refused), (capacity, 200 - capacity), "{under:?}");
        let c = sut.counters();
        assert_eq!(
            (c.queued, c.backpressured),
            (capacity as u64, 150),
            "{under:?}"
        );
    }
    release.send_replace(false);
    let c = sut.settle(|c| c.delivered == accepted as u64).await;
    exactly_once(&sub.taken_ids(), accepted);
    assert_eq!(c.queued, 0);
    // With room again, events are taken.
    let again = sut.publish(10, Duration::ZERO, &[]).await;
    assert!(again.iter().all(|&s| s == 202), "{again:?}");
    sut.shutdown().await;
}

async fn shutdown_drains_what_it_can_then_accounts_for_the_rest(under: Sut) {
    // A healthy subscriber: shutdown delivers what it holds first. A
    // Kafka SUT stops reading: what it did not read stays in the topic,
    // uncommitted, and the next consumer of the group delivers it.
    let (sub, url) = Subscriber::start(Behaviour::default()).await;
    let (_, never_url) = Subscriber::start(Behaviour::default()).await;
    let topic = fresh_topic();
    if under.on_kafka() {
        kafka::admin::create_topic(&kafka().await, &topic, 4, 1)
            .await
            .unwrap();
    }
    let group = under.on_kafka().then_some((topic.as_str(), "g"));
    let route = |url: &str| Route {
        name: "only".into(),
        subscriber: url.to_string(),
        filter: Filter::everything(),
        delivery: fast_retries(3, None),
    };
    let sut = start_plane(
        under,
        vec![route(&url)],
        1000,
        Duration::from_secs(5),
        group,
    )
    .await;
    let ingress = sut.ingress.clone();
    sut.publish(100, Duration::ZERO, &[]).await;
    let end = sut.shutdown().await;
    assert_eq!(end.dropped, 0, "{under:?}");
    assert_eq!(end.routed, end.delivered, "{under:?}");
    if under.on_kafka() {
        let (rest, rest_url) = Subscriber::start(Behaviour::default()).await;
        let again = start_plane(
            under,
            vec![route(&rest_url)],
            1000,
            Duration::from_secs(5),
            group,
        )
        .await;
        again.settle(|c| c.delivered == 100 - end.delivered).await;
        again.shutdown().await;
        let mut all = sub.taken_ids();
        for (id, n) in rest.taken_ids() {
            *all.entry(id).or_default() += n;
        }
        exactly_once(&all, 100);
    } else {
        assert_eq!(end.delivered, 100, "{under:?}");
        exactly_once(&sub.taken_ids(), 100);
    }
    let addr: std::net::SocketAddr = ingress
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still listening"
    );

    // A stalled subscriber: after the grace period the rest is dropped, counted.
    let (_release, stall) = watch::channel(true);
    let stalled = Behaviour {
        stall: Some(stall),
        ..Behaviour::default()
    };
    let (_, url) = Subscriber::start(stalled).await;
    let sut = UnderTest::start(
        under,
        Setup {
            grace: Duration::from_millis(200),
            ..Setup::new(&[url], &never_url, 3)
        },
    )
    .await;
    sut.publish(30, Duration::ZERO, &[]).await;
    let began = std::time::Instant::now();
    let end = sut.shutdown().await;
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    // Kafka: whatever it read is dropped (uncommitted; see the commit test).
    let read = if under.on_kafka() { end.routed } else { 30 };
    assert_eq!(
        (end.routed, end.delivered, end.dropped, end.queued),
        (read, 0, read, 0),
        "{under:?}"
    );
}

async fn what_is_not_a_cloudevent_gets_a_4xx_and_the_sut_keeps_going(under: Sut) {
    // A source has no ingress; what it reads is a record, CloudEvent or not.
    let (sub, url) = Subscriber::start(Behaviour::default()).await;
    let (_, never_url) = Subscriber::start(Behaviour::default()).await;
    let sut = UnderTest::start(
        under,
        Setup {
            capacity: 100,
            ..Setup::new(&[url], &never_url, 0)
        },
    )
    .await;
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    for (content_type, body, want) in [
        ("text/plain", "hello", 400),
        ("application/cloudevents+json", "{\"id\":\"1\"}", 400),
        ("application/cloudevents-batch+json", "[]", 415),
    ] {
        let req = Request::post(&sut.ingress)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let status = client.request(req).await.unwrap().status().as_u16();
        assert_eq!(status, want, "{under:?} {content_type}");
    }
    let structured = r#"{"specversion":"1.0","id":"s1","source":"/c","type":"dev.brokerbench.conformance","data":"x"}"#;
    let req = Request::post(&sut.ingress)
        .header("content-type", "application/cloudevents+json")
        .body(Full::new(Bytes::from(structured)))
        .unwrap();
    assert_eq!(client.request(req).await.unwrap().status().as_u16(), 202);
    sut.publish(5, Duration::ZERO, &[]).await;
    let c = sut.settle(|c| c.delivered == 6).await;
    assert_eq!((c.rejected, c.accepted), (3, 6), "{under:?}");
    assert_eq!(sub.taken_ids().len(), 6);
    let ready = client
        .get(format!("{}readyz", sut.ingress).parse().unwrap())
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    sut.shutdown().await;
}

async fn broker_replies_come_back_in_and_loops_end_at_the_hop_limit(under: Sut) {
    // Trigger 1 (type conformance) replies with type "reply"; trigger 2
    // (type reply) takes it.
    let replying = Behaviour {
        reply_type: Some("dev.brokerbench.reply".into()),
        ..Behaviour::default()
    };
    let (first, first_url) = Subscriber::start(replying).await;
    let (second, second_url) = Subscriber::start(Behaviour::default()).await;
    let ty = |t: &str| Filter::Exact(BTreeMap::from([("type".into(), t.to_string())]));
    let routes = vec![
        Route {
            name: "t1".into(),
            subscriber: first_url,
            filter: ty(EVENT_TYPE),
            delivery: fast_retries(3, None),
        },
        Route {
            name: "t2".into(),
            subscriber: second_url,
            filter: ty("dev.brokerbench.reply"),
            delivery: fast_retries(3, None),
        },
    ];
    let sut = start_plane(under, routes, 1000, Duration::from_secs(5), None).await;
    sut.publish(20, Duration::ZERO, &[]).await;
    let c = sut.settle(|c| c.delivered == 40 && c.replies == 20).await;
    assert_eq!((c.replies, c.delivered), (20, 40), "{under:?}");
    exactly_once(&first.taken_ids(), 20);
    let replies = second.taken_ids();
    assert_eq!(replies.len(), 20);
    assert!(replies.keys().all(|k| k.starts_with("reply-")));
    sut.shutdown().await;

    // A subscriber that answers every event with another of the same
    // type: the loop ends when the hop count (5 here) runs out.
    let echo = Behaviour {
        reply_type: Some(EVENT_TYPE.into()),
        ..Behaviour::default()
    };
    let (echoing, echo_url) = Subscriber::start(echo).await;
    let routes = vec![Route {
        name: "loop".into(),
        subscriber: echo_url,
        filter: ty(EVENT_TYPE),
        delivery: fast_retries(0, None),
    }];
    let sut = start_plane(under, routes, 1000, Duration::from_secs(5), None).await;
    publish(
        &sut.ingress,
        1,
        Duration::ZERO,
        &[("ce-knativebrokerttl", "5")],
    )
    .await;
    let c = sut.settle(|c| c.delivered == 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!((c.replies, c.delivered), (4, 5), "{under:?}: {c:?}");
    assert_eq!(echoing.attempts_total(), 5);
    sut.shutdown().await;
}

async fn kafka_commits_only_what_was_delivered_so_a_restart_skips_nothing(under: Sut) {
    let (release, stall) = watch::channel(true);
    let (_, stalled_url) = Subscriber::start(Behaviour {
        stall: Some(stall),
        ..Behaviour::default()
    })
    .await;
    let topic = fresh_topic();
    kafka::admin::create_topic(&kafka().await, &topic, 4, 1)
        .await
        .unwrap();
    let route = |url: &str| Route {
        name: "only".into(),
        subscriber: url.to_string(),
        filter: Filter::everything(),
        delivery: fast_retries(0, None),
    };
    // 30 events are read and stuck at a stalled subscriber; shutdown
    // drops them without committing.
    let sut = start_plane(
        under,
        vec![route(&stalled_url)],
        1000,
        Duration::from_millis(200),
        Some((&topic, "g")),
    )
    .await;
    sut.publish(30, Duration::ZERO, &[]).await;
    sut.settle_busy(30).await;
    let end = sut.shutdown().await;
    assert_eq!(
        (end.routed, end.delivered, end.dropped),
        (30, 0, 30),
        "{under:?}"
    );
    release.send_replace(false);
    // The same consumer group again: every one of the 30 comes back.
    let (sub, url) = Subscriber::start(Behaviour::default()).await;
    let sut = start_plane(
        under,
        vec![route(&url)],
        1000,
        Duration::from_secs(5),
        Some((&topic, "g")),
    )
    .await;
    sut.settle(|c| c.delivered == 30).await;
    exactly_once(&sub.taken_ids(), 30);
    let end = sut.shutdown().await;
    assert_eq!(end.delivered, 30);
}

/// A broker that refuses to create the topic asked for: here, because one of
/// that name exists with other partitions (tansu accepts any new topic).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_that_exists_with_other_partitions_is_refused_clearly() {
    let (bootstrap, topic) = (kafka().await, fresh_topic());
    kafka::admin::create_topic(&bootstrap, &topic, 3, 1)
        .await
        .unwrap();
    // The same partitions: reused, as a restarted standalone SUT does.
    kafka::admin::create_topic(&bootstrap, &topic, 3, 1)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let e = kafka::admin::create_topic(&bootstrap, &topic, 5, 1)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!("topic {topic:?} was not created: it already exists with 3 partitions, not the 5 asked for")
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "refused at once, not after the metadata wait: {:?}",
        started.elapsed()
    );
}

/// A second consumer joins the group mid-stream: the partitions are shared
/// out again, every event is still delivered, and once both stop every
/// partition's offset is committed to its end, so a third consumer of the
/// group finds nothing left to deliver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_loses_nothing_and_leaves_every_offset_committed() {
    let topic = fresh_topic();
    kafka::admin::create_topic(&kafka().await, &topic, 4, 1)
        .await
        .unwrap();
    let (sub, url) = Subscriber::start(Behaviour::default()).await;
    let routes = || {
        vec![Route {
            name: "only".into(),
            subscriber: url.clone(),
            filter: Filter::everything(),
            delivery: fast_retries(3, None),
        }]
    };
    let start = || {
        start_plane(
            Sut::ChannelKafka,
            routes(),
            1000,
            Duration::from_secs(5),
            Some((&topic, "g")),
        )
    };
    let a = start().await;
    let ingress = a.ingress.clone();
    let first = publish_ids(&ingress, 0..100, Duration::ZERO, &[]).await;
    assert!(first.iter().all(|&s| s == 202));
    // The second joins (it is ready once it has partitions), then the rest
    // is published.
    let b = start().await;
    let rest = publish_ids(&ingress, 100..300, Duration::from_millis(2), &[]).await;
    assert!(rest.iter().all(|&s| s == 202));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while sub.taken_ids().len() < 300 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ids = sub.taken_ids();
    let missing: Vec<usize> = (0..300)
        .filter(|i| !ids.contains_key(&i.to_string()))
        .collect();
    assert!(missing.is_empty(), "never delivered: {missing:?}");
    let (ea, eb) = (a.shutdown().await, b.shutdown().await);
    assert!(
        ea.delivered > 0 && eb.delivered > 0,
        "both consumed: {ea:?} {eb:?}"
    );
    assert_eq!(
        ea.delivered + eb.delivered,
        sub.taken.lock().unwrap().len() as u64
    );
    // A third consumer of the group: nothing is left uncommitted.
    let taken = sub.taken.lock().unwrap().len();
    let c = start().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ec = c.shutdown().await;
    assert_eq!(
        (ec.routed, sub.taken.lock().unwrap().len()),
        (0, taken),
        "redelivered after both committed"
    );
}

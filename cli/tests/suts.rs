//! The in-memory SUTs end to end, as `brokerbench run --sut channel-imc|
//! broker-imc` wires them: sender -> SUT -> receiver on real loopback HTTP.
//! Counts are exact: every delivery of every event, the SUT's own counters,
//! and the accounting invariants with fan-out.

mod common;

use common::{assert_accounting, run, words};

/// Warmup events the SUT also counted (the suite's warmup goes through it).
fn warmup(s: &brokerbench_aggregator::model::Summary) -> u64 {
    s.totals.warmup_sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_imc_delivers_every_event_to_each_subscriber_once() {
    let f = run(&words("--sut channel-imc --subscribers 3 --pace 500:2")).await;
    let s = &f.results.summary;
    assert_accounting(&f, Some(1000));
    assert_eq!(
        (s.plan.scenario.as_str(), s.plan.copies),
        ("channel-imc", 3)
    );
    assert_eq!((s.totals.sent, s.totals.accepted), (1000, 1000));
    assert_eq!(
        (s.totals.delivered, s.totals.lost, s.totals.duplicates),
        (3000, 0, 0)
    );
    let sut = s.sut.expect("the SUT's counters are in the summary");
    assert_eq!(sut.accepted, 1000 + warmup(s));
    assert_eq!(sut.routed, 3 * sut.accepted);
    assert_eq!(
        (sut.delivered, sut.retried, sut.dropped, sut.rejected),
        (sut.routed, 0, 0, 0)
    );
    assert!(sut.cpu_ns > 0, "the SUT's CPU is measured");
    assert!(s.breaking_point.is_none(), "{:?}", s.breaking_point);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_imc_delivers_through_matching_triggers_only() {
    let f = run(&words("--sut broker-imc --triggers 5 --matching 2 --pace 400:2 --warmup-seconds 1 --warmup-rate 100"))
    .await;
    let s = &f.results.summary;
    assert_accounting(&f, Some(800));
    assert_eq!(s.plan.copies, 2);
    assert_eq!(
        (s.totals.accepted, s.totals.delivered, s.totals.lost),
        (800, 1600, 0)
    );
    assert_eq!((s.totals.duplicates, s.totals.rejected), (0, 0));
    let sut = s.sut.unwrap();
    assert_eq!(s.totals.warmup_sent, 100);
    assert_eq!(sut.accepted, 900);
    assert_eq!((sut.routed, sut.delivered), (1800, 1800));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_behind_a_sut_is_counted_per_delivery() {
    // The receiver swallows every 25th event on each copy: 2 copies × 40.
    let f = run(&words(
        "--sut channel-imc --subscribers 2 --pace 500:2 --fault receiver-drop@0+60:25",
    ))
    .await;
    let s = &f.results.summary;
    assert_accounting(&f, Some(1000));
    assert_eq!((s.totals.delivered, s.totals.lost), (1920, 80));
    let lost = brokerbench_aggregator::output::read_lost(
        &std::fs::read_to_string(f.dir.join("lost.tsv")).unwrap(),
    );
    let want: Vec<(u32, u32, u64)> = (0..2u32)
        .flat_map(|c| {
            (0..1000u64)
                .filter(|q| q % 25 == 24)
                .map(move |q| (0, c, q))
        })
        .collect();
    assert_eq!(lost, want);
    // The SUT delivered them all: the loss is past it.
    assert_eq!(s.sut.unwrap().delivered, 2 * (1000 + s.totals.warmup_sent));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sut_summary_matches_the_committed_schema() {
    let f = run(&["--sut", "broker-imc", "--pace", "200:1"]).await;
    let summary = common::valid_summary(&f.dir);
    assert_eq!(
        summary["sut"]["delivered"],
        200 + f.results.summary.totals.warmup_sent
    );
    let report = std::fs::read_to_string(f.dir.join("report.md")).unwrap();
    assert!(report.contains("SUT: accepted"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kafka_suts_deliver_every_event_once_through_a_real_broker() {
    for (sut, extra) in [
        // On the local broker, without partition keys by default: records
        // go without a key, so the producer batches them freely.
        ("channel-kafka", &["--subscribers", "2"][..]),
        (
            "broker-kafka",
            &[
                "--triggers",
                "3",
                "--matching",
                "2",
                "--delivery-order",
                "ordered",
                "--partition-keys",
                "100",
            ][..],
        ),
        ("source-kafka", &["--partition-keys", "100"][..]),
    ] {
        let mut args = vec![
            "--sut",
            sut,
            "--pace",
            "300:2",
            "--partitions",
            "8",
            "--pacer",
            "sleep",
        ];
        args.extend_from_slice(extra);
        args.extend(["--warmup-seconds", "1", "--warmup-rate", "100"]);
        let f = run(&args).await;
        let s = &f.results.summary;
        assert_accounting(&f, Some(600));
        let copies = if sut == "source-kafka" { 1 } else { 2 };
        assert_eq!(s.plan.copies, copies, "{sut}");
        assert_eq!((s.totals.sent, s.totals.accepted), (600, 600), "{sut}");
        assert_eq!(
            (s.totals.delivered, s.totals.lost, s.totals.duplicates),
            (600 * copies as u64, 0, 0),
            "{sut}"
        );
        assert_eq!(
            s.plan.partition_keys,
            if sut == "channel-kafka" { 0 } else { 100 }
        );
        let c = s.sut.expect("the SUT's counters");
        assert_eq!(c.accepted, 700, "{sut}: warmup and measured events");
        if sut != "channel-kafka" {
            // Ordered delivery: one event in flight per partition, and a
            // partition key always maps to one partition.
            assert_eq!(s.totals.reordered, 0, "{sut}");
        }
        assert_eq!(
            (c.routed, c.delivered),
            (700 * copies as u64, 700 * copies as u64),
            "{sut}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_kafka_is_one_clear_error() {
    let err = brokerbench_local::run::run(
        common::config(&[
            "--sut",
            "channel-kafka",
            "--kafka-bootstrap",
            "127.0.0.1:1",
            "--pace",
            "10:1",
        ]),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect_err("no run without Kafka")
    .to_string();
    assert!(err.contains("Kafka at 127.0.0.1:1 is unreachable"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_sink_is_measured_with_the_receiver_reading_its_topic() {
    // The SUT: an HTTP ingress that writes every event to a topic (a
    // channel-kafka data plane with no subscriptions: a Kafka sink).
    use brokerbench_sut::kafka::{admin, local::LocalKafka, plane};
    let broker = LocalKafka::start().await.unwrap();
    admin::create_topic(&broker.bootstrap, "sink", 4, 1)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_url = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let sink = plane::start(
        plane::KafkaPlaneConfig {
            sut: brokerbench_sut::Sut::ChannelKafka,
            routes: Vec::new(),
            bootstrap: broker.bootstrap.clone(),
            settings: Vec::new(),
            topic: "sink".into(),
            group_prefix: "sink".into(),
            ordered: false,
            capacity: 10_000,
            connections: 1,
            fetch_wait: std::time::Duration::from_millis(5),
            linger: std::time::Duration::from_millis(5),
            max_event_bytes: 1 << 20,
            grace: std::time::Duration::from_secs(1),
            fault_token: None,
            instance: None,
        },
        listener,
        brokerbench_core::cpu::ThreadCpu::default(),
        stop.clone(),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let f = run(&[
        "--target",
        &format!("{sink_url}/"),
        "--sut-url",
        &sink_url,
        "--receiver-listen",
        &format!("127.0.0.1:{port}"),
        "--from-kafka",
        "sink",
        "--kafka-bootstrap",
        &broker.bootstrap,
        "--pace",
        "300:2",
        "--pacer",
        "sleep",
    ])
    .await;
    let s = &f.results.summary;
    assert_accounting(&f, Some(600));
    assert_eq!(
        (
            s.totals.sent,
            s.totals.accepted,
            s.totals.delivered,
            s.totals.lost
        ),
        (600, 600, 600, 0)
    );
    assert_eq!(s.totals.duplicates, 0);
    assert_eq!(s.sut.unwrap().accepted, 600);
    stop.cancel();
    sink.done.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_broker_killed_mid_run_still_leaves_every_event_accounted_for() {
    use brokerbench_sut::kafka::local::LocalKafka;
    let broker = LocalKafka::start().await.unwrap();
    let bootstrap = broker.bootstrap.clone();
    let run = tokio::spawn(async move {
        brokerbench_local::run::run(
            common::config(&[
                "--sut",
                "channel-kafka",
                "--kafka-bootstrap",
                &bootstrap,
                "--partitions",
                "4",
                "--pace",
                "200:4",
                "--pacer",
                "sleep",
                "--request-timeout",
                "2",
            ]),
            tokio_util::sync::CancellationToken::new(),
        )
        .await
    });
    // Warmup 0 s, start 300 ms ahead: about 1.5 s into the schedule.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    broker.kill();
    let f = tokio::time::timeout(std::time::Duration::from_secs(90), run)
        .await
        .expect("the run ends")
        .unwrap()
        .expect("results are written");
    let s = &f.results.summary;
    assert_accounting(&f, Some(800));
    assert_eq!(s.totals.sent, 800, "every event was released");
    assert!(
        s.totals.failed > 0,
        "writes to a dead broker fail: {:?}",
        s.totals
    );
    assert!(s.totals.accepted >= 100, "{:?}", s.totals);
    assert!(f.dir.join("summary.json").is_file());
    assert!(s.breaking_point.is_some());
}

/// `--kafka-config` reaches librdkafka: a producer limit below the event
/// size makes the source's sender refuse every measured event (counted as
/// failed, none delivered), where the same run without it delivers them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_config_reaches_the_clients_librdkafka() {
    let args = [
        "--sut",
        "source-kafka",
        "--pace",
        "100:1",
        "--partitions",
        "2",
        "--pacer",
        "sleep",
        "--kafka-config",
        "message.max.bytes=4000",
    ];
    let f = run(&args).await;
    let t = &f.results.summary.totals;
    assert_eq!(
        (t.sent, t.accepted, t.failed, t.delivered),
        (100, 0, 100, 0),
        "{t:?}"
    );
}

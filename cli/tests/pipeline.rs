//! The direct scenario end to end on real loopback HTTP: sender, receiver and
//! aggregator in one process, as `brokerbench run` wires them. Every test
//! asserts exact counts and the accounting invariants.

mod common;

use brokerbench_aggregator::model::Limit;
use brokerbench_core::histogram::Percentiles;
use brokerbench_core::latency::LatencyKind;
use brokerbench_local::run::run as run_local;
use common::{assert_accounting, config, run, words};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_delivered_once_at_a_low_rate() {
    let f = run(&["--pace", "500:2,1000:1"]).await;
    let s = &f.results.summary;
    assert_accounting(&f, Some(2000));
    assert_eq!(s.totals.sent, 2000);
    assert_eq!(
        (s.totals.accepted, s.totals.delivered, s.totals.lost),
        (2000, 2000, 0)
    );
    assert_eq!(
        (s.totals.duplicates, s.totals.unexpected, s.totals.rejected),
        (0, 0, 0)
    );
    assert_eq!(s.steps.len(), 2);
    assert_eq!(
        (s.steps[0].totals.sent, s.steps[1].totals.sent),
        (1000, 1000)
    );
    assert_eq!(s.steps[1].delivery_rps, 1000.0);
    assert!(s.breaking_point.is_none(), "{:?}", s.breaking_point);
    for st in &s.steps {
        let cpu = st.receiver_cpu.expect("receiver CPU sampled every second");
        assert!(
            cpu > 0.0 && cpu < 1.5,
            "step {}: receiver CPU share {cpu}",
            st.step
        );
        let steal = st.host_steal.expect("host steal sampled every second");
        assert!((0.0..=1.0).contains(&steal), "step {}: {steal}", st.step);
    }
    let steal = s.host_steal.expect("the run's host steal");
    assert!((0.0..=1.0).contains(&steal), "{steal}");
    let series = std::fs::read_to_string(f.dir.join("series.tsv")).unwrap();
    let rows: Vec<&str> = series.lines().collect();
    assert!(
        rows[0].starts_with("second\tstep\ttarget_rps\tsent_per_s\tdelivered_per_s"),
        "{}",
        rows[0]
    );
    assert!(rows.len() >= 4, "a row per second: {rows:?}");
    let targets: Vec<&str> = rows[1..4]
        .iter()
        .map(|r| r.split('\t').nth(2).unwrap())
        .collect();
    assert_eq!(targets, ["500", "500", "1000"]);
    let sent: u64 = rows[1..]
        .iter()
        .map(|r| r.split('\t').nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(sent, 2000, "series sent_per_s sums to the total");
    let steal = rows[0]
        .split('\t')
        .position(|c| c == "host_steal_pct")
        .expect("a host_steal_pct column");
    assert!(
        rows[1..4]
            .iter()
            .all(|r| r.split('\t').nth(steal).unwrap() != "NaN"),
        "every measured second has its steal: {rows:?}"
    );
    // One clock here: no clock figures, said as NaN.
    let clock = rows[0]
        .split('\t')
        .position(|c| c == "clock_uncertainty_ms")
        .unwrap();
    assert_eq!(rows[1].split('\t').nth(clock), Some("NaN"));
    let steps = std::fs::read_to_string(f.dir.join("steps.tsv")).unwrap();
    assert_eq!(steps.lines().count(), 3, "header and one row per step");
    assert!(
        steps.starts_with("step\t") && steps.lines().next().unwrap().ends_with("\tholds"),
        "{steps}"
    );
    assert!(
        steps
            .lines()
            .all(|l| l.split('\t').count() == brokerbench_aggregator::columns::step_columns().len()),
        "as many values as columns: {steps}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_dropping_every_50th_event_loses_exactly_those() {
    let f = run(&["--pace", "1000:2", "--fault", "receiver-drop@0+60:50"]).await;
    let s = &f.results.summary;
    assert_accounting(&f, Some(2000));
    assert_eq!((s.totals.sent, s.totals.accepted), (2000, 2000));
    assert_eq!(s.totals.lost, 40);
    assert_eq!(s.totals.delivered, 1960);
    let lost = brokerbench_aggregator::output::read_lost(
        &std::fs::read_to_string(f.dir.join("lost.tsv")).unwrap(),
    );
    let want: Vec<(u32, u32, u64)> = (0..2000u64)
        .filter(|q| q % 50 == 49)
        .map(|q| (0, 0, q))
        .collect();
    assert_eq!(lost, want);
    let series_lost: u64 = f.results.series.iter().map(|r| r.lost).sum();
    assert_eq!(series_lost, 40);
    assert_eq!(
        (f.results.series[0].lost, f.results.series[1].lost),
        (20, 20)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_counted_apart_from_deliveries() {
    let f = run(&["--pace", "1000:2", "--fault-duplicate-every", "10"]).await;
    let s = &f.results.summary;
    assert_accounting(&f, Some(2000));
    assert_eq!(s.totals.duplicates, 200);
    assert_eq!(
        s.totals.delivered, 2000,
        "a duplicate is not an extra delivery"
    );
    assert_eq!(s.totals.lost, 0);
    let dups: u64 = f.results.series.iter().map(|r| r.duplicates).sum();
    assert_eq!(dups, 200);
}

/// The receiver holds every request arriving in [t0+1s, t0+2s) for 1 s.
const STALL: [&str; 6] = [
    "--pace",
    "1000:3",
    "--fault",
    "receiver-stall@1+1",
    "--request-timeout",
    "5",
];

fn p(f: &brokerbench_aggregator::Finished, kind: LatencyKind) -> Percentiles {
    f.results.summary.latency_ms.get(kind).unwrap()
}

/// Open loop under a stall: every event that finds all connections busy
/// gets a new one, so the receiver keeps being offered 1,000 events a
/// second while it holds its answers; nothing waits for a connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_receiver_keeps_getting_the_planned_load_on_new_connections() {
    let f = run(&[&STALL[..], &["--connections", "16"]].concat()).await;
    let s = &f.results.summary;
    assert_accounting(&f, Some(3000));
    assert_eq!((s.totals.accepted, s.totals.lost), (3000, 0));
    let sent: Vec<u64> = f.results.series.iter().take(3).map(|r| r.sent).collect();
    assert!(
        sent.iter().all(|&n| (900..=1100).contains(&n)),
        "sent {sent:?} per second: the stall did not slow the sender"
    );
    let opened = f.results.series[1].connections_opened;
    assert!(
        opened >= 800,
        "{opened} connections opened during the stall"
    );
    assert_eq!(
        s.connections.initial + s.connections.opened,
        16 + f
            .results
            .series
            .iter()
            .map(|r| r.connections_opened)
            .sum::<u64>()
    );
    assert!(s.connections.peak >= 800, "{:?}", s.connections);
    assert!(p(&f, LatencyKind::Publish).p99_99 >= 1000.0, "held events");
    assert!(
        p(&f, LatencyKind::PublishRaw).p99 >= 1000.0,
        "held once asked"
    );
    let wait = p(&f, LatencyKind::ConnectionWait);
    assert!(
        wait.p99 < 100.0,
        "no event waited for a connection: {wait:?}"
    );
}

/// With the pool capped, events wait for a connection: the wait shows as
/// connection wait and in publish latency from intended time (not in the
/// raw figure), and none of it is blamed on the generator, whose pacer
/// stayed on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_pool_shows_connection_wait_and_blames_no_generator() {
    let f = run(&[
        &STALL[..],
        &["--connections", "16", "--max-connections", "16"],
    ]
    .concat())
    .await;
    let s = &f.results.summary;
    assert_accounting(&f, Some(3000));
    assert_eq!(
        (s.totals.accepted, s.totals.lost, s.connections.opened),
        (3000, 0, 0)
    );
    let publish = p(&f, LatencyKind::Publish).p99;
    assert!(publish >= 500.0);
    // Most of it is before sending: the raw figure (from the actual send)
    // is a fraction of it (a loaded machine slows the burst after the
    // stall, so the bound is relative).
    let raw = p(&f, LatencyKind::PublishRaw).p99;
    assert!(
        raw * 3.0 < publish,
        "the wait is before sending: raw {raw}, publish {publish}"
    );
    let wait = p(&f, LatencyKind::ConnectionWait);
    assert!(wait.p99 >= 500.0, "{wait:?}");
    let lag = p(&f, LatencyKind::ScheduleLag);
    assert!(lag.p99 >= 500.0, "schedule lag is the sum: {lag:?}");
    // The pacer kept time, next to the wait (on a machine shared with
    // other tests its lag is milliseconds, the wait seconds).
    let pacer = p(&f, LatencyKind::PacerLag);
    assert!(
        pacer.p99 * 5.0 < wait.p99,
        "the pacer was on time: {pacer:?}"
    );
    for st in &s.steps {
        let lagging = st.latency_ms.get(LatencyKind::PacerLag).unwrap().p99_99 > 1.0;
        assert_eq!(
            st.generator_limited, lagging,
            "only pacer lag flags step {}",
            st.step
        );
    }
    if let Some(bp) = &s.breaking_point {
        assert_ne!(bp.limited_by, Limit::Generator, "{bp:?}");
    }
}

/// Past the in-flight bound events fail without leaving: the step is
/// flagged (the generator held load back), the table says how many never
/// left, and the breaking point still blames the SUT that stalled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_held_back_at_the_inflight_bound_flag_the_step() {
    let f = run(&[&STALL[..], &["--max-inflight", "100"]].concat()).await;
    let s = &f.results.summary;
    assert_accounting(&f, Some(3000));
    let held = s.failures.inflight_limit;
    assert!(held >= 500, "{:?}", s.failures);
    assert_eq!(s.totals.unsent, held, "they never left");
    assert!(s.steps[0].generator_limited);
    let bp = s.breaking_point.as_ref().expect("failures break the step");
    assert_eq!(bp.limited_by, Limit::Sut);
    let table = brokerbench_aggregator::table::render(s, "d");
    assert!(
        table.contains(&format!("unsent: {held} of the failed events never left the sender ({held} at the in-flight bound")),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_per_second_for_two_seconds_releases_ten_thousand() {
    // Even spacing is the pacer's own test (sender::pacer); here, the counts
    // through the whole pipeline are exact.
    let f = run(&["--pace", "5000:2"]).await;
    let s = &f.results.summary;
    assert_accounting(&f, Some(10000));
    assert_eq!(
        (s.totals.sent, s.totals.accepted, s.totals.delivered),
        (10_000, 10_000, 10_000)
    );
    assert_eq!(s.steps[0].send_rps, 5000.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmup_is_excluded_from_every_figure() {
    let f = run(&words("--pace 500:1 --warmup-seconds 1 --warmup-rate 300")).await;
    let s = &f.results.summary;
    assert_accounting(&f, Some(500));
    assert_eq!((s.totals.warmup_sent, s.totals.warmup_received), (300, 300));
    assert_eq!((s.totals.sent, s.totals.delivered), (500, 500));
    for kind in LatencyKind::ALL {
        assert_eq!(p(&f, kind).count, 500, "{kind:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structured_mode_is_measured_like_binary() {
    let f = run(&["--pace", "500:1", "--structured"]).await;
    let s = &f.results.summary;
    assert_accounting(&f, Some(500));
    assert_eq!(
        (s.totals.sent, s.totals.delivered, s.totals.rejected),
        (500, 500, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiver_answers_400_to_strangers_and_keeps_going() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let run = tokio::spawn(run_local(
        config(&["--pace", "500:3", "--receiver-listen", &listen]),
        CancellationToken::new(),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let post = |headers: &'static [(&'static str, &'static str)], body: &'static str| {
        let listen = listen.clone();
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(&listen).await.unwrap();
            let mut req = format!(
                "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                req.push_str(&format!("{k}: {v}\r\n"));
            }
            req.push_str("\r\n");
            req.push_str(body);
            s.write_all(req.as_bytes()).await.unwrap();
            let mut resp = String::new();
            s.read_to_string(&mut resp).await.unwrap();
            resp.split(' ').nth(1).unwrap().to_string()
        }
    };
    let ce = |run: &'static str, seq: &'static str| -> &'static [(&'static str, &'static str)] {
        Box::leak(Box::new([
            ("ce-specversion", "1.0"),
            ("ce-id", "x"),
            ("ce-source", "/elsewhere"),
            ("ce-type", "t"),
            ("ce-bbrun", run),
            ("ce-bbsender", "0"),
            ("ce-bbseq", seq),
        ]))
    };
    assert_eq!(post(&[], "hello").await, "400", "not a CloudEvent");
    assert_eq!(
        post(ce("another-run", "1"), "x").await,
        "400",
        "another run"
    );
    let finished = run.await.unwrap().unwrap();
    let s = &finished.results.summary;
    let plan_run = s.plan.run_id.clone();
    assert_eq!(s.rejected.not_cloudevent, 1);
    assert_eq!(s.rejected.foreign, 1);
    assert_accounting(&finished, Some(1500));
    assert_eq!(
        (s.totals.sent, s.totals.delivered, s.totals.lost),
        (1500, 1500, 0),
        "run {plan_run} kept going"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_writes_partial_results() {
    let shutdown = ctrl_c_after(1800);
    let f = run_local(config(&["--pace", "500:10"]), shutdown)
        .await
        .unwrap();
    let s = &f.results.summary;
    assert!(s.interrupted);
    assert_accounting(&f, None);
    // What was on the wire got its answer: nothing reached the receiver
    // unaccounted, and what failed never left.
    assert_eq!(s.totals.unexpected, 0, "{:?}", s.totals);
    assert_eq!(s.totals.failed, s.totals.unsent, "{:?}", s.totals);
    assert!(
        s.totals.sent > 300 && s.totals.sent < 1500,
        "sent {}",
        s.totals.sent
    );
    assert!(f.dir.join("summary.json").is_file());
}

/// A shutdown token cancelled `ms` from now, as Ctrl-C then would.
fn ctrl_c_after(ms: u64) -> CancellationToken {
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        stop.cancel();
    });
    shutdown
}

/// Ctrl-C while the receiver holds every event for 2 s: the events on the
/// wire get their answers (none counted failed, none delivered unknown to
/// the sender), and only what had not left is cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_waits_for_the_events_on_the_wire() {
    let shutdown = ctrl_c_after(2000);
    let stall = ["--fault", "receiver-stall@0.5+2"];
    let f = run_local(
        config(&[&["--pace", "200:10"][..], &stall].concat()),
        shutdown,
    )
    .await
    .unwrap();
    let s = &f.results.summary;
    assert!(s.interrupted);
    assert_accounting(&f, None);
    let t = &s.totals;
    assert_eq!(t.unexpected, 0, "{t:?}");
    assert_eq!(t.failed, t.unsent, "what failed never left: {t:?}");
    assert_eq!(t.lost, 0, "{t:?}");
    assert_eq!(t.delivered_of_accepted, t.accepted, "{t:?}");
    // The held events were answered after the stall, up to 2 s late.
    let publish = s.latency_ms.get(LatencyKind::Publish).unwrap();
    assert!(publish.max >= 1000.0, "{publish:?}");
    assert!(t.accepted >= 200, "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_json_matches_its_committed_schema() {
    let f = run(&["--pace", "200:1,400:1", "--fault", "receiver-drop@0+60:100"]).await;
    let summary = common::valid_summary(&f.dir);
    assert_eq!(summary["totals"]["lost"], 6);
    assert_eq!(summary["steps"].as_array().unwrap().len(), 2);
}

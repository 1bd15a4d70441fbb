//! A results folder as a long run leaves it, without waiting for the run:
//! one sender and one receiver at RATE events/s for SECONDS (default an
//! hour at 1,000/s), every event sent, accepted and delivered with
//! latencies drawn from a seeded bulk-plus-stalls distribution, joined and
//! written by the aggregator's own code. `scripts/bench --plot` times
//! `brokerbench plot` on it.
//!
//! `cargo run --release -p brokerbench-aggregator --example long_results -- DIR [SECONDS] [RATE]`

use brokerbench_aggregator::join::{join, Ending};
use brokerbench_core::bitset::BitSet;
use brokerbench_core::latency::{LatencyKind, MeasuredBy};
use brokerbench_core::plan::RunPlan;
use brokerbench_core::series::LatencyWindows;
use brokerbench_core::shapes::Rng;
use brokerbench_core::wire::*;
use std::collections::BTreeMap;

const S: u64 = 1_000_000_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: long_results DIR [SECONDS] [RATE]";
    let Some(dir) = args.first() else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let number = |i: usize, default: u64| match args.get(i) {
        None => default,
        Some(a) => a.parse().unwrap_or_else(|_| {
            eprintln!("long_results: {a:?} is not a whole number; {usage}");
            std::process::exit(2)
        }),
    };
    let (seconds, rate) = (number(1, 3600), number(2, 1000));
    let plan = RunPlan {
        run_id: "long".into(),
        payload_size: 8192,
        t0_unix_ns: Some(1_700_000_000 * S),
        ..RunPlan::fixture(&format!("{rate}:{seconds}"))
    };
    let schedule = plan.schedule.clone();
    let n = schedule.total_events();
    let mut rng = Rng::new(1);
    // Bulk around 0.3 ms; one event in 2,000 stalled 5-50 ms.
    let mut latency_ns = move || {
        let bulk = 200_000.0 + 200_000.0 * rng.uniform();
        let stall = if rng.below(2000) == 0 {
            5e6 + 45e6 * rng.uniform()
        } else {
            0.0
        };
        (bulk + stall) as u64
    };
    let windows = |role| {
        LatencyKind::of(role)
            .map(|k| (k, LatencyWindows::new(&schedule)))
            .collect::<BTreeMap<_, _>>()
    };
    let (mut sent_w, mut recv_w) = (windows(MeasuredBy::Sender), windows(MeasuredBy::Receiver));
    let mut sender_seconds = vec![SenderSecond::default(); seconds as usize];
    let mut receiver_seconds = vec![ReceiverSecond::default(); seconds as usize + 1];
    let mut accepted = BitSet::new(n);
    for seq in 0..n {
        let second = schedule.second_of(seq).expect("in the schedule");
        let (lag, publish) = (2_000 + seq % 7 * 1_000, latency_ns());
        let e2e = publish.max(latency_ns());
        for (kind, from, to) in [
            (LatencyKind::PacerLag, 0, lag),
            (LatencyKind::ConnectionWait, lag, lag),
            (LatencyKind::ScheduleLag, 0, lag),
            (LatencyKind::Publish, 0, publish),
            (LatencyKind::PublishRaw, lag, publish),
        ] {
            sent_w
                .get_mut(&kind)
                .expect("a sender's")
                .record(second, from, to);
        }
        for (kind, from, to) in [(LatencyKind::E2e, 0, e2e), (LatencyKind::E2eRaw, lag, e2e)] {
            recv_w
                .get_mut(&kind)
                .expect("a receiver's")
                .record(second, from, to);
        }
        accepted.insert(seq);
        sender_seconds[second as usize].sent += 1;
        sender_seconds[second as usize].accepted += 1;
        receiver_seconds[second as usize].delivered += 1;
    }
    let wire = |w: BTreeMap<LatencyKind, LatencyWindows>| {
        w.into_iter().map(|(k, w)| (k, w.to_wire())).collect()
    };
    let sender = SenderReport {
        run_id: plan.run_id.clone(),
        released: n,
        accepted: accepted.clone(),
        seconds: sender_seconds,
        windows: wire(sent_w),
        ..Default::default()
    };
    let receiver = ReceiverReport {
        run_id: plan.run_id.clone(),
        received: vec![accepted],
        seconds: receiver_seconds,
        windows: wire(recv_w),
        threads: 2,
        ..Default::default()
    };
    let results = join(&plan, &[sender], &[receiver], &Ending::complete());
    let dir = std::path::Path::new(dir);
    if let Err(e) = std::fs::create_dir_all(dir)
        .and_then(|_| brokerbench_aggregator::output::write(dir, &results))
    {
        eprintln!("long_results: {}: {e}", dir.display());
        std::process::exit(1);
    }
    println!("{}: {seconds} s at {rate}/s, {n} events", dir.display());
}

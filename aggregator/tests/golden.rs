//! Golden files for the data the gnuplot scripts read: a fixed set of ledgers
//! joined into `series.tsv` and `steps.tsv`, compared byte for byte with
//! `tests/golden/`. After an intended format change, regenerate them with
//! `UPDATE_GOLDEN=1 cargo test -p brokerbench-aggregator --test golden`.

use brokerbench_aggregator::join::{join, Ending};
use brokerbench_aggregator::output::{series_tsv, steps_tsv};
use brokerbench_core::bitset::BitSet;
use brokerbench_core::latency::{LatencyKind, MeasuredBy};
use brokerbench_core::plan::RunPlan;
use brokerbench_core::series::LatencyWindows;
use brokerbench_core::wire::*;

const S: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

/// 3 seconds at 4/s then 2 at 2/s; latencies are fixed functions of seq.
fn fixture() -> (RunPlan, SenderReport, ReceiverReport) {
    let plan = RunPlan {
        run_id: "golden".into(),
        payload_size: 8192,
        t0_unix_ns: Some(1_700_000_000 * S),
        ..RunPlan::fixture("4:3,2:2")
    };
    let schedule = plan.schedule.clone();
    let n = schedule.total_events();
    let (mut accepted, mut received) = (BitSet::new(n), BitSet::new(n));
    let windows = |role| {
        LatencyKind::of(role)
            .map(|k| (k, LatencyWindows::new(&schedule)))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (mut sent_w, mut recv_w) = (windows(MeasuredBy::Sender), windows(MeasuredBy::Receiver));
    let mut sender_seconds = vec![SenderSecond::default(); 5];
    let mut receiver_seconds = vec![ReceiverSecond::default(); 6];
    for seq in 0..n {
        let second = schedule.second_of(seq).unwrap();
        let sec = &mut sender_seconds[second as usize];
        // Stamps after the intended time: released, sent, acked, received.
        let (released, sent) = (seq * 10_000, seq * 10_000 + seq * 100_000);
        let (acked, got) = (MS + seq * 250_000, 2 * MS + seq * 500_000);
        let mut at = |kind, from, to| sent_w.get_mut(&kind).unwrap().record(second, from, to);
        at(LatencyKind::PacerLag, 0, released);
        at(LatencyKind::ConnectionWait, released, sent);
        at(LatencyKind::ScheduleLag, 0, sent);
        sec.sent += 1;
        if seq == 5 {
            sec.failed.add(FailureReason::Status5xx);
            continue;
        }
        if seq % 6 == 1 {
            sec.connections_opened += 1;
        }
        accepted.insert(seq);
        sec.accepted += 1;
        at(LatencyKind::Publish, 0, acked);
        at(LatencyKind::PublishRaw, sent, acked);
        if seq != 9 {
            received.insert(seq);
            receiver_seconds[second as usize + (seq % 2) as usize].delivered += 1;
            let mut at = |kind, from, to| recv_w.get_mut(&kind).unwrap().record(second, from, to);
            at(LatencyKind::E2e, 0, got);
            at(LatencyKind::E2eRaw, sent, got);
        }
    }
    let wire = |w: std::collections::BTreeMap<LatencyKind, LatencyWindows>| {
        w.into_iter().map(|(k, w)| (k, w.to_wire())).collect()
    };
    let sender = SenderReport {
        run_id: "golden".into(),
        index: 0,
        released: n,
        accepted,
        failed: FailureCounts {
            status_5xx: 1,
            ..FailureCounts::default()
        },
        seconds: sender_seconds,
        windows: wire(sent_w),
        connections: ConnectionCounts {
            initial: 4,
            opened: 2,
            peak: 5,
        },
        host: HostReport {
            steal_per_second: vec![0.0, 0.25, 0.5, 0.0, 0.0],
            ..HostReport::default()
        },
        ..Default::default()
    };
    let receiver = ReceiverReport {
        run_id: "golden".into(),
        index: 0,
        received: vec![received],
        duplicates: 0,
        seconds: receiver_seconds,
        windows: wire(recv_w),
        cpu_per_second_ns: vec![250_000_000; 5],
        threads: 2,
        // Another machine; the worse of the two counts each second.
        host: HostReport {
            steal_per_second: vec![0.125; 6],
            ..HostReport::default()
        },
        ..Default::default()
    };
    (plan, sender, receiver)
}

fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        actual, want,
        "{name} differs from its golden file (UPDATE_GOLDEN=1 regenerates it)"
    );
}

#[test]
fn series_and_steps_match_their_golden_files() {
    let (plan, sender, receiver) = fixture();
    let results = join(&plan, &[sender], &[receiver], &Ending::complete());
    golden("series.tsv", &series_tsv(&results.series));
    golden("steps.tsv", &steps_tsv(&results.summary.steps));
    assert_eq!(results.summary.totals.lost, 1);
    assert_eq!(results.summary.steps[0].receiver_cpu, Some(0.125));
    // Steal, worst machine each second: 0.125, 0.25, 0.5 | 0.125, 0.125.
    let steal: Vec<_> = results.summary.steps.iter().map(|s| s.host_steal).collect();
    assert_eq!(steal, vec![Some(0.875 / 3.0), Some(0.125)]);
    assert_eq!(results.summary.host_steal, Some(1.125 / 5.0));
    assert_eq!(
        results.series[5].host_steal,
        Some(0.125),
        "the drain second"
    );
    let table = brokerbench_aggregator::table::render(&results.summary, "out");
    assert!(
        table.contains("the hypervisor took 22.5% of the machine's CPU time while this ran (steal, step 1: 29.2%)"),
        "{table}"
    );
    assert!(
        table.contains(
            "1 lost; limited by the SUT (the hypervisor took 29.2% of the CPU time in that step"
        ),
        "{table}"
    );
}

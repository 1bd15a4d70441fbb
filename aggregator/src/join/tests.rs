//! The join's tests: counts bit by bit, merged latencies, judging.

use super::*;
use brokerbench_core::bitset::BitSet;
use brokerbench_core::latency::{LatencyKind, PerKind};
use brokerbench_core::series::LatencyWindows;
use brokerbench_core::wire::{ReceiverSecond, SenderSecond};

const MS: u64 = 1_000_000;

/// Windows with `n` latencies of `lo`, `lo + 1 ms`, ... in second 0 and one
/// of `lo` in second 1.
fn windows(plan: &RunPlan, lo: u64, n: u64) -> Vec<brokerbench_core::histogram::WireHistogram> {
    let mut w = LatencyWindows::new(&plan.schedule);
    for i in 0..n {
        w.record(0, 0, lo + i * MS);
    }
    w.record(1, 0, lo);
    w.to_wire()
}

/// The same windows for every latency a sender measures.
fn sender_kinds(
    w: &[brokerbench_core::histogram::WireHistogram],
) -> PerKind<Vec<brokerbench_core::histogram::WireHistogram>> {
    use brokerbench_core::latency::MeasuredBy;
    LatencyKind::of(MeasuredBy::Sender)
        .map(|k| (k, w.to_vec()))
        .collect()
}

pub(crate) fn plan() -> RunPlan {
    RunPlan {
        t0_unix_ns: Some(1_000_000_000),
        ..RunPlan::fixture("10:1,20:1")
    }
}

/// 30 events: 0..30 sent; 3 and 25 failed; 7, 8 and 21 never arrive;
/// 3 arrives anyway (unexpected); 12 arrives twice.
pub(crate) fn reports() -> (SenderReport, ReceiverReport) {
    let mut accepted = BitSet::new(30);
    let mut received = BitSet::new(30);
    for q in 0..30 {
        if q != 3 && q != 25 {
            accepted.insert(q);
        }
        if ![7, 8, 21, 25].contains(&q) {
            received.insert(q);
        }
    }
    let failed = FailureCounts {
        status_5xx: 2,
        ..Default::default()
    };
    let f0 = FailureCounts {
        status_5xx: 1,
        ..Default::default()
    };
    let sender = SenderReport {
        run_id: "r".into(),
        index: 0,
        released: 30,
        accepted,
        failed,
        seconds: vec![
            SenderSecond {
                sent: 10,
                accepted: 9,
                failed: f0,
                ..Default::default()
            },
            SenderSecond {
                sent: 20,
                accepted: 19,
                failed: f0,
                ..Default::default()
            },
        ],
        cpu_ns: 3_000,
        ..Default::default()
    };
    let receiver = ReceiverReport {
        run_id: "r".into(),
        index: 0,
        received: vec![received],
        duplicates: 1,
        seconds: vec![
            ReceiverSecond {
                delivered: 8,
                ..Default::default()
            },
            ReceiverSecond {
                delivered: 18,
                duplicates: 1,
                ..Default::default()
            },
        ],
        cpu_ns: 2_700,
        // One thread: 0.5 s busy in second 0, fully busy in second 1.
        cpu_per_second_ns: vec![500_000_000, 1_000_000_000],
        threads: 1,
        ..Default::default()
    };
    (sender, receiver)
}

#[test]
fn join_finds_lost_and_unexpected_bit_by_bit() {
    let (s, r) = reports();
    let res = join(&plan(), &[s], &[r], &Ending::complete());
    let t = res.summary.totals;
    assert_eq!((t.sent, t.accepted, t.failed), (30, 28, 2));
    assert_eq!(
        (t.delivered, t.lost, t.unexpected, t.duplicates),
        (26, 3, 1, 1)
    );
    assert_eq!(
        t.delivered_of_accepted, 25,
        "accepted and received, bit by bit"
    );
    assert_eq!(t.accepted, t.delivered_of_accepted + t.lost);
    assert_eq!(t.delivered, t.delivered_of_accepted + t.unexpected);
    assert_eq!(
        res.lost,
        vec![
            LostRange {
                sender: 0,
                copy: 0,
                first: 7,
                last: 8
            },
            LostRange {
                sender: 0,
                copy: 0,
                first: 21,
                last: 21
            }
        ]
    );
    let st = &res.summary.steps;
    assert_eq!(
        (
            st[0].totals.sent,
            st[0].totals.lost,
            st[0].totals.unexpected
        ),
        (10, 2, 1)
    );
    assert_eq!(
        (
            st[1].totals.sent,
            st[1].totals.lost,
            st[1].totals.duplicates
        ),
        (20, 1, 1)
    );
    assert_eq!((st[0].totals.delivered, st[1].totals.delivered), (8, 18));
    assert_eq!(st[1].delivery_rps, 18.0);
    assert_eq!(
        (st[0].receiver_cpu, st[1].receiver_cpu),
        (Some(0.5), Some(1.0))
    );
    for s in st {
        assert_eq!(
            s.totals.accepted,
            s.totals.delivered_of_accepted + s.totals.lost,
            "step {}",
            s.step
        );
    }
    assert_eq!((res.series[0].lost, res.series[1].lost), (2, 1));
    assert_eq!(
        (res.series[0].target_rps, res.series[1].target_rps),
        (10, 20)
    );
    assert_eq!(res.summary.cpu.sender_us_per_event, Some(0.1));
    assert_eq!(
        res.summary.cpu.receiver_us_per_event,
        Some(0.1),
        "26 unique + 1 duplicate requests"
    );
}

/// Receiver 1 also gets 0 and 1 (which receiver 0 has) and 7 (which
/// it lost): one more delivery and two duplicates across receivers.
#[test]
fn an_event_at_two_receivers_is_one_delivery_and_one_duplicate() {
    let (s, r0) = reports();
    let mut r1 = r0.clone();
    r1.index = 1;
    r1.duplicates = 0;
    r1.seconds.clear();
    r1.received = vec![BitSet::new(30)];
    for q in [0, 1, 7] {
        r1.received[0].insert(q);
    }
    let plan = RunPlan {
        receivers: 2,
        ..plan()
    };
    let res = join(&plan, &[s], &[r0, r1], &Ending::complete());
    let t = res.summary.totals;
    assert_eq!((t.delivered, t.lost, t.duplicates), (27, 2, 3));
    assert_eq!(t.accepted, t.delivered_of_accepted + t.lost);
    let st = &res.summary.steps;
    assert_eq!((st[0].totals.duplicates, st[0].totals.delivered), (2, 9));
    assert_eq!(res.series[0].duplicates, 2);
}

/// With --pace-per-sender each sender runs the whole pace: with two, a
/// step asks twice its rate.
#[test]
fn with_two_senders_each_on_the_whole_pace_each_step_asks_twice_the_pace() {
    let (s0, r) = reports();
    let mut s1 = s0.clone();
    s1.index = 1;
    let mut r = r;
    r.received.push(r.received[0].clone());
    let plan = RunPlan {
        senders: 2,
        split: false,
        ..plan()
    };
    let res = join(&plan, &[s0, s1], &[r], &Ending::complete());
    let st = &res.summary.steps;
    assert_eq!((st[0].rps, st[1].rps), (20, 40));
    assert_eq!((st[0].totals.sent, st[1].totals.sent), (20, 40));
    assert!(!st[0].generator_limited, "20 sent of 20 asked");
    assert_eq!(
        (res.series[0].target_rps, res.series[1].target_rps),
        (20, 40)
    );
    assert!(
        st[1]
            .breaks
            .iter()
            .any(|b| b == "delivery 36/s below target 40/s"),
        "{:?}",
        st[1].breaks
    );
}

/// Two senders and two receivers, each with its own latencies in the
/// second 0: the series covers all of them (count, max and the tail),
/// not only those of sender 0 and receiver 0; so do the step and run.
#[test]
fn several_roles_windows_are_merged_second_by_second() {
    let plan = RunPlan {
        senders: 2,
        receivers: 2,
        ..plan()
    };
    let (s0, r0) = reports();
    let (mut s1, mut r1) = (s0.clone(), r0.clone());
    s1.index = 1;
    r1.index = 1;
    // Second 0: sender 0 saw 1..=10 ms, sender 1 saw 100..=104 ms.
    let (fast, slow) = (windows(&plan, MS, 10), windows(&plan, 100 * MS, 5));
    let senders: Vec<_> = [(s0, &fast), (s1, &slow)]
        .into_iter()
        .map(|(mut r, w)| {
            r.windows = sender_kinds(w);
            r
        })
        .collect();
    let receivers: Vec<_> = [(r0, &slow), (r1, &fast)]
        .into_iter()
        .map(|(mut r, w)| {
            r.windows = [LatencyKind::E2e, LatencyKind::E2eRaw]
                .into_iter()
                .map(|k| (k, w.clone()))
                .collect();
            r
        })
        .collect();
    let res = join(&plan, &senders, &receivers, &Ending::complete());
    let row = &res.series[0];
    for kind in LatencyKind::ALL {
        let p = row.latency(kind).unwrap();
        assert_eq!((p.count, p.max), (15, 104.0), "{kind:?}");
        assert_eq!(p.p99_99, 104.0, "{kind:?}");
        assert!(p.p50 > 5.0 && p.p50 < 100.0, "{kind:?} p50 {}", p.p50);
    }
    assert_eq!(row.running_p99_99[&LatencyKind::Publish], 104.0);
    assert_eq!(row.running_p99_99[&LatencyKind::E2e], 104.0);
    assert!(
        !row.running_p99_99.contains_key(&LatencyKind::PacerLag),
        "only headline latencies run"
    );
    let next = &res.series[1];
    assert_eq!(
        next.latency(LatencyKind::Publish).unwrap().count,
        2,
        "one event from each"
    );
    assert_eq!(
        next.running_p99_99[&LatencyKind::Publish],
        100.0,
        "step 2 starts afresh"
    );
    let step = res.summary.steps[0]
        .latency_ms
        .get(LatencyKind::E2e)
        .unwrap();
    assert_eq!((step.count, step.max), (15, 104.0));
    let run = res.summary.latency_ms.get(LatencyKind::E2e).unwrap();
    assert_eq!((run.count, run.max), (17, 104.0));
}

/// Without receiver 1's report no step can be judged; without sender
/// 1's, what came from it is not "unexpected".
#[test]
fn missing_reports_are_named_and_no_step_is_judged() {
    let res = with_missing_reports();
    let sm = &res.summary;
    assert_eq!(sm.missing_reports, ["sender 1", "receiver 1"]);
    assert_eq!(sm.totals.unexpected, 1, "only stream 0's event 3");
    assert!(sm.steps.iter().all(|st| !st.judged && st.breaks.is_empty()));
    assert!(
        sm.steps.iter().all(|st| !st.generator_limited),
        "events a missing sender sent are unknown, not unsent"
    );
    assert!(sm.breaking_point.is_none());
}

/// Sender 1 and receiver 1 never reported; what sender 0 sent arrived
/// at receiver 0, and events 0 and 1 of sender 1's stream too.
pub(crate) fn with_missing_reports() -> Results {
    let (s, mut r) = reports();
    let mut from_missing = BitSet::new(30);
    from_missing.insert(0);
    from_missing.insert(1);
    r.received.push(from_missing);
    let plan = RunPlan {
        senders: 2,
        receivers: 2,
        ..plan()
    };
    let ending = Ending {
        missing_reports: vec!["sender 1".into(), "receiver 1".into()],
        ..Ending::complete()
    };
    join(&plan, &[s], &[r], &ending)
}

/// Cut 2.5 s after t0 with a 1 s drain: step 1 (ends at 1 s) had its
/// drain, step 2 (ends at 2 s) did not, so only step 1 is judged.
#[test]
fn a_cut_run_judges_only_the_steps_whose_drain_ended() {
    let (s, r) = reports();
    let cut = |at: f64| Ending {
        interrupted: true,
        cut_second: Some(at),
        ..Ending::complete()
    };
    let (s, r) = ([s], [r]);
    let res = join(&plan(), &s, &r, &cut(2.5));
    let st = &res.summary.steps;
    assert_eq!((st[0].judged, st[1].judged), (true, false));
    assert!(st[1].breaks.is_empty(), "1 lost in step 2 is not judged");
    assert_eq!(res.summary.breaking_point.as_ref().unwrap().step, 1);
    let res = join(&plan(), &s, &r, &cut(3.0));
    assert!(res.summary.steps.iter().all(|st| st.judged));
    // Step 1's slowest answer came 0.8 s after it ended: its drain ran
    // to 2.8 s, after a cut at 2.5 s.
    let mut slow = LatencyWindows::new(&plan().schedule);
    slow.record(0, 0, 800_000_000);
    let mut s = s;
    s[0].windows.insert(LatencyKind::Publish, slow.to_wire());
    let res = join(&plan(), &s, &r, &cut(2.5));
    assert!(res.summary.steps.iter().all(|st| !st.judged));
    let res = join(&plan(), &s, &r, &cut(2.8));
    assert!(res.summary.steps[0].judged);
    let res = join(
        &plan(),
        &s,
        &r,
        &Ending {
            interrupted: true,
            ..Ending::complete()
        },
    );
    assert!(res.summary.steps.iter().all(|st| !st.judged));
}

/// DAMON's CPU time is the most any role saw (roles on one machine see
/// the same monitor); a run where it was off gets no figure and no note.
#[test]
fn damon_time_is_the_most_any_role_saw_and_noted() {
    let (mut s, mut r) = reports();
    s.host.damon_cpu_ns = Some(3_000_000);
    r.host.damon_cpu_ns = Some(12_000_000);
    let res = join(&plan(), &[s.clone()], &[r.clone()], &Ending::complete());
    assert_eq!(res.summary.host_damon_cpu_ms, Some(12.0));
    (s.host.damon_cpu_ns, r.host.damon_cpu_ns) = (Some(100_000), None);
    let res = join(&plan(), &[s.clone()], &[r.clone()], &Ending::complete());
    assert_eq!(res.summary.host_damon_cpu_ms, Some(0.1));
    (s.host.damon_cpu_ns, r.host.damon_cpu_ns) = (None, None);
    let res = join(&plan(), &[s], &[r], &Ending::complete());
    assert_eq!(res.summary.host_damon_cpu_ms, None);
}

/// Roles on other hosts report their clocks at the start and the end;
/// the table lists them and warns when their uncertainty and drift are
/// large against the e2e P50.
#[test]
fn role_clocks_are_listed_and_their_error_weighed() {
    let res = with_role_clocks();
    let column =
        |f: fn(&SecondRow) -> Option<f64>| res.series.iter().take(2).map(f).collect::<Vec<_>>();
    assert_eq!(column(|r| r.clock_uncertainty_ms), [Some(0.7), Some(2.2)]);
    assert_eq!(column(|r| r.clock_offset_ms), [Some(5.0), Some(-9.0)]);
    let during = &res.summary.clocks[1].during;
    assert_eq!(
        (during.len(), during[0].second, during[0].offset_ms),
        (1, 1.5, -9.0)
    );
    let c = &res.summary.clocks;
    assert_eq!(
        c.iter()
            .map(|c| (
                c.role.as_str(),
                c.offset_ms,
                c.uncertainty_ms,
                c.applied,
                c.drift_ms
            ))
            .collect::<Vec<_>>(),
        [
            ("sender 0", 5.0, 0.2, true, None),
            ("receiver 0", -0.3, 0.5, false, Some(-0.2))
        ]
    );
}

/// Only the pacer's own lag blames the generator: connection wait (the
/// SUT holding its answers) does not, events held back by the sender's
/// bounds do, and the breaking point names the SUT unless the pacer lag
/// explains the latency and the SUT failed and lost nothing.
#[test]
fn the_generator_is_flagged_on_pacer_lag_and_unsent_events_only() {
    let flagged = |kind: LatencyKind, ns: u64, inflight_limit: u64| {
        let (mut s, mut r) = reports();
        let latency = |ns| {
            let mut w = LatencyWindows::new(&plan().schedule);
            for _ in 0..10 {
                w.record(0, 0, ns);
            }
            w.to_wire()
        };
        s.windows.insert(kind, latency(ns));
        r.windows.insert(LatencyKind::E2e, latency(2 * MS));
        s.seconds[0].failed.inflight_limit = inflight_limit;
        s.seconds[0].unsent = inflight_limit;
        let res = join(&plan(), &[s], &[r], &Ending::complete());
        let st = &res.summary.steps[0];
        (
            st.generator_limited,
            res.summary.breaking_point.map(|b| b.limited_by),
        )
    };
    use crate::model::Limit;
    assert_eq!(
        flagged(LatencyKind::ConnectionWait, 3_000 * MS, 0),
        (false, Some(Limit::Sut)),
        "3 s waiting for a connection: the SUT's doing"
    );
    assert_eq!(
        flagged(LatencyKind::PacerLag, 3 * MS, 0),
        (true, Some(Limit::Sut)),
        "the pacer 3 ms late, but the step broke on the SUT's 5xx answers and losses: the SUT's \
         (analysis.rs tests a step the lag alone broke)"
    );
    assert!(
        !flagged(LatencyKind::PacerLag, MS / 2, 0).0,
        "0.5 ms is within the limit"
    );
    assert_eq!(
        flagged(LatencyKind::PacerLag, MS / 2, 4),
        (true, Some(Limit::Sut)),
        "events never offered at the in-flight bound flag the step; the SUT still broke it"
    );
}

/// Failed and lost events are in no percentile, so a latency objective is
/// missed while any failed (or, for e2e, was lost), whatever its value;
/// counts are judged as they are.
#[test]
fn latency_objectives_are_missed_while_events_failed_or_were_lost() {
    use crate::slo::Slo;
    let (mut s, mut r) = reports();
    let mut w = LatencyWindows::new(&plan().schedule);
    w.record(0, 0, MS);
    s.windows.insert(LatencyKind::Publish, w.to_wire());
    r.windows.insert(LatencyKind::E2e, w.to_wire());
    let res = join(&plan(), &[s], &[r], &Ending::complete());
    let slo = Slo::parse("publish.p99.99<1s,e2e.p99.99<1s,lost<=3").unwrap();
    let verdicts = slo.check(&res.summary);
    let shown: Vec<String> = verdicts.iter().map(|v| v.to_string()).collect();
    assert_eq!(
        shown,
        [
            "MISSED publish.p99.99<1s (was 1.000, but 2 events failed, in no percentile)",
            "MISSED e2e.p99.99<1s (was 1.000, but 2 events failed and 3 were lost, in no percentile)",
            "met    lost<=3 (was 3.000)",
        ]
    );
    let mut clean = res.summary.clone();
    (clean.totals.failed, clean.totals.lost) = (0, 0);
    assert!(slo.check(&clean).iter().all(|v| v.met), "nothing left out");
    (clean.totals.failed, clean.totals.lost) = (0, 1);
    let met: Vec<bool> = slo.check(&clean).iter().map(|v| v.met).collect();
    assert_eq!(
        met,
        [true, false, true],
        "a lost event has no e2e, but was published"
    );
}

/// `recovery<N` needs faults that all recovered within N: a run without
/// faults has no recovery and misses it.
#[test]
fn recovery_objective_needs_faults_that_recovered() {
    let (s, r) = reports();
    let slo = crate::slo::Slo::parse("recovery<30s").unwrap();
    let res = join(
        &plan(),
        std::slice::from_ref(&s),
        std::slice::from_ref(&r),
        &Ending::complete(),
    );
    let v = slo.check(&res.summary);
    assert!(!v[0].met && v[0].actual.is_none(), "no faults: {v:?}");
    let mut p = plan();
    p.faults = vec![brokerbench_core::fault::Fault::parse("receiver-stall@1+0.5").unwrap()];
    let res = join(&p, &[s], &[r], &Ending::complete());
    let e = &res.summary.fault_effects[0];
    let v = slo.check(&res.summary);
    assert_eq!(v[0].actual, Some(e.recovery_s.unwrap_or(f64::INFINITY)));
    assert_eq!(v[0].met, e.recovery_s.is_some_and(|r| r < 30.0));
    assert_eq!(
        res.series.iter().map(|r| r.faults).collect::<Vec<_>>()[..2],
        [0, 1],
        "the fault's second marked"
    );
}

#[test]
fn the_spinning_pacers_idle_turns_are_left_out_of_cpu_per_event() {
    let (mut s, r) = reports();
    // 30 events sent; 3,000 ns of CPU of which 1,500 spinning.
    s.pacer_spin_ns = 1_500;
    let res = join(
        &plan(),
        &[s.clone()],
        std::slice::from_ref(&r),
        &Ending::complete(),
    );
    assert_eq!(res.summary.cpu.sender_ns, 3_000);
    assert_eq!(res.summary.cpu.pacer_spin_ns, 1_500);
    assert_eq!(res.summary.cpu.sender_us_per_event, Some(0.05));
    // A report claiming more spin than CPU is capped at its CPU.
    s.pacer_spin_ns = 9_000;
    let res = join(&plan(), &[s], &[r], &Ending::complete());
    assert_eq!(res.summary.cpu.sender_us_per_event, Some(0.0));
}

/// A sender whose clock was corrected by 5 ms, and a receiver whose clock
/// was estimated at the start, 1.5 s in and at the end, not corrected.
pub(crate) fn with_role_clocks() -> Results {
    use brokerbench_core::clock::ClockSync;
    use brokerbench_core::wire::ClockReport;
    let (mut s, mut r) = reports();
    let sync = |offset_ns, uncertainty_ns, applied| ClockSync {
        offset_ns,
        uncertainty_ns,
        applied,
    };
    s.host.clock = Some(ClockReport {
        start: sync(5_000_000, 200_000, true),
        end: None,
        during: Vec::new(),
    });
    // An estimate 1.5 s into the run, less certain: it rules from second 1.
    let t0 = plan().t0();
    r.host.clock = Some(ClockReport {
        start: sync(-300_000, 500_000, false),
        end: Some(sync(-500_000, 100_000, false)),
        during: vec![brokerbench_core::wire::ClockPoint {
            at_unix_ns: t0 + 1_500_000_000,
            offset_ns: -9_000_000,
            uncertainty_ns: 2_000_000,
            adopted: false,
        }],
    });
    join(&plan(), &[s], &[r], &Ending::complete())
}

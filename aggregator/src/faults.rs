//! What each fault of the plan did: events lost, failed and duplicated
//! among those scheduled from the second before its start (still on their
//! way when it began) until the run was back to normal, and how long that
//! took.
//!
//! Normal is the level of the seconds before the fault (up to
//! [`BASELINE_SECONDS`], not the one just before it, none inside another
//! fault): a second is back to
//! normal when nothing scheduled in it failed or was lost, its delivery
//! rate is at least [`DELIVERY_SHARE`] of the level's delivered-to-sent
//! ratio, and its e2e P99 is at most twice the level's median P99 plus
//! [`P99_SLACK_MS`]. Recovery is the time from the fault's end to the
//! first of [`STEADY_SECONDS`] normal seconds in a row (fewer when the
//! measured run or the next fault comes first). Overlapping faults are
//! measured from the last end among them.

use crate::model::{FaultEffect, SecondRow};
use brokerbench_core::fault::Fault;
use brokerbench_core::latency::LatencyKind;

/// Seconds before a fault that set the level it is measured against.
pub const BASELINE_SECONDS: u64 = 10;
/// Share of the level's delivery a normal second has.
pub const DELIVERY_SHARE: f64 = 0.9;
/// Slack over twice the level's e2e P99, ms (a millisecond-scale P99 is
/// noisy at one second's samples).
pub const P99_SLACK_MS: f64 = 5.0;
/// Normal seconds in a row that make a recovery.
pub const STEADY_SECONDS: usize = 2;

/// Marks each row with the number of faults on during it.
pub fn mark(faults: &[Fault], series: &mut [SecondRow]) {
    for row in series {
        let (from, to) = (row.second as f64, row.second as f64 + 1.0);
        row.faults = faults
            .iter()
            .filter(|f| f.at_s < to && (f.end_s() > from || (f.seconds == 0.0 && f.at_s >= from)))
            .count() as u32;
    }
}

/// What each of `faults` did, from the rows of the run.
///
/// `cut_s`: when the run was cut short (Ctrl-C), seconds after `t0`. The
/// seconds from then on say nothing of the SUT (nothing was sent): a fault
/// still on then has an unknown recovery, never a quick one.
pub fn effects(faults: &[Fault], series: &[SecondRow], cut_s: Option<f64>) -> Vec<FaultEffect> {
    faults
        .iter()
        .map(|f| effect(f, faults, series, cut_s))
        .collect()
}

fn effect(f: &Fault, all: &[Fault], series: &[SecondRow], cut_s: Option<f64>) -> FaultEffect {
    let start = f.at_s.floor() as u64;
    let during_other = |r: &SecondRow| {
        all.iter().any(|o| {
            let (from, to) = (r.second as f64, r.second as f64 + 1.0);
            o.at_s < to && o.end_s().max(o.at_s + 1.0) > from
        })
    };
    let before: Vec<&SecondRow> = series
        .iter()
        .filter(|r| r.step.is_some() && r.second + 1 < start)
        .filter(|r| r.second + BASELINE_SECONDS >= start)
        .filter(|r| !during_other(r))
        .collect();
    let (sent, delivered) = before
        .iter()
        .fold((0, 0), |(s, d), r| (s + r.sent, d + r.delivered));
    let baseline_delivery = (sent > 0).then(|| delivered as f64 / sent as f64);
    let mut p99s: Vec<f64> = before
        .iter()
        .filter_map(|r| r.latency(LatencyKind::E2e).map(|p| p.p99))
        .collect();
    p99s.sort_by(f64::total_cmp);
    let baseline_e2e_p99_ms = (!p99s.is_empty()).then(|| p99s[p99s.len() / 2]);
    let normal = |r: &SecondRow| {
        let delivery = match (baseline_delivery, r.sent) {
            (_, 0) => true,
            (Some(b), sent) => r.delivered as f64 >= DELIVERY_SHARE * b * sent as f64,
            (None, _) => r.delivered > 0,
        };
        let p99 = match (baseline_e2e_p99_ms, r.latency(LatencyKind::E2e)) {
            (Some(b), Some(p)) => p.p99 <= 2.0 * b + P99_SLACK_MS,
            (_, None) => r.sent == 0,
            (None, Some(_)) => true,
        };
        r.failed == 0 && r.lost == 0 && delivery && p99
    };
    // Candidates: measured seconds from the one the fault ends in, or the
    // last end of the faults it overlaps (a fault inside another is not
    // over before the other is).
    let end = all
        .iter()
        .filter(|o| o.at_s <= f.end_s() && f.at_s <= o.end_s())
        .map(Fault::end_s)
        .fold(f.end_s(), f64::max);
    let before_cut = |r: &&SecondRow| cut_s.is_none_or(|cut| r.second as f64 + 1.0 <= cut);
    let measured: Vec<&SecondRow> = series
        .iter()
        .filter(|r| r.step.is_some() && r.second >= end.floor() as u64)
        .filter(before_cut)
        .collect();
    // A fault after that cuts the seconds in a row short: normal up to
    // its start is back to normal.
    let next = all
        .iter()
        .filter(|o| o.at_s >= end)
        .map(|o| o.at_s.floor() as u64)
        .min()
        .unwrap_or(u64::MAX);
    let back = (0..measured.len())
        .find(|&i| {
            measured[i].second < next
                && measured[i..]
                    .iter()
                    .take(STEADY_SECONDS)
                    .all(|r| r.second >= next || normal(r))
        })
        .map(|i| measured[i].second);
    let upto = back.unwrap_or(u64::MAX);
    let mut effect = FaultEffect {
        spec: f.spec.clone(),
        at_s: f.at_s,
        seconds: f.seconds,
        lost: 0,
        failed: 0,
        duplicates: 0,
        recovery_s: back.map(|s| (s as f64 - end).max(0.0)),
        baseline_delivery,
        baseline_e2e_p99_ms,
        error: None,
        // Cut while on: begun before the cut (a fault never begun is the
        // timeline's "not applied"), not over by then; a cut in the warmup
        // is at 0.
        cut_at_s: cut_s
            .filter(|&cut| end > cut && f.at_s < cut.max(0.0))
            .map(|cut| cut.max(0.0)),
    };
    // From the second before it: events scheduled then may still have
    // been on their way when it began.
    let from = start.saturating_sub(1);
    for r in series
        .iter()
        .filter(|r| r.second >= from && r.second < upto)
    {
        effect.lost += r.lost;
        effect.failed += r.failed;
        effect.duplicates += r.duplicates;
    }
    effect
}

#[cfg(test)]
mod tests {
    use super::*;
    use brokerbench_core::histogram::Percentiles;

    fn row(second: u64, sent: u64, delivered: u64, lost: u64, p99: f64) -> SecondRow {
        let mut r = SecondRow {
            second,
            step: Some(1),
            sent,
            delivered,
            lost,
            ..SecondRow::default()
        };
        let p = Percentiles {
            p99,
            ..Percentiles::default()
        };
        r.latency.insert(LatencyKind::E2e, p);
        r
    }

    /// 100/s, 2 ms P99; a fault at 5 s for 2 s loses 30 and 20 events in
    /// its seconds and slows second 7 to 40 ms; from 8 s all is normal.
    #[test]
    fn counts_until_two_normal_seconds_and_times_recovery_from_the_end() {
        let mut series: Vec<SecondRow> = (0..12).map(|s| row(s, 100, 100, 0, 2.0)).collect();
        series[5] = row(5, 100, 70, 30, 2.0);
        series[6] = row(6, 100, 80, 20, 2.0);
        series[7] = row(7, 100, 100, 0, 40.0);
        series[9].duplicates = 4; // after the recovery: not the fault's
        series[3].lost = 1; // before the second before it: not the fault's
        series[4].failed = 2; // on its way when it began
        let f = Fault::parse("sut-kill@5+2").unwrap();
        let e = &effects(std::slice::from_ref(&f), &series, None)[0];
        assert_eq!((e.lost, e.failed, e.duplicates), (50, 2, 0));
        assert_eq!(e.recovery_s, Some(1.0));
        assert_eq!(e.baseline_delivery, Some(1.0));
        assert_eq!(e.baseline_e2e_p99_ms, Some(2.0));
        // Never back: counted to the end, no recovery.
        for r in &mut series[7..] {
            r.lost = 1;
        }
        let e = &effects(std::slice::from_ref(&f), &series, None)[0];
        assert_eq!((e.lost, e.recovery_s), (50 + 5, None));
        // A second fault at 9 s: second 8 normal up to it is a recovery.
        series[8].lost = 0;
        let next = Fault::parse("receiver-stall@9+1").unwrap();
        let e = &effects(&[f, next], &series, None)[0];
        assert_eq!((e.lost, e.recovery_s), (50 + 1, Some(1.0)));
    }

    /// A run cut while a fault was on: the seconds after the cut sent
    /// nothing, so they are no recovery; it is unknown.
    #[test]
    fn a_fault_still_on_when_the_run_was_cut_has_not_recovered() {
        let mut series: Vec<SecondRow> = (0..25).map(|s| row(s, 100, 100, 0, 2.0)).collect();
        for r in &mut series[12..] {
            (r.sent, r.delivered) = (0, 0);
        }
        let f = Fault::parse("sut-pause@5+20").unwrap();
        let e = &effects(std::slice::from_ref(&f), &series, Some(12.3))[0];
        assert_eq!((e.recovery_s, e.cut_at_s), (None, Some(12.3)));
        // One over before the cut still recovers.
        let f = Fault::parse("sut-pause@5+2").unwrap();
        let e = &effects(std::slice::from_ref(&f), &series, Some(12.3))[0];
        assert_eq!((e.recovery_s, e.cut_at_s), (Some(0.0), None));
    }

    /// A 5xx inside a latency fault: both recover after the latency ends.
    #[test]
    fn overlapping_faults_recover_from_the_last_end() {
        let mut series: Vec<SecondRow> = (0..20).map(|s| row(s, 100, 100, 0, 2.0)).collect();
        for r in &mut series[5..12] {
            r.latency.insert(
                LatencyKind::E2e,
                Percentiles {
                    p99: 60.0,
                    ..Percentiles::default()
                },
            );
        }
        series[7].failed = 30;
        let faults = [
            Fault::parse("sut-latency@5+7:50ms").unwrap(),
            Fault::parse("sut-5xx@7+1").unwrap(),
        ];
        let e = effects(&faults, &series, None);
        assert_eq!((e[0].recovery_s, e[1].recovery_s), (Some(0.0), Some(0.0)));
        assert_eq!((e[0].failed, e[1].failed), (30, 30));
    }

    #[test]
    fn rows_are_marked_with_the_faults_on() {
        let mut series: Vec<SecondRow> = (0..6).map(|s| row(s, 1, 1, 0, 1.0)).collect();
        let faults = [
            Fault::parse("receiver-stall@1.5+1").unwrap(),
            Fault::parse("command@2:true").unwrap(),
        ];
        mark(&faults, &mut series);
        let on: Vec<u32> = series.iter().map(|r| r.faults).collect();
        assert_eq!(on, [0, 1, 2, 0, 0, 0]);
    }
}

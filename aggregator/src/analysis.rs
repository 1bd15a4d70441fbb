//! Analysis of a stepped run: which steps held, and the breaking point — the
//! first step where delivery fell below the target by more than a tolerance,
//! send failures or lost events appeared, or latency grew without bound.

use crate::model::{BreakingPoint, Limit, SecondRow, StepSummary};
use brokerbench_core::latency::LatencyKind;

/// Delivery may fall this far below the target before a step breaks.
pub const DELIVERY_TOLERANCE: f64 = 0.05;
/// Latency "grows without bound" within a step when the median e2e latency
/// of its last quarter is this many times that of its first quarter ...
const GROWTH_FACTOR: f64 = 3.0;
/// ... and larger by at least this many milliseconds.
const GROWTH_MIN_MS: f64 = 20.0;
/// A queue that grows through a step delays each event by more than the
/// last: when the SUT delivers a share `d` below the offered rate, e2e
/// latency rises by about `d` seconds per second. A step whose median
/// rises faster than [`DELIVERY_TOLERANCE`] per second, between the middles
/// of its first and last quarters, is losing ground faster than the
/// delivery rule allows, even when it started with a backlog (where the
/// growth factor sees a small ratio) and the drain later delivers
/// everything (so its delivery rate, counted by intended second, is full).
const BACKLOG_GROWTH_PER_S: f64 = DELIVERY_TOLERANCE;

/// Why one step did not hold (empty when it held). With fan-out, each
/// event owes `copies` deliveries, and so does the delivery target.
pub fn step_breaks(step: &StepSummary, series: &[SecondRow], copies: u32) -> Vec<String> {
    let mut why = Vec::new();
    let target = step.rps as f64 * copies.max(1) as f64;
    if step.delivery_rps < target * (1.0 - DELIVERY_TOLERANCE) {
        why.push(format!(
            "delivery {:.0}/s below target {target:.0}/s",
            step.delivery_rps
        ));
    }
    if step.totals.failed > 0 {
        why.push(format!("{} send failures", step.totals.failed));
    }
    if step.totals.lost > 0 {
        why.push(format!("{} lost", step.totals.lost));
    }
    let start = step.start_second as usize;
    let rows = series
        .get(start..start + step.seconds as usize)
        .unwrap_or_default();
    let p50 = |rows: &[SecondRow]| -> Option<f64> {
        let v: Vec<f64> = rows
            .iter()
            .filter_map(|r| r.latency(LatencyKind::E2e).map(|p| p.p50))
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let quarter = (rows.len() / 4).max(1);
    if rows.len() >= 4 {
        if let (Some(first), Some(last)) =
            (p50(&rows[..quarter]), p50(&rows[rows.len() - quarter..]))
        {
            // Seconds between the middles of the two quarters.
            let apart = (rows.len() - quarter) as f64;
            let rise_per_s = (last - first) / 1000.0 / apart;
            if last > first * GROWTH_FACTOR && last - first > GROWTH_MIN_MS {
                why.push(format!(
                    "e2e latency growing ({first:.1} ms -> {last:.1} ms median)"
                ));
            } else if rise_per_s > BACKLOG_GROWTH_PER_S && last - first > GROWTH_MIN_MS {
                why.push(format!(
                    "backlog growing ({first:.0} ms -> {last:.0} ms median in {apart:.0} s: ~{:.0}% below the offered rate)",
                    100.0 * rise_per_s / (1.0 + rise_per_s)
                ));
            }
        }
    }
    why
}

/// Whether the pacer's lag accounts for the step's latency: its P99.99 is
/// at least half the larger of the publish and e2e P99.99. A lag over the
/// limit beside a much larger latency is the SUT's queue, not the
/// generator's; so is any wait for a connection.
fn lag_explains(s: &StepSummary) -> bool {
    let p9999 = |kind| s.latency_ms.get(kind).map(|p| p.p99_99);
    let latency = [LatencyKind::Publish, LatencyKind::E2e]
        .into_iter()
        .filter_map(p9999)
        .reduce(f64::max);
    match (p9999(LatencyKind::PacerLag), latency) {
        (Some(lag), Some(latency)) => lag >= 0.5 * latency,
        // Nothing answered or delivered: no lag explains that.
        _ => false,
    }
}

/// Whether the SUT failed or lost events of the step: its answers (5xx,
/// timeouts, refused or broken connections) or its deliveries. Those are
/// the SUT's whatever the pacer's lag: only events the sender held back at
/// its own bounds (the in-flight bound, its drain) are the generator's.
fn sut_failed(s: &StepSummary) -> bool {
    let held_back = s.failures.inflight_limit + s.failures.cancelled;
    s.totals.lost > 0 || s.totals.failed > held_back
}

/// Whether a role's CPU quota stopped it for a material share of the step
/// ([`crate::model::THROTTLED_LIMITS`] of its time).
fn quota_explains(s: &StepSummary) -> bool {
    let step_ms = f64::from(s.seconds) * 1000.0;
    s.throttled
        .iter()
        .any(|t| t.throttled_ms >= crate::model::THROTTLED_LIMITS * step_ms)
}

/// The first step that did not hold, if any.
pub fn breaking_point(steps: &[StepSummary]) -> Option<BreakingPoint> {
    let s = steps.iter().find(|s| !s.breaks.is_empty())?;
    Some(BreakingPoint {
        step: s.step,
        rps: s.rps,
        reasons: s.breaks.clone(),
        // A role's quota first: a throttled sender's pauses are pacer lag
        // too, and the quota is their cause. Neither is named where the
        // SUT failed or lost events.
        limited_by: if quota_explains(s) && !sut_failed(s) {
            Limit::CpuQuota
        } else if s.generator_limited && lag_explains(s) && !sut_failed(s) {
            Limit::Generator
        } else if s
            .receiver_cpu
            .is_some_and(|c| c >= crate::model::RECEIVER_SATURATED)
        {
            Limit::Receiver
        } else {
            Limit::Sut
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Latencies, Totals};
    use brokerbench_core::histogram::Percentiles;

    fn step(n: usize, rps: u32, delivered: u64, lost: u64, failed: u64) -> StepSummary {
        StepSummary {
            step: n,
            rps,
            seconds: 8,
            start_second: (n as u64 - 1) * 8,
            totals: Totals {
                lost,
                failed,
                delivered,
                ..Totals::default()
            },
            send_rps: rps as f64,
            delivery_rps: delivered as f64 / 8.0,
            latency_ms: Latencies::default(),
            failures: Default::default(),
            generator_limited: false,
            judged: true,
            breaks: Vec::new(),
            receiver_cpu: None,
            host_steal: None,
            throttled: Vec::new(),
        }
    }

    /// Every percentile `v`.
    fn every(v: f64) -> Percentiles {
        Percentiles {
            p50: v,
            p90: v,
            p99: v,
            p99_9: v,
            p99_99: v,
            max: v,
            count: 1,
            ..Percentiles::default()
        }
    }

    fn rows(p50s: &[f64]) -> Vec<SecondRow> {
        p50s.iter()
            .enumerate()
            .map(|(i, &p)| SecondRow {
                second: i as u64,
                latency: [(LatencyKind::E2e, every(p))].into(),
                ..SecondRow::default()
            })
            .collect()
    }

    #[test]
    fn each_reason_breaks_a_step() {
        let flat = rows(&[1.0; 8]);
        assert!(step_breaks(&step(1, 1000, 8000, 0, 0), &flat, 1).is_empty());
        assert!(
            step_breaks(&step(1, 1000, 7700, 0, 0), &flat, 1).is_empty(),
            "within 5%"
        );
        assert_eq!(
            step_breaks(&step(1, 1000, 7000, 0, 0), &flat, 1),
            ["delivery 875/s below target 1000/s"]
        );
        assert_eq!(
            step_breaks(&step(1, 1000, 8000, 3, 0), &flat, 1),
            ["3 lost"]
        );
        assert_eq!(
            step_breaks(&step(1, 1000, 8000, 0, 2), &flat, 1),
            ["2 send failures"]
        );
        let growing = rows(&[2.0, 3.0, 10.0, 30.0, 60.0, 90.0, 120.0, 150.0]);
        let why = step_breaks(&step(1, 1000, 8000, 0, 0), &growing, 1);
        assert_eq!(why, ["e2e latency growing (2.5 ms -> 135.0 ms median)"]);
        // Starting from a backlog: a ratio under 3, but the median gains
        // 1.2 s in 6 s, 200 ms a second (a ~17% shortfall; the rule allows 5%).
        let backlog = rows(&[700.0, 900.0, 1100.0, 1300.0, 1500.0, 1700.0, 1900.0, 2100.0]);
        let why = step_breaks(&step(1, 1000, 8000, 0, 0), &backlog, 1);
        assert_eq!(
            why,
            ["backlog growing (800 ms -> 2000 ms median in 6 s: ~17% below the offered rate)"]
        );
        // A steady backlog, and one shrinking, hold; so does a slow rise.
        for p50s in [
            [900.0; 8],
            [2100.0, 1900.0, 1700.0, 1500.0, 1300.0, 1100.0, 900.0, 700.0],
        ] {
            assert!(step_breaks(&step(1, 1000, 8000, 0, 0), &rows(&p50s), 1).is_empty());
        }
        let slow = rows(&[700.0, 720.0, 740.0, 760.0, 780.0, 800.0, 820.0, 840.0]);
        assert!(
            step_breaks(&step(1, 1000, 8000, 0, 0), &slow, 1).is_empty(),
            "20 ms/s is a 2% shortfall"
        );
    }

    #[test]
    fn the_breaking_point_is_the_first_step_that_breaks() {
        let mut steps = vec![
            step(1, 1000, 8000, 0, 0),
            step(2, 1100, 8800, 5, 0),
            step(3, 100, 800, 0, 0),
            step(4, 1200, 9000, 9, 0),
        ];
        let flat = rows(&[1.0; 32]);
        for s in &mut steps {
            s.breaks = step_breaks(s, &flat, 1);
        }
        let bp = breaking_point(&steps).unwrap();
        assert_eq!((bp.step, bp.rps, bp.limited_by), (2, 1100, Limit::Sut));
        assert_eq!(bp.reasons, ["5 lost"]);
        assert!(breaking_point(&steps[..1]).is_none());
        steps[1].receiver_cpu = Some(0.95);
        assert_eq!(breaking_point(&steps).unwrap().limited_by, Limit::Receiver);
        // Flagged, but no pacer lag measured: nothing blames the generator.
        steps[1].generator_limited = true;
        assert_eq!(breaking_point(&steps).unwrap().limited_by, Limit::Receiver);
        // A pacer lag over the limit beside a far larger e2e latency: the
        // SUT's queue.
        let lag = |s: &mut StepSummary, pacer: f64, e2e: f64| {
            s.latency_ms.set(LatencyKind::PacerLag, Some(every(pacer)));
            s.latency_ms.set(LatencyKind::E2e, Some(every(e2e)));
        };
        lag(&mut steps[1], 5.0, 600.0);
        assert_eq!(breaking_point(&steps).unwrap().limited_by, Limit::Receiver);
        steps[1].receiver_cpu = None;
        assert_eq!(breaking_point(&steps).unwrap().limited_by, Limit::Sut);
        lag(&mut steps[1], 5.0, 9.0);
        assert_eq!(
            breaking_point(&steps).unwrap().limited_by,
            Limit::Sut,
            "its lag explains the latency, but the SUT lost events"
        );
        // Delivery short of the target, nothing failed or lost: the lag.
        steps[1].totals.lost = 0;
        steps[1].breaks = vec!["delivery 900/s below target 1100/s".into()];
        assert_eq!(breaking_point(&steps).unwrap().limited_by, Limit::Generator);
        // Failures the SUT answered (5xx, timeouts) are the SUT's, however
        // late the pacer was; those the sender held back are its own.
        steps[1].totals.lost = 0;
        steps[1].totals.failed = 30;
        steps[1].failures.status_5xx = 20;
        steps[1].failures.inflight_limit = 10;
        steps[1].breaks = vec!["30 send failures".into()];
        assert_eq!(breaking_point(&steps).unwrap().limited_by, Limit::Sut);
        steps[1].failures.status_5xx = 0;
        steps[1].failures.inflight_limit = 30;
        assert_eq!(breaking_point(&steps).unwrap().limited_by, Limit::Generator);
        steps[1].totals.lost = 1;
        assert_eq!(
            breaking_point(&steps).unwrap().limited_by,
            Limit::Sut,
            "a loss is the SUT's"
        );
        steps[1].totals.lost = 5;
        steps[1].totals.failed = 0;
        steps[1].failures.inflight_limit = 0;
        // However long events waited for a connection.
        steps[1]
            .latency_ms
            .set(LatencyKind::ConnectionWait, Some(every(3000.0)));
        lag(&mut steps[1], 0.5, 3000.0);
        assert_eq!(breaking_point(&steps).unwrap().limited_by, Limit::Sut);
        // A sender stopped by its CPU quota for 1% of the step (80 ms of
        // 8 s) is the step's limit; 79 ms is not.
        let throttled = |ms| {
            vec![crate::model::RoleThrottled {
                role: "sender 0".into(),
                throttled_ms: ms,
            }]
        };
        // (A step that broke on its delivery rate alone.)
        steps[1].totals.lost = 0;
        steps[1].breaks = vec!["delivery 900/s below target 1100/s".into()];
        steps[1].throttled = throttled(79.0);
        assert_eq!(breaking_point(&steps).unwrap().limited_by, Limit::Sut);
        steps[1].throttled = throttled(80.0);
        assert_eq!(breaking_point(&steps).unwrap().limited_by, Limit::CpuQuota);
        // Before the generator: a throttled sender's pauses are pacer lag.
        steps[1].generator_limited = true;
        lag(&mut steps[1], 5.0, 9.0);
        assert_eq!(breaking_point(&steps).unwrap().limited_by, Limit::CpuQuota);
        // Never over the SUT's own losses.
        steps[1].totals.lost = 3;
        assert_eq!(breaking_point(&steps).unwrap().limited_by, Limit::Sut);
    }
}

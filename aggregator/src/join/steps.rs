//! Per-step counts, the generator flag, and which steps held.

use crate::model::{
    RoleThrottled, SecondRow, StepSummary, GENERATOR_LAG_LIMIT_MS, THROTTLED_NOTABLE_MS,
};
use brokerbench_core::latency::LatencyKind;
use brokerbench_core::plan::RunPlan;
use brokerbench_core::wire::{ReceiverReport, SenderReport};

/// How a run ended, as far as judging its steps goes.
#[derive(Debug, Clone, Default)]
pub struct Ending {
    /// Cut short (Ctrl-C, or a sender never finished).
    pub interrupted: bool,
    /// When it was cut, in seconds after `t0`: a step is judged only if it
    /// and its drain ended by then (None with `interrupted`: no step is).
    pub cut_second: Option<f64>,
    /// Roles whose report never came (`receiver 1`): no step is judged.
    pub missing_reports: Vec<String>,
}

impl Ending {
    /// How a run whose roles handed in `senders` and `receivers` ended:
    /// cut when any of them was (or Ctrl-C cut it at `cut_second`), and
    /// which roles of the plan never reported.
    pub fn of(
        plan: &RunPlan,
        senders: &[SenderReport],
        receivers: &[ReceiverReport],
        interrupted: bool,
        cut_second: Option<f64>,
    ) -> Ending {
        let missing = |role: &str, n: u32, have: Vec<u32>| {
            (0..n)
                .filter(|i| !have.contains(i))
                .map(|i| format!("{role} {i}"))
                .collect::<Vec<_>>()
        };
        let mut missing_reports = missing(
            "sender",
            plan.senders,
            senders.iter().map(|r| r.index).collect(),
        );
        missing_reports.extend(missing(
            "receiver",
            plan.receivers,
            receivers.iter().map(|r| r.index).collect(),
        ));
        // A role that stopped early on its own (not with the whole run)
        // cut it where it stopped, which cannot be known: no step is
        // judged then.
        let roles_cut =
            senders.iter().any(|r| r.interrupted) || receivers.iter().any(|r| r.interrupted);
        Ending {
            interrupted: interrupted || roles_cut,
            cut_second,
            missing_reports,
        }
    }

    /// A run that ran to its end with every report in.
    pub fn complete() -> Self {
        Ending::default()
    }

    /// Whether a step whose last answer came `answered_second` after `t0`
    /// can be judged, given `drain_seconds` for its events to arrive (the
    /// aggregator's own drain, for the run's last answer).
    pub(super) fn judges(&self, answered_second: f64, drain_seconds: u32) -> bool {
        self.missing_reports.is_empty()
            && (!self.interrupted
                || self
                    .cut_second
                    .is_some_and(|cut| answered_second + f64::from(drain_seconds) <= cut))
    }
}

/// The mean of per-second steal shares; None without any.
pub(super) fn mean_steal(shares: impl Iterator<Item = f64>) -> Option<f64> {
    let (n, sum) = shares.fold((0u32, 0.0), |(n, s), x| (n + 1, s + x));
    (n > 0).then(|| sum / f64::from(n))
}

/// One summary per step, with the counts the roles keep per second
/// (accepted, failed, unsent, duplicates, reordered) added up over its
/// seconds.
pub(super) fn per_step(
    plan: &RunPlan,
    senders: &[SenderReport],
    receivers: &[ReceiverReport],
) -> Vec<StepSummary> {
    let s = &plan.schedule;
    let mut steps: Vec<StepSummary> = s
        .steps()
        .iter()
        .enumerate()
        .map(|(i, st)| StepSummary {
            step: i + 1,
            rps: plan.offered(st.rps),
            seconds: st.seconds,
            start_second: s.step_start_second(i),
            ..StepSummary::default()
        })
        .collect();
    for st in steps.iter_mut() {
        let range = st.start_second as usize..(st.start_second + st.seconds as u64) as usize;
        for r in senders {
            for sec in r.seconds.get(range.clone()).unwrap_or_default() {
                st.totals.accepted += sec.accepted;
                st.totals.failed += sec.failed.total();
                st.totals.unsent += sec.unsent;
                st.failures.merge(&sec.failed);
            }
        }
        for r in receivers {
            for sec in r.seconds.get(range.clone()).unwrap_or_default() {
                st.totals.duplicates += sec.duplicates;
                st.totals.reordered += sec.reordered;
            }
        }
        st.totals.sent = st.totals.accepted + st.totals.failed;
        st.send_rps = st.totals.sent as f64 / st.seconds as f64;
    }
    steps
}

/// Each step's roles whose CPU quota stopped them at least
/// [`THROTTLED_NOTABLE_MS`] during it.
pub(super) fn throttled(
    steps: &[StepSummary],
    senders: &[SenderReport],
    receivers: &[ReceiverReport],
) -> Vec<Vec<RoleThrottled>> {
    let hosts = super::hosts::role_hosts(senders, receivers);
    steps
        .iter()
        .map(|st| {
            let range = st.start_second as usize..(st.start_second + st.seconds as u64) as usize;
            hosts
                .iter()
                .map(|(role, h)| RoleThrottled {
                    role: role.clone(),
                    // As far as the role sampled: a run cut short, or a last
                    // second ended before its tick, is counted as far as it goes.
                    throttled_ms: {
                        let v = &h.throttled_ms_per_second;
                        let end = range.end.min(v.len());
                        v[range.start.min(end)..end]
                            .iter()
                            .map(|&ms| f64::from(ms))
                            .sum()
                    },
                })
                .filter(|t| t.throttled_ms >= THROTTLED_NOTABLE_MS)
                .collect()
        })
        .collect()
}

/// Flags the steps the generator shaped, and judges every step that can
/// be: its events had their drain and every report is in.
pub(super) fn judge(
    plan: &RunPlan,
    steps: &mut [StepSummary],
    series: &[SecondRow],
    receivers: &[ReceiverReport],
    ending: &Ending,
) {
    // Unsent events say nothing when a sender's report is missing, and an
    // interrupted run cancels what it had in flight.
    let complete = !ending.interrupted && ending.missing_reports.is_empty();
    for st in steps.iter_mut() {
        st.delivery_rps = st.totals.delivered as f64 / st.seconds as f64;
        let lagging = st
            .latency_ms
            .get(LatencyKind::PacerLag)
            .is_some_and(|p| p.p99_99 > GENERATOR_LAG_LIMIT_MS);
        st.generator_limited = lagging || (complete && held_back(st) > 0);
        st.receiver_cpu = receiver_cpu(receivers, st.start_second, st.seconds);
        // The step's own seconds, by index: a walk of the whole series for
        // each step would be quadratic in a long pace.
        let start = st.start_second as usize;
        let rows = series
            .get(start..(start + st.seconds as usize).min(series.len()))
            .unwrap_or_default();
        st.host_steal = mean_steal(rows.iter().filter_map(|r| r.host_steal));
        // A step cut short, or whose events could still be on their way
        // when the run was cut, says nothing about holding; nor does one
        // missing a receiver's deliveries. Its last answer came at most its
        // slowest publish after its end.
        let answered = (st.start_second + st.seconds as u64) as f64
            + st.latency_ms
                .get(LatencyKind::Publish)
                .map_or(0.0, |p| p.max / 1e3);
        st.judged = ending.judges(answered, plan.drain_seconds);
        if st.judged {
            st.breaks = crate::analysis::step_breaks(st, series, plan.copies);
        }
    }
}

/// Events of the step the sender never offered because of its own
/// bounds: the in-flight bound, or its drain after the schedule ended
/// with every connection it may open busy (`cancelled`, in a run that was
/// not interrupted).
pub fn held_back(st: &StepSummary) -> u64 {
    st.failures.inflight_limit + st.failures.cancelled
}

/// The busiest receiver's share of its threads' CPU over a step's seconds.
fn receiver_cpu(receivers: &[ReceiverReport], start: u64, seconds: u32) -> Option<f64> {
    receivers
        .iter()
        .filter_map(|r| {
            let per = r
                .cpu_per_second_ns
                .get(start as usize..(start + seconds as u64) as usize)?;
            let used: u64 = per.iter().sum();
            Some(used as f64 / (r.threads.max(1) as f64 * seconds as f64 * 1e9))
        })
        .reduce(f64::max)
}

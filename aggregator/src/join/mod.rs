//! Joins sender and receiver ledgers into the results model.
//!
//! Layout:
//! - [`bits`]: delivered, lost, unexpected and duplicates, bit by bit.
//! - [`latency`]: every latency kind's per-second histograms merged across
//!   roles: the series, each step and the whole run.
//! - [`steps`]: per-step counts, the generator flag, and which steps held.

mod bits;
mod hosts;
mod latency;
mod steps;
#[cfg(test)]
pub(crate) mod tests;

use steps::mean_steal;
pub use steps::Ending;

use crate::model::*;
use brokerbench_core::histogram::Histogram;
use brokerbench_core::latency::LatencyKind;
use brokerbench_core::plan::RunPlan;
use brokerbench_core::wire::{
    ConnectionCounts, FailureCounts, ReceiverReport, RejectCounts, Role, SenderReport,
};

/// Joins the reports of one run.
pub fn join(
    plan: &RunPlan,
    senders: &[SenderReport],
    receivers: &[ReceiverReport],
    ending: &Ending,
) -> Results {
    // Each stage returns its part; the parts are put together here.
    let mut series = rows(plan, senders, receivers);
    let mut steps = steps::per_step(plan, senders, receivers);
    let mut totals = totals(senders, receivers);
    let bits = bits::reconcile(plan, senders, receivers, series.len());
    let latency = latency::merge(plan, senders, receivers, series.len());
    let throttled = steps::throttled(&steps, senders, receivers);
    bits.run.add_to(&mut totals);
    for (row, (b, l)) in series
        .iter_mut()
        .zip(bits.seconds.iter().zip(latency.seconds))
    {
        row.lost += b.lost;
        row.duplicates += b.duplicates;
        row.latency = l.latency;
        row.running_p99_99 = l.running_p99_99;
    }
    for (st, ((b, l), t)) in steps
        .iter_mut()
        .zip(bits.steps.iter().zip(latency.steps).zip(throttled))
    {
        b.add_to(&mut st.totals);
        st.latency_ms = l;
        st.throttled = t;
    }
    let (lost, latency_ms) = (bits.lost, latency.run);
    crate::faults::mark(&plan.faults, &mut series);
    let cut = ending.cut_second.filter(|_| ending.interrupted);
    let fault_effects = crate::faults::effects(&plan.faults, &series, cut);
    steps::judge(plan, &mut steps, &series, receivers, ending);
    let generator_limited = steps.iter().any(|st| st.generator_limited);
    let breaking_point = crate::analysis::breaking_point(&steps);

    let (failures, rejected, connections) = role_counts(senders, receivers);
    let cpu = cpu(senders, receivers, &totals);
    let summary = Summary {
        schema_version: SCHEMA_VERSION,
        plan: plan.clone(),
        started_at: rfc3339(plan.t0()),
        host_steal: mean_steal(
            series
                .iter()
                .filter(|r| r.step.is_some())
                .filter_map(|r| r.host_steal),
        ),
        host_damon_cpu_ms: senders
            .iter()
            .map(|r| r.host.damon_cpu_ns)
            .chain(receivers.iter().map(|r| r.host.damon_cpu_ns))
            .flatten()
            .max()
            .map(|ns| ns as f64 / 1e6),
        sut: None,
        interrupted: ending.interrupted,
        missing_reports: ending.missing_reports.clone(),
        clocks: role_clocks(plan, senders, receivers),
        clock_uncertain_seconds: series
            .iter()
            .filter(|r| {
                let p50 = r.latency(LatencyKind::E2e).map(|p| p.p50);
                matches!((r.clock_uncertainty_ms, p50), (Some(u), Some(p)) if u > CLOCK_UNCERTAINTY_NOTABLE * p)
            })
            .map(|r| r.second)
            .collect(),
        nodes: role_nodes(senders, receivers),
        cpu_quotas: hosts::role_quotas(plan, senders, receivers),
        per_sender: per_sender(senders, &lost),
        totals,
        failures,
        rejected,
        latency_ms,
        connections,
        cpu,
        generator_limited,
        breaking_point,
        fault_effects,
        steps,
    };
    Results {
        summary,
        series,
        lost,
    }
}

/// What the roles spent: CPU in all and per event (the spinning pacer's
/// idle turns left out of the sender's).
fn cpu(senders: &[SenderReport], receivers: &[ReceiverReport], totals: &Totals) -> Cpu {
    let sender_ns: u64 = senders.iter().map(|r| r.cpu_ns).sum();
    let pacer_spin_ns: u64 = senders.iter().map(|r| r.pacer_spin_ns.min(r.cpu_ns)).sum();
    let receiver_ns: u64 = receivers.iter().map(|r| r.cpu_ns).sum();
    let per = |ns: u64, n: u64| (n > 0).then(|| ns as f64 / 1e3 / n as f64);
    let received_requests =
        totals.delivered + totals.duplicates + totals.warmup_received + totals.rejected;
    Cpu {
        sender_ns,
        receiver_ns,
        pacer_spin_ns,
        sender_us_per_event: per(sender_ns - pacer_spin_ns, totals.sent + totals.warmup_sent),
        receiver_us_per_event: per(receiver_ns, received_requests),
    }
}

/// The senders' failures by reason and connections, the receivers'
/// refusals.
fn role_counts(
    senders: &[SenderReport],
    receivers: &[ReceiverReport],
) -> (FailureCounts, RejectCounts, ConnectionCounts) {
    let mut failures = FailureCounts::default();
    let mut rejected = RejectCounts::default();
    let mut connections = ConnectionCounts::default();
    for r in senders {
        failures.merge(&r.failed);
        connections.initial += r.connections.initial;
        connections.opened += r.connections.opened;
        connections.peak += r.connections.peak;
    }
    for r in receivers {
        rejected.merge(&r.rejected);
    }
    (failures, rejected, connections)
}

/// Each sender's own figures: its counts, its lost events (from the
/// ranges), its publish latency over the whole run.
fn per_sender(senders: &[SenderReport], lost: &[LostRange]) -> Vec<SenderFigures> {
    let mut out: Vec<SenderFigures> = senders
        .iter()
        .map(|r| {
            let mut latency_ms = Latencies::default();
            for (kind, w) in &r.windows {
                let hs: Vec<Histogram> = w
                    .iter()
                    .filter_map(|h| Histogram::try_from(h).ok())
                    .collect();
                latency_ms.set(*kind, Histogram::merged(&hs).percentiles());
            }
            SenderFigures {
                index: r.index,
                sent: r.released,
                accepted: r.accepted.count(),
                failed: r.failed.total(),
                lost: lost
                    .iter()
                    .filter(|l| l.sender == r.index)
                    .map(|l| l.last - l.first + 1)
                    .sum(),
                latency_ms,
                interrupted: r.interrupted,
            }
        })
        .collect();
    out.sort_by_key(|f| f.index);
    out
}

/// The run's counts as the roles reported them; the bit reconciliation
/// adds delivered, lost and unexpected.
fn totals(senders: &[SenderReport], receivers: &[ReceiverReport]) -> Totals {
    let mut t = Totals::default();
    for r in senders {
        t.sent += r.released;
        t.accepted += r.accepted.count();
        t.failed += r.failed.total();
        t.unsent += r.seconds.iter().map(|s| s.unsent).sum::<u64>();
        t.warmup_sent += r.warmup_sent;
    }
    for r in receivers {
        t.duplicates += r.duplicates;
        t.reordered += r.reordered;
        t.warmup_received += r.warmup_received;
        t.rejected += r.rejected.total();
    }
    t
}

/// One row per second, with the counts every role keeps per second.
fn rows(plan: &RunPlan, senders: &[SenderReport], receivers: &[ReceiverReport]) -> Vec<SecondRow> {
    let s = &plan.schedule;
    let len = [s.total_seconds() as usize]
        .into_iter()
        .chain(senders.iter().map(|r| r.seconds.len()))
        .chain(receivers.iter().map(|r| r.seconds.len()))
        .max()
        .unwrap_or(0);
    let mut series: Vec<SecondRow> = (0..len as u64)
        .map(|sec| {
            let step = s.step_at_second(sec);
            SecondRow {
                second: sec,
                step: step.map(|i| i + 1),
                target_rps: step.map_or(0, |i| plan.offered(s.steps()[i].rps)),
                ..SecondRow::default()
            }
        })
        .collect();
    for r in senders {
        for (row, sec) in series.iter_mut().zip(&r.seconds) {
            row.sent += sec.sent;
            row.failed += sec.failed.total();
            row.connections_opened += sec.connections_opened;
        }
    }
    for r in receivers {
        for (row, sec) in series.iter_mut().zip(&r.seconds) {
            row.delivered += sec.delivered;
            row.duplicates += sec.duplicates;
        }
    }
    let hosts = hosts::role_hosts(senders, receivers);
    // Steal: the worst of the roles' machines, each second; throttling:
    // the longest any role's quota stopped it.
    for (_, h) in &hosts {
        for (row, &share) in series.iter_mut().zip(&h.steal_per_second) {
            row.host_steal = Some(row.host_steal.unwrap_or(0.0).max(f64::from(share)));
        }
        for (row, &ms) in series.iter_mut().zip(&h.throttled_ms_per_second) {
            row.throttled_ms = Some(row.throttled_ms.unwrap_or(0.0).max(f64::from(ms)));
        }
    }
    clock_columns(plan, senders, receivers, &mut series);
    series
}

/// Each second's clock figures: the estimate in force for each role by the
/// end of the second (the start's, or the latest taken during the run).
fn clock_columns(
    plan: &RunPlan,
    senders: &[SenderReport],
    receivers: &[ReceiverReport],
    series: &mut [SecondRow],
) {
    let in_force = |c: &brokerbench_core::wire::ClockReport, end_ns: u64| {
        c.during
            .iter()
            .rev()
            .find(|p| p.at_unix_ns <= end_ns)
            .map_or((c.start.offset_ns, c.start.uncertainty_ns), |p| {
                (p.offset_ns, p.uncertainty_ns)
            })
    };
    let ms = |ns: f64| ns / 1e6;
    for row in series.iter_mut() {
        let end_ns = plan.t0() + (row.second + 1) * 1_000_000_000;
        let (mut worst_offset, mut sender_u, mut receiver_u) =
            (None::<i64>, None::<u64>, None::<u64>);
        let clocks = senders
            .iter()
            .map(|r| (true, &r.host.clock))
            .chain(receivers.iter().map(|r| (false, &r.host.clock)));
        for (is_sender, clock) in clocks {
            let Some(c) = clock else { continue };
            let (offset, u) = in_force(c, end_ns);
            if worst_offset.is_none_or(|w| offset.unsigned_abs() > w.unsigned_abs()) {
                worst_offset = Some(offset);
            }
            let slot = if is_sender {
                &mut sender_u
            } else {
                &mut receiver_u
            };
            *slot = Some(slot.unwrap_or(0).max(u));
        }
        row.clock_offset_ms = worst_offset.map(|o| ms(o as f64));
        if sender_u.is_some() || receiver_u.is_some() {
            row.clock_uncertainty_ms =
                Some(ms((sender_u.unwrap_or(0) + receiver_u.unwrap_or(0)) as f64));
        }
    }
}

/// The clocks the roles estimated against the aggregator's: senders, then
/// receivers, by index.
fn role_clocks(
    plan: &RunPlan,
    senders: &[SenderReport],
    receivers: &[ReceiverReport],
) -> Vec<RoleClock> {
    let mut clocks: Vec<_> = senders
        .iter()
        .map(|r| (Role::Sender, r.index, &r.host.clock))
        .chain(
            receivers
                .iter()
                .map(|r| (Role::Receiver, r.index, &r.host.clock)),
        )
        .filter_map(|(role, i, c)| c.as_ref().map(|c| (role, i, c)))
        .collect();
    clocks.sort_by_key(|&(role, i, _)| (role == Role::Receiver, i));
    let ms = |ns: i64| ns as f64 / 1e6;
    clocks
        .into_iter()
        .map(|(role, i, c)| RoleClock {
            role: format!("{} {i}", role.name()),
            offset_ms: ms(c.start.offset_ns),
            uncertainty_ms: ms(c.start.uncertainty_ns as i64),
            applied: c.start.applied,
            offset_end_ms: c.end.map(|e| ms(e.offset_ns)),
            drift_ms: c.end.map(|e| ms(e.offset_ns - c.start.offset_ns)),
            uncertainty_end_ms: c.end.map(|e| ms(e.uncertainty_ns as i64)),
            during: c
                .during
                .iter()
                .map(|p| ClockEstimate {
                    second: (p.at_unix_ns as f64 - plan.t0() as f64) / 1e9,
                    offset_ms: ms(p.offset_ns),
                    uncertainty_ms: ms(p.uncertainty_ns as i64),
                    adopted: p.adopted,
                })
                .collect(),
        })
        .collect()
}

/// The nodes the roles said they ran on: senders, then receivers, by index.
fn role_nodes(senders: &[SenderReport], receivers: &[ReceiverReport]) -> Vec<RoleNode> {
    let mut nodes: Vec<_> = senders
        .iter()
        .map(|r| (Role::Sender, r.index, &r.host.node))
        .chain(
            receivers
                .iter()
                .map(|r| (Role::Receiver, r.index, &r.host.node)),
        )
        .filter_map(|(role, i, n)| n.as_ref().map(|n| (role, i, n.clone())))
        .collect();
    nodes.sort_by_key(|(role, i, _)| (*role == Role::Receiver, *i));
    nodes
        .into_iter()
        .map(|(role, i, node)| RoleNode {
            role: format!("{} {i}", role.name()),
            node,
        })
        .collect()
}

/// RFC 3339 (UTC) of a wall-clock ns.
pub fn rfc3339(unix_ns: u64) -> String {
    chrono::DateTime::from_timestamp(
        (unix_ns / 1_000_000_000) as i64,
        (unix_ns % 1_000_000_000) as u32,
    )
    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    .unwrap_or_default()
}

//! Every latency kind's per-second histograms, merged across the roles
//! that measure it: each second's percentiles and running P99.99, each
//! step's percentiles, and the whole run's. Merging is exact, so the
//! figures are those one role would have measured had it seen every event.

use crate::model::{Latencies, SecondRow, StepSummary};
use brokerbench_core::histogram::WireHistogram;
use brokerbench_core::latency::{LatencyKind, MeasuredBy};
use brokerbench_core::plan::RunPlan;
use brokerbench_core::series::LatencyWindows;
use brokerbench_core::wire::{ReceiverReport, SenderReport};

/// Fills each second's and each step's latencies; returns the whole run's.
pub(super) fn merge(
    plan: &RunPlan,
    senders: &[SenderReport],
    receivers: &[ReceiverReport],
    series: &mut [SecondRow],
    steps: &mut [StepSummary],
) -> Latencies {
    let s = &plan.schedule;
    let mut run = Latencies::default();
    for kind in LatencyKind::ALL {
        let parts: Vec<&[WireHistogram]> = match kind.measured_by() {
            MeasuredBy::Sender => senders
                .iter()
                .filter_map(|r| r.windows.get(&kind))
                .collect(),
            MeasuredBy::Receiver => receivers
                .iter()
                .filter_map(|r| r.windows.get(&kind))
                .collect::<Vec<_>>(),
        }
        .into_iter()
        .map(Vec::as_slice)
        .collect();
        if parts.is_empty() {
            continue;
        }
        // The aggregator refused malformed histograms on arrival.
        let windows = LatencyWindows::merged(s, parts).unwrap_or_else(|_| LatencyWindows::new(s));
        let summary = windows.summarise(s);
        for (row, p) in series.iter_mut().zip(&summary.windowed) {
            if let Some(p) = p {
                row.latency.insert(kind, *p);
            }
        }
        if kind.headline() {
            for (row, r) in series.iter_mut().zip(&summary.running_p99_99) {
                if let Some(r) = r {
                    row.running_p99_99.insert(kind, *r);
                }
            }
        }
        for (st, h) in steps.iter_mut().zip(&summary.steps) {
            st.latency_ms.set(kind, h.percentiles());
        }
        run.set(kind, summary.run().percentiles());
    }
    run
}

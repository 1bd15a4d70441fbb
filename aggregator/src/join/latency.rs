//! Every latency kind's per-second histograms, merged across the roles
//! that measure it: each second's percentiles and running P99.99, each
//! step's percentiles, and the whole run's. Merging is exact, so the
//! figures are those one role would have measured had it seen every event.

use crate::model::Latencies;
use brokerbench_core::histogram::Percentiles;
use brokerbench_core::histogram::WireHistogram;
use brokerbench_core::latency::{LatencyKind, MeasuredBy, PerKind};
use brokerbench_core::plan::RunPlan;
use brokerbench_core::series::LatencyWindows;
use brokerbench_core::wire::{ReceiverReport, SenderReport};

/// Each second's latencies (and running P99.99 of the headline ones).
#[derive(Debug, Default, Clone)]
pub(super) struct SecondLatency {
    pub latency: PerKind<Percentiles>,
    pub running_p99_99: PerKind<f64>,
}

/// The merged latencies: each second's, each step's, the whole run's.
pub(super) struct Merged {
    pub seconds: Vec<SecondLatency>,
    pub steps: Vec<Latencies>,
    pub run: Latencies,
}

/// Merges every kind's windows across the roles that measure it, over
/// `seconds` seconds of series.
pub(super) fn merge(
    plan: &RunPlan,
    senders: &[SenderReport],
    receivers: &[ReceiverReport],
    seconds: usize,
) -> Merged {
    let s = &plan.schedule;
    let mut merged = Merged {
        seconds: vec![SecondLatency::default(); seconds],
        steps: vec![Latencies::default(); s.steps().len()],
        run: Latencies::default(),
    };
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
        for (sec, p) in merged.seconds.iter_mut().zip(&summary.windowed) {
            if let Some(p) = p {
                sec.latency.insert(kind, *p);
            }
        }
        if kind.headline() {
            for (sec, r) in merged.seconds.iter_mut().zip(&summary.running_p99_99) {
                if let Some(r) = r {
                    sec.running_p99_99.insert(kind, *r);
                }
            }
        }
        for (st, h) in merged.steps.iter_mut().zip(&summary.steps) {
            st.set(kind, h.percentiles());
        }
        merged.run.set(kind, summary.run().percentiles());
    }
    merged
}

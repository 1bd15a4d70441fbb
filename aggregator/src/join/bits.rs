//! Delivered, lost, unexpected and duplicate events, found bit by bit per
//! sender and copy: `lost` = accepted and never received; `unexpected` =
//! received though the send failed; `delivered_of_accepted` = both.

use crate::model::{LostRange, SecondRow, StepSummary, Totals};
use brokerbench_core::bitset::BitSet;
use brokerbench_core::pace::Part;
use brokerbench_core::plan::RunPlan;
use brokerbench_core::wire::{ReceiverReport, SenderReport};

/// Reconciles the accepted bits of every sender with the received bits
/// of every receiver: fills the run's, each step's and each second's
/// delivered, lost, unexpected and duplicate counts; returns the lost
/// events as ranges.
pub(super) fn reconcile(
    plan: &RunPlan,
    senders: &[SenderReport],
    receivers: &[ReceiverReport],
    totals: &mut Totals,
    series: &mut [SecondRow],
    steps: &mut [StepSummary],
) -> Vec<LostRange> {
    let mut lost = Vec::new();
    for sender in 0..plan.senders {
        // Its sequence numbers are its own: its part of the schedule.
        let s = plan.part(sender);
        let accepted = senders.iter().filter(|r| r.index == sender).fold(
            BitSet::new(s.total_events()),
            |mut a, r| {
                a.union_with(&r.accepted);
                a
            },
        );
        // Without its sender's report nothing is known to be accepted, so
        // nothing it sent is unexpected either.
        let reported = senders.iter().any(|r| r.index == sender);
        for copy in 0..plan.copies.max(1) {
            let stream = (copy * plan.senders + sender) as usize;
            let received = received(&s, receivers, stream, totals, series, steps);
            // What arrived of a sender that never reported is shown apart:
            // nothing it sent is known, so it adds up with nothing.
            if !reported {
                totals.delivered_unreported += received.count();
                continue;
            }
            totals.delivered += received.count();
            for seq in accepted.intersection(&received) {
                totals.delivered_of_accepted += 1;
                if let Some(i) = s.step_of(seq) {
                    steps[i].totals.delivered_of_accepted += 1;
                }
            }
            for seq in accepted.difference(&received) {
                totals.lost += 1;
                count(&s, seq, series, |r| &mut r.lost, steps, |t| &mut t.lost);
                extend(&mut lost, sender, copy, seq);
            }
            for seq in received.difference(&accepted).filter(|_| reported) {
                totals.unexpected += 1;
                if let Some(i) = s.step_of(seq) {
                    steps[i].totals.unexpected += 1;
                }
            }
            for (i, st) in steps.iter_mut().enumerate() {
                let (a, b) = (s.first_seq_of(i), s.first_seq_of(i + 1));
                st.totals.delivered += (a..b).filter(|&q| received.contains(q)).count() as u64;
            }
        }
    }
    lost
}

/// What every receiver got of one stream. An event received by two
/// receivers is delivered once and a duplicate once (each receiver counts
/// only its own repeats); the per-second delivery rate stays each
/// receiver's own, counted by arrival second, which the bits do not keep.
fn received(
    s: &Part,
    receivers: &[ReceiverReport],
    stream: usize,
    totals: &mut Totals,
    series: &mut [SecondRow],
    steps: &mut [StepSummary],
) -> BitSet {
    let mut received = BitSet::new(s.total_events());
    for bits in receivers.iter().filter_map(|r| r.received.get(stream)) {
        for seq in bits.intersection(&received) {
            totals.duplicates += 1;
            count(
                s,
                seq,
                series,
                |r| &mut r.duplicates,
                steps,
                |t| &mut t.duplicates,
            );
        }
        received.union_with(bits);
    }
    received
}

/// Counts `seq` once more in its second's row and in its step's totals.
fn count(
    s: &Part,
    seq: u64,
    series: &mut [SecondRow],
    row: impl Fn(&mut SecondRow) -> &mut u64,
    steps: &mut [StepSummary],
    step: impl Fn(&mut Totals) -> &mut u64,
) {
    if let Some(sec) = s.second_of(seq) {
        *row(&mut series[sec as usize]) += 1;
    }
    if let Some(i) = s.step_of(seq) {
        *step(&mut steps[i].totals) += 1;
    }
}

/// Adds a lost event to the ranges, extending the last one when it follows.
fn extend(lost: &mut Vec<LostRange>, sender: u32, copy: u32, seq: u64) {
    match lost.last_mut() {
        Some(r) if r.sender == sender && r.copy == copy && r.last + 1 == seq => r.last = seq,
        _ => lost.push(LostRange {
            sender,
            copy,
            first: seq,
            last: seq,
        }),
    }
}

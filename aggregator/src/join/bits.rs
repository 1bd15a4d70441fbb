//! Delivered, lost, unexpected and duplicate events, found bit by bit per
//! sender and copy: `lost` = accepted and never received; `unexpected` =
//! received though the send failed; `delivered_of_accepted` = both.

use crate::model::{LostRange, Totals};
use brokerbench_core::bitset::BitSet;
use brokerbench_core::pace::Part;
use brokerbench_core::plan::RunPlan;
use brokerbench_core::wire::{ReceiverReport, SenderReport};

/// Counts the bits give, for the run or one step.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    pub delivered: u64,
    pub delivered_of_accepted: u64,
    pub lost: u64,
    pub unexpected: u64,
    pub duplicates: u64,
    /// Received of a sender that never reported (the run's only).
    pub delivered_unreported: u64,
}

impl Counts {
    /// Adds these counts to `t`.
    pub fn add_to(&self, t: &mut Totals) {
        t.delivered += self.delivered;
        t.delivered_of_accepted += self.delivered_of_accepted;
        t.lost += self.lost;
        t.unexpected += self.unexpected;
        t.duplicates += self.duplicates;
        t.delivered_unreported += self.delivered_unreported;
    }
}

/// What the bits say of one second, by the events scheduled in it.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct SecondCounts {
    pub lost: u64,
    pub duplicates: u64,
}

/// The reconciliation: the run's counts, each step's and each second's,
/// and the lost events as ranges.
pub(super) struct Bits {
    pub run: Counts,
    pub steps: Vec<Counts>,
    pub seconds: Vec<SecondCounts>,
    pub lost: Vec<LostRange>,
}

/// Reconciles the accepted bits of every sender with the received bits
/// of every receiver, over `seconds` seconds of series.
pub(super) fn reconcile(
    plan: &RunPlan,
    senders: &[SenderReport],
    receivers: &[ReceiverReport],
    seconds: usize,
) -> Bits {
    let mut bits = Bits {
        run: Counts::default(),
        steps: vec![Counts::default(); plan.schedule.steps().len()],
        seconds: vec![SecondCounts::default(); seconds],
        lost: Vec::new(),
    };
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
            let received = received(&s, receivers, stream, &mut bits);
            // What arrived of a sender that never reported is shown apart:
            // nothing it sent is known, so it adds up with nothing.
            if !reported {
                bits.run.delivered_unreported += received.count();
                continue;
            }
            compare(&s, &accepted, &received, &mut bits);
            extend_all(&mut bits.lost, sender, copy, accepted.difference(&received));
        }
    }
    bits
}

/// Counts one stream's accepted bits against its received bits.
fn compare(s: &Part, accepted: &BitSet, received: &BitSet, bits: &mut Bits) {
    bits.run.delivered += received.count();
    for seq in accepted.intersection(received) {
        bits.run.delivered_of_accepted += 1;
        if let Some(i) = s.step_of(seq) {
            bits.steps[i].delivered_of_accepted += 1;
        }
    }
    for seq in accepted.difference(received) {
        bits.run.lost += 1;
        count(s, seq, bits, |r| &mut r.lost, |t| &mut t.lost);
    }
    for seq in received.difference(accepted) {
        bits.run.unexpected += 1;
        if let Some(i) = s.step_of(seq) {
            bits.steps[i].unexpected += 1;
        }
    }
    for (i, st) in bits.steps.iter_mut().enumerate() {
        let (a, b) = (s.first_seq_of(i), s.first_seq_of(i + 1));
        st.delivered += (a..b).filter(|&q| received.contains(q)).count() as u64;
    }
}

/// What every receiver got of one stream. An event received by two
/// receivers is delivered once and a duplicate once (each receiver counts
/// only its own repeats); the per-second delivery rate stays each
/// receiver's own, counted by arrival second, which the bits do not keep.
fn received(s: &Part, receivers: &[ReceiverReport], stream: usize, bits: &mut Bits) -> BitSet {
    let mut received = BitSet::new(s.total_events());
    for r in receivers.iter().filter_map(|r| r.received.get(stream)) {
        for seq in r.intersection(&received) {
            bits.run.duplicates += 1;
            count(s, seq, bits, |r| &mut r.duplicates, |t| &mut t.duplicates);
        }
        received.union_with(r);
    }
    received
}

/// Counts `seq` once more in its second's counts and in its step's.
fn count(
    s: &Part,
    seq: u64,
    bits: &mut Bits,
    second: impl Fn(&mut SecondCounts) -> &mut u64,
    step: impl Fn(&mut Counts) -> &mut u64,
) {
    if let Some(sec) = s
        .second_of(seq)
        .and_then(|sec| bits.seconds.get_mut(sec as usize))
    {
        *second(sec) += 1;
    }
    if let Some(i) = s.step_of(seq) {
        *step(&mut bits.steps[i]) += 1;
    }
}

/// Adds lost events, in order, to the ranges.
fn extend_all(lost: &mut Vec<LostRange>, sender: u32, copy: u32, seqs: impl Iterator<Item = u64>) {
    for seq in seqs {
        extend(lost, sender, copy, seq);
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

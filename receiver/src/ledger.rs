//! The delivery ledger: one received bit per event per sender and copy
//! (fan-out), duplicates, and e2e latency windows by the second of each
//! event's intended time.

use brokerbench_core::bitset::BitSet;
use brokerbench_core::identity::EventIdentity;
use brokerbench_core::latency::{LatencyKind, MeasuredBy, PerKind};
use brokerbench_core::plan::RunPlan;
use brokerbench_core::series::{Counts, LatencyWindows};
use brokerbench_core::wire::{Progress, ReceiverReport, ReceiverSecond, RejectCounts, Role};

/// No sequence number yet.
const NONE: u64 = u64::MAX;

/// What the ledger made of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    First,
    Duplicate,
    Warmup,
    OutOfRange,
}

/// Everything one receiver knows about the events it got.
pub struct DeliveryLedger {
    plan: RunPlan,
    received: Vec<BitSet>,
    unique: u64,
    duplicates: u64,
    duplicates_per_second: Vec<u64>,
    /// The highest sequence number received per (stream, partition key).
    highest: Vec<u64>,
    reordered: u64,
    reordered_per_second: Vec<u64>,
    delivered_per_second: Counts,
    windows: PerKind<LatencyWindows>,
    warmup_received: u64,
    /// e2e latency cumulated for `/metrics`.
    live: brokerbench_core::buckets::Cumulative,
}

/// Order is checked per partition key, or per stream when there are none.
fn keys(plan: &RunPlan) -> usize {
    plan.partition_keys.max(1) as usize
}

impl DeliveryLedger {
    /// An empty ledger for a started plan.
    pub fn new(plan: &RunPlan) -> Self {
        let s = &plan.schedule;
        DeliveryLedger {
            plan: plan.clone(),
            // Stream `copy * senders + sender`: that sender's part.
            received: (0..plan.senders * plan.copies.max(1))
                .map(|stream| BitSet::new(plan.part(stream % plan.senders.max(1)).total_events()))
                .collect(),
            unique: 0,
            duplicates: 0,
            duplicates_per_second: vec![0; s.total_seconds() as usize],
            highest: vec![NONE; (plan.senders * plan.copies.max(1)) as usize * keys(plan)],
            reordered: 0,
            reordered_per_second: vec![0; s.total_seconds() as usize],
            delivered_per_second: Counts::default(),
            windows: LatencyKind::of(MeasuredBy::Receiver)
                .map(|k| (k, LatencyWindows::new(s)))
                .collect(),
            warmup_received: 0,
            live: Default::default(),
        }
    }

    /// Records copy `copy` of an event, received at `received_unix_ns`.
    pub fn record(&mut self, id: &EventIdentity, copy: u32, received_unix_ns: u64) -> Delivery {
        if id.warmup {
            self.warmup_received += 1;
            return Delivery::Warmup;
        }
        if id.sender >= self.plan.senders || copy >= self.plan.copies.max(1) {
            return Delivery::OutOfRange;
        }
        let stream = (copy * self.plan.senders + id.sender) as usize;
        let (Some(bits), Some(intended)) = (
            self.received.get_mut(stream),
            self.plan.intended_unix_ns(id.sender, id.seq),
        ) else {
            return Delivery::OutOfRange;
        };
        let second = self.plan.second_at(intended);
        if bits.insert(id.seq) {
            self.duplicates += 1;
            if let Some(d) = self.duplicates_per_second.get_mut(second as usize) {
                *d += 1;
            }
            return Delivery::Duplicate;
        }
        self.unique += 1;
        let key = stream * keys(&self.plan) + self.plan.partition_key(id.seq).unwrap_or(0) as usize;
        match self.highest[key] {
            h if h != NONE && id.seq < h => {
                self.reordered += 1;
                if let Some(r) = self.reordered_per_second.get_mut(second as usize) {
                    *r += 1;
                }
            }
            _ => self.highest[key] = id.seq,
        }
        self.delivered_per_second
            .add(self.plan.second_at(received_unix_ns));
        let sent = id.sent_unix_ns.unwrap_or(intended);
        for (kind, from) in [(LatencyKind::E2e, intended), (LatencyKind::E2eRaw, sent)] {
            if let Some(w) = self.windows.get_mut(&kind) {
                w.record(second, from, received_unix_ns);
            }
        }
        Delivery::First
    }

    /// Whether a sequence number and copy are inside the plan (for answering 400).
    pub fn in_range(&self, id: &EventIdentity, copy: u32) -> bool {
        id.sender < self.plan.senders
            && copy < self.plan.copies.max(1)
            && if id.warmup {
                let (index, of) = self.plan.share(id.sender);
                self.plan
                    .warmup_schedule()
                    .is_some_and(|w| id.seq < w.part(index, of).total_events())
            } else {
                id.seq < self.plan.part(id.sender).total_events()
            }
    }

    /// Running counters for live progress; latency of `second`; the e2e
    /// latency of the complete seconds cumulated.
    pub fn progress(&mut self, index: u32, second: u64, rejected: u64) -> Progress {
        // Seconds before the current one are complete.
        let complete = self.plan.second_at(brokerbench_core::clock::unix_now_ns());
        let e2e = &self.windows[&LatencyKind::E2e];
        let latency = self.live.upto(complete, |s| e2e.second(s));
        Progress {
            latency: Some(latency),
            role: Some(Role::Receiver),
            index,
            delivered: self.unique,
            duplicates: self.duplicates,
            reordered: self.reordered,
            rejected,
            p99_ms: LatencyWindows::live_p99_ms(&self.windows, second),
            ..Progress::default()
        }
    }

    /// The final report.
    pub fn into_report(
        self,
        index: u32,
        rejected: RejectCounts,
        cpu_ns: u64,
        interrupted: bool,
    ) -> ReceiverReport {
        let n = (self.plan.schedule.total_seconds() as usize).max(self.delivered_per_second.len());
        let seconds = (0..n)
            .map(|i| ReceiverSecond {
                delivered: self.delivered_per_second.get(i as u64),
                duplicates: self.duplicates_per_second.get(i).copied().unwrap_or(0),
                reordered: self.reordered_per_second.get(i).copied().unwrap_or(0),
            })
            .collect();
        ReceiverReport {
            run_id: self.plan.run_id.clone(),
            index,
            received: self.received,
            duplicates: self.duplicates,
            reordered: self.reordered,
            rejected,
            warmup_received: self.warmup_received,
            seconds,
            windows: LatencyWindows::all_to_wire(&self.windows),
            cpu_ns,
            cpu_per_second_ns: Vec::new(),
            threads: 0,
            host: Default::default(),
            interrupted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brokerbench_core::histogram::Histogram;

    const S: u64 = 1_000_000_000;

    fn id(sender: u32, seq: u64) -> EventIdentity {
        EventIdentity {
            sender,
            seq,
            sent_unix_ns: None,
            warmup: false,
        }
    }

    /// A started plan: `pace`, `senders`, `copies`, `t0` at 100 s.
    fn plan(pace: &str, senders: u32, copies: u32) -> RunPlan {
        RunPlan {
            senders,
            copies,
            ..RunPlan::fixture(pace)
        }
    }

    #[test]
    fn duplicates_are_not_deliveries() {
        let plan = plan("10:2", 1, 1);
        let mut l = DeliveryLedger::new(&plan);
        assert_eq!(
            l.record(&id(0, 3), 0, 100 * S + 302_000_000),
            Delivery::First
        );
        assert_eq!(
            l.record(&id(0, 3), 0, 100 * S + 400_000_000),
            Delivery::Duplicate
        );
        assert_eq!(l.record(&id(0, 15), 0, 102 * S + 1), Delivery::First);
        assert_eq!(l.record(&id(0, 20), 0, 102 * S), Delivery::OutOfRange);
        assert_eq!(l.record(&id(0, 4), 1, 102 * S), Delivery::OutOfRange);
        assert!(
            !l.in_range(&id(0, 20), 0) && l.in_range(&id(0, 19), 0) && !l.in_range(&id(0, 19), 1)
        );
        let r = l.into_report(0, RejectCounts::default(), 0, false);
        assert_eq!(r.received[0].count(), 2);
        assert_eq!(r.duplicates, 1);
        assert_eq!(r.seconds[0].duplicates, 1);
        assert_eq!((r.seconds[0].delivered, r.seconds[2].delivered), (1, 1));
        let e2e = |i: usize| Histogram::try_from(&r.windows[&LatencyKind::E2e][i]).unwrap();
        assert_eq!(e2e(0).quantile_ns(1.0), Some(2e6));
        assert_eq!(e2e(1).count(), 1);
        assert_eq!(r.windows.len(), 2, "e2e and e2e_raw");
    }

    #[test]
    fn each_copy_has_its_own_bits() {
        let plan = plan("10:1", 2, 3);
        let mut l = DeliveryLedger::new(&plan);
        for copy in 0..3 {
            assert_eq!(l.record(&id(1, 4), copy, 100 * S), Delivery::First);
        }
        assert_eq!(l.record(&id(1, 4), 2, 100 * S), Delivery::Duplicate);
        assert_eq!(l.record(&id(0, 4), 3, 100 * S), Delivery::OutOfRange);
        let r = l.into_report(0, RejectCounts::default(), 0, false);
        let counts: Vec<u64> = r.received.iter().map(|b| b.count()).collect();
        assert_eq!(
            counts,
            [0, 1, 0, 1, 0, 1],
            "bitset = copy * senders + sender"
        );
        assert_eq!((r.duplicates, r.seconds[0].delivered), (1, 3));
    }

    #[test]
    fn late_events_of_a_key_count_as_reordered() {
        let plan = plan("1000:1", 1, 1);
        let mut l = DeliveryLedger::new(&plan);
        // Key 5: 5, 205, then 105 late. Key 6: 6 alone. 305 after 205: in order.
        for seq in [5, 205, 6, 105, 305] {
            l.record(&id(0, seq), 0, 101 * S);
        }
        let r = l.into_report(0, RejectCounts::default(), 0, false);
        assert_eq!((r.reordered, r.seconds[0].reordered), (1, 1));
    }

    #[test]
    fn without_partition_keys_order_is_per_stream() {
        let plan = RunPlan {
            partition_keys: 0,
            ..plan("1000:1", 2, 1)
        };
        let mut l = DeliveryLedger::new(&plan);
        // Sender 0: 5, 205, then 105 and 6 late. Sender 1: 7 after 9 late; its
        // 7 after sender 0's 205 is in order (another stream).
        for (sender, seq) in [(0, 5), (0, 205), (0, 105), (1, 9), (1, 7), (0, 6), (0, 305)] {
            l.record(&id(sender, seq), 0, 101 * S);
        }
        let r = l.into_report(0, RejectCounts::default(), 0, false);
        assert_eq!((r.reordered, r.seconds[0].reordered), (3, 3));
    }
}

#[cfg(test)]
mod clock_tests {
    use super::*;
    use brokerbench_core::histogram::Histogram;

    /// A receiver whose clock runs behind stamps events before they were
    /// meant to leave: those latencies count as 0 and are kept apart.
    #[test]
    fn events_received_before_their_intended_time_are_counted_negative() {
        let plan = RunPlan::fixture("10:1");
        let mut l = DeliveryLedger::new(&plan);
        for seq in 0..10 {
            let intended = plan.intended_unix_ns(0, seq).unwrap();
            let id = EventIdentity {
                sender: 0,
                seq,
                sent_unix_ns: Some(intended),
                warmup: false,
            };
            // Events 0-3 arrive 4-1 ms "before" they were due.
            let received = intended + seq * 1_000_000 - 4_000_000;
            l.record(&id, 0, received);
        }
        let r = l.into_report(0, RejectCounts::default(), 0, false);
        let p = Histogram::try_from(&r.windows[&LatencyKind::E2e][0])
            .unwrap()
            .percentiles()
            .unwrap();
        assert_eq!(
            (p.count, p.negative, p.negative_min_ms),
            (10, 4, Some(-4.0))
        );
        // Four below zero and one at zero: the 5th smallest is 0.
        assert_eq!((p.p50, p.max), (0.0, 5.0));
    }
}

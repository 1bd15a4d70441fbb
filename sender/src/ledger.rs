//! The sender's ledger: one bit per accepted event, failures by reason,
//! connections opened, and per-second latency windows of every latency the
//! sender measures. Memory is bits per event plus per-second histograms.

use crate::pacer::Job;
use brokerbench_core::bitset::BitSet;
use brokerbench_core::latency::{LatencyKind, MeasuredBy, PerKind};
use brokerbench_core::plan::RunPlan;
use brokerbench_core::series::{Counts, LatencyWindows};
use brokerbench_core::wire::{
    ConnectionCounts, FailureCounts, FailureReason, Progress, Role, SenderReport, SenderSecond,
};

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx at this wall-clock ns.
    Accepted {
        acked_unix_ns: u64,
    },
    Failed(FailureReason),
}

/// Everything one sender knows about its events.
pub struct SenderLedger {
    plan: RunPlan,
    released: u64,
    accepted: BitSet,
    failed: FailureCounts,
    sent_per_second: Counts,
    accepted_per_second: Vec<u64>,
    failed_per_second: Vec<FailureCounts>,
    unsent_per_second: Vec<u64>,
    opened_per_second: Counts,
    connections: ConnectionCounts,
    windows: PerKind<LatencyWindows>,
    warmup_sent: u64,
    warmup_accepted: u64,
    last_exchange_unix_ns: u64,
    /// Publish latency cumulated for `/metrics`.
    live: brokerbench_core::buckets::Cumulative,
}

impl SenderLedger {
    /// An empty ledger of sender `index` for a started plan (`t0` set).
    pub fn new(plan: &RunPlan, index: u32) -> Self {
        let s = &plan.schedule;
        let secs = s.total_seconds() as usize;
        SenderLedger {
            plan: plan.clone(),
            released: 0,
            accepted: BitSet::new(plan.part(index).total_events()),
            failed: FailureCounts::default(),
            sent_per_second: Counts::default(),
            accepted_per_second: vec![0; secs],
            failed_per_second: vec![FailureCounts::default(); secs],
            unsent_per_second: vec![0; secs],
            opened_per_second: Counts::default(),
            connections: ConnectionCounts::default(),
            windows: LatencyKind::of(MeasuredBy::Sender)
                .map(|k| (k, LatencyWindows::new(s)))
                .collect(),
            warmup_sent: 0,
            warmup_accepted: 0,
            last_exchange_unix_ns: 0,
            live: Default::default(),
        }
    }

    /// Records the fate of `job`; `sent_unix_ns` is `None` when it never
    /// left the sender.
    pub fn record(&mut self, job: &Job, sent_unix_ns: Option<u64>, outcome: Outcome) {
        if job.warmup {
            self.warmup_sent += 1;
            self.warmup_accepted += matches!(outcome, Outcome::Accepted { .. }) as u64;
            return;
        }
        self.released += 1;
        let second = self.plan.second_at(job.intended_unix_ns);
        let intended = job.intended_unix_ns;
        let mut latency = |kind, from, to| {
            if let Some(w) = self.windows.get_mut(&kind) {
                w.record(second, from, to);
            }
        };
        latency(LatencyKind::PacerLag, intended, job.released_unix_ns);
        if let Some(sent) = sent_unix_ns {
            latency(LatencyKind::ConnectionWait, job.released_unix_ns, sent);
            latency(LatencyKind::ScheduleLag, intended, sent);
            if let Outcome::Accepted { acked_unix_ns } = outcome {
                latency(LatencyKind::Publish, intended, acked_unix_ns);
                latency(LatencyKind::PublishRaw, sent, acked_unix_ns);
            }
            self.sent_per_second.add(self.plan.second_at(sent));
        } else if let Some(n) = self.unsent_per_second.get_mut(second as usize) {
            *n += 1;
        }
        match outcome {
            Outcome::Accepted { acked_unix_ns } => {
                self.accepted.insert(job.seq);
                if let Some(n) = self.accepted_per_second.get_mut(second as usize) {
                    *n += 1;
                }
                self.last_exchange_unix_ns = self.last_exchange_unix_ns.max(acked_unix_ns);
            }
            Outcome::Failed(reason) => {
                self.failed.add(reason);
                if let Some(f) = self.failed_per_second.get_mut(second as usize) {
                    f.add(reason);
                }
            }
        }
    }

    /// Counts the connections opened before the start.
    pub fn initial_connections(&mut self, n: u64) {
        self.connections.initial = n;
        self.connections.peak = self.connections.peak.max(n);
    }

    /// Counts a connection opened at `unix_ns` (on demand, or again after
    /// one broke), with `open` now open; `series.tsv` shows those opened
    /// after `t0`, by second.
    pub fn connection_opened(&mut self, unix_ns: u64, open: u64) {
        self.connections.opened += 1;
        if unix_ns >= self.plan.t0() {
            self.opened_per_second.add(self.plan.second_at(unix_ns));
        }
        self.connections.peak = self.connections.peak.max(open);
    }

    /// Events released so far (sent or failed).
    pub fn released(&self) -> u64 {
        self.released
    }

    /// Running counters for live progress; latencies of `second`; the
    /// publish latency of the complete seconds cumulated.
    pub fn progress(&mut self, index: u32, second: u64) -> Progress {
        let accepted = self.accepted.count();
        // Seconds before the current one are complete.
        let complete = self.plan.second_at(brokerbench_core::clock::unix_now_ns());
        let publish = self.windows.get(&LatencyKind::Publish);
        let latency = self
            .live
            .upto(complete, |s| publish.and_then(|w| w.second(s)));
        Progress {
            role: Some(Role::Sender),
            index,
            sent: self.released,
            accepted,
            failed: self.failed.total(),
            p99_ms: LatencyWindows::live_p99_ms(&self.windows, second),
            failures: Some(self.failed),
            in_flight: Some(self.released.saturating_sub(accepted + self.failed.total())),
            latency: Some(latency),
            ..Progress::default()
        }
    }

    /// The final report.
    pub fn into_report(self, index: u32, cpu_ns: u64, interrupted: bool) -> SenderReport {
        let n = (self.plan.schedule.total_seconds() as usize)
            .max(self.sent_per_second.len())
            .max(self.opened_per_second.len());
        let seconds = (0..n)
            .map(|i| SenderSecond {
                sent: self.sent_per_second.get(i as u64),
                accepted: self.accepted_per_second.get(i).copied().unwrap_or(0),
                failed: self.failed_per_second.get(i).copied().unwrap_or_default(),
                unsent: self.unsent_per_second.get(i).copied().unwrap_or(0),
                connections_opened: self.opened_per_second.get(i as u64),
            })
            .collect();
        SenderReport {
            run_id: self.plan.run_id.clone(),
            index,
            released: self.released,
            accepted: self.accepted,
            failed: self.failed,
            seconds,
            windows: LatencyWindows::all_to_wire(&self.windows),
            connections: self.connections,
            warmup_sent: self.warmup_sent,
            warmup_accepted: self.warmup_accepted,
            cpu_ns,
            pacer_spin_ns: 0,
            last_exchange_unix_ns: self.last_exchange_unix_ns,
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

    fn plan() -> RunPlan {
        RunPlan::fixture("10:2")
    }

    /// Measured event `seq` of `plan`, released 0.25 ms late.
    fn job(plan: &RunPlan, seq: u64) -> Job {
        let intended_unix_ns = plan.intended_unix_ns(0, seq).unwrap();
        Job {
            seq,
            intended_unix_ns,
            released_unix_ns: intended_unix_ns + 250_000,
            warmup: false,
        }
    }

    /// The histogram of `kind` in second `i` of a report.
    fn window(r: &SenderReport, kind: LatencyKind, i: usize) -> Histogram {
        Histogram::try_from(&r.windows[&kind][i]).unwrap()
    }

    #[test]
    fn every_event_counts_once_and_each_latency_between_its_stamps() {
        let plan = plan();
        let mut l = SenderLedger::new(&plan, 0);
        for seq in 0..20 {
            let job = job(&plan, seq);
            let intended = job.intended_unix_ns;
            let (sent, outcome) = match seq % 4 {
                0 => (
                    Some(intended + 1_000_000),
                    Outcome::Failed(FailureReason::Status5xx),
                ),
                1 => (None, Outcome::Failed(FailureReason::InflightLimit)),
                _ => (
                    Some(intended + 1_000_000),
                    Outcome::Accepted {
                        acked_unix_ns: intended + 3_000_000,
                    },
                ),
            };
            l.record(&job, sent, outcome);
        }
        l.record(
            &Job {
                seq: 0,
                intended_unix_ns: 0,
                released_unix_ns: 0,
                warmup: true,
            },
            Some(1),
            Outcome::Accepted { acked_unix_ns: 2 },
        );
        let r = l.into_report(0, 0, false);
        assert_eq!(r.released, 20);
        assert_eq!(r.accepted.count(), 10);
        assert_eq!((r.failed.status_5xx, r.failed.inflight_limit), (5, 5));
        assert_eq!(r.warmup_sent, 1);
        assert_eq!(r.seconds[0].sent, 7, "in-flight-limited events never left");
        assert_eq!((r.seconds[0].unsent, r.seconds[1].unsent), (3, 2));
        assert_eq!(r.seconds[1].accepted, 6);
        let count_max = |kind, i| {
            let h = window(&r, kind, i);
            (h.count(), h.quantile_ns(1.0).unwrap())
        };
        // Second 0 holds seqs 0-9: 4 accepted, 7 sent, all 10 released.
        assert_eq!(count_max(LatencyKind::Publish, 0), (4, 3e6));
        assert_eq!(count_max(LatencyKind::PublishRaw, 0), (4, 2e6));
        assert_eq!(count_max(LatencyKind::ScheduleLag, 0), (7, 1e6));
        assert_eq!(count_max(LatencyKind::PacerLag, 0), (10, 0.25e6));
        assert_eq!(count_max(LatencyKind::ConnectionWait, 0), (7, 0.75e6));
        assert_eq!(
            r.windows.len(),
            5,
            "every sender latency, none of the receiver's"
        );
    }

    #[test]
    fn connections_opened_count_before_and_during_the_run() {
        let plan = plan();
        let mut l = SenderLedger::new(&plan, 0);
        l.initial_connections(2);
        l.connection_opened(99 * S, 3);
        l.connection_opened(100 * S + 5, 4);
        l.connection_opened(101 * S + 5, 5);
        l.connection_opened(101 * S + 6, 2);
        let r = l.into_report(0, 0, false);
        assert_eq!(
            r.connections,
            ConnectionCounts {
                initial: 2,
                opened: 4,
                peak: 5
            }
        );
        let opened: Vec<u64> = r.seconds.iter().map(|s| s.connections_opened).collect();
        assert_eq!(opened, [1, 2]);
    }
}

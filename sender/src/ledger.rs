//! The sender's ledger: one bit per accepted event, failures by reason, and
//! per-second latency windows. Memory is bits per event plus per-second digests.

use crate::Job;
use brokerbench_core::bitset::BitSet;
use brokerbench_core::plan::RunPlan;
use brokerbench_core::series::{Counts, LatencyWindows};
use brokerbench_core::wire::{
    FailureCounts, FailureReason, Progress, Role, SenderReport, SenderSecond, SenderStep,
    SenderWindows,
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
    publish: LatencyWindows,
    publish_raw: LatencyWindows,
    lag: LatencyWindows,
    warmup_sent: u64,
    warmup_accepted: u64,
    last_exchange_unix_ns: u64,
}

impl SenderLedger {
    /// An empty ledger for a started plan (`t0` set).
    pub fn new(plan: &RunPlan) -> Self {
        let s = &plan.schedule;
        let secs = s.total_seconds() as usize;
        SenderLedger {
            plan: plan.clone(),
            released: 0,
            accepted: BitSet::new(s.total_events()),
            failed: FailureCounts::default(),
            sent_per_second: Counts::default(),
            accepted_per_second: vec![0; secs],
            failed_per_second: vec![FailureCounts::default(); secs],
            publish: LatencyWindows::new(s),
            publish_raw: LatencyWindows::new(s),
            lag: LatencyWindows::new(s),
            warmup_sent: 0,
            warmup_accepted: 0,
            last_exchange_unix_ns: 0,
        }
    }

    /// Records the fate of `job`; `sent_unix_ns` is `None` when it never left.
    pub fn record(&mut self, job: &Job, sent_unix_ns: Option<u64>, outcome: Outcome) {
        if job.warmup {
            self.warmup_sent += 1;
            self.warmup_accepted += matches!(outcome, Outcome::Accepted { .. }) as u64;
            return;
        }
        self.released += 1;
        let second = self.plan.second_at(job.intended_unix_ns);
        if let Some(sent) = sent_unix_ns {
            self.sent_per_second.add(self.plan.second_at(sent));
            self.lag
                .record(second, sent.saturating_sub(job.intended_unix_ns));
        }
        match outcome {
            Outcome::Accepted { acked_unix_ns } => {
                self.accepted.insert(job.seq);
                if let Some(n) = self.accepted_per_second.get_mut(second as usize) {
                    *n += 1;
                }
                self.publish
                    .record(second, acked_unix_ns.saturating_sub(job.intended_unix_ns));
                let sent = sent_unix_ns.unwrap_or(job.intended_unix_ns);
                self.publish_raw
                    .record(second, acked_unix_ns.saturating_sub(sent));
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

    /// Events released so far (sent or failed).
    pub fn released(&self) -> u64 {
        self.released
    }

    /// Running counters for live progress; latencies of `second`.
    pub fn progress(&mut self, index: u32, second: u64) -> Progress {
        Progress {
            role: Some(Role::Sender),
            index,
            sent: self.released,
            accepted: self.accepted.count(),
            failed: self.failed.total(),
            p99_ms: self.publish.p99_ms(second),
            lag_p99_ms: self.lag.p99_ms(second),
            ..Progress::default()
        }
    }

    /// The final report.
    pub fn into_report(self, index: u32, cpu_ns: u64, interrupted: bool) -> SenderReport {
        let s = &self.plan.schedule;
        let windows = (self.plan.senders > 1).then(|| SenderWindows {
            publish: self.publish.to_wire(),
            publish_raw: self.publish_raw.to_wire(),
            lag: self.lag.to_wire(),
        });
        let publish = self.publish.summarise(s);
        let publish_raw = self.publish_raw.summarise(s);
        let lag = self.lag.summarise(s);
        let n = (s.total_seconds() as usize).max(self.sent_per_second.len());
        let seconds = (0..n)
            .map(|i| SenderSecond {
                sent: self.sent_per_second.get(i as u64),
                accepted: self.accepted_per_second.get(i).copied().unwrap_or(0),
                failed: self.failed_per_second.get(i).copied().unwrap_or_default(),
                publish: publish.windowed.get(i).copied().flatten(),
                publish_raw: publish_raw.windowed.get(i).copied().flatten(),
                lag: lag.windowed.get(i).copied().flatten(),
                publish_running_p99_99: publish.running_p99_99.get(i).copied().flatten(),
            })
            .collect();
        let steps = publish
            .steps
            .into_iter()
            .zip(publish_raw.steps)
            .zip(lag.steps)
            .map(|((publish, publish_raw), lag)| SenderStep {
                publish,
                publish_raw,
                lag,
            })
            .collect();
        SenderReport {
            run_id: self.plan.run_id.clone(),
            index,
            released: self.released,
            accepted: self.accepted,
            failed: self.failed,
            seconds,
            steps,
            warmup_sent: self.warmup_sent,
            warmup_accepted: self.warmup_accepted,
            cpu_ns,
            last_exchange_unix_ns: self.last_exchange_unix_ns,
            host_steal_per_second: Vec::new(),
            clock: brokerbench_core::clock::adopted(),
            host_damon_cpu_ns: None,
            windows,
            interrupted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brokerbench_core::pace::Schedule;

    const S: u64 = 1_000_000_000;

    fn plan() -> RunPlan {
        RunPlan {
            run_id: "r".into(),
            scenario: "direct".into(),
            schedule: Schedule::parse("10:2").unwrap(),
            payload_size: 8,
            warmup: None,
            drain_seconds: 1,
            senders: 1,
            receivers: 1,
            copies: 1,
            partition_keys: 100,
            t0_unix_ns: Some(100 * S),
        }
    }

    /// Measured event `seq` of `plan`.
    fn job(plan: &RunPlan, seq: u64) -> Job {
        Job {
            seq,
            intended_unix_ns: plan.intended_unix_ns(seq).unwrap(),
            warmup: false,
        }
    }

    #[test]
    fn sent_is_accepted_plus_failed() {
        let plan = plan();
        let mut l = SenderLedger::new(&plan);
        for seq in 0..20 {
            let job = job(&plan, seq);
            let intended = job.intended_unix_ns;
            let outcome = match seq % 4 {
                0 => Outcome::Failed(FailureReason::Status5xx),
                1 => Outcome::Failed(FailureReason::InflightLimit),
                _ => Outcome::Accepted {
                    acked_unix_ns: intended + 3_000_000,
                },
            };
            let sent = (seq % 4 != 1).then_some(intended + 1_000_000);
            l.record(&job, sent, outcome);
        }
        l.record(
            &Job {
                seq: 0,
                intended_unix_ns: 0,
                warmup: true,
            },
            Some(1),
            Outcome::Accepted { acked_unix_ns: 2 },
        );
        let r = l.into_report(0, 0, false);
        assert_eq!(r.released, 20);
        assert_eq!(r.accepted.count(), 10);
        assert_eq!(r.failed.total(), 10);
        assert_eq!((r.failed.status_5xx, r.failed.inflight_limit), (5, 5));
        assert_eq!(r.released, r.accepted.count() + r.failed.total());
        assert_eq!(r.warmup_sent, 1);
        assert_eq!(r.seconds[0].sent, 7, "in-flight-limited events never left");
        assert_eq!(r.seconds[1].accepted, 6);
        let p = r.seconds[0].publish.unwrap();
        assert_eq!((p.count, p.max), (4, 3.0));
        assert_eq!(r.seconds[0].publish_raw.unwrap().max, 2.0);
        assert_eq!(r.seconds[0].lag.unwrap().max, 1.0);
        assert!(
            r.windows.is_none(),
            "a lone sender's seconds are the series"
        );
    }

    #[test]
    fn with_several_senders_the_report_carries_every_seconds_digests() {
        let plan = RunPlan {
            senders: 3,
            ..plan()
        };
        let mut l = SenderLedger::new(&plan);
        for seq in 0..20 {
            let job = job(&plan, seq);
            let (sent, acked_unix_ns) = (
                job.intended_unix_ns,
                job.intended_unix_ns + (seq + 1) * 1_000_000,
            );
            l.record(&job, Some(sent), Outcome::Accepted { acked_unix_ns });
        }
        let w = l.into_report(1, 0, false).windows.expect("digests sent");
        assert_eq!(
            (w.publish.len(), w.publish_raw.len(), w.lag.len()),
            (2, 2, 2)
        );
        assert_eq!((w.publish[0].count, w.publish[1].count), (10.0, 10.0));
        assert_eq!(
            (w.publish[0].max, w.publish[1].max),
            (Some(10e6), Some(20e6))
        );
        assert_eq!(w.lag[1].max, Some(0.0));
    }
}

//! The run plan: one immutable description of a run, handed to every role.

use crate::fault::Fault;
use crate::identity;
use crate::pace::{Part, Schedule};
use serde::{Deserialize, Serialize};

const NS_PER_S: u64 = 1_000_000_000;

/// A warmup phase before `t0`: its own rate and length, on the same
/// connections, excluded from every figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warmup {
    /// Events per second during warmup.
    pub rate: u32,
    /// Seconds of warmup, ending at `t0`.
    pub seconds: u32,
}

/// Everything every role must agree on about one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPlan {
    /// Unique id of the run; events of another run are refused.
    pub run_id: String,
    /// Scenario name (`direct`, or the SUT's name), for the results folder.
    pub scenario: String,
    /// The measured schedule, starting at `t0` (`pace` in JSON, as on the
    /// command line).
    #[serde(rename = "pace", alias = "schedule")]
    pub schedule: Schedule,
    /// Bytes of event data.
    pub payload_size: usize,
    /// Optional warmup before `t0`.
    pub warmup: Option<Warmup>,
    /// Seconds the receiver keeps listening after the last send.
    pub drain_seconds: u32,
    /// Number of sender processes (each with its own sequence space).
    pub senders: u32,
    /// The pace is the senders' total: sender `i` takes every
    /// `senders`-th event from `i` ([`Schedule::part`]), so together they
    /// offer the pace, evenly spaced. False: each runs the whole pace, and
    /// a step offers `senders` times its rate (`--pace-per-sender`, and
    /// plans written before there was a choice).
    #[serde(default)]
    pub split: bool,
    /// Number of receivers whose readiness the start waits for.
    pub receivers: u32,
    /// Deliveries owed per accepted event: 1, or the fan-out (N channel
    /// subscribers, M matching triggers). Copy `k` arrives at the
    /// receiver's path `/c/k` (copy 0 also at any other path).
    #[serde(default = "one")]
    pub copies: u32,
    /// Values of the `partitionkey` extension the sender spreads events
    /// over (`seq % partition_keys`); order is checked within each. 0: no
    /// `partitionkey` (Kafka records go without a key), order is checked
    /// across each stream.
    #[serde(default = "default_partition_keys")]
    pub partition_keys: u32,
    /// Wall-clock ns at which the measured schedule starts; set when every
    /// role is ready.
    pub t0_unix_ns: Option<u64>,
    /// Faults on the run's timeline (`--fault`), in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Fault>,
}

fn one() -> u32 {
    1
}

/// The plan's partition keys when it does not say (older plans).
pub fn default_partition_keys() -> u32 {
    identity::PARTITION_KEYS
}

impl RunPlan {
    /// A started plan for tests: run `r` of `direct` on `pace` (panics
    /// on a bad one), 8-byte payloads, no warmup, a 1 s drain, one sender
    /// and one receiver, 100 partition keys, `t0` at 100 s. Tests change
    /// what they need with `RunPlan { senders: 2, ..RunPlan::fixture(p) }`.
    pub fn fixture(pace: &str) -> RunPlan {
        RunPlan {
            run_id: "r".into(),
            scenario: "direct".into(),
            schedule: Schedule::parse(pace).expect("a good pace"),
            payload_size: 8,
            warmup: None,
            drain_seconds: 1,
            senders: 1,
            split: true,
            receivers: 1,
            copies: 1,
            partition_keys: identity::PARTITION_KEYS,
            t0_unix_ns: Some(100 * NS_PER_S),
            faults: Vec::new(),
        }
    }

    /// The partition key of event `seq`, if the plan has keys.
    pub fn partition_key(&self, seq: u64) -> Option<u64> {
        (self.partition_keys > 0).then(|| seq % u64::from(self.partition_keys))
    }

    /// `t0`, or 0 before the run has started.
    pub fn t0(&self) -> u64 {
        self.t0_unix_ns.unwrap_or(0)
    }

    /// Sender `sender`'s share of the events: its index and how many
    /// share them (`(0, 1)`: it runs the whole pace).
    pub fn share(&self, sender: u32) -> (u32, u32) {
        match self.split {
            true => (sender, self.senders.max(1)),
            false => (0, 1),
        }
    }

    /// Sender `sender`'s part of the measured schedule.
    pub fn part(&self, sender: u32) -> Part<'_> {
        let (index, of) = self.share(sender);
        self.schedule.part(index, of)
    }

    /// Events per second all senders together offer in a step of `rps`.
    pub fn offered(&self, rps: u32) -> u32 {
        match self.split {
            true => rps,
            false => rps.saturating_mul(self.senders.max(1)),
        }
    }

    /// Wall-clock intended send time of sender `sender`'s measured event `seq`.
    pub fn intended_unix_ns(&self, sender: u32, seq: u64) -> Option<u64> {
        self.part(sender).offset_ns(seq).map(|o| self.t0() + o)
    }

    /// The warmup as a schedule of its own, if any.
    pub fn warmup_schedule(&self) -> Option<Schedule> {
        let w = self.warmup?;
        Schedule::from_steps(vec![crate::pace::Step {
            rps: w.rate,
            seconds: w.seconds,
        }])
        .ok()
    }

    /// Wall-clock start of the warmup (`t0` when there is none).
    pub fn warmup_start_unix_ns(&self) -> u64 {
        let secs = self.warmup.map_or(0, |w| w.seconds as u64);
        self.t0().saturating_sub(secs * NS_PER_S)
    }

    /// Wall-clock end of the measured schedule.
    pub fn end_unix_ns(&self) -> u64 {
        self.t0() + self.schedule.total_seconds() * NS_PER_S
    }

    /// The whole second since `t0` that a wall-clock time falls in (0 before `t0`).
    pub fn second_at(&self, unix_ns: u64) -> u64 {
        unix_ns.saturating_sub(self.t0()) / NS_PER_S
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_times_derive_from_t0() {
        let plan = RunPlan {
            run_id: "r".into(),
            scenario: "direct".into(),
            schedule: Schedule::parse("10:2").unwrap(),
            payload_size: 8192,
            warmup: Some(Warmup {
                rate: 5,
                seconds: 3,
            }),
            drain_seconds: 2,
            senders: 1,
            split: true,
            receivers: 1,
            copies: 1,
            partition_keys: 100,
            t0_unix_ns: Some(10 * NS_PER_S),
            faults: Vec::new(),
        };
        assert_eq!(
            plan.intended_unix_ns(0, 11),
            Some(11 * NS_PER_S + 100_000_000)
        );
        assert_eq!(plan.warmup_start_unix_ns(), 7 * NS_PER_S);
        assert_eq!(plan.end_unix_ns(), 12 * NS_PER_S);
        assert_eq!(plan.second_at(11 * NS_PER_S + 5), 1);
        assert_eq!(plan.warmup_schedule().unwrap().total_events(), 15);
        let json = serde_json::to_string(&plan).unwrap();
        assert!(json.contains("\"pace\":\"10:2\""), "{json}");
        assert_eq!(serde_json::from_str::<RunPlan>(&json).unwrap(), plan);
    }

    #[test]
    fn split_senders_share_the_pace_and_whole_ones_each_run_it() {
        let split = RunPlan {
            senders: 4,
            ..RunPlan::fixture("1000:2")
        };
        assert_eq!(
            (split.offered(1000), split.part(3).total_events()),
            (1000, 500)
        );
        // Sender 1's event 2 is the schedule's event 9: 9 ms after t0.
        assert_eq!(split.intended_unix_ns(1, 2), Some(split.t0() + 9_000_000));
        let whole = RunPlan {
            split: false,
            ..split.clone()
        };
        assert_eq!(
            (whole.offered(1000), whole.part(3).total_events()),
            (4000, 2000)
        );
        assert_eq!(whole.intended_unix_ns(1, 2), Some(whole.t0() + 2_000_000));
        // A plan written before the choice existed ran the whole pace.
        let mut old = serde_json::to_value(&split).unwrap();
        old.as_object_mut().unwrap().remove("split");
        let old: RunPlan = serde_json::from_value(old).unwrap();
        assert!(!old.split);
    }
}

//! The run plan: one immutable description of a run, handed to every role.

use crate::identity;
use crate::pace::Schedule;
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
            receivers: 1,
            copies: 1,
            partition_keys: identity::PARTITION_KEYS,
            t0_unix_ns: Some(100 * NS_PER_S),
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

    /// Wall-clock intended send time of measured event `seq`.
    pub fn intended_unix_ns(&self, seq: u64) -> Option<u64> {
        self.schedule.offset_ns(seq).map(|o| self.t0() + o)
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
            receivers: 1,
            copies: 1,
            partition_keys: 100,
            t0_unix_ns: Some(10 * NS_PER_S),
        };
        assert_eq!(plan.intended_unix_ns(11), Some(11 * NS_PER_S + 100_000_000));
        assert_eq!(plan.warmup_start_unix_ns(), 7 * NS_PER_S);
        assert_eq!(plan.end_unix_ns(), 12 * NS_PER_S);
        assert_eq!(plan.second_at(11 * NS_PER_S + 5), 1);
        assert_eq!(plan.warmup_schedule().unwrap().total_events(), 15);
        let json = serde_json::to_string(&plan).unwrap();
        assert!(json.contains("\"pace\":\"10:2\""), "{json}");
        assert_eq!(serde_json::from_str::<RunPlan>(&json).unwrap(), plan);
    }
}

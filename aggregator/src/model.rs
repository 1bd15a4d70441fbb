//! The results model. `summary.json` is its serialisation; the schema in
//! `schema/summary.schema.json` is the contract for it.

use brokerbench_core::digest::Percentiles;
use brokerbench_core::plan::Warmup;
use brokerbench_core::wire::{FailureCounts, RejectCounts};
use serde::{Deserialize, Serialize};

/// Version of the `summary.json` format.
pub const SCHEMA_VERSION: u32 = 1;

/// Schedule lag P99.99 above which a step is flagged as generator-limited.
pub const GENERATOR_LAG_LIMIT_MS: f64 = 1.0;

/// Receiver CPU share above which it, not the SUT, may be the limit.
pub const RECEIVER_SATURATED: f64 = 0.9;

/// Steal share from which the table warns that the host took the machine's
/// CPUs away: 2% of two vCPUs is 40 ms a second, more than a P99.99.
pub const HOST_STEAL_NOTABLE: f64 = 0.02;

/// The whole run, as written to `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub schema_version: u32,
    pub run_id: String,
    pub scenario: String,
    /// RFC 3339 wall-clock time of `t0`.
    pub started_at: String,
    pub pace: String,
    pub payload_size: usize,
    pub warmup: Option<Warmup>,
    pub drain_seconds: u32,
    pub senders: u32,
    pub receivers: u32,
    /// Deliveries owed per accepted event (fan-out); 1 without.
    #[serde(default = "one")]
    pub copies: u32,
    /// Partition keys the events were spread over (0: none); `reordered`
    /// counts within a key, or within a sender without keys.
    #[serde(default = "brokerbench_core::plan::default_partition_keys")]
    pub partition_keys: u32,
    /// Share of the roles' machines' CPU time the hypervisor took (steal)
    /// over the measured seconds; None where it was not sampled.
    #[serde(default)]
    pub host_steal: Option<f64>,
    /// CPU ms the kernel's DAMON memory monitor used during the run on the
    /// roles' machines (the most of any role's); None where it was off.
    #[serde(default)]
    pub host_damon_cpu_ms: Option<f64>,
    /// What the SUT counted during the run, when it serves counters.
    #[serde(default)]
    pub sut: Option<brokerbench_core::wire::SutCounters>,
    /// True when the run was cut short (Ctrl-C): figures cover what happened.
    pub interrupted: bool,
    /// Roles whose report never came (e.g. `receiver 1`): what a missing
    /// receiver got counts as lost, so no step is judged.
    #[serde(default)]
    pub missing_reports: Vec<String>,
    /// Roles that estimated their clock against the aggregator's (roles on
    /// their own, possibly on other hosts); empty when all share its clock.
    #[serde(default)]
    pub clocks: Vec<RoleClock>,
    pub totals: Totals,
    pub failures: FailureCounts,
    pub rejected: RejectCounts,
    pub latency_ms: Latencies,
    pub cpu: Cpu,
    /// True when the generator, not the SUT, fell behind in some step.
    pub generator_limited: bool,
    /// The first step that did not hold; `None` when every step held.
    #[serde(default)]
    pub breaking_point: Option<BreakingPoint>,
    pub steps: Vec<StepSummary>,
}

/// One role's clock against the aggregator's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleClock {
    /// `sender 0`, `receiver 1`, ...
    pub role: String,
    /// Aggregator's clock minus the role's host's, ms.
    pub offset_ms: f64,
    /// The true offset is within this of `offset_ms`, ms.
    pub uncertainty_ms: f64,
    /// Whether the role corrected its stamps by the offset (it exceeded
    /// the uncertainty).
    pub applied: bool,
}

/// e2e figures are flagged when the roles' clock uncertainties add up to
/// more than this share of the run's e2e P50.
pub const CLOCK_UNCERTAINTY_NOTABLE: f64 = 0.1;

fn yes() -> bool {
    true
}

/// Milliseconds with two decimals, `-` when there is no value: how every
/// table shows a latency.
pub fn ms_text(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.2}"))
}

impl BreakingPoint {
    /// What limited the breaking step, in words.
    pub fn limit(&self) -> &'static str {
        match self.limited_by.as_str() {
            "generator" => "the generator (schedule lag), not the SUT",
            "receiver" => {
                "the receiver (its threads saturated: raise --receiver-threads), not the SUT"
            }
            _ => "the SUT",
        }
    }
}

/// Where a stepped run broke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakingPoint {
    /// 1-based step number.
    pub step: usize,
    /// Events per second the step asks of all senders together (each
    /// sender runs the whole pace).
    pub rps: u32,
    /// Why the step did not hold.
    pub reasons: Vec<String>,
    /// `sut`; `generator` when the sender fell behind its schedule in that
    /// step and its lag P99.99 is at least half the e2e P99.99 (or it could
    /// not send every event), or `receiver` when the receiver's threads were saturated (then
    /// the step measures the suite too).
    pub limited_by: String,
}

fn one() -> u32 {
    1
}

/// Event counts. `sent = accepted + failed`;
/// `accepted × copies = delivered_of_accepted + lost`. With fan-out
/// (`copies > 1`) delivered, lost, duplicates and unexpected count
/// deliveries: one per event per copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Events released (sent, or failed before leaving).
    pub sent: u64,
    pub accepted: u64,
    pub failed: u64,
    /// Unique events received.
    pub delivered: u64,
    /// Unique events received that the sender saw accepted.
    pub delivered_of_accepted: u64,
    /// Accepted, never received by the end of the drain.
    pub lost: u64,
    /// Extra copies received.
    pub duplicates: u64,
    /// Received after a later event of the same partition key (the
    /// `partitionkey` extension, `seq % 100`; per copy and sender).
    #[serde(default)]
    pub reordered: u64,
    /// Received although the send failed.
    pub unexpected: u64,
    /// Requests the receiver refused (not CloudEvents, another run, out of range).
    pub rejected: u64,
    pub warmup_sent: u64,
    pub warmup_received: u64,
}

/// Whole-run or per-step latencies, ms.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Latencies {
    /// `acked - intended`.
    pub publish: Option<Percentiles>,
    /// `acked - sent`.
    pub publish_raw: Option<Percentiles>,
    /// `sent - intended`.
    pub schedule_lag: Option<Percentiles>,
    /// `received - intended`.
    pub e2e: Option<Percentiles>,
    /// `received - sent`.
    pub e2e_raw: Option<Percentiles>,
}

/// CPU used by the roles.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Cpu {
    pub sender_ns: u64,
    pub receiver_ns: u64,
    /// Sender CPU per event sent (including warmup), µs.
    pub sender_us_per_event: Option<f64>,
    /// Receiver CPU per request received (including warmup), µs.
    pub receiver_us_per_event: Option<f64>,
}

/// One pace step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepSummary {
    /// 1-based step number.
    pub step: usize,
    /// Events per second the step asks of all senders together (each
    /// sender runs the whole pace).
    pub rps: u32,
    pub seconds: u32,
    /// Seconds since `t0` at which the step starts.
    pub start_second: u64,
    pub totals: Totals,
    /// Events sent per second over the step (by intended time).
    pub send_rps: f64,
    /// Events of the step delivered, per second of the step.
    pub delivery_rps: f64,
    pub latency_ms: Latencies,
    pub generator_limited: bool,
    /// Whether the step was judged: false when the run was cut before the
    /// step and its drain ended, or a role's report is missing.
    #[serde(default = "yes")]
    pub judged: bool,
    /// Why the step did not hold; empty when it held or was not judged.
    #[serde(default)]
    pub breaks: Vec<String>,
    /// Share of the receiver's threads' CPU capacity it used during the step
    /// (1.0 = every thread busy all the time).
    #[serde(default)]
    pub receiver_cpu: Option<f64>,
    /// Share of the CPU time of the roles' machines that the hypervisor took
    /// (steal) during the step: the mean over its seconds of the worst
    /// machine each second. None where it was not sampled.
    #[serde(default)]
    pub host_steal: Option<f64>,
}

/// One second of the run: a row of `series.tsv`.
#[derive(Debug, Clone, Default)]
pub struct SecondRow {
    pub second: u64,
    /// 1-based step, `None` during the drain.
    pub step: Option<usize>,
    pub target_rps: u32,
    pub sent: u64,
    pub delivered: u64,
    pub failed: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub publish: Option<Percentiles>,
    pub e2e: Option<Percentiles>,
    pub publish_running_p99_99: Option<f64>,
    pub e2e_running_p99_99: Option<f64>,
    pub lag_p99_99: Option<f64>,
    pub publish_raw_p99_99: Option<f64>,
    pub e2e_raw_p99_99: Option<f64>,
    /// Steal share of the worst of the roles' machines in this second.
    pub host_steal: Option<f64>,
}

/// A run of consecutive lost sequence numbers of one sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LostRange {
    pub sender: u32,
    /// Which delivery of the event (0 unless the SUT fans out).
    pub copy: u32,
    pub first: u64,
    pub last: u64,
}

/// Everything the aggregator produced.
#[derive(Debug, Clone)]
pub struct Results {
    pub summary: Summary,
    pub series: Vec<SecondRow>,
    pub lost: Vec<LostRange>,
}

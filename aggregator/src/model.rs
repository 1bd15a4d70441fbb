//! The results model. `summary.json` is its serialisation; the schema in
//! `schema/summary.schema.json` is the contract for it.

use brokerbench_core::histogram::Percentiles;
use brokerbench_core::latency::{LatencyKind, PerKind};
use brokerbench_core::plan::RunPlan;
use brokerbench_core::wire::{ConnectionCounts, FailureCounts, RejectCounts};
use serde::{Deserialize, Deserializer, Serialize};

/// Version of the `summary.json` format: 2 keys `latency_ms` by latency
/// kind (adding pacer lag and connection wait) and counts what never left
/// the sender; 3 gives each of `per_sender` its `latency_ms` (in place of
/// its publish P99 and P99.99).
pub const SCHEMA_VERSION: u32 = 3;

/// Pacer lag P99.99 above which a step is flagged as generator-limited.
pub const GENERATOR_LAG_LIMIT_MS: f64 = 1.0;

/// Receiver CPU share above which it, not the SUT, may be the limit.
pub const RECEIVER_SATURATED: f64 = 0.9;

/// A role's CPU quota stopped it at least this long in a step (ms): the
/// step is flagged `throttled`, its tail is the quota's as much as the
/// SUT's. The kernel stops a cgroup that used its quota for the rest of
/// the period (up to 100 ms by default): one stop is a P99.99.
pub const THROTTLED_NOTABLE_MS: f64 = 1.0;

/// Share of a breaking step's time a role was throttled from which the
/// quota, not the SUT, is named as its limit (10 ms in every second).
pub const THROTTLED_LIMITS: f64 = 0.01;

/// Steal share from which the table warns that the host took the machine's
/// CPUs away: 2% of two vCPUs is 40 ms a second, more than a P99.99.
pub const HOST_STEAL_NOTABLE: f64 = 0.02;

/// The whole run, as written to `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub schema_version: u32,
    /// The plan every role ran: run id, scenario, pace, payload, warmup,
    /// drain, senders, receivers, copies, partition keys and `t0`.
    #[serde(flatten)]
    pub plan: RunPlan,
    /// RFC 3339 wall-clock time of `t0`.
    pub started_at: String,
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
    /// Seconds (since `t0`) whose clock uncertainty was a material share
    /// (over [`CLOCK_UNCERTAINTY_NOTABLE`]) of that second's e2e P50: their
    /// e2e figures are that uncertain.
    #[serde(default)]
    pub clock_uncertain_seconds: Vec<u64>,
    /// The node each role ran on, where it said (pods: `spec.nodeName`).
    #[serde(default)]
    pub nodes: Vec<RoleNode>,
    /// The roles that ran under a CPU quota (a pod's `limits.cpu`, `docker
    /// run --cpus`) or were throttled, and how long their quota stopped
    /// them; empty when none had one.
    #[serde(default)]
    pub cpu_quotas: Vec<RoleQuota>,
    pub totals: Totals,
    /// Each sender's figures, by index (what the totals add up).
    #[serde(default)]
    pub per_sender: Vec<SenderFigures>,
    pub failures: FailureCounts,
    pub rejected: RejectCounts,
    pub latency_ms: Latencies,
    /// The senders' connections: opened before the start, opened during
    /// the run (on demand when the SUT was slow to answer, or again after
    /// one broke), and the most open at once (summed over senders).
    #[serde(default)]
    pub connections: ConnectionCounts,
    pub cpu: Cpu,
    /// True when the generator, not the SUT, fell behind in some step.
    pub generator_limited: bool,
    /// The first step that did not hold; `None` when every step held.
    #[serde(default)]
    pub breaking_point: Option<BreakingPoint>,
    /// What each fault of the plan (`faults`) did, in the plan's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fault_effects: Vec<FaultEffect>,
    pub steps: Vec<StepSummary>,
}

/// One sender's own figures (with several senders, beside the totals).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SenderFigures {
    pub index: u32,
    /// Events released (sent or failed), accepted, failed.
    pub sent: u64,
    pub accepted: u64,
    pub failed: u64,
    /// Deliveries owed of its accepted events that never came (all copies).
    pub lost: u64,
    /// Its latencies over the run, ms (a kind without events has none).
    #[serde(default)]
    pub latency_ms: Latencies,
    /// True when it stopped on its own before the run's end.
    pub interrupted: bool,
}

/// Where one role ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleNode {
    /// `sender 0`, `receiver 1`, ...
    pub role: String,
    pub node: String,
}

/// One role's CPU quota and how long it held the role back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleQuota {
    /// `sender 0`, `receiver 1`, ...
    pub role: String,
    /// Its cgroup's CPU quota, cores; None: unlimited.
    pub cpu_quota_cores: Option<f64>,
    /// How long the kernel stopped it for its quota over the measured
    /// seconds, ms (its CFS throttled time).
    pub throttled_ms: f64,
    /// Measured seconds in which it was stopped at all.
    pub throttled_seconds: u64,
}

/// How long a role's CPU quota stopped it in one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleThrottled {
    /// `sender 0`, `receiver 1`, ...
    pub role: String,
    pub throttled_ms: f64,
}

/// One role's clock against the aggregator's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleClock {
    /// `sender 0`, `receiver 1`, ...
    pub role: String,
    /// Aggregator's clock minus the role's host's when the run started, ms.
    pub offset_ms: f64,
    /// The true offset is within this of `offset_ms`, ms.
    pub uncertainty_ms: f64,
    /// Whether the role corrected its stamps by the offset (it exceeded
    /// the uncertainty).
    pub applied: bool,
    /// The offset estimated again when the role reported, ms.
    #[serde(default)]
    pub offset_end_ms: Option<f64>,
    /// How far the two clocks drifted apart over the run
    /// (`offset_end_ms - offset_ms`), ms: stamps late in the run are off by
    /// about this much.
    #[serde(default)]
    pub drift_ms: Option<f64>,
    /// The uncertainty of that second estimate, ms.
    #[serde(default)]
    pub uncertainty_end_ms: Option<f64>,
    /// The estimates taken during the run (every `--clock-every`).
    #[serde(default)]
    pub during: Vec<ClockEstimate>,
}

/// One estimate of a role's clock during the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockEstimate {
    /// Seconds since `t0` when it was taken.
    pub second: f64,
    pub offset_ms: f64,
    pub uncertainty_ms: f64,
    /// Whether the role stamped with it from then on.
    pub adopted: bool,
}

impl RoleClock {
    /// How far this role's stamps may be off the aggregator's clock, ms:
    /// the estimate's uncertainty (the larger of the two) and the drift.
    pub fn error_ms(&self) -> f64 {
        let uncertainty = self
            .uncertainty_ms
            .max(self.uncertainty_end_ms.unwrap_or(0.0));
        uncertainty + self.drift_ms.unwrap_or(0.0).abs()
    }
}

/// e2e figures are flagged when the roles' clock errors (uncertainty and
/// drift) add up to more than this share of the run's e2e P50.
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
        match self.limited_by {
            Limit::Generator => "the generator (pacer lag), not the SUT",
            Limit::Receiver => {
                "the receiver (its threads saturated: raise --receiver-threads), not the SUT"
            }
            Limit::Sut => "the SUT",
            Limit::CpuQuota => {
                "a role's CPU quota (the kernel throttled it: give it more CPU), not the SUT"
            }
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
    /// What held the rate down there.
    pub limited_by: Limit,
}

/// What limited a breaking step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Limit {
    /// The system under test.
    Sut,
    /// The sender's pacer fell behind its schedule (pacer lag P99.99 over
    /// the limit and at least half the e2e P99.99).
    Generator,
    /// The receiver's threads were saturated: the step measures the suite too.
    Receiver,
    /// A role's CPU quota stopped it for a material share of the step
    /// ([`THROTTLED_LIMITS`]): the step measures the quota.
    #[serde(rename = "cpu-quota")]
    CpuQuota,
}

/// Event counts. `sent = accepted + failed`;
/// `accepted × copies = delivered_of_accepted + lost`;
/// `delivered = delivered_of_accepted + unexpected`. With fan-out
/// (`copies > 1`) delivered, lost, duplicates and unexpected count
/// deliveries: one per event per copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Events the pacer released: every slot of the schedule (sent, or
    /// failed, some before leaving).
    pub sent: u64,
    pub accepted: u64,
    pub failed: u64,
    /// Failed events that never left the sender (in-flight bound, no
    /// connection, or not sent by the end of its drain).
    #[serde(default)]
    pub unsent: u64,
    /// Unique events received.
    pub delivered: u64,
    /// Unique events received that the sender saw accepted (accepted and
    /// received, bit by bit).
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
    /// Received from a sender whose report never came (killed, or its node
    /// lost): what it sent is unknown, so these are in no other count.
    #[serde(default)]
    pub delivered_unreported: u64,
    /// Requests the receiver refused (not CloudEvents, another run, out of range).
    pub rejected: u64,
    pub warmup_sent: u64,
    pub warmup_received: u64,
}

/// Whole-run or per-step latencies, ms, by kind (see
/// [`brokerbench_core::latency`]); a kind nothing measured is absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Latencies(PerKind<Percentiles>);

impl Latencies {
    /// The percentiles of `kind`, if any were measured.
    pub fn get(&self, kind: LatencyKind) -> Option<Percentiles> {
        self.0.get(&kind).copied()
    }

    /// Sets (or with `None`, clears) the percentiles of `kind`.
    pub fn set(&mut self, kind: LatencyKind, p: Option<Percentiles>) {
        match p {
            Some(p) => self.0.insert(kind, p),
            None => self.0.remove(&kind),
        };
    }

    /// Every kind measured.
    pub fn iter(&self) -> impl Iterator<Item = (LatencyKind, &Percentiles)> {
        self.0.iter().map(|(k, p)| (*k, p))
    }
}

impl<'de> Deserialize<'de> for Latencies {
    /// Reads every kind it knows; unknown names and `null` (schema 1's
    /// empty latencies) are skipped, so older summaries still compare.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = std::collections::BTreeMap::<String, Option<Percentiles>>::deserialize(d)?;
        Ok(Latencies(
            raw.into_iter()
                .filter_map(|(name, p)| Some((LatencyKind::parse(&name)?, p?)))
                .collect(),
        ))
    }
}

/// CPU used by the roles.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Cpu {
    /// The senders' threads, pacer spin included.
    pub sender_ns: u64,
    pub receiver_ns: u64,
    /// Of `sender_ns`, what the spinning pacer spent turning with nothing
    /// else to run (`--pacer spin`: a busy core whatever the rate).
    #[serde(default)]
    pub pacer_spin_ns: u64,
    /// Sender CPU per event sent (including warmup), µs: its work, the
    /// pacer's spin left out.
    pub sender_us_per_event: Option<f64>,
    /// Receiver CPU per request received (including warmup), µs.
    pub receiver_us_per_event: Option<f64>,
}

/// One pace step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
    /// Failures by reason, counted in the second of each event's intended time.
    #[serde(default)]
    pub failures: FailureCounts,
    /// True when the generator shaped the step: its pacer lag P99.99 was
    /// over the limit, or events of the step never left the sender because
    /// of its own bounds (the in-flight bound, or its drain after the
    /// schedule with every connection it may open busy).
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
    /// The roles whose CPU quota stopped them at least
    /// [`THROTTLED_NOTABLE_MS`] in the step (the step is flagged
    /// `throttled`).
    #[serde(default)]
    pub throttled: Vec<RoleThrottled>,
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
    /// Connections the senders opened in this second.
    pub connections_opened: u64,
    /// Each latency's percentiles over the events of this second.
    pub latency: PerKind<Percentiles>,
    /// P99.99 of each headline latency from the start of the step to the
    /// end of this second, ms.
    pub running_p99_99: PerKind<f64>,
    /// Steal share of the worst of the roles' machines in this second.
    pub host_steal: Option<f64>,
    /// The longest any role's CPU quota stopped it in this second, ms
    /// (None: no role had a quota).
    pub throttled_ms: Option<f64>,
    /// The offset of the role whose clock was furthest from the
    /// aggregator's, as estimated last by the end of this second, ms.
    pub clock_offset_ms: Option<f64>,
    /// How far e2e may be off this second from the clocks: the worst
    /// sender's uncertainty plus the worst receiver's, ms.
    pub clock_uncertainty_ms: Option<f64>,
    /// Faults of the plan on during this second.
    pub faults: u32,
}

impl SecondRow {
    /// The percentiles of `kind` in this second.
    pub fn latency(&self, kind: LatencyKind) -> Option<Percentiles> {
        self.latency.get(&kind).copied()
    }
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

/// One fault and what it did (in `summary.json` as `fault_effects`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultEffect {
    /// The fault as written (`sut-kill@5+3`).
    pub spec: String,
    /// Seconds after `t0` it started, and how long it lasted.
    pub at_s: f64,
    pub seconds: f64,
    /// Events scheduled from the second before its start until the run
    /// was normal again (or the run's end) that were lost, failed, or
    /// delivered more than once.
    pub lost: u64,
    pub failed: u64,
    pub duplicates: u64,
    /// Seconds from its end until the run was back to normal; `None`:
    /// not within the measured run.
    pub recovery_s: Option<f64>,
    /// The level it was measured against: delivered per sent, and the
    /// median e2e P99 (ms) of the seconds before it; `None` when no second
    /// before it was free of faults.
    pub baseline_delivery: Option<f64>,
    pub baseline_e2e_p99_ms: Option<f64>,
    /// Why it could not be applied, when it could not (a local run's SUT
    /// faults and commands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the run was cut (Ctrl-C) while it was on, seconds after `t0`:
    /// its recovery is unknown (`recovery_s` none, a `recovery<` objective
    /// missed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_at_s: Option<f64>,
}

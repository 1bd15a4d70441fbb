//! Messages between the roles and the aggregator (JSON over HTTP), the same on
//! loopback and across pods; the paths and a typed client are in
//! [`crate::session`].
//!
//! Endpoints served by the aggregator:
//! - `GET  /v1/plan`: the plan, `t0` unset until the start.
//! - `GET  /v1/clock` ([`ClockReading`]): the aggregator's clock, timed by
//!   roles on their own to estimate their offset from it.
//! - `POST /v1/ready` ([`Ready`]): a role is ready to take traffic; 400 for
//!   an index outside the plan, 409 for one already ready.
//! - `GET  /v1/start`: long poll; the plan with `t0` once every role is ready.
//! - `POST /v1/progress` ([`Progress`]): a role's running counters, once a second.
//! - `POST /v1/report/sender` ([`SenderReport`]), `POST /v1/report/receiver` ([`ReceiverReport`]):
//!   one kept per index (a repeat replaces it); 400 for a malformed one.
//! - `GET  /v1/finish`: long poll; returns ([`Finish`]) when the receiver should
//!   stop listening and report (drain over, or the run was interrupted).

use crate::bitset::BitSet;
use crate::clock::ClockSync;
use crate::histogram::WireHistogram;
use crate::latency::PerKind;
use serde::{Deserialize, Serialize};

/// The kinds of role that talk to the aggregator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Sender,
    Receiver,
}

impl Role {
    /// `sender` or `receiver`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Sender => "sender",
            Role::Receiver => "receiver",
        }
    }
}

/// The aggregator's clock (`GET /v1/clock`), for roles on other hosts to
/// estimate their offset from it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ClockReading {
    pub unix_ns: u64,
}

/// A role announces it is ready.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ready {
    pub role: Role,
    pub index: u32,
    /// Where the role listens, if it does.
    pub url: Option<String>,
    /// A sender: how long after the schedule's end its report comes at the
    /// latest (its bounded drain), ms. The aggregator waits that long, and
    /// a little more, before it names the sender missing.
    #[serde(default)]
    pub report_within_ms: Option<u64>,
}

/// Answer to `/v1/finish`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Finish {
    /// True when the run was cut short (Ctrl-C).
    pub interrupted: bool,
}

/// Answer to `/v1/status`: where the run stands, for `k8s wait` and
/// anyone polling the aggregator from afar.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStatus {
    pub phase: Phase,
    /// The latest progress line (who is ready; then rates and latencies).
    pub line: String,
    /// The run's exit code once it ended (0, 3 for a missed objective,
    /// 130 interrupted, 1 failed).
    pub exit_code: Option<i32>,
    /// The results folder's name, once written (`GET /v1/results` serves it).
    pub results: Option<String>,
    /// Why the run failed, when it did.
    pub error: Option<String>,
    /// Role requests refused for want of the run's token (401).
    #[serde(default)]
    pub unauthorized: u64,
}

/// The stages of a run as the aggregator sees them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Waiting for every role to be ready.
    #[default]
    Waiting,
    /// Started: warmup, steps, drain.
    Running,
    /// Results written (and served until collected).
    Finished,
    /// Ended without results.
    Failed,
}

/// Why a send failed. Counted, never formatted, on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// 4xx answer.
    Status4xx,
    /// 5xx answer.
    Status5xx,
    /// An answer that is neither 2xx, 4xx nor 5xx.
    StatusOther,
    /// The connection could not be opened.
    Connect,
    /// No answer within the request timeout.
    Timeout,
    /// The connection broke during the exchange.
    Transport,
    /// Not sent: the in-flight bound was reached when the event was due.
    InflightLimit,
    /// Not answered when the run was interrupted, or not sent by the end
    /// of the sender's bounded drain after the schedule.
    Cancelled,
}

impl FailureReason {
    /// Whether an event that failed so ever left the sender.
    pub fn left(self) -> bool {
        !matches!(
            self,
            FailureReason::Connect | FailureReason::InflightLimit | FailureReason::Cancelled
        )
    }
}

/// Failure counts by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureCounts {
    pub status_4xx: u64,
    pub status_5xx: u64,
    pub status_other: u64,
    pub connect: u64,
    pub timeout: u64,
    pub transport: u64,
    pub inflight_limit: u64,
    pub cancelled: u64,
}

impl FailureCounts {
    /// Counts one failure.
    pub fn add(&mut self, reason: FailureReason) {
        *match reason {
            FailureReason::Status4xx => &mut self.status_4xx,
            FailureReason::Status5xx => &mut self.status_5xx,
            FailureReason::StatusOther => &mut self.status_other,
            FailureReason::Connect => &mut self.connect,
            FailureReason::Timeout => &mut self.timeout,
            FailureReason::Transport => &mut self.transport,
            FailureReason::InflightLimit => &mut self.inflight_limit,
            FailureReason::Cancelled => &mut self.cancelled,
        } += 1;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, o: &FailureCounts) {
        self.status_4xx = self.status_4xx.saturating_add(o.status_4xx);
        self.status_5xx = self.status_5xx.saturating_add(o.status_5xx);
        self.status_other = self.status_other.saturating_add(o.status_other);
        self.connect = self.connect.saturating_add(o.connect);
        self.timeout = self.timeout.saturating_add(o.timeout);
        self.transport = self.transport.saturating_add(o.transport);
        self.inflight_limit = self.inflight_limit.saturating_add(o.inflight_limit);
        self.cancelled = self.cancelled.saturating_add(o.cancelled);
    }

    /// All failures.
    pub fn total(&self) -> u64 {
        [
            self.status_4xx,
            self.status_5xx,
            self.status_other,
            self.connect,
            self.timeout,
            self.transport,
            self.inflight_limit,
            self.cancelled,
        ]
        .into_iter()
        .fold(0, u64::saturating_add)
    }
}

/// Why the receiver refused a request (answered 400).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectCounts {
    /// Not a CloudEvent (the SDK could not decode it).
    pub not_cloudevent: u64,
    /// A CloudEvent of another run, or without the suite's identity.
    pub foreign: u64,
    /// A sequence number or sender index outside the plan.
    pub out_of_range: u64,
    /// Arrived before the run started.
    pub early: u64,
}

impl RejectCounts {
    /// Adds every count of `other`.
    pub fn merge(&mut self, o: &RejectCounts) {
        self.not_cloudevent = self.not_cloudevent.saturating_add(o.not_cloudevent);
        self.foreign = self.foreign.saturating_add(o.foreign);
        self.out_of_range = self.out_of_range.saturating_add(o.out_of_range);
        self.early = self.early.saturating_add(o.early);
    }

    pub fn total(&self) -> u64 {
        [
            self.not_cloudevent,
            self.foreign,
            self.out_of_range,
            self.early,
        ]
        .into_iter()
        .fold(0, u64::saturating_add)
    }
}

/// A role's running counters, sent once a second for live progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Progress {
    pub role: Option<Role>,
    pub index: u32,
    /// Sender: events released (sent or failed) so far.
    pub sent: u64,
    pub accepted: u64,
    pub failed: u64,
    /// Receiver: unique events received so far.
    pub delivered: u64,
    pub duplicates: u64,
    /// Events that arrived after a later event of their partition key.
    #[serde(default)]
    pub reordered: u64,
    pub rejected: u64,
    /// P99 of the last complete second, ms, of each latency the role
    /// measures that the live line shows ([`crate::latency::LatencyKind::live`]).
    #[serde(default)]
    pub p99_ms: PerKind<f64>,
    /// A sender still opening its connections before it is ready.
    #[serde(default)]
    pub connecting: Option<Connecting>,
    /// Share of the role's machine's CPU time the hypervisor took in the
    /// last complete second.
    #[serde(default)]
    pub host_steal: Option<f32>,
    /// Milliseconds its own CPU quota stopped it in the last complete
    /// second (None: no quota).
    #[serde(default)]
    pub throttled_ms: Option<f32>,
    /// Sender: failures so far, by reason.
    #[serde(default)]
    pub failures: Option<FailureCounts>,
    /// Sender: events released and not yet answered.
    #[serde(default)]
    pub in_flight: Option<u64>,
    /// The headline latency (publish, e2e) cumulated over the measured
    /// seconds so far, as `/metrics` shows it.
    #[serde(default)]
    pub latency: Option<crate::buckets::LatencyBuckets>,
    /// Its clock against the aggregator's, when it estimated that, ms.
    #[serde(default)]
    pub clock_offset_ms: Option<f64>,
}

/// How far a sender got opening its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connecting {
    pub open: u32,
    pub wanted: u32,
}

/// One second of a sender's ledger. Accepted, failed and unsent events are
/// counted in the second of their intended time; `sent` in the second an event
/// actually left, `connections_opened` in the second it was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderSecond {
    pub sent: u64,
    pub accepted: u64,
    pub failed: FailureCounts,
    /// Failed events of this second (by intended time) that never left:
    /// the in-flight bound, no connection, or not sent by the end of the
    /// drain.
    #[serde(default)]
    pub unsent: u64,
    /// Connections opened (on demand, when every open one was busy, or
    /// again after one broke).
    #[serde(default)]
    pub connections_opened: u64,
}

/// A sender's connections over the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionCounts {
    /// Opened before the start (`--connections`).
    pub initial: u64,
    /// Opened after the start: on demand, or again after one broke.
    pub opened: u64,
    /// The most open at once.
    pub peak: u64,
}

/// What a role saw of its host and its clock while it ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostReport {
    /// Share of its machine's CPU time the hypervisor took (steal), in
    /// each second since `t0`.
    #[serde(default)]
    pub steal_per_second: Vec<f32>,
    /// Milliseconds the kernel's CFS bandwidth control stopped it (its
    /// cgroup used its CPU quota), in each second since `t0`; empty
    /// without a quota.
    #[serde(default)]
    pub throttled_ms_per_second: Vec<f32>,
    /// Its cgroup's CPU quota, cores (a pod's `limits.cpu`, `docker run
    /// --cpus`); None: unlimited.
    #[serde(default)]
    pub cpu_quota_cores: Option<f64>,
    /// CPU ns the kernel's DAMON monitor used on its machine while it ran
    /// (None: DAMON was off).
    #[serde(default)]
    pub damon_cpu_ns: Option<u64>,
    /// Its clock against the aggregator's, when it estimated that (a role
    /// on its own, possibly on another host).
    #[serde(default)]
    pub clock: Option<ClockReport>,
    /// The node (host) it ran on, when it was told (a pod's `spec.nodeName`).
    #[serde(default)]
    pub node: Option<String>,
}

/// A role's clock against the aggregator's, estimated when the run
/// started (and applied, when it exceeded its uncertainty) and again when
/// the role reported: the difference is how far the clocks drifted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockReport {
    pub start: ClockSync,
    pub end: Option<ClockSync>,
    /// The estimates taken during the run, every few seconds.
    #[serde(default)]
    pub during: Vec<ClockPoint>,
}

/// One estimate of a role's clock taken during the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockPoint {
    /// When it was taken, on the run's clock.
    pub at_unix_ns: u64,
    pub offset_ns: i64,
    pub uncertainty_ns: u64,
    /// Whether the role stamps with it from then on.
    pub adopted: bool,
}

/// A sender's whole ledger, sent once at the end.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SenderReport {
    pub run_id: String,
    pub index: u32,
    /// Events released: sent, or failed before being sent (in-flight bound).
    pub released: u64,
    pub accepted: BitSet,
    pub failed: FailureCounts,
    pub seconds: Vec<SenderSecond>,
    /// Every latency it measures, one histogram per second of the schedule
    /// (by intended time); the aggregator merges them across senders.
    pub windows: PerKind<Vec<WireHistogram>>,
    #[serde(default)]
    pub connections: ConnectionCounts,
    /// Warmup events sent and accepted (excluded from every figure).
    pub warmup_sent: u64,
    pub warmup_accepted: u64,
    /// CPU ns the sender's threads used.
    pub cpu_ns: u64,
    /// Of those, ns the spinning pacer spent turning with nothing else to
    /// run (its busy core, not the sender's work; 0 when it sleeps).
    #[serde(default)]
    pub pacer_spin_ns: u64,
    /// Wall-clock ns when the last exchange ended.
    pub last_exchange_unix_ns: u64,
    /// What it saw of its host and its clock.
    #[serde(default)]
    pub host: HostReport,
    pub interrupted: bool,
}

/// One second of a receiver's ledger: `delivered` in the second an event
/// arrived; duplicates and reordered events in the second of its intended
/// time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverSecond {
    pub delivered: u64,
    pub duplicates: u64,
    /// Events of this second (by intended time) that arrived after a later
    /// event of their partition key.
    #[serde(default)]
    pub reordered: u64,
}

/// A receiver's whole ledger, sent once after the drain.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReceiverReport {
    pub run_id: String,
    pub index: u32,
    /// Unique events received, one bitset per sender.
    pub received: Vec<BitSet>,
    pub duplicates: u64,
    /// Events that arrived after a later event of their partition key
    /// (per copy and sender; warmup excluded).
    #[serde(default)]
    pub reordered: u64,
    pub rejected: RejectCounts,
    pub warmup_received: u64,
    pub seconds: Vec<ReceiverSecond>,
    /// Every latency it measures, one histogram per second of the schedule
    /// (by intended time).
    pub windows: PerKind<Vec<WireHistogram>>,
    pub cpu_ns: u64,
    /// CPU ns the receiver's threads used in each second since `t0`.
    #[serde(default)]
    pub cpu_per_second_ns: Vec<u64>,
    /// Worker threads of the receiver (its CPU capacity per second).
    #[serde(default)]
    pub threads: u32,
    /// What it saw of its host and its clock.
    #[serde(default)]
    pub host: HostReport,
    pub interrupted: bool,
}

/// What a SUT did, served at its `GET /v1/counters` (cumulative since it
/// started). The aggregator reads it when the run starts and when it ends,
/// and reports the difference. A delivery is one event to one subscriber.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SutCounters {
    /// Events taken in (answered 2xx), replies included.
    pub accepted: u64,
    /// Requests refused with a 4xx (not a CloudEvent, too large).
    pub rejected: u64,
    /// Requests refused with a 503 because the queue was full.
    pub backpressured: u64,
    /// Requests answered 502: a Kafka SUT's write was not acknowledged.
    #[serde(default)]
    pub produce_failed: u64,
    /// Reply events taken back in (a broker's subscribers' responses).
    pub replies: u64,
    /// Deliveries owed: one per event per matching subscription.
    pub routed: u64,
    /// Deliveries a subscriber acknowledged.
    pub delivered: u64,
    /// Delivery attempts after the first.
    pub retried: u64,
    /// Deliveries that failed every attempt and reached the dead-letter sink.
    pub dead_lettered: u64,
    /// Deliveries given up: no dead-letter sink, the sink failed too, the
    /// broker's hop limit, or shutdown.
    pub dropped: u64,
    /// Requests answered with an injected 5xx (`--fault sut-5xx`).
    #[serde(default)]
    pub faulted: u64,
    /// Events inside the SUT right now (queued, retrying or in flight).
    pub queued: u64,
    /// CPU time of the SUT's threads, ns.
    pub cpu_ns: u64,
    /// How long its own CPU quota (a pod's `limits.cpu`) stopped it, ns:
    /// its cgroup's CFS throttled time (0 without a quota).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub throttled_ns: u64,
    /// When the SUT's process started (wall-clock ns): a process started
    /// again counts from zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub started_unix_ns: u64,
    /// Whether the SUT started again between the two readings `since`
    /// took (killed, or crashed and started again): the counters are
    /// then those of its last life only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restarted: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SutCounters {
    /// What happened between `earlier` and `self` (`queued` is `self`'s);
    /// if the SUT started again in between, all of `self`, marked so.
    pub fn since(&self, earlier: &SutCounters) -> SutCounters {
        if self.started_unix_ns != earlier.started_unix_ns {
            return SutCounters {
                restarted: true,
                ..*self
            };
        }
        let d = |a: u64, b: u64| a.saturating_sub(b);
        SutCounters {
            accepted: d(self.accepted, earlier.accepted),
            rejected: d(self.rejected, earlier.rejected),
            backpressured: d(self.backpressured, earlier.backpressured),
            produce_failed: d(self.produce_failed, earlier.produce_failed),
            replies: d(self.replies, earlier.replies),
            routed: d(self.routed, earlier.routed),
            delivered: d(self.delivered, earlier.delivered),
            retried: d(self.retried, earlier.retried),
            dead_lettered: d(self.dead_lettered, earlier.dead_lettered),
            dropped: d(self.dropped, earlier.dropped),
            faulted: d(self.faulted, earlier.faulted),
            queued: self.queued,
            cpu_ns: d(self.cpu_ns, earlier.cpu_ns),
            throttled_ns: d(self.throttled_ns, earlier.throttled_ns),
            started_unix_ns: self.started_unix_ns,
            restarted: false,
        }
    }
}

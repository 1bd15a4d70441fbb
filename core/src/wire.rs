//! Messages between the roles and the aggregator (JSON over HTTP), the same on
//! loopback and across pods.
//!
//! Endpoints served by the aggregator:
//! - `GET  /v1/plan`: the plan, `t0` unset until the start.
//! - `GET  /v1/clock` ([`ClockReading`]): the aggregator's clock, timed by
//!   roles on their own to estimate their offset from it.
//! - `POST /v1/ready` ([`Ready`]): a role is ready to take traffic; 400 for
//!   an index outside the plan, 409 for one already ready.
//! - `GET  /v1/start`: long poll; the plan with `t0` once every receiver is ready.
//! - `POST /v1/progress` ([`Progress`]): a role's running counters, once a second.
//! - `POST /v1/report/sender` ([`SenderReport`]), `POST /v1/report/receiver` ([`ReceiverReport`]):
//!   one kept per index (a repeat replaces it).
//! - `GET  /v1/finish`: long poll; returns ([`Finish`]) when the receiver should
//!   stop listening and report (drain over, or the run was interrupted).

use crate::bitset::BitSet;
use crate::digest::{Percentiles, WireDigest};
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
}

/// Answer to `/v1/finish`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Finish {
    /// True when the run was cut short (Ctrl-C).
    pub interrupted: bool,
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
    /// Still in flight when the run was interrupted.
    Cancelled,
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
        self.status_4xx += o.status_4xx;
        self.status_5xx += o.status_5xx;
        self.status_other += o.status_other;
        self.connect += o.connect;
        self.timeout += o.timeout;
        self.transport += o.transport;
        self.inflight_limit += o.inflight_limit;
        self.cancelled += o.cancelled;
    }

    /// All failures.
    pub fn total(&self) -> u64 {
        self.status_4xx
            + self.status_5xx
            + self.status_other
            + self.connect
            + self.timeout
            + self.transport
            + self.inflight_limit
            + self.cancelled
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
    pub fn total(&self) -> u64 {
        self.not_cloudevent + self.foreign + self.out_of_range + self.early
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
    /// P99 of the last complete second, ms: publish (sender) or e2e (receiver).
    pub p99_ms: Option<f64>,
    /// Schedule lag P99 of the last complete second, ms (sender).
    pub lag_p99_ms: Option<f64>,
    /// Share of the role's machine's CPU time the hypervisor took in the
    /// last complete second.
    #[serde(default)]
    pub host_steal: Option<f32>,
}

/// One second of a sender's ledger. Latencies and failures are counted in the
/// second of the event's intended time, `sent` in the second it actually left.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SenderSecond {
    pub sent: u64,
    pub accepted: u64,
    pub failed: FailureCounts,
    /// Publish latency from intended time (`acked - intended`).
    pub publish: Option<Percentiles>,
    /// Raw publish latency (`acked - sent`).
    pub publish_raw: Option<Percentiles>,
    /// Schedule lag (`sent - intended`).
    pub lag: Option<Percentiles>,
    /// Running P99.99 of publish latency from the start of the step, ms.
    pub publish_running_p99_99: Option<f64>,
}

/// Per-step digests, merged exactly by the aggregator.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SenderStep {
    pub publish: WireDigest,
    pub publish_raw: WireDigest,
    pub lag: WireDigest,
}

/// A sender's whole ledger, sent once at the end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SenderReport {
    pub run_id: String,
    pub index: u32,
    /// Events released: sent, or failed before being sent (in-flight bound).
    pub released: u64,
    pub accepted: BitSet,
    pub failed: FailureCounts,
    pub seconds: Vec<SenderSecond>,
    pub steps: Vec<SenderStep>,
    /// Warmup events sent and accepted (excluded from every figure).
    pub warmup_sent: u64,
    pub warmup_accepted: u64,
    /// CPU ns the sender's threads used.
    pub cpu_ns: u64,
    /// Wall-clock ns when the last exchange ended.
    pub last_exchange_unix_ns: u64,
    /// Share of its machine's CPU time the hypervisor took (steal), in
    /// each second since `t0`.
    #[serde(default)]
    pub host_steal_per_second: Vec<f32>,
    /// Its clock against the aggregator's, when it estimated that (a role
    /// on its own, possibly on another host).
    #[serde(default)]
    pub clock: Option<crate::clock::ClockSync>,
    /// CPU ns the kernel's DAMON monitor used on its machine while it ran
    /// (None: DAMON was off).
    #[serde(default)]
    pub host_damon_cpu_ns: Option<u64>,
    /// Every second's digests, when the plan has several senders: the
    /// aggregator merges them so each second's percentiles cover all of
    /// them (a lone sender's `seconds` already do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<SenderWindows>,
    pub interrupted: bool,
}

/// A sender's latency digests, one per second of the schedule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SenderWindows {
    pub publish: Vec<WireDigest>,
    pub publish_raw: Vec<WireDigest>,
    pub lag: Vec<WireDigest>,
}

/// One second of a receiver's ledger: `delivered` in the second an event
/// arrived; latencies and duplicates in the second of its intended time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReceiverSecond {
    pub delivered: u64,
    pub duplicates: u64,
    /// Events of this second (by intended time) that arrived after a later
    /// event of their partition key.
    #[serde(default)]
    pub reordered: u64,
    /// End-to-end latency from intended time (`received - intended`).
    pub e2e: Option<Percentiles>,
    /// Raw end-to-end latency (`received - sent`).
    pub e2e_raw: Option<Percentiles>,
    /// Running P99.99 of e2e latency from the start of the step, ms.
    pub e2e_running_p99_99: Option<f64>,
}

/// Per-step e2e digests.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReceiverStep {
    pub e2e: WireDigest,
    pub e2e_raw: WireDigest,
}

/// A receiver's whole ledger, sent once after the drain.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    pub steps: Vec<ReceiverStep>,
    pub cpu_ns: u64,
    /// CPU ns the receiver's threads used in each second since `t0`.
    #[serde(default)]
    pub cpu_per_second_ns: Vec<u64>,
    /// Worker threads of the receiver (its CPU capacity per second).
    #[serde(default)]
    pub threads: u32,
    /// Share of its machine's CPU time the hypervisor took (steal), in
    /// each second since `t0`.
    #[serde(default)]
    pub host_steal_per_second: Vec<f32>,
    /// Its clock against the aggregator's, when it estimated that (a role
    /// on its own, possibly on another host).
    #[serde(default)]
    pub clock: Option<crate::clock::ClockSync>,
    /// CPU ns the kernel's DAMON monitor used on its machine while it ran
    /// (None: DAMON was off).
    #[serde(default)]
    pub host_damon_cpu_ns: Option<u64>,
    /// Every second's digests, when the plan has several receivers (see
    /// [`SenderReport::windows`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<ReceiverWindows>,
    pub interrupted: bool,
}

/// A receiver's e2e digests, one per second of the schedule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReceiverWindows {
    pub e2e: Vec<WireDigest>,
    pub e2e_raw: Vec<WireDigest>,
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
    /// Events inside the SUT right now (queued, retrying or in flight).
    pub queued: u64,
    /// CPU time of the SUT's threads, ns.
    pub cpu_ns: u64,
}

impl SutCounters {
    /// What happened between `earlier` and `self` (`queued` is `self`'s).
    pub fn since(&self, earlier: &SutCounters) -> SutCounters {
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
            queued: self.queued,
            cpu_ns: d(self.cpu_ns, earlier.cpu_ns),
        }
    }
}

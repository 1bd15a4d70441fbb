//! How an event carries its identity through any SUT.
//!
//! The CloudEvents `id` is the sequence number and `source` names the run,
//! the sender and the phase (warmup events number from 0 too, so they have
//! a source of their own: `source`+`id` is unique across phases, senders
//! and runs, as a broker that drops repeats requires). A SUT (a Kafka source, say) may give an event a new id, so the
//! same facts also travel as extension attributes, which every CloudEvents
//! binding must carry unchanged. All are strings: CloudEvents integers are
//! 32-bit, and nanosecond stamps are not.

/// Extension: the run id.
pub const EXT_RUN: &str = "bbrun";
/// Extension: the sender index.
pub const EXT_SENDER: &str = "bbsender";
/// Extension: the sequence number within the sender's schedule.
pub const EXT_SEQ: &str = "bbseq";
/// Extension: wall-clock ns when the request actually left the sender.
pub const EXT_SENT: &str = "bbsent";
/// Extension: present (`"1"`) on warmup events, which no figure counts.
pub const EXT_WARMUP: &str = "bbwarmup";

/// Partition keys the sender spreads events over by default (the
/// `partitionkey` extension, a Kafka record's key): event `seq` has key
/// `seq % 100`, so the receiver can count events that arrive out of order
/// within their key. `--partition-keys` changes it (RunPlan::partition_keys).
pub const PARTITION_KEYS: u32 = 100;

/// The CloudEvents `type` of every event the suite sends.
pub const EVENT_TYPE: &str = "dev.brokerbench.event";

/// The CloudEvents `source` of a run's sender: its measured events, or
/// its warmup events.
pub fn event_source(run_id: &str, sender: u32, warmup: bool) -> String {
    let phase = if warmup { "/warmup" } else { "" };
    format!("/brokerbench/{run_id}/sender/{sender}{phase}")
}

/// An event's identity as read back by a receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventIdentity {
    pub sender: u32,
    pub seq: u64,
    pub sent_unix_ns: Option<u64>,
    pub warmup: bool,
}

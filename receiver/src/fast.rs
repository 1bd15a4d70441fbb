//! The receiver's fast path: an event's identity read from its binary-mode
//! headers alone, without building the SDK's event (which copies the data
//! and every attribute). It answers only when it is sure: a request with
//! anything it does not know (structured mode, an attribute it does not
//! read, a header sent twice, bytes that are not visible ASCII) goes to
//! the SDK, which stays the judge of what a CloudEvent is. The server also
//! sends every [`SAMPLE_EVERY`]-th event to the SDK whatever this says, so
//! the two are checked against each other on every run.

use brokerbench_core::identity::{
    EventIdentity, EXT_RUN, EXT_SENDER, EXT_SENT, EXT_SEQ, EXT_WARMUP,
};
use http::HeaderMap;

/// One event in this many is decoded by the SDK too.
pub const SAMPLE_EVERY: u64 = 64;

/// What the headers say, when the fast path is sure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fast {
    /// A valid CloudEvent of this run.
    Ours(EventIdentity),
    /// A valid CloudEvent, not of this run (or without its identity).
    Foreign,
}

/// The `ce-` attributes the fast path knows; any other sends the request
/// to the SDK.
const KNOWN: [&str; 11] = [
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    EXT_RUN,
    EXT_SENDER,
    EXT_SEQ,
    EXT_SENT,
    EXT_WARMUP,
    brokerbench_core::kafka_binding::PARTITION_KEY,
];

/// Reads the identity of a binary-mode CloudEvent 1.0 from `headers`, or
/// `None` when only the SDK can say.
pub fn identity(headers: &HeaderMap, run_id: &str) -> Option<Fast> {
    let mut types = headers.get_all(http::header::CONTENT_TYPE).iter();
    if let Some(ct) = types.next() {
        // Structured or batched mode: the event is in the body. A type
        // sent twice, or not readable text, the SDK judges.
        if types.next().is_some()
            || ct.to_str().is_err()
            || ct.as_bytes().starts_with(b"application/cloudevents")
        {
            return None;
        }
    }
    let mut seen = [None::<&str>; KNOWN.len()];
    for (name, value) in headers {
        let Some(attr) = name.as_str().strip_prefix("ce-") else {
            continue;
        };
        let slot = KNOWN.iter().position(|k| *k == attr)?;
        let text = value.to_str().ok()?;
        if seen[slot].replace(text).is_some() {
            // Sent twice: the SDK decides which counts.
            return None;
        }
    }
    let get = |name: &str| seen[KNOWN.iter().position(|k| *k == name).expect("known")];
    if get("specversion")? != "1.0" {
        return None;
    }
    for required in ["id", "source", "type"] {
        if get(required)?.is_empty() {
            return None;
        }
    }
    if get(EXT_RUN) != Some(run_id) {
        return Some(Fast::Foreign);
    }
    let (Some(sender), Some(seq)) = (
        get(EXT_SENDER).and_then(|s| s.parse().ok()),
        get(EXT_SEQ).and_then(|s| s.parse().ok()),
    ) else {
        return Some(Fast::Foreign);
    };
    Some(Fast::Ours(EventIdentity {
        sender,
        seq,
        sent_unix_ns: get(EXT_SENT).and_then(|s| s.parse().ok()),
        warmup: get(EXT_WARMUP).is_some(),
    }))
}

//! Wall-clock nanoseconds: the clock every role stamps events with.
//!
//! On Linux `CLOCK_REALTIME` is system-wide, so stamps taken in two processes
//! on one host compare directly.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, now.
pub fn unix_now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The `tokio::time::Instant` at which the wall clock reads `unix_ns`.
///
/// Deadlines are kept on the monotonic clock; this converts a plan's wall-clock
/// time into one, once.
pub fn instant_at(unix_ns: u64) -> tokio::time::Instant {
    let now_unix = unix_now_ns();
    let now = tokio::time::Instant::now();
    if unix_ns >= now_unix {
        now + std::time::Duration::from_nanos(unix_ns - now_unix)
    } else {
        now.checked_sub(std::time::Duration::from_nanos(now_unix - unix_ns))
            .unwrap_or(now)
    }
}

/// A once-a-second ticker whose ticks fall `offset` past each whole second
/// since `base_unix_ns` (a plan's warmup start or `t0`), so that roles
/// sampling counters on it sample at the same moments.
pub fn aligned_ticker(base_unix_ns: u64, offset: std::time::Duration) -> tokio::time::Interval {
    let now = unix_now_ns();
    let first = base_unix_ns + offset.as_nanos() as u64;
    let first = if first >= now {
        first
    } else {
        first + (now - first).div_ceil(1_000_000_000) * 1_000_000_000
    };
    let mut tick = tokio::time::interval_at(instant_at(first), std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick
}

//! Wall-clock nanoseconds: the clock every role stamps events with.
//!
//! On Linux `CLOCK_REALTIME` is system-wide, so stamps taken in two processes
//! on one host compare directly.
//!
//! Across hosts, a role estimates how far its clock is from the aggregator's
//! ([`estimate`], from request/response round trips, keeping the shortest)
//! when the run starts and, when the offset is larger than the estimate's
//! uncertainty, reads the aggregator's time from then on ([`adopt`]): every
//! stamp the process takes is then on the run's one clock. It estimates
//! again when it reports, so the drift between the two clocks over the
//! run is known. In between, every few seconds, it estimates again and
//! adopts the new offset when it is about as certain, so a drifting clock
//! is followed during the run; each estimate goes in its report.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds added to this host's clock to read the aggregator's.
static OFFSET_NS: AtomicI64 = AtomicI64::new(0);
/// Test fault: a shift of this host's clock, ns ...
static SKEW_NS: AtomicI64 = AtomicI64::new(0);
/// ... growing by this many ns per second ...
static SKEW_PPB: AtomicI64 = AtomicI64::new(0);
/// ... since this time (the real clock's ns).
static SKEW_FROM: AtomicU64 = AtomicU64::new(0);

/// Nanoseconds since the Unix epoch on this host's own clock.
pub fn system_now_ns() -> u64 {
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let skew = SKEW_NS.load(Ordering::Relaxed);
    let ppb = SKEW_PPB.load(Ordering::Relaxed);
    if skew == 0 && ppb == 0 {
        return real;
    }
    let elapsed = real.saturating_sub(SKEW_FROM.load(Ordering::Relaxed)) as i128;
    let drift = (elapsed * ppb as i128 / 1_000_000_000) as i64;
    real.saturating_add_signed(skew + drift)
}

/// Test fault: from now on this host's clock reads `shift_ns` off, and
/// drifts `drift_ppm` millionths of a second per second further (a role
/// whose clock is off by a known amount, to check the estimate).
pub fn skew_for_tests(shift_ns: i64, drift_ppm: f64) {
    SKEW_FROM.store(system_now_ns(), Ordering::Relaxed);
    SKEW_NS.store(shift_ns, Ordering::Relaxed);
    SKEW_PPB.store((drift_ppm * 1000.0) as i64, Ordering::Relaxed);
}

/// Nanoseconds since the Unix epoch, now, on the run's clock: this host's,
/// corrected by the offset adopted from the aggregator (none locally).
pub fn unix_now_ns() -> u64 {
    system_now_ns().saturating_add_signed(OFFSET_NS.load(Ordering::Relaxed))
}

/// How this host's clock stands against the aggregator's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockSync {
    /// Aggregator's clock minus this host's, in ns.
    pub offset_ns: i64,
    /// Half the shortest round trip: the true offset is within this of
    /// `offset_ns`.
    pub uncertainty_ns: u64,
    /// Whether the offset was applied (it exceeds the uncertainty).
    pub applied: bool,
}

/// One round trip: this host's clock before, the aggregator's answer, this
/// host's clock after.
#[derive(Debug, Clone, Copy)]
pub struct ClockSample {
    pub before_ns: u64,
    pub remote_ns: u64,
    pub after_ns: u64,
}

/// The offset from the sample with the shortest round trip: the remote
/// clock was read somewhere within it, so its midpoint is the estimate and
/// half of it the uncertainty. An offset within the uncertainty cannot be
/// told from none (one host, one clock) and is not applied.
pub fn estimate(samples: &[ClockSample]) -> Option<ClockSync> {
    let best = samples
        .iter()
        .filter(|s| s.after_ns >= s.before_ns)
        .min_by_key(|s| s.after_ns - s.before_ns)?;
    let half = (best.after_ns - best.before_ns) / 2;
    let mid = best.before_ns + half;
    let offset_ns = best.remote_ns as i64 - mid as i64;
    Some(ClockSync {
        offset_ns,
        uncertainty_ns: half,
        applied: offset_ns.unsigned_abs() > half,
    })
}

/// Makes `sync` this process's view of the run's clock: its offset is
/// added to every stamp from now on when it exceeds its uncertainty.
pub fn adopt(sync: ClockSync) {
    OFFSET_NS.store(
        if sync.applied { sync.offset_ns } else { 0 },
        Ordering::Relaxed,
    );
}

/// Whether a later estimate `next` replaces the adopted `start`: the
/// clocks are apart (`start` was applied) and `next` is about as certain
/// (within twice `start`'s uncertainty, or 1 ms), so a slow round trip
/// never moves the stamps by its own noise.
pub fn worth_adopting(start: &ClockSync, next: &ClockSync) -> bool {
    start.applied && next.uncertainty_ns <= (2 * start.uncertainty_ns).max(1_000_000)
}

/// The offset this process adds to its clock's readings now, ns.
pub fn adopted_offset_ns() -> i64 {
    OFFSET_NS.load(Ordering::Relaxed)
}

/// Adopts a later estimate's offset (see [`worth_adopting`]).
pub fn readopt(next: &ClockSync) {
    OFFSET_NS.store(next.offset_ns, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(before_ns: u64, remote_ns: u64, after_ns: u64) -> ClockSample {
        ClockSample {
            before_ns,
            remote_ns,
            after_ns,
        }
    }

    #[test]
    fn the_shortest_round_trip_gives_the_offset() {
        // The remote clock is 5 ms ahead; round trips of 3, 0.4 and 1 ms.
        let got = estimate(&[
            sample(1_000_000, 6_000_000 + 1_000_000, 4_000_000),
            sample(10_000_000, 15_000_000 + 200_000, 10_400_000),
            sample(20_000_000, 25_000_000 + 900_000, 21_000_000),
        ])
        .unwrap();
        assert_eq!(
            got,
            ClockSync {
                offset_ns: 5_000_000,
                uncertainty_ns: 200_000,
                applied: true
            }
        );
    }

    #[test]
    fn one_clock_is_never_corrected() {
        // Same clock: the remote reading falls inside the round trip, so
        // the estimate is within its uncertainty, whatever the asymmetry.
        for remote in [100, 150, 199, 300] {
            let got = estimate(&[sample(100, remote, 300)]).unwrap();
            assert!(!got.applied, "remote {remote}: {got:?}");
            assert!(got.offset_ns.unsigned_abs() <= got.uncertainty_ns);
        }
        let behind = estimate(&[sample(1_000_000, 400_000, 1_000_100)]).unwrap();
        assert_eq!((behind.offset_ns, behind.applied), (-600_050, true));
        assert_eq!(estimate(&[]), None);
    }
}

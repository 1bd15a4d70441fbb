//! The pacer: releases every event when its intended time comes, never
//! waiting for an answer (open loop, free of coordinated omission). Each
//! wake-up releases every event that has become due, each stamped with its
//! own intended time.
//!
//! Two drivers share the schedule arithmetic:
//! - [`pace_spinning`] (the default) runs on the sender's runtime and never
//!   lets its thread sleep while events are near: it yields to the runtime
//!   between checks, so the thread keeps serving I/O and is never parked. On
//!   virtual machines a parked thread can wake milliseconds late (a 200 µs
//!   sleep overshoots by 6 ms at P99.99 on the 2-core VM this was built on),
//!   which would show as schedule lag. It costs a busy core.
//! - [`pace`] runs on a thread of its own that sleeps between releases
//!   (timer slack 1 ns, wake-ups at least [`QUANTUM`] apart): little CPU,
//!   but the lag is whatever the machine's wake-up latency is.

use brokerbench_core::clock::unix_now_ns;
use brokerbench_core::pace::Schedule;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// One event handed from the pacer to a publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    pub seq: u64,
    /// Wall-clock ns at which the event should leave.
    pub intended_unix_ns: u64,
    /// Wall-clock ns at which the pacer handed it over (0 until then):
    /// pacer lag ends here, connection wait starts.
    pub released_unix_ns: u64,
    pub warmup: bool,
}

/// Longest single sleep, so a stop request is seen promptly.
const MAX_SLEEP: Duration = Duration::from_millis(20);
/// Shortest time between two wake-ups. Waking for every event at 40k/s costs
/// more CPU in context switches than sending; waking at most every 200 µs
/// releases a small batch instead and bounds the added lag to 200 µs.
pub const QUANTUM: Duration = Duration::from_micros(200);

/// One paced phase (warmup, then the measured schedule).
#[derive(Debug, Clone)]
pub struct Phase {
    pub schedule: Schedule,
    /// Wall-clock ns at which the phase's first event is due.
    pub start_unix_ns: u64,
    pub warmup: bool,
}

/// Releases the events of `phases` in order, calling `release` for each when
/// it is due. Returns false if `stop` cut it short.
pub fn pace(phases: &[Phase], stop: &CancellationToken, mut release: impl FnMut(Job)) -> bool {
    set_fine_timer_slack();
    for phase in phases {
        // One conversion from the wall clock to the monotonic clock per phase.
        let now_unix = unix_now_ns();
        let start = if phase.start_unix_ns >= now_unix {
            Instant::now() + Duration::from_nanos(phase.start_unix_ns - now_unix)
        } else {
            Instant::now() - Duration::from_nanos(now_unix - phase.start_unix_ns)
        };
        let s = &phase.schedule;
        let total = s.total_events();
        let mut released = 0u64;
        while released < total {
            let now = Instant::now();
            if now >= start {
                released = release_due(phase, now.duration_since(start), released, &mut release);
                if released >= total {
                    break;
                }
            }
            if stop.is_cancelled() {
                return false;
            }
            let next = start + Duration::from_nanos(s.offset_ns(released).unwrap_or(0));
            let next = next.max(now + QUANTUM);
            let wait = next
                .saturating_duration_since(Instant::now())
                .min(MAX_SLEEP);
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
        }
    }
    true
}

/// How far ahead of the next event the spinning pacer stops sleeping and
/// starts spinning (more than a parked thread's worst wake-up delay).
pub const SPIN_WINDOW: Duration = Duration::from_millis(20);

/// The spinning driver: like [`pace`], on the caller's runtime.
pub async fn pace_spinning(
    phases: &[Phase],
    stop: &CancellationToken,
    mut release: impl FnMut(Job),
) -> bool {
    for phase in phases {
        let start = brokerbench_core::clock::instant_at(phase.start_unix_ns);
        let s = &phase.schedule;
        let total = s.total_events();
        let mut released = 0u64;
        while released < total {
            let now = tokio::time::Instant::now();
            if now >= start {
                released = release_due(phase, now.duration_since(start), released, &mut release);
                if released >= total {
                    break;
                }
            }
            if stop.is_cancelled() {
                return false;
            }
            let next = start + Duration::from_nanos(s.offset_ns(released).unwrap_or(0));
            if next > now + SPIN_WINDOW {
                let wake = (next - SPIN_WINDOW).min(now + MAX_SLEEP);
                tokio::time::sleep_until(wake).await;
            } else {
                tokio::task::yield_now().await;
            }
        }
    }
    true
}

/// Releases the events of `phase` from `released` up to every one due
/// `elapsed` after the phase's start; returns how many are released.
fn release_due(
    phase: &Phase,
    elapsed: Duration,
    released: u64,
    release: &mut impl FnMut(Job),
) -> u64 {
    let due = phase.schedule.due(elapsed.as_nanos() as u64);
    for seq in released..due {
        release(Job {
            seq,
            intended_unix_ns: phase.start_unix_ns + phase.schedule.offset_ns(seq).unwrap_or(0),
            released_unix_ns: 0,
            warmup: phase.warmup,
        });
    }
    due.max(released)
}

fn set_fine_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK only changes this thread's timer slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The timing tests run one at a time: a spinning pacer next to a
    /// sleeping one on two cores would measure each other.
    static TIMING: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Paces 5000 events/s for 2 s with `drive` and checks the releases:
    /// exactly 10,000, in order, none early, and every 100 ms window within
    /// `tolerance` of 500. Counts and order must hold on every try; evenness
    /// is measured in real time, which the host can disturb (a preempted
    /// vCPU stalls any thread for milliseconds), so it gets up to 3 tries.
    fn check_even(tolerance: u32, drive: impl Fn(&[Phase], &mut dyn FnMut(Job)) -> bool) {
        let _one_at_a_time = TIMING.lock().unwrap_or_else(|e| e.into_inner());
        let mut last = String::new();
        for _ in 0..3 {
            let start = unix_now_ns() + 50_000_000;
            let phases = [Phase {
                schedule: Schedule::parse("5000:2").unwrap(),
                start_unix_ns: start,
                warmup: false,
            }];
            let (mut windows, mut n) = ([0u32; 20], 0u64);
            assert!(drive(&phases, &mut |job: Job| {
                let now = unix_now_ns();
                assert_eq!(job.seq, n, "in order, none skipped");
                assert!(now >= job.intended_unix_ns, "released before its time");
                assert_eq!(job.intended_unix_ns, start + job.seq * 200_000);
                n += 1;
                windows[((now - start) / 100_000_000).min(19) as usize] += 1;
            }));
            assert_eq!(n, 10_000);
            if windows
                .iter()
                .all(|w| (500 - tolerance..=500 + tolerance).contains(w))
            {
                return;
            }
            last = format!("{windows:?}");
        }
        panic!("100 ms windows outside 500 ± {tolerance} on 3 tries; last: {last}");
    }

    #[test]
    fn the_spinning_driver_releases_exactly_the_schedule_evenly_spread() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let stop = CancellationToken::new();
        check_even(50, |phases, release| {
            rt.block_on(pace_spinning(phases, &stop, release))
        });
    }

    /// The sleeping driver releases events as late as the machine's wake-ups
    /// (several ms at the tail on VMs), so its windows get ±25%.
    #[test]
    fn the_sleeping_driver_releases_exactly_the_schedule_spread() {
        let stop = CancellationToken::new();
        check_even(125, |phases, release| pace(phases, &stop, release));
    }

    #[test]
    fn stop_cuts_the_phase_short() {
        let phases = [Phase {
            schedule: Schedule::parse("10:100").unwrap(),
            start_unix_ns: unix_now_ns(),
            warmup: false,
        }];
        let stop = CancellationToken::new();
        let s2 = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(250));
            s2.cancel();
        });
        let mut n = 0;
        assert!(!pace(&phases, &stop, |_| n += 1));
        assert!((2..=5).contains(&n), "released {n} in ~250 ms at 10/s");
    }
}

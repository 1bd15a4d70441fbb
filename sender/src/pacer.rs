//! The pacer: releases every event when its intended time comes, never
//! waiting for an answer (open loop, free of coordinated omission). Each
//! wake-up releases every event that has become due, each stamped with its
//! own intended time.
//!
//! Two drivers share the schedule arithmetic (`Pacing`) and differ only in
//! how they wait:
//! - [`pace_spinning`] (the default) runs on the sender's runtime and never
//!   lets its thread sleep while events are near: it yields to the runtime
//!   between checks, so the thread keeps serving I/O and is never parked. On
//!   virtual machines a parked thread can wake milliseconds late (a 200 µs
//!   sleep overshoots by 6 ms at P99.99 on the 2-core VM this was built on),
//!   which would show as schedule lag. It costs a busy core.
//! - [`pace`] runs on a thread of its own that sleeps between releases
//!   (timer slack 1 ns, wake-ups at least a quantum apart, [`QUANTUM`] by
//!   default): little CPU, but the lag is whatever the machine's wake-up
//!   latency is, plus up to the quantum.

use brokerbench_core::pace::Schedule;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;
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
/// Shortest time between two wake-ups, by default. Waking for every event
/// at 40k/s costs more CPU in context switches than sending; waking at
/// most every 200 µs releases a small batch instead and bounds the added
/// lag to 200 µs. Each wake-up also wakes the sender's runtime, so a
/// longer quantum costs less: at 20,000/s, 1 ms (oha's granularity, its
/// runtime's timer) took about half the sender's CPU of 200 µs.
pub const QUANTUM: Duration = Duration::from_micros(200);

/// One paced phase (warmup, then the measured schedule).
#[derive(Debug, Clone)]
pub struct Phase {
    pub schedule: Schedule,
    /// The sender's share of its events: `(index, of)` ([`Schedule::part`]).
    pub share: (u32, u32),
    /// Wall-clock ns at which the phase's first event is due.
    pub start_unix_ns: u64,
    pub warmup: bool,
}

/// Where the pacer is in one phase: the schedule arithmetic both drivers
/// share, a pure function of the time it is given.
struct Pacing<'a> {
    phase: &'a Phase,
    /// The phase's start on the monotonic clock (converted once).
    start: Instant,
    released: u64,
}

impl<'a> Pacing<'a> {
    fn new(phase: &'a Phase) -> Self {
        Pacing {
            phase,
            start: brokerbench_core::clock::instant_at(phase.start_unix_ns),
            released: 0,
        }
    }

    /// Releases every event due by `now`, each stamped with its own
    /// intended time; returns when the next is due, or `None` once the
    /// phase is done.
    fn release_due(&mut self, now: Instant, release: &mut impl FnMut(Job)) -> Option<Instant> {
        let s = self
            .phase
            .schedule
            .part(self.phase.share.0, self.phase.share.1);
        if now >= self.start {
            let due = s.due((now - self.start).as_nanos() as u64);
            for seq in self.released..due {
                release(Job {
                    seq,
                    intended_unix_ns: self.phase.start_unix_ns + s.offset_ns(seq).unwrap_or(0),
                    released_unix_ns: 0,
                    warmup: self.phase.warmup,
                });
            }
            self.released = self.released.max(due);
        }
        (self.released < s.total_events())
            .then(|| self.start + Duration::from_nanos(s.offset_ns(self.released).unwrap_or(0)))
    }
}

/// The one pacing loop: releases the events of `phases` in order, each
/// when it is due; between releases `wait(next, now)` waits the way its
/// driver does. Returns false if `stop` cut it short.
async fn drive<W: Future<Output = ()>>(
    phases: &[Phase],
    stop: &CancellationToken,
    mut release: impl FnMut(Job),
    mut wait: impl FnMut(Instant, Instant) -> W,
) -> bool {
    for phase in phases {
        let mut pacing = Pacing::new(phase);
        while let Some(next) = pacing.release_due(Instant::now(), &mut release) {
            if stop.is_cancelled() {
                return false;
            }
            wait(next, Instant::now()).await;
        }
    }
    true
}

/// The sleeping driver: paces `phases` on the calling thread, sleeping
/// between releases (at least `quantum` apart). Returns false if `stop`
/// cut it short.
pub fn pace(
    phases: &[Phase],
    stop: &CancellationToken,
    quantum: Duration,
    release: impl FnMut(Job),
) -> bool {
    set_fine_timer_slack();
    let sleep = |next: Instant, now: Instant| {
        std::thread::sleep((next.max(now + quantum) - now).min(MAX_SLEEP));
        std::future::ready(())
    };
    // Every wait is done when polled: one poll runs the whole schedule.
    let driving = std::pin::pin!(drive(phases, stop, release, sleep));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match driving.poll(&mut cx) {
        std::task::Poll::Ready(completed) => completed,
        std::task::Poll::Pending => unreachable!("the sleeping driver never yields"),
    }
}

/// How far ahead of the next event the spinning pacer stops sleeping and
/// starts spinning (more than a parked thread's worst wake-up delay).
pub const SPIN_WINDOW: Duration = Duration::from_millis(20);

/// A turn of the spinning pacer's loop shorter than this ran nothing but
/// the pacer and the runtime's own poll of its I/O driver: spinning, not
/// the sender's work (a request's write alone takes longer).
pub const IDLE_TURN: Duration = Duration::from_micros(4);

/// What a pacer did: whether it completed its phases, and the time the
/// spinning one spent turning with nothing else to run (its busy core
/// outside the sender's work; zero for the sleeping one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paced {
    pub completed: bool,
    pub spin: Duration,
}

/// The spinning driver: paces `phases` on the caller's runtime, yielding to
/// it between checks once the next event is near. Turns of the loop that
/// ran nothing else (shorter than [`IDLE_TURN`]) are counted as spin.
pub async fn pace_spinning(
    phases: &[Phase],
    stop: &CancellationToken,
    release: impl FnMut(Job),
) -> Paced {
    use std::sync::atomic::{AtomicU64, Ordering};
    // Atomic only so the future stays Send; one task touches it.
    let spun = AtomicU64::new(0);
    let spin = |next: Instant, now: Instant| {
        let spun = &spun;
        async move {
            if next > now + SPIN_WINDOW {
                tokio::time::sleep_until((next - SPIN_WINDOW).min(now + MAX_SLEEP)).await;
            } else {
                let before = Instant::now();
                tokio::task::yield_now().await;
                let turn = before.elapsed();
                if turn < IDLE_TURN {
                    spun.fetch_add(turn.as_nanos() as u64, Ordering::Relaxed);
                }
            }
        }
    };
    let completed = drive(phases, stop, release, spin).await;
    Paced {
        completed,
        spin: Duration::from_nanos(spun.into_inner()),
    }
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
    use brokerbench_core::clock::unix_now_ns;

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
                share: (0, 1),
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
            rt.block_on(pace_spinning(phases, &stop, release)).completed
        });
    }

    /// The sleeping driver releases events as late as the machine's wake-ups
    /// (several ms at the tail on VMs), so its windows get ±25%.
    #[test]
    fn the_sleeping_driver_releases_exactly_the_schedule_spread() {
        let stop = CancellationToken::new();
        check_even(125, |phases, release| pace(phases, &stop, QUANTUM, release));
    }

    /// A longer quantum releases the same events in fewer, larger batches:
    /// 2,000 events over 1 s with 10 ms between wake-ups come in at most
    /// about 100 wake-ups (and a sleep of a machine that wakes late only
    /// makes fewer), every one released, none early.
    #[test]
    fn a_longer_quantum_wakes_less_and_releases_every_event() {
        let _one_at_a_time = TIMING.lock().unwrap_or_else(|e| e.into_inner());
        let start = unix_now_ns() + 20_000_000;
        let phases = [Phase {
            schedule: Schedule::parse("2000:1").unwrap(),
            share: (0, 1),
            start_unix_ns: start,
            warmup: false,
        }];
        let stop = CancellationToken::new();
        let (mut n, mut wakes, mut last) = (0u64, 0u32, 0u64);
        assert!(pace(&phases, &stop, Duration::from_millis(10), |job| {
            let now = unix_now_ns();
            assert!(now >= job.intended_unix_ns, "released before its time");
            // Releases of one wake-up come microseconds apart.
            if now - last > 2_000_000 {
                wakes += 1;
            }
            (n, last) = (n + 1, now);
        }));
        assert_eq!(n, 2000);
        assert!((10..=102).contains(&wakes), "{wakes} wake-ups");
    }

    #[test]
    fn stop_cuts_the_phase_short() {
        let phases = [Phase {
            schedule: Schedule::parse("10:100").unwrap(),
            share: (0, 1),
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
        assert!(!pace(&phases, &stop, QUANTUM, |_| n += 1));
        assert!((2..=5).contains(&n), "released {n} in ~250 ms at 10/s");
    }
}

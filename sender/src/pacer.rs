//! The pacer: releases every event when its intended time comes, never
//! waiting for an answer (open loop, free of coordinated omission). Each
//! wake-up releases every event that has become due, each stamped with its
//! own intended time.
//!
//! Two drivers share the schedule arithmetic (`Pacing`) and differ only in
//! how they wait:
//! - [`pace_spinning`] (the default) runs on the sender's runtime and never
//!   lets its thread sleep while events are near: it yields to the runtime
//!   between checks (and, when the runtime had nothing to run, to any other
//!   thread waiting for its CPU), so the thread keeps serving I/O and is
//!   never parked. On
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
        std::thread::sleep(sleep_for(next, now, quantum));
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

/// How long the sleeping driver sleeps at `now` with the next event due
/// at `next`: until it is due, but at least `quantum` (wake-ups at least
/// that far apart) and at most [`MAX_SLEEP`] (a stop is seen promptly).
fn sleep_for(next: Instant, now: Instant, quantum: Duration) -> Duration {
    (next.max(now + quantum) - now).min(MAX_SLEEP)
}

/// What the spinning driver does at `now` with the next event due at
/// `next`: sleep on the runtime's timer while the event is far (until
/// [`SPIN_WINDOW`] before it, at most [`MAX_SLEEP`]), else yield and
/// look again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpinWait {
    SleepUntil(Instant),
    Yield,
}

fn spin_wait(next: Instant, now: Instant) -> SpinWait {
    if next > now + SPIN_WINDOW {
        SpinWait::SleepUntil((next - SPIN_WINDOW).min(now + MAX_SLEEP))
    } else {
        SpinWait::Yield
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
            match spin_wait(next, now) {
                SpinWait::SleepUntil(at) => tokio::time::sleep_until(at).await,
                SpinWait::Yield => {
                    let before = Instant::now();
                    tokio::task::yield_now().await;
                    let turn = before.elapsed();
                    if turn < IDLE_TURN {
                        spun.fetch_add(turn.as_nanos() as u64, Ordering::Relaxed);
                        // An idle turn also yields the CPU to any thread
                        // waiting for it (the receiver woken onto this
                        // core would otherwise wait for the next scheduler
                        // tick, 4 ms at HZ=250); when none waits it
                        // returns at once and is counted as spin.
                        let before = Instant::now();
                        yield_cpu();
                        let gave = before.elapsed();
                        if gave < IDLE_TURN {
                            spun.fetch_add(gave.as_nanos() as u64, Ordering::Relaxed);
                        }
                    }
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

/// Lets any other thread waiting for this CPU run first (`sched_yield`).
fn yield_cpu() {
    // SAFETY: sched_yield takes no arguments and only reschedules.
    unsafe {
        libc::sched_yield();
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

    /// A phase of `schedule` for sender `share.0` of `share.1`, starting
    /// at wall-clock `start_unix_ns`.
    fn phase(schedule: &str, share: (u32, u32), start_unix_ns: u64, warmup: bool) -> Phase {
        Phase {
            schedule: Schedule::parse(schedule).unwrap(),
            share,
            start_unix_ns,
            warmup,
        }
    }

    /// `release_due` as a table: at each moment (ms after the phase's
    /// start, in order), the sequence numbers it releases and when the next
    /// is due. 1000/s for 1 s: event n is due at n ms.
    #[test]
    fn release_due_releases_what_is_due_and_says_when_the_next_is() {
        let p = phase("1000:1", (0, 1), 5_000_000_000, false);
        let start = Instant::now() + Duration::from_secs(1);
        let mut pacing = Pacing {
            phase: &p,
            start,
            released: 0,
        };
        let ms = |x: f64| match x < 0.0 {
            true => start - Duration::from_secs_f64(-x / 1e3),
            false => start + Duration::from_secs_f64(x / 1e3),
        };
        #[rustfmt::skip]
        let table: [(f64, std::ops::Range<u64>, Option<f64>); 8] = [
            // now (ms), released, next due (ms)
            (-5.0, 0..0, Some(0.0)),     // before the start: nothing
            (0.0, 0..1, Some(1.0)),      // the first at the start itself
            (0.5, 1..1, Some(1.0)),      // between two: nothing more
            (1.0, 1..2, Some(2.0)),      // each exactly when due
            (9.999, 2..10, Some(10.0)),  // a late wake-up: the batch due by then
            (9.5, 10..10, Some(10.0)),   // time running back releases nothing again
            (999.0, 10..1000, None),     // the last: the phase is done
            (5000.0, 1000..1000, None),  // and stays done
        ];
        for (now, want, next) in table {
            let mut got = Vec::new();
            let due = pacing.release_due(ms(now), &mut |job| got.push(job));
            let seqs: Vec<u64> = got.iter().map(|j| j.seq).collect();
            assert_eq!(seqs, want.clone().collect::<Vec<_>>(), "at {now} ms");
            for j in &got {
                // Each stamped with its own intended time, not the wake-up's.
                assert_eq!(j.intended_unix_ns, p.start_unix_ns + j.seq * 1_000_000);
                assert_eq!((j.released_unix_ns, j.warmup), (0, false));
            }
            assert_eq!(due, next.map(ms), "next due, at {now} ms");
        }
    }

    /// A sender's share: sender 1 of 2 gets every other event of the
    /// schedule (its own sequence numbers, 0.. ), each at its own time;
    /// a warmup phase's events say so.
    #[test]
    fn release_due_paces_a_senders_share_and_marks_warmup() {
        let p = phase("1000:1", (1, 2), 7_000_000_000, true);
        let start = Instant::now();
        let mut pacing = Pacing {
            phase: &p,
            start,
            released: 0,
        };
        let mut got = Vec::new();
        let next = pacing.release_due(start + Duration::from_millis(10), &mut |j| got.push(j));
        let part = p.schedule.part(1, 2);
        assert_eq!(got.len() as u64, part.due(10_000_000));
        assert_eq!(part.total_events(), 500);
        for (i, j) in got.iter().enumerate() {
            assert_eq!(j.seq, i as u64);
            assert!(j.warmup);
            assert_eq!(
                j.intended_unix_ns,
                p.start_unix_ns + part.offset_ns(j.seq).unwrap()
            );
        }
        let released = got.len() as u64;
        assert_eq!(
            next,
            Some(start + Duration::from_nanos(part.offset_ns(released).unwrap()))
        );
    }

    /// The waits, as tables: the sleeping driver's sleep and the spinning
    /// driver's choice between sleeping and yielding.
    #[test]
    fn the_waits_are_the_ones_each_driver_means() {
        let now = Instant::now();
        let us = |x: u64| Duration::from_micros(x);
        let q = QUANTUM; // 200 µs
        for (next_us, quantum, want) in [
            (1_000, q, us(1_000)),     // until due
            (50, q, q),                // at least the quantum apart
            (0, us(1_000), us(1_000)), // even when already due
            (500_000, q, MAX_SLEEP),   // at most MAX_SLEEP, to see a stop
        ] {
            assert_eq!(
                sleep_for(now + us(next_us), now, quantum),
                want,
                "{next_us} µs"
            );
        }
        let window = SPIN_WINDOW.as_micros() as u64;
        for (next_us, want) in [
            (window + 1_000, SpinWait::SleepUntil(now + us(1_000))), // far: sleep until the window
            (window * 10, SpinWait::SleepUntil(now + MAX_SLEEP)),    // very far: at most MAX_SLEEP
            (window, SpinWait::Yield),                               // in the window: spin
            (0, SpinWait::Yield),
        ] {
            assert_eq!(spin_wait(now + us(next_us), now), want, "{next_us} µs");
        }
    }

    /// The loop on paused time: a waiter that wakes exactly when asked
    /// releases every event at exactly its time; one that wakes `late`
    /// after it releases each batch due by then, none early (lag from 0 to
    /// `late`) and none lost; a warmup phase, then the measured one.
    #[tokio::test(start_paused = true)]
    async fn the_loop_releases_every_event_in_order_never_early() {
        for late in [
            Duration::ZERO,
            Duration::from_micros(1_700),
            Duration::from_millis(25),
        ] {
            let start_unix = brokerbench_core::clock::unix_now_ns() + 5_000_000;
            let phases = [
                phase("2000:1", (0, 1), start_unix, true),
                phase("1000:1,3000:1", (0, 1), start_unix + 1_000_000_000, false),
            ];
            let stop = CancellationToken::new();
            let mut jobs: Vec<(Job, Instant)> = Vec::new();
            let wait = |next: Instant, now: Instant| async move {
                tokio::time::advance(next.saturating_duration_since(now) + late).await;
            };
            assert!(drive(&phases, &stop, |j| jobs.push((j, Instant::now())), wait).await);
            for (warmup, count) in [(true, 2000), (false, 4000)] {
                let phase: Vec<&(Job, Instant)> =
                    jobs.iter().filter(|(j, _)| j.warmup == warmup).collect();
                assert_eq!(phase.len(), count, "late {late:?}");
                // The phase's start as the loop saw it: its first event,
                // due at the start, was released `late` after it.
                let (first, first_at) = phase[0];
                let start = *first_at - late;
                for (i, (j, at)) in phase.iter().enumerate() {
                    assert_eq!(j.seq, i as u64, "in order, none skipped");
                    let due =
                        start + Duration::from_nanos(j.intended_unix_ns - first.intended_unix_ns);
                    assert!(*at >= due, "seq {} released before its time", j.seq);
                    assert!(
                        *at - due <= late,
                        "seq {} {:?} late, waking {late:?} late",
                        j.seq,
                        *at - due
                    );
                }
            }
        }
    }

    /// A stop ends the loop at its next turn: what was released before it
    /// stays released, nothing after.
    #[tokio::test(start_paused = true)]
    async fn stop_cuts_the_phase_short() {
        let phases = [phase(
            "10:100",
            (0, 1),
            brokerbench_core::clock::unix_now_ns(),
            false,
        )];
        let stop = CancellationToken::new();
        let mut n = 0;
        let wait = |next: Instant, now: Instant| async move {
            tokio::time::advance(next.saturating_duration_since(now)).await;
        };
        let completed = drive(
            &phases,
            &stop,
            |_| {
                n += 1;
                if n == 3 {
                    stop.cancel();
                }
            },
            wait,
        )
        .await;
        assert!(!completed);
        assert_eq!(n, 3);
    }
}

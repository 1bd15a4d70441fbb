//! CPU time spent by one role's threads, so each role can report CPU per event
//! even when several roles share a process.

use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Threads {
    live: Vec<(libc::pthread_t, libc::clockid_t)>,
    retired_ns: u64,
}

/// The CPU clocks of a group of threads (a role's runtime).
#[derive(Clone, Default)]
pub struct ThreadCpu(Arc<Mutex<Threads>>);

fn read_clock(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(id, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU time the whole process has used, ns.
pub fn process_ns() -> u64 {
    read_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

impl ThreadCpu {
    /// Adds the calling thread to the group (a runtime's `on_thread_start`).
    pub fn register_current(&self) {
        let mut id: libc::clockid_t = 0;
        // SAFETY: pthread_self is always valid for the calling thread.
        let me = unsafe { libc::pthread_self() };
        if unsafe { libc::pthread_getcpuclockid(me, &mut id) } == 0 {
            self.0.lock().unwrap().live.push((me, id));
        }
    }

    /// Moves the calling thread's time to the retired total (`on_thread_stop`).
    pub fn retire_current(&self) {
        let used = read_clock(libc::CLOCK_THREAD_CPUTIME_ID);
        // SAFETY: as above.
        let me = unsafe { libc::pthread_self() };
        let mut t = self.0.lock().unwrap();
        t.live.retain(|(p, _)| *p != me);
        t.retired_ns += used;
    }

    /// CPU nanoseconds used so far by every thread of the group.
    pub fn total_ns(&self) -> u64 {
        let t = self.0.lock().unwrap();
        t.retired_ns + t.live.iter().map(|&(_, id)| read_clock(id)).sum::<u64>()
    }

    /// A multi-threaded tokio runtime whose threads are counted in this group.
    pub fn runtime(&self, threads: usize, name: &str) -> std::io::Result<tokio::runtime::Runtime> {
        let (on_start, on_stop) = (self.clone(), self.clone());
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(name)
            .enable_all()
            .on_thread_start(move || on_start.register_current())
            .on_thread_stop(move || on_stop.retire_current())
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_busy_thread_time() {
        let cpu = ThreadCpu::default();
        let c = cpu.clone();
        let used = std::thread::spawn(move || {
            c.register_current();
            // Burn 50 ms of this thread's own CPU time, however long that takes.
            while read_clock(libc::CLOCK_THREAD_CPUTIME_ID) < 50_000_000 {
                std::hint::black_box(0u64);
            }
            let mid = c.total_ns();
            c.retire_current();
            mid
        })
        .join()
        .unwrap();
        assert!(used >= 50_000_000, "live thread counted {used} ns");
        let total = cpu.total_ns();
        assert!(
            (50_000_000..1_000_000_000).contains(&total),
            "retired thread counted {total} ns"
        );
    }
}

//! `gaps`: how often a spinning thread is kept off its CPU.

use std::time::{Duration, Instant};

/// How often one CPU's spinning thread was kept from running.
#[derive(Debug, Default)]
pub struct Gaps {
    /// Gaps over 0.5, 1, 2 and 4 ms.
    pub over: [u64; 4],
    pub longest_ns: u64,
}

/// Where `gaps` spins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spinners {
    /// A normal thread on each CPU.
    EveryCpu,
    /// One SCHED_FIFO 99 thread on this CPU.
    Fifo(usize),
}

/// Spins for `length` as `spinners` says; the gaps of each CPU's thread.
pub fn count(length: Duration, spinners: Spinners) -> Result<Vec<(usize, Gaps)>, String> {
    let cpus: Vec<usize> = match spinners {
        Spinners::EveryCpu => {
            (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
        }
        Spinners::Fifo(cpu) => {
            let throttle =
                std::fs::read_to_string("/proc/sys/kernel/sched_rt_runtime_us").unwrap_or_default();
            if throttle.trim() != "-1" {
                return Err(format!(
                    "--fifo needs real-time throttling off (sched_rt_runtime_us is {}, not -1): \
                     echo -1 > /proc/sys/kernel/sched_rt_runtime_us, and put it back after",
                    throttle.trim()
                ));
            }
            vec![cpu]
        }
    };
    let fifo = matches!(spinners, Spinners::Fifo(_));
    let threads: Vec<_> = cpus
        .into_iter()
        .map(|cpu| {
            std::thread::spawn(move || {
                pin_to(cpu);
                if fifo {
                    real_time()?;
                }
                let (start, mut last, mut g) = (Instant::now(), Instant::now(), Gaps::default());
                while last - start < length {
                    let now = Instant::now();
                    let gap = (now - last).as_nanos() as u64;
                    for (n, limit) in g
                        .over
                        .iter_mut()
                        .zip([500_000, 1_000_000, 2_000_000, 4_000_000])
                    {
                        *n += (gap > limit) as u64;
                    }
                    g.longest_ns = g.longest_ns.max(gap);
                    last = now;
                }
                Ok((cpu, g))
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// Makes the calling thread SCHED_FIFO at the highest priority.
fn real_time() -> Result<(), String> {
    let param = libc::sched_param { sched_priority: 99 };
    // SAFETY: `param` is valid; pid 0 is the calling thread.
    match unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } {
        0 => Ok(()),
        _ => Err(format!(
            "SCHED_FIFO refused: {}",
            std::io::Error::last_os_error()
        )),
    }
}

fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; the call only changes this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cpu_gets_a_spinner_and_the_counts_nest() {
        let per_cpu = count(Duration::from_millis(200), Spinners::EveryCpu).unwrap();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let seen: Vec<usize> = per_cpu.iter().map(|(cpu, _)| *cpu).collect();
        assert_eq!(seen, (0..cpus).collect::<Vec<_>>());
        for (cpu, g) in &per_cpu {
            assert!(g.over.windows(2).all(|w| w[0] >= w[1]), "cpu{cpu}: {g:?}");
            assert!(g.longest_ns < 10_000_000_000, "cpu{cpu}: {g:?}");
        }
    }

    /// With throttling on (the kernel's default), a real-time spinner
    /// would be paused 50 ms a second, so `--fifo` refuses and says how to
    /// switch it off.
    #[test]
    fn fifo_refuses_while_real_time_throttling_is_on() {
        let throttle = std::fs::read_to_string("/proc/sys/kernel/sched_rt_runtime_us");
        if throttle.is_ok_and(|t| t.trim() == "-1") {
            return; // switched off by hand for a measurement: nothing to refuse
        }
        let e = count(Duration::from_millis(10), Spinners::Fifo(0)).unwrap_err();
        assert!(
            e.contains("echo -1 > /proc/sys/kernel/sched_rt_runtime_us"),
            "{e}"
        );
    }
}

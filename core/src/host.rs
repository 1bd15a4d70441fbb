//! The machine under the roles: how much of its CPU time the hypervisor took
//! (`steal` in `/proc/stat`), and how much the kernel's DAMON memory
//! monitor used.
//!
//! On a virtual machine the host can take the vCPUs away from every process
//! at once. A role then wakes late, whatever it does, and latency figures
//! carry that wait. Sampling steal once a second lets the report say when a
//! run's figures include it.

use std::time::Duration;

/// Cumulative CPU time of all the machine's CPUs, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTicks {
    /// Every state: user, nice, system, idle, iowait, irq, softirq, steal.
    pub total: u64,
    /// Time the hypervisor ran something else while a vCPU wanted to run.
    pub steal: u64,
}

impl CpuTicks {
    /// The machine's counters now, or None where there is no `/proc/stat`.
    pub fn now() -> Option<CpuTicks> {
        std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| CpuTicks::parse(&s))
    }

    /// The aggregate `cpu` line of a `/proc/stat` text.
    pub fn parse(stat: &str) -> Option<CpuTicks> {
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        let fields: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        // user nice system idle iowait irq softirq steal [guest guest_nice]:
        // guest time is already counted in user and nice.
        let states = fields.get(..8)?;
        Some(CpuTicks {
            total: states.iter().sum(),
            steal: states[7],
        })
    }

    /// Share of the time between `earlier` and `self` that was stolen
    /// (0 to 1); None when no time passed.
    pub fn steal_since(&self, earlier: &CpuTicks) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total)?;
        let steal = self.steal.checked_sub(earlier.steal)?;
        (total > 0).then(|| steal as f64 / total as f64)
    }
}

/// What a role samples of its host each second since `t0`, filled by
/// [`sample`]: the steal share of the machine, and how long its own
/// cgroup's CPU quota stopped it (empty without a quota).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostSeconds {
    pub steal: Vec<f32>,
    pub throttled_ms: Vec<f32>,
}

/// [`HostSeconds`] shared between the sampler and whoever reads them.
pub type HostSamples = std::sync::Arc<std::sync::Mutex<HostSeconds>>;

/// The last second sampled: steal share and throttled ms (None where not
/// sampled; throttling only with a quota).
pub fn latest(samples: &HostSamples) -> (Option<f32>, Option<f32>) {
    let s = samples.lock().unwrap();
    (s.steal.last().copied(), s.throttled_ms.last().copied())
}

/// Samples the machine's steal share and the cgroup's throttled time
/// (with a quota: `cgroup`) over every whole second since `t0_unix_ns`
/// into `samples`, indexed by second. A second that was not sampled on its
/// own (the sampler started late, or a tick was missed) gets the share of
/// the reading that covered it (throttled time spread over the seconds it
/// covered). Runs until aborted.
pub async fn sample(
    t0_unix_ns: u64,
    cgroup: Option<crate::cgroup::CpuCgroup>,
    samples: HostSamples,
) {
    let cgroup = cgroup.filter(|c| c.quota().is_some());
    let mut tick = crate::clock::aligned_ticker(t0_unix_ns, Duration::ZERO);
    tick.tick().await;
    let mut last = CpuTicks::now();
    let mut last_throttling = cgroup.as_ref().and_then(|c| c.throttling());
    loop {
        tick.tick().await;
        let now = CpuTicks::now();
        let share = match (now, last) {
            (Some(n), Some(l)) => n.steal_since(&l).unwrap_or(0.0),
            _ => 0.0,
        };
        last = now;
        let throttling = cgroup.as_ref().and_then(|c| c.throttling());
        let throttled_ns = match (throttling, last_throttling) {
            (Some(n), Some(l)) => Some(n.throttled_since(&l)),
            _ => None,
        };
        last_throttling = throttling.or(last_throttling);
        // The tick falls on a whole second since t0: the seconds up to it
        // have ended.
        let ended =
            (crate::clock::unix_now_ns().saturating_sub(t0_unix_ns) + 500_000_000) / 1_000_000_000;
        let mut s = samples.lock().unwrap();
        let upto = (ended as usize).max(s.steal.len() + 1);
        s.steal.resize(upto, share as f32);
        if let Some(ns) = throttled_ns {
            // Spread over the seconds this reading covers, none twice.
            let covered = upto.saturating_sub(s.throttled_ms.len()).max(1);
            let ms = ns as f32 / 1e6 / covered as f32;
            let to = upto.max(s.throttled_ms.len() + 1);
            s.throttled_ms.resize(to, ms);
        }
    }
}

/// Where the kernel lists its DAMON monitors (`kdamond` threads).
const KDAMONDS: &str = "/sys/kernel/mm/damon/admin/kdamonds";

/// The kernel's DAMON monitors that are on now: for each, its thread's
/// pid, its start time (clock ticks since boot, which tells a restarted
/// monitor from the one seen before) and the CPU time it has used (ns).
/// Empty when none is on (or the kernel has none).
///
/// Virtual machines use DAMON to give memory back to the host. On the VM
/// the suite was built on, its `kdamond` thread woke twice a second and
/// held a vCPU for up to 4 ms at a time without yielding to a woken role:
/// that shows in the P99.99 of millisecond latencies.
pub fn damon_monitors() -> Vec<Monitor> {
    let Ok(entries) = std::fs::read_dir(KDAMONDS) else {
        return Vec::new();
    };
    let mut on = Vec::new();
    for entry in entries.flatten() {
        let read = |name: &str| std::fs::read_to_string(entry.path().join(name)).ok();
        if read("state").is_none_or(|s| s.trim() != "on") {
            continue;
        }
        let Some(pid) = read("pid").and_then(|p| p.trim().parse::<u32>().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        if let Some((ticks, started)) = stat.as_deref().and_then(cpu_ticks_of) {
            on.push(Monitor {
                pid,
                started,
                cpu_ns: ticks * (1_000_000_000 / clock_ticks_per_second()),
            });
        }
    }
    on
}

/// One DAMON monitor thread, as [`damon_monitors`] read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Monitor {
    pub pid: u32,
    /// When the thread started, in clock ticks since boot.
    pub started: u64,
    /// CPU time it has used since it started.
    pub cpu_ns: u64,
}

/// User plus system time and start time, in clock ticks, of a
/// `/proc/<pid>/stat` line.
fn cpu_ticks_of(stat: &str) -> Option<(u64, u64)> {
    // The command name is in parentheses and may hold anything; fields 14
    // and 15 (utime, stime) and 22 (starttime) count from the state after it.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let started: u64 = fields.get(19)?.parse().ok()?;
    Some((utime + stime, started))
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as u64
    } else {
        100
    }
}

/// DAMON's CPU time over a span of a run: [`DamonMeter::start`] at its
/// beginning, [`DamonMeter::used_ns`] at its end.
#[derive(Debug, Clone, Default)]
pub struct DamonMeter(Vec<Monitor>);

impl DamonMeter {
    pub fn start() -> Self {
        DamonMeter(damon_monitors())
    }

    /// CPU ns DAMON used since the start; None when no monitor was on
    /// both then and now.
    pub fn used_ns(&self) -> Option<u64> {
        self.used_by(&damon_monitors())
    }

    /// CPU ns the monitors `now` used since the start. Only a monitor seen
    /// at both ends (same thread, same start time) counts: a thread read
    /// only at the end carries its total since it started, which is not
    /// the run's.
    pub fn used_by(&self, now: &[Monitor]) -> Option<u64> {
        let mut used = None;
        for m in now {
            let before = self
                .0
                .iter()
                .find(|b| b.pid == m.pid && b.started == m.started);
            if let Some(b) = before {
                *used.get_or_insert(0) += m.cpu_ns.saturating_sub(b.cpu_ns);
            }
        }
        used
    }
}

/// What a role watches of its host while it runs: the steal of each
/// second since `t0`, its cgroup's CPU quota and throttled time, and
/// DAMON's CPU time.
pub struct HostWatch {
    samples: HostSamples,
    quota: Option<crate::cgroup::CpuQuota>,
    /// The cgroup with a quota, and its throttled ns when watching began:
    /// what the seconds sampled miss at the end goes in the last one.
    throttling: Option<(crate::cgroup::CpuCgroup, u64)>,
    sampler: tokio::task::JoinHandle<()>,
    damon: DamonMeter,
}

impl HostWatch {
    /// Starts watching (on the current runtime).
    pub fn start(t0_unix_ns: u64) -> Self {
        let samples = HostSamples::default();
        let cgroup = crate::cgroup::CpuCgroup::own().filter(|c| c.quota().is_some());
        let throttling = cgroup
            .clone()
            .and_then(|c| c.throttling().map(|t| (c, t.throttled_ns)));
        HostWatch {
            quota: cgroup.as_ref().and_then(|c| c.quota()),
            throttling,
            sampler: tokio::spawn(sample(t0_unix_ns, cgroup, samples.clone())),
            samples,
            damon: DamonMeter::start(),
        }
    }

    /// The samples so far (for live progress).
    pub fn samples(&self) -> HostSamples {
        self.samples.clone()
    }

    /// Stops watching; what it saw, with the role's `clock` and `node`.
    pub fn finish(
        self,
        clock: Option<crate::wire::ClockReport>,
        node: Option<String>,
    ) -> crate::wire::HostReport {
        self.sampler.abort();
        let mut seconds = std::mem::take(&mut *self.samples.lock().unwrap());
        // The time since the last whole second: into the second after it,
        // so the seconds add up to what the cgroup counted.
        if let Some((cg, at_start)) = &self.throttling {
            if let Some(now) = cg.throttling() {
                let total_ms = now.throttled_ns.saturating_sub(*at_start) as f64 / 1e6;
                let sampled: f64 = seconds.throttled_ms.iter().map(|&ms| f64::from(ms)).sum();
                if total_ms - sampled > 0.001 {
                    seconds.throttled_ms.push((total_ms - sampled) as f32);
                }
            }
        }
        crate::wire::HostReport {
            steal_per_second: seconds.steal,
            throttled_ms_per_second: seconds.throttled_ms,
            cpu_quota_cores: self.quota.map(|q| q.cores()),
            damon_cpu_ns: self.damon.used_ns(),
            clock,
            node,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  1542096 0 270662 1525640 40138 0 46037 140908 0 0\n\
                        cpu0 771048 0 135331 762820 20069 0 23018 70454 0 0\n\
                        intr 1 2 3\n";

    #[test]
    fn reads_the_aggregate_line() {
        let t = CpuTicks::parse(STAT).unwrap();
        assert_eq!(t.steal, 140_908);
        assert_eq!(
            t.total,
            1_542_096 + 270_662 + 1_525_640 + 40_138 + 46_037 + 140_908
        );
        assert_eq!(CpuTicks::parse("cpu0 1 2 3 4 5 6 7 8\n"), None);
        assert_eq!(CpuTicks::parse("cpu 1 2 3\n"), None, "too few fields");
        assert_eq!(CpuTicks::parse("cpu 1 2 x 4 5 6 7 8\n"), None);
    }

    #[test]
    fn steal_share_between_two_readings() {
        let a = CpuTicks {
            total: 1_000,
            steal: 100,
        };
        let b = CpuTicks {
            total: 1_200,
            steal: 150,
        };
        assert_eq!(b.steal_since(&a), Some(0.25));
        assert_eq!(a.steal_since(&a), None, "no time passed");
        assert_eq!(a.steal_since(&b), None, "counters went back");
    }

    #[test]
    fn reads_cpu_ticks_after_any_command_name() {
        let stat = "77 (kdamond.0) S 2 0 0 0 -1 2129984 0 0 0 0 2195 5417 0 0 20 0 1 0 98 0 0\n";
        assert_eq!(cpu_ticks_of(stat), Some((2195 + 5417, 98)));
        let odd = "9 (a) b (c) R 1 0 0 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0 1 0 0";
        assert_eq!(cpu_ticks_of(odd), Some((15, 1)), "a ')' in the name");
        assert_eq!(cpu_ticks_of("9 (x) S 1 2"), None, "too few fields");
    }

    /// The run's share only: a monitor first read at the end (or restarted
    /// under the same pid) brings its total since boot, which is not
    /// counted; one read at both ends counts its difference.
    #[test]
    fn damon_time_is_what_a_monitor_seen_at_both_ends_used() {
        let m = |pid, started, ms: u64| Monitor {
            pid,
            started,
            cpu_ns: ms * 1_000_000,
        };
        let meter = DamonMeter(vec![m(81, 132, 140)]);
        assert_eq!(meter.used_by(&[m(81, 132, 152)]), Some(12_000_000));
        assert_eq!(meter.used_by(&[m(90, 4000, 15_740)]), None, "new thread");
        assert_eq!(meter.used_by(&[m(81, 5000, 15_740)]), None, "restarted");
        assert_eq!(
            meter.used_by(&[m(81, 132, 152), m(90, 4000, 15_740)]),
            Some(12_000_000)
        );
        assert_eq!(DamonMeter::default().used_by(&[m(81, 132, 15_740)]), None);
        // This machine's monitors, read twice, used no more than their total.
        let meter = DamonMeter::start();
        let now = damon_monitors();
        let total: u64 = now.iter().map(|m| m.cpu_ns).sum();
        assert!(meter.used_by(&now).unwrap_or(0) <= total);
    }

    #[test]
    fn this_machine_has_counters() {
        // Linux is the platform the suite runs on.
        let t = CpuTicks::now().expect("/proc/stat");
        assert!(t.total > 0 && t.steal <= t.total);
    }
}

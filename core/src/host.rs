//! The machine under the roles: how much of its CPU time the hypervisor took
//! (`steal` in `/proc/stat`).
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

/// Steal shares by second since `t0`, filled by [`sample_steal`].
pub type StealShares = std::sync::Arc<std::sync::Mutex<Vec<f32>>>;

/// The share of the last second sampled, if any.
pub fn latest(shares: &StealShares) -> Option<f32> {
    shares.lock().unwrap().last().copied()
}

/// Samples the machine's steal share over every whole second since
/// `t0_unix_ns` into `shares`, indexed by second. A second that was not
/// sampled on its own (the sampler started late, or a tick was missed)
/// gets the share of the reading that covered it. Runs until aborted.
pub async fn sample_steal(t0_unix_ns: u64, shares: StealShares) {
    let mut tick = crate::clock::aligned_ticker(t0_unix_ns, Duration::ZERO);
    tick.tick().await;
    let mut last = CpuTicks::now();
    loop {
        tick.tick().await;
        let now = CpuTicks::now();
        let share = match (now, last) {
            (Some(n), Some(l)) => n.steal_since(&l).unwrap_or(0.0),
            _ => 0.0,
        };
        last = now;
        // The tick falls on a whole second since t0: the seconds up to it
        // have ended.
        let ended =
            (crate::clock::unix_now_ns().saturating_sub(t0_unix_ns) + 500_000_000) / 1_000_000_000;
        let mut shares = shares.lock().unwrap();
        let upto = (ended as usize).max(shares.len() + 1);
        shares.resize(upto, share as f32);
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
    fn this_machine_has_counters() {
        // Linux is the platform the suite runs on.
        let t = CpuTicks::now().expect("/proc/stat");
        assert!(t.total > 0 && t.steal <= t.total);
    }
}

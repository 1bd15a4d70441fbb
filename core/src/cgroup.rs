//! The role's own CPU quota and how long the kernel throttled it (the CFS
//! bandwidth control of its cgroup, v2 or v1).
//!
//! A pod's `resources.limits.cpu` (or `docker run --cpus`) becomes a CFS
//! quota: so much CPU time per period (100 ms by default). A process that
//! uses its quota early in a period is stopped until the next one, with
//! whatever it was doing: a throttled sender sends late and a throttled
//! receiver stamps late, and the pause shows as the SUT's latency unless
//! it is measured. The kernel counts it in the cgroup's `cpu.stat`
//! (`nr_throttled`, and `throttled_usec` in v2 or `throttled_time` in ns in
//! v1); each role samples that once a second.

use std::path::{Path, PathBuf};

/// A CFS quota: `quota_us` of CPU time per `period_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuQuota {
    pub quota_us: u64,
    pub period_us: u64,
}

impl CpuQuota {
    /// The quota in cores (1.5: one and a half cores' time per period).
    pub fn cores(&self) -> f64 {
        self.quota_us as f64 / self.period_us.max(1) as f64
    }
}

/// The throttling counters of a cgroup's `cpu.stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Throttling {
    /// Enforcement periods that had runnable tasks.
    pub periods: u64,
    /// Periods in which the cgroup used its quota and was stopped.
    pub throttled_periods: u64,
    /// Time its tasks were stopped for it, ns.
    pub throttled_ns: u64,
}

impl Throttling {
    /// Throttled ns between `earlier` and `self` (0 if the counters went back).
    pub fn throttled_since(&self, earlier: &Throttling) -> u64 {
        self.throttled_ns.saturating_sub(earlier.throttled_ns)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// The cgroup that holds this process's CPU quota: its own, or the
/// ancestor (as far as it can see) with the smallest quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuCgroup {
    dir: PathBuf,
    version: Version,
    quota: Option<CpuQuota>,
}

impl CpuCgroup {
    /// This process's, from `/proc/self/cgroup` and `/proc/self/mountinfo`;
    /// None where there is no cgroup CPU controller to read.
    pub fn own() -> Option<CpuCgroup> {
        let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let (dir, version, top) = locate(&cgroup, &mounts)?;
        // The quota that binds is the smallest on the way up to the mount.
        let mut quota: Option<(CpuQuota, PathBuf)> = None;
        let mut at = Some(dir.as_path());
        while let Some(d) = at {
            if let Some(q) = read_quota(d, version) {
                if quota.as_ref().is_none_or(|(b, _)| q.cores() < b.cores()) {
                    quota = Some((q, d.to_path_buf()));
                }
            }
            if d == top {
                break;
            }
            at = d.parent().filter(|p| p.starts_with(&top));
        }
        let (quota, dir) = match quota {
            Some((q, d)) => (Some(q), d),
            None => (None, dir),
        };
        Some(CpuCgroup {
            dir,
            version,
            quota,
        })
    }

    /// Its CPU quota; None when unlimited.
    pub fn quota(&self) -> Option<CpuQuota> {
        self.quota
    }

    /// Its throttling counters now.
    pub fn throttling(&self) -> Option<Throttling> {
        let stat = std::fs::read_to_string(self.dir.join("cpu.stat")).ok()?;
        parse_cpu_stat(&stat, self.version == Version::V2)
    }

    /// The folder read (for messages).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// This process's CPU quota in cores, if it has one.
pub fn own_quota_cores() -> Option<f64> {
    CpuCgroup::own()?.quota().map(|q| q.cores())
}

fn read_quota(dir: &Path, version: Version) -> Option<CpuQuota> {
    match version {
        Version::V2 => parse_cpu_max(&std::fs::read_to_string(dir.join("cpu.max")).ok()?),
        Version::V1 => {
            let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
            parse_cfs(&read("cpu.cfs_quota_us")?, &read("cpu.cfs_period_us")?)
        }
    }
}

/// v2's `cpu.max`: `max 100000` (none) or `150000 100000`.
pub fn parse_cpu_max(text: &str) -> Option<CpuQuota> {
    let mut f = text.split_whitespace();
    let quota = f.next()?;
    let period = f.next().map_or(Some(100_000), |p| p.parse().ok())?;
    match quota {
        "max" => None,
        q => Some(CpuQuota {
            quota_us: q.parse().ok()?,
            period_us: period,
        }),
    }
    .filter(|q| q.quota_us > 0 && q.period_us > 0)
}

/// v1's `cpu.cfs_quota_us` (-1: none) and `cpu.cfs_period_us`.
pub fn parse_cfs(quota: &str, period: &str) -> Option<CpuQuota> {
    let quota: i64 = quota.trim().parse().ok()?;
    let period: u64 = period.trim().parse().ok()?;
    (quota > 0 && period > 0).then_some(CpuQuota {
        quota_us: quota as u64,
        period_us: period,
    })
}

/// The throttling counters of a `cpu.stat` (v2: `throttled_usec`; v1:
/// `throttled_time`, ns).
pub fn parse_cpu_stat(text: &str, v2: bool) -> Option<Throttling> {
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == name).then(|| v.trim().parse::<u64>().ok()).flatten()
        })
    };
    Some(Throttling {
        periods: field("nr_periods")?,
        throttled_periods: field("nr_throttled")?,
        throttled_ns: match v2 {
            true => field("throttled_usec")?.saturating_mul(1000),
            false => field("throttled_time")?,
        },
    })
}

/// Where this process's CPU cgroup is: its folder, the version, and the
/// controller's mount point (the top it can walk up to). v1's `cpu`
/// controller where one is mounted, else v2's unified hierarchy.
fn locate(cgroup: &str, mountinfo: &str) -> Option<(PathBuf, Version, PathBuf)> {
    // v1 lines are `ID:controllers:path`; v2's is `0::path`.
    let v1_path = cgroup.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        controllers
            .split(',')
            .any(|c| c == "cpu")
            .then(|| path.to_string())
    });
    let v2_path = cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string));
    for line in mountinfo.lines() {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        let (Some(root), Some(point), Some(fstype)) = (l.get(3), l.get(4), r.first()) else {
            continue;
        };
        let found = match (*fstype, &v1_path, &v2_path) {
            ("cgroup", Some(p), _)
                if r.get(2).is_some_and(|o| o.split(',').any(|c| c == "cpu")) =>
            {
                Some((p, Version::V1))
            }
            ("cgroup2", None, Some(p)) => Some((p, Version::V2)),
            _ => None,
        };
        if let Some((path, version)) = found {
            let point = PathBuf::from(unescape(point));
            // Inside a container the mount's root is the container's own
            // cgroup: the path under it is what is left.
            let rel = Path::new(path.as_str())
                .strip_prefix(root)
                .unwrap_or(Path::new(""));
            let dir = point.join(rel);
            return Some((dir, version, point));
        }
    }
    None
}

/// mountinfo escapes spaces and the like as `\040`.
fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_as_both_versions_write_them() {
        let q = |quota_us, period_us| {
            Some(CpuQuota {
                quota_us,
                period_us,
            })
        };
        let table = [
            ("max 100000\n", None),
            ("100000 100000\n", q(100_000, 100_000)),
            ("150000 100000", q(150_000, 100_000)),
            ("50000", q(50_000, 100_000)),
            ("", None),
            ("x 100000", None),
            ("0 100000", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_cpu_max(text), want, "{text:?}");
        }
        assert_eq!(parse_cfs("-1\n", "100000\n"), None);
        assert_eq!(parse_cfs("200000\n", "100000\n"), q(200_000, 100_000));
        assert_eq!(parse_cfs("50000", "x"), None);
        assert_eq!(q(150_000, 100_000).unwrap().cores(), 1.5);
    }

    #[test]
    fn throttling_counters_of_both_versions() {
        let v2 = "usage_usec 8123\nuser_usec 6000\nsystem_usec 2123\nnr_periods 40\nnr_throttled 12\nthrottled_usec 345678\nnr_bursts 0\nburst_usec 0\n";
        assert_eq!(
            parse_cpu_stat(v2, true),
            Some(Throttling {
                periods: 40,
                throttled_periods: 12,
                throttled_ns: 345_678_000
            })
        );
        let v1 =
            "nr_periods 7\nnr_throttled 3\nthrottled_time 91000000\nnr_bursts 0\nburst_time 0\n";
        assert_eq!(
            parse_cpu_stat(v1, false),
            Some(Throttling {
                periods: 7,
                throttled_periods: 3,
                throttled_ns: 91_000_000
            })
        );
        // A v1 text read as v2 (or a cgroup without the CPU controller).
        assert_eq!(parse_cpu_stat(v1, true), None);
        assert_eq!(parse_cpu_stat("usage_usec 1\n", true), None);
        let (a, b) = (
            Throttling {
                throttled_ns: 5,
                ..Default::default()
            },
            Throttling {
                throttled_ns: 12,
                ..Default::default()
            },
        );
        assert_eq!(b.throttled_since(&a), 7);
        assert_eq!(a.throttled_since(&b), 0, "counters went back");
    }

    #[test]
    fn finds_the_cpu_cgroup_of_either_version() {
        // A host on v1 with `cpu` mounted apart (as this VM is).
        let cgroup = "9:name=systemd:/\n2:cpuacct:/\n1:cpu:/user.slice\n0::/\n";
        let mounts = "30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu\n\
                      31 25 0:27 / /sys/fs/cgroup/cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpuacct\n";
        assert_eq!(
            locate(cgroup, mounts),
            Some((
                "/sys/fs/cgroup/cpu/user.slice".into(),
                Version::V1,
                "/sys/fs/cgroup/cpu".into()
            ))
        );
        // A sibling whose name starts the same is no parent.
        let mounts2 = "700 690 0:26 /docker/abc /sys/fs/cgroup/cpu ro - cgroup cgroup rw,cpu\n";
        assert_eq!(
            locate("4:cpu:/docker/abcdef\n", mounts2).map(|l| l.0),
            Some("/sys/fs/cgroup/cpu".into())
        );
        // A Docker container on v1: the mount's root is its own cgroup.
        let cgroup = "4:cpu,cpuacct:/docker/abc\n0::/\n";
        let mounts = "700 690 0:26 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct\n";
        assert_eq!(
            locate(cgroup, mounts),
            Some((
                "/sys/fs/cgroup/cpu,cpuacct".into(),
                Version::V1,
                "/sys/fs/cgroup/cpu,cpuacct".into()
            ))
        );
        // v2 on a host, and in a container (cgroup namespace: `0::/`).
        let mounts =
            "35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            locate("0::/kubepods.slice/pod1/ctr\n", mounts),
            Some((
                "/sys/fs/cgroup/kubepods.slice/pod1/ctr".into(),
                Version::V2,
                "/sys/fs/cgroup".into()
            ))
        );
        assert_eq!(
            locate("0::/\n", mounts).map(|l| l.0),
            Some("/sys/fs/cgroup".into())
        );
        assert_eq!(locate("0::/\n", ""), None, "nothing mounted");
    }

    #[test]
    fn this_process_reads_its_own_cgroup() {
        // Linux is the platform the suite runs on; every Linux it runs on
        // mounts a CPU controller, and its counters only grow.
        let cg = CpuCgroup::own().expect("a CPU cgroup");
        // A v2 cgroup without the cpu controller has no throttling counters.
        if let (Some(a), Some(b)) = (cg.throttling(), cg.throttling()) {
            assert!(b.throttled_ns >= a.throttled_ns && b.periods >= a.periods);
        }
        if let Some(q) = cg.quota() {
            assert!(q.cores() > 0.0);
        }
    }
}

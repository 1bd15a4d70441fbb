//! What a report may say: counts and CPU times no run reaches, ledgers
//! that do not hold together, host figures out of range. The aggregator
//! refuses a report that says such a thing, naming the figure.

use crate::wire::{HostReport, ReceiverReport, SenderReport};

/// The most any role counts of anything in a run (2^40: a million events
/// a second for twelve days). A report saying more is refused, so the
/// aggregator's sums over seconds and roles stay far from overflowing.
pub const MAX_COUNT: u64 = 1 << 40;
/// The most CPU time a role reports (2^60 ns: 36 years of one core).
pub const MAX_CPU_NS: u64 = 1 << 60;

/// A figure of a report, named only when it is refused.
#[derive(Clone, Copy)]
enum Figure {
    /// A field of the report.
    Field(&'static str),
    /// A field of one element of a list (a second's ledger: `second`).
    Of(&'static str, usize, &'static str),
    /// One element of a list field.
    Element(&'static str, usize),
}

impl std::fmt::Display for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Figure::Field(name) => write!(f, "{name}"),
            Figure::Of(list, i, name) => write!(f, "{list} {i}: {name}"),
            Figure::Element(name, i) => write!(f, "{name} {i}"),
        }
    }
}

/// The first of `counts` over [`MAX_COUNT`], or of `cpu` over
/// [`MAX_CPU_NS`], said by name.
fn first_implausible(
    counts: impl IntoIterator<Item = (Figure, u64)>,
    cpu: impl IntoIterator<Item = (Figure, u64)>,
) -> Option<String> {
    let over = |limit: u64| {
        move |(name, n): (Figure, u64)| {
            (n > limit).then(|| format!("{name} {n} is more than any run counts"))
        }
    };
    counts
        .into_iter()
        .find_map(over(MAX_COUNT))
        .or_else(|| cpu.into_iter().find_map(over(MAX_CPU_NS)))
}

impl SenderReport {
    /// A count or CPU time no run reaches, or a ledger whose bits do not
    /// cover its length: what is wrong, if anything.
    pub fn implausible(&self) -> Option<String> {
        let top = [
            ("released", self.released),
            ("failed", self.failed.total()),
            ("warmup_sent", self.warmup_sent),
            ("warmup_accepted", self.warmup_accepted),
            ("connections.initial", self.connections.initial),
            ("connections.opened", self.connections.opened),
            ("connections.peak", self.connections.peak),
            ("accepted.len", self.accepted.len()),
        ]
        .map(|(k, n)| (Figure::Field(k), n));
        let seconds = self.seconds.iter().enumerate().flat_map(|(i, s)| {
            [
                ("sent", s.sent),
                ("accepted", s.accepted),
                ("failed", s.failed.total()),
                ("unsent", s.unsent),
                ("connections_opened", s.connections_opened),
            ]
            .map(|(k, n)| (Figure::Of("second", i, k), n))
        });
        let cpu = [
            ("cpu_ns", self.cpu_ns),
            ("pacer_spin_ns", self.pacer_spin_ns),
        ]
        .map(|(k, n)| (Figure::Field(k), n));
        first_implausible(top.into_iter().chain(seconds), cpu)
            .or_else(|| self.accepted.malformed().map(|e| format!("accepted: {e}")))
            .or_else(|| self.host.implausible())
    }
}

impl HostReport {
    /// A steal share outside 0 to 1, a throttled time no second holds, or
    /// a quota of no cores: what is wrong, if anything.
    pub fn implausible(&self) -> Option<String> {
        let steal = self
            .steal_per_second
            .iter()
            .enumerate()
            .find_map(|(i, &x)| {
                (!(0.0..=1.0).contains(&x))
                    .then(|| format!("host steal {x} in second {i} is no share"))
            });
        // Throttled time sums over the cgroup's CPUs: at most a second of
        // each; no machine has a million of them.
        let throttled = self
            .throttled_ms_per_second
            .iter()
            .enumerate()
            .find_map(|(i, &ms)| {
                (!(0.0..=1e9).contains(&ms)).then(|| {
                    format!("throttled {ms} ms in second {i} is more than any second holds")
                })
            });
        let quota = self
            .cpu_quota_cores
            .filter(|c| !(c.is_finite() && *c > 0.0 && *c <= 1e6))
            .map(|c| format!("a CPU quota of {c} cores"));
        steal.or(throttled).or(quota)
    }
}

impl ReceiverReport {
    /// A count or CPU time no run reaches, or a ledger whose bits do not
    /// cover its length: what is wrong, if anything.
    pub fn implausible(&self) -> Option<String> {
        let top = [
            ("duplicates", self.duplicates),
            ("reordered", self.reordered),
            ("rejected", self.rejected.total()),
            ("warmup_received", self.warmup_received),
        ]
        .map(|(k, n)| (Figure::Field(k), n));
        let received = self
            .received
            .iter()
            .enumerate()
            .map(|(i, b)| (Figure::Of("received", i, "len"), b.len()));
        let seconds = self.seconds.iter().enumerate().flat_map(|(i, s)| {
            [
                ("delivered", s.delivered),
                ("duplicates", s.duplicates),
                ("reordered", s.reordered),
            ]
            .map(|(k, n)| (Figure::Of("second", i, k), n))
        });
        let cpu = std::iter::once((Figure::Field("cpu_ns"), self.cpu_ns)).chain(
            self.cpu_per_second_ns
                .iter()
                .enumerate()
                .map(|(i, &n)| (Figure::Element("cpu_per_second_ns", i), n)),
        );
        first_implausible(top.into_iter().chain(received).chain(seconds), cpu)
            .or_else(|| {
                self.received
                    .iter()
                    .enumerate()
                    .find_map(|(i, b)| b.malformed().map(|e| format!("received {i}: {e}")))
            })
            .or_else(|| self.host.implausible())
    }
}

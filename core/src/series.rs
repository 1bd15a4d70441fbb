//! Per-second latency windows, keyed by the second of each event's intended
//! time, and what they become at the end of a run: windowed percentiles, the
//! running P99.99 from the start of each step, and one histogram per step.

use crate::histogram::{Histogram, HistogramError, Percentiles, WireHistogram};
use crate::latency::PerKind;
use crate::pace::Schedule;

/// One latency histogram per second of the schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyWindows {
    seconds: Vec<Histogram>,
}

/// A metric's windows, summarised.
#[derive(Debug, Clone, Default)]
pub struct WindowSummary {
    /// Percentiles of each second's own events.
    pub windowed: Vec<Option<Percentiles>>,
    /// P99.99 of all events from the start of the step to the end of each
    /// second, ms.
    pub running_p99_99: Vec<Option<f64>>,
    /// One histogram per step.
    pub steps: Vec<Histogram>,
}

impl WindowSummary {
    /// The whole run: every step merged.
    pub fn run(&self) -> Histogram {
        Histogram::merged(&self.steps)
    }
}

impl LatencyWindows {
    /// Windows for every second of `schedule`.
    pub fn new(schedule: &Schedule) -> Self {
        LatencyWindows {
            seconds: vec![Histogram::default(); schedule.total_seconds() as usize],
        }
    }

    /// Records the latency from `from` to `to` (wall-clock ns; negative
    /// when the clocks disagree) in the window of `second`; seconds past
    /// the schedule are ignored (they cannot hold intended times).
    pub fn record(&mut self, second: u64, from: u64, to: u64) {
        if let Some(h) = self.seconds.get_mut(second as usize) {
            h.record_between(from, to);
        }
    }

    /// One second's window.
    pub fn second(&self, second: u64) -> Option<&Histogram> {
        self.seconds.get(second as usize)
    }

    /// P99 of one second's window, ms (for live progress).
    pub fn p99_ms(&self, second: u64) -> Option<f64> {
        let h = self.seconds.get(second as usize)?;
        h.quantile_ns(0.99).map(|ns| ns / 1e6)
    }

    /// Each second's histogram in wire form, for the aggregator.
    pub fn to_wire(&self) -> Vec<WireHistogram> {
        self.seconds.iter().map(Histogram::to_wire).collect()
    }

    /// The P99 of `second` of each live kind among `windows`, ms (a role's
    /// live progress).
    pub fn live_p99_ms(windows: &PerKind<LatencyWindows>, second: u64) -> PerKind<f64> {
        windows
            .iter()
            .filter(|(k, _)| k.live())
            .filter_map(|(k, w)| Some((*k, w.p99_ms(second)?)))
            .collect()
    }

    /// Every window of every kind in wire form, as a role reports them.
    pub fn all_to_wire(windows: &PerKind<LatencyWindows>) -> PerKind<Vec<WireHistogram>> {
        windows.iter().map(|(k, w)| (*k, w.to_wire())).collect()
    }

    /// The windows of several roles merged second by second: what one role
    /// would have recorded had it seen every event. Seconds a role did not
    /// send, or past the schedule, add nothing.
    pub fn merged<'a>(
        schedule: &Schedule,
        parts: impl IntoIterator<Item = &'a [WireHistogram]>,
    ) -> Result<Self, HistogramError> {
        let mut all = LatencyWindows::new(schedule);
        for part in parts {
            for (sum, w) in all.seconds.iter_mut().zip(part) {
                sum.merge(&Histogram::try_from(w)?);
            }
        }
        Ok(all)
    }

    /// Summarises every window at the end of the run.
    pub fn summarise(&self, schedule: &Schedule) -> WindowSummary {
        let mut out = WindowSummary::default();
        for (step, s) in schedule.steps().iter().enumerate() {
            let start = schedule.step_start_second(step) as usize;
            let mut running = Histogram::default();
            for w in &self.seconds[start..start + s.seconds as usize] {
                out.windowed.push(w.percentiles());
                running.merge(w);
                out.running_p99_99
                    .push(running.quantile_ns(0.9999).map(|ns| ns / 1e6));
            }
            out.steps.push(running);
        }
        out
    }
}

/// Event counts per wall-clock second since `t0` (sent, delivered), growing
/// as the run goes on.
#[derive(Debug, Clone, Default)]
pub struct Counts(Vec<u64>);

impl Counts {
    /// Counts one event in `second`.
    pub fn add(&mut self, second: u64) {
        let i = second as usize;
        if i >= self.0.len() {
            self.0.resize(i + 1, 0);
        }
        self.0[i] += 1;
    }

    /// Count in `second`.
    pub fn get(&self, second: u64) -> u64 {
        self.0.get(second as usize).copied().unwrap_or(0)
    }

    /// Seconds covered so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True before anything was counted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records `ns` in `second` as a latency from an intended time of 0.
    fn at(w: &mut LatencyWindows, second: u64, ns: u64) {
        w.record(second, 0, ns);
    }

    #[test]
    fn running_p99_99_restarts_each_step() {
        let schedule = Schedule::parse("10:2,10:2").unwrap();
        let mut w = LatencyWindows::new(&schedule);
        for v in 1..=10 {
            at(&mut w, 0, v * 1_000_000);
            at(&mut w, 1, v * 100_000);
            at(&mut w, 2, v * 10_000);
        }
        at(&mut w, 3, 5_000_000);
        at(&mut w, 99, 1);
        let s = w.summarise(&schedule);
        assert_eq!(s.windowed.len(), 4);
        assert_eq!(s.windowed[0].unwrap().count, 10);
        assert_eq!(s.windowed[0].unwrap().max, 10.0);
        assert_eq!(
            s.running_p99_99[1],
            Some(10.0),
            "step 0 still holds its 10 ms"
        );
        assert_eq!(s.running_p99_99[2], Some(0.1), "step 1 starts afresh");
        assert_eq!(s.running_p99_99[3], Some(5.0));
        assert_eq!(s.steps.len(), 2);
        assert_eq!((s.steps[0].count(), s.steps[1].count()), (20, 11));
        assert_eq!(s.run().count(), 31);
    }

    #[test]
    fn windows_merged_across_roles_are_those_of_all_events() {
        let schedule = Schedule::parse("1000:2").unwrap();
        let (mut a, mut b, mut whole) = (
            LatencyWindows::new(&schedule),
            LatencyWindows::new(&schedule),
            LatencyWindows::new(&schedule),
        );
        for i in 0..20_000u64 {
            let (second, ns) = (i % 2, 100_000 + (i * 7919) % 5_000_000);
            at(&mut whole, second, ns);
            if i % 3 == 0 {
                at(&mut a, second, ns)
            } else {
                at(&mut b, second, ns)
            }
        }
        let merged =
            LatencyWindows::merged(&schedule, [&a.to_wire()[..], &b.to_wire()[..]]).unwrap();
        assert_eq!(merged, whole, "merging is exact");
        let missing = LatencyWindows::merged(&schedule, [&a.to_wire()[..1]])
            .unwrap()
            .summarise(&schedule);
        assert_eq!(
            missing.windowed[1], None,
            "a role without the second adds nothing"
        );
    }

    #[test]
    fn counts_grow_with_the_run() {
        let mut c = Counts::default();
        c.add(3);
        c.add(3);
        assert_eq!((c.get(3), c.get(0), c.get(10), c.len()), (2, 0, 0, 4));
    }
}

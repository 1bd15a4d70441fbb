//! Latency histograms as Prometheus shows them: fixed bucket bounds,
//! cumulated over a role's measured seconds (its live progress carries
//! them; `/metrics` prints them).

use crate::histogram::Histogram;
use serde::{Deserialize, Serialize};

/// Upper bounds of the latency histograms' buckets, ms.
pub const BOUNDS_MS: [f64; 16] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
    10000.0,
];

/// A latency histogram as Prometheus shows one: events at or below each
/// bound of [`BOUNDS_MS`] (cumulative), all events, and their sum.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyBuckets {
    pub le: Vec<u64>,
    pub count: u64,
    pub sum_ms: f64,
}

impl LatencyBuckets {
    /// Adds one window's events.
    pub fn add(&mut self, h: &Histogram) {
        if self.le.len() != BOUNDS_MS.len() {
            self.le = vec![0; BOUNDS_MS.len()];
        }
        for (n, bound) in self.le.iter_mut().zip(BOUNDS_MS) {
            *n += h.count_at_most((bound * 1e6) as u64);
        }
        self.count += h.count();
        self.sum_ms += h.approx_sum_ns() / 1e6;
    }
}

/// Cumulates a role's per-second windows into [`LatencyBuckets`], each
/// complete second once, as live progress asks for them.
#[derive(Debug, Clone, Default)]
pub struct Cumulative {
    buckets: LatencyBuckets,
    /// Seconds below this are in.
    next: u64,
}

impl Cumulative {
    /// Adds the windows of the seconds before `end` not yet added, taken
    /// from `window`; the buckets so far.
    pub fn upto<'a>(
        &mut self,
        end: u64,
        window: impl Fn(u64) -> Option<&'a Histogram>,
    ) -> LatencyBuckets {
        while self.next < end {
            if let Some(h) = window(self.next) {
                self.buckets.add(h);
            }
            self.next += 1;
        }
        self.buckets.clone()
    }
}

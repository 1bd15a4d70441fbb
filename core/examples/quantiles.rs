//! How the suite's percentiles were chosen: the log-linear histogram
//! against the T-Digest it replaced (compression 1000) and against that
//! T-Digest plus the exact top values of each window, on the three shapes
//! of `brokerbench_core::shapes`, compared with an exact sort. Prints
//! markdown tables: accuracy by size and shape (one window, and windows
//! merged as the aggregator merges them), bytes on the wire per window,
//! and CPU per sample.
//!
//!     cargo run --release -p brokerbench-core --example quantiles

use brokerbench_core::histogram::{rank, Histogram};
use brokerbench_core::shapes::{exact, samples, Shape};
use std::time::Instant;
use tdigest::TDigest;

const QUANTILES: [f64; 5] = [0.5, 0.9, 0.99, 0.999, 0.9999];

/// One way of answering quantiles over windows that are later merged.
trait Method {
    const NAME: &'static str;
    fn window(values: &[u64]) -> Self;
    fn merged(parts: Vec<Self>) -> Self
    where
        Self: Sized;
    fn quantile(&self, q: f64) -> f64;
}

impl Method for Histogram {
    const NAME: &'static str = "histogram (this suite)";
    fn window(values: &[u64]) -> Self {
        let mut h = Histogram::default();
        values.iter().for_each(|&v| h.record(v));
        h
    }
    fn merged(parts: Vec<Self>) -> Self {
        Histogram::merged(&parts)
    }
    fn quantile(&self, q: f64) -> f64 {
        self.quantile_ns(q).unwrap()
    }
}

struct Digest(TDigest);

impl Method for Digest {
    const NAME: &'static str = "T-Digest 1000";
    fn window(values: &[u64]) -> Self {
        let d = TDigest::new_with_size(1000);
        Digest(d.merge_unsorted(values.iter().map(|&v| v as f64).collect()))
    }
    fn merged(parts: Vec<Self>) -> Self {
        Digest(TDigest::merge_digests(
            parts.into_iter().map(|d| d.0).collect(),
        ))
    }
    fn quantile(&self, q: f64) -> f64 {
        self.0.estimate_quantile(q).unwrap()
    }
}

/// The T-Digest for the body, and the exact top ⌈n·10⁻⁴⌉+1 values of each
/// window for the tail: merged by union, truncated to what the merged
/// count keeps.
struct DigestTop {
    digest: Digest,
    top: Vec<u64>,
    count: u64,
}

fn keep(n: u64) -> usize {
    (n as f64 * 1e-4).ceil() as usize + 1
}

impl Method for DigestTop {
    const NAME: &'static str = "T-Digest 1000 + exact top";
    fn window(values: &[u64]) -> Self {
        let mut top = values.to_vec();
        top.sort_unstable_by(|a, b| b.cmp(a));
        top.truncate(keep(values.len() as u64));
        DigestTop {
            digest: Digest::window(values),
            top,
            count: values.len() as u64,
        }
    }
    fn merged(parts: Vec<Self>) -> Self {
        let count = parts.iter().map(|p| p.count).sum();
        let mut top: Vec<u64> = parts.iter().flat_map(|p| p.top.iter().copied()).collect();
        top.sort_unstable_by(|a, b| b.cmp(a));
        top.truncate(keep(count));
        DigestTop {
            digest: Digest::merged(parts.into_iter().map(|p| p.digest).collect()),
            top,
            count,
        }
    }
    fn quantile(&self, q: f64) -> f64 {
        let from_top = (self.count - rank(q, self.count)) as usize;
        match self.top.get(from_top) {
            Some(&v) => v as f64,
            None => self.digest.quantile(q),
        }
    }
}

/// Worst relative error over the quantiles and trials, and the share of
/// trials with some quantile more than 1% off.
struct Errors {
    worst: f64,
    over_one_percent: usize,
    trials: usize,
}

/// `trials` runs of `windows` windows of `per_window` values each, merged.
fn measure<M: Method>(shape: Shape, per_window: usize, windows: usize, trials: usize) -> Errors {
    let mut e = Errors {
        worst: 0.0,
        over_one_percent: 0,
        trials,
    };
    for t in 0..trials {
        let values = samples(
            shape,
            per_window * windows,
            7919 * t as u64 + per_window as u64,
        );
        let parts = values.chunks(per_window).map(M::window).collect();
        let m = M::merged(parts);
        let mut sorted = values;
        sorted.sort_unstable();
        let worst = QUANTILES
            .iter()
            .map(|&q| {
                let want = exact(&sorted, q);
                (m.quantile(q) - want).abs() / want
            })
            .fold(0.0, f64::max);
        e.worst = e.worst.max(worst);
        e.over_one_percent += (worst > 0.01) as usize;
    }
    e
}

fn accuracy_row<M: Method>(shape: Shape, per_window: usize, windows: usize, trials: usize) {
    let e = measure::<M>(shape, per_window, windows, trials);
    println!(
        "| {} | {} | {} | {:.2}% | {} of {} |",
        shape.name(),
        if windows == 1 {
            format!("{per_window}")
        } else {
            format!("{windows} × {per_window} merged")
        },
        M::NAME,
        e.worst * 100.0,
        e.over_one_percent,
        e.trials
    );
}

fn accuracy() {
    println!("## Accuracy: P50, P90, P99, P99.9 and P99.99 against an exact sort\n");
    println!("| shape | values | method | worst error | trials with a quantile > 1% off |");
    println!("|---|---|---|---:|---:|");
    let cases = [
        (1_000, 1, 200),
        (30_000, 1, 200),
        (1_000_000, 1, 5),
        (1_000, 30, 100),
        (20_000, 2, 100),
    ];
    for shape in Shape::ALL {
        for (per_window, windows, trials) in cases {
            accuracy_row::<Digest>(shape, per_window, windows, trials);
            accuracy_row::<DigestTop>(shape, per_window, windows, trials);
            accuracy_row::<Histogram>(shape, per_window, windows, trials);
        }
    }
}

/// The bytes of one window in JSON, as a report carries it.
fn wire() {
    println!("\n## Bytes on the wire per one-second window (JSON)\n");
    println!("| shape | values in the window | T-Digest 1000 | T-Digest + top | histogram |");
    println!("|---|---:|---:|---:|---:|");
    for shape in Shape::ALL {
        for n in [1_000, 20_000] {
            let values = samples(shape, n, 42);
            let d = Digest::window(&values).0;
            let centroids: Vec<(f64, f64)> = d
                .centroids()
                .iter()
                .map(|c| (c.mean(), c.weight()))
                .collect();
            let digest = serde_json::json!({
                "centroids": centroids, "sum": d.sum(), "count": d.count(),
                "min": d.min(), "max": d.max(),
            })
            .to_string()
            .len();
            let top = serde_json::to_string(&DigestTop::window(&values).top)
                .unwrap()
                .len();
            let h = serde_json::to_string(&Histogram::window(&values).to_wire()).unwrap();
            println!(
                "| {} | {n} | {digest} | {} | {} |",
                shape.name(),
                digest + top,
                h.len()
            );
        }
    }
}

/// ns of CPU per sample: recording a million and reading the percentiles.
fn cpu() {
    println!("\n## CPU per sample (record 1,000,000, then read five quantiles; best of 5)\n");
    println!("| method | ns per sample |");
    println!("|---|---:|");
    let values = samples(Shape::Smooth, 1_000_000, 1);
    let best = |f: &dyn Fn() -> f64| {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed().as_nanos() as f64 / values.len() as f64
            })
            .fold(f64::INFINITY, f64::min)
    };
    let digest = best(&|| {
        let mut d = TDigest::new_with_size(1000);
        values.iter().for_each(|&v| d.push(v as f64));
        d.flush();
        QUANTILES
            .iter()
            .map(|&q| d.estimate_quantile(q).unwrap())
            .sum()
    });
    let histogram = best(&|| {
        let mut h = Histogram::default();
        values.iter().for_each(|&v| h.record(v));
        QUANTILES.iter().map(|&q| h.quantile_ns(q).unwrap()).sum()
    });
    println!("| T-Digest 1000 | {digest:.1} |");
    println!("| histogram | {histogram:.1} |");
}

fn main() {
    accuracy();
    wire();
    cpu();
}

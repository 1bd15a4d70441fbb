//! Latency histograms: log-linear buckets that merge exactly and answer
//! every percentile within 0.4% of an exact sort, the maximum exactly.
//!
//! A value `v` (ns) below 2^[`SUB_BITS`] has a bucket of its own; above,
//! each power of two is cut into 2^[`SUB_BITS`] equal buckets, so a
//! bucket is at most 1/128 of its lower bound wide. A quantile is the
//! middle of the bucket holding its rank (nearest-rank definition, as an
//! exact sort gives it), clamped to the exact minimum and maximum: off by
//! at most half a bucket, 0.39%, whatever the shape of the distribution
//! and however many windows or roles were merged. `docs/accuracy.md`
//! compares this with the T-Digest it replaced.
//!
//! Buckets are allocated an octave (128 counters) at a time, only where
//! values fell. On the wire a histogram is its nonzero buckets as
//! `(gap, count)` pairs.

use serde::{Deserialize, Serialize};

/// Buckets per power of two: 2^7 = 128.
pub const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
/// Octaves a u64 can fall in: one linear chunk for values below 2^SUB_BITS, then one per power of two.
const CHUNKS: usize = 64 - SUB_BITS as usize + 1;
/// More values than any report's histogram holds (a wire form claiming
/// more is refused), so merged counts stay far from overflowing.
const MAX_COUNT: u64 = 1 << 56;

/// A histogram of latencies in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// `chunks[c][s]`: the count of bucket `c * SUB + s`; `None` until a
    /// value falls in the octave.
    chunks: Vec<Option<Box<[u64; SUB]>>>,
    count: u64,
    min: u64,
    max: u64,
    negative: Negatives,
}

/// Latencies that came out below zero (two clocks apart), counted apart:
/// they are recorded as 0, and how many there were and how far below zero
/// the worst was are kept so a report can say so.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Negatives {
    /// How many values were below zero.
    pub count: u64,
    /// The most negative, ns (0 when none).
    pub min_ns: i64,
}

impl Negatives {
    fn merge(&mut self, o: &Negatives) {
        self.count = self.count.saturating_add(o.count);
        self.min_ns = self.min_ns.min(o.min_ns);
    }
}

/// The bucket of `v`.
fn index(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // 2^e <= v < 2^(e+1), e >= SUB_BITS
    let shift = e - SUB_BITS;
    (((shift + 1) as usize) << SUB_BITS) + ((v >> shift) as usize - SUB)
}

/// The lowest value of bucket `i` and its width.
fn bounds(i: usize) -> (u64, u64) {
    let (chunk, sub) = (i >> SUB_BITS, (i & (SUB - 1)) as u64);
    if chunk == 0 {
        return (sub, 1);
    }
    let shift = chunk as u32 - 1;
    ((SUB as u64 + sub) << shift, 1 << shift)
}

/// The nearest rank of quantile `q` among `n` values: the smallest rank
/// with at least `q·n` values at or below it (1-based), in integers so
/// `0.9999 × 30,000` is 29,997 and not 29,998.
pub fn rank(q: f64, n: u64) -> u64 {
    let ppb = (q.clamp(0.0, 1.0) * 1e9).round() as u128;
    let r = (ppb * n as u128).div_ceil(1_000_000_000) as u64;
    r.clamp(1, n.max(1))
}

impl Histogram {
    /// Records one latency, ns.
    pub fn record(&mut self, ns: u64) {
        self.record_n(ns, 1);
    }

    /// Records a signed latency: a negative one counts as 0 and is kept
    /// in [`Histogram::negatives`].
    pub fn record_signed(&mut self, ns: i64) {
        if ns < 0 {
            self.negative.count += 1;
            self.negative.min_ns = self.negative.min_ns.min(ns);
        }
        self.record(ns.max(0) as u64);
    }

    /// The latency from `from` to `to` (wall-clock ns), negative when `to`
    /// is earlier.
    pub fn record_between(&mut self, from: u64, to: u64) {
        self.record_signed(to as i64 - from as i64);
    }

    fn record_n(&mut self, ns: u64, n: u64) {
        if n == 0 {
            return;
        }
        let i = index(ns);
        let (c, s) = (i >> SUB_BITS, i & (SUB - 1));
        if self.chunks.len() <= c {
            self.chunks.resize_with(c + 1, || None);
        }
        let bucket = &mut self.chunks[c].get_or_insert_with(|| Box::new([0; SUB]))[s];
        *bucket = bucket.saturating_add(n);
        if self.count == 0 {
            (self.min, self.max) = (ns, ns);
        } else {
            self.min = self.min.min(ns);
            self.max = self.max.max(ns);
        }
        self.count = self.count.saturating_add(n);
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The values below zero, recorded as 0.
    pub fn negatives(&self) -> Negatives {
        self.negative
    }

    /// Adds every value of `other` (exact: the same as recording them here).
    pub fn merge(&mut self, other: &Histogram) {
        self.negative.merge(&other.negative);
        if other.count == 0 {
            return;
        }
        if self.chunks.len() < other.chunks.len() {
            self.chunks.resize_with(other.chunks.len(), || None);
        }
        for (dst, src) in self.chunks.iter_mut().zip(&other.chunks) {
            if let Some(src) = src {
                let dst = dst.get_or_insert_with(|| Box::new([0; SUB]));
                for (d, s) in dst.iter_mut().zip(src.iter()) {
                    *d = d.saturating_add(*s);
                }
            }
        }
        if self.count == 0 {
            (self.min, self.max) = (other.min, other.max);
        } else {
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
        }
        self.count = self.count.saturating_add(other.count);
    }

    /// The nonzero buckets, ascending: `(bucket, count)`.
    fn buckets(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.chunks.iter().enumerate().flat_map(|(c, chunk)| {
            chunk.iter().flat_map(move |counts| {
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, &n)| n > 0)
                    .map(move |(s, &n)| ((c << SUB_BITS) + s, n))
            })
        })
    }

    /// Values at or below `ns` (whole buckets: within one bucket's width).
    pub fn count_at_most(&self, ns: u64) -> u64 {
        if self.count == 0 || ns < self.min {
            return 0;
        }
        if ns >= self.max {
            return self.count;
        }
        self.buckets()
            .take_while(|&(i, _)| {
                let (lo, width) = bounds(i);
                lo + (width - 1) <= ns
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// The sum of the values, from the buckets' middles (within 0.4%).
    pub fn approx_sum_ns(&self) -> f64 {
        self.buckets()
            .map(|(i, n)| {
                let (lo, width) = bounds(i);
                (lo as f64 + (width - 1) as f64 / 2.0) * n as f64
            })
            .sum()
    }

    /// Quantile `q` (0 to 1) in ns; `None` when empty. `q = 1` is the
    /// exact maximum.
    pub fn quantile_ns(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let r = rank(q, self.count);
        if r == self.count {
            return Some(self.max as f64);
        }
        if r == 1 {
            return Some(self.min as f64);
        }
        let mut seen: u64 = 0;
        for (i, n) in self.buckets() {
            seen = seen.saturating_add(n);
            if seen >= r {
                let (lo, width) = bounds(i);
                let mid = lo as f64 + (width - 1) as f64 / 2.0;
                return Some(mid.clamp(self.min as f64, self.max as f64));
            }
        }
        Some(self.max as f64)
    }

    /// The standard percentiles, in milliseconds; `None` when empty.
    pub fn percentiles(&self) -> Option<Percentiles> {
        if self.count == 0 {
            return None;
        }
        let ms = |q: f64| self.quantile_ns(q).unwrap_or(f64::NAN) / 1e6;
        Some(Percentiles {
            count: self.count,
            p50: ms(0.5),
            p90: ms(0.9),
            p99: ms(0.99),
            p99_9: ms(0.999),
            p99_99: ms(0.9999),
            max: self.max as f64 / 1e6,
            negative: self.negative.count,
            negative_min_ms: (self.negative.count > 0).then(|| self.negative.min_ns as f64 / 1e6),
        })
    }

    /// The histogram's wire form.
    pub fn to_wire(&self) -> WireHistogram {
        let mut buckets = Vec::new();
        let mut next = 0;
        for (i, n) in self.buckets() {
            buckets.push((i - next) as u64);
            buckets.push(n);
            next = i + 1;
        }
        WireHistogram {
            count: self.count,
            min: self.min,
            max: self.max,
            negative: self.negative,
            buckets,
        }
    }

    /// The histograms of `parts` merged.
    pub fn merged<'a>(parts: impl IntoIterator<Item = &'a Histogram>) -> Histogram {
        let mut all = Histogram::default();
        for p in parts {
            all.merge(p);
        }
        all
    }
}

/// A histogram as it crosses the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireHistogram {
    pub count: u64,
    /// Exact smallest and largest value, ns (0 when empty).
    pub min: u64,
    pub max: u64,
    #[serde(default, skip_serializing_if = "Negatives::is_none")]
    pub negative: Negatives,
    /// The nonzero buckets as pairs: buckets skipped since the last one
    /// (or since bucket 0), then the count.
    pub buckets: Vec<u64>,
}

impl Negatives {
    fn is_none(&self) -> bool {
        self.count == 0
    }
}

/// Why a wire histogram was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed histogram: {0}")]
pub struct HistogramError(&'static str);

impl TryFrom<&WireHistogram> for Histogram {
    type Error = HistogramError;

    fn try_from(w: &WireHistogram) -> Result<Histogram, HistogramError> {
        if !w.buckets.len().is_multiple_of(2) {
            return Err(HistogramError("odd number of bucket fields"));
        }
        let mut h = Histogram::default();
        let mut at = 0usize;
        for pair in w.buckets.chunks(2) {
            at = at
                .checked_add(pair[0] as usize)
                .filter(|&i| i < CHUNKS * SUB)
                .ok_or(HistogramError("bucket out of range"))?;
            // No second of any run holds 2^56 values: more is no report's.
            h.count
                .checked_add(pair[1])
                .filter(|&n| n <= MAX_COUNT)
                .ok_or(HistogramError("more values than any run records"))?;
            h.record_n(bounds(at).0, pair[1]);
            at += 1;
        }
        if h.count != w.count {
            return Err(HistogramError("counts do not add up"));
        }
        if w.count > 0 {
            if w.min > w.max || index(w.min) != index(h.min) || index(w.max) != index(h.max) {
                return Err(HistogramError("min or max outside the buckets"));
            }
            (h.min, h.max) = (w.min, w.max);
        }
        h.negative = w.negative;
        Ok(h)
    }
}

/// The percentiles every table and series reports, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub p99_99: f64,
    pub max: f64,
    /// Values that were below zero (the roles' clocks apart), counted as 0
    /// in the percentiles above.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub negative: u64,
    /// The most negative of them, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_min_ms: Option<f64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::{exact, samples, Shape};

    const QUANTILES: [f64; 5] = [0.5, 0.9, 0.99, 0.999, 0.9999];

    /// Every standard quantile of `h` within 1% of an exact sort of
    /// `values`, and the maximum exact.
    fn assert_within_one_percent(h: &Histogram, values: &[u64], what: &str) {
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        assert_eq!(h.count(), values.len() as u64, "{what}");
        for q in QUANTILES {
            let (got, want) = (h.quantile_ns(q).unwrap(), exact(&sorted, q));
            let err = (got - want).abs() / want.max(1.0);
            assert!(err <= 0.01, "{what} q={q}: {got} exact {want} ({err:.4})");
        }
        let p = h.percentiles().unwrap();
        assert_eq!(p.max, *sorted.last().unwrap() as f64 / 1e6, "{what}: max");
    }

    #[test]
    fn every_quantile_within_one_percent_of_a_sort_at_every_size_and_shape() {
        for shape in Shape::ALL {
            for n in [1_000, 20_000, 30_000, 100_000, 1_000_000] {
                for seed in [1, 7, 42] {
                    let values = samples(shape, n, seed * 1_000_003 + n as u64);
                    let mut h = Histogram::default();
                    values.iter().for_each(|&v| h.record(v));
                    assert_within_one_percent(&h, &values, &format!("{shape:?} n={n}"));
                }
            }
        }
    }

    #[test]
    fn merged_windows_and_roles_are_as_accurate_as_one_histogram() {
        // 30 one-second windows of 1,000 from each of 3 roles, merged into
        // a step through the wire form, as the aggregator does.
        for shape in Shape::ALL {
            let values = samples(shape, 90_000, 99);
            let mut windows = vec![Histogram::default(); 90];
            for (i, &v) in values.iter().enumerate() {
                windows[i / 1000].record(v);
            }
            let wired: Vec<Histogram> = windows
                .iter()
                .map(|w| Histogram::try_from(&w.to_wire()).unwrap())
                .collect();
            assert_eq!(wired, windows, "{shape:?}: the wire form is lossless");
            let step = Histogram::merged(&wired);
            assert_within_one_percent(&step, &values, &format!("{shape:?} merged"));
            for (w, chunk) in wired.iter().zip(values.chunks(1000)).step_by(17) {
                assert_within_one_percent(w, chunk, &format!("{shape:?} window"));
            }
        }
    }

    /// The case the T-Digest got 12x wrong: 30,000 values whose top six
    /// are 2.08, 2.12, 2.31, 43.7, 48.9 and 49.5 ms. P99.99 is the 29,997th.
    #[test]
    fn a_bimodal_tail_reports_the_value_at_its_rank() {
        let mut values: Vec<u64> = (0..29_994).map(|i| 1_000_000 + i * 30).collect();
        values.extend([
            2_080_000, 2_120_000, 2_310_000, 43_700_000, 48_900_000, 49_500_000,
        ]);
        let mut h = Histogram::default();
        values.iter().for_each(|&v| h.record(v));
        let p = h.percentiles().unwrap();
        assert!((p.p99_99 - 2.31).abs() / 2.31 <= 0.004, "{p:?}");
        assert_eq!(p.max, 49.5);
        assert_within_one_percent(&h, &values, "bimodal");
    }

    #[test]
    fn small_values_are_exact_and_buckets_cover_every_u64() {
        let mut h = Histogram::default();
        for v in 0..128 {
            h.record(v);
        }
        assert_eq!(h.quantile_ns(0.5), Some(63.0));
        for v in [0, 1, 127, 128, 129, 255, 256, 1 << 40, u64::MAX] {
            let (lo, width) = bounds(index(v));
            assert!(lo <= v && v - lo < width, "{v}: [{lo}, +{width})");
            assert!(width == 1 || width as f64 / lo as f64 <= 1.0 / 128.0, "{v}");
        }
        assert_eq!(index(u64::MAX), CHUNKS * SUB - 1);
        let mut big = Histogram::default();
        big.record(u64::MAX);
        let back = Histogram::try_from(&big.to_wire()).unwrap();
        assert_eq!(back.quantile_ns(1.0), Some(u64::MAX as f64));
    }

    #[test]
    fn ranks_are_integer_exact() {
        assert_eq!(rank(0.9999, 30_000), 29_997);
        assert_eq!(rank(0.9999, 10_000), 9_999);
        assert_eq!(rank(0.5, 1), 1);
        assert_eq!(rank(0.5, 3), 2);
        assert_eq!(rank(0.0, 5), 1);
        assert_eq!(rank(1.0, 5), 5);
    }

    #[test]
    fn negatives_count_as_zero_and_are_kept() {
        let mut h = Histogram::default();
        h.record_signed(-3_000_000);
        h.record_between(10, 4);
        h.record_between(4, 10);
        let n = h.negatives();
        assert_eq!((n.count, n.min_ns), (2, -3_000_000));
        let p = h.percentiles().unwrap();
        assert_eq!((p.count, p.negative, p.negative_min_ms), (3, 2, Some(-3.0)));
        assert_eq!((p.p50, p.max), (0.0, 6e-6));
        let mut other = Histogram::default();
        other.record_signed(-5);
        let both = Histogram::merged([&h, &other]);
        assert_eq!(
            both.negatives(),
            Negatives {
                count: 3,
                min_ns: -3_000_000
            }
        );
        let back = Histogram::try_from(&both.to_wire()).unwrap();
        assert_eq!(back, both);
    }

    #[test]
    fn malformed_wire_forms_are_refused() {
        let mut h = Histogram::default();
        h.record(1000);
        let good = h.to_wire();
        let bad = |f: fn(&mut WireHistogram)| {
            let mut w = good.clone();
            f(&mut w);
            Histogram::try_from(&w).unwrap_err()
        };
        assert_eq!(
            bad(|w| w.buckets.pop().map(drop).unwrap()).0,
            "odd number of bucket fields"
        );
        assert_eq!(bad(|w| w.count = 2).0, "counts do not add up");
        assert_eq!(bad(|w| w.buckets[0] = u64::MAX).0, "bucket out of range");
        assert_eq!(bad(|w| w.max = 5_000).0, "min or max outside the buckets");
    }

    #[test]
    fn empty_histograms_have_no_percentiles() {
        assert!(Histogram::default().percentiles().is_none());
        assert_eq!(Histogram::merged([]).count(), 0);
        let w = Histogram::default().to_wire();
        assert_eq!(Histogram::try_from(&w).unwrap(), Histogram::default());
    }
}

//! Seeded latency samples of the shapes the accuracy requirement names, for
//! the histogram's tests and the accuracy example (`examples/quantiles.rs`):
//! the same samples on every run.

/// A latency distribution, in ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A ~200 µs body with an exponential tail.
    Smooth,
    /// A 250-350 µs body; 0.05% of the values stalled for 20-200 ms.
    Stalls,
    /// 1.5-2.3 ms for most, 45-50 ms for 0.01%: P99.99 sits at the edge.
    Bimodal,
}

impl Shape {
    pub const ALL: [Shape; 3] = [Shape::Smooth, Shape::Stalls, Shape::Bimodal];

    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Smooth => "smooth",
            Shape::Stalls => "stalls",
            Shape::Bimodal => "bimodal",
        }
    }
}

/// xorshift64*, seeded: the same sequence on every run (samples here,
/// and the random inputs of the property tests), so a failure repeats.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// One of `of`, uniformly.
    pub fn pick<'a, T>(&mut self, of: &'a [T]) -> &'a T {
        &of[self.below(of.len())]
    }
}

/// `n` latencies of `shape`, ns, from `seed`.
pub fn samples(shape: Shape, n: usize, seed: u64) -> Vec<u64> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let u = rng.uniform();
            let v = match shape {
                Shape::Smooth => 150_000.0 + 100_000.0 * -(1.0 - u).ln(),
                Shape::Stalls if rng.uniform() < 0.0005 => 20e6 + 180e6 * u,
                Shape::Stalls => 250_000.0 + 100_000.0 * u,
                Shape::Bimodal if rng.uniform() < 0.0001 => 45e6 + 5e6 * u,
                Shape::Bimodal => 1.5e6 + 0.8e6 * u,
            };
            v.round() as u64
        })
        .collect()
}

/// The value of nearest rank for quantile `q` in `sorted` (what the
/// histogram is checked against).
pub fn exact(sorted: &[u64], q: f64) -> f64 {
    sorted[crate::histogram::rank(q, sorted.len() as u64) as usize - 1] as f64
}

//! One bit per event: the ledgers' memory (8 events a byte, never a map entry).

use serde::{Deserialize, Serialize};

/// A fixed-size set of sequence numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BitSet {
    len: u64,
    words: Vec<u64>,
}

impl BitSet {
    /// A set able to hold `0..len`, all clear.
    pub fn new(len: u64) -> Self {
        BitSet {
            len,
            words: vec![0; len.div_ceil(64) as usize],
        }
    }

    /// What is wrong with a set read from elsewhere, if anything: words
    /// that do not cover its length, or bits set past it.
    pub fn malformed(&self) -> Option<String> {
        let words = self.len.div_ceil(64);
        if self.words.len() as u64 != words {
            return Some(format!(
                "{} words for {} bits (needs {words})",
                self.words.len(),
                self.len
            ));
        }
        let spare = words * 64 - self.len;
        let last = self.words.last().copied().unwrap_or(0);
        (spare > 0 && last >> (64 - spare) != 0).then(|| "bits set past its length".to_string())
    }

    /// How many sequence numbers the set can hold.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the set holds no positions at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets bit `i`; returns whether it was already set. Out of range is ignored
    /// and reported as not set.
    pub fn insert(&mut self, i: u64) -> bool {
        if i >= self.len {
            return false;
        }
        let (w, b) = ((i / 64) as usize, i % 64);
        let was = self.words[w] & (1 << b) != 0;
        self.words[w] |= 1 << b;
        was
    }

    /// Whether bit `i` is set.
    pub fn contains(&self, i: u64) -> bool {
        i < self.len && self.words[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    /// Number of set bits.
    pub fn count(&self) -> u64 {
        self.words.iter().map(|w| w.count_ones() as u64).sum()
    }

    /// Positions set in `self` and clear in `other` (`self \ other`), ascending.
    pub fn difference<'a>(&'a self, other: &'a BitSet) -> impl Iterator<Item = u64> + 'a {
        self.positions(other, |a, b| a & !b)
    }

    /// Positions set in both `self` and `other`, ascending.
    pub fn intersection<'a>(&'a self, other: &'a BitSet) -> impl Iterator<Item = u64> + 'a {
        self.positions(other, |a, b| a & b)
    }

    /// Positions set in `combine(self's word, other's word)`, ascending
    /// (`other` read as clear beyond its length).
    fn positions<'a>(
        &'a self,
        other: &'a BitSet,
        combine: impl Fn(u64, u64) -> u64 + 'a,
    ) -> impl Iterator<Item = u64> + 'a {
        self.words.iter().enumerate().flat_map(move |(w, &word)| {
            let mut bits = combine(word, other.words.get(w).copied().unwrap_or(0));
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros() as u64;
                bits &= bits - 1;
                Some(w as u64 * 64 + b)
            })
        })
    }

    /// Adds every bit of `other` (for joining several senders or receivers).
    pub fn union_with(&mut self, other: &BitSet) {
        if other.len > self.len {
            self.len = other.len;
            self.words.resize(other.words.len(), 0);
        }
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_reports_repeats_and_counts() {
        let mut s = BitSet::new(130);
        assert!(!s.insert(0));
        assert!(!s.insert(129));
        assert!(s.insert(129));
        assert!(!s.insert(130), "out of range is ignored");
        assert_eq!(s.count(), 2);
        assert!(s.contains(129) && !s.contains(128));
    }

    #[test]
    fn difference_lists_exact_positions() {
        let mut a = BitSet::new(200);
        let mut b = BitSet::new(200);
        for i in 0..200 {
            a.insert(i);
            if i % 50 != 49 {
                b.insert(i);
            }
        }
        let lost: Vec<u64> = a.difference(&b).collect();
        assert_eq!(lost, vec![49, 99, 149, 199]);
        let mut c = BitSet::new(70);
        for i in [0, 49, 63, 64, 69] {
            c.insert(i);
        }
        let both: Vec<u64> = b.intersection(&c).collect();
        assert_eq!(both, vec![0, 63, 64, 69], "49 is not in b");
        assert_eq!(c.intersection(&b).count(), 4, "either way round");
        assert_eq!(a.difference(&c).count(), 195, "c read as clear past 70");
    }
}

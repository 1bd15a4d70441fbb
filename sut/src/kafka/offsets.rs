//! At-least-once commits: per partition, the offset to commit is the lowest
//! one still being delivered, or one past the highest taken when none is,
//! so an offset is committed only once it and every one before it are done.
//!
//! A partition taken away in a rebalance is released: what it settled is
//! committed then, and nothing after, so a late commit can never move the
//! group's offset under its new owner. Taken again, it starts afresh from
//! the group's offset, and what was still in flight from before holds the
//! commit point back until it is done.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

#[derive(Default)]
struct Partition {
    /// Offsets being handled, with how many times each (a record read
    /// again after a rebalance can be in flight twice).
    busy: BTreeMap<i64, u32>,
    /// One past the highest offset taken.
    next: i64,
    /// What was last committed.
    committed: i64,
    /// Taken away in a rebalance: not committed until taken again.
    released: bool,
}

impl Partition {
    /// The offset to commit if it moved since the last commit (marked
    /// committed).
    fn point(&mut self) -> Option<i64> {
        let point = self.busy.keys().next().copied().unwrap_or(self.next);
        (point > self.committed).then(|| {
            self.committed = point;
            point
        })
    }
}

/// The offsets of one consumer group's partitions.
#[derive(Default)]
pub struct Offsets(Mutex<HashMap<i32, Partition>>);

impl Offsets {
    /// A record is being handled.
    pub fn take(&self, partition: i32, offset: i64) {
        let mut m = self.0.lock().unwrap();
        let p = m.entry(partition).or_default();
        if p.released {
            // Assigned again: read from the group's offset, which is
            // `offset`; what was in flight before is read again too, and
            // stays busy until its first delivery ends.
            p.released = false;
            p.committed = offset;
            p.next = offset;
        }
        *p.busy.entry(offset).or_default() += 1;
        p.next = p.next.max(offset + 1);
    }

    /// A record is done (delivered, dead-lettered, given up, or filtered out).
    pub fn done(&self, partition: i32, offset: i64) {
        if let Some(p) = self.0.lock().unwrap().get_mut(&partition) {
            if let Some(n) = p.busy.get_mut(&offset) {
                *n -= 1;
                if *n == 0 {
                    p.busy.remove(&offset);
                }
            }
        }
    }

    /// Partitions whose commit point moved, with the offset to commit (the
    /// next one to read); marks them committed.
    pub fn to_commit(&self) -> Vec<(i32, i64)> {
        let mut m = self.0.lock().unwrap();
        let mut out = Vec::new();
        for (&partition, p) in m.iter_mut().filter(|(_, p)| !p.released) {
            if let Some(point) = p.point() {
                out.push((partition, point));
            }
        }
        out.sort_unstable();
        out
    }

    /// Releases `partitions` (revoked): returns their commit points that
    /// moved, to commit before they go, and commits nothing of them after.
    pub fn release(&self, partitions: &[i32]) -> Vec<(i32, i64)> {
        let mut m = self.0.lock().unwrap();
        let mut out = Vec::new();
        for &partition in partitions {
            if let Some(p) = m.get_mut(&partition).filter(|p| !p.released) {
                if let Some(point) = p.point() {
                    out.push((partition, point));
                }
                p.released = true;
            }
        }
        out.sort_unstable();
        out
    }

    /// Releases every partition: after the last commit of a consumer that
    /// stops, what it drops undelivered (and settles that way) must not be
    /// committed by the revocation its close brings.
    pub fn close(&self) {
        for p in self.0.lock().unwrap().values_mut() {
            p.released = true;
        }
    }

    /// Records taken and not done (released partitions' included: they are
    /// still being delivered).
    pub fn busy(&self) -> usize {
        let m = self.0.lock().unwrap();
        m.values()
            .flat_map(|p| p.busy.values())
            .map(|&n| n as usize)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_stop_at_the_first_offset_not_done() {
        let o = Offsets::default();
        for off in 0..5 {
            o.take(3, off);
        }
        o.take(7, 10);
        o.done(3, 0);
        o.done(3, 2);
        o.done(3, 3);
        // Partition 7 resumes at 10 (a group's committed point): nothing
        // before it is this consumer's, so 10 is where it stands.
        assert_eq!(o.to_commit(), [(3, 1), (7, 10)], "offset 1 is still busy");
        assert_eq!(o.to_commit(), [], "nothing moved");
        o.done(3, 1);
        assert_eq!(o.to_commit(), [(3, 4)]);
        o.done(3, 4);
        o.done(7, 10);
        assert_eq!(o.to_commit(), [(3, 5), (7, 11)]);
        assert_eq!(o.busy(), 0);
    }

    /// Partition 3 is revoked with 2 in flight: its settled point (2) is
    /// committed then, and when 2 and later records finish nothing more is.
    /// Assigned again at the group's offset 40, it starts from there.
    #[test]
    fn a_released_partition_commits_once_and_starts_afresh_when_taken_again() {
        let o = Offsets::default();
        for off in 0..4 {
            o.take(3, off);
            o.take(5, off);
        }
        for off in [0, 1, 3] {
            o.done(3, off);
        }
        assert_eq!(o.release(&[3, 9]), [(3, 2)], "9 was never ours");
        assert_eq!(o.release(&[3]), [], "released once");
        o.done(3, 2);
        assert_eq!(o.busy(), 4, "partition 5's four");
        o.done(5, 0);
        assert_eq!(o.to_commit(), [(5, 1)], "nothing of 3 after its release");
        o.take(3, 40);
        assert_eq!(
            o.to_commit(),
            [],
            "40 is still busy and was the group's point"
        );
        o.done(3, 40);
        assert_eq!(o.to_commit(), [(3, 41)]);
        // A stopping consumer's last commit is its last: what it drops
        // afterwards, settled or not, is never committed.
        o.take(3, 41);
        o.close();
        o.done(3, 41);
        assert_eq!((o.to_commit(), o.release(&[3, 5])), (vec![], vec![]));
    }

    /// Offset 7 of partition 2 is in flight when the partition is revoked
    /// and assigned back at the group's offset 6: 6 and 7 are read again.
    /// The first delivery of 7 ending does not let the commit pass the
    /// second, and `busy` counts both.
    #[test]
    fn a_record_in_flight_twice_after_a_rebalance_is_busy_twice() {
        let o = Offsets::default();
        for off in 5..8 {
            o.take(2, off);
        }
        o.done(2, 5);
        assert_eq!(o.release(&[2]), [(2, 6)]);
        o.take(2, 6);
        o.take(2, 7);
        assert_eq!(o.busy(), 4, "6 and 7 from before, and again");
        o.done(2, 7);
        o.done(2, 6);
        assert_eq!(o.to_commit(), [], "6 and 7 are each still in flight once");
        o.done(2, 6);
        assert_eq!(o.to_commit(), [(2, 7)]);
        o.done(2, 7);
        assert_eq!((o.to_commit(), o.busy()), (vec![(2, 8)], 0));
    }
}

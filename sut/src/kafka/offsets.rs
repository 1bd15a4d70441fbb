//! At-least-once commits: per partition, the offset to commit is the lowest
//! one still being delivered, or one past the highest taken when none is,
//! so an offset is committed only once it and every one before it are done.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

#[derive(Default)]
struct Partition {
    busy: BTreeSet<i64>,
    /// One past the highest offset taken.
    next: i64,
    /// What was last committed.
    committed: i64,
}

/// The offsets of one consumer group's partitions.
#[derive(Default)]
pub struct Offsets(Mutex<HashMap<i32, Partition>>);

impl Offsets {
    /// A record is being handled.
    pub fn take(&self, partition: i32, offset: i64) {
        let mut m = self.0.lock().unwrap();
        let p = m.entry(partition).or_default();
        p.busy.insert(offset);
        p.next = p.next.max(offset + 1);
    }

    /// A record is done (delivered, dead-lettered, given up, or filtered out).
    pub fn done(&self, partition: i32, offset: i64) {
        if let Some(p) = self.0.lock().unwrap().get_mut(&partition) {
            p.busy.remove(&offset);
        }
    }

    /// Partitions whose commit point moved, with the offset to commit (the
    /// next one to read); marks them committed.
    pub fn to_commit(&self) -> Vec<(i32, i64)> {
        let mut m = self.0.lock().unwrap();
        let mut out = Vec::new();
        for (&partition, p) in m.iter_mut() {
            let point = p.busy.first().copied().unwrap_or(p.next);
            if point > p.committed {
                p.committed = point;
                out.push((partition, point));
            }
        }
        out.sort_unstable();
        out
    }

    /// Records taken and not done.
    pub fn busy(&self) -> usize {
        self.0.lock().unwrap().values().map(|p| p.busy.len()).sum()
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
}

//! Adopting the aggregator's clock changes every stamp the process takes.
//! In a process of its own: the offset is process-wide.

use brokerbench_core::clock::{adopt, adopted, instant_at, system_now_ns, unix_now_ns, ClockSync};
use std::time::Duration;

#[tokio::test]
async fn an_adopted_offset_moves_every_stamp_and_deadline() {
    assert_eq!(adopted(), None);
    let skew = ClockSync {
        offset_ns: 5_000_000_000,
        uncertainty_ns: 200_000,
        applied: true,
    };
    adopt(skew);
    assert_eq!(adopted(), Some(skew));
    let (own, run) = (system_now_ns(), unix_now_ns());
    let ahead = run as i64 - own as i64;
    assert!(
        (5_000_000_000..5_010_000_000).contains(&ahead),
        "the run's clock reads {ahead} ns ahead of this host's"
    );
    // A deadline on the run's clock 50 ms from now is 50 ms from now, not
    // 5 s earlier.
    let due = instant_at(unix_now_ns() + 50_000_000);
    let wait = due - tokio::time::Instant::now();
    assert!(
        wait > Duration::from_millis(40) && wait <= Duration::from_millis(50),
        "{wait:?}"
    );
    // A process takes part in one run: a second estimate is ignored.
    adopt(ClockSync {
        offset_ns: -1,
        uncertainty_ns: 0,
        applied: true,
    });
    assert_eq!(adopted(), Some(skew));
}

//! Adopting the aggregator's clock changes every stamp the process takes;
//! a skewed clock (the test fault) reads off by what it was told. In a
//! process of its own: the offset and the skew are process-wide.

use brokerbench_core::clock::{
    adopt, instant_at, skew_for_tests, system_now_ns, unix_now_ns, ClockSync,
};
use std::time::Duration;

fn ahead_of_own() -> i64 {
    let (own, run) = (system_now_ns(), unix_now_ns());
    run as i64 - own as i64
}

#[tokio::test]
async fn an_adopted_offset_moves_every_stamp_and_deadline() {
    let skew = ClockSync {
        offset_ns: 5_000_000_000,
        uncertainty_ns: 200_000,
        applied: true,
    };
    adopt(skew);
    let ahead = ahead_of_own();
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
    // An estimate within its uncertainty is one clock: no correction.
    adopt(ClockSync {
        offset_ns: -1,
        uncertainty_ns: 10,
        applied: false,
    });
    assert!(ahead_of_own().abs() < 10_000_000, "{}", ahead_of_own());

    // A host clock 250 ms behind that loses 1 ms a second.
    let real = system_now_ns();
    skew_for_tests(-250_000_000, -1000.0);
    let off = system_now_ns() as i64 - real as i64;
    assert!((-251_000_000..=-249_000_000).contains(&off), "{off}");
    std::thread::sleep(Duration::from_millis(500));
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let off = system_now_ns() as i64 - real;
    assert!(
        (-251_000_000..=-250_400_000).contains(&off),
        "half a second later, 0.5 ms more behind: {off}"
    );
}

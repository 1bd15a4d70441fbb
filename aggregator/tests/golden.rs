//! Golden files for the data the gnuplot scripts read: a fixed set of ledgers
//! joined into `series.tsv` and `steps.tsv`, compared byte for byte with
//! `tests/golden/`. After an intended format change, regenerate them with
//! `UPDATE_GOLDEN=1 cargo test -p brokerbench-aggregator --test golden`.

use brokerbench_aggregator::join::{join, Ending};
use brokerbench_aggregator::output::{series_tsv, steps_tsv};

mod fixture;

use fixture::fixture;

fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        actual, want,
        "{name} differs from its golden file (UPDATE_GOLDEN=1 regenerates it)"
    );
}

#[test]
fn series_and_steps_match_their_golden_files() {
    let (plan, sender, receiver) = fixture();
    let results = join(&plan, &[sender], &[receiver], &Ending::complete());
    golden("series.tsv", &series_tsv(&results.series));
    golden("steps.tsv", &steps_tsv(&results.summary.steps));
    assert_eq!(results.summary.totals.lost, 1);
    assert_eq!(results.summary.steps[0].receiver_cpu, Some(0.125));
    // Steal, worst machine each second: 0.125, 0.25, 0.5 | 0.125, 0.125.
    let steal: Vec<_> = results.summary.steps.iter().map(|s| s.host_steal).collect();
    assert_eq!(steal, vec![Some(0.875 / 3.0), Some(0.125)]);
    assert_eq!(results.summary.host_steal, Some(1.125 / 5.0));
    assert_eq!(
        results.series[5].host_steal,
        Some(0.125),
        "the drain second"
    );
    // Throttling: each second's longest (the sender's), each step's roles
    // from a millisecond on, the run's measured seconds per role (the
    // drain second's 7 ms left out).
    let throttled: Vec<_> = results.series.iter().map(|r| r.throttled_ms).collect();
    assert_eq!(
        throttled,
        [0.0, 0.5, 0.0, 40.0, 0.0, 7.0].map(Some).to_vec()
    );
    assert!(results.summary.steps[0].throttled.is_empty(), "0.5 ms");
    let step2 = &results.summary.steps[1].throttled;
    assert_eq!(step2.len(), 1);
    assert_eq!(
        (step2[0].role.as_str(), step2[0].throttled_ms),
        ("sender 0", 40.0)
    );
    let q = &results.summary.cpu_quotas;
    assert_eq!(q.len(), 1, "the receiver had no quota: {q:?}");
    assert_eq!(
        (
            q[0].role.as_str(),
            q[0].cpu_quota_cores,
            q[0].throttled_ms,
            q[0].throttled_seconds
        ),
        ("sender 0", Some(1.0), 40.5, 2)
    );
    let table = brokerbench_aggregator::table::render(&results.summary, "out");
    assert!(
        table.contains("note: in steps flagged throttled the kernel stopped a role for its CPU quota: sender 0 (CPU quota 1 core) 40 ms in step 2;"),
        "{table}"
    );
    let step2_row = table
        .lines()
        .find(|l| l.trim_start().starts_with("2 "))
        .unwrap();
    assert!(step2_row.ends_with("  throttled"), "{step2_row}");
    assert!(
        table.contains("the hypervisor took 22.5% of the machine's CPU time while this ran (steal, step 1: 29.2%)"),
        "{table}"
    );
    assert!(
        table.contains(
            "1 lost; limited by the SUT (the hypervisor took 29.2% of the CPU time in that step"
        ),
        "{table}"
    );
}

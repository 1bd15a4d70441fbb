//! What the in-process pipeline tests share: a `run` configured from
//! command-line words, and accounting checked against independent counts.

#![allow(dead_code)]

pub mod manifests;
pub mod process;

use brokerbench::args::{Command, Opts};
use brokerbench_aggregator::Finished;
use brokerbench_local::run::run as run_local;
use clap::Parser;
use tokio_util::sync::CancellationToken;

pub fn config(extra: &[&str]) -> brokerbench_local::config::LocalConfig {
    let out = std::env::temp_dir().join("brokerbench-tests");
    let mut args = vec!["brokerbench", "run", "--quiet", "--drain-seconds", "1"];
    if !extra.contains(&"--warmup-seconds") {
        args.extend(["--warmup-seconds", "0"]);
    }
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    match Opts::parse_from(args).command {
        Command::Run(o) => o.into_config().unwrap(),
        _ => unreachable!(),
    }
}

/// The words of `line`, split at white space (command-line words written
/// as one line).
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

pub async fn run(extra: &[&str]) -> Finished {
    run_local(config(extra), CancellationToken::new())
        .await
        .unwrap()
}

/// Checks a run's figures against counts made apart from them, so a
/// figure that is wrong cannot hide behind one defined from it:
/// - `slots`, the schedule's slots from the test's own arithmetic (rate ×
///   seconds × senders; `None` for a cut run): the sender released each
///   once, and each was accepted (its bit) or failed (its reason);
/// - the receivers' own tally of distinct events (counted on arrival, per
///   second) against the bit join's delivered;
/// - each step's accepted events, counted by the sender per second, against
///   the bits the step's delivered and lost are joined from, and their sum
///   against the run's accepted bits; an event arrives unasked only when
///   its send failed;
/// - what left the sender, counted per second by send time, against
///   what was released and what never left;
/// - failures by reason against failures counted per second;
/// - the SUT's own count of events taken in, when it serves one.
pub fn assert_accounting(f: &Finished, slots: Option<u64>) {
    let s = &f.results.summary;
    let t = &s.totals;
    if let Some(slots) = slots {
        assert_eq!(
            t.sent, slots,
            "every slot of the schedule released once: {t:?}"
        );
        assert_eq!(
            t.accepted + t.failed,
            slots,
            "each accepted or failed: {t:?}"
        );
    }
    let by_arrival: u64 = f.results.series.iter().map(|r| r.delivered).sum();
    if s.plan.receivers == 1 {
        assert_eq!(
            by_arrival, t.delivered,
            "the receiver's tally against the bits"
        );
    }
    let copies = s.plan.copies as u64;
    let listed: u64 = f.results.lost.iter().map(|r| r.last - r.first + 1).sum();
    assert_eq!(listed, t.lost, "lost.tsv's ranges: {t:?}");
    assert!(
        t.unexpected <= t.failed * copies,
        "only an event whose send failed arrives unasked: {t:?}"
    );
    let left: u64 = f.results.series.iter().map(|r| r.sent).sum();
    assert_eq!(
        left + t.unsent,
        t.sent,
        "left by send time + never left: {t:?}"
    );
    let failed: u64 = f.results.series.iter().map(|r| r.failed).sum();
    assert_eq!((failed, s.failures.total()), (t.failed, t.failed));
    for st in &s.steps {
        assert_eq!(
            st.totals.accepted * copies,
            st.totals.delivered_of_accepted + st.totals.lost,
            "step {}: the sender's per-second count against the bits",
            st.step
        );
    }
    if slots.is_some() {
        let by_second: u64 = s.steps.iter().map(|st| st.totals.accepted).sum();
        assert_eq!(by_second, t.accepted, "per second against the bits: {t:?}");
    }
    if let (Some(sut), 0) = (s.sut, t.failed) {
        assert_eq!(
            sut.accepted,
            t.accepted + t.warmup_sent,
            "the SUT took in every event sent, warmup too"
        );
    }
}

/// A column of a results folder's `series.tsv` by name, as numbers by
/// second (NaN where the second has none).
pub fn series_column(dir: &std::path::Path, name: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(dir.join("series.tsv")).unwrap();
    let mut lines = text.lines().map(|l| l.split('\t'));
    let at = lines
        .next()
        .unwrap()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name} in series.tsv"));
    lines
        .map(|mut r| r.nth(at).unwrap().parse().unwrap_or(f64::NAN))
        .collect()
}

/// A results folder's `summary.json`, checked against the committed schema.
pub fn valid_summary(dir: &std::path::Path) -> serde_json::Value {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../../schema/summary.schema.json")).unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&summary)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    summary
}

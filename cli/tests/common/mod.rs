//! What the in-process pipeline tests share: a `run` configured from
//! command-line words, and the accounting invariants.

#![allow(dead_code)]

use brokerbench::local::run_local;
use brokerbench::opts::{Command, Opts};
use brokerbench_aggregator::model::Summary;
use brokerbench_aggregator::Finished;
use clap::Parser;
use tokio_util::sync::CancellationToken;

pub fn config(extra: &[&str]) -> brokerbench::opts::LocalConfig {
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

pub async fn run(extra: &[&str]) -> Finished {
    run_local(config(extra), CancellationToken::new())
        .await
        .unwrap()
}

/// `sent = accepted + failed` and `accepted × copies = delivered_of_accepted + lost`,
/// for the run and for every step.
pub fn assert_invariants(s: &Summary) {
    for (what, t) in std::iter::once(("run".to_string(), &s.totals)).chain(
        s.steps
            .iter()
            .map(|st| (format!("step {}", st.step), &st.totals)),
    ) {
        assert_eq!(
            t.sent,
            t.accepted + t.failed,
            "{what}: sent = accepted + failed: {t:?}"
        );
        assert_eq!(
            t.accepted * s.copies as u64,
            t.delivered_of_accepted + t.lost,
            "{what}: accepted = delivered + lost: {t:?}"
        );
    }
    assert_eq!(s.totals.failed, s.failures.total());
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

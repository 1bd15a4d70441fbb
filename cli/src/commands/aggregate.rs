//! `brokerbench aggregate`: the reports roles kept when their aggregator
//! was gone, joined into a results folder as the aggregator would.

use crate::args::tools::AggregateOpts;
use anyhow::{bail, Context};
use brokerbench_aggregator::conclude::conclude;
use brokerbench_aggregator::join::{join, Ending};
use brokerbench_core::session::KeptReport;

/// `brokerbench aggregate`: the kept reports of one run, joined and
/// written as the aggregator would; the run's exit code.
pub fn run(o: AggregateOpts) -> anyhow::Result<i32> {
    let mut kept = Vec::new();
    for f in &o.files {
        let text = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        let k: KeptReport = serde_json::from_slice(&text)
            .with_context(|| format!("{}: not a kept report", f.display()))?;
        kept.push(k);
    }
    let plan = kept[0].plan.clone();
    if let Some(other) = kept.iter().find(|k| k.plan.run_id != plan.run_id) {
        bail!(
            "the reports are of two runs ({} and {}): aggregate one run's",
            plan.run_id,
            other.plan.run_id
        );
    }
    let senders: Vec<_> = kept.iter().filter_map(|k| k.sender.clone()).collect();
    let receivers: Vec<_> = kept.iter().filter_map(|k| k.receiver.clone()).collect();
    for r in &senders {
        if let Some(why) = r.implausible() {
            bail!("sender {}'s report: {why}", r.index);
        }
    }
    for r in &receivers {
        if let Some(why) = r.implausible() {
            bail!("receiver {}'s report: {why}", r.index);
        }
    }
    let ending = Ending::of(&plan, &senders, &receivers, false, None);
    let results = join(&plan, &senders, &receivers, &ending);
    let out = &o.output.out;
    brokerbench_aggregator::output::check_writable(out)
        .with_context(|| format!("--out {}: cannot write results there", out.display()))?;
    let dir = brokerbench_aggregator::output::results_dir(out, &plan.scenario)?;
    let not_written = brokerbench_aggregator::output::write(&dir, &results)
        .err()
        .map(|e| e.to_string());
    let finished = brokerbench_aggregator::Finished {
        results,
        dir,
        not_written,
    };
    Ok(conclude(
        &finished,
        o.output.plot()?.as_ref(),
        o.output.slo()?.as_ref(),
    ))
}

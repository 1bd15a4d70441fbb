//! `brokerbench run`: the scenario on this machine (`brokerbench_local`),
//! then its table, graphs and objectives; or, in a run's SUT process, that
//! SUT.

use crate::args::run::RunOpts;
use brokerbench_aggregator::conclude::conclude;
use brokerbench_local::faults::process::ChildSpec;
use tokio_util::sync::CancellationToken;

/// Runs the scenario (or serves as the run's SUT process when `child`
/// says so); the exit code.
pub async fn run(
    o: RunOpts,
    child: Option<ChildSpec>,
    shutdown: CancellationToken,
) -> anyhow::Result<i32> {
    let config = o.into_config()?;
    if let Some(spec) = child {
        return brokerbench_local::sut::sut_child(config, spec, shutdown).await;
    }
    let (plot, slo) = (config.plot.clone(), config.slo.clone());
    let finished = brokerbench_local::run::run(config, shutdown).await?;
    Ok(conclude(&finished, plot.as_ref(), slo.as_ref()))
}

//! `brokerbench aggregator`: the aggregator on its own, for a host or pod;
//! it serves the results for collection after the run.

use crate::config::AggregatorRoleConfig;
use anyhow::Context;
use brokerbench_aggregator::conclude::{conclude, EXIT_INTERRUPTED};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// `brokerbench aggregator`.
pub async fn run(c: AggregatorRoleConfig, shutdown: CancellationToken) -> anyhow::Result<i32> {
    let listener = TcpListener::bind(c.listen)
        .await
        .with_context(|| format!("cannot listen on {}", c.listen))?;
    eprintln!(
        "aggregator on http://{}: run {}, waiting for {} sender(s) and {} receiver(s)",
        listener.local_addr()?,
        c.aggregator.plan.run_id,
        c.aggregator.plan.senders,
        c.aggregator.plan.receivers
    );
    let addr = listener.local_addr()?;
    let serving = brokerbench_aggregator::Serving::start(&c.aggregator, listener);
    let result = serving.conduct(&c.aggregator, &shutdown).await;
    // Stopped before anything ran: nothing to keep, and the exit code of
    // an interrupted run.
    let never_ran = matches!(
        result,
        Err(brokerbench_aggregator::AggregatorError::InterruptedBeforeStart)
    );
    let (dir, code) = match &result {
        Ok(finished) => (
            Some(finished.dir.as_path()),
            conclude(finished, c.plot.as_ref(), c.slo.as_ref()),
        ),
        Err(_) if never_ran => (None, EXIT_INTERRUPTED),
        Err(_) => (None, 1),
    };
    if !c.keep_results.is_zero() && !never_ran {
        let what = match (&result, dir) {
            (Err(e), _) => format!("its failure ({e})"),
            (Ok(_), _) => format!(
                "the results at http://{addr}{}",
                brokerbench_core::session::path::RESULTS
            ),
        };
        eprintln!(
            "aggregator: serving {what} for {:?} or until collected (`brokerbench k8s collect`; Ctrl-C twice quits)",
            c.keep_results
        );
        match serving.hand_over(dir, code, c.keep_results).await {
            Ok(true) => eprintln!("aggregator: collected"),
            Ok(false) => eprintln!("aggregator: not collected within {:?}", c.keep_results),
            Err(e) => eprintln!("brokerbench: results not served: {e}"),
        }
    }
    serving.stop().await;
    if let Err(e) = &result {
        if never_ran {
            eprintln!("aggregator: {e}");
            return Ok(code);
        }
    }
    result?;
    Ok(code)
}

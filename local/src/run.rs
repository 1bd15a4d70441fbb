//! `brokerbench run`: the whole scenario on this machine, as named stages.
//! The aggregator runs on the caller's runtime and does the middle of the
//! run (wait until every role is ready, pace, drain, join, write).

use crate::config::LocalConfig;
use crate::faults::timeline::{self, Applied};
use crate::plane::Plane;
use crate::profiling::Profiling;
use crate::roles::Roles;
use anyhow::Context;
use brokerbench_aggregator::output::{check_room, expected_bytes};
use brokerbench_aggregator::{AggregatorConfig, Finished};
use brokerbench_core::session::Session;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Runs the scenario and returns its results (written to the results
/// folder): room for the results, the SUT, the roles, the faults and
/// profiles beside them, the aggregated run, then everything stopped.
pub async fn run(config: LocalConfig, shutdown: CancellationToken) -> anyhow::Result<Finished> {
    // Before the SUT or any role starts: results that could not be written
    // would lose the run.
    check_room(&config.out, expected_bytes(&config.plan))
        .with_context(|| format!("--out {}: cannot write results there", config.out.display()))?;
    let stop = shutdown.child_token();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("aggregator: cannot bind loopback")?;
    // The roles speak to the aggregator with the run's token.
    let token = brokerbench_core::session::new_token();
    let aggregator = format!("http://{}/?token={token}", listener.local_addr()?);

    let mut plane = Plane::start(&config, stop.clone()).await?;
    let roles = Roles::start(&config, &mut plane, &aggregator, &stop)?;
    let profiling = Profiling::start(config.profile.as_ref(), &aggregator).await?;
    let faults = start_timeline(&config, &plane, &aggregator, &stop);

    let settings = AggregatorConfig {
        plan: config.plan.clone(),
        out: config.out.clone(),
        progress: config.progress,
        sut: plane.sut_url.clone(),
        token: Some(token),
        // The roles are this process's: each fails on its own deadline.
        start_timeout: None,
    };
    let result = brokerbench_aggregator::run(settings, listener, stop.clone()).await;

    stop.cancel();
    let role_error = roles.stop();
    let applied = match faults {
        Some(t) => t.await.unwrap_or_default(),
        None => Vec::new(),
    };
    plane.stop().await;
    if let Some(e) = role_error {
        return Err(e);
    }
    let mut finished = result?;
    note_faults(&mut finished, &applied);
    if let Some(p) = profiling {
        p.finish(&finished).await;
    }
    Ok(finished)
}

/// The faults the receiver does not apply itself, at their times after the
/// run's start.
fn start_timeline(
    config: &LocalConfig,
    plane: &Plane,
    aggregator: &str,
    stop: &CancellationToken,
) -> Option<JoinHandle<Vec<Applied>>> {
    if config.plan.faults.is_empty() {
        return None;
    }
    let (session, faults, s) = (
        Session::new(aggregator),
        config.plan.faults.clone(),
        stop.clone(),
    );
    let targets = plane.targets(config);
    Some(tokio::spawn(async move {
        let started = tokio::select! {
            plan = session.start() => plan.map_err(|e| e.to_string()),
            _ = s.cancelled() => Err("the run ended before it started".to_string()),
        };
        match started {
            Ok(plan) => timeline::run_timeline(faults, plan.t0(), targets, s).await,
            Err(why) => timeline::not_applied(&faults, &why),
        }
    }))
}

/// Marks in the results the faults that could not be applied, and writes
/// `summary.json` and the report again if any.
fn note_faults(finished: &mut Finished, applied: &[Applied]) {
    let mut changed = false;
    for a in applied.iter().filter(|a| a.error.is_some()) {
        for f in finished
            .results
            .summary
            .fault_effects
            .iter_mut()
            .filter(|f| f.spec == a.spec)
        {
            f.error = a.error.clone();
            changed = true;
        }
    }
    if changed {
        if let Err(e) = brokerbench_aggregator::output::write(&finished.dir, &finished.results) {
            eprintln!("brokerbench: cannot note the faults' errors in the results: {e}");
        }
    }
}

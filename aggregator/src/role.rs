//! The aggregator role end to end.

use crate::join::{join, Ending};
use crate::model::Results;
use crate::output;
use crate::server::Hub;
use brokerbench_core::client::JsonClient;
use brokerbench_core::clock::{instant_at, unix_now_ns};
use brokerbench_core::plan::RunPlan;
use brokerbench_core::wire::Phase;
use brokerbench_core::wire::SutCounters;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Time between "every role is ready" and the first event, so every role
/// hears `t0` before it comes.
const START_LEAD: Duration = Duration::from_millis(300);
/// After Ctrl-C, how long the senders' reports may still take (a second
/// Ctrl-C quits at once).
const CUT_PATIENCE: Duration = Duration::from_secs(60);
/// How long past its own bound (the drain it announced) a sender's report
/// may take before the sender is named missing.
const SENDER_GRACE: Duration = Duration::from_secs(10);
/// A sender's bound when it announced none.
const SENDER_BOUND: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(20);
/// A receiver not heard from this long after the finish (its progress
/// comes each second until it stops to report; a report being read keeps
/// the wait going) is taken as gone.
const ROLE_SILENT: Duration = Duration::from_secs(30);

/// Errors that end the aggregator without results.
#[derive(Debug, thiserror::Error)]
pub enum AggregatorError {
    #[error("interrupted before the run started: no results")]
    InterruptedBeforeStart,
    #[error("the run did not start: no ready within {within:?} (--start-timeout) from {}", .missing.join(", "))]
    NotStarted {
        within: Duration,
        /// `sender 1 not heard from`, `receiver 0 not heard from` ...
        missing: Vec<String>,
    },
    #[error("the SUT at {url} is not ready after {patience:?}: {reason}")]
    SutNotReady {
        url: String,
        patience: Duration,
        reason: String,
    },
    #[error("no report from {0} within {1:?} of the schedule's end")]
    MissingReports(&'static str, Duration),
    #[error("cannot write results to {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Aggregator settings.
#[derive(Debug, Clone)]
pub struct AggregatorConfig {
    /// The plan, `t0` unset: the aggregator sets it.
    pub plan: RunPlan,
    /// Parent folder of the results folder.
    pub out: PathBuf,
    /// Print live progress on stderr.
    pub progress: bool,
    /// The SUT's base URL (`http://host:port`), when it serves `/readyz`
    /// (the start waits for it) and `/v1/counters` (read at the start and
    /// the end, the difference goes in the report).
    pub sut: Option<String>,
    /// The run's token: the roles' requests without it get a 401.
    pub token: Option<String>,
    /// How long every role has to say it is ready (a pod that never gets
    /// a node); then the run fails naming them. None: no limit.
    pub start_timeout: Option<Duration>,
}

/// How long the start waits for the SUT to say it is ready (a Kafka
/// consumer group may take seconds to get its partitions).
const SUT_PATIENCE: Duration = Duration::from_secs(60);

/// A finished run: its results and where they were written.
#[derive(Debug, Clone)]
pub struct Finished {
    pub results: Results,
    pub dir: PathBuf,
    /// Why the results folder is not whole (a full disk: the file that
    /// failed and why); the results are still here, for the table.
    pub not_written: Option<String>,
}

/// Runs the aggregator on `listener` until the run's results are written.
/// On `shutdown` the run ends early and partial results are written.
pub async fn run(
    config: AggregatorConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<Finished, AggregatorError> {
    let serving = Serving::start(&config, listener);
    let result = serving.conduct(&config, &shutdown).await;
    serving.stop().await;
    result
}

/// The aggregator's server, up from before the run until its results are
/// handed over.
pub struct Serving {
    hub: Arc<Hub>,
    stop_server: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

impl Serving {
    /// Serves the protocol for `config`'s plan on `listener`.
    pub fn start(config: &AggregatorConfig, listener: TcpListener) -> Self {
        let hub = Hub::new(config.plan.clone(), config.token.clone());
        let stop_server = CancellationToken::new();
        let server = tokio::spawn(brokerbench_core::serve::serve(
            hub.clone(),
            listener,
            stop_server.clone(),
            std::time::Duration::from_secs(1),
        ));
        Serving {
            hub,
            stop_server,
            server,
        }
    }

    /// Conducts the run: waits for the roles, starts it, joins the
    /// reports, writes the results.
    pub async fn conduct(
        &self,
        config: &AggregatorConfig,
        shutdown: &CancellationToken,
    ) -> Result<Finished, AggregatorError> {
        let result = conduct(config, &self.hub, shutdown).await;
        if let Err(e) = &result {
            self.hub.set_status(|s| {
                s.phase = Phase::Failed;
                s.exit_code = Some(1);
                s.error = Some(with_causes(e));
            });
        }
        result
    }

    /// Serves the run's end (`/v1/status` with `exit_code`, and the
    /// results folder `dir` as a tar on `/v1/results`) until someone says
    /// they collected it (`DELETE /v1/results`) or `keep` has passed;
    /// returns whether it was collected. A run without results (`dir`
    /// None) serves its failure the same way.
    pub async fn hand_over(
        &self,
        dir: Option<&Path>,
        exit_code: i32,
        keep: Duration,
    ) -> Result<bool, AggregatorError> {
        if let Some(dir) = dir {
            let tar = crate::output::tar(dir).map_err(|source| AggregatorError::Write {
                path: dir.display().to_string(),
                source,
            })?;
            *self.hub.results.lock().unwrap() = Some(tar.into());
            self.hub.set_status(|s| {
                s.phase = Phase::Finished;
                s.exit_code = Some(exit_code);
                s.results = dir.file_name().map(|n| n.to_string_lossy().into_owned());
            });
        }
        let mut collected = self.hub.collected.subscribe();
        tokio::select! {
            _ = collected.wait_for(|c| *c) => Ok(true),
            _ = tokio::time::sleep(keep) => Ok(false),
        }
    }

    /// Stops serving.
    pub async fn stop(self) {
        self.stop_server.cancel();
        let _ = self.server.await;
    }
}

async fn conduct(
    config: &AggregatorConfig,
    hub: &Arc<Hub>,
    shutdown: &CancellationToken,
) -> Result<Finished, AggregatorError> {
    // Before any role is waited for: a run whose results cannot be
    // written is not started.
    output::check_room(&config.out, output::expected_bytes(&config.plan)).map_err(|source| {
        AggregatorError::Write {
            path: config.out.display().to_string(),
            source,
        }
    })?;
    let stop_progress = CancellationToken::new();
    let _stop_progress = stop_progress.clone().drop_guard();
    // From the first second: who is ready, who is still connecting.
    let progress = tokio::spawn(crate::progress::print(
        hub.clone(),
        stop_progress.clone(),
        config.progress,
    ));
    wait_ready(config, hub, shutdown).await?;
    let (sut, sut_before) = sut_ready(config, shutdown).await?;
    // Start.
    let warmup = config.plan.warmup.map_or(0, |w| w.seconds as u64);
    let t0 = unix_now_ns() + START_LEAD.as_nanos() as u64 + warmup * 1_000_000_000;
    hub.start(t0);
    let plan = hub.plan.lock().unwrap().clone();
    let paced = pace_and_drain(&plan, hub, shutdown).await;
    hub.finish(paced.interrupted);
    receivers_done(&plan, hub).await;
    stop_progress.cancel();
    let _ = progress.await;
    let said = std::mem::take(&mut *hub.roles.lock().unwrap());
    // Results from every report that came: a role killed (OOM, a lost
    // node) is named missing, the others' figures kept. Only a run no
    // role reported on has none.
    if said.sender_reports.is_empty() && said.receiver_reports.is_empty() {
        return Err(AggregatorError::MissingReports(
            "any sender or receiver",
            (paced.sender_bound + SENDER_GRACE).max(crate::server::REPORT_PATIENCE),
        ));
    }
    let ending = Ending::of(
        &plan,
        &said.sender_reports,
        &said.receiver_reports,
        paced.interrupted,
        paced.cut_second,
    );
    let mut results = join(&plan, &said.sender_reports, &said.receiver_reports, &ending);
    if let (Some(client), Some(before)) = (&sut, sut_before) {
        // A SUT started again (killed by `--fault sut-kill`, or crashed)
        // counts from zero since: its counters then cover its last life.
        results.summary.sut = sut_counters(client).await.map(|after| after.since(&before));
    }
    Ok(write(config, &plan, results))
}

/// Every role ready, within the start deadline.
async fn wait_ready(
    config: &AggregatorConfig,
    hub: &Hub,
    shutdown: &CancellationToken,
) -> Result<(), AggregatorError> {
    let plan = &config.plan;
    let waiting_since = tokio::time::Instant::now();
    loop {
        {
            let h = hub.roles.lock().unwrap();
            if h.ready_receivers.len() >= plan.receivers as usize
                && h.ready_senders.len() >= plan.senders as usize
            {
                return Ok(());
            }
            if let Some(within) = config
                .start_timeout
                .filter(|&t| waiting_since.elapsed() >= t)
            {
                let missing = crate::progress::not_ready(plan, &h);
                return Err(AggregatorError::NotStarted { within, missing });
            }
        }
        if shutdown.is_cancelled() {
            return Err(AggregatorError::InterruptedBeforeStart);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The SUT ready too, and its counters before the first event.
async fn sut_ready(
    config: &AggregatorConfig,
    shutdown: &CancellationToken,
) -> Result<(Option<JsonClient>, Option<SutCounters>), AggregatorError> {
    let Some(client) = config.sut.as_deref().map(JsonClient::new) else {
        return Ok((None, None));
    };
    tokio::select! {
        ready = client.wait_ready("/readyz", SUT_PATIENCE) => ready.map_err(|e| AggregatorError::SutNotReady {
            url: client.base().to_string(),
            patience: SUT_PATIENCE,
            reason: e.to_string(),
        })?,
        _ = shutdown.cancelled() => return Err(AggregatorError::InterruptedBeforeStart),
    }
    let before = sut_counters(&client).await;
    Ok((Some(client), before))
}

/// How the paced part of a run ended.
struct Paced {
    interrupted: bool,
    /// When Ctrl-C came, seconds after t0.
    cut_second: Option<f64>,
    /// The longest any sender said its report may take.
    sender_bound: Duration,
}

/// Every sender done, each within the bound it announced, then the drain.
async fn pace_and_drain(plan: &RunPlan, hub: &Arc<Hub>, shutdown: &CancellationToken) -> Paced {
    // When Ctrl-C came: the senders stop sending then (what is on the wire
    // still gets its answer, and the receivers serve until the finish).
    let cut_at = Arc::new(std::sync::OnceLock::new());
    let noted = {
        let (cut_at, shutdown, hub) = (cut_at.clone(), shutdown.clone(), hub.clone());
        tokio::spawn(async move {
            shutdown.cancelled().await;
            let _ = cut_at.set(unix_now_ns());
            // Roles on their own hear it in their next progress answer.
            hub.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        })
    };
    let bound = hub
        .roles
        .lock()
        .unwrap()
        .sender_report_within_ms
        .iter()
        .map(|&ms| Duration::from_millis(ms))
        .max()
        .unwrap_or(SENDER_BOUND);
    let senders_due = instant_at(plan.end_unix_ns()) + bound + SENDER_GRACE;
    wait_for(
        hub,
        shutdown,
        |h| h.sender_reports.len() >= plan.senders as usize,
        Some(senders_due),
    )
    .await;
    // The drain, counted from the later of the schedule's end and the last answer.
    let last = hub
        .roles
        .lock()
        .unwrap()
        .sender_reports
        .iter()
        .map(|r| r.last_exchange_unix_ns)
        .max()
        .unwrap_or(0);
    let drain_end = plan.end_unix_ns().max(last) + plan.drain_seconds as u64 * 1_000_000_000;
    tokio::select! {
        _ = tokio::time::sleep_until(instant_at(drain_end)) => {}
        _ = shutdown.cancelled() => {}
    }
    // A sender that never reported is named missing (no step is judged
    // then); the run itself was not cut unless Ctrl-C cut it.
    let interrupted = shutdown.is_cancelled();
    noted.abort();
    let cut_ns = cut_at.get().copied().unwrap_or_else(unix_now_ns);
    Paced {
        interrupted,
        cut_second: interrupted.then(|| (cut_ns as f64 - plan.t0() as f64) / 1e9),
        sender_bound: bound,
    }
}

/// Every receiver done, or gone: one not heard from for a while (killed,
/// its node lost) will not report.
async fn receivers_done(plan: &RunPlan, hub: &Arc<Hub>) {
    wait_for(
        hub,
        &CancellationToken::new(),
        |h| {
            let reading = hub
                .receiver_reports_reading
                .load(std::sync::atomic::Ordering::Relaxed);
            (0..plan.receivers).all(|i| {
                h.receiver_reports.iter().any(|r| r.index == i)
                    || (reading == 0 && h.receiver_gone(i, ROLE_SILENT))
            })
        },
        Some(tokio::time::Instant::now() + crate::server::REPORT_PATIENCE),
    )
    .await;
}

/// Writes the results folder. Whatever the disk does, the run's figures
/// come back (the table is printed from them); what could not be written
/// is said.
fn write(config: &AggregatorConfig, plan: &RunPlan, results: Results) -> Finished {
    let (dir, not_written) = match output::results_dir(&config.out, &plan.scenario) {
        Ok(dir) => {
            let failed = output::write(&dir, &results).err().map(|e| e.to_string());
            (dir, failed)
        }
        Err(e) => (
            config.out.clone(),
            Some(format!(
                "cannot make a results folder in {}: {e}",
                config.out.display()
            )),
        ),
    };
    Finished {
        results,
        dir,
        not_written,
    }
}

/// The SUT's counters, if it serves them.
async fn sut_counters(client: &JsonClient) -> Option<SutCounters> {
    client
        .get(
            brokerbench_core::session::path::COUNTERS,
            Duration::from_secs(5),
        )
        .await
        .ok()
}

/// An error and its causes, one after the other (`a: b: c`).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text += &format!(": {c}");
        cause = c.source();
    }
    text
}

/// Waits until `done` holds, at most until `deadline`; after `shutdown`,
/// at most [`CUT_PATIENCE`] more. Returns whether it held.
async fn wait_for(
    hub: &Hub,
    shutdown: &CancellationToken,
    done: impl Fn(&crate::server::Roles) -> bool,
    deadline: Option<tokio::time::Instant>,
) -> bool {
    let mut deadline = deadline;
    let mut cut = false;
    loop {
        if done(&hub.roles.lock().unwrap()) {
            return true;
        }
        if !cut && shutdown.is_cancelled() {
            cut = true;
            let patience = tokio::time::Instant::now() + CUT_PATIENCE;
            deadline = Some(deadline.map_or(patience, |d| d.min(patience)));
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

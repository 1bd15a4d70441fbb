//! The sender role end to end: plan, readiness, pacing, publishing, report.

use crate::config::{PacerMode, SenderConfig, SenderError};
use crate::encode::Encoder;
use crate::ledger::{Outcome, SenderLedger};
use crate::pacer::{self, Phase};
use crate::publisher::{self, Books, Publisher};
use crate::Job;
use brokerbench_core::client::{JsonClient, AGGREGATOR_PATIENCE};
use brokerbench_core::clock::unix_now_ns;
use brokerbench_core::cpu::ThreadCpu;
use brokerbench_core::host::{self, StealShares};
use brokerbench_core::plan::RunPlan;
use brokerbench_core::wire::{FailureReason, Ready, Role, SenderReport};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Where in each second roles sample their progress counters.
const PROGRESS_PHASE: Duration = Duration::from_millis(500);
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long a role waits for the start (every receiver ready).
const START_PATIENCE: Duration = Duration::from_secs(3600);

/// Runs one sender: takes the plan from the aggregator, opens its
/// connections, says it is ready, waits for the start, sends the warmup and
/// the schedule, and reports its ledger. `cpu` is the group of the runtime's
/// threads; the pacer thread joins it.
pub async fn run(
    config: SenderConfig,
    aggregator: JsonClient,
    cpu: ThreadCpu,
    shutdown: CancellationToken,
) -> Result<SenderReport, SenderError> {
    let plan: RunPlan = aggregator
        .get_patiently("/v1/plan", AGGREGATOR_PATIENCE)
        .await?;
    let kafka = match &config.kafka {
        Some(t) => Some((
            t.clone(),
            crate::kafka::producer(t, config.request_timeout).map_err(SenderError::Kafka)?,
        )),
        None => None,
    };
    let addr = match kafka {
        Some(_) => std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        None => publisher::resolve(&config.target.url, &config.target.authority).await?,
    };
    let encoder = Encoder::new(
        config.mode,
        &plan,
        config.index,
        &config.target.authority,
        &config.target.path,
    )?;
    let mut opening = JoinSet::new();
    for _ in 0..config.connections.max(1) * kafka.is_none() as usize {
        opening.spawn(brokerbench_core::conn::connect(addr));
    }
    let conns: Vec<_> = opening.join_all().await;

    let ready = Ready {
        role: Role::Sender,
        index: config.index,
        url: None,
    };
    let _: serde_json::Value = aggregator
        .post("/v1/ready", &ready, Duration::from_secs(10))
        .await?;
    let plan: RunPlan = tokio::select! {
        p = aggregator.get("/v1/start", START_PATIENCE) => p?,
        _ = shutdown.cancelled() => {
            let plan = RunPlan { t0_unix_ns: Some(unix_now_ns()), ..plan };
            return Ok(SenderLedger::new(&plan).into_report(config.index, cpu.total_ns(), true));
        }
    };

    let books = Arc::new(Books::new(SenderLedger::new(&plan)));
    let (tx, rx) = async_channel::unbounded();
    let mut workers = JoinSet::new();
    if let Some((target, producer)) = kafka {
        workers.spawn(crate::kafka::work(
            producer,
            target,
            Arc::new(encoder.clone()),
            books.clone(),
            rx.clone(),
            shutdown.clone(),
        ));
    }
    let publisher = Arc::new(Publisher {
        encoder,
        addr,
        timeout: config.request_timeout,
        faults: config.faults,
        shutdown: shutdown.clone(),
    });
    for conn in conns {
        let (p, b, q) = (publisher.clone(), books.clone(), rx.clone());
        workers.spawn(async move { p.work(&b, q, conn).await });
    }
    drop(rx);

    let steal = StealShares::default();
    let steal_sampler = tokio::spawn(host::sample_steal(plan.t0(), steal.clone()));
    let damon = host::DamonMeter::start();
    let progress = tokio::spawn(report_progress(
        aggregator.clone(),
        books.clone(),
        plan.clone(),
        config.index,
        steal.clone(),
    ));
    let completed = match config.pacer {
        PacerMode::Spin => {
            let release = releaser(books.clone(), tx, config.max_inflight);
            pacer::pace_spinning(&phases(&plan), &shutdown, release).await
        }
        PacerMode::Sleep => {
            let (b, c, s) = (books.clone(), cpu.clone(), shutdown.clone());
            pace_on_thread(&plan, &config, b, tx, c, s).await?
        }
    };
    workers.join_all().await;
    progress.abort();
    let _ = progress.await;

    let books = Arc::into_inner(books).expect("workers and pacer are done");
    let ledger = books.ledger.into_inner().unwrap();
    steal_sampler.abort();
    let mut report = ledger.into_report(config.index, cpu.total_ns(), !completed);
    report.host_steal_per_second = std::mem::take(&mut *steal.lock().unwrap());
    report.host_damon_cpu_ns = damon.used_ns();
    let _: serde_json::Value = aggregator
        .post("/v1/report/sender", &report, Duration::from_secs(60))
        .await?;
    Ok(report)
}

/// The warmup (if any), then the measured schedule.
fn phases(plan: &RunPlan) -> Vec<Phase> {
    let mut phases = Vec::new();
    if let Some(schedule) = plan.warmup_schedule() {
        phases.push(Phase {
            schedule,
            start_unix_ns: plan.warmup_start_unix_ns(),
            warmup: true,
        });
    }
    phases.push(Phase {
        schedule: plan.schedule.clone(),
        start_unix_ns: plan.t0(),
        warmup: false,
    });
    phases
}

/// What the pacer does with a due event: queue it for a connection, or
/// count it failed when the in-flight bound is reached. Never waits.
fn releaser(
    books: Arc<Books>,
    queue: async_channel::Sender<Job>,
    max_inflight: u64,
) -> impl FnMut(Job) {
    move |job| {
        if books.inflight.load(Ordering::Acquire) >= max_inflight {
            let reason = Outcome::Failed(FailureReason::InflightLimit);
            books.ledger.lock().unwrap().record(&job, None, reason);
        } else {
            books.inflight.fetch_add(1, Ordering::AcqRel);
            let _ = queue.try_send(job);
        }
    }
}

/// Runs the sleeping pacer on its own thread; returns whether it completed.
async fn pace_on_thread(
    plan: &RunPlan,
    config: &SenderConfig,
    books: Arc<Books>,
    queue: async_channel::Sender<Job>,
    cpu: ThreadCpu,
    stop: CancellationToken,
) -> Result<bool, SenderError> {
    let phases = phases(plan);
    let release = releaser(books, queue, config.max_inflight);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("bb-pacer".into())
        .spawn(move || {
            cpu.register_current();
            let completed = pacer::pace(&phases, &stop, release);
            cpu.retire_current();
            let _ = done_tx.send(completed);
        })
        .map_err(SenderError::Thread)?;
    Ok(done_rx.await.unwrap_or(false))
}

/// Posts running counters once a second.
async fn report_progress(
    aggregator: JsonClient,
    books: Arc<Books>,
    plan: RunPlan,
    index: u32,
    steal: StealShares,
) {
    // Sender and receiver sample at the same moments, so the aggregator's
    // line compares like with like.
    let mut tick =
        brokerbench_core::clock::aligned_ticker(plan.warmup_start_unix_ns(), PROGRESS_PHASE);
    loop {
        tick.tick().await;
        let second = plan.second_at(unix_now_ns()).saturating_sub(1);
        let mut p = books.ledger.lock().unwrap().progress(index, second);
        p.host_steal = host::latest(&steal);
        let _: Result<serde_json::Value, _> = aggregator
            .post("/v1/progress", &p, Duration::from_secs(2))
            .await;
    }
}

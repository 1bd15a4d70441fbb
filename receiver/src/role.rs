//! The receiver role end to end: plan, readiness, ledger, drain, report.

use crate::config::{ReceiverConfig, ReceiverError};
use crate::ledger::DeliveryLedger;
use crate::server::Sink;
use brokerbench_core::clock::unix_now_ns;
use brokerbench_core::cpu::ThreadCpu;
use brokerbench_core::host::HostWatch;
use brokerbench_core::plan::RunPlan;
use brokerbench_core::session::Session;
use brokerbench_core::wire::{Ready, ReceiverReport, Role};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long an interrupted receiver keeps serving, waiting for the
/// aggregator's finish.
const INTERRUPT_GRACE: Duration = Duration::from_secs(5);

/// Runs one receiver on `listener`: takes the plan, serves, says it is ready,
/// opens its ledger at the start, waits for the aggregator's finish (the
/// drain is over, or the run was interrupted), and reports its ledger.
pub async fn run(
    config: ReceiverConfig,
    listener: TcpListener,
    aggregator: Session,
    cpu: ThreadCpu,
    shutdown: CancellationToken,
) -> Result<ReceiverReport, ReceiverError> {
    let plan = aggregator.plan().await?;
    let local = listener.local_addr().map_err(ReceiverError::Listen)?;
    let sink = Arc::new(Sink::new(
        &plan.run_id,
        brokerbench_core::serve::body_limit(plan.payload_size),
        config.faults,
    ));
    let stop_serving = CancellationToken::new();
    let server = tokio::spawn(brokerbench_core::serve::serve(
        sink.clone(),
        listener,
        stop_serving.clone(),
        std::time::Duration::from_secs(1),
    ));

    // A Kafka receiver is ready once its consumer has its partitions.
    let stop_consuming = CancellationToken::new();
    let consuming = start_consuming(&config, &plan, &sink, &stop_consuming).await?;
    let url = config
        .advertise_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}/"));
    let ready = Ready {
        role: Role::Receiver,
        index: config.index,
        url: Some(url),
        report_within_ms: None,
    };
    aggregator.ready(&ready).await?;
    let plan: RunPlan = tokio::select! {
        p = aggregator.start() => p?,
        _ = shutdown.cancelled() => RunPlan { t0_unix_ns: Some(unix_now_ns()), ..plan },
    };
    let clock_start = match config.sync_clock && !shutdown.is_cancelled() {
        true => Some(aggregator.adopt_clock().await?),
        false => None,
    };
    // The clock followed during the run, every few seconds.
    let clock = aggregator.follow_clock(clock_start, config.clock_every);
    sink.start(DeliveryLedger::new(&plan), plan.t0(), &plan.faults);

    let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sampler = tokio::spawn(sample_cpu(cpu.clone(), plan.t0(), samples.clone()));
    let host = HostWatch::start(plan.t0());
    let progress = start_progress(&config, &aggregator, &sink, &plan, &host, &clock, &shutdown);
    let interrupted = tokio::select! {
        f = aggregator.finish() => f.map(|f| f.interrupted).unwrap_or(true),
        _ = shutdown.cancelled() => {
            // Events still on the wire get their answers: serve until the
            // aggregator's finish (it comes once the senders reported), for
            // at most a grace.
            let _ = tokio::time::timeout(INTERRUPT_GRACE, aggregator.finish()).await;
            true
        }
    };
    progress.abort();
    sampler.abort();
    stop_consuming.cancel();
    if let Some(task) = consuming {
        let _ = task.await;
    }
    stop_serving.cancel();
    let _ = server.await;

    let ledger = sink.take().unwrap_or_else(|| DeliveryLedger::new(&plan));
    let rejected = *sink.rejected.lock().unwrap();
    let mut report = ledger.into_report(config.index, rejected, cpu.total_ns(), interrupted);
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    report.cpu_per_second_ns = samples
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .collect();
    report.threads = config.threads.max(1);
    let clock = clock.report(&aggregator).await;
    report.host = host.finish(clock, config.node.clone());
    send_report(&config, &aggregator, plan, report).await
}

/// A Kafka receiver's consumer, once it has its partitions (`None` for
/// an HTTP receiver).
async fn start_consuming(
    config: &ReceiverConfig,
    plan: &RunPlan,
    sink: &Arc<Sink>,
    stop: &CancellationToken,
) -> Result<Option<tokio::task::JoinHandle<()>>, ReceiverError> {
    match &config.kafka {
        Some(source) => {
            let mut source = source.clone();
            if source.group.is_empty() {
                source.group = format!("brokerbench-receiver-{}", plan.run_id);
            }
            let consumer = Arc::new(crate::kafka::consumer(&source).map_err(ReceiverError::Kafka)?);
            let task = tokio::spawn(crate::kafka::consume(
                consumer.clone(),
                sink.clone(),
                plan.run_id.clone(),
                stop.clone(),
            ));
            if !crate::kafka::wait_assigned(&consumer, Duration::from_secs(60)).await {
                return Err(ReceiverError::Kafka(format!(
                    "no partitions of topic {:?} assigned within 60 s",
                    source.topic
                )));
            }
            Ok(Some(task))
        }
        None => Ok(None),
    }
}

/// The progress each second to the aggregator (and `/metrics`).
fn start_progress(
    config: &ReceiverConfig,
    aggregator: &Session,
    sink: &Arc<Sink>,
    plan: &RunPlan,
    host: &HostWatch,
    clock: &brokerbench_core::session::ClockFollower,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let (index, latest, sink) = (config.index, sink.latest.clone(), sink.clone());
    // A cut run comes as its finish; a gone aggregator stops it.
    aggregator.spawn_progress(
        plan,
        host.samples(),
        Some(latest),
        shutdown.clone(),
        config.keep_report.is_some(),
        clock.synced(),
        move |second| {
            let rejected = sink.rejected.lock().unwrap().total();
            let mut ledger = sink.ledger.lock().unwrap();
            ledger.as_mut().map(|l| l.progress(index, second, rejected))
        },
    )
}

/// Sends the report; one the aggregator did not take is kept in a file
/// with the run's plan, and the error says where.
async fn send_report(
    config: &ReceiverConfig,
    aggregator: &Session,
    plan: RunPlan,
    report: ReceiverReport,
) -> Result<ReceiverReport, ReceiverError> {
    if let Err(e) = aggregator.report_receiver(&report).await {
        let kept = brokerbench_core::session::KeptReport {
            plan,
            sender: None,
            receiver: Some(report),
        };
        return Err(crate::config::ReceiverError::ReportNotTaken {
            reason: e.to_string(),
            kept: kept.keep_at(config.keep_report.as_deref()),
        });
    }
    Ok(report)
}

/// Samples the receiver's CPU time at every whole second since `t0`.
async fn sample_cpu(cpu: ThreadCpu, t0: u64, samples: Arc<std::sync::Mutex<Vec<u64>>>) {
    let mut tick = brokerbench_core::clock::aligned_ticker(t0, Duration::ZERO);
    loop {
        tick.tick().await;
        samples.lock().unwrap().push(cpu.total_ns());
    }
}

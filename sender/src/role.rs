//! The sender role end to end: plan, connections, readiness, pacing,
//! publishing, a bounded drain, report.

use crate::config::{PacerMode, SenderConfig, SenderError};
use crate::encode::Encoder;
use crate::ledger::SenderLedger;
use crate::pacer::{self, Phase};
use crate::publisher::{self, Pool, Publisher, SharedLedger};
use crate::tls::Dialer;
use brokerbench_core::clock::unix_now_ns;
use brokerbench_core::conn::Conn;
use brokerbench_core::cpu::ThreadCpu;
use brokerbench_core::host::HostWatch;
use brokerbench_core::plan::RunPlan;
use brokerbench_core::session::Session;
use brokerbench_core::wire::{Connecting, Progress, Ready, Role, SenderReport};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Runs one sender: takes the plan from the aggregator, opens its
/// connections, says it is ready, waits for the start, sends the warmup and
/// the schedule, and reports its ledger. `cpu` is the group of the runtime's
/// threads; a sleeping pacer's thread joins it.
pub async fn run(
    config: SenderConfig,
    aggregator: Session,
    cpu: ThreadCpu,
    shutdown: CancellationToken,
) -> Result<SenderReport, SenderError> {
    let plan = aggregator.plan().await?;
    let (kafka, dialer, addr, encoder) = prepare(&config, &plan).await?;
    let interrupted = |plan: RunPlan| {
        let plan = RunPlan {
            t0_unix_ns: Some(unix_now_ns()),
            ..plan
        };
        Ok(SenderLedger::new(&plan, config.index).into_report(config.index, cpu.total_ns(), true))
    };
    let conns = match kafka {
        Some(_) => Vec::new(),
        None => match open_connections(&config, &dialer, addr, &aggregator, &shutdown).await? {
            Some(conns) => conns,
            None => return interrupted(plan),
        },
    };

    let ready = Ready {
        role: Role::Sender,
        index: config.index,
        url: None,
        report_within_ms: Some(config.report_within().as_millis() as u64),
    };
    aggregator.ready(&ready).await?;
    let plan: RunPlan = tokio::select! {
        p = aggregator.start() => p?,
        _ = shutdown.cancelled() => return interrupted(plan),
    };
    let clock_start = match config.sync_clock {
        true => Some(aggregator.adopt_clock().await?),
        false => None,
    };
    // The clock followed during the run, every few seconds.
    let clock = aggregator.follow_clock(clock_start, config.clock_every);

    let shared = Arc::new(SharedLedger::new(SenderLedger::new(&plan, config.index)));
    shared
        .ledger
        .lock()
        .unwrap()
        .initial_connections(conns.len() as u64);
    let publisher = Arc::new(Publisher {
        encoder: encoder.clone(),
        addr,
        dialer: dialer.clone(),
        connect_timeout: config.connect_timeout,
        request_timeout: config.request_timeout,
        faults: config.faults,
        shutdown: shutdown.clone(),
        drain_over: CancellationToken::new(),
    });
    let pool = make_pool(&config, kafka, encoder, conns, &shared, &publisher);
    let host = HostWatch::start(plan.t0());
    let progress = start_progress(
        &config,
        &aggregator,
        &shared,
        &plan,
        &host,
        &clock,
        &shutdown,
    );
    let (paced, pool) = match config.pacer {
        PacerMode::Spin => {
            let phases = phases(&plan, config.index);
            let paced = pacer::pace_spinning(&phases, &shutdown, |job| pool.release(job)).await;
            (paced, pool)
        }
        PacerMode::Sleep => {
            let phases = phases(&plan, config.index);
            pace_on_thread(phases, config.quantum, pool, cpu.clone(), shutdown.clone()).await?
        }
    };
    let completed = paced.completed;
    drain(pool, &publisher, config.request_timeout).await;
    progress.abort();
    let _ = progress.await;

    let ledger = std::mem::replace(
        &mut *shared.ledger.lock().unwrap(),
        SenderLedger::new(&plan, config.index),
    );
    let mut report = ledger.into_report(config.index, cpu.total_ns(), !completed);
    report.pacer_spin_ns = paced.spin.as_nanos() as u64;
    let clock = clock.report(&aggregator).await;
    report.host = host.finish(clock, config.node.clone());
    send_report(&config, &aggregator, plan, report).await
}

/// What publishing needs before any connection: the Kafka producer (for
/// a Kafka target), the dialer, the target's address and the encoder.
async fn prepare(
    config: &SenderConfig,
    plan: &RunPlan,
) -> Result<(Option<KafkaProducer>, Dialer, std::net::SocketAddr, Encoder), SenderError> {
    let kafka = match &config.kafka {
        Some(t) => Some((
            t.clone(),
            crate::kafka::producer(t, config.request_timeout).map_err(SenderError::Kafka)?,
        )),
        None => None,
    };
    let dialer = Dialer::new(
        config.tls.as_ref().filter(|_| config.target.secure),
        config.target.host(),
    )?;
    let addr = match kafka {
        Some(_) => std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        None => publisher::resolve(&config.target.url, &config.target.authority).await?,
    };
    let encoder = Encoder::new(
        config.mode,
        plan,
        config.index,
        &config.target.authority,
        &config.target.path,
    )?
    .with_headers(&config.headers);
    Ok((kafka, dialer, addr, encoder))
}

/// A Kafka target and its producer.
type KafkaProducer = (
    crate::config::KafkaTarget,
    rdkafka::producer::FutureProducer,
);

/// The pool the pacer releases into: HTTP connections, or the Kafka
/// producer's workers.
fn make_pool(
    config: &SenderConfig,
    kafka: Option<(
        crate::config::KafkaTarget,
        rdkafka::producer::FutureProducer,
    )>,
    encoder: Encoder,
    conns: Vec<Conn>,
    shared: &Arc<SharedLedger>,
    publisher: &Arc<Publisher>,
) -> Pool {
    match kafka {
        Some((target, producer)) => {
            let (b, p) = (shared.clone(), publisher.clone());
            Pool::consumed_by(
                shared.clone(),
                publisher.clone(),
                config.max_inflight,
                |jobs| crate::kafka::work(producer, target, Arc::new(encoder), b, jobs, p),
            )
        }
        None => Pool::new(
            publisher.clone(),
            shared.clone(),
            conns,
            config.max_connections,
            config.max_inflight,
        ),
    }
}

/// The progress each second to the aggregator (and `/metrics`).
fn start_progress(
    config: &SenderConfig,
    aggregator: &Session,
    shared: &Arc<SharedLedger>,
    plan: &RunPlan,
    host: &HostWatch,
    clock: &brokerbench_core::session::ClockFollower,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let (shared, index) = (shared.clone(), config.index);
    // A cut run (the aggregator stopped) stops the sender as Ctrl-C does.
    aggregator.spawn_progress(
        plan,
        host.samples(),
        config.metrics.clone(),
        shutdown.clone(),
        config.keep_report.is_some(),
        clock.synced(),
        move |second| Some(shared.ledger.lock().unwrap().progress(index, second)),
    )
}

/// The bounded drain: queued events get a request timeout to leave; what
/// has not left by then fails as cancelled.
async fn drain(pool: Pool, publisher: &Arc<Publisher>, timeout: Duration) {
    let workers = pool.close();
    let drain = {
        let p = publisher.clone();
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            p.drain_over.cancel();
        })
    };
    workers.wait().await;
    drain.abort();
}

/// Sends the report; one the aggregator did not take is kept in a file
/// with the run's plan, and the error says where.
async fn send_report(
    config: &SenderConfig,
    aggregator: &Session,
    plan: RunPlan,
    report: SenderReport,
) -> Result<SenderReport, SenderError> {
    if let Err(e) = aggregator.report_sender(&report).await {
        let kept = brokerbench_core::session::KeptReport {
            plan,
            sender: Some(report),
            receiver: None,
        };
        return Err(SenderError::ReportNotTaken {
            reason: e.to_string(),
            kept: kept.keep_at(config.keep_report.as_deref()),
        });
    }
    Ok(report)
}

/// Opens the initial connections within the connect timeout (trying again
/// while the target refuses), telling the aggregator how far it got each
/// second. `None` when interrupted.
async fn open_connections(
    config: &SenderConfig,
    dialer: &Dialer,
    addr: std::net::SocketAddr,
    aggregator: &Session,
    shutdown: &CancellationToken,
) -> Result<Option<Vec<Conn>>, SenderError> {
    let wanted = config.connections.max(1);
    let mut opening = JoinSet::new();
    // Why the last attempt failed, when TLS made it fail (a certificate
    // the sender does not trust is worth naming).
    let last_error: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    for _ in 0..wanted {
        // A target still starting refuses at first: try again until the
        // deadline.
        let (dialer, last_error) = (dialer.clone(), last_error.clone());
        opening.spawn(async move {
            loop {
                match dialer.dial(addr).await {
                    Ok(conn) => return conn,
                    Err(e) if e.starts_with("TLS") => *last_error.lock().unwrap() = Some(e),
                    Err(_) => {}
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
    let deadline = tokio::time::sleep(config.connect_timeout);
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut conns = Vec::with_capacity(wanted);
    loop {
        tokio::select! {
            opened = opening.join_next() => match opened {
                Some(Ok(conn)) => conns.push(conn),
                Some(Err(_)) => {}
                None => break,
            },
            _ = tick.tick() => {
                let p = Progress {
                    role: Some(Role::Sender),
                    index: config.index,
                    connecting: Some(Connecting {
                        open: conns.len() as u32,
                        wanted: wanted as u32,
                    }),
                    ..Progress::default()
                };
                aggregator.progress(&p).await;
            }
            _ = &mut deadline => break,
            _ = shutdown.cancelled() => return Ok(None),
        }
    }
    if conns.len() < wanted {
        let tls = last_error.lock().unwrap().take();
        return Err(match tls {
            Some(reason) => SenderError::Tls {
                url: config.target.url.clone(),
                reason,
            },
            None => SenderError::Connect {
                url: config.target.url.clone(),
                open: conns.len(),
                wanted,
                within: config.connect_timeout,
            },
        });
    }
    Ok(Some(conns))
}

/// The warmup (if any), then the measured schedule.
fn phases(plan: &RunPlan, index: u32) -> Vec<Phase> {
    let mut phases = Vec::new();
    if let Some(schedule) = plan.warmup_schedule() {
        phases.push(Phase {
            schedule,
            share: plan.share(index),
            start_unix_ns: plan.warmup_start_unix_ns(),
            warmup: true,
        });
    }
    phases.push(Phase {
        schedule: plan.schedule.clone(),
        share: plan.share(index),
        start_unix_ns: plan.t0(),
        warmup: false,
    });
    phases
}

/// Runs the sleeping pacer on its own thread; returns what it did, and the
/// pool back.
async fn pace_on_thread(
    phases: Vec<Phase>,
    quantum: Duration,
    pool: Pool,
    cpu: ThreadCpu,
    stop: CancellationToken,
) -> Result<(pacer::Paced, Pool), SenderError> {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("bb-pacer".into())
        .spawn(move || {
            cpu.register_current();
            let completed = pacer::pace(&phases, &stop, quantum, |job| pool.release(job));
            cpu.retire_current();
            let paced = pacer::Paced {
                completed,
                spin: Duration::ZERO,
            };
            let _ = done_tx.send((paced, pool));
        })
        .map_err(SenderError::Thread)?;
    Ok(done_rx.await.expect("the pacer thread sends its pool back"))
}

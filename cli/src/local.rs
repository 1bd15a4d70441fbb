//! `brokerbench run`: the whole scenario on this machine. The aggregator runs
//! on the caller's runtime; the receiver and the sender each get a runtime of
//! their own (so each role's CPU per event is measured apart), and they talk
//! to the aggregator over loopback HTTP with the same protocol as across pods.

use crate::config::LocalConfig;
use anyhow::Context;
use brokerbench_aggregator::plot::PlotOptions;
use brokerbench_aggregator::slo::Slo;
use brokerbench_aggregator::{AggregatorConfig, Finished};
use brokerbench_core::cpu::ThreadCpu;
use brokerbench_core::fault::FaultKind;
use brokerbench_core::session::Session;
use brokerbench_sender::config::Target;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Runs the scenario, prints the summary table; returns the exit code.
pub async fn run(config: LocalConfig, shutdown: CancellationToken) -> anyhow::Result<i32> {
    let (plot, slo) = (config.plot.clone(), config.slo.clone());
    let finished = run_local(config, shutdown).await?;
    Ok(conclude(&finished, plot.as_ref(), slo.as_ref()))
}

/// Profiles being captured while a run goes on.
struct Profiling {
    plan: crate::config::ProfilePlan,
    task: tokio::task::JoinHandle<Vec<crate::profiling::StepProfiles>>,
}

/// Prints the table, draws the graphs, checks the objectives; returns the
/// exit code: 130 when interrupted, 3 when an objective was missed, else 0.
pub fn conclude(finished: &Finished, plot: Option<&PlotOptions>, slo: Option<&Slo>) -> i32 {
    let summary = &finished.results.summary;
    let dir = finished.dir.display().to_string();
    // The table first, whatever the disk did.
    crate::emit(&brokerbench_aggregator::table::render(summary, &dir));
    let mut whole = true;
    if let Some(why) = &finished.not_written {
        eprintln!("brokerbench: error: the results folder is not whole: {why}");
        whole = false;
    }
    if let (Some(options), true) = (plot, whole) {
        whole = draw(&finished.dir, options);
    }
    let mut missed = false;
    if let Some(slo) = slo {
        for verdict in slo.check(summary) {
            println!("slo: {verdict}");
            missed |= !verdict.met;
        }
    }
    if !summary.missing_reports.is_empty() {
        crate::EXIT_MISSING_REPORT
    } else if summary.interrupted {
        crate::EXIT_INTERRUPTED
    } else if !whole {
        1
    } else if missed {
        crate::EXIT_SLO_MISSED
    } else {
        0
    }
}

/// Runs the scenario and returns its results (written to the results folder).
pub async fn run_local(
    config: LocalConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<Finished> {
    // Before the SUT or any role starts: results that could not be written
    // would lose the run.
    use brokerbench_aggregator::output::{check_room, expected_bytes};
    check_room(&config.out, expected_bytes(&config.plan))
        .with_context(|| format!("--out {}: cannot write results there", config.out.display()))?;
    let stop = shutdown.child_token();
    let role_error: Arc<Mutex<Option<anyhow::Error>>> = Arc::default();

    let agg_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("aggregator: cannot bind loopback")?;
    // The roles speak to the aggregator with the run's token.
    let token = brokerbench_core::session::new_token();
    let agg_url = format!("http://{}/?token={token}", agg_listener.local_addr()?);
    // A SUT to cut off the network runs in a namespace of its own: the
    // receiver then listens where it can reach it.
    let netns = match config
        .plan
        .faults
        .iter()
        .any(|f| f.kind == FaultKind::SutCut)
    {
        true => Some(Arc::new(crate::faults::Netns::create()?)),
        false => None,
    };
    let receiver_listen = match &netns {
        Some(ns) if config.receiver_listen.ip().is_loopback() => {
            std::net::SocketAddr::from((ns.host_ip, config.receiver_listen.port()))
        }
        _ => config.receiver_listen,
    };
    let recv_listener = std::net::TcpListener::bind(receiver_listen)
        .with_context(|| format!("receiver: cannot listen on {receiver_listen}"))?;
    recv_listener.set_nonblocking(true)?;
    let receiver_url = format!("http://{}/", recv_listener.local_addr()?);
    // A Kafka SUT's broker and topic, before any runtime starts (so an
    // unreachable cluster is a plain error). A local broker listens where
    // a SUT in a namespace of its own reaches it.
    let topic = match (config.sut.on_kafka(), &config.external) {
        (true, None) => {
            let ip = netns
                .as_ref()
                .map_or(std::net::Ipv4Addr::LOCALHOST, |ns| ns.host_ip);
            let name = format!("brokerbench-{}", config.plan.run_id);
            Some(Arc::new(config.kafka.topic_on(&name, ip).await?))
        }
        _ => None,
    };
    // The SUT, on a runtime of its own, delivering to the receiver (a
    // Kafka SUT on the run's topic; a source is fed by the sender). A
    // fault that kills or pauses it makes it a process of its own.
    let mut sut_url = config.sut_url.clone();
    // Only the run's timeline may tell its SUT to inject faults.
    let fault_token = brokerbench_core::session::new_token();
    let mut sut = None;
    let mut sut_process = None;
    let mut sender_config = config.sender.clone();
    if let Some(imc) = &config.imc {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").context("SUT: cannot bind loopback")?;
        let url = format!("http://{}", listener.local_addr()?);
        if let (Some(t), false) = (&topic, config.sut.spec().ingress) {
            sender_config.kafka = Some(brokerbench_sender::config::KafkaTarget {
                bootstrap: t.bootstrap.clone(),
                topic: t.name.clone(),
                settings: config.kafka.settings.clone(),
            });
        }
        let mut url = url;
        if config.plan.faults.iter().any(|f| f.kind.sut_apart()) {
            let listen = match &netns {
                // A fresh namespace: any port is free there.
                Some(ns) => std::net::SocketAddr::from((ns.sut_ip, 8080)),
                None => listener.local_addr()?,
            };
            let spec = crate::faults::ChildSpec {
                listen,
                receiver_url: receiver_url.clone(),
                kafka: topic
                    .as_ref()
                    .map(|t| (t.bootstrap.clone(), t.name.clone())),
                fault_token: fault_token.clone(),
            };
            drop(listener);
            let p = crate::faults::SutProcess::start(spec, netns.as_deref()).await?;
            url = p.url.clone();
            sut_process = Some(Arc::new(p));
        } else {
            listener.set_nonblocking(true)?;
            let topic = topic
                .as_ref()
                .map(|t| (t.bootstrap.clone(), t.name.clone()));
            sut = Some(start_sut(
                &config,
                &imc.with_fault_token(&fault_token),
                &receiver_url,
                topic,
                listener,
                None,
                stop.clone(),
            )?);
        }
        sut_url = Some(url);
    }
    let target = match (&config.external, &sut_url) {
        (Some(t), _) => t.clone(),
        (None, Some(url)) if sut.is_some() || sut_process.is_some() => {
            Target::parse(&format!("{url}/"))?
        }
        _ => Target::parse(&brokerbench_sut::direct::target_url(&receiver_url))?,
    };

    let recv_cpu = ThreadCpu::default();
    let recv_rt = recv_cpu.runtime(config.receiver_threads, "bb-receiver")?;
    let send_cpu = ThreadCpu::default();
    let send_rt = send_cpu.runtime(config.sender.threads, "bb-sender")?;
    if let Some(note) = &config.sender.pacer_note {
        eprintln!("{note}");
    }

    let (client, s) = (Session::new(&agg_url), stop.clone());
    let receiver_config = config.receiver.clone();
    let receiver = recv_rt.spawn(async move {
        let listener = TcpListener::from_std(recv_listener)?;
        brokerbench_receiver::run(receiver_config, listener, client, recv_cpu, s).await?;
        anyhow::Ok(())
    });
    watch("receiver", receiver, stop.clone(), role_error.clone());
    let (client, s) = (Session::new(&agg_url), stop.clone());
    let sender_config = brokerbench_sender::SenderConfig {
        target,
        ..sender_config
    };
    let sender = send_rt.spawn(async move {
        brokerbench_sender::run(sender_config, client, send_cpu, s).await?;
        anyhow::Ok(())
    });
    watch("sender", sender, stop.clone(), role_error.clone());

    let profiles_stop = CancellationToken::new();
    let _stop_profiles = profiles_stop.clone().drop_guard();
    let profiling = match &config.profile {
        Some(plan) => {
            // The endpoints outlive the run: a capture may still be
            // symbolising when the drain ends.
            let addr =
                crate::serve_profiles(([127, 0, 0, 1], 0).into(), profiles_stop.clone()).await?;
            let task = tokio::spawn(crate::profiling::capture_steps(
                Session::new(&agg_url),
                format!("http://{addr}"),
                plan.clone(),
            ));
            Some(Profiling {
                plan: plan.clone(),
                task,
            })
        }
        None => None,
    };
    let aggregator = AggregatorConfig {
        plan: config.plan.clone(),
        out: config.out.clone(),
        progress: config.progress,
        sut: sut_url.clone(),
        token: Some(token),
        // The roles are this process's: each fails on its own deadline.
        start_timeout: None,
    };
    // The faults the receiver does not apply itself, at their times.
    let timeline = (!config.plan.faults.is_empty()).then(|| {
        let (session, faults, s) = (
            Session::new(&agg_url),
            config.plan.faults.clone(),
            stop.clone(),
        );
        let targets = crate::faults::Targets {
            sut_url: sut_url
                .as_ref()
                .map(|u| format!("{u}/?token={fault_token}")),
            sut: sut_process.clone(),
            netns: netns.clone(),
            kafka: topic.clone().map(|t| (t, config.kafka.clone())),
        };
        tokio::spawn(async move {
            let started = tokio::select! {
                plan = session.start() => plan.map_err(|e| e.to_string()),
                _ = s.cancelled() => Err("the run ended before it started".to_string()),
            };
            match started {
                Ok(plan) => crate::faults::run_timeline(faults, plan.t0(), targets, s).await,
                Err(why) => crate::faults::not_applied(&faults, &why),
            }
        })
    });
    let result = brokerbench_aggregator::run(aggregator, agg_listener, stop.clone()).await;
    stop.cancel();
    send_rt.shutdown_background();
    recv_rt.shutdown_background();
    let applied = match timeline {
        Some(t) => t.await.unwrap_or_default(),
        None => Vec::new(),
    };
    if let Some((rt, done)) = sut {
        // The SUT drains what it holds (bounded by its grace), then stops.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), done).await;
        rt.shutdown_background();
    }
    if let Some(p) = &sut_process {
        p.stop(std::time::Duration::from_secs(10)).await;
    }
    drop(topic);
    if let Some(e) = role_error.lock().unwrap().take() {
        return Err(e);
    }
    let mut finished = result?;
    note_faults(&mut finished, &applied);
    if let Some(p) = profiling {
        // Captures end with the last step profiled; symbolising a heap
        // profile can outlast the drain, so wait for it (not after Ctrl-C).
        let patience = if finished.results.summary.interrupted {
            p.task.abort();
            std::time::Duration::from_secs(1)
        } else {
            std::time::Duration::from_secs(30)
        };
        let captured = match tokio::time::timeout(patience, p.task).await {
            Ok(Ok(c)) => c,
            _ => Vec::new(),
        };
        match crate::profiling::write(&finished.dir, &finished.results.summary, &p.plan, &captured)
        {
            Ok(files) => eprintln!("profiles: {}", files.join(", ")),
            Err(e) => eprintln!("brokerbench: profiles not written: {e:#}"),
        }
    }
    Ok(finished)
}

/// Starts the SUT of `imc` on a runtime of its own, delivering to the
/// receiver at `receiver_url` (a Kafka SUT on the topic `(bootstrap,
/// name)`); it stops on `stop`.
type InProcessSut = (
    tokio::runtime::Runtime,
    tokio::task::JoinHandle<anyhow::Result<brokerbench_core::wire::SutCounters>>,
);

fn start_sut(
    config: &LocalConfig,
    imc: &crate::config::LocalImc,
    receiver_url: &str,
    topic: Option<(String, String)>,
    listener: std::net::TcpListener,
    instance: Option<String>,
    stop: CancellationToken,
) -> anyhow::Result<InProcessSut> {
    let cpu = ThreadCpu::default();
    let rt = cpu.runtime(imc.fan_out.sut_threads.max(1), "bb-sut")?;
    let mut sut_config = imc.config.clone();
    sut_config.routes = imc
        .fan_out
        .routes(sut_config.routing(), receiver_url, &imc.delivery);
    let kafka = topic.map(|(bootstrap, name)| {
        let t = brokerbench_sut::kafka::topic::KafkaTopic {
            bootstrap,
            name,
            local: None,
        };
        brokerbench_sut::kafka::plane::KafkaPlaneConfig {
            instance: instance.clone(),
            ..config.kafka.plane(&t, &sut_config)
        }
    });
    let done = rt.spawn(async move {
        let listener = TcpListener::from_std(listener)?;
        let running = brokerbench_sut::start(sut_config, kafka, listener, cpu, stop)?;
        anyhow::Ok(running.done.await?)
    });
    Ok((rt, done))
}

/// `brokerbench run` as the SUT process of a run with SUT faults: the
/// run's command line, told by [`crate::faults::SUT_CHILD_ENV`] where to
/// listen and deliver; serves until SIGTERM.
pub async fn sut_child(
    config: LocalConfig,
    spec: crate::faults::ChildSpec,
    shutdown: CancellationToken,
) -> anyhow::Result<i32> {
    let imc = config
        .imc
        .as_ref()
        .context("this run has no SUT to start")?;
    let listener = std::net::TcpListener::bind(spec.listen)
        .with_context(|| format!("SUT: cannot listen on {}", spec.listen))?;
    listener.set_nonblocking(true)?;
    let (rt, done) = start_sut(
        &config,
        &imc.with_fault_token(&spec.fault_token),
        &spec.receiver_url,
        spec.kafka.clone(),
        listener,
        // The same static group members after a restart.
        Some(spec.listen.port().to_string()),
        shutdown,
    )?;
    let ended = done.await;
    rt.shutdown_background();
    match ended {
        Ok(Ok(_)) => Ok(0),
        Ok(Err(e)) => Err(e.context("the SUT process")),
        Err(e) => Err(anyhow::anyhow!("the SUT process crashed: {e}")),
    }
}

/// Marks in the results the faults that could not be applied, and writes
/// `summary.json` and the report again if any.
fn note_faults(finished: &mut Finished, applied: &[crate::faults::Applied]) {
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

/// Stops the run and keeps the error if a role fails or panics.
fn watch(
    role: &'static str,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    stop: CancellationToken,
    errors: Arc<Mutex<Option<anyhow::Error>>>,
) {
    tokio::spawn(async move {
        let error = match task.await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.context(role),
            Err(e) => anyhow::anyhow!("{role} crashed: {e}"),
        };
        errors.lock().unwrap().get_or_insert(error);
        stop.cancel();
    });
}

/// Draws the graphs of a finished run; a missing gnuplot is one line, not an error.
/// Draws the graphs; false when one failed (a graph not written whole is
/// an error; no gnuplot is a note: nothing was attempted).
pub fn draw(dir: &std::path::Path, options: &brokerbench_aggregator::plot::PlotOptions) -> bool {
    use brokerbench_aggregator::plot::PlotError;
    match brokerbench_aggregator::plot::plot(dir, options) {
        Ok(files) => {
            let names: Vec<_> = files
                .iter()
                .filter_map(|f| f.file_name())
                .map(|n| n.to_string_lossy())
                .collect();
            println!("graphs: {}", names.join(", "));
            true
        }
        Err(e @ PlotError::NoGnuplot(_)) => {
            eprintln!("brokerbench: {e}");
            true
        }
        Err(e) => {
            eprintln!("brokerbench: error: {e}");
            false
        }
    }
}

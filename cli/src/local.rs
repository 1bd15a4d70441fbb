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
    print!("{}", brokerbench_aggregator::table::render(summary, &dir));
    if let Some(options) = plot {
        draw(&finished.dir, options);
    }
    let mut missed = false;
    if let Some(slo) = slo {
        for verdict in slo.check(summary) {
            println!("slo: {verdict}");
            missed |= !verdict.met;
        }
    }
    if summary.interrupted {
        crate::EXIT_INTERRUPTED
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
    let stop = shutdown.child_token();
    let role_error: Arc<Mutex<Option<anyhow::Error>>> = Arc::default();

    let agg_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("aggregator: cannot bind loopback")?;
    let agg_url = format!("http://{}", agg_listener.local_addr()?);
    let recv_listener = std::net::TcpListener::bind(config.receiver_listen)
        .with_context(|| format!("receiver: cannot listen on {}", config.receiver_listen))?;
    recv_listener.set_nonblocking(true)?;
    let receiver_url = format!("http://{}/", recv_listener.local_addr()?);
    // A Kafka SUT's broker and topic, before any runtime starts (so an
    // unreachable cluster is a plain error).
    let topic = match (config.sut.on_kafka(), &config.external) {
        (true, None) => Some(
            config
                .kafka
                .topic(&format!("brokerbench-{}", config.plan.run_id))
                .await?,
        ),
        _ => None,
    };
    // The SUT, on a runtime of its own, delivering to the receiver (a
    // Kafka SUT on the run's topic; a source is fed by the sender).
    let mut sut_url = config.sut_url.clone();
    let mut sut = None;
    let mut sender_config = config.sender.clone();
    if let Some(imc) = &config.imc {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").context("SUT: cannot bind loopback")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let cpu = ThreadCpu::default();
        let rt = cpu.runtime(imc.fan_out.sut_threads.max(1), "bb-sut")?;
        let mut sut_config = imc.config.clone();
        sut_config.routes = imc
            .fan_out
            .routes(sut_config.routing(), &receiver_url, &imc.delivery);
        if let (Some(t), false) = (&topic, config.sut.spec().ingress) {
            sender_config.kafka = Some(brokerbench_sender::config::KafkaTarget {
                bootstrap: t.bootstrap.clone(),
                topic: t.name.clone(),
                settings: config.kafka.settings.clone(),
            });
        }
        let kafka = topic.as_ref().map(|t| config.kafka.plane(t, &sut_config));
        let s = stop.clone();
        let done = rt.spawn(async move {
            let listener = TcpListener::from_std(listener)?;
            let running = brokerbench_sut::start(sut_config, kafka, listener, cpu, s)?;
            anyhow::Ok(running.done.await?)
        });
        sut_url = Some(url);
        sut = Some((rt, done));
    }
    let target = match (&config.external, &sut_url) {
        (Some(t), _) => t.clone(),
        (None, Some(url)) if sut.is_some() => Target::parse(&format!("{url}/"))?,
        _ => Target::parse(&brokerbench_sut::direct::target_url(&receiver_url))?,
    };

    let recv_cpu = ThreadCpu::default();
    let recv_rt = recv_cpu.runtime(config.receiver_threads, "bb-receiver")?;
    let send_cpu = ThreadCpu::default();
    let send_rt = send_cpu.runtime(config.sender.threads, "bb-sender")?;

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
        sut: sut_url,
    };
    let result = brokerbench_aggregator::run(aggregator, agg_listener, stop.clone()).await;
    stop.cancel();
    send_rt.shutdown_background();
    recv_rt.shutdown_background();
    if let Some((rt, done)) = sut {
        // The SUT drains what it holds (bounded by its grace), then stops.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), done).await;
        rt.shutdown_background();
    }
    drop(topic);
    if let Some(e) = role_error.lock().unwrap().take() {
        return Err(e);
    }
    let finished = result?;
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
pub fn draw(dir: &std::path::Path, options: &brokerbench_aggregator::plot::PlotOptions) {
    match brokerbench_aggregator::plot::plot(dir, options) {
        Ok(files) => {
            let names: Vec<_> = files
                .iter()
                .filter_map(|f| f.file_name())
                .map(|n| n.to_string_lossy())
                .collect();
            println!("graphs: {}", names.join(", "));
        }
        Err(e) => eprintln!("brokerbench: {e}"),
    }
}

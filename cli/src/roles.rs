//! The standalone roles, for separate hosts or pods.

use crate::config::{AggregatorRoleConfig, ReceiverRoleConfig, SenderRoleConfig, SutRoleConfig};
use anyhow::Context;
use brokerbench_core::cpu::ThreadCpu;
use brokerbench_core::session::Session;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// `brokerbench sender`.
pub async fn sender(c: SenderRoleConfig, shutdown: CancellationToken) -> anyhow::Result<i32> {
    c.clock_faults.apply();
    let stop_metrics = CancellationToken::new();
    let _stop_metrics = stop_metrics.clone().drop_guard();
    if let (Some(addr), Some(latest)) = (c.metrics_listen, &c.sender.metrics) {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (--metrics-listen)"))?;
        eprintln!("metrics on http://{}/metrics", listener.local_addr()?);
        tokio::spawn(brokerbench_core::serve::serve(
            latest.clone(),
            listener,
            stop_metrics,
            std::time::Duration::from_millis(100),
        ));
    }
    if let Some(note) = &c.sender.pacer_note {
        eprintln!("{note}");
    }
    let cpu = ThreadCpu::default();
    let client = Session::new(&c.aggregator);
    let rt = cpu.runtime(c.sender.threads, "bb-sender")?;
    let task = rt.spawn(brokerbench_sender::run(c.sender, client, cpu, shutdown));
    let report = task.await?;
    rt.shutdown_background();
    let r = report?;
    eprintln!(
        "sender {}: sent {}, accepted {}, failed {}{}",
        r.index,
        r.released,
        r.accepted.count(),
        r.failed.total(),
        if r.interrupted { " (interrupted)" } else { "" }
    );
    print_clock(r.host.clock);
    Ok(if r.interrupted {
        crate::EXIT_INTERRUPTED
    } else {
        0
    })
}

/// `brokerbench receiver`.
pub async fn receiver(c: ReceiverRoleConfig, shutdown: CancellationToken) -> anyhow::Result<i32> {
    c.clock_faults.apply();
    let listener = std::net::TcpListener::bind(c.listen)
        .with_context(|| format!("cannot listen on {}", c.listen))?;
    listener.set_nonblocking(true)?;
    let cpu = ThreadCpu::default();
    let client = Session::new(&c.aggregator);
    let rt = cpu.runtime(c.threads, "bb-receiver")?;
    let task = rt.spawn(async move {
        let listener = TcpListener::from_std(listener)?;
        anyhow::Ok(brokerbench_receiver::run(c.receiver, listener, client, cpu, shutdown).await?)
    });
    let report = task.await?;
    rt.shutdown_background();
    let r = report?;
    let unique: u64 = r.received.iter().map(|b| b.count()).sum();
    eprintln!(
        "receiver {}: delivered {unique}, duplicates {}, rejected {}{}",
        r.index,
        r.duplicates,
        r.rejected.total(),
        if r.interrupted { " (interrupted)" } else { "" }
    );
    print_clock(r.host.clock);
    Ok(if r.interrupted {
        crate::EXIT_INTERRUPTED
    } else {
        0
    })
}

/// How a role's clock stood against the aggregator's at the start and the end.
fn print_clock(clock: Option<brokerbench_core::wire::ClockReport>) {
    let Some(c) = clock else { return };
    let ms = |ns: i64| ns as f64 / 1e6;
    eprintln!(
        "clock: {:+.3} ms ± {:.3} ms from the aggregator's at the start{}{}",
        ms(c.start.offset_ns),
        ms(c.start.uncertainty_ns as i64),
        if c.start.applied {
            ", corrected"
        } else {
            " (within the uncertainty: not corrected)"
        },
        c.end
            .map(|e| format!(
                "; {:+.3} ms at the end (drift {:+.3} ms)",
                ms(e.offset_ns),
                ms(e.offset_ns - c.start.offset_ns)
            ))
            .unwrap_or_default()
    );
}

/// `brokerbench aggregator`.
pub async fn aggregator(
    c: AggregatorRoleConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<i32> {
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
            crate::local::conclude(finished, c.plot.as_ref(), c.slo.as_ref()),
        ),
        Err(_) if never_ran => (None, crate::EXIT_INTERRUPTED),
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

/// `brokerbench sut`.
pub async fn sut(c: SutRoleConfig, shutdown: CancellationToken) -> anyhow::Result<i32> {
    let listener = std::net::TcpListener::bind(c.listen)
        .with_context(|| format!("cannot listen on {}", c.listen))?;
    listener.set_nonblocking(true)?;
    let cpu = ThreadCpu::default();
    // A Kafka SUT: its topic, on a local broker unless --kafka-bootstrap.
    let topic = match &c.kafka {
        Some((settings, name)) => Some(settings.topic(name).await?),
        None => None,
    };
    let kafka = match (&c.kafka, &topic) {
        (Some((settings, _)), Some(t)) => Some(settings.plane(t, &c.imc)),
        _ => None,
    };
    let rt = cpu.runtime(c.threads, "bb-sut")?;
    let name = c.imc.sut;
    if let Some(t) = &topic {
        eprintln!("topic {} on {}", t.name, t.bootstrap);
    }
    eprintln!(
        "{name} on http://{}/ with {} route(s): {}",
        listener.local_addr()?,
        c.imc.routes.len(),
        c.imc
            .routes
            .iter()
            .map(|r| format!("{} -> {}", r.name, r.subscriber))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let task = rt.spawn(async move {
        let listener = TcpListener::from_std(listener)?;
        let running = brokerbench_sut::start(c.imc, kafka, listener, cpu, shutdown)?;
        anyhow::Ok(running.done.await?)
    });
    let end = task.await??;
    rt.shutdown_background();
    drop(topic);
    eprintln!(
        "{name}: accepted {}, delivered {}, retried {}, dead-lettered {}, dropped {}, rejected {}, backpressured {}",
        end.accepted, end.delivered, end.retried, end.dead_lettered, end.dropped, end.rejected, end.backpressured
    );
    Ok(0)
}

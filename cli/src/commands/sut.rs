//! `brokerbench sut`: the suite's own SUT on its own, for a host or pod.

use crate::config::SutRoleConfig;
use anyhow::Context;
use brokerbench_core::cpu::ThreadCpu;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// `brokerbench sut`.
pub async fn run(c: SutRoleConfig, shutdown: CancellationToken) -> anyhow::Result<i32> {
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

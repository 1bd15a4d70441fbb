//! `brokerbench receiver`: the receiver on its own, for a host or pod.

use crate::commands::clock::print_clock;
use crate::config::ReceiverRoleConfig;
use anyhow::Context;
use brokerbench_aggregator::conclude::EXIT_INTERRUPTED;
use brokerbench_core::cpu::ThreadCpu;
use brokerbench_core::session::Session;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// `brokerbench receiver`.
pub async fn run(c: ReceiverRoleConfig, shutdown: CancellationToken) -> anyhow::Result<i32> {
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
    Ok(if r.interrupted { EXIT_INTERRUPTED } else { 0 })
}

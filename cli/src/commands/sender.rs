//! `brokerbench sender`: the sender on its own, for a host or pod.

use crate::commands::clock::print_clock;
use crate::config::SenderRoleConfig;
use anyhow::Context;
use brokerbench_aggregator::conclude::EXIT_INTERRUPTED;
use brokerbench_core::cpu::ThreadCpu;
use brokerbench_core::session::Session;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// `brokerbench sender`.
pub async fn run(c: SenderRoleConfig, shutdown: CancellationToken) -> anyhow::Result<i32> {
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
    Ok(if r.interrupted { EXIT_INTERRUPTED } else { 0 })
}

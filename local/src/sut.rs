//! The suite's own SUT in a local run: on a runtime of its own in the
//! run's process, or as the run's SUT process (`sut_child`).

use crate::config::{LocalConfig, LocalImc};
use crate::faults::process::ChildSpec;
use anyhow::Context;
use brokerbench_core::cpu::ThreadCpu;
use brokerbench_core::wire::SutCounters;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A SUT on a runtime of its own, and the task that ends with its counters.
pub type InProcessSut = (
    tokio::runtime::Runtime,
    tokio::task::JoinHandle<anyhow::Result<SutCounters>>,
);

/// Starts the SUT of `imc` on a runtime of its own, delivering to the
/// receiver at `receiver_url` (a Kafka SUT on the topic `(bootstrap,
/// name)`); it stops on `stop`.
pub fn start_sut(
    config: &LocalConfig,
    imc: &LocalImc,
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
/// run's command line, told by
/// [`SUT_CHILD_ENV`](crate::faults::process::SUT_CHILD_ENV) where to
/// listen and deliver; serves until SIGTERM.
pub async fn sut_child(
    config: LocalConfig,
    spec: ChildSpec,
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

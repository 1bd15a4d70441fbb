//! The stage that starts the roles: the receiver and the sender, each on a
//! runtime of its own (so each role's CPU per event is measured apart),
//! talking to the aggregator over loopback HTTP with the same protocol as
//! across pods.

use crate::config::LocalConfig;
use crate::plane::Plane;
use anyhow::Context;
use brokerbench_core::cpu::ThreadCpu;
use brokerbench_core::session::Session;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

/// The running roles, and the first error one of them ended with.
pub struct Roles {
    sender: Runtime,
    receiver: Runtime,
    error: Arc<Mutex<Option<anyhow::Error>>>,
}

impl Roles {
    /// Starts the receiver on the plane's listener and the sender towards
    /// its target, both reporting to `aggregator`; a role that fails stops
    /// the run (`stop`) and its error is kept.
    pub fn start(
        config: &LocalConfig,
        plane: &mut Plane,
        aggregator: &str,
        stop: &CancellationToken,
    ) -> anyhow::Result<Roles> {
        let error: Arc<Mutex<Option<anyhow::Error>>> = Arc::default();
        let recv_cpu = ThreadCpu::default();
        let receiver = recv_cpu.runtime(config.receiver_threads, "bb-receiver")?;
        let send_cpu = ThreadCpu::default();
        let sender = send_cpu.runtime(config.sender.threads, "bb-sender")?;
        if let Some(note) = &config.sender.pacer_note {
            eprintln!("{note}");
        }
        let listener = plane
            .receiver
            .take()
            .context("the receiver's listener is taken")?;
        let (client, s, c) = (
            Session::new(aggregator),
            stop.clone(),
            config.receiver.clone(),
        );
        let task = receiver.spawn(async move {
            let listener = TcpListener::from_std(listener)?;
            brokerbench_receiver::run(c, listener, client, recv_cpu, s).await?;
            anyhow::Ok(())
        });
        watch("receiver", task, stop.clone(), error.clone());
        let (client, s) = (Session::new(aggregator), stop.clone());
        let c = brokerbench_sender::SenderConfig {
            target: plane.target.clone(),
            kafka: plane.kafka_target.clone().or(config.sender.kafka.clone()),
            ..config.sender.clone()
        };
        let task = sender.spawn(async move {
            brokerbench_sender::run(c, client, send_cpu, s).await?;
            anyhow::Ok(())
        });
        watch("sender", task, stop.clone(), error.clone());
        Ok(Roles {
            sender,
            receiver,
            error,
        })
    }

    /// Stops both runtimes; the error a role ended with, if one did.
    pub fn stop(self) -> Option<anyhow::Error> {
        self.sender.shutdown_background();
        self.receiver.shutdown_background();
        self.error.lock().unwrap().take()
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

//! The stage that starts the SUT: where the receiver listens, the Kafka
//! SUT's topic, the SUT itself (on a runtime of its own, or as a process of
//! its own when a fault kills or pauses it, in a network namespace when one
//! cuts it off), and the target the sender publishes to.

use crate::config::LocalConfig;
use crate::faults::netns::Netns;
use crate::faults::process::{ChildSpec, SutProcess};
use crate::faults::timeline::Targets;
use crate::sut::{start_sut, InProcessSut};
use anyhow::Context;
use brokerbench_core::fault::FaultKind;
use brokerbench_sender::config::{KafkaTarget, Target};
use brokerbench_sut::kafka::topic::KafkaTopic;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What a run's events go through, up to the receiver's socket.
pub struct Plane {
    /// The receiver's listener (bound before anything is told its
    /// address), until the receiver takes it.
    pub receiver: Option<TcpListener>,
    pub receiver_url: String,
    /// The SUT's base URL (readiness, counters, faults), if there is one.
    pub sut_url: Option<String>,
    /// Where the sender publishes.
    pub target: Target,
    /// The sender's Kafka producer target, for a SUT fed from a topic.
    pub kafka_target: Option<KafkaTarget>,
    /// Who may tell the SUT to inject faults.
    pub fault_token: String,
    netns: Option<Arc<Netns>>,
    topic: Option<Arc<KafkaTopic>>,
    in_process: Option<InProcessSut>,
    process: Option<Arc<SutProcess>>,
}

impl Plane {
    /// Starts what the run needs before its roles: the namespace, the
    /// receiver's socket, the topic, then the SUT. A SUT is ready when
    /// this returns, or an error says why not.
    pub async fn start(config: &LocalConfig, stop: CancellationToken) -> anyhow::Result<Plane> {
        // A SUT to cut off the network runs in a namespace of its own: the
        // receiver then listens where it can reach it.
        let cut = config
            .plan
            .faults
            .iter()
            .any(|f| f.kind == FaultKind::SutCut);
        let netns = match cut {
            true => Some(Arc::new(Netns::create()?)),
            false => None,
        };
        let receiver_listen = match &netns {
            Some(ns) if config.receiver_listen.ip().is_loopback() => {
                SocketAddr::from((ns.host_ip, config.receiver_listen.port()))
            }
            _ => config.receiver_listen,
        };
        let receiver = TcpListener::bind(receiver_listen)
            .with_context(|| format!("receiver: cannot listen on {receiver_listen}"))?;
        receiver.set_nonblocking(true)?;
        let receiver_url = format!("http://{}/", receiver.local_addr()?);
        // A Kafka SUT's broker and topic, before any runtime starts (so an
        // unreachable cluster is a plain error). A local broker listens
        // where a SUT in a namespace of its own reaches it.
        let topic = match (config.sut.on_kafka(), &config.external) {
            (true, None) => {
                let ip = netns.as_ref().map_or(Ipv4Addr::LOCALHOST, |ns| ns.host_ip);
                let name = format!("brokerbench-{}", config.plan.run_id);
                Some(Arc::new(config.kafka.topic_on(&name, ip).await?))
            }
            _ => None,
        };
        let mut plane = Plane {
            receiver: Some(receiver),
            receiver_url,
            sut_url: config.sut_url.clone(),
            target: Target::parse("http://127.0.0.1:1/")?,
            kafka_target: None,
            // Only the run's timeline may tell its SUT to inject faults.
            fault_token: brokerbench_core::session::new_token(),
            netns,
            topic,
            in_process: None,
            process: None,
        };
        plane.start_sut(config, stop).await?;
        plane.target = match (&config.external, &plane.sut_url) {
            (Some(t), _) => t.clone(),
            (None, Some(url)) if plane.in_process.is_some() || plane.process.is_some() => {
                Target::parse(&format!("{url}/"))?
            }
            _ => Target::parse(&brokerbench_sut::direct::target_url(&plane.receiver_url))?,
        };
        Ok(plane)
    }

    /// The local SUT, delivering to the receiver (a Kafka SUT on the run's
    /// topic; a source is fed by the sender); none for an external SUT.
    async fn start_sut(
        &mut self,
        config: &LocalConfig,
        stop: CancellationToken,
    ) -> anyhow::Result<()> {
        let Some(imc) = &config.imc else {
            return Ok(());
        };
        let listener = TcpListener::bind("127.0.0.1:0").context("SUT: cannot bind loopback")?;
        let mut url = format!("http://{}", listener.local_addr()?);
        if let (Some(t), false) = (&self.topic, config.sut.spec().ingress) {
            self.kafka_target = Some(KafkaTarget {
                bootstrap: t.bootstrap.clone(),
                topic: t.name.clone(),
                settings: config.kafka.settings.clone(),
            });
        }
        let topic = self
            .topic
            .as_ref()
            .map(|t| (t.bootstrap.clone(), t.name.clone()));
        if config.plan.faults.iter().any(|f| f.kind.sut_apart()) {
            let listen = match &self.netns {
                // A fresh namespace: any port is free there.
                Some(ns) => SocketAddr::from((ns.sut_ip, 8080)),
                None => listener.local_addr()?,
            };
            let spec = ChildSpec {
                listen,
                receiver_url: self.receiver_url.clone(),
                kafka: topic,
                fault_token: self.fault_token.clone(),
            };
            drop(listener);
            let p = SutProcess::start(spec, self.netns.as_deref()).await?;
            url = p.url.clone();
            self.process = Some(Arc::new(p));
        } else {
            listener.set_nonblocking(true)?;
            let imc = imc.with_fault_token(&self.fault_token);
            let receiver = self.receiver_url.clone();
            self.in_process = Some(start_sut(
                config, &imc, &receiver, topic, listener, None, stop,
            )?);
        }
        self.sut_url = Some(url);
        Ok(())
    }

    /// What the fault timeline acts on.
    pub fn targets(&self, config: &LocalConfig) -> Targets {
        Targets {
            sut_url: self
                .sut_url
                .as_ref()
                .map(|u| format!("{u}/?token={}", self.fault_token)),
            sut: self.process.clone(),
            netns: self.netns.clone(),
            kafka: self.topic.clone().map(|t| (t, config.kafka.clone())),
        }
    }

    /// Stops the SUT: it drains what it holds (bounded by its grace), then
    /// stops; the topic and the namespace go with the plane.
    pub async fn stop(self) {
        if let Some((rt, done)) = self.in_process {
            let _ = tokio::time::timeout(Duration::from_secs(10), done).await;
            rt.shutdown_background();
        }
        if let Some(p) = &self.process {
            p.stop(Duration::from_secs(10)).await;
        }
    }
}

//! Systems under test that `brokerbench run` can wire between the sender and
//! the receiver, each also runnable on its own (`brokerbench sut NAME`).
//!
//! Layout:
//! - [`spec`]: the registry: one [`Sut`] arm and one [`SutSpec`] per SUT.
//! - [`start`]: starts any SUT's data plane.
//! - [`running`]: what a running data plane answers ([`DataPlane`]).
//! - [`direct`]: the baseline, no SUT at all: the sender publishes straight to
//!   the receiver, which shows what the generator itself can hold.
//! - [`event`]: a CloudEvent as a data plane holds it (headers and body,
//!   forwarded unchanged; attributes read on demand).
//! - [`fan_out`]: the suite's SUT's subscriptions or triggers, and their
//!   routes to the receiver.
//! - [`filter`]: trigger filters (Knative's `filter.attributes` and the
//!   `filters` dialect).
//! - [`config`]: routes (subscriptions, triggers), delivery specs, the
//!   config file.
//! - [`dispatch`]: delivery to one subscriber: workers, retries, backoff,
//!   dead-letter sink.
//! - [`imc`]: the in-memory channel and broker data planes.
//! - [`ingress`]: what every SUT's HTTP ingress shares (reading an event,
//!   the 503 of a full SUT, waiting to empty).
//! - [`faults`]: the faults an ingress injects when told (`/v1/faults`,
//!   with the SUT's fault token).
//! - [`kafka`]: the Kafka SUTs (channel-kafka, broker-kafka, source-kafka),
//!   the local Kafka-protocol broker, topics and offset commits.
//! - [`counters`]: what a data plane did, as JSON and Prometheus text.
//!
//! Adding a SUT: one arm of [`Sut`] and its spec in [`spec`] (and its
//! Knative resources in the CLI's `k8s render`); a new data plane besides
//! also one arm of [`start`].

pub mod config;
pub mod counters;
pub mod direct;
pub mod dispatch;
pub mod event;
pub mod fan_out;
pub mod faults;
pub mod filter;
pub mod imc;
pub mod ingress;
pub mod kafka;
pub mod running;
pub mod spec;

pub use spec::{PlaneKind, Sut, SutSpec, UnknownSut};

pub use running::{DataPlane, RunningSut};

use brokerbench_core::cpu::ThreadCpu;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Why a SUT did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0} runs no data plane of its own")]
    NoPlane(Sut),
    #[error("{0} stands on Kafka: give it its topic")]
    NoTopic(Sut),
    #[error(transparent)]
    Kafka(#[from] kafka::KafkaError),
}

/// Starts the data plane of `imc.sut` on `listener`: with the routes and
/// bounds of `imc`, and for a Kafka SUT as `kafka` says (its topic and
/// settings: [`kafka::topic::KafkaSettings::plane`]). Runs until
/// `shutdown`, then drains (see [`imc::start`], [`kafka::plane::start`]).
pub fn start(
    imc: config::ImcConfig,
    kafka: Option<kafka::plane::KafkaPlaneConfig>,
    listener: TcpListener,
    cpu: ThreadCpu,
    shutdown: CancellationToken,
) -> Result<RunningSut, StartError> {
    let sut = imc.sut;
    match (sut.spec().plane, kafka) {
        (PlaneKind::Nothing, _) => Err(StartError::NoPlane(sut)),
        (PlaneKind::Memory, _) => {
            let r = imc::start(imc, listener, cpu, shutdown);
            Ok(RunningSut {
                plane: r.plane,
                done: r.done,
            })
        }
        (PlaneKind::Kafka, Some(plane)) => {
            let r = kafka::plane::start(plane, listener, cpu, shutdown)?;
            Ok(RunningSut {
                plane: r.plane,
                done: r.done,
            })
        }
        (PlaneKind::Kafka, None) => Err(StartError::NoTopic(sut)),
    }
}

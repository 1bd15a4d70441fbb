//! A local run (`brokerbench run`): the SUT, the roles and the aggregator
//! on this machine, as named stages.
//!
//! Layout:
//! - [`run`](crate::run::run): the stages in order: room for the results,
//!   the SUT ([`plane`]), the roles ([`roles`]), the fault timeline and
//!   the profiles beside them, the aggregated run (ready, pace, drain,
//!   join, write: the aggregator's), then everything stopped and the
//!   faults' errors noted.
//! - [`config`]: the validated settings of a run.
//! - [`plane`]: what the events go through: the receiver's socket, the
//!   Kafka SUT's topic, the SUT, the sender's target.
//! - [`sut`]: the suite's own SUT, in-process or as the run's SUT process.
//! - [`roles`]: the receiver and the sender, each on a runtime of its own.
//! - [`faults`]: the network namespace, the SUT process and the timeline
//!   that applies each fault at its time.
//! - [`profiling`]: `run --profile`, the roles' profiles during a step.

pub mod config;
pub mod faults;
pub mod plane;
pub mod profiling;
pub mod roles;
pub mod run;
pub mod sut;

//! A running data plane, whichever it is: what it answers, and its end.

use brokerbench_core::wire::SutCounters;
use std::sync::Arc;

/// A running data plane (in-memory or Kafka): its state, and how to wait
/// for its end and its final counters.
pub struct Running<P> {
    pub plane: Arc<P>,
    pub done: tokio::task::JoinHandle<SutCounters>,
}

/// What every running data plane answers.
pub trait DataPlane: Send + Sync {
    /// What it did so far (cumulative since it started).
    fn counters(&self) -> SutCounters;
    /// Whether it takes traffic (a Kafka plane once every consumer group
    /// has its partitions).
    fn ready(&self) -> bool;
}

/// A running SUT, whichever its plane.
pub struct RunningSut {
    pub plane: Arc<dyn DataPlane>,
    /// Ends with its final counters once it stopped and drained.
    pub done: tokio::task::JoinHandle<SutCounters>,
}

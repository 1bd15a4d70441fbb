//! The receiver: the subscriber at the far end of the system under test. It
//! accepts CloudEvents over HTTP, answers 202, and keeps a delivery ledger.
//!
//! Layout:
//! - [`config`]: receiver settings and test-only faults.
//! - [`ledger`]: received bits per event, duplicates, e2e latency windows.
//! - [`server`]: the HTTP sink (binary and structured mode).
//! - [`fast`]: an event's identity from its headers, the SDK judging the
//!   rest and a sample.
//! - [`kafka`]: the receiver as a Kafka consumer (`--from-kafka`).
//! - [`run`](crate::run): the receiver role end to end, against an aggregator.

pub mod config;
pub mod fast;
pub mod kafka;
pub mod ledger;
mod role;
pub mod server;

pub use config::{ReceiverConfig, ReceiverError, ReceiverFaults};
pub use role::run;

//! The open-loop sender: releases every event at its intended time, whatever
//! the system under test does, and keeps a ledger of what happened to each.
//!
//! Layout:
//! - [`config`]: validated sender settings (target, pool, timeouts, mode).
//! - [`encode`]: CloudEvents encoding (binary and structured mode) with the SDK.
//! - [`pacer`]: the pacing loop: schedule -> due events, never waiting on
//!   answers; it spins on the sender's runtime (the default) or sleeps on a
//!   thread of its own (`--pacer sleep`).
//! - [`publisher`]: the HTTP pool: a worker per keep-alive connection, more on demand.
//! - [`tls`]: how connections open: plain TCP, or TLS for `https://` targets.
//! - [`kafka`]: Kafka publishing (source-kafka): records acknowledged by the broker.
//! - [`ledger`]: what happened to every event, in bits and per-second windows.
//! - [`run`](crate::run): the sender role end to end, against an aggregator.

pub mod config;
pub mod encode;
pub mod kafka;
pub mod ledger;
pub mod pacer;
pub mod publisher;
mod role;
pub mod tls;

pub use config::{SenderConfig, SenderError};
pub use pacer::Job;
pub use role::run;

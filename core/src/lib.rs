//! The shared model of a brokerbench run, used by every role.
//!
//! Layout:
//! - [`pace`]: the pace schedule (`rps:seconds,...`): parsing, intended send
//!   time of each sequence number, how many events are due at an instant.
//! - [`plan`]: the immutable run plan handed to every role (run id, schedule,
//!   `t0`, payload size, warmup, drain).
//! - [`identity`]: how an event carries its run, sender and sequence number.
//! - [`kafka_binding`]: the CloudEvents Kafka protocol binding (`ce_*` headers, key).
//! - [`histogram`]: the latency histogram behind every percentile, and its wire form.
//! - [`latency`]: the latency kinds measured, one table for every output.
//! - [`series`]: per-second latency windows and counts, summarised per step.
//! - [`bitset`]: one bit per event, the ledgers' memory.
//! - [`clock`]: wall-clock nanoseconds, the one clock every role stamps with.
//! - [`cpu`]: CPU time spent by one role's threads.
//! - [`host`]: the share of the machine's CPU time the hypervisor took (steal),
//!   and the role's throttled time, sampled each second.
//! - [`cgroup`]: the role's own CPU quota and throttling counters (cgroup v2 or v1).
//! - [`shapes`]: seeded latency samples for accuracy checks.
//! - [`serve`]: the HTTP/1.1 accept loop of every role that serves.
//! - [`conn`]: one HTTP/1.1 keep-alive connection per worker (sender, SUT).
//! - [`env`]: flags from the environment (`BROKERBENCH_*`), and a command's
//!   text to stdout.
//! - [`duration`]: durations as users write them (`250ms`, `PT0.25S`).
//! - [`fault`]: the faults a plan puts on the run's timeline (`--fault`).
//! - [`wire`]: the messages roles exchange with the aggregator.
//! - [`plausible`]: what a report may say (counts, CPU, ledgers, host figures).
//! - [`metrics`]: Prometheus text of the roles' live figures.
//! - [`buckets`]: latency histograms as Prometheus shows them, cumulated.
//! - [`client`]: a small JSON-over-HTTP client.
//! - [`session`]: a role's conversation with the aggregator, typed, and the
//!   protocol's paths.

pub mod bitset;
pub mod buckets;
pub mod cgroup;
pub mod client;
pub mod clock;
pub mod conn;
pub mod cpu;
pub mod duration;
pub mod env;
pub mod fault;
pub mod histogram;
pub mod host;
pub mod identity;
pub mod kafka_binding;
pub mod latency;
pub mod metrics;
pub mod pace;
pub mod plan;
pub mod plausible;
pub mod series;
pub mod serve;
pub mod session;
pub mod shapes;
pub mod wire;

//! The aggregator: the hub of a run. It hands the plan to every role, starts
//! the run once every receiver is ready, prints live progress, ends the drain,
//! joins the sender and receiver ledgers and writes the results folder.
//!
//! Layout:
//! - [`report`]: `report.md`, the run for humans.
//! - [`server`]: the HTTP protocol of [`brokerbench_core::wire`] and the run's state.
//! - [`analysis`]: which steps held; the breaking point.
//! - [`columns`]: the one table of per-step columns (steps.tsv, the table, report.md).
//! - [`conclude`]: the end of a run on the terminal: table, graphs,
//!   objectives, exit code.
//! - [`compare`]: runs side by side, deltas and spread.
//! - [`faults`]: what each fault of the plan did (lost, failed, recovery).
//! - [`join`]: sender and receiver ledgers -> the results model.
//! - [`model`]: the results model (`summary.json` is its serialisation).
//! - [`output`]: the results folder: summary.json, series.tsv, steps.tsv, lost.tsv.
//! - [`plot`]: the gnuplot graphs of a results folder.
//! - [`slo`]: service-level objectives a run must meet (`--slo`).
//! - [`table`]: the summary table printed at the end.
//! - [`notes`]: the notes under it (senders, nodes, clocks, faults, throttling).
//! - [`progress`]: live progress lines.
//! - [`run`](crate::run): the aggregator role end to end.

pub mod analysis;
pub mod columns;
pub mod compare;
pub mod conclude;
pub mod faults;
pub mod join;
pub mod model;
pub mod notes;
pub mod output;
pub mod plot;
pub mod progress;
pub mod report;
mod role;
pub mod server;
pub mod slo;
pub mod table;

pub use role::{run, AggregatorConfig, AggregatorError, Finished, Serving};

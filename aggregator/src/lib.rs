//! The aggregator: the hub of a run. It hands the plan to every role, starts
//! the run once every receiver is ready, prints live progress, ends the drain,
//! joins the sender and receiver ledgers and writes the results folder.
//!
//! Layout:
//! - [`server`]: the HTTP protocol of [`brokerbench_core::wire`] and the run's state.
//! - [`join`]: sender and receiver ledgers -> the results model.
//! - [`model`]: the results model (`summary.json` is its serialisation).
//! - [`output`]: the results folder: summary.json, series.tsv, steps.tsv, lost.tsv.
//! - [`plot`]: the gnuplot graphs of a results folder.
//! - [`table`]: the summary table printed at the end.
//! - [`progress`]: live progress lines.
//! - [`run`](crate::run): the aggregator role end to end.

pub mod join;
pub mod model;
pub mod output;
pub mod plot;
pub mod progress;
mod role;
pub mod server;
pub mod table;

pub use role::{run, AggregatorConfig, AggregatorError, Finished};

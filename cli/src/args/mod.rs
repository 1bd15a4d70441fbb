//! Command-line options (clap), one file per family of subcommands; each
//! turns into its validated config (`crate::config`) once, with every
//! cross-flag check.
//!
//! Layout:
//! - [`common`]: what several commands share (plan, publishing, output,
//!   graphs, faults, the profiling port).
//! - [`run`]: options of `run`, a whole scenario on this machine.
//! - [`roles`]: options of the roles on their own (`sender`, `receiver`,
//!   `aggregator`).
//! - [`sut`]: options of `sut`, and the SUT flags `run` shares with it.
//! - [`tools`]: options of `search`, `compare`, `plot` and `profile`.
//! - [`k8s`]: options of `k8s render`, `wait`, `collect` and `delete`.

pub mod common;
pub mod k8s;
pub mod roles;
pub mod run;
pub mod sut;
pub mod tools;

pub use k8s::K8sOpts;
pub use roles::{AggregatorOpts, ReceiverOpts, SenderOpts};
pub use run::RunOpts;
pub use sut::SutOpts;
pub use tools::{AggregateOpts, CaptureOpts, CompareOpts, PlotOpts, SearchOpts};

use brokerbench_core::env::env_name;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

impl Opts {
    /// The command line, every flag of every subcommand also read from its
    /// environment variable ([`brokerbench_core::env::ENV_PREFIX`]).
    pub fn command_with_env() -> clap::Command {
        Opts::command().mut_subcommands(|sub| {
            with_slo_metrics(sub.mut_args(|arg| {
                match arg.get_long().map(|l| (l.ends_with("token"), env_name(l))) {
                    // A secret's value is not shown in --help.
                    Some((true, name)) => arg.env(name).hide_env_values(true),
                    Some((false, name)) => arg.env(name),
                    None => arg,
                }
            }))
        })
    }

    /// Whether the first Ctrl-C or SIGTERM stops a run and writes its
    /// partial results (the roles, `run`, `search`), or only ends this
    /// process (`k8s`: the run goes on in the cluster).
    pub fn interrupt_writes_results(&self) -> bool {
        !matches!(self.command, Command::K8s(_))
    }

    /// Parses `args` and the environment; clap's error when they are wrong.
    pub fn parse_with_env<I, T>(args: I) -> Result<Opts, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Opts::command_with_env().try_get_matches_from(args)?;
        Opts::from_arg_matches(&matches)
    }
}

/// `--slo`'s help ends with the metrics it takes, made from what the
/// objectives know (so it cannot fall behind them), on `cmd` and below.
fn with_slo_metrics(cmd: clap::Command) -> clap::Command {
    let has_slo = cmd.get_arguments().any(|a| a.get_id() == "slo");
    let cmd = match has_slo {
        true => cmd.mut_arg("slo", |a| {
            let said = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            a.help(format!(
                "{said}: {}",
                brokerbench_aggregator::slo::metrics()
            ))
        }),
        false => cmd,
    };
    cmd.mut_subcommands(with_slo_metrics)
}

/// Throughput and latency test suite for event brokers.
///
/// A sender publishes CloudEvents at a paced, open-loop rate through a system
/// under test to a receiver; the aggregator joins their ledgers and writes
/// results/<timestamp>-<scenario>/ (summary.json, series.tsv, steps.tsv, lost.tsv).
/// Every flag can also be set as BROKERBENCH_<FLAG>. Ctrl-C or SIGTERM stops
/// a run: the partial results are written, exit 130 (a second one quits).
#[derive(Debug, Parser)]
#[command(name = "brokerbench", version, propagate_version = true)]
pub struct Opts {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a whole scenario on this machine: receiver, SUT, sender and
    /// aggregator on loopback; prints progress and a summary, writes results.
    Run(RunOpts),
    /// The sender role alone: publish paced CloudEvents to --target, on the
    /// plan of the aggregator at --aggregator.
    Sender(SenderOpts),
    /// The receiver role alone: accept CloudEvents on --listen and report to
    /// the aggregator at --aggregator.
    Receiver(ReceiverOpts),
    /// The aggregator role alone: hand out the plan, start the run when every
    /// role is ready, join the ledgers, write results.
    Aggregator(AggregatorOpts),
    /// Capture a CPU or heap profile from any pprof HTTP endpoint: writes the
    /// .pb.gz and a flamegraph .svg.
    Profile(CaptureOpts),
    /// Draw the graphs of a results folder with gnuplot (six-metric.png,
    /// points.png, generator.png; trimmed, zoom and SVG on request).
    Plot(PlotOpts),
    /// Compare runs: per-step deltas of throughput and latency against the
    /// first, the spread of three or more runs of one pace, and one graph.
    Compare(CompareOpts),
    /// Join the reports roles kept when their aggregator was gone
    /// (`--report-file`) into a results folder, as the aggregator would.
    Aggregate(AggregateOpts),
    /// Serve a SUT on its own: the in-memory or Kafka-backed channel or
    /// broker, or the Kafka source, with subscribers or triggers from flags
    /// or a config file. Runs until Ctrl-C, then drains and prints its
    /// counters.
    Sut(SutOpts),
    /// Find the highest rate that meets --slo: bisection over short runs,
    /// then a longer confirming run; prints and saves the trail (search.tsv).
    Search(SearchOpts),
    /// A run on Kubernetes: render its manifests, wait for it, collect its
    /// results, delete it (docs/kubernetes.md).
    K8s(K8sOpts),
}

impl Command {
    /// Where this command serves its own pprof endpoints
    /// (`--profile-listen`), if anywhere.
    pub fn profile_listen(&self) -> Option<std::net::SocketAddr> {
        match self {
            Command::Run(o) => o.profiling.profile_listen,
            Command::Sender(o) => o.profiling.profile_listen,
            Command::Receiver(o) => o.profiling.profile_listen,
            Command::Aggregator(o) => o.profiling.profile_listen,
            Command::Sut(o) => o.profiling.profile_listen,
            _ => None,
        }
    }
}

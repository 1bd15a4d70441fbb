//! `brokerbench`: the binary that ties the roles together.
//!
//! Layout:
//! - [`args`]: command-line options (clap), one file per family of
//!   subcommands, and their validation into validated configs ([`config`],
//!   `brokerbench_local::config`, `brokerbench_k8s::config`).
//! - [`config`]: the validated settings of the roles on their own,
//!   `search` and `plot`.
//! - [`commands`]: one small file per subcommand.
//!
//! The local run's stages are `brokerbench_local`'s; the Kubernetes render
//! and the run seen from afar are `brokerbench_k8s`'s.

pub mod args;
pub mod commands;
pub mod config;

pub use args::{Command, Opts};
use brokerbench_local::faults::process::{ChildSpec, SUT_CHILD_ENV};

/// Runs a parsed command line; returns the process exit code.
pub async fn execute(
    opts: Opts,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<i32> {
    // A run's SUT process (`--fault sut-kill`) has the run's command line,
    // and its profiling port: it serves no profiles and runs nothing else.
    let child = ChildSpec::from_env().transpose()?;
    if let Some(addr) = opts.command.profile_listen().filter(|_| child.is_none()) {
        let bound = brokerbench_profile::endpoint::serve_here(addr, shutdown.clone())
            .await
            .map_err(|e| anyhow::anyhow!("--profile-listen: cannot listen on {addr}: {e}"))?;
        eprintln!("pprof endpoints on http://{bound}/debug/pprof/");
    }
    if child.is_some() && !matches!(opts.command, Command::Run(_)) {
        anyhow::bail!("{SUT_CHILD_ENV} is set: only `run` starts a SUT process");
    }
    use commands::*;
    match opts.command {
        Command::Run(o) => run::run(o, child, shutdown).await,
        Command::Sender(o) => sender::run(o.into_config()?, shutdown).await,
        Command::Receiver(o) => receiver::run(o.into_config()?, shutdown).await,
        Command::Aggregator(o) => aggregator::run(o.into_config()?, shutdown).await,
        Command::Sut(o) => sut::run(o.into_config()?, shutdown).await,
        Command::Compare(o) => compare::run(o),
        Command::Aggregate(o) => aggregate::run(o),
        Command::K8s(o) => k8s::run(o, shutdown).await,
        Command::Search(o) => search::run(o, shutdown).await,
        Command::Profile(o) => profile::run(o).await,
        Command::Plot(o) => plot::run(o),
    }
}

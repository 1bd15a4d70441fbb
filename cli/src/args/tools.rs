//! Options of the commands around runs: `search`, `compare`, `plot` and
//! `profile`.

use super::common::GraphOpts;
use super::run::RunOpts;
use crate::config::{PlotConfig, SearchConfig};
use anyhow::bail;
use clap::Args;
use std::path::PathBuf;

/// `brokerbench compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareOpts {
    /// Results folders; the first is the baseline.
    #[arg(value_name = "RESULTS_DIR", num_args = 2.., required = true)]
    pub dirs: Vec<PathBuf>,
    /// Graph of all runs (.png or .svg).
    #[arg(long, default_value = "compare.png", value_name = "FILE")]
    pub graph: PathBuf,
    /// No graph.
    #[arg(long)]
    pub no_plot: bool,
}

/// `brokerbench aggregate`.
#[derive(Debug, Clone, Args)]
pub struct AggregateOpts {
    /// Reports the roles kept when their aggregator was gone
    /// (`--report-file`), of one run.
    #[arg(value_name = "REPORT_FILE", num_args = 1.., required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub output: super::common::OutputOpts,
}

/// `brokerbench search`.
#[derive(Debug, Clone, Args)]
pub struct SearchOpts {
    /// Lowest rate to try, events/s (must meet the SLO).
    #[arg(long, default_value_t = 1000, value_name = "RPS")]
    pub low: u32,
    /// Highest rate to try, events/s.
    #[arg(long, default_value_t = 40_000, value_name = "RPS")]
    pub high: u32,
    /// Seconds of each bisection trial.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub trial_seconds: u32,
    /// Seconds of the confirming run at the rate found.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub confirm_seconds: u32,
    /// Stop bisecting when the bracket is narrower than this share of its
    /// low end (0.05 = 5%).
    #[arg(long, default_value_t = 0.05, value_name = "FRACTION")]
    pub precision: f64,
    /// Every `run` flag applies to each trial (--pace is set by the search).
    #[command(flatten)]
    pub run: RunOpts,
}

impl SearchOpts {
    pub fn into_config(self) -> anyhow::Result<SearchConfig> {
        if self.run.output.slo.is_none() {
            bail!("search needs --slo, e.g. --slo \"e2e.p99.99<50ms,lost=0\"");
        }
        if let Some(f) = self.run.plan.faults.first() {
            bail!("--fault {f:?}: search runs trials of its own pace; put faults on a run (brokerbench run --fault)");
        }
        if self.low == 0 || self.low >= self.high {
            bail!("--low must be at least 1 and below --high");
        }
        if self.trial_seconds == 0 || self.confirm_seconds == 0 {
            bail!("--trial-seconds and --confirm-seconds must be at least 1");
        }
        if !(self.precision > 0.0 && self.precision < 1.0) {
            bail!("--precision must be between 0 and 1");
        }
        let mut run = self.run.into_config()?;
        let slo = run.slo.take().expect("checked above");
        run.plot = None;
        Ok(SearchConfig {
            run,
            slo,
            low: self.low,
            high: self.high,
            seconds: self.trial_seconds,
            confirm_seconds: self.confirm_seconds,
            precision: self.precision,
        })
    }
}

/// `brokerbench plot`.
#[derive(Debug, Clone, Args)]
pub struct PlotOpts {
    /// A results folder (results/<timestamp>-<scenario>).
    #[arg(value_name = "RESULTS_DIR")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub graphs: GraphOpts,
}

impl PlotOpts {
    pub fn into_config(self) -> anyhow::Result<PlotConfig> {
        Ok(PlotConfig {
            options: self.graphs.options()?,
            dir: self.dir,
        })
    }
}

/// `brokerbench profile`.
#[derive(Debug, Clone, Args)]
pub struct CaptureOpts {
    /// A pprof endpoint: http://host:port (ours, or a Go service such as a
    /// Knative dispatcher on :8008), or a full /debug/pprof/... URL.
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// Seconds of CPU profile.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub seconds: u64,
    /// CPU samples per second (1 to 1000; at most the kernel's tick rate
    /// is delivered, 250 on many VMs; Go's endpoints sample at 100).
    #[arg(long, default_value_t = brokerbench_profile::endpoint::FREQUENCY as u32, value_name = "HZ")]
    pub hz: u32,
    /// Take the heap profile instead of a CPU profile.
    #[arg(long)]
    pub heap: bool,
    /// Folder for the .pb.gz and the flamegraph .svg.
    #[arg(long, default_value = "profiles", value_name = "DIR")]
    pub out: PathBuf,
    /// File name (without extension); default cpu-<host>-<port> or heap-<host>-<port>.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

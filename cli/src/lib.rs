//! `brokerbench`: the binary that ties the roles together.
//!
//! Layout:
//! - [`args`]: command-line options (clap), one file per family of
//!   subcommands, and their validation into [`config`].
//! - [`config`]: the validated settings each command runs with.
//! - [`local`]: `brokerbench run`: aggregator, receiver, SUT and sender on
//!   loopback in one process, each role on its own runtime.
//! - [`search`]: `brokerbench search`, bisection for the highest rate meeting an SLO.
//! - [`profiling`]: `run --profile`, profiles of the roles during a step.
//! - [`k8s`]: `brokerbench k8s`: manifests of a run on Kubernetes, and its
//!   progress and results from afar.
//! - [`roles`]: the standalone roles (`sender`, `receiver`, `aggregator`,
//!   `sut`) for running on separate hosts or pods.

pub mod args;
pub mod config;
pub mod faults;
pub mod k8s;
pub mod local;
pub mod profiling;
pub mod roles;
pub mod search;

pub use args::{Command, Opts};

/// Exit code of a run cut short by Ctrl-C (partial results were written).
pub const EXIT_INTERRUPTED: i32 = 130;
/// Exit code of a run that missed an objective of `--slo`.
pub const EXIT_SLO_MISSED: i32 = 3;
/// Exit code of a run some role never reported on (killed, its node lost):
/// results from the others, the missing role named.
pub const EXIT_MISSING_REPORT: i32 = 4;

/// `brokerbench aggregate`: the kept reports of one run, joined and
/// written as the aggregator would; the run's exit code.
fn aggregate(o: args::AggregateOpts) -> anyhow::Result<i32> {
    use anyhow::{bail, Context};
    use brokerbench_aggregator::join::{join, Ending};
    use brokerbench_core::session::KeptReport;
    let mut kept = Vec::new();
    for f in &o.files {
        let text = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        let k: KeptReport = serde_json::from_slice(&text)
            .with_context(|| format!("{}: not a kept report", f.display()))?;
        kept.push(k);
    }
    let plan = kept[0].plan.clone();
    if let Some(other) = kept.iter().find(|k| k.plan.run_id != plan.run_id) {
        bail!(
            "the reports are of two runs ({} and {}): aggregate one run's",
            plan.run_id,
            other.plan.run_id
        );
    }
    let senders: Vec<_> = kept.iter().filter_map(|k| k.sender.clone()).collect();
    let receivers: Vec<_> = kept.iter().filter_map(|k| k.receiver.clone()).collect();
    for r in &senders {
        if let Some(why) = r.implausible() {
            bail!("sender {}'s report: {why}", r.index);
        }
    }
    for r in &receivers {
        if let Some(why) = r.implausible() {
            bail!("receiver {}'s report: {why}", r.index);
        }
    }
    let ending = Ending::of(&plan, &senders, &receivers, false, None);
    let results = join(&plan, &senders, &receivers, &ending);
    let out = &o.output.out;
    brokerbench_aggregator::output::check_writable(out)
        .with_context(|| format!("--out {}: cannot write results there", out.display()))?;
    let dir = brokerbench_aggregator::output::results_dir(out, &plan.scenario)?;
    let not_written = brokerbench_aggregator::output::write(&dir, &results)
        .err()
        .map(|e| e.to_string());
    let finished = brokerbench_aggregator::Finished {
        results,
        dir,
        not_written,
    };
    Ok(local::conclude(
        &finished,
        o.output.plot()?.as_ref(),
        o.output.slo()?.as_ref(),
    ))
}

/// Writes a command's text to stdout; a reader that stopped reading
/// (`| head -1`) is not an error (print! would panic on the broken pipe).
pub fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Runs a parsed command line; returns the process exit code.
pub async fn execute(
    opts: Opts,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<i32> {
    let profiling = match &opts.command {
        Command::Run(o) => o.profiling.profile_listen,
        Command::Sender(o) => o.profiling.profile_listen,
        Command::Receiver(o) => o.profiling.profile_listen,
        Command::Aggregator(o) => o.profiling.profile_listen,
        Command::Sut(o) => o.profiling.profile_listen,
        _ => None,
    };
    // A run's SUT process (`--fault sut-kill`) has the run's command line,
    // and its profiling port.
    let profiling = profiling.filter(|_| std::env::var_os(faults::SUT_CHILD_ENV).is_none());
    if let Some(addr) = profiling {
        let bound = serve_profiles(addr, shutdown.clone()).await?;
        eprintln!("pprof endpoints on http://{bound}/debug/pprof/");
    }
    // A run's SUT process runs nothing else.
    let child = faults::ChildSpec::from_env();
    if child.is_some() && !matches!(opts.command, Command::Run(_)) {
        anyhow::bail!(
            "{} is set: only `run` starts a SUT process",
            faults::SUT_CHILD_ENV
        );
    }
    match opts.command {
        Command::Run(o) => match child {
            Some(spec) => local::sut_child(o.into_config()?, spec?, shutdown).await,
            None => local::run(o.into_config()?, shutdown).await,
        },
        Command::Sender(o) => roles::sender(o.into_config()?, shutdown).await,
        Command::Receiver(o) => roles::receiver(o.into_config()?, shutdown).await,
        Command::Aggregator(o) => roles::aggregator(o.into_config()?, shutdown).await,
        Command::Sut(o) => roles::sut(o.into_config()?, shutdown).await,
        Command::Compare(o) => {
            use brokerbench_aggregator::compare;
            let runs = o
                .dirs
                .iter()
                .map(|d| compare::load(d))
                .collect::<Result<Vec<_>, _>>()?;
            emit(&compare::render(&runs));
            if !o.no_plot {
                match brokerbench_aggregator::plot::plot_compare(&o.graph, &o.dirs) {
                    Ok(()) => emit(&format!("graph: {}\n", o.graph.display())),
                    Err(e) => eprintln!("brokerbench: {e}"),
                }
            }
            Ok(0)
        }
        Command::Aggregate(o) => aggregate(o),
        Command::K8s(o) => match o.action {
            args::k8s::K8sAction::Render(r) => {
                let out_dir = r.out_dir.clone();
                let config = r.into_config()?;
                match out_dir {
                    None => emit(&k8s::render::print(&config)),
                    Some(dir) => {
                        let files = k8s::render::write_dir(&config, &dir).map_err(|e| {
                            anyhow::anyhow!("--out-dir {}: cannot write: {e}", dir.display())
                        })?;
                        println!(
                            "wrote {} files to {}: kubectl apply -k {}",
                            files.len(),
                            dir.display(),
                            dir.display()
                        );
                    }
                }
                Ok(0)
            }
            args::k8s::K8sAction::Wait(w) => k8s::remote::wait(&w, shutdown).await,
            args::k8s::K8sAction::Collect(c) => k8s::remote::collect(&c).await,
            args::k8s::K8sAction::Delete(d) => k8s::remote::delete(&d).await,
        },
        Command::Search(o) => {
            let found = search::search(o.into_config()?, shutdown).await?;
            match found.rate {
                Some(rate) => println!(
                    "highest rate meeting the SLO: {rate} events/s (trail: {}/search.tsv)",
                    found.dir.display()
                ),
                None => println!(
                    "no rate met the SLO (trail: {}/search.tsv)",
                    found.dir.display()
                ),
            }
            Ok(if found.rate.is_some() {
                0
            } else {
                EXIT_SLO_MISSED
            })
        }
        Command::Profile(o) => {
            use brokerbench_profile::capture::{capture, Kind};
            let kind = if o.heap {
                Kind::Heap
            } else {
                Kind::Cpu {
                    seconds: o.seconds.max(1),
                }
            };
            let name = o.name.clone().unwrap_or_else(|| {
                let host = o
                    .url
                    .split("://")
                    .nth(1)
                    .unwrap_or("")
                    .split('/')
                    .next()
                    .unwrap_or("")
                    .replace(':', "-");
                format!("{}-{host}", if o.heap { "heap" } else { "cpu" })
            });
            if !o.heap {
                eprintln!("profiling {} for {} s ...", o.url, o.seconds);
            }
            let got = capture(&o.url, kind, &o.out, &name).await?;
            println!("{}\n{}", got.profile.display(), got.flamegraph.display());
            let few = match got.folded.samples {
                n if n < brokerbench_profile::flame::FEW_SAMPLES => {
                    ", too few to read: profile longer, or under load"
                }
                _ => "",
            };
            eprintln!(
                "{} samples, weighed in {}{few}",
                got.folded.samples, got.folded.weight
            );
            Ok(0)
        }
        Command::Plot(o) => {
            let c = o.into_config()?;
            let files = brokerbench_aggregator::plot::plot(&c.dir, &c.options)?;
            for f in files {
                println!("{}", f.display());
            }
            Ok(0)
        }
    }
}

/// Serves this process's pprof endpoints on `addr` until `shutdown`, and
/// turns on jemalloc's heap sampling; returns the address bound.
pub(crate) async fn serve_profiles(
    addr: std::net::SocketAddr,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<std::net::SocketAddr> {
    use anyhow::Context;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--profile-listen: cannot listen on {addr}"))?;
    if let Some(ctl) = jemalloc_pprof::PROF_CTL.as_ref() {
        let _ = ctl.lock().await.activate();
    }
    let bound = listener.local_addr()?;
    let profiles = std::sync::Arc::new(brokerbench_profile::endpoint::Profiles::default());
    tokio::spawn(brokerbench_core::serve::serve(
        profiles,
        listener,
        shutdown,
        std::time::Duration::from_secs(1),
    ));
    Ok(bound)
}

//! The `brokerbench` binary: parses options, handles Ctrl-C, runs the command.

/// jemalloc, so `/debug/pprof/heap` can dump sampled allocations.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Heap sampling compiled in but inactive until a profiling port opens
/// (`--profile-listen`); one sample per 512 KiB allocated on average.
#[allow(non_upper_case_globals)]
#[export_name = "malloc_conf"]
pub static malloc_conf: &[u8] = b"prof:true,prof_active:false,lg_prof_sample:19\0";
use tokio_util::sync::CancellationToken;

fn main() {
    let opts = brokerbench::Opts::parse_with_env(std::env::args_os()).unwrap_or_else(|e| e.exit());
    raise_open_files_limit();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("brokerbench: error: cannot start runtime: {e}");
            std::process::exit(1);
        }
    };
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    let writes_results = opts.interrupt_writes_results();
    runtime.spawn(async move {
        // Ctrl-C, or SIGTERM (how Kubernetes and `docker stop` stop a
        // process): stop and write what was gathered; a second one quits.
        // `k8s` commands only watch: the first ends them (`k8s wait` says
        // the run goes on).
        if interrupted().await {
            if !writes_results {
                on_signal.cancel();
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                std::process::exit(brokerbench_aggregator::conclude::EXIT_INTERRUPTED);
            }
            // A run's SUT process is stopped so by the run: nothing to say.
            if std::env::var_os(brokerbench_local::faults::process::SUT_CHILD_ENV).is_none() {
                eprintln!("\nbrokerbench: interrupted: stopping and writing partial results (Ctrl-C again to quit now)");
            }
            on_signal.cancel();
            if interrupted().await {
                std::process::exit(brokerbench_aggregator::conclude::EXIT_INTERRUPTED);
            }
        }
    });
    let code = match runtime.block_on(brokerbench::execute(opts, shutdown)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("brokerbench: error: {e:#}");
            1
        }
    };
    runtime.shutdown_background();
    std::process::exit(code);
}

/// Waits for Ctrl-C or SIGTERM; false when neither can be listened for.
async fn interrupted() -> bool {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return tokio::signal::ctrl_c().await.is_ok();
    };
    tokio::select! {
        c = tokio::signal::ctrl_c() => c.is_ok(),
        t = term.recv() => t.is_some(),
    }
}

/// A sender opens connections on demand (up to `--max-connections`) and a
/// receiver accepts as many: lift the soft limit on open files to the hard
/// one, as load generators do.
fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `lim`.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

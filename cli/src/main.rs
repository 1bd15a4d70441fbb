//! The `brokerbench` binary: parses options, handles Ctrl-C, runs the command.

use clap::Parser;
use tokio_util::sync::CancellationToken;

fn main() {
    let opts = brokerbench::Opts::parse();
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
    runtime.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nbrokerbench: interrupted: stopping and writing partial results (Ctrl-C again to quit now)");
            on_signal.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(brokerbench::EXIT_INTERRUPTED);
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

//! The local Kafka-protocol broker: `tansu` with in-memory storage on a free
//! loopback port, started for a run and stopped (killed) when dropped.

use super::KafkaError;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long the broker may take to answer its first metadata request.
const START_PATIENCE: Duration = Duration::from_secs(30);

/// A running local broker.
pub struct LocalKafka {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub bootstrap: String,
}

/// Where the `tansu` binary is: `$TANSU`, then `PATH`, then `~/.cargo/bin`.
pub fn binary() -> Result<PathBuf, KafkaError> {
    if let Some(p) = std::env::var_os("TANSU") {
        return Ok(PathBuf::from(p));
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("tansu")).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME").or_else(|| {
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo").into_os_string())
    }) {
        candidates.push(PathBuf::from(home).join("bin").join("tansu"));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or(KafkaError::NoLocalBroker)
}

impl LocalKafka {
    /// Starts a broker and waits until it answers.
    pub async fn start() -> Result<LocalKafka, KafkaError> {
        let bin = binary()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| KafkaError::LocalBroker(format!("no free port: {e}")))?
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let mut command = Command::new(&bin);
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill
        // the broker if the thread that started it goes away without
        // stopping it (a crash, SIGKILL).
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| KafkaError::LocalBroker(format!("{}: {e}", bin.display())))?;
        let mut broker = LocalKafka {
            child,
            bootstrap: format!("127.0.0.1:{port}"),
        };
        let deadline = tokio::time::Instant::now() + START_PATIENCE;
        loop {
            if let Ok(Some(status)) = broker.child.try_wait() {
                return Err(KafkaError::LocalBroker(format!(
                    "tansu exited at start: {status}"
                )));
            }
            if super::admin::reachable(&broker.bootstrap, Duration::from_secs(1)).await {
                return Ok(broker);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(KafkaError::LocalBroker(format!(
                    "tansu did not answer on {} within {START_PATIENCE:?}",
                    broker.bootstrap
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the broker now (as a crash would).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LocalKafka {
    fn drop(&mut self) {
        self.kill();
    }
}

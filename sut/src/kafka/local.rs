//! The local Kafka-protocol broker: `tansu` with in-memory storage on a free
//! loopback port, started for a run and stopped (killed) when dropped.

use super::KafkaError;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// How long the broker may take to answer its first metadata request.
const START_PATIENCE: Duration = Duration::from_secs(30);

/// A running local broker. It can be killed and started again on the same
/// address (`--fault kafka-kill`); its storage is memory, so a restart
/// comes back empty.
pub struct LocalKafka {
    child: Mutex<Option<Child>>,
    /// `<ip>:<port>`.
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
    /// Starts a broker on a free loopback port and waits until it answers.
    pub async fn start() -> Result<LocalKafka, KafkaError> {
        LocalKafka::start_on(Ipv4Addr::LOCALHOST).await
    }

    /// Starts a broker on a free port of `ip` (an address of this host: a
    /// SUT in a network namespace of its own reaches it there).
    pub async fn start_on(ip: Ipv4Addr) -> Result<LocalKafka, KafkaError> {
        let port = std::net::TcpListener::bind((ip, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| KafkaError::LocalBroker(format!("no free port on {ip}: {e}")))?
            .port();
        let broker = LocalKafka {
            child: Mutex::new(None),
            bootstrap: format!("{ip}:{port}"),
        };
        broker.launch().await?;
        Ok(broker)
    }

    /// Starts the broker process on `bootstrap` and waits until it answers.
    async fn launch(&self) -> Result<(), KafkaError> {
        let bin = binary()?;
        let url = format!("tcp://{}", self.bootstrap);
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
        *self.child.lock().unwrap() = Some(child);
        let deadline = tokio::time::Instant::now() + START_PATIENCE;
        loop {
            let exited = match self.child.lock().unwrap().as_mut() {
                Some(c) => c.try_wait().ok().flatten(),
                None => None,
            };
            if let Some(status) = exited {
                return Err(KafkaError::LocalBroker(format!(
                    "tansu exited at start: {status}"
                )));
            }
            if super::admin::reachable(&self.bootstrap, Duration::from_secs(1)).await {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(KafkaError::LocalBroker(format!(
                    "tansu did not answer on {} within {START_PATIENCE:?}",
                    self.bootstrap
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the broker now (as a crash would).
    pub fn kill(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the broker again on the same address (after [`kill`]); it
    /// holds no topic until one is created.
    ///
    /// [`kill`]: LocalKafka::kill
    pub async fn restart(&self) -> Result<(), KafkaError> {
        self.kill();
        // The port was just released; a new listener may take a moment.
        let mut tries = 0;
        loop {
            match self.launch().await {
                Ok(()) => return Ok(()),
                Err(e) if tries < 3 => {
                    tries += 1;
                    eprintln!("local Kafka-protocol broker: restart failed ({e}); trying again");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for LocalKafka {
    fn drop(&mut self) {
        self.kill();
    }
}

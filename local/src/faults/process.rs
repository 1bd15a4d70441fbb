//! The SUT of a local run as a process of its own (so it can be killed and
//! paused for real): this binary, re-run with the run's command line.

use crate::faults::netns::Netns;
use anyhow::Context;
use brokerbench_core::client::JsonClient;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// Set in the environment of a SUT started as a process of its own:
/// `LISTEN|RECEIVER_URL|BOOTSTRAP|TOPIC` (the last two empty without
/// Kafka). The process gets the run's own command line, so it builds the
/// same SUT the run would have built in-process.
pub const SUT_CHILD_ENV: &str = "BROKERBENCH_SUT_CHILD";

/// How long a (re)started SUT process may take to answer `/readyz`.
const READY_PATIENCE: Duration = Duration::from_secs(60);

/// What a SUT process is told to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSpec {
    pub listen: SocketAddr,
    pub receiver_url: String,
    /// The Kafka SUT's broker and topic.
    pub kafka: Option<(String, String)>,
    /// Who may tell it to inject faults.
    pub fault_token: String,
}

impl ChildSpec {
    fn to_env(&self) -> String {
        let (b, t) = self.kafka.clone().unwrap_or_default();
        let token = &self.fault_token;
        format!("{}|{}|{b}|{t}|{token}", self.listen, self.receiver_url)
    }

    /// The spec in this process's environment, if it is a SUT process.
    pub fn from_env() -> Option<anyhow::Result<ChildSpec>> {
        let text = std::env::var(SUT_CHILD_ENV).ok()?;
        let parse = || {
            let mut parts = text.split('|');
            let listen = parts.next()?.parse().ok()?;
            let receiver_url = parts.next()?.to_string();
            let kafka = match (parts.next()?, parts.next()?) {
                ("", _) => None,
                (b, t) => Some((b.to_string(), t.to_string())),
            };
            Some(ChildSpec {
                listen,
                receiver_url,
                kafka,
                fault_token: parts.next()?.to_string(),
            })
        };
        Some(parse().with_context(|| format!("bad {SUT_CHILD_ENV} {text:?}")))
    }
}

/// The SUT of a local run, as a child process on a fixed port.
pub struct SutProcess {
    spec: ChildSpec,
    /// The network namespace it runs in, if any.
    netns: Option<String>,
    child: Mutex<Option<Child>>,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl SutProcess {
    /// Starts the SUT process (in the network namespace `netns`, if
    /// any) and waits until it is ready.
    pub async fn start(spec: ChildSpec, netns: Option<&Netns>) -> anyhow::Result<SutProcess> {
        let url = format!("http://{}", spec.listen);
        let netns = netns.map(|n| n.name.clone());
        let p = SutProcess {
            child: Mutex::new(Some(spawn(&spec, netns.as_deref())?)),
            spec,
            netns,
            url,
        };
        p.wait_ready().await?;
        Ok(p)
    }

    /// Waits for `/readyz`; a process that exits meanwhile is an error
    /// at once, with its exit status.
    async fn wait_ready(&self) -> anyhow::Result<()> {
        let client = JsonClient::new(&self.url);
        let ready = client.wait_ready("/readyz", READY_PATIENCE);
        tokio::pin!(ready);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                r = &mut ready => return r.context("the SUT process did not get ready"),
                _ = tick.tick() => {
                    let exited = match self.child.lock().unwrap().as_mut() {
                        Some(c) => c.try_wait().ok().flatten(),
                        None => None,
                    };
                    if let Some(status) = exited {
                        anyhow::bail!("the SUT process exited ({status}) before it was ready");
                    }
                }
            }
        }
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port; ready when this returns Ok.
    pub async fn restart(&self) -> anyhow::Result<()> {
        self.kill();
        *self.child.lock().unwrap() = Some(spawn(&self.spec, self.netns.as_deref())?);
        self.wait_ready().await
    }

    /// How it exited, if it has (crashed, or was killed by someone else).
    pub fn exited(&self) -> Option<std::process::ExitStatus> {
        self.child
            .lock()
            .unwrap()
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Sends `signal` to it (SIGSTOP, SIGCONT, SIGTERM).
    pub fn signal(&self, signal: i32) {
        if let Some(c) = self.child.lock().unwrap().as_ref() {
            // SAFETY: kill only sends a signal to the child's pid.
            unsafe {
                libc::kill(c.id() as i32, signal);
            }
        }
    }

    /// Stops it as the in-process SUT stops: SIGTERM (it drains what it
    /// holds), then SIGKILL after `patience`.
    pub async fn stop(&self, patience: Duration) {
        self.signal(libc::SIGCONT);
        self.signal(libc::SIGTERM);
        let deadline = tokio::time::Instant::now() + patience;
        while tokio::time::Instant::now() < deadline {
            let exited = match self.child.lock().unwrap().as_mut() {
                Some(c) => c.try_wait().ok().flatten().is_some(),
                None => true,
            };
            if exited {
                self.child.lock().unwrap().take();
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.kill();
    }
}

impl Drop for SutProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Spawns this binary with the run's own arguments, as the SUT process
/// (through `ip netns exec`, which becomes it, in a namespace).
fn spawn(spec: &ChildSpec, netns: Option<&str>) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("cannot find this binary to start the SUT")?;
    let mut command = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    command
        .args(std::env::args_os().skip(1))
        .env(SUT_CHILD_ENV, spec.to_env())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    // SAFETY: prctl is async-signal-safe; the SUT dies with the run's
    // thread that started it if the run dies without stopping it.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command.spawn().context("cannot start the SUT process")
}

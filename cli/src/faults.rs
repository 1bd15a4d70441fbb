//! A local run's faults (`--fault`): the SUT as a process of its own (so it
//! can be killed and paused for real), and the timeline that applies each
//! fault at its time. The receiver applies its own faults from the plan.

use anyhow::Context;
use brokerbench_core::client::JsonClient;
use brokerbench_core::clock::unix_now_ns;
use brokerbench_core::fault::{Fault, FaultKind};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
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
}

impl ChildSpec {
    fn to_env(&self) -> String {
        let (b, t) = self.kafka.clone().unwrap_or_default();
        format!("{}|{}|{b}|{t}", self.listen, self.receiver_url)
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
            })
        };
        Some(parse().with_context(|| format!("bad {SUT_CHILD_ENV} {text:?}")))
    }
}

/// The SUT of a local run, as a child process on a fixed port.
pub struct SutProcess {
    spec: ChildSpec,
    child: Mutex<Option<Child>>,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl SutProcess {
    /// Starts the SUT process and waits until it is ready.
    pub async fn start(spec: ChildSpec) -> anyhow::Result<SutProcess> {
        let url = format!("http://{}", spec.listen);
        let p = SutProcess {
            child: Mutex::new(Some(spawn(&spec)?)),
            spec,
            url,
        };
        p.wait_ready().await?;
        Ok(p)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        JsonClient::new(&self.url)
            .wait_ready("/readyz", READY_PATIENCE)
            .await
            .context("the SUT process did not get ready")
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
        *self.child.lock().unwrap() = Some(spawn(&self.spec)?);
        self.wait_ready().await
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

/// Spawns this binary with the run's own arguments, as the SUT process.
fn spawn(spec: &ChildSpec) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("cannot find this binary to start the SUT")?;
    let mut command = Command::new(exe);
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

/// What the timeline acts on.
#[derive(Clone, Default)]
pub struct Targets {
    /// The SUT's base URL, where it serves `/v1/faults`.
    pub sut_url: Option<String>,
    /// The SUT process, for kills and pauses.
    pub sut: Option<Arc<SutProcess>>,
}

/// What happened to one fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub spec: String,
    /// Why it could not be applied (or undone), if it could not.
    pub error: Option<String>,
}

/// Applies every fault the receiver does not apply itself at its time
/// after `t0`, until each has ended or `stop`; returns what happened.
pub async fn run_timeline(
    faults: Vec<Fault>,
    t0_unix_ns: u64,
    targets: Targets,
    stop: tokio_util::sync::CancellationToken,
) -> Vec<Applied> {
    let mut tasks = tokio::task::JoinSet::new();
    for f in faults.iter().filter(|f| !f.kind.on_receiver()) {
        let (f, all, targets) = (f.clone(), faults.clone(), targets.clone());
        tasks.spawn(async move {
            let sut = targets.sut_url.as_deref().map(JsonClient::new);
            apply(&f, t0_unix_ns, targets.sut.as_deref(), sut.as_ref(), &all).await
        });
    }
    let mut applied = Vec::new();
    loop {
        tokio::select! {
            next = tasks.join_next() => match next {
                Some(Ok(a)) => applied.push(a),
                Some(Err(_)) => {}
                None => break,
            },
            _ = stop.cancelled() => break,
        }
    }
    // Those still going when the run ended: said so.
    for f in faults.iter().filter(|f| !f.kind.on_receiver()) {
        if !applied.iter().any(|a| a.spec == f.spec) && unix_now_ns() > t0_unix_ns {
            let why = "the run ended before it was over (a restarted SUT not ready yet, or a command still running)";
            eprintln!("brokerbench: fault {}: {why}", f.spec);
            applied.push(Applied {
                spec: f.spec.clone(),
                error: Some(why.to_string()),
            });
        }
    }
    applied
}

/// Sleeps until `s` seconds after `t0`.
async fn until(t0_unix_ns: u64, s: f64) {
    let at = t0_unix_ns + (s * 1e9) as u64;
    let now = unix_now_ns();
    if at > now {
        tokio::time::sleep(Duration::from_nanos(at - now)).await;
    }
}

fn since_t0(t0_unix_ns: u64) -> f64 {
    unix_now_ns().saturating_sub(t0_unix_ns) as f64 / 1e9
}

async fn apply(
    f: &Fault,
    t0: u64,
    process: Option<&SutProcess>,
    sut: Option<&JsonClient>,
    all: &[Fault],
) -> Applied {
    until(t0, f.at_s).await;
    let done = |error: Option<String>| Applied {
        spec: f.spec.clone(),
        error,
    };
    eprintln!("fault {}: on at {:.2} s", f.spec, since_t0(t0));
    let outcome: anyhow::Result<()> = async {
        match f.kind {
            FaultKind::SutKill | FaultKind::SutPause => {
                let p = process.context("no SUT process to act on")?;
                if f.kind == FaultKind::SutKill {
                    p.kill();
                } else {
                    p.signal(libc::SIGSTOP);
                }
                until(t0, f.end_s()).await;
                if f.kind == FaultKind::SutKill {
                    p.restart().await?;
                } else {
                    p.signal(libc::SIGCONT);
                }
            }
            FaultKind::SutLatency | FaultKind::Sut5xx => {
                let sut = sut.context("no SUT to tell")?;
                tell(sut, all, t0, f.at_s).await?;
                until(t0, f.end_s()).await;
                tell(sut, all, t0, f.end_s()).await?;
            }
            FaultKind::Command => {
                let command = f.command.clone().unwrap_or_default();
                let out = tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(&command)
                    .stdin(Stdio::null())
                    .output()
                    .await
                    .with_context(|| format!("cannot run {command:?}"))?;
                let said = String::from_utf8_lossy(&out.stderr);
                if !out.status.success() {
                    anyhow::bail!("{command:?} exited with {}: {}", out.status, said.trim());
                }
                until(t0, f.end_s()).await;
            }
            FaultKind::ReceiverStall | FaultKind::ReceiverDrop | FaultKind::Receiver5xx => {}
        }
        Ok(())
    }
    .await;
    match outcome {
        Ok(()) => {
            eprintln!("fault {}: off at {:.2} s", f.spec, since_t0(t0));
            done(None)
        }
        Err(e) => {
            eprintln!("brokerbench: fault {}: {e:#}", f.spec);
            done(Some(format!("{e:#}")))
        }
    }
}

/// Tells the SUT the ingress faults on at `s` seconds (the longest delay
/// and the first status of those on), or that none is.
async fn tell(sut: &JsonClient, all: &[Fault], t0: u64, s: f64) -> anyhow::Result<()> {
    let on = |k: FaultKind| {
        all.iter()
            .filter(move |f| f.kind == k && f.active_at(s + 1e-6))
    };
    let latency = on(FaultKind::SutLatency)
        .filter_map(|f| f.latency_ms)
        .fold(0.0, f64::max);
    let status = on(FaultKind::Sut5xx).find_map(|f| f.status);
    let mut query = Vec::new();
    if latency > 0.0 {
        query.push(format!("latency_ms={latency}"));
    }
    if let Some(s) = status {
        query.push(format!("status={s}"));
    }
    let path = format!("{}?{}", brokerbench_sut::ingress::FAULTS, query.join("&"));
    sut.exchange(http::Method::PUT, &path, None, Duration::from_secs(5))
        .await
        .with_context(|| format!("telling the SUT at {:.2} s", since_t0(t0)))?;
    Ok(())
}

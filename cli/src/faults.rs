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

/// After a broker kill, the SUT process is watched this many 100 ms
/// ticks for a crash.
const CRASH_WATCH_TICKS: u32 = 100;

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

/// A network namespace for the SUT, joined to this one by a veth pair
/// (`10.231.x.y/30`). A cut (`sut-cut`) drops every packet in and out of
/// the namespace (an nftables table of its own there), as a partition
/// does: packets vanish, connections stall. The links stay up, so nothing
/// meant for the SUT is routed anywhere else meanwhile.
pub struct Netns {
    name: String,
    host_if: String,
    /// This side's address, where the SUT reaches the receiver.
    pub host_ip: std::net::Ipv4Addr,
    /// The SUT's address.
    pub sut_ip: std::net::Ipv4Addr,
}

impl Netns {
    /// Creates it (needs root and `ip`); the error says what failed.
    pub fn create() -> anyhow::Result<Netns> {
        // Named by the run's process, so one left by a run that could not
        // clean up (killed, or quit on a second signal) is known as stale.
        let pid = std::process::id();
        for name in remove_stale(pid) {
            eprintln!("brokerbench: removed the network namespace {name} and its veth pair, left by a run whose process is gone");
        }
        let id = pid % 16_384;
        let (third, fourth) = ((id / 64) as u8, ((id % 64) * 4) as u8);
        let ns = Netns {
            name: format!("{NETNS_PREFIX}{pid}"),
            host_if: format!("bbh{pid}"),
            host_ip: std::net::Ipv4Addr::new(10, 231, third, fourth + 1),
            sut_ip: std::net::Ipv4Addr::new(10, 231, third, fourth + 2),
        };
        let sut_if = format!("bbs{pid}");
        let (host, sut) = (format!("{}/30", ns.host_ip), format!("{}/30", ns.sut_ip));
        let steps: [&[&str]; 8] = [
            &["netns", "add", &ns.name],
            &[
                "link",
                "add",
                &ns.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &sut_if,
            ],
            &["link", "set", &sut_if, "netns", &ns.name],
            &["addr", "add", &host, "dev", &ns.host_if],
            &["link", "set", &ns.host_if, "up"],
            &["-n", &ns.name, "addr", "add", &sut, "dev", &sut_if],
            &["-n", &ns.name, "link", "set", &sut_if, "up"],
            &["-n", &ns.name, "link", "set", "lo", "up"],
        ];
        let needs = "sut-cut runs the SUT in a network namespace of its own, which needs root, iproute2 (ip netns) and nftables";
        for step in steps {
            ip(step).context(needs)?;
        }
        // nft is there and works in it, before the run counts on it.
        ns.nft("list tables\n").context(needs)?;
        Ok(ns)
    }

    /// Cuts the namespace off (`true`) or joins it again.
    pub fn cut(&self, off: bool) -> anyhow::Result<()> {
        let rules = match off {
            true => {
                "table inet brokerbench_cut {\n\
                     chain in { type filter hook input priority 0; policy drop; }\n\
                     chain out { type filter hook output priority 0; policy drop; }\n}\n"
            }
            false => "delete table inet brokerbench_cut\n",
        };
        self.nft(rules)
    }

    /// Runs nftables commands in the namespace.
    fn nft(&self, rules: &str) -> anyhow::Result<()> {
        let mut nft = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot run nft (nftables) in the SUT's namespace")?;
        {
            use std::io::Write;
            let mut stdin = nft.stdin.take().context("nft's input")?;
            stdin.write_all(rules.as_bytes())?;
        }
        let out = nft.wait_with_output()?;
        if !out.status.success() {
            anyhow::bail!("nft: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // The veth pair goes with the namespace.
        let _ = ip(&["netns", "del", &self.name]);
        let _ = ip(&["link", "del", &self.host_if]);
    }
}

/// The name of a run's network namespace: this and the run's pid.
pub const NETNS_PREFIX: &str = "brokerbench-";

/// Removes the namespaces (and veth pairs) of runs whose process is gone;
/// their names.
fn remove_stale(own: u32) -> Vec<String> {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(NETNS_PREFIX)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != own && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
            let _ = ip(&["link", "del", &format!("bbh{pid}")]);
            removed.push(name.to_string());
        }
    }
    removed
}

/// Runs `ip ARGS`; its complaint as the error.
fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run ip (iproute2)")?;
    if !out.status.success() {
        anyhow::bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
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

/// What the timeline acts on.
#[derive(Clone, Default)]
pub struct Targets {
    /// The SUT's base URL, where it serves `/v1/faults`.
    pub sut_url: Option<String>,
    /// The SUT process, for kills and pauses.
    pub sut: Option<Arc<SutProcess>>,
    /// The SUT's network namespace, for cuts.
    pub netns: Option<Arc<Netns>>,
    /// The Kafka SUT's topic (on the local broker, for kills) and how it
    /// is made.
    pub kafka: Option<(
        Arc<brokerbench_sut::kafka::topic::KafkaTopic>,
        brokerbench_sut::kafka::topic::KafkaSettings,
    )>,
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
            apply(&f, t0_unix_ns, &targets, sut.as_ref(), &all).await
        });
    }
    let mut applied = Vec::new();
    let mut broken = None;
    loop {
        tokio::select! {
            next = tasks.join_next() => match next {
                Some(Ok(a)) => applied.push(a),
                Some(Err(e)) => broken = Some(e.to_string()),
                None => break,
            },
            _ = stop.cancelled() => break,
        }
    }
    // Those not over when the run ended (or whose task broke): said so.
    let now_s = since_t0(t0_unix_ns);
    for f in faults.iter().filter(|f| !f.kind.on_receiver()) {
        if applied.iter().any(|a| a.spec == f.spec) {
            continue;
        }
        let why = match (&broken, f.at_s <= now_s) {
            (Some(e), _) => format!("its task broke: {e}"),
            (None, true) => "the run ended before it was over (a restarted SUT not ready yet, or a command still running)".to_string(),
            (None, false) => "the run ended before its time".to_string(),
        };
        eprintln!("brokerbench: fault {}: {why}", f.spec);
        applied.push(Applied {
            spec: f.spec.clone(),
            error: Some(why),
        });
    }
    applied
}

/// Every fault the timeline applies, as not applied, for `why`.
pub fn not_applied(faults: &[Fault], why: &str) -> Vec<Applied> {
    faults
        .iter()
        .filter(|f| !f.kind.on_receiver())
        .map(|f| Applied {
            spec: f.spec.clone(),
            error: Some(why.to_string()),
        })
        .collect()
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
    targets: &Targets,
    sut: Option<&JsonClient>,
    all: &[Fault],
) -> Applied {
    let process = targets.sut.as_deref();
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
            FaultKind::SutCut => {
                let ns = targets
                    .netns
                    .as_deref()
                    .context("the SUT is in no namespace of its own")?;
                ns.cut(true)?;
                until(t0, f.end_s()).await;
                ns.cut(false)?;
            }
            FaultKind::KafkaKill => {
                let (topic, settings) = targets.kafka.as_ref().context("no Kafka SUT")?;
                let broker = topic
                    .local
                    .as_ref()
                    .context("the Kafka broker is not one this run started")?;
                broker.kill();
                until(t0, f.end_s()).await;
                broker.restart().await?;
                // Its storage is memory: the topic is made again (with a
                // new topic id).
                settings.create(topic).await?;
                eprintln!(
                    "fault {}: the broker is back at {:.2} s, topic {} made again",
                    f.spec,
                    since_t0(t0),
                    topic.name
                );
                // The SUT's Kafka client (librdkafka 2.12) can crash on the
                // topic's new id: the SUT, a process of its own, is then
                // started again, as a supervisor would.
                if let Some(p) = process {
                    for _ in 0..CRASH_WATCH_TICKS {
                        if let Some(status) = p.exited() {
                            eprintln!(
                                "fault {}: the SUT process died ({status}) after the broker came back; starting it again",
                                f.spec
                            );
                            p.restart().await?;
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
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
                    // Not left running when the run ends.
                    .kill_on_drop(true)
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
    let path = format!(
        "{}?{}",
        brokerbench_core::session::path::FAULTS,
        query.join("&")
    );
    sut.exchange(http::Method::PUT, &path, None, Duration::from_secs(5))
        .await
        .with_context(|| format!("telling the SUT at {:.2} s", since_t0(t0)))?;
    Ok(())
}

//! The timeline of a run's faults: each applied at its time after the
//! run's start, and undone when it ends. The receiver applies its own
//! faults from the plan.

use crate::faults::netns::Netns;
use crate::faults::process::SutProcess;
use anyhow::Context;
use brokerbench_core::client::JsonClient;
use brokerbench_core::clock::unix_now_ns;
use brokerbench_core::fault::{Fault, FaultKind};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

/// After a broker kill, the SUT process is watched this many 100 ms
/// ticks for a crash.
const CRASH_WATCH_TICKS: u32 = 100;

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
            FaultKind::KafkaKill => kill_kafka(f, t0, targets).await?,
            FaultKind::SutLatency | FaultKind::Sut5xx => {
                let sut = sut.context("no SUT to tell")?;
                tell(sut, all, t0, f.at_s).await?;
                until(t0, f.end_s()).await;
                tell(sut, all, t0, f.end_s()).await?;
            }
            FaultKind::Command => run_command(f, t0).await?,
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

/// Kills the local Kafka broker for the fault's length, then starts it
/// again and makes the topic again; a SUT process that dies of it is
/// started again too.
async fn kill_kafka(f: &Fault, t0: u64, targets: &Targets) -> anyhow::Result<()> {
    let process = targets.sut.as_deref();
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
    Ok(())
}

/// Runs the fault's command (`sh -c`) at its time; its failure is the
/// fault's error.
async fn run_command(f: &Fault, t0: u64) -> anyhow::Result<()> {
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
    Ok(())
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

//! `k8s wait`, `k8s collect`, `k8s delete`: the run on the cluster, seen
//! from the user's machine through the aggregator's status and results
//! (`kubectl port-forward` to its Service, or its URL when reachable).

use crate::config::{AGGREGATOR_PORT, PART_OF, RUN_LABEL, TOKEN_SECRET_ANNOTATION};
use anyhow::{bail, Context};
use brokerbench_aggregator::conclude::{draw, EXIT_INTERRUPTED};
use brokerbench_core::client::JsonClient;
use brokerbench_core::session::path;
use brokerbench_core::wire::{Phase, RunStatus};
use brokerbench_local::faults::timeline::{run_timeline, Targets};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// Which run on which cluster, and how to reach its aggregator.
#[derive(Debug, Clone)]
pub struct Remote {
    pub namespace: String,
    pub run_name: String,
    /// The aggregator's URL (checked) when this machine reaches it;
    /// otherwise `kubectl port-forward` to its Service.
    pub aggregator: Option<String>,
    /// The kubectl to run.
    pub kubectl: String,
    /// The run's token, if given (otherwise read from its Secret).
    pub token: Option<String>,
}

/// What `k8s collect` does.
#[derive(Debug, Clone)]
pub struct Collect {
    pub remote: Remote,
    /// Parent folder of the results folder.
    pub out: PathBuf,
    /// Leave the results on the aggregator.
    pub keep: bool,
    pub no_plot: bool,
}

/// What `k8s delete` does.
#[derive(Debug, Clone)]
pub struct Delete {
    pub remote: Remote,
    pub dry_run: bool,
}

/// How long the aggregator may stay silent before `wait` gives up.
const SILENCE: Duration = Duration::from_secs(60);
/// How long `kubectl port-forward` may take to say where it listens.
const FORWARD_PATIENCE: Duration = Duration::from_secs(30);
/// How long the results may take to come over.
const RESULTS_PATIENCE: Duration = Duration::from_secs(300);

/// The aggregator, reached directly or through a port-forward (stopped
/// when this is dropped).
struct Aggregator {
    client: JsonClient,
    _forward: Option<Child>,
}

async fn reach(o: &Remote) -> anyhow::Result<Aggregator> {
    if let Some(url) = &o.aggregator {
        return Ok(Aggregator {
            client: JsonClient::new(url).or_token(o.token.clone()),
            _forward: None,
        });
    }
    let service = format!("service/{}-aggregator", o.run_name);
    let service = service.as_str();
    let mut child = Command::new(&o.kubectl)
        .args(["port-forward", "--namespace", &o.namespace, service])
        .arg(format!(":{AGGREGATOR_PORT}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "cannot run {} (install kubectl, or give --aggregator URL)",
                o.kubectl
            )
        })?;
    let stdout = child
        .stdout
        .take()
        .context("kubectl port-forward: no output")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    // "Forwarding from 127.0.0.1:41231 -> 7000"
    let port = tokio::time::timeout(FORWARD_PATIENCE, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(port) = forwarded_port(&line) {
                return Some(port);
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let Some(port) = port else {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use tokio::io::AsyncReadExt;
            let _ = tokio::time::timeout(Duration::from_secs(2), e.read_to_string(&mut err)).await;
        }
        bail!(
            "kubectl port-forward to {service} in namespace {} did not start: {}",
            o.namespace,
            err.lines().next().unwrap_or("no answer")
        );
    };
    // Keep reading what it prints, so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let token = match &o.token {
        Some(t) => Some(t.clone()),
        None => run_token(o).await,
    };
    Ok(Aggregator {
        client: JsonClient::new(&format!("http://127.0.0.1:{port}")).or_token(token),
        _forward: Some(child),
    })
}

/// The run's token from its Secret (the one the aggregator's Job names,
/// its own by default), if kubectl may read it.
async fn run_token(o: &Remote) -> Option<String> {
    let kubectl = |args: Vec<String>| async move {
        let out = Command::new(&o.kubectl)
            .args(&args)
            .args(["--namespace", &o.namespace])
            .output()
            .await
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !text.is_empty()).then_some(text)
    };
    let secret = kubectl(vec![
        "get".into(),
        "job".into(),
        format!("{}-aggregator", o.run_name),
        format!("--output=go-template={{{{index .metadata.annotations \"{TOKEN_SECRET_ANNOTATION}\"}}}}"),
    ])
    .await
    .filter(|s| s != "<no value>")
    .unwrap_or_else(|| crate::config::run_token_secret(&o.run_name));
    kubectl(vec![
        "get".into(),
        "secret".into(),
        secret,
        "--output=go-template={{.data.token | base64decode}}".into(),
    ])
    .await
}

/// The local port of a `kubectl port-forward` line.
fn forwarded_port(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("Forwarding from 127.0.0.1:")?;
    rest.split_whitespace().next()?.parse().ok()
}

async fn status(a: &Aggregator) -> anyhow::Result<RunStatus> {
    Ok(a.client.get(path::STATUS, Duration::from_secs(10)).await?)
}

/// The run's command faults (`command@AT:CMD`), run from this machine at
/// their times, as a pod has no kubectl: once the run starts, until
/// `stop`.
async fn run_commands(client: JsonClient, stop: tokio_util::sync::CancellationToken) {
    use brokerbench_core::fault::FaultKind;
    use brokerbench_core::plan::RunPlan;
    let plan: RunPlan = match client.get_patiently(path::PLAN, SILENCE).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("brokerbench: cannot read the run's plan, so none of its command faults is run from here ({e}; give --token, or ?token= on --aggregator)");
            return;
        }
    };
    let commands: Vec<_> = plan
        .faults
        .into_iter()
        .filter(|f| f.kind == FaultKind::Command)
        .collect();
    if commands.is_empty() {
        return;
    }
    eprintln!(
        "brokerbench: {} command fault(s) run from this machine at their times: keep k8s wait running",
        commands.len()
    );
    let started: RunPlan = tokio::select! {
        p = client.get(path::START, Duration::from_secs(24 * 3600)) => match p {
            Ok(p) => p,
            Err(e) => {
                eprintln!("brokerbench: the run's start was not heard, so its command faults are not run: {e}");
                return;
            }
        },
        _ = stop.cancelled() => return,
    };
    let targets = Targets::default();
    run_timeline(commands, started.t0(), targets, stop).await;
}

/// `k8s wait`: the progress line each second until the run ends, the
/// run's command faults at their times; the run's exit code. It only
/// watches: `shutdown` (the first Ctrl-C or SIGTERM) ends it at once,
/// the run going on in the cluster.
pub async fn wait(o: &Remote, shutdown: CancellationToken) -> anyhow::Result<i32> {
    let stopped = || {
        eprintln!(
            "\nbrokerbench: stopped watching; the run goes on in the cluster (brokerbench k8s wait --namespace {} --run-name {} to watch again, brokerbench k8s delete ... to stop it)",
            o.namespace, o.run_name
        );
        EXIT_INTERRUPTED
    };
    let a = tokio::select! {
        a = reach(o) => a?,
        _ = shutdown.cancelled() => return Ok(stopped()),
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let _stop_commands = stop.clone().drop_guard();
    tokio::spawn(run_commands(a.client.clone(), stop.clone()));
    let tty = std::io::stderr().is_terminal();
    let mut last_line = String::new();
    let mut heard = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let s = tokio::select! {
            s = async {
                tick.tick().await;
                status(&a).await
            } => s,
            _ = shutdown.cancelled() => return Ok(stopped()),
        };
        let s = match s {
            Ok(s) => {
                heard = tokio::time::Instant::now();
                s
            }
            Err(e) if heard.elapsed() > SILENCE => {
                bail!("the aggregator stopped answering for {SILENCE:?}: {e:#}")
            }
            Err(_) => continue,
        };
        if s.line != last_line && !s.line.is_empty() {
            let mut err = std::io::stderr().lock();
            let _ = if tty {
                write!(err, "\r\x1b[2K{}", s.line)
            } else {
                writeln!(err, "{}", s.line)
            };
            let _ = err.flush();
            last_line = s.line.clone();
        }
        match s.phase {
            Phase::Waiting | Phase::Running => continue,
            Phase::Finished | Phase::Failed => {
                if tty {
                    eprintln!();
                }
                return Ok(ended(&s, &o.namespace));
            }
        }
    }
}

/// Says how the run ended; its exit code.
fn ended(s: &RunStatus, namespace: &str) -> i32 {
    let code = s.exit_code.unwrap_or(1);
    match (&s.phase, &s.results) {
        (Phase::Finished, Some(name)) => println!(
            "run finished (exit code {code}): results {name}; fetch them with brokerbench k8s collect --namespace {namespace}"
        ),
        _ => println!(
            "run failed: {}",
            s.error.as_deref().unwrap_or("no reason given")
        ),
    }
    code
}

/// `k8s collect`: the results folder into `--out`, its table, its graphs;
/// the run's exit code.
pub async fn collect(o: &Collect) -> anyhow::Result<i32> {
    let a = reach(&o.remote).await?;
    let s = status(&a).await?;
    match s.phase {
        Phase::Waiting | Phase::Running => bail!(
            "the run is not over yet ({}): brokerbench k8s wait --namespace {} first",
            if s.phase == Phase::Waiting {
                "waiting for its roles"
            } else {
                "running"
            },
            o.remote.namespace
        ),
        Phase::Failed => {
            release(&a, o.keep).await;
            bail!("the run failed: {}", s.error.unwrap_or_default());
        }
        Phase::Finished => {}
    }
    let name = s
        .results
        .clone()
        .context("the aggregator names no results folder")?;
    let target = o.out.join(&name);
    if target.exists() {
        bail!(
            "{} exists already: collect into another --out",
            target.display()
        );
    }
    let tar = a
        .client
        .exchange(http::Method::GET, path::RESULTS, None, RESULTS_PATIENCE)
        .await?;
    let dir = unpack(&tar, &o.out, &name)?;
    release(&a, o.keep).await;
    let run = brokerbench_aggregator::compare::load(&dir)?;
    print!(
        "{}",
        brokerbench_aggregator::table::render(&run.summary, &dir.display().to_string())
    );
    if !o.no_plot && !draw(&dir, &Default::default()) {
        return Ok(1);
    }
    Ok(s.exit_code.unwrap_or(0))
}

/// Unpacks the results tar into `out`: one folder, `name`, with a
/// summary.json.
fn unpack(tar: &[u8], out: &Path, name: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().context("the results are no tar")? {
        let mut entry = entry.context("the results tar is broken")?;
        let path = entry.path()?.into_owned();
        if path.components().next().map(|c| c.as_os_str()) != Some(std::ffi::OsStr::new(name)) {
            bail!("the results tar holds {} outside {name}/", path.display());
        }
        // `unpack_in` refuses paths that climb out of `out`.
        entry
            .unpack_in(out)
            .with_context(|| format!("cannot write {}", out.join(&path).display()))?;
    }
    let dir = out.join(name);
    if !dir.join("summary.json").is_file() {
        bail!("the results tar has no {name}/summary.json");
    }
    Ok(dir)
}

/// Tells the aggregator its results are collected (it exits), unless `keep`.
async fn release(a: &Aggregator, keep: bool) {
    if keep {
        return;
    }
    if let Err(e) = a
        .client
        .exchange(
            http::Method::DELETE,
            path::RESULTS,
            None,
            Duration::from_secs(10),
        )
        .await
    {
        eprintln!("brokerbench: the aggregator was not told the results are collected (it keeps them until its --keep-results deadline): {e}");
    }
}

/// The kinds a render creates in the run's namespace.
const KINDS: &str = "jobs,deployments,services,configmaps,secrets,serviceaccounts,\
triggers.eventing.knative.dev,brokers.eventing.knative.dev,\
subscriptions.messaging.knative.dev,inmemorychannels.messaging.knative.dev,\
kafkachannels.messaging.knative.dev,kafkasources.sources.knative.dev";

/// The kubectl commands `k8s delete` runs: the run's objects by its label
/// (Knative kinds the cluster lacks are skipped) and the Strimzi topic of
/// a source-kafka run. The namespace goes after them only if the render
/// created it: `delete` reads its labels first (a namespace the run did
/// not create is never deleted).
pub fn delete_commands(namespace: &str, run: &str) -> Vec<Vec<String>> {
    let label = format!("{}={},{RUN_LABEL}={run}", PART_OF.0, PART_OF.1);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut commands = Vec::new();
    for kind in KINDS.split(',') {
        commands.push(s(&[
            "delete",
            kind,
            "--namespace",
            namespace,
            "--selector",
            &label,
            "--ignore-not-found",
            "--wait=false",
        ]));
    }
    commands.push(s(&[
        "delete",
        "kafkatopics.kafka.strimzi.io",
        "--all-namespaces",
        "--selector",
        &format!("{label},app.kubernetes.io/component=sut"),
        "--field-selector",
        &format!("metadata.name={run}-{namespace}"),
        "--ignore-not-found",
    ]));
    commands
}

/// The namespace's run label, if kubectl may read it (`None`: no such
/// namespace, no label, or no right to read it).
async fn namespace_run(kubectl: &str, namespace: &str) -> Option<String> {
    let out = Command::new(kubectl)
        .args(["get", "namespace", namespace])
        .arg(format!(
            "--output=go-template={{{{index .metadata.labels \"{RUN_LABEL}\"}}}}"
        ))
        .output()
        .await
        .ok()?;
    let run = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !run.is_empty() && run != "<no value>").then_some(run)
}

/// `k8s delete`.
pub async fn delete(o: &Delete) -> anyhow::Result<i32> {
    let mut failed = 0;
    let (kubectl, ns, run) = (&o.remote.kubectl, &o.remote.namespace, &o.remote.run_name);
    let mut commands = delete_commands(ns, run);
    if o.dry_run {
        for args in &commands {
            println!("{kubectl} {}", args.join(" "));
        }
        println!("# and, if namespace {ns} carries {RUN_LABEL}={run} (the render created it): {kubectl} delete namespace {ns} --ignore-not-found --wait=false");
        return Ok(0);
    }
    if namespace_run(kubectl, ns).await.as_deref() == Some(run.as_str()) {
        commands.push(
            [
                "delete",
                "namespace",
                ns,
                "--ignore-not-found",
                "--wait=false",
            ]
            .map(String::from)
            .to_vec(),
        );
    }
    for args in commands {
        let line = format!("{kubectl} {}", args.join(" "));
        let out = Command::new(kubectl)
            .args(&args)
            .output()
            .await
            .with_context(|| format!("cannot run {kubectl}"))?;
        let err = String::from_utf8_lossy(&out.stderr);
        // A kind the cluster does not have (no Knative, no Strimzi) is
        // fine; so is a topic in namespaces this user may not list.
        let fine = err.contains("the server doesn't have a resource type")
            || (args[1] == "kafkatopics.kafka.strimzi.io" && err.contains("forbidden"));
        if !out.status.success() && !fine {
            eprintln!("{line}: {}", err.lines().next().unwrap_or("failed"));
            failed += 1;
        }
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_forward_line_gives_the_local_port() {
        assert_eq!(
            forwarded_port("Forwarding from 127.0.0.1:41231 -> 7000"),
            Some(41231)
        );
        assert_eq!(forwarded_port("Forwarding from [::1]:41231 -> 7000"), None);
        assert_eq!(forwarded_port("Handling connection for 41231"), None);
    }

    /// Only the run's objects, by its label; no namespace (delete adds it
    /// only after reading that the render created it).
    #[test]
    fn delete_selects_the_runs_objects_and_no_namespace() {
        let c = delete_commands("team-a", "run-2");
        assert_eq!(c.len(), 13);
        let label = "app.kubernetes.io/part-of=brokerbench,brokerbench.dev/run=run-2".to_string();
        assert!(c.iter().all(|a| a.iter().any(|w| w.contains(&label))));
        assert!(c[..12].iter().all(|a| a.contains(&"team-a".to_string())));
        assert!(c[..12].iter().any(|a| a[1] == "secrets"), "the run's token");
        assert_eq!(c[12][1], "kafkatopics.kafka.strimzi.io");
        assert!(!c.iter().any(|a| a[1] == "namespace"), "{c:?}");
    }
}

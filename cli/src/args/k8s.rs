//! Options of `brokerbench k8s`: render a run's manifests, wait for it,
//! collect its results, delete what it created.

use super::common::PlanOpts;
use super::sut::FanOutOpts;
use anyhow::bail;
use brokerbench_k8s::config::{
    KafkaCluster, Pace, Part, PodSettings, RenderConfig, Resources, SutImpl, DEFAULT_RUN,
};
use brokerbench_k8s::remote::{Collect, Delete, Remote};
use brokerbench_sut::Sut;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

/// `brokerbench k8s`.
#[derive(Debug, Clone, Args)]
pub struct K8sOpts {
    #[command(subcommand)]
    pub action: K8sAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum K8sAction {
    /// Print the manifests of a run for `kubectl apply -f -` (or write them
    /// to --out-dir for `kubectl apply -k`): a service account, the
    /// aggregator, receivers and senders as Jobs with Services, the
    /// scenario's SUT (Knative's resources, or the suite's own SUT with
    /// --sut-impl brokerbench), and the namespace with --create-namespace.
    Render(Box<RenderOpts>),
    /// Follow a rendered run until it ends (the aggregator's progress line
    /// each second); the exit code is the run's (3: an --slo was missed).
    Wait(RemoteOpts),
    /// Fetch the finished run's results folder from the aggregator into
    /// --out and draw its graphs here; the aggregator then exits.
    Collect(CollectOpts),
    /// Delete the objects of one run (by its label), and its namespace if
    /// the render created it.
    Delete(DeleteOpts),
}

/// `brokerbench k8s render`.
#[derive(Debug, Clone, Args)]
pub struct RenderOpts {
    /// The system under test, by the names `run --sut` takes (as
    /// Knative's resources, or the suite's own with --sut-impl).
    #[arg(long, visible_alias = "scenario", value_name = "SUT")]
    pub sut: Sut,
    /// Who serves the SUT: Knative Eventing's resources, or the suite's
    /// own SUT as a Deployment (a cluster without Knative; the Kafka
    /// scenarios need --kafka-bootstrap).
    #[arg(long, value_enum, default_value = "knative", value_name = "IMPL")]
    pub sut_impl: SutImpl,
    /// Publish to a broker or channel you already have (its ingress URL)
    /// instead of rendering one; --copies says how many deliveries each
    /// event owes when it fans out to the receiver's /c/0 ... /c/N-1.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Namespace of the run. It must exist, unless --create-namespace.
    #[arg(long, default_value = "brokerbench", value_name = "NAME")]
    pub namespace: String,
    /// Render the Namespace object too: the run owns it, and `k8s delete`
    /// removes it with the run (never `default` or `kube-*`).
    #[arg(long)]
    pub create_namespace: bool,
    /// The run's name: every object's name starts with it and carries it
    /// as the label brokerbench.dev/run, so several runs can share a
    /// namespace (give `k8s wait`, `collect` and `delete` the same).
    #[arg(long, default_value = DEFAULT_RUN, value_name = "NAME")]
    pub run_name: String,
    /// The image of every role (built from deploy/Containerfile).
    #[arg(long, default_value = concat!("brokerbench:", env!("CARGO_PKG_VERSION")), value_name = "IMAGE")]
    pub image: String,
    /// When the kubelet pulls the image: IfNotPresent, Always or Never.
    #[arg(long, default_value = "IfNotPresent", value_name = "POLICY",
          value_parser = ["IfNotPresent", "Always", "Never"])]
    pub image_pull_policy: String,
    /// Senders (an Indexed Job; each index its own sequence space).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub senders: u32,
    /// Receivers (an Indexed Job behind one Service).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub receivers: u32,
    #[command(flatten)]
    pub plan: PlanOpts,
    #[command(flatten)]
    pub fan_out: FanOutOpts,
    /// Kafka scenarios: the cluster (`host:port[,...]`), default Strimzi's
    /// `my-cluster` in namespace `kafka`.
    #[arg(
        long,
        default_value = "my-cluster-kafka-bootstrap.kafka.svc:9092",
        value_name = "HOSTS"
    )]
    pub kafka_bootstrap: String,
    /// Kafka scenarios: partitions of the channel's or the run's topic.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub partitions: i32,
    /// Kafka scenarios: replication factor.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub replication: i32,
    /// source-kafka: the KafkaTopic's API version: v1 (Strimzi 1.0 and
    /// later serve only it) or v1beta2 (older Strimzi).
    #[arg(long, default_value = "v1", value_name = "VERSION", value_parser = ["v1", "v1beta2"])]
    pub strimzi_api: String,
    /// source-kafka: the namespace and name of the Strimzi cluster that
    /// gets the run's KafkaTopic.
    #[arg(long, default_value = "kafka", value_name = "NAME")]
    pub kafka_namespace: String,
    #[arg(long, default_value = "my-cluster", value_name = "NAME")]
    pub strimzi_cluster: String,
    /// Each sender's CPU and memory (requests = limits). Two cores hold
    /// its runtime thread and the spinning pacer without throttling; under
    /// two the senders pace with the sleeping pacer.
    #[arg(long, default_value = "2,512Mi", value_name = "CPU,MEMORY")]
    pub sender_resources: String,
    #[arg(long, default_value = "1,512Mi", value_name = "CPU,MEMORY")]
    pub receiver_resources: String,
    #[arg(long, default_value = "500m,512Mi", value_name = "CPU,MEMORY")]
    pub aggregator_resources: String,
    /// The suite's own SUT (--sut-impl brokerbench).
    #[arg(long, default_value = "2,2Gi", value_name = "CPU,MEMORY")]
    pub sut_resources: String,
    /// Put senders on other nodes than the receivers (default: on a
    /// receiver's node, so their clocks are one and no network is between).
    #[arg(long)]
    pub spread: bool,
    /// A node the suite's roles must stay off (the SUT's data-plane
    /// nodes); repeat for several.
    #[arg(long, value_name = "NODE")]
    pub avoid_node: Vec<String>,
    /// A Secret with the registry's credentials, for every pod
    /// (imagePullSecrets); repeat for several.
    #[arg(long, value_name = "SECRET")]
    pub image_pull_secret: Vec<String>,
    /// A node label every pod must match, `key=value` (nodeSelector);
    /// repeat for several.
    #[arg(long, value_name = "KEY=VALUE")]
    pub node_selector: Vec<String>,
    /// A taint every pod tolerates, as kubectl taint writes it:
    /// `key=value:Effect`, `key:Effect` (any value) or `key=value` (any
    /// effect); repeat for several.
    #[arg(long, value_name = "TAINT")]
    pub toleration: Vec<String>,
    /// The pods' PriorityClass.
    #[arg(long, value_name = "NAME")]
    pub priority_class: Option<String>,
    /// An annotation on every pod, `key=value` (e.g.
    /// sidecar.istio.io/inject=false: a Job whose pod keeps a sidecar
    /// never completes); repeat for several.
    #[arg(long, value_name = "KEY=VALUE")]
    pub pod_annotation: Vec<String>,
    /// An existing service account for the pods (none is rendered).
    #[arg(long, value_name = "NAME")]
    pub service_account: Option<String>,
    /// Objectives of the run (as `run --slo`): the aggregator's exit code
    /// is 3 when one is missed.
    #[arg(long, value_name = "SPEC")]
    pub slo: Option<String>,
    /// A Secret (in the run's namespace) whose key `token` the senders
    /// send as their `Authorization` header (e.g. `Bearer ...` for an
    /// OIDC-protected Knative ingress).
    #[arg(long, value_name = "SECRET")]
    pub token_secret: Option<String>,
    /// A Secret whose key `client.properties` holds librdkafka settings
    /// (SASL, TLS) for the Kafka clients: the senders of source-kafka and
    /// the suite's own Kafka SUTs.
    #[arg(long, value_name = "SECRET")]
    pub kafka_secret: Option<String>,
    /// The run's token from an existing Secret (its key `token`) instead of
    /// a fresh one rendered in a Secret: the YAML then holds no secret (a
    /// GitOps repository).
    #[arg(long, value_name = "SECRET")]
    pub token_secret_ref: Option<String>,
    /// How long the aggregator keeps the results for `k8s collect` after
    /// the run (it exits once they are collected).
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub keep_results: String,
    /// How long the aggregator waits for every sender and receiver to be
    /// ready (a pod no node has room for stays Pending); then the run
    /// fails naming them. The Jobs' activeDeadlineSeconds add it to the
    /// run's length.
    #[arg(long, default_value = super::roles::DEFAULT_START_TIMEOUT, value_name = "DURATION")]
    pub start_timeout: String,
    /// Which documents: all, sut (apply first, wait for it to be ready)
    /// or roles.
    #[arg(long, value_enum, default_value = "all", value_name = "PART")]
    pub part: Part,
    /// Write one file per object and a kustomization.yaml into DIR (for
    /// `kubectl apply -k DIR`, and a team's overlays) instead of printing.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

fn resources(flag: &str, text: &str) -> anyhow::Result<Resources> {
    let Some((cpu, memory)) = text.split_once(',') else {
        bail!("--{flag} {text:?}: expected CPU,MEMORY, e.g. 1,512Mi");
    };
    let cores = match cpu.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().ok().map(|m| m / 1000.0),
        None => cpu.parse::<f64>().ok(),
    }
    .filter(|c| *c > 0.0 && c.is_finite());
    let cpu_ok = cores.is_some();
    let mem_ok = {
        let n = memory.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit = &memory[n.len()..];
        n.parse::<u64>().is_ok_and(|v| v > 0)
            && ["", "Ki", "Mi", "Gi", "Ti", "k", "M", "G", "T"].contains(&unit)
    };
    if !cpu_ok || !mem_ok {
        bail!("--{flag} {text:?}: expected CPU,MEMORY as Kubernetes quantities, e.g. 500m,512Mi");
    }
    Ok(Resources {
        cpu: cpu.to_string(),
        cores: cores.unwrap_or(0.0),
        memory: memory.to_string(),
    })
}

/// `key=value` of a label or annotation option.
fn key_value(flag: &str, text: &str) -> anyhow::Result<(String, String)> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() && !k.contains(char::is_whitespace) => {
            Ok((k.to_string(), v.to_string()))
        }
        _ => bail!("--{flag} {text:?}: expected KEY=VALUE"),
    }
}

/// A toleration as `kubectl taint` writes the taint: `key=value:Effect`,
/// `key:Effect` or `key=value`.
fn toleration(text: &str) -> anyhow::Result<serde_json::Value> {
    let (taint, effect) = match text.rsplit_once(':') {
        Some((t, e)) => (t, Some(e)),
        None => (text, None),
    };
    let (key, value) = match taint.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (taint, None),
    };
    let effects = ["NoSchedule", "PreferNoSchedule", "NoExecute"];
    if key.is_empty() || effect.is_some_and(|e| !effects.contains(&e)) {
        bail!(
            "--toleration {text:?}: expected key=value:Effect, key:Effect or key=value, Effect one of {}",
            effects.join(", ")
        );
    }
    let mut t = serde_json::json!({ "key": key });
    match value {
        Some(v) => {
            t["operator"] = "Equal".into();
            t["value"] = v.into();
        }
        None => t["operator"] = "Exists".into(),
    }
    if let Some(e) = effect {
        t["effect"] = e.into();
    }
    Ok(t)
}

/// A DNS-1123 subdomain: what the name of a Secret, a ServiceAccount or
/// a PriorityClass must be (dots allowed, 253 characters).
fn check_subdomain(flag: &str, v: &str) -> anyhow::Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if !ok {
        bail!(
            "--{flag} {v:?}: a Kubernetes object name is lower-case letters, digits, '-' and '.'"
        );
    }
    Ok(())
}

/// A DNS-1123 label: what a namespace name must be.
fn check_label(flag: &str, v: &str) -> anyhow::Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !v.starts_with('-')
        && !v.ends_with('-');
    if !ok {
        bail!("--{flag} {v:?}: a Kubernetes name is 1-63 lower-case letters, digits and '-'");
    }
    Ok(())
}

impl RenderOpts {
    pub fn into_config(self) -> anyhow::Result<RenderConfig> {
        let sut = self.sut;
        let spec = sut.spec();
        self.check_names()?;
        let pod = self.pod_settings()?;
        if self.senders == 0 || self.receivers == 0 {
            bail!("--senders and --receivers must be at least 1");
        }
        if self.partitions < 1 || self.replication < 1 {
            bail!("--partitions and --replication must be at least 1");
        }
        let fan_out = self.fan_out.fan_out();
        let mut plan = self.plan.clone();
        match &self.target {
            Some(t) => {
                super::common::check_url(t, "--target")?;
                fan_out.check(None, "--target")?;
            }
            None => {
                fan_out.check_sut(sut)?;
                plan.copies = fan_out.copies(spec.routing);
            }
        }
        if let Some(slo) = &self.slo {
            brokerbench_aggregator::slo::Slo::parse(slo)?;
        }
        let keep_results = brokerbench_core::duration::parse(&self.keep_results)
            .map_err(|e| anyhow::anyhow!("--keep-results: {e}"))?;
        let start_timeout = super::roles::start_timeout(&self.start_timeout)?;
        // The plan is checked as the aggregator will check it.
        let checked = plan.plan(sut.spec().name, self.senders, self.receivers, 1)?;
        // The receivers apply theirs from the plan; `k8s wait` runs the
        // commands from the user's machine. The others act on a SUT
        // process or broker `brokerbench run` starts.
        if let Some(f) = checked.faults.iter().find(|f| !f.kind.for_separate_roles()) {
            bail!(
                "--fault {:?}: on Kubernetes the receiver's faults and command@AT[+FOR]:CMD are rendered ({} acts on a SUT brokerbench run starts); e.g. command@10:kubectl delete pod -l app.kubernetes.io/component=sut",
                f.spec,
                f.kind
            );
        }
        let pace = pace(&self.plan.pace)?;
        let flags = plan_flags(&plan);
        let run_seconds = checked.schedule.total_seconds()
            + u64::from(plan.warmup_seconds)
            + u64::from(plan.drain_seconds);
        Ok(RenderConfig {
            name: self.run_name,
            run_token: brokerbench_core::session::new_token(),
            token_secret_ref: self.token_secret_ref,
            scenario: sut,
            sut_impl: self.sut_impl,
            target: self.target,
            namespace: self.namespace,
            create_namespace: self.create_namespace,
            image: self.image,
            pull_policy: self.image_pull_policy,
            senders: self.senders,
            receivers: self.receivers,
            pace,
            plan: flags,
            faults: checked.faults.iter().map(|f| f.spec.clone()).collect(),
            fan_out,
            kafka: KafkaCluster {
                bootstrap: self.kafka_bootstrap,
                partitions: self.partitions,
                replication: self.replication,
                topic_namespace: self.kafka_namespace,
                strimzi_cluster: self.strimzi_cluster,
                strimzi_api: self.strimzi_api,
            },
            sender: resources("sender-resources", &self.sender_resources)?,
            receiver: resources("receiver-resources", &self.receiver_resources)?,
            aggregator: resources("aggregator-resources", &self.aggregator_resources)?,
            sut: resources("sut-resources", &self.sut_resources)?,
            spread: self.spread,
            avoid_nodes: self.avoid_node,
            pod,
            slo: self.slo,
            token_secret: self.token_secret,
            kafka_secret: self.kafka_secret,
            keep_results: self.keep_results,
            keep_results_seconds: keep_results.as_secs(),
            start_timeout: self.start_timeout,
            start_timeout_seconds: start_timeout.map_or(0, |d| d.as_secs()),
            run_seconds,
            part: self.part,
        })
    }
}

impl RenderOpts {
    /// The names the render gives objects and refers to, as Kubernetes
    /// takes them.
    fn check_names(&self) -> anyhow::Result<()> {
        check_label("namespace", &self.namespace)?;
        check_label("kafka-namespace", &self.kafka_namespace)?;
        check_run_name(&self.run_name)?;
        if self.create_namespace
            && (self.namespace == "default" || self.namespace.starts_with("kube-"))
        {
            bail!(
                "--create-namespace with --namespace {}: that namespace is the cluster's, not a run's (k8s delete would remove it)",
                self.namespace
            );
        }
        for (flag, s) in [
            ("token-secret", &self.token_secret),
            ("kafka-secret", &self.kafka_secret),
            ("token-secret-ref", &self.token_secret_ref),
            ("service-account", &self.service_account),
            ("priority-class", &self.priority_class),
        ] {
            if let Some(s) = s {
                check_subdomain(flag, s)?;
            }
        }
        for s in &self.image_pull_secret {
            check_subdomain("image-pull-secret", s)?;
        }
        Ok(())
    }

    /// Where and how the pods run.
    fn pod_settings(&self) -> anyhow::Result<PodSettings> {
        Ok(PodSettings {
            image_pull_secrets: self.image_pull_secret.clone(),
            node_selector: self
                .node_selector
                .iter()
                .map(|t| key_value("node-selector", t))
                .collect::<anyhow::Result<_>>()?,
            tolerations: self
                .toleration
                .iter()
                .map(|t| toleration(t))
                .collect::<anyhow::Result<_>>()?,
            priority_class: self.priority_class.clone(),
            annotations: self
                .pod_annotation
                .iter()
                .map(|t| key_value("pod-annotation", t))
                .collect::<anyhow::Result<_>>()?,
            service_account: self.service_account.clone(),
        })
    }
}

/// The plan's settings the aggregator takes as flags.
fn plan_flags(plan: &PlanOpts) -> Vec<(&'static str, String)> {
    let mut flags = vec![
        ("payload-size", plan.payload_size.to_string()),
        ("warmup-rate", plan.warmup_rate.to_string()),
        ("warmup-seconds", plan.warmup_seconds.to_string()),
        ("drain-seconds", plan.drain_seconds.to_string()),
        ("copies", plan.copies.to_string()),
    ];
    if let Some(k) = plan.partition_keys {
        flags.push(("partition-keys", k.to_string()));
    }
    if plan.pace_per_sender {
        flags.push(("pace-per-sender", "true".into()));
    }
    flags
}

/// The pace as the aggregator will get it: a file's or a named pace's
/// text (for a ConfigMap), or the inline steps.
fn pace(arg: &str) -> anyhow::Result<Pace> {
    use brokerbench_core::pace::PaceSource;
    Ok(match PaceSource::of(arg, Path::new("paces"))? {
        PaceSource::Inline(steps) => Pace::Inline(steps),
        PaceSource::Text { text, .. } => Pace::File(text),
    })
}

/// A run name: the prefix of Service names (DNS-1035: a letter first),
/// short enough for `<name>-receivers` and the like.
fn check_run_name(v: &str) -> anyhow::Result<()> {
    check_label("run-name", v)?;
    if !v.starts_with(|c: char| c.is_ascii_lowercase()) || v.len() > 40 {
        bail!("--run-name {v:?}: 1-40 lower-case letters, digits and '-', a letter first");
    }
    Ok(())
}

/// How `wait`, `collect` and `delete` reach the run.
#[derive(Debug, Clone, Args)]
pub struct RemoteOpts {
    /// Namespace of the run.
    #[arg(long, default_value = "brokerbench", value_name = "NAME")]
    pub namespace: String,
    /// The run's name, as rendered (--run-name).
    #[arg(long, default_value = DEFAULT_RUN, value_name = "NAME")]
    pub run_name: String,
    /// The aggregator's URL when this machine reaches it (otherwise
    /// `kubectl port-forward` to its Service).
    #[arg(long, value_name = "URL")]
    pub aggregator: Option<String>,
    /// The kubectl to run (and its context flags are kubectl's own:
    /// KUBECONFIG and the current context apply).
    #[arg(long, default_value = "kubectl", value_name = "PATH")]
    pub kubectl: String,
    /// The run's token, which releasing its results needs (default: read
    /// with kubectl from the Secret the aggregator's Job names, the run's
    /// own `<run name>-run-token` unless --token-secret-ref; or `?token=T`
    /// on --aggregator).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

/// `brokerbench k8s collect`.
#[derive(Debug, Clone, Args)]
pub struct CollectOpts {
    #[command(flatten)]
    pub remote: RemoteOpts,
    /// Parent folder of the results folder.
    #[arg(long, default_value = "results", value_name = "DIR")]
    pub out: PathBuf,
    /// Leave the results on the aggregator (it keeps serving them until
    /// its --keep-results deadline).
    #[arg(long)]
    pub keep: bool,
    /// Do not draw the graphs.
    #[arg(long)]
    pub no_plot: bool,
}

/// `brokerbench k8s delete`.
#[derive(Debug, Clone, Args)]
pub struct DeleteOpts {
    #[command(flatten)]
    pub remote: RemoteOpts,
    /// Print the kubectl commands instead of running them.
    #[arg(long)]
    pub dry_run: bool,
}

impl RemoteOpts {
    /// The run and how to reach it, the aggregator's URL checked.
    pub fn into_config(self) -> anyhow::Result<Remote> {
        let aggregator = match &self.aggregator {
            Some(url) => Some(crate::args::common::check_url(url, "--aggregator")?),
            None => None,
        };
        Ok(Remote {
            namespace: self.namespace,
            run_name: self.run_name,
            aggregator,
            kubectl: self.kubectl,
            token: self.token,
        })
    }
}

impl CollectOpts {
    pub fn into_config(self) -> anyhow::Result<Collect> {
        Ok(Collect {
            remote: self.remote.into_config()?,
            out: self.out,
            keep: self.keep,
            no_plot: self.no_plot,
        })
    }
}

impl DeleteOpts {
    pub fn into_config(self) -> anyhow::Result<Delete> {
        Ok(Delete {
            remote: self.remote.into_config()?,
            dry_run: self.dry_run,
        })
    }
}

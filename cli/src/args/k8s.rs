//! Options of `brokerbench k8s`: render a run's manifests, wait for it,
//! collect its results, delete what it created.

use super::common::PlanOpts;
use super::sut::FanOutOpts;
use crate::k8s::render::{KafkaCluster, Pace, Part, RenderConfig, Resources, SutImpl};
use anyhow::{bail, Context};
use brokerbench_core::pace::Schedule;
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
    /// Print the manifests of a run for `kubectl apply -f -`: namespace,
    /// service account, the aggregator, receivers and senders as Jobs with
    /// Services, and the scenario's SUT (Knative's resources, or the
    /// suite's own SUT with --sut-impl brokerbench).
    Render(Box<RenderOpts>),
    /// Follow a rendered run until it ends (the aggregator's progress line
    /// each second); the exit code is the run's (3: an --slo was missed).
    Wait(RemoteOpts),
    /// Fetch the finished run's results folder from the aggregator into
    /// --out and draw its graphs here; the aggregator then exits.
    Collect(CollectOpts),
    /// Delete everything a render created in the namespace (by label).
    Delete(DeleteOpts),
}

/// `brokerbench k8s render`.
#[derive(Debug, Clone, Args)]
pub struct RenderOpts {
    /// What to measure.
    #[arg(long, value_name = "SCENARIO")]
    pub scenario: Sut,
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
    /// Namespace of the run (created by the render).
    #[arg(long, default_value = "brokerbench", value_name = "NAME")]
    pub namespace: String,
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
    /// source-kafka: the namespace and name of the Strimzi cluster that
    /// gets the run's KafkaTopic.
    #[arg(long, default_value = "kafka", value_name = "NAME")]
    pub kafka_namespace: String,
    #[arg(long, default_value = "my-cluster", value_name = "NAME")]
    pub strimzi_cluster: String,
    /// Each sender's CPU and memory (requests = limits).
    #[arg(long, default_value = "1,512Mi", value_name = "CPU,MEMORY")]
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
    /// How long the aggregator keeps the results for `k8s collect` after
    /// the run (it exits once they are collected).
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub keep_results: String,
    /// Which documents: all, sut (apply first, wait for it to be ready)
    /// or roles.
    #[arg(long, value_enum, default_value = "all", value_name = "PART")]
    pub part: Part,
}

fn resources(flag: &str, text: &str) -> anyhow::Result<Resources> {
    let Some((cpu, memory)) = text.split_once(',') else {
        bail!("--{flag} {text:?}: expected CPU,MEMORY, e.g. 1,512Mi");
    };
    let cpu_ok = {
        let n = cpu.strip_suffix('m').unwrap_or(cpu);
        !n.is_empty() && n.parse::<f64>().is_ok_and(|v| v > 0.0)
    };
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
        memory: memory.to_string(),
    })
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
        let sut = self.scenario;
        let spec = sut.spec();
        check_label("namespace", &self.namespace)?;
        check_label("kafka-namespace", &self.kafka_namespace)?;
        for (flag, s) in [
            ("token-secret", &self.token_secret),
            ("kafka-secret", &self.kafka_secret),
        ] {
            if let Some(s) = s {
                check_label(flag, s)?;
            }
        }
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
        brokerbench_core::duration::parse(&self.keep_results)
            .map_err(|e| anyhow::anyhow!("--keep-results: {e}"))?;
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
        Ok(RenderConfig {
            run_token: brokerbench_core::session::new_token(),
            scenario: sut,
            sut_impl: self.sut_impl,
            target: self.target,
            namespace: self.namespace,
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
            },
            sender: resources("sender-resources", &self.sender_resources)?,
            receiver: resources("receiver-resources", &self.receiver_resources)?,
            aggregator: resources("aggregator-resources", &self.aggregator_resources)?,
            sut: resources("sut-resources", &self.sut_resources)?,
            spread: self.spread,
            avoid_nodes: self.avoid_node,
            slo: self.slo,
            token_secret: self.token_secret,
            kafka_secret: self.kafka_secret,
            keep_results: self.keep_results,
            part: self.part,
        })
    }
}

/// The pace as the aggregator will get it: a file's text (for a
/// ConfigMap), or the inline steps.
fn pace(arg: &str) -> anyhow::Result<Pace> {
    Schedule::from_arg(arg, Path::new("paces"))?;
    let named = Path::new("paces").join(format!("{arg}.pace"));
    let file = [Path::new(arg).to_path_buf(), named].into_iter().find(|p| {
        p.is_file()
            && !arg
                .chars()
                .all(|c| c.is_ascii_digit() || ":, \t-".contains(c))
    });
    Ok(match file {
        Some(p) => Pace::File(
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?,
        ),
        None => Pace::Inline(arg.to_string()),
    })
}

/// How `wait`, `collect` and `delete` reach the run.
#[derive(Debug, Clone, Args)]
pub struct RemoteOpts {
    /// Namespace of the run.
    #[arg(long, default_value = "brokerbench", value_name = "NAME")]
    pub namespace: String,
    /// The aggregator's URL when this machine reaches it (otherwise
    /// `kubectl port-forward` to its Service).
    #[arg(long, value_name = "URL")]
    pub aggregator: Option<String>,
    /// The kubectl to run (and its context flags are kubectl's own:
    /// KUBECONFIG and the current context apply).
    #[arg(long, default_value = "kubectl", value_name = "PATH")]
    pub kubectl: String,
    /// The run's token, which releasing its results needs (default: read
    /// from the run's Secret brokerbench-run-token with kubectl; or
    /// `?token=T` on --aggregator).
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

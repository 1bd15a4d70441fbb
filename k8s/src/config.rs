//! What a render needs, validated ([`RenderConfig`]), and the names,
//! ports, paths and labels every rendered object shares.

use brokerbench_sut::fan_out::FanOut;
use brokerbench_sut::Sut;
use serde_json::Value;

/// Ports: a Service's port is its container's, so the URLs in the
/// ConfigMaps work wherever the Service names resolve.
pub const AGGREGATOR_PORT: u16 = 7000;
pub const RECEIVER_PORT: u16 = 8080;
pub const SUT_PORT: u16 = 8081;
/// A sender's `/metrics` (the aggregator and the receiver serve theirs on
/// their own port).
pub const SENDER_METRICS_PORT: u16 = 9090;
/// Where a role reads its mounted files.
pub(super) const PACE_DIR: &str = "/etc/brokerbench/pace";
pub(super) const SUT_DIR: &str = "/etc/brokerbench/sut";
pub(super) const TOKEN_DIR: &str = "/etc/brokerbench/token";
pub(super) const KAFKA_DIR: &str = "/etc/brokerbench/kafka";
/// Where the aggregator writes its results (an emptyDir).
pub const RESULTS_DIR: &str = "/results";
/// The label every rendered object carries.
pub const PART_OF: (&str, &str) = ("app.kubernetes.io/part-of", "brokerbench");
/// The label naming the run an object belongs to (what `k8s delete` selects).
pub const RUN_LABEL: &str = "brokerbench.dev/run";
/// On the aggregator's Job: the Secret holding the run's token (what
/// `k8s wait` and `k8s collect` read).
pub const TOKEN_SECRET_ANNOTATION: &str = "brokerbench.dev/token-secret";
/// On the senders' ConfigMap: which pacer the senders run, and why.
pub const PACER_ANNOTATION: &str = "brokerbench.dev/pacer";
pub(super) const COMPONENT: &str = "app.kubernetes.io/component";
/// The run's name unless `--run-name` says: every object's name, or its prefix.
pub const DEFAULT_RUN: &str = "brokerbench";
/// How long a finished Job (and its pods' logs) stays before Kubernetes
/// removes it.
pub const JOB_TTL_SECONDS: u64 = 3600;
/// What a role may take past the run's last second before its Job's
/// deadline: the sender's request timeout, reports, the aggregator's join.
pub const DEADLINE_MARGIN_SECONDS: u64 = 300;

/// Who serves the scenario's SUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SutImpl {
    /// Knative Eventing's resources (InMemoryChannel, Broker, KafkaChannel,
    /// KafkaSource ...), served by the cluster's Knative.
    Knative,
    /// The suite's own SUT (`brokerbench sut`) as a Deployment: a cluster
    /// without Knative runs every scenario.
    Brokerbench,
}

/// Which documents to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// Everything.
    All,
    /// The namespace (if created) and the SUT's resources (apply first and
    /// wait for them to be ready when the SUT takes time to come up).
    Sut,
    /// The namespace (if created) and the suite's roles.
    Roles,
}

/// CPU and memory of one role's container (requests = limits: the
/// Guaranteed QoS class, no CPU borrowed from neighbours mid-run).
#[derive(Debug, Clone, PartialEq)]
pub struct Resources {
    pub cpu: String,
    /// `cpu` in cores (`500m` is 0.5): the CPU quota the role runs under.
    pub cores: f64,
    pub memory: String,
}

/// Where the Kafka scenarios find Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaCluster {
    /// `host:port[,host:port...]`.
    pub bootstrap: String,
    /// Partitions and replication of the run's topic or channel.
    pub partitions: i32,
    pub replication: i32,
    /// The namespace of the Strimzi cluster (its KafkaTopic goes there).
    pub topic_namespace: String,
    /// The Strimzi cluster's name (the KafkaTopic's `strimzi.io/cluster`).
    pub strimzi_cluster: String,
    /// The KafkaTopic's API version: `v1` (Strimzi 1.0 and later serve only
    /// it) or `v1beta2` (older clusters).
    pub strimzi_api: String,
}

/// The pace: inline, or a pace file's text (put in a ConfigMap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pace {
    Inline(String),
    File(String),
}

/// What a cluster's operator sets on every pod of the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodSettings {
    /// Secrets with the registry's credentials (`imagePullSecrets`).
    pub image_pull_secrets: Vec<String>,
    /// Node labels every pod must match (`nodeSelector`).
    pub node_selector: Vec<(String, String)>,
    /// Taints the pods tolerate, as Kubernetes' toleration objects.
    pub tolerations: Vec<Value>,
    pub priority_class: Option<String>,
    /// Annotations on every pod (e.g. a service mesh's sidecar opt-out: a
    /// Job whose pod keeps a sidecar never completes).
    pub annotations: Vec<(String, String)>,
    /// An existing service account for the pods (none is rendered).
    pub service_account: Option<String>,
}

/// Everything a render needs, validated.
#[derive(Debug, Clone)]
pub struct RenderConfig {
    /// The run's name: the prefix of every object's name and the value of
    /// its `brokerbench.dev/run` label.
    pub name: String,
    pub scenario: Sut,
    pub sut_impl: SutImpl,
    /// A broker or channel the user already has: the senders publish
    /// there and no SUT is rendered.
    pub target: Option<String>,
    pub namespace: String,
    /// Render the Namespace object (the run then owns the namespace, and
    /// `k8s delete` removes it).
    pub create_namespace: bool,
    pub image: String,
    pub pull_policy: String,
    pub senders: u32,
    pub receivers: u32,
    pub pace: Pace,
    /// The aggregator's plan flags other than the pace, as `(flag, value)`.
    pub plan: Vec<(&'static str, String)>,
    /// The run's `--fault` specs, as the aggregator's arguments (a
    /// command's text may hold anything an environment variable's list
    /// could not).
    pub faults: Vec<String>,
    pub fan_out: FanOut,
    pub kafka: KafkaCluster,
    pub sender: Resources,
    pub receiver: Resources,
    pub aggregator: Resources,
    pub sut: Resources,
    /// Senders and receivers on different nodes (default: on one node).
    pub spread: bool,
    /// Nodes the suite's roles stay off (the SUT's data-plane nodes).
    pub avoid_nodes: Vec<String>,
    pub pod: PodSettings,
    pub slo: Option<String>,
    /// A Secret whose key `token` the senders send as `Authorization`
    /// (an OIDC-protected ingress).
    pub token_secret: Option<String>,
    /// A Secret whose key `client.properties` holds librdkafka settings
    /// for the Kafka clients (senders of source-kafka, the suite's Kafka SUTs).
    pub kafka_secret: Option<String>,
    /// How long the aggregator keeps the results for `k8s collect`, as
    /// given and in seconds.
    pub keep_results: String,
    pub keep_results_seconds: u64,
    /// How long the roles have to be ready, as given (`0s`: no limit) and
    /// in seconds.
    pub start_timeout: String,
    pub start_timeout_seconds: u64,
    /// Warmup, pace and drain: the run's length once it started, seconds.
    pub run_seconds: u64,
    /// The run's token: a fresh one each render, in the Secret
    /// `<name>-run-token`, or the key `token` of `token_secret_ref` (a
    /// Secret made apart, so the YAML holds none). The roles send it to
    /// the aggregator, which refuses requests without it.
    pub run_token: String,
    pub token_secret_ref: Option<String>,
    pub part: Part,
}

impl RenderConfig {
    fn svc(&self, name: &str) -> String {
        format!("{name}.{}.svc", self.namespace)
    }
    pub(super) fn url(&self, name: &str, port: u16) -> String {
        format!("http://{}:{port}", self.svc(name))
    }
    /// The object `role` of the run (`brokerbench-sender`).
    pub(super) fn object(&self, role: &str) -> String {
        format!("{}-{role}", self.name)
    }
    /// The Kafka topic of the run's scenario (source-kafka, or the suite's
    /// own Kafka SUTs).
    pub(super) fn topic(&self) -> String {
        format!("{}-{}", self.name, self.namespace)
    }
    pub(super) fn knative(&self) -> bool {
        self.target.is_none() && self.sut_impl == SutImpl::Knative
    }
    pub(super) fn suite_sut(&self) -> bool {
        self.target.is_none()
            && self.sut_impl == SutImpl::Brokerbench
            && self.scenario != Sut::Direct
    }
    /// The Secret holding the run's token.
    pub fn token_secret_name(&self) -> String {
        match &self.token_secret_ref {
            Some(s) => s.clone(),
            None => run_token_secret(&self.name),
        }
    }
    /// Seconds a sender or receiver may live: waiting for the others, the
    /// run, reporting.
    pub(super) fn role_deadline(&self) -> u64 {
        self.start_timeout_seconds + self.run_seconds + DEADLINE_MARGIN_SECONDS
    }
}

/// The Secret of a run's token (unless `--token-secret-ref`).
pub fn run_token_secret(run: &str) -> String {
    format!("{run}-run-token")
}

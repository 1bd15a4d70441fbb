//! `brokerbench k8s render`: the manifests of one run, as YAML documents for
//! `kubectl apply -f -` (or one file each and a `kustomization.yaml`).
//!
//! Every role runs the one image with its settings from a ConfigMap of
//! `BROKERBENCH_*` variables (each flag's environment name) and its index
//! and node name from the Downward API. The aggregator, the receivers and
//! the senders are Jobs (a finished run leaves completed pods, not restarts
//! that would join it again) with deadlines from the run's length; the SUT
//! is Knative's resources for the scenario, or the suite's own SUT as a
//! Deployment ([`super::knative`]). Every object carries the run's name
//! (`brokerbench.dev/run`), which is what `k8s delete` removes, so runs can
//! share a namespace that is not theirs.

use super::knative::{knative, suite_sut};
use super::yaml::yaml;
use crate::config::{env_name, FanOut};
use brokerbench_sut::Sut;
use serde_json::{json, Map, Value};

/// Ports: a Service's port is its container's, so the URLs in the
/// ConfigMaps work wherever the Service names resolve.
pub const AGGREGATOR_PORT: u16 = 7000;
pub const RECEIVER_PORT: u16 = 8080;
pub const SUT_PORT: u16 = 8081;
/// A sender's `/metrics` (the aggregator and the receiver serve theirs on
/// their own port).
pub const SENDER_METRICS_PORT: u16 = 9090;
/// Where a role reads its mounted files.
const PACE_DIR: &str = "/etc/brokerbench/pace";
pub(super) const SUT_DIR: &str = "/etc/brokerbench/sut";
const TOKEN_DIR: &str = "/etc/brokerbench/token";
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
    fn object(&self, role: &str) -> String {
        format!("{}-{role}", self.name)
    }
    /// The Kafka topic of the run's scenario (source-kafka, or the suite's
    /// own Kafka SUTs).
    pub(super) fn topic(&self) -> String {
        format!("{}-{}", self.name, self.namespace)
    }
    fn knative(&self) -> bool {
        self.target.is_none() && self.sut_impl == SutImpl::Knative
    }
    fn suite_sut(&self) -> bool {
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
    fn role_deadline(&self) -> u64 {
        self.start_timeout_seconds + self.run_seconds + DEADLINE_MARGIN_SECONDS
    }
}

/// The Secret of a run's token (unless `--token-secret-ref`).
pub fn run_token_secret(run: &str) -> String {
    format!("{run}-run-token")
}

/// The manifests, in the order `kubectl apply` should create them.
pub fn render(c: &RenderConfig) -> Vec<Value> {
    let mut docs = Vec::new();
    if c.create_namespace {
        docs.push(namespace(c));
    }
    if c.pod.service_account.is_none() {
        docs.push(service_account(c));
    }
    if c.part != Part::Roles {
        if c.knative() {
            docs.extend(knative(c));
        } else if c.suite_sut() {
            docs.extend(suite_sut(c));
        }
    }
    if c.part != Part::Sut {
        if c.token_secret_ref.is_none() {
            docs.push(run_token(c));
        }
        docs.extend(aggregator(c));
        docs.extend(receivers(c));
        docs.extend(senders(c));
    }
    docs
}

/// The documents as one YAML stream.
pub fn to_yaml(docs: &[Value]) -> String {
    docs.iter().map(yaml).collect::<Vec<_>>().join("---\n")
}

/// The labels of an object of the run.
pub(super) fn labels(c: &RenderConfig, component: &str) -> Value {
    json!({
        PART_OF.0: PART_OF.1, "app.kubernetes.io/name": "brokerbench",
        RUN_LABEL: c.name, COMPONENT: component,
    })
}

/// What selects the pods of one component of the run.
pub(super) fn selector(c: &RenderConfig, component: &str) -> Value {
    json!({ PART_OF.0: PART_OF.1, RUN_LABEL: c.name, COMPONENT: component })
}

pub(super) fn meta(c: &RenderConfig, name: &str, component: &str) -> Value {
    json!({ "name": name, "namespace": c.namespace, "labels": labels(c, component) })
}

fn namespace(c: &RenderConfig) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": { "name": c.namespace, "labels": labels(c, "namespace") },
    })
}

/// The roles' account: no Role is bound to it and no token is mounted;
/// they speak only to each other and to the SUT.
fn service_account(c: &RenderConfig) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": meta(c, &c.name, "roles"),
        "automountServiceAccountToken": false,
    })
}

pub(super) fn config_map(
    c: &RenderConfig,
    name: &str,
    component: &str,
    data: Map<String, Value>,
) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": meta(c, name, component),
        "data": data,
    })
}

/// A role's settings: each flag's environment variable and its value.
pub(super) fn settings(pairs: &[(&str, String)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(flag, v)| (env_name(flag), Value::String(v.clone())))
        .collect()
}

pub(super) fn service(
    c: &RenderConfig,
    name: &str,
    component: &str,
    ports: Value,
    headless: bool,
) -> Value {
    let mut spec = json!({ "selector": selector(c, component), "ports": ports });
    if headless {
        spec["clusterIP"] = json!("None");
        spec["publishNotReadyAddresses"] = json!(true);
    }
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": meta(c, name, component),
        "spec": spec,
    })
}

pub(super) fn port(name: &str, port: u16) -> Value {
    json!({ "name": name, "port": port, "targetPort": port, "protocol": "TCP" })
}

/// A container of the image running `args`, its settings from the
/// ConfigMap `settings`, its node name (and `index_from`, a Downward API
/// field, as its index).
pub(super) fn container(
    c: &RenderConfig,
    name: &str,
    args: &[&str],
    settings: &str,
    index_from: Option<&str>,
    resources: &Resources,
    ports: &[(&str, u16)],
) -> Value {
    let mut env = vec![json!({
        "name": env_name("node-name"),
        "valueFrom": { "fieldRef": { "fieldPath": "spec.nodeName" } },
    })];
    if let Some(field) = index_from {
        env.push(json!({
            "name": env_name("index"),
            "valueFrom": { "fieldRef": { "fieldPath": field } },
        }));
    }
    let limits = json!({ "cpu": resources.cpu, "memory": resources.memory });
    json!({
        "name": name,
        "image": c.image,
        "imagePullPolicy": c.pull_policy,
        "args": args,
        "envFrom": [{ "configMapRef": { "name": settings } }],
        "env": env,
        "ports": ports.iter().map(|(n, p)| json!({ "name": n, "containerPort": p, "protocol": "TCP" })).collect::<Vec<_>>(),
        "resources": { "requests": limits.clone(), "limits": limits },
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": { "drop": ["ALL"] },
        },
    })
}

/// The usual Prometheus scrape annotations for `/metrics` on `port`, and
/// the operator's own.
fn annotations(c: &RenderConfig, port: u16) -> Value {
    let mut a = json!({
        "prometheus.io/scrape": "true",
        "prometheus.io/port": port.to_string(),
        "prometheus.io/path": "/metrics",
    });
    for (k, v) in &c.pod.annotations {
        a[k] = json!(v);
    }
    a
}

/// A pod template of one container, non-root, on the run's account, with
/// the operator's settings.
pub(super) fn pod(
    c: &RenderConfig,
    component: &str,
    container: Value,
    volumes: Vec<Value>,
) -> Value {
    let p = &c.pod;
    let mut spec = json!({
        "serviceAccountName": p.service_account.clone().unwrap_or_else(|| c.name.clone()),
        "automountServiceAccountToken": false,
        "securityContext": {
            "runAsNonRoot": true, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
            "seccompProfile": { "type": "RuntimeDefault" },
        },
        "containers": [container],
    });
    if !volumes.is_empty() {
        spec["volumes"] = json!(volumes);
    }
    if let Some(affinity) = affinity(c, component) {
        spec["affinity"] = affinity;
    }
    if !p.image_pull_secrets.is_empty() {
        spec["imagePullSecrets"] = p
            .image_pull_secrets
            .iter()
            .map(|s| json!({ "name": s }))
            .collect();
    }
    if !p.node_selector.is_empty() {
        spec["nodeSelector"] = p
            .node_selector
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<Map<_, _>>()
            .into();
    }
    if !p.tolerations.is_empty() {
        spec["tolerations"] = json!(p.tolerations);
    }
    if let Some(class) = &p.priority_class {
        spec["priorityClassName"] = json!(class);
    }
    let port = match component {
        "aggregator" => AGGREGATOR_PORT,
        "receiver" => RECEIVER_PORT,
        "sender" => SENDER_METRICS_PORT,
        _ => SUT_PORT,
    };
    json!({
        "metadata": { "labels": labels(c, component), "annotations": annotations(c, port) },
        "spec": spec,
    })
}

/// Where a role may run: off `avoid_nodes`; senders beside a receiver
/// (one node: no network between them, one clock), or away from every
/// receiver with `spread`.
fn affinity(c: &RenderConfig, component: &str) -> Option<Value> {
    let mut a = Map::new();
    if !c.avoid_nodes.is_empty() && component != "sut" {
        a.insert(
            "nodeAffinity".into(),
            json!({ "requiredDuringSchedulingIgnoredDuringExecution": { "nodeSelectorTerms": [{
                "matchExpressions": [{ "key": "kubernetes.io/hostname", "operator": "NotIn", "values": c.avoid_nodes }],
            }] } }),
        );
    }
    if component == "sender" {
        let term = json!([{
            "labelSelector": { "matchLabels": selector(c, "receiver") },
            "topologyKey": "kubernetes.io/hostname",
        }]);
        let kind = if c.spread {
            "podAntiAffinity"
        } else {
            "podAffinity"
        };
        a.insert(
            kind.into(),
            json!({ "requiredDuringSchedulingIgnoredDuringExecution": term }),
        );
    }
    (!a.is_empty()).then_some(Value::Object(a))
}

pub(super) fn config_volume(name: &str, config_map: &str) -> Value {
    json!({ "name": name, "configMap": { "name": config_map } })
}

pub(super) fn secret_volume(name: &str, secret: &str) -> Value {
    json!({ "name": name, "secret": { "secretName": secret } })
}

pub(super) fn mount(container: &mut Value, name: &str, path: &str) {
    let mounts = container
        .as_object_mut()
        .expect("a container is an object")
        .entry("volumeMounts")
        .or_insert_with(|| json!([]));
    mounts
        .as_array_mut()
        .expect("a list")
        .push(json!({ "name": name, "mountPath": path, "readOnly": path != RESULTS_DIR }));
}

/// The Secret holding the run's token.
fn run_token(c: &RenderConfig) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": meta(c, &run_token_secret(&c.name), "aggregator"),
        "type": "Opaque",
        "stringData": { "token": c.run_token },
    })
}

/// The run's token from its Secret, as `--token` (BROKERBENCH_TOKEN).
fn token_env(c: &RenderConfig, container: &mut Value) {
    container["env"]
        .as_array_mut()
        .expect("a container has env")
        .push(json!({
            "name": env_name("token"),
            "valueFrom": { "secretKeyRef": { "name": c.token_secret_name(), "key": "token" } },
        }));
}

/// A Job of `n` pods, each with its completion index (Indexed), ended by
/// Kubernetes after `deadline` seconds and removed [`JOB_TTL_SECONDS`]
/// after it finished.
fn job(c: &RenderConfig, name: &str, component: &str, n: u32, deadline: u64, pod: Value) -> Value {
    let mut spec = json!({
        // A retried role would join the run again as someone it already
        // has: a failure is the run's to report, not to hide.
        "backoffLimit": 0,
        "completions": n,
        "parallelism": n,
        // A pod that never gets a node, or a role that never ends, is not
        // left holding the cluster's CPU.
        "activeDeadlineSeconds": deadline,
        "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
        "template": pod,
    });
    spec["template"]["spec"]["restartPolicy"] = json!("Never");
    if component != "aggregator" {
        spec["completionMode"] = json!("Indexed");
        spec["backoffLimitPerIndex"] = json!(0);
        spec.as_object_mut().unwrap().remove("backoffLimit");
    }
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": meta(c, name, component),
        "spec": spec,
    })
}

/// The Downward API field of a pod's completion index in an Indexed Job.
const JOB_INDEX: &str = "metadata.annotations['batch.kubernetes.io/job-completion-index']";

fn aggregator(c: &RenderConfig) -> Vec<Value> {
    let name = c.object("aggregator");
    let mut pairs: Vec<(&str, String)> = vec![
        ("listen", format!("0.0.0.0:{AGGREGATOR_PORT}")),
        ("scenario", c.scenario.to_string()),
        ("senders", c.senders.to_string()),
        ("receivers", c.receivers.to_string()),
        ("out", RESULTS_DIR.to_string()),
        // Graphs are drawn where the results are collected.
        ("no-plot", "true".into()),
        ("keep-results", c.keep_results.clone()),
        ("start-timeout", c.start_timeout.clone()),
    ];
    pairs.extend(c.plan.iter().cloned());
    pairs.push((
        "pace",
        match &c.pace {
            Pace::Inline(p) => p.clone(),
            Pace::File(_) => format!("{PACE_DIR}/run.pace"),
        },
    ));
    if let Some(slo) = &c.slo {
        pairs.push(("slo", slo.clone()));
    }
    if c.suite_sut() && c.scenario.spec().ingress {
        pairs.push(("sut-url", c.url(&c.object("sut"), SUT_PORT)));
    }
    let mut docs = vec![config_map(c, &name, "aggregator", settings(&pairs))];
    let mut volumes = vec![json!({ "name": "results", "emptyDir": {} })];
    let mut args = vec!["aggregator"];
    for f in &c.faults {
        args.extend(["--fault", f]);
    }
    let mut ctr = container(
        c,
        "aggregator",
        &args,
        &name,
        None,
        &c.aggregator,
        &[("protocol", AGGREGATOR_PORT)],
    );
    ctr["readinessProbe"] =
        json!({ "httpGet": { "path": "/readyz", "port": AGGREGATOR_PORT }, "periodSeconds": 2 });
    token_env(c, &mut ctr);
    mount(&mut ctr, "results", RESULTS_DIR);
    if let Pace::File(text) = &c.pace {
        let pace = c.object("pace");
        let mut data = Map::new();
        data.insert("run.pace".into(), Value::String(text.clone()));
        docs.push(config_map(c, &pace, "aggregator", data));
        volumes.push(config_volume("pace", &pace));
        mount(&mut ctr, "pace", PACE_DIR);
    }
    docs.push(service(
        c,
        &name,
        "aggregator",
        json!([port("protocol", AGGREGATOR_PORT)]),
        false,
    ));
    // It waits for the roles, runs, then serves the results.
    let deadline = c.role_deadline() + c.keep_results_seconds;
    let mut job = job(
        c,
        &name,
        "aggregator",
        1,
        deadline,
        pod(c, "aggregator", ctr, volumes),
    );
    job["metadata"]["annotations"] = json!({ TOKEN_SECRET_ANNOTATION: c.token_secret_name() });
    docs.push(job);
    docs
}

/// The receivers: an Indexed Job; a Service in front of them all (what
/// the SUT delivers to: port 80 for Knative's Service refs, the container
/// port for URLs) and a headless one giving each its own name
/// (`brokerbench-receiver-<i>.brokerbench-receivers`).
fn receivers(c: &RenderConfig) -> Vec<Value> {
    let name = c.object("receiver");
    let pairs = vec![
        (
            "aggregator",
            c.url(&c.object("aggregator"), AGGREGATOR_PORT),
        ),
        ("listen", format!("0.0.0.0:{RECEIVER_PORT}")),
    ];
    let mut ctr = container(
        c,
        "receiver",
        &["receiver"],
        &name,
        Some(JOB_INDEX),
        &c.receiver,
        &[("events", RECEIVER_PORT)],
    );
    token_env(c, &mut ctr);
    let mut template = pod(c, "receiver", ctr, Vec::new());
    template["spec"]["subdomain"] = json!(c.object("receivers"));
    vec![
        config_map(c, &name, "receiver", settings(&pairs)),
        service(
            c,
            &name,
            "receiver",
            json!([
                { "name": "http", "port": 80, "targetPort": RECEIVER_PORT, "protocol": "TCP" },
                port("events", RECEIVER_PORT),
            ]),
            false,
        ),
        service(
            c,
            &c.object("receivers"),
            "receiver",
            json!([port("events", RECEIVER_PORT)]),
            true,
        ),
        job(
            c,
            &name,
            "receiver",
            c.receivers,
            c.role_deadline(),
            template,
        ),
    ]
}

/// Where the senders publish: the user's target, Knative's address for
/// the scenario, the suite's SUT, or the receiver (direct).
fn sender_target(c: &RenderConfig) -> String {
    if let Some(t) = &c.target {
        return t.clone();
    }
    let (ns, run) = (&c.namespace, &c.name);
    match (c.scenario, c.sut_impl) {
        // A source has no ingress: the senders produce to its topic.
        (Sut::SourceKafka, _) => format!("kafka://{}/{}", c.kafka.bootstrap, c.topic()),
        (Sut::Direct, _) => format!("{}/", c.url(&c.object("receiver"), RECEIVER_PORT)),
        (_, SutImpl::Brokerbench) => format!("{}/", c.url(&c.object("sut"), SUT_PORT)),
        (Sut::ChannelImc | Sut::ChannelKafka, _) => {
            format!("http://{run}-kn-channel.{ns}.svc.cluster.local/")
        }
        (Sut::BrokerImc, _) => {
            format!("http://broker-ingress.knative-eventing.svc.cluster.local/{ns}/{run}")
        }
        (Sut::BrokerKafka, _) => {
            format!("http://kafka-broker-ingress.knative-eventing.svc.cluster.local/{ns}/{run}")
        }
    }
}

/// The pacer the senders run, and why: the SUT's choice, or the sleeping
/// pacer where the sender's CPU limit leaves no core for a spinning one
/// beside its runtime thread (the kernel would throttle it, and its
/// pauses would show as latency).
fn sender_pacer(c: &RenderConfig) -> (&'static str, String) {
    let needed = 2.0;
    if c.scenario.spec().sleeping_pacer {
        return ("sleep", format!("sleep: what {} asks for", c.scenario));
    }
    if c.sender.cores < needed {
        return (
            "sleep",
            format!(
                "sleep: the sender's CPU limit ({}) leaves no core for a spinning pacer beside its runtime thread (it needs {needed}); --sender-resources 2,512Mi spins",
                c.sender.cpu
            ),
        );
    }
    (
        "spin",
        format!(
            "spin: the sender's CPU limit ({}) holds its runtime thread and a spinning pacer",
            c.sender.cpu
        ),
    )
}

fn senders(c: &RenderConfig) -> Vec<Value> {
    let name = c.object("sender");
    let spec = c.scenario.spec();
    let (pacer, why) = sender_pacer(c);
    let mut pairs = vec![
        (
            "aggregator",
            c.url(&c.object("aggregator"), AGGREGATOR_PORT),
        ),
        ("target", sender_target(c)),
        ("connections", spec.connections.to_string()),
        ("metrics-listen", format!("0.0.0.0:{SENDER_METRICS_PORT}")),
        ("pacer", pacer.to_string()),
    ];
    let mut volumes = Vec::new();
    if let Some(secret) = &c.token_secret {
        pairs.push(("header", format!("Authorization: @{TOKEN_DIR}/token")));
        volumes.push(secret_volume("token", secret));
    }
    let kafka = c
        .kafka_secret
        .as_ref()
        .filter(|_| !spec.ingress && c.target.is_none());
    if let Some(secret) = kafka {
        pairs.push((
            "kafka-config-file",
            format!("{KAFKA_DIR}/client.properties"),
        ));
        volumes.push(secret_volume("kafka", secret));
    }
    let mut ctr = container(
        c,
        "sender",
        &["sender"],
        &name,
        Some(JOB_INDEX),
        &c.sender,
        &[("metrics", SENDER_METRICS_PORT)],
    );
    token_env(c, &mut ctr);
    if c.token_secret.is_some() {
        mount(&mut ctr, "token", TOKEN_DIR);
    }
    if kafka.is_some() {
        mount(&mut ctr, "kafka", KAFKA_DIR);
    }
    let mut settings = config_map(c, &name, "sender", settings(&pairs));
    settings["metadata"]["annotations"] = json!({ PACER_ANNOTATION: why });
    vec![
        settings,
        job(
            c,
            &name,
            "sender",
            c.senders,
            c.role_deadline(),
            pod(c, "sender", ctr, volumes),
        ),
    ]
}

/// What `k8s render` prints with its comment header.
pub fn print(c: &RenderConfig) -> String {
    let docs = render(c);
    format!("{}{}", header(c), to_yaml(&docs))
}

/// The comment at the top: what the run is and how to follow it.
fn header(c: &RenderConfig) -> String {
    let what = match (&c.target, c.sut_impl) {
        (Some(t), _) => format!("the senders publish to {t}"),
        (None, _) if c.scenario == Sut::Direct => "sender -> receiver".to_string(),
        (None, SutImpl::Knative) => format!("{} on Knative Eventing", c.scenario),
        (None, SutImpl::Brokerbench) => format!("{} served by brokerbench sut", c.scenario),
    };
    let follow = format!(
        "--namespace {}{}",
        c.namespace,
        match c.name.as_str() {
            DEFAULT_RUN => String::new(),
            run => format!(" --run-name {run}"),
        }
    );
    let (pacer, _) = sender_pacer(c);
    format!(
        "# brokerbench {}: run {}: {what}; {} sender(s) (pacer {pacer}), {} receiver(s), namespace {}{}.\n# kubectl apply -f - ; brokerbench k8s wait {follow}; brokerbench k8s collect {follow}\n",
        env!("CARGO_PKG_VERSION"),
        c.name,
        c.senders,
        c.receivers,
        c.namespace,
        if c.create_namespace { " (created)" } else { " (must exist)" },
    )
}

/// `k8s render --out-dir DIR`: one file per object, numbered in the order
/// they apply, and a `kustomization.yaml` naming them (`kubectl apply -k
/// DIR`, and overlays). Returns the files written.
pub fn write_dir(c: &RenderConfig, dir: &std::path::Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let docs = render(c);
    let mut files = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let kind = d["kind"].as_str().unwrap_or("object").to_lowercase();
        let name = d["metadata"]["name"].as_str().unwrap_or("unnamed");
        let file = format!("{i:02}-{kind}-{name}.yaml");
        write_atomically(&dir.join(&file), &yaml(d))?;
        files.push(file);
    }
    let kustomization = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": files,
    });
    let text = format!("{}{}", header(c), yaml(&kustomization));
    write_atomically(&dir.join("kustomization.yaml"), &text)?;
    files.push("kustomization.yaml".into());
    Ok(files)
}

fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

//! `brokerbench k8s render`: the manifests of one run, as YAML documents for
//! `kubectl apply -f -`.
//!
//! Every role runs the one image with its settings from a ConfigMap of
//! `BROKERBENCH_*` variables (each flag's environment name) and its index
//! and node name from the Downward API. The aggregator, the receivers and
//! the senders are Jobs (a finished run leaves completed pods, not restarts
//! that would join it again); the SUT is Knative's resources for the
//! scenario, or the suite's own SUT as a Deployment.

use crate::config::{env_name, FanOut};
use brokerbench_sut::spec::Routing;
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
const SUT_DIR: &str = "/etc/brokerbench/sut";
const TOKEN_DIR: &str = "/etc/brokerbench/token";
const KAFKA_DIR: &str = "/etc/brokerbench/kafka";
/// Where the aggregator writes its results (an emptyDir).
pub const RESULTS_DIR: &str = "/results";
/// The label every rendered object carries (what `k8s delete` selects).
pub const PART_OF: (&str, &str) = ("app.kubernetes.io/part-of", "brokerbench");
const COMPONENT: &str = "app.kubernetes.io/component";
/// The name of every object of a run, or its prefix.
const NAME: &str = "brokerbench";

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
    /// The namespace and the SUT's resources (apply first and wait for
    /// them to be ready when the SUT takes time to come up).
    Sut,
    /// The namespace and the suite's roles.
    Roles,
}

/// CPU and memory of one role's container (requests = limits: the
/// Guaranteed QoS class, no CPU borrowed from neighbours mid-run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub cpu: String,
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
}

/// The pace: inline, or a pace file's text (put in a ConfigMap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pace {
    Inline(String),
    File(String),
}

/// Everything a render needs, validated.
#[derive(Debug, Clone)]
pub struct RenderConfig {
    pub scenario: Sut,
    pub sut_impl: SutImpl,
    /// A broker or channel the user already has: the senders publish
    /// there and no SUT is rendered.
    pub target: Option<String>,
    pub namespace: String,
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
    pub slo: Option<String>,
    /// A Secret whose key `token` the senders send as `Authorization`
    /// (an OIDC-protected ingress).
    pub token_secret: Option<String>,
    /// A Secret whose key `client.properties` holds librdkafka settings
    /// for the Kafka clients (senders of source-kafka, the suite's Kafka SUTs).
    pub kafka_secret: Option<String>,
    /// How long the aggregator keeps the results for `k8s collect`.
    pub keep_results: String,
    /// The run's token (a fresh one each render), in the Secret
    /// `brokerbench-run-token`: the roles send it to the aggregator, which
    /// refuses requests without it.
    pub run_token: String,
    pub part: Part,
}

impl RenderConfig {
    fn svc(&self, name: &str) -> String {
        format!("{name}.{}.svc", self.namespace)
    }
    fn url(&self, name: &str, port: u16) -> String {
        format!("http://{}:{port}", self.svc(name))
    }
    /// The Kafka topic of the run's scenario (source-kafka, or the suite's
    /// own Kafka SUTs).
    fn topic(&self) -> String {
        format!("{NAME}-{}", self.namespace)
    }
    fn knative(&self) -> bool {
        self.target.is_none() && self.sut_impl == SutImpl::Knative
    }
    fn suite_sut(&self) -> bool {
        self.target.is_none()
            && self.sut_impl == SutImpl::Brokerbench
            && self.scenario != Sut::Direct
    }
}

/// The manifests, in the order `kubectl apply` should create them.
pub fn render(c: &RenderConfig) -> Vec<Value> {
    let mut docs = vec![namespace(c), service_account(c)];
    if c.part != Part::Roles {
        if c.knative() {
            docs.extend(knative(c));
        } else if c.suite_sut() {
            docs.extend(suite_sut(c));
        }
    }
    if c.part != Part::Sut {
        docs.push(run_token(c));
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

/// One document as YAML with every string quoted (or a literal block):
/// a YAML 1.1 reader, as kubectl's is, takes a bare `1000:10` for the
/// number 60010 and a bare `on` for true.
pub fn yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => write_map(m, 0, false, &mut out),
        Value::Array(a) if !a.is_empty() => write_seq(a, 0, &mut out),
        other => {
            write_scalar(other, 0, &mut out);
            out.push('\n');
        }
    }
    out
}

fn pad(indent: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A map's entries at `indent`; the first on the current line when
/// `inline` (a map that is a list item).
fn write_map(m: &Map<String, Value>, indent: usize, inline: bool, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !inline {
            pad(indent, out);
        }
        let plain = !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c));
        if plain {
            out.push_str(k);
        } else {
            out.push_str(&Value::String(k.clone()).to_string());
        }
        out.push(':');
        match v {
            Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                write_map(m, indent + 2, false, out);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                write_seq(a, indent, out);
            }
            scalar => {
                out.push(' ');
                write_scalar(scalar, indent + 2, out);
                out.push('\n');
            }
        }
    }
}

fn write_seq(a: &[Value], indent: usize, out: &mut String) {
    for v in a {
        pad(indent, out);
        out.push_str("- ");
        match v {
            Value::Object(m) if !m.is_empty() => write_map(m, indent + 2, true, out),
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                write_seq(a, indent + 2, out);
            }
            scalar => {
                write_scalar(scalar, indent + 2, out);
                out.push('\n');
            }
        }
    }
}

/// A scalar: strings double-quoted (JSON's escapes are YAML's), or a
/// literal block when they are lines of text; `{}` and `[]` when empty.
fn write_scalar(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::String(s) if is_block(s) => {
            out.push('|');
            for line in s.lines() {
                out.push('\n');
                if !line.is_empty() {
                    pad(indent, out);
                    out.push_str(line);
                }
            }
        }
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
        other => out.push_str(&other.to_string()),
    }
}

/// Whether `s` reads back the same as a `|` block: lines of printable
/// text ending in one newline, the first not indented.
fn is_block(s: &str) -> bool {
    s.ends_with('\n')
        && !s.ends_with("\n\n")
        && !s.starts_with([' ', '\n'])
        && s.chars()
            .all(|c| c == '\n' || (!c.is_control() && c != '\u{feff}'))
        && s.lines().all(|l| !l.ends_with(' '))
}

fn labels(component: &str) -> Value {
    json!({ PART_OF.0: PART_OF.1, "app.kubernetes.io/name": NAME, COMPONENT: component })
}

fn meta(c: &RenderConfig, name: &str, component: &str) -> Value {
    json!({ "name": name, "namespace": c.namespace, "labels": labels(component) })
}

fn namespace(c: &RenderConfig) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": { "name": c.namespace, "labels": labels("namespace") },
    })
}

/// The roles' account: no Role is bound to it and no token is mounted;
/// they speak only to each other and to the SUT.
fn service_account(c: &RenderConfig) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": meta(c, NAME, "roles"),
        "automountServiceAccountToken": false,
    })
}

fn config_map(c: &RenderConfig, name: &str, component: &str, data: Map<String, Value>) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": meta(c, name, component),
        "data": data,
    })
}

/// A role's settings: each flag's environment variable and its value.
fn settings(pairs: &[(&str, String)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(flag, v)| (env_name(flag), Value::String(v.clone())))
        .collect()
}

fn service(c: &RenderConfig, name: &str, component: &str, ports: Value, headless: bool) -> Value {
    let mut spec = json!({
        "selector": { PART_OF.0: PART_OF.1, COMPONENT: component },
        "ports": ports,
    });
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

fn port(name: &str, port: u16) -> Value {
    json!({ "name": name, "port": port, "targetPort": port, "protocol": "TCP" })
}

/// A container of the image running `args`, its settings from the
/// ConfigMap `settings`, its node name (and `index_from`, a Downward API
/// field, as its index).
fn container(
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

/// The usual Prometheus scrape annotations for `/metrics` on `port`.
fn scrape(port: u16) -> Value {
    json!({
        "prometheus.io/scrape": "true",
        "prometheus.io/port": port.to_string(),
        "prometheus.io/path": "/metrics",
    })
}

/// A pod template of one container, non-root, on the suite's account.
fn pod(c: &RenderConfig, component: &str, container: Value, volumes: Vec<Value>) -> Value {
    let mut spec = json!({
        "serviceAccountName": NAME,
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
    let port = match component {
        "aggregator" => AGGREGATOR_PORT,
        "receiver" => RECEIVER_PORT,
        "sender" => SENDER_METRICS_PORT,
        _ => SUT_PORT,
    };
    json!({
        "metadata": { "labels": labels(component), "annotations": scrape(port) },
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
            "labelSelector": { "matchLabels": { PART_OF.0: PART_OF.1, COMPONENT: "receiver" } },
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

fn config_volume(name: &str, config_map: &str) -> Value {
    json!({ "name": name, "configMap": { "name": config_map } })
}

fn mount(container: &mut Value, name: &str, path: &str) {
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
        "metadata": meta(c, RUN_TOKEN, "aggregator"),
        "type": "Opaque",
        "stringData": { "token": c.run_token },
    })
}

/// The run's token from its Secret, as `--token` (BROKERBENCH_TOKEN).
fn token_env(container: &mut Value) {
    container["env"]
        .as_array_mut()
        .expect("a container has env")
        .push(json!({
            "name": env_name("token"),
            "valueFrom": { "secretKeyRef": { "name": RUN_TOKEN, "key": "token" } },
        }));
}

/// The Secret of the run's token.
pub const RUN_TOKEN: &str = "brokerbench-run-token";

/// A Job of `n` pods, each with its completion index (Indexed).
fn job(c: &RenderConfig, name: &str, component: &str, n: u32, pod: Value) -> Value {
    let mut spec = json!({
        // A retried role would join the run again as someone it already
        // has: a failure is the run's to report, not to hide.
        "backoffLimit": 0,
        "completions": n,
        "parallelism": n,
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
    let name = format!("{NAME}-aggregator");
    let mut pairs: Vec<(&str, String)> = vec![
        ("listen", format!("0.0.0.0:{AGGREGATOR_PORT}")),
        ("scenario", c.scenario.to_string()),
        ("senders", c.senders.to_string()),
        ("receivers", c.receivers.to_string()),
        ("out", RESULTS_DIR.to_string()),
        // Graphs are drawn where the results are collected.
        ("no-plot", "true".into()),
        ("keep-results", c.keep_results.clone()),
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
        pairs.push(("sut-url", c.url(&format!("{NAME}-sut"), SUT_PORT)));
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
    token_env(&mut ctr);
    mount(&mut ctr, "results", RESULTS_DIR);
    if let Pace::File(text) = &c.pace {
        let pace = format!("{NAME}-pace");
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
    docs.push(job(
        c,
        &name,
        "aggregator",
        1,
        pod(c, "aggregator", ctr, volumes),
    ));
    docs
}

/// The receivers: an Indexed Job; a Service in front of them all (what
/// the SUT delivers to: port 80 for Knative's Service refs, the container
/// port for URLs) and a headless one giving each its own name
/// (`brokerbench-receiver-<i>.brokerbench-receivers`).
fn receivers(c: &RenderConfig) -> Vec<Value> {
    let name = format!("{NAME}-receiver");
    let pairs = vec![
        (
            "aggregator",
            c.url(&format!("{NAME}-aggregator"), AGGREGATOR_PORT),
        ),
        ("listen", format!("0.0.0.0:{RECEIVER_PORT}")),
    ];
    let ctr = container(
        c,
        "receiver",
        &["receiver"],
        &name,
        Some(JOB_INDEX),
        &c.receiver,
        &[("events", RECEIVER_PORT)],
    );
    let mut ctr = ctr;
    token_env(&mut ctr);
    let mut template = pod(c, "receiver", ctr, Vec::new());
    template["spec"]["subdomain"] = json!(format!("{NAME}-receivers"));
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
            &format!("{NAME}-receivers"),
            "receiver",
            json!([port("events", RECEIVER_PORT)]),
            true,
        ),
        job(c, &name, "receiver", c.receivers, template),
    ]
}

/// Where the senders publish: the user's target, Knative's address for
/// the scenario, the suite's SUT, or the receiver (direct).
fn sender_target(c: &RenderConfig) -> String {
    if let Some(t) = &c.target {
        return t.clone();
    }
    let ns = &c.namespace;
    match (c.scenario, c.sut_impl) {
        // A source has no ingress: the senders produce to its topic.
        (Sut::SourceKafka, _) => format!("kafka://{}/{}", c.kafka.bootstrap, c.topic()),
        (Sut::Direct, _) => format!("{}/", c.url(&format!("{NAME}-receiver"), RECEIVER_PORT)),
        (_, SutImpl::Brokerbench) => format!("{}/", c.url(&format!("{NAME}-sut"), SUT_PORT)),
        (Sut::ChannelImc | Sut::ChannelKafka, _) => {
            format!("http://{NAME}-kn-channel.{ns}.svc.cluster.local/")
        }
        (Sut::BrokerImc, _) => {
            format!("http://broker-ingress.knative-eventing.svc.cluster.local/{ns}/{NAME}")
        }
        (Sut::BrokerKafka, _) => {
            format!("http://kafka-broker-ingress.knative-eventing.svc.cluster.local/{ns}/{NAME}")
        }
    }
}

fn senders(c: &RenderConfig) -> Vec<Value> {
    let name = format!("{NAME}-sender");
    let spec = c.scenario.spec();
    let mut pairs = vec![
        (
            "aggregator",
            c.url(&format!("{NAME}-aggregator"), AGGREGATOR_PORT),
        ),
        ("target", sender_target(c)),
        ("connections", spec.connections.to_string()),
        ("metrics-listen", format!("0.0.0.0:{SENDER_METRICS_PORT}")),
    ];
    if spec.sleeping_pacer {
        pairs.push(("pacer", "sleep".into()));
    }
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
    token_env(&mut ctr);
    if c.token_secret.is_some() {
        mount(&mut ctr, "token", TOKEN_DIR);
    }
    if kafka.is_some() {
        mount(&mut ctr, "kafka", KAFKA_DIR);
    }
    vec![
        config_map(c, &name, "sender", settings(&pairs)),
        job(
            c,
            &name,
            "sender",
            c.senders,
            pod(c, "sender", ctr, volumes),
        ),
    ]
}

fn secret_volume(name: &str, secret: &str) -> Value {
    json!({ "name": name, "secret": { "secretName": secret } })
}

/// The scenario's routes: subscription or trigger `k` to the receiver's
/// copy path `/c/k`; a broker's first `matching` triggers take the suite's
/// events, the others filter on types it never sends.
fn routes(c: &RenderConfig) -> Vec<brokerbench_sut::config::Route> {
    let routing = c.scenario.spec().routing.unwrap_or(Routing::Channel);
    let receiver = c.url(&format!("{NAME}-receiver"), RECEIVER_PORT);
    c.fan_out.routes(
        routing,
        &receiver,
        &brokerbench_sut::config::DeliverySpec::default(),
    )
}

/// The receiver as a Knative destination: its Service, the copy's path.
fn sink(k: usize) -> Value {
    json!({
        "ref": { "apiVersion": "v1", "kind": "Service", "name": format!("{NAME}-receiver") },
        "uri": format!("/c/{k}"),
    })
}

fn knative(c: &RenderConfig) -> Vec<Value> {
    let ns = &c.namespace;
    let routes = routes(c);
    let channel_ref =
        |kind: &str, api: &str| json!({ "apiVersion": api, "kind": kind, "name": NAME });
    let subscriptions = |channel: Value| {
        routes
            .iter()
            .enumerate()
            .map(|(k, r)| {
                json!({
                    "apiVersion": "messaging.knative.dev/v1", "kind": "Subscription",
                    "metadata": meta(c, &format!("{NAME}-{}", r.name), "sut"),
                    "spec": { "channel": channel.clone(), "subscriber": sink(k) },
                })
            })
            .collect::<Vec<_>>()
    };
    let triggers = || {
        routes
            .iter()
            .enumerate()
            .map(|(k, r)| {
                let mut spec = json!({ "broker": NAME, "subscriber": sink(k) });
                // Exact matches as Knative's filter.attributes; the others
                // in the `filters` dialect (Knative 1.14+).
                match &r.filter {
                    brokerbench_sut::filter::Filter::Exact(m) => {
                        spec["filter"] = json!({ "attributes": m })
                    }
                    f => spec["filters"] = json!([f.written()]),
                }
                json!({
                    "apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
                    "metadata": meta(c, &format!("{NAME}-{}", r.name), "sut"),
                    "spec": spec,
                })
            })
            .collect::<Vec<_>>()
    };
    let broker = |class: &str, config: Value| {
        json!({
            "apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
            "metadata": {
                "name": NAME, "namespace": ns, "labels": labels("sut"),
                "annotations": { "eventing.knative.dev/broker.class": class },
            },
            "spec": { "config": config },
        })
    };
    let k = &c.kafka;
    let mut docs = Vec::new();
    match c.scenario {
        Sut::Direct => {}
        Sut::ChannelImc => {
            docs.push(json!({
                "apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel",
                "metadata": meta(c, NAME, "sut"),
            }));
            docs.extend(subscriptions(channel_ref(
                "InMemoryChannel",
                "messaging.knative.dev/v1",
            )));
        }
        Sut::ChannelKafka => {
            docs.push(json!({
                "apiVersion": "messaging.knative.dev/v1beta1", "kind": "KafkaChannel",
                "metadata": meta(c, NAME, "sut"),
                "spec": { "numPartitions": k.partitions, "replicationFactor": k.replication },
            }));
            docs.extend(subscriptions(channel_ref(
                "KafkaChannel",
                "messaging.knative.dev/v1beta1",
            )));
        }
        Sut::BrokerImc => {
            let cm = format!("{NAME}-broker-channel");
            let mut data = Map::new();
            data.insert(
                "channel-template-spec".into(),
                json!("apiVersion: messaging.knative.dev/v1\nkind: InMemoryChannel\n"),
            );
            docs.push(config_map(c, &cm, "sut", data));
            docs.push(broker(
                "MTChannelBasedBroker",
                json!({ "apiVersion": "v1", "kind": "ConfigMap", "name": cm, "namespace": ns }),
            ));
            docs.extend(triggers());
        }
        Sut::BrokerKafka => {
            let cm = format!("{NAME}-kafka-broker-config");
            let mut data = Map::new();
            data.insert("bootstrap.servers".into(), json!(k.bootstrap));
            data.insert(
                "default.topic.partitions".into(),
                json!(k.partitions.to_string()),
            );
            data.insert(
                "default.topic.replication.factor".into(),
                json!(k.replication.to_string()),
            );
            docs.push(config_map(c, &cm, "sut", data));
            docs.push(broker(
                "Kafka",
                json!({ "apiVersion": "v1", "kind": "ConfigMap", "name": cm, "namespace": ns }),
            ));
            docs.extend(triggers());
        }
        Sut::SourceKafka => {
            docs.push(json!({
                "apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
                "metadata": {
                    "name": c.topic(), "namespace": k.topic_namespace,
                    "labels": { "strimzi.io/cluster": k.strimzi_cluster, PART_OF.0: PART_OF.1, COMPONENT: "sut" },
                },
                "spec": { "partitions": k.partitions, "replicas": k.replication },
            }));
            docs.push(json!({
                "apiVersion": "sources.knative.dev/v1beta1", "kind": "KafkaSource",
                "metadata": meta(c, NAME, "sut"),
                "spec": {
                    "consumerGroup": format!("{NAME}-{ns}"),
                    "bootstrapServers": k.bootstrap.split(',').collect::<Vec<_>>(),
                    "topics": [c.topic()],
                    "sink": sink(0),
                },
            }));
        }
    }
    docs
}

/// The suite's own SUT for the scenario: its routes in a config file (the
/// Knative specs' shape), a Deployment and a Service.
fn suite_sut(c: &RenderConfig) -> Vec<Value> {
    let name = format!("{NAME}-sut");
    let routing = c.scenario.spec().routing;
    let routes: Vec<Value> = routes(c)
        .iter()
        .map(|r| match routing {
            Some(Routing::Broker) => {
                json!({ "name": r.name, "subscriber": r.subscriber, "filters": [r.filter.written()] })
            }
            _ => json!({ "name": r.name, "subscriber": r.subscriber }),
        })
        .collect();
    let key = match routing {
        Some(Routing::Broker) => "triggers",
        _ => "subscriptions",
    };
    let mut file = Map::new();
    file.insert(key.into(), json!(routes));
    let mut routes_cm = Map::new();
    routes_cm.insert("routes.yaml".into(), json!(yaml(&Value::Object(file))));
    let mut pairs = vec![
        ("listen", format!("0.0.0.0:{SUT_PORT}")),
        ("config", format!("{SUT_DIR}/routes.yaml")),
        ("threads", c.fan_out.sut_threads.to_string()),
    ];
    if c.scenario.on_kafka() {
        pairs.push(("kafka-bootstrap", c.kafka.bootstrap.clone()));
        pairs.push(("partitions", c.kafka.partitions.to_string()));
        pairs.push(("replication", c.kafka.replication.to_string()));
        pairs.push(("topic", c.topic()));
    }
    let kafka = c.kafka_secret.as_ref().filter(|_| c.scenario.on_kafka());
    if kafka.is_some() {
        pairs.push((
            "kafka-config-file",
            format!("{KAFKA_DIR}/client.properties"),
        ));
    }
    let scenario = c.scenario.to_string();
    let mut ctr = container(
        c,
        "sut",
        &["sut", &scenario],
        &name,
        None,
        &c.sut,
        &[("ingress", SUT_PORT)],
    );
    ctr["readinessProbe"] =
        json!({ "httpGet": { "path": "/readyz", "port": SUT_PORT }, "periodSeconds": 2 });
    mount(&mut ctr, "routes", SUT_DIR);
    let routes_name = format!("{NAME}-sut-routes");
    let mut volumes = vec![config_volume("routes", &routes_name)];
    if let Some(secret) = kafka {
        mount(&mut ctr, "kafka", KAFKA_DIR);
        volumes.push(secret_volume("kafka", secret));
    }
    let template = pod(c, "sut", ctr, volumes);
    vec![
        config_map(c, &name, "sut", settings(&pairs)),
        config_map(c, &routes_name, "sut", routes_cm),
        service(c, &name, "sut", json!([port("ingress", SUT_PORT)]), false),
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": meta(c, &name, "sut"),
            "spec": {
                "replicas": 1,
                "selector": { "matchLabels": { PART_OF.0: PART_OF.1, COMPONENT: "sut" } },
                "template": template,
            },
        }),
    ]
}

/// What `k8s render` prints with its comment header.
pub fn print(c: &RenderConfig) -> String {
    let docs = render(c);
    let what = match (&c.target, c.sut_impl) {
        (Some(t), _) => format!("the senders publish to {t}"),
        (None, _) if c.scenario == Sut::Direct => "sender -> receiver".to_string(),
        (None, SutImpl::Knative) => format!("{} on Knative Eventing", c.scenario),
        (None, SutImpl::Brokerbench) => format!("{} served by brokerbench sut", c.scenario),
    };
    format!(
        "# brokerbench {}: {what}; {} sender(s), {} receiver(s), namespace {}.\n# kubectl apply -f - ; brokerbench k8s wait --namespace {ns}; brokerbench k8s collect --namespace {ns}\n{}",
        env!("CARGO_PKG_VERSION"),
        c.senders,
        c.receivers,
        c.namespace,
        to_yaml(&docs),
        ns = c.namespace,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_quotes_what_a_yaml_1_1_reader_would_take_for_numbers_or_booleans() {
        let doc = json!({
            "data": { "PACE": "1000:10", "NO_PLOT": "true", "ON": "on", "pace": "# ramp\n100:5\n\n200:5\n" },
            "list": [{ "a": 1, "b": [] }, "x", [true]],
            "app.kubernetes.io/name": "b", "odd key": {},
        });
        let text = yaml(&doc);
        assert_eq!(
            text,
            "app.kubernetes.io/name: \"b\"\ndata:\n  NO_PLOT: \"true\"\n  ON: \"on\"\n  PACE: \"1000:10\"\n  pace: |\n    # ramp\n    100:5\n\n    200:5\nlist:\n- a: 1\n  b: []\n- \"x\"\n- \n  - true\n\"odd key\": {}\n"
        );
        let back: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, doc);
    }
}

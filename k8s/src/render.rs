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

use super::config::*;
use super::knative::{knative, suite_sut};
use super::objects::*;
use super::yaml::yaml;
use brokerbench_aggregator::output::write_atomic;
use brokerbench_sut::Sut;
use serde_json::{json, Map, Value};

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
    use brokerbench_sender::config::{pacer_for_quota, PacerMode};
    if c.scenario.spec().sleeping_pacer {
        return ("sleep", format!("sleep: what {} asks for", c.scenario));
    }
    // The sender's own rule, for its one runtime thread under this limit.
    let (pacer, _) = pacer_for_quota(PacerMode::Spin, false, 1, Some(c.sender.cores));
    let needed = 2;
    if pacer == PacerMode::Sleep {
        return (
            "sleep",
            format!(
                "sleep: the sender's CPU limit ({}) leaves no core for a spinning pacer beside its runtime thread (it needs {needed}: under a smaller quota the kernel throttles the sender); --sender-resources 2,512Mi spins",
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
        write_atomic(&dir.join(&file), yaml(d).as_bytes())?;
        files.push(file);
    }
    let kustomization = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": files,
    });
    let header = header(c).replace(
        "kubectl apply -f - ;",
        &format!("kubectl apply -k {} ;", dir.display()),
    );
    let text = format!("{header}{}", yaml(&kustomization));
    write_atomic(&dir.join("kustomization.yaml"), text.as_bytes())?;
    files.push("kustomization.yaml".into());
    Ok(files)
}

//! `brokerbench k8s render`: every scenario renders, the Kubernetes kinds
//! validate against Kubernetes' own schemas (offline, with the
//! `kubernetes-validate` package scripts/setup installs), and the pieces
//! fit: refs name objects of the same render, Services select pods and
//! reach their ports, URLs name Services, indexes come from the Job.

mod common;

use common::manifests::*;
use common::process::*;
use serde_json::Value;
use std::collections::BTreeSet;

const SCENARIOS: [&str; 6] = [
    "direct",
    "channel-imc",
    "broker-imc",
    "channel-kafka",
    "broker-kafka",
    "source-kafka",
];

/// The environment of sender 0's pod.
fn sender_env(docs: &[Value]) -> std::collections::BTreeMap<String, String> {
    environment(
        docs,
        named(docs, "Job", "brokerbench-sender").unwrap(),
        0,
        "n",
    )
}

/// Every scenario on Knative and on the suite's SUT, and the user's own broker.
fn renders() -> Vec<(String, String, Vec<Value>)> {
    let mut out = Vec::new();
    for s in SCENARIOS {
        for imp in ["knative", "brokerbench"] {
            let fan = match s {
                "channel-imc" | "channel-kafka" => vec!["--subscribers", "2"],
                "broker-imc" | "broker-kafka" => vec!["--triggers", "3", "--matching", "2"],
                _ => vec![],
            };
            let args = [
                &[
                    "--scenario",
                    s,
                    "--sut-impl",
                    imp,
                    "--senders",
                    "2",
                    "--receivers",
                    "2",
                ][..],
                &fan,
            ]
            .concat();
            let (text, docs) = render(&args);
            out.push((format!("{s} {imp}"), text, docs));
        }
    }
    let own = [
        "--scenario",
        "broker-imc",
        "--target",
        "http://broker-ingress.knative-eventing.svc.cluster.local/team/default",
        "--copies",
        "1",
    ];
    let (text, docs) = render(&own);
    out.push(("own broker".into(), text, docs));
    let secured = [
        "--scenario",
        "source-kafka",
        "--sut-impl",
        "brokerbench",
        "--senders",
        "2",
        "--receivers",
        "2",
        "--token-secret",
        "bench-token",
        "--kafka-secret",
        "kafka-client",
    ];
    let (text, docs) = render(&secured);
    out.push(("source-kafka secured".into(), text, docs));
    out
}

#[test]
fn every_scenario_renders_kubernetes_kinds_that_validate_offline() {
    let dir = scratch("k8s-validate");
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    let mut core_kinds = 0;
    // What kubectl would be given, as printed.
    for (i, (what, text, docs)) in renders().iter().enumerate() {
        let f = dir.join(format!("render-{i}.yaml"));
        std::fs::write(&f, text).unwrap();
        files.push(f);
        core_kinds += docs
            .iter()
            .filter(|d| {
                !d["apiVersion"].as_str().unwrap().contains('.')
                    || d["apiVersion"].as_str().unwrap().starts_with("apps/")
                    || d["apiVersion"] == "batch/v1"
            })
            .count();
        assert!(!docs.is_empty(), "{what}");
    }
    let o = std::process::Command::new("kubernetes-validate")
        .arg("--strict")
        .args(&files)
        .output()
        .expect(
            "kubernetes-validate is installed by scripts/setup (pip install kubernetes-validate)",
        );
    let out = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out}");
    let passed = out
        .lines()
        .filter(|l| l.contains(" passed for resource "))
        .count();
    assert_eq!(
        passed, core_kinds,
        "every Kubernetes object validated: {out}"
    );
    // The CRDs are Knative's and Strimzi's: their schemas are not bundled.
    for l in out.lines().filter(|l| l.starts_with("WARN")) {
        assert!(
            ["knative.dev/", "kafka.strimzi.io/"]
                .iter()
                .any(|g| l.contains(g)),
            "only CRDs go unvalidated: {l}"
        );
    }
}

#[test]
fn the_pieces_of_every_render_fit_together() {
    for (what, _, docs) in renders() {
        check_refs(&what, &docs);
        check_services(&what, &docs);
        check_urls(&what, &docs);
        check_workloads(&what, &docs);
    }
}

/// Knative refs point at objects of this render.
fn check_refs(what: &str, docs: &[Value]) {
    for d in docs {
        let spec = &d["spec"];
        for dest in [&spec["subscriber"], &spec["sink"]] {
            if dest.is_null() {
                continue;
            }
            let r = &dest["ref"];
            assert_eq!(r["kind"], "Service", "{what}");
            let svc = named(docs, "Service", r["name"].as_str().unwrap())
                .unwrap_or_else(|| panic!("{what}: {} refers to a missing Service", name(d)));
            let ports: Vec<_> = svc["spec"]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["port"].as_u64())
                .collect();
            assert!(
                ports.contains(&Some(80)),
                "{what}: a Service ref resolves to port 80"
            );
            assert!(dest["uri"].as_str().unwrap().starts_with("/c/"), "{what}");
        }
        match d["kind"].as_str().unwrap() {
            "Subscription" => {
                let c = &spec["channel"];
                let ch = named(
                    docs,
                    c["kind"].as_str().unwrap(),
                    c["name"].as_str().unwrap(),
                )
                .unwrap_or_else(|| panic!("{what}: no channel {c}"));
                assert_eq!(ch["apiVersion"], c["apiVersion"], "{what}");
            }
            "Trigger" => {
                let b = spec["broker"].as_str().unwrap();
                assert!(named(docs, "Broker", b).is_some(), "{what}: no Broker {b}");
            }
            "Broker" => {
                let c = &spec["config"];
                assert!(
                    named(docs, "ConfigMap", c["name"].as_str().unwrap()).is_some(),
                    "{what}"
                );
                assert_eq!(c["namespace"], d["metadata"]["namespace"], "{what}");
            }
            _ => {}
        }
    }
    let triggers = kind(docs, "Trigger");
    if !triggers.is_empty() {
        // 3 triggers, 2 matching the suite's events.
        let matching = triggers
            .iter()
            .filter(|t| t["spec"]["filter"]["attributes"]["type"] == "dev.brokerbench.event")
            .count();
        assert_eq!((triggers.len(), matching), (3, 2), "{what}");
    }
}

/// Every Service selects some workload's pods, and reaches a port its
/// container has.
fn check_services(what: &str, docs: &[Value]) {
    for svc in kind(docs, "Service") {
        let workloads: Vec<&Value> = docs
            .iter()
            .filter(|d| d["kind"] == "Job" || d["kind"] == "Deployment")
            .filter(|w| selects(&svc["spec"]["selector"], &template(w)["metadata"]["labels"]))
            .collect();
        assert_eq!(
            workloads.len(),
            1,
            "{what}: {} selects one workload",
            name(svc)
        );
        let container_ports: BTreeSet<u64> = template(workloads[0])["spec"]["containers"][0]
            ["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["containerPort"].as_u64().unwrap())
            .collect();
        for p in svc["spec"]["ports"].as_array().unwrap() {
            let target = p["targetPort"].as_u64().unwrap();
            assert!(
                container_ports.contains(&target),
                "{what}: {} port {target}",
                name(svc)
            );
        }
    }
    for d in docs.iter().filter(|d| d["kind"] == "Deployment") {
        assert!(
            selects(
                &d["spec"]["selector"]["matchLabels"],
                &template(d)["metadata"]["labels"]
            ),
            "{what}"
        );
    }
}

/// Every URL a role is given names a Service of the render at one of its
/// ports, and every listen address is a port its container declares.
fn check_urls(what: &str, docs: &[Value]) {
    let ns = named(docs, "Job", "brokerbench-aggregator").unwrap()["metadata"]["namespace"]
        .as_str()
        .unwrap();
    let service_at = |url: &str| {
        let (host, port) = host_port(url).unwrap();
        if !host.ends_with(&format!(".{ns}.svc")) {
            return false;
        }
        let svc = host.split('.').next().unwrap();
        named(docs, "Service", svc).is_some_and(|s| {
            s["spec"]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["port"] == port)
        })
    };
    for cm in kind(docs, "ConfigMap") {
        for (k, v) in cm["data"].as_object().unwrap() {
            let v = v.as_str().unwrap();
            if ["BROKERBENCH_AGGREGATOR", "BROKERBENCH_SUT_URL"].contains(&k.as_str())
                || (k == "BROKERBENCH_TARGET" && v.starts_with("http://") && v.contains(".svc:"))
            {
                assert!(
                    service_at(v),
                    "{what}: {k}={v} names no Service port of the render"
                );
            }
            if k == "routes.yaml" {
                let routes: Value = serde_yaml::from_str(v).unwrap();
                let list = routes["subscriptions"]
                    .as_array()
                    .or(routes["triggers"].as_array())
                    .unwrap();
                assert!(!list.is_empty(), "{what}");
                for r in list {
                    assert!(service_at(r["subscriber"].as_str().unwrap()), "{what}: {r}");
                }
            }
        }
    }
    for w in docs
        .iter()
        .filter(|d| d["kind"] == "Job" || d["kind"] == "Deployment")
    {
        let env = environment(docs, w, 0, "node-a");
        if let Some(listen) = env.get("BROKERBENCH_LISTEN") {
            let port: u64 = listen.rsplit(':').next().unwrap().parse().unwrap();
            let declared = template(w)["spec"]["containers"][0]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["containerPort"] == port);
            assert!(declared, "{what}: {} listens on a declared port", name(w));
        }
    }
}

/// The roles: senders and receivers are Indexed Jobs whose index comes
/// from the completion index, every pod runs as non-root with the
/// suite's token-less account, and senders sit beside a receiver.
fn check_workloads(what: &str, docs: &[Value]) {
    let job = |n: &str| named(docs, "Job", n).unwrap_or_else(|| panic!("{what}: no Job {n}"));
    for (n, count) in [("brokerbench-sender", 2), ("brokerbench-receiver", 2)] {
        let j = job(n);
        let count = if what == "own broker" { 1 } else { count };
        assert_eq!(
            (pods(j), j["spec"]["completionMode"].as_str()),
            (count, Some("Indexed")),
            "{what}"
        );
        assert_eq!(
            environment(docs, j, 1, "node-a")["BROKERBENCH_INDEX"],
            "1",
            "{what}"
        );
    }
    assert_eq!(pods(job("brokerbench-aggregator")), 1);
    let agg = environment(docs, job("brokerbench-aggregator"), 0, "n");
    let expect_senders = if what == "own broker" { "1" } else { "2" };
    assert_eq!(agg["BROKERBENCH_SENDERS"], expect_senders, "{what}");
    assert_eq!(agg["BROKERBENCH_RECEIVERS"], expect_senders, "{what}");
    let copies = match what.split(' ').next().unwrap() {
        "channel-imc" | "channel-kafka" | "broker-imc" | "broker-kafka" => "2",
        _ => "1",
    };
    assert_eq!(agg["BROKERBENCH_COPIES"], copies, "{what}");
    assert_eq!(agg["BROKERBENCH_OUT"], "/results", "{what}");
    let sender = job("brokerbench-sender");
    let affinity = &template(sender)["spec"]["affinity"]["podAffinity"];
    assert!(
        !affinity.is_null(),
        "{what}: senders beside a receiver by default"
    );
    for w in docs
        .iter()
        .filter(|d| d["kind"] == "Job" || d["kind"] == "Deployment")
    {
        let pod = &template(w)["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{what}");
        assert_eq!(pod["serviceAccountName"], "brokerbench", "{what}");
        assert_eq!(pod["automountServiceAccountToken"], false, "{what}");
        let limits = &pod["containers"][0]["resources"];
        assert_eq!(
            limits["limits"], limits["requests"],
            "{what}: Guaranteed QoS"
        );
        // Prometheus scrapes /metrics on a port the container declares.
        let a = &template(w)["metadata"]["annotations"];
        assert_eq!(
            (
                a["prometheus.io/scrape"].as_str(),
                a["prometheus.io/path"].as_str()
            ),
            (Some("true"), Some("/metrics")),
            "{what}"
        );
        let port: u64 = a["prometheus.io/port"].as_str().unwrap().parse().unwrap();
        let declared = pod["containers"][0]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["containerPort"] == port);
        assert!(declared, "{what}: {} scraped on {port}", name(w));
    }
    // No Role or binding: the roles need no rights in the API.
    assert!(kind(docs, "Role").is_empty() && kind(docs, "RoleBinding").is_empty());
}

#[test]
fn each_scenario_creates_what_the_reference_run_used() {
    let kinds = |args: &[&str]| {
        let (_, docs) = render(args);
        let mut k: Vec<String> = docs
            .iter()
            .filter(|d| d["metadata"]["labels"]["app.kubernetes.io/component"] == "sut")
            .map(|d| d["kind"].as_str().unwrap().to_string())
            .collect();
        k.sort();
        k.dedup();
        (k, docs)
    };
    let (k, _) = kinds(&["--scenario", "direct"]);
    assert!(k.is_empty(), "{k:?}");
    let (k, docs) = kinds(&["--scenario", "channel-imc"]);
    assert_eq!(k, ["InMemoryChannel", "Subscription"]);
    let sender = sender_env(&docs);
    assert_eq!(
        sender["BROKERBENCH_TARGET"],
        "http://brokerbench-kn-channel.brokerbench.svc.cluster.local/"
    );
    let (k, docs) = kinds(&["--scenario", "broker-imc"]);
    assert_eq!(k, ["Broker", "ConfigMap", "Trigger"]);
    let broker = named(&docs, "Broker", "brokerbench").unwrap();
    assert_eq!(
        broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"],
        "MTChannelBasedBroker"
    );
    let (k, docs) = kinds(&["--scenario", "channel-kafka", "--partitions", "50"]);
    assert_eq!(k, ["KafkaChannel", "Subscription"]);
    let ch = named(&docs, "KafkaChannel", "brokerbench").unwrap();
    assert_eq!(
        (
            ch["spec"]["numPartitions"].as_u64(),
            ch["spec"]["replicationFactor"].as_u64()
        ),
        (Some(50), Some(1))
    );
    let (k, docs) = kinds(&["--scenario", "broker-kafka", "--kafka-bootstrap", "k:9092"]);
    assert_eq!(k, ["Broker", "ConfigMap", "Trigger"]);
    let cm = named(&docs, "ConfigMap", "brokerbench-kafka-broker-config").unwrap();
    assert_eq!(cm["data"]["bootstrap.servers"], "k:9092");
    assert_eq!(cm["data"]["default.topic.partitions"], "100");
    let (k, docs) = kinds(&["--scenario", "source-kafka", "--kafka-bootstrap", "k:9092"]);
    assert_eq!(k, ["KafkaSource", "KafkaTopic"]);
    let sender = sender_env(&docs);
    assert_eq!(
        sender["BROKERBENCH_TARGET"],
        "kafka://k:9092/brokerbench-brokerbench"
    );
    assert_eq!(sender["BROKERBENCH_PACER"], "sleep");
    let source = named(&docs, "KafkaSource", "brokerbench").unwrap();
    assert_eq!(source["spec"]["topics"][0], "brokerbench-brokerbench");
    // The suite's own SUT instead: a Deployment with the routes in a file.
    let (k, docs) = kinds(&[
        "--scenario",
        "broker-kafka",
        "--sut-impl",
        "brokerbench",
        "--triggers",
        "2",
    ]);
    assert_eq!(k, ["ConfigMap", "Deployment", "Service"]);
    let routes = named(&docs, "ConfigMap", "brokerbench-sut-routes").unwrap();
    let routes: Value =
        serde_yaml::from_str(routes["data"]["routes.yaml"].as_str().unwrap()).unwrap();
    assert_eq!(
        routes["triggers"][0]["filters"][0]["exact"]["type"],
        "dev.brokerbench.event"
    );
    assert_eq!(
        routes["triggers"][1]["subscriber"],
        "http://brokerbench-receiver.brokerbench.svc:8080/c/1"
    );
    let sut = environment(
        &docs,
        named(&docs, "Deployment", "brokerbench-sut").unwrap(),
        0,
        "n",
    );
    assert_eq!(sut["BROKERBENCH_TOPIC"], "brokerbench-brokerbench");
    assert_eq!(
        args(named(&docs, "Deployment", "brokerbench-sut").unwrap()),
        ["sut", "broker-kafka"]
    );
}

#[test]
fn placement_pace_files_and_parts() {
    let (_, docs) = render(&[
        "--scenario",
        "direct",
        "--spread",
        "--avoid-node",
        "dp-1",
        "--avoid-node",
        "dp-2",
    ]);
    let sender = template(named(&docs, "Job", "brokerbench-sender").unwrap());
    assert!(sender["spec"]["affinity"]["podAffinity"].is_null());
    assert!(!sender["spec"]["affinity"]["podAntiAffinity"].is_null());
    let nodes = &sender["spec"]["affinity"]["nodeAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
        ["matchExpressions"][0];
    assert_eq!(
        (nodes["operator"].as_str(), nodes["values"].clone()),
        (Some("NotIn"), serde_json::json!(["dp-1", "dp-2"]))
    );

    let pace = scratch("k8s-pace");
    std::fs::create_dir_all(&pace).unwrap();
    let file = pace.join("ramp.pace");
    std::fs::write(&file, "# a ramp\n100:5\n200:5\n").unwrap();
    let (_, docs) = render(&["--scenario", "direct", "--pace", file.to_str().unwrap()]);
    let cm = named(&docs, "ConfigMap", "brokerbench-pace").unwrap();
    assert_eq!(cm["data"]["run.pace"], "# a ramp\n100:5\n200:5\n");
    let agg = named(&docs, "Job", "brokerbench-aggregator").unwrap();
    assert_eq!(
        environment(&docs, agg, 0, "n")["BROKERBENCH_PACE"],
        "/etc/brokerbench/pace/run.pace"
    );
    assert!(mounts(agg).iter().any(
        |(p, v)| *p == "/etc/brokerbench/pace" && v["configMap"]["name"] == "brokerbench-pace"
    ));

    let (_, sut) = render(&["--scenario", "channel-imc", "--part", "sut"]);
    assert!(sut.iter().all(|d| d["kind"] != "Job"));
    assert_eq!(kind(&sut, "Subscription").len(), 1);
    let (_, roles) = render(&["--scenario", "channel-imc", "--part", "roles"]);
    assert_eq!(kind(&roles, "Job").len(), 3);
    assert!(kind(&roles, "Subscription").is_empty());
}

#[test]
fn bad_render_input_is_one_clear_line() {
    #[rustfmt::skip]
    let cases = [
        ("--sut kafka", "invalid value 'kafka' for '--sut"),
        ("--sut direct --namespace Bench_1", "--namespace \"Bench_1\": a Kubernetes name"),
        ("--sut direct --sender-resources 1", "--sender-resources \"1\": expected CPU,MEMORY"),
        ("--sut direct --receiver-resources x,1Gi", "as Kubernetes quantities"),
        ("--sut channel-imc --triggers 2", "takes --subscribers"),
        ("--sut direct --pace 100:1,", "pace"),
        ("--sut direct --senders 0", "at least 1"),
        ("--sut direct --slo e2e.p42<1ms", "e2e.p42"),
        ("--sut direct --keep-results soon", "--keep-results"),
        ("--sut direct --pace 2k-3k", "no pace named \"2k-3k\" (no such file here, nor in paces/); built in: smoke, 1k-2k, 1k-long"),
        ("--sut direct --create-namespace --namespace default", "that namespace is the cluster's"),
        ("--sut direct --create-namespace --namespace kube-system", "that namespace is the cluster's"),
        ("--sut direct --run-name 2fast", "--run-name \"2fast\": 1-40 lower-case letters"),
        ("--sut direct --toleration gpu:Sometimes", "--toleration \"gpu:Sometimes\": expected key=value:Effect"),
        ("--sut direct --node-selector pool", "--node-selector \"pool\": expected KEY=VALUE"),
        ("--sut source-kafka --strimzi-api v1alpha1", "invalid value 'v1alpha1' for '--strimzi-api"),
        ("--sut direct --start-timeout later", "--start-timeout"),
    ];
    for (args, says) in cases {
        let args: Vec<&str> = args.split_whitespace().collect();
        let o = brokerbench(
            &[&["k8s", "render"][..], &args].concat(),
            std::path::Path::new("."),
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} was accepted");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "nothing to apply on bad input");
    }
}

#[test]
fn secrets_give_the_senders_a_token_and_the_kafka_clients_their_settings() {
    let (_, docs) = render(&[
        "--scenario",
        "source-kafka",
        "--sut-impl",
        "brokerbench",
        "--token-secret",
        "bench-token",
        "--kafka-secret",
        "kafka-client",
    ]);
    let sender = named(&docs, "Job", "brokerbench-sender").unwrap();
    let env = environment(&docs, sender, 0, "n");
    assert_eq!(
        env["BROKERBENCH_HEADER"],
        "Authorization: @/etc/brokerbench/token/token"
    );
    assert_eq!(
        env["BROKERBENCH_KAFKA_CONFIG_FILE"],
        "/etc/brokerbench/kafka/client.properties"
    );
    let secrets: Vec<(&str, &str)> = mounts(sender)
        .iter()
        .filter_map(|(p, v)| v["secret"]["secretName"].as_str().map(|s| (*p, s)))
        .collect();
    assert_eq!(
        secrets,
        [
            ("/etc/brokerbench/token", "bench-token"),
            ("/etc/brokerbench/kafka", "kafka-client")
        ]
    );
    let sut = named(&docs, "Deployment", "brokerbench-sut").unwrap();
    assert_eq!(
        environment(&docs, sut, 0, "n")["BROKERBENCH_KAFKA_CONFIG_FILE"],
        "/etc/brokerbench/kafka/client.properties"
    );
    // The flags the variables stand for are the roles' own.
    for (role, flag) in [
        ("sender", "--header"),
        ("sender", "--kafka-config-file"),
        ("sut", "--kafka-config-file"),
    ] {
        let o = brokerbench(&[role, "--help"], std::path::Path::new("."));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(flag),
            "{role} {flag}"
        );
    }
}

/// Each render makes the run a fresh token in a Secret; the aggregator,
/// the senders and the receivers get it as BROKERBENCH_TOKEN.
#[test]
fn the_roles_get_the_runs_token_from_its_secret() {
    let token_of = |docs: &[Value]| {
        let s = named(docs, "Secret", "brokerbench-run-token").expect("the run's token");
        s["stringData"]["token"].as_str().unwrap().to_string()
    };
    let (_, a) = render(&["--scenario", "direct"]);
    let (_, b) = render(&["--scenario", "direct"]);
    let token = token_of(&a);
    assert_eq!(token.len(), 32, "{token}");
    assert_ne!(token, token_of(&b), "a fresh one each render");
    for role in ["aggregator", "sender", "receiver"] {
        let job = named(&a, "Job", &format!("brokerbench-{role}")).unwrap();
        let env = environment(&a, job, 0, "node-a");
        assert_eq!(env.get("BROKERBENCH_TOKEN"), Some(&token), "{role}");
    }
}

/// `scripts/validate-crds`: rendered custom resources against the CRDs in
/// `../shared/k8s-crds` (as their projects publish them), with unknown
/// fields refused; its `ok` lines, and its output.
fn validate_crds(files: &[std::path::PathBuf]) -> (bool, Vec<String>, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/validate-crds");
    let crds = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/k8s-crds");
    let o = std::process::Command::new("python3")
        .args([script, "--crds", crds])
        .args(files)
        .output()
        .expect("python3 runs scripts/validate-crds");
    let out = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    let ok = out
        .lines()
        .filter(|l| l.starts_with("ok "))
        .map(str::to_string)
        .collect();
    (o.status.success(), ok, out)
}

/// The custom resources of every scenario, option set and part validate
/// against a served version of their CRD: what a current cluster takes.
#[test]
fn every_rendered_custom_resource_validates_against_the_crds_a_cluster_serves() {
    let dir = scratch("k8s-crds");
    std::fs::create_dir_all(&dir).unwrap();
    let mut sets = renders();
    for extra in [
        vec![
            "--scenario",
            "source-kafka",
            "--run-name",
            "r2",
            "--partitions",
            "3",
        ],
        vec![
            "--scenario",
            "broker-kafka",
            "--triggers",
            "4",
            "--matching",
            "1",
        ],
        vec![
            "--scenario",
            "channel-kafka",
            "--part",
            "sut",
            "--replication",
            "3",
        ],
    ] {
        let (text, docs) = render(&extra);
        sets.push((extra.join(" "), text, docs));
    }
    let mut files = Vec::new();
    let mut custom = 0;
    for (i, (_, text, docs)) in sets.iter().enumerate() {
        let f = dir.join(format!("render-{i}.yaml"));
        std::fs::write(&f, text).unwrap();
        files.push(f);
        custom += docs
            .iter()
            .filter(|d| {
                let api = d["apiVersion"].as_str().unwrap();
                api.contains('.') && !api.starts_with("apps/")
            })
            .count();
    }
    let (passed, ok, out) = validate_crds(&files);
    assert!(passed, "{out}");
    assert!(custom >= 25, "{custom} custom resources rendered");
    assert_eq!(ok.len(), custom, "every custom resource checked: {out}");
    for kind in [
        "InMemoryChannel",
        "Subscription",
        "Broker",
        "Trigger",
        "KafkaChannel",
        "KafkaSource",
        "KafkaTopic",
    ] {
        assert!(
            ok.iter().any(|l| l.starts_with(&format!("ok {kind}/"))),
            "{kind}: {out}"
        );
    }
    // An older Strimzi's version, which a current one refuses.
    let (text, _) = render(&["--scenario", "source-kafka", "--strimzi-api", "v1beta2"]);
    let f = dir.join("v1beta2.yaml");
    std::fs::write(&f, text).unwrap();
    let (passed, _, out) = validate_crds(&[f]);
    assert!(!passed, "{out}");
    assert!(out.contains("KafkaTopic v1beta2 is not served"), "{out}");
    // The validator refuses a field the CRD does not have.
    let f = dir.join("typo.yaml");
    std::fs::write(&f, "apiVersion: messaging.knative.dev/v1\nkind: Subscription\nmetadata:\n  name: s\nspec:\n  subscrber: {}\n").unwrap();
    let (passed, _, out) = validate_crds(&[f]);
    assert!(
        !passed && out.contains("spec.subscrber: unknown field"),
        "{out}"
    );
}

/// A run in a namespace it did not create: no Namespace object, every
/// object named and labelled by the run, Services selecting only its pods;
/// the namespace only with --create-namespace, labelled for delete.
#[test]
fn runs_share_a_namespace_they_did_not_create() {
    let (_, docs) = render(&[
        "--scenario",
        "broker-imc",
        "--namespace",
        "team-a",
        "--run-name",
        "r2",
    ]);
    assert!(kind(&docs, "Namespace").is_empty());
    for d in &docs {
        let n = name(d);
        assert!(n == "r2" || n.starts_with("r2-"), "{n}");
        assert_eq!(d["metadata"]["namespace"], "team-a", "{n}");
        assert_eq!(d["metadata"]["labels"]["brokerbench.dev/run"], "r2", "{n}");
    }
    for svc in kind(&docs, "Service") {
        assert_eq!(svc["spec"]["selector"]["brokerbench.dev/run"], "r2");
    }
    let sender = named(&docs, "Job", "r2-sender").unwrap();
    let affinity = &template(sender)["spec"]["affinity"]["podAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"]["matchLabels"];
    assert_eq!(
        affinity["brokerbench.dev/run"], "r2",
        "beside its own receivers"
    );
    let env = environment(&docs, sender, 0, "n");
    assert_eq!(
        env["BROKERBENCH_TARGET"],
        "http://broker-ingress.knative-eventing.svc.cluster.local/team-a/r2"
    );
    assert_eq!(
        env["BROKERBENCH_AGGREGATOR"],
        "http://r2-aggregator.team-a.svc:7000"
    );
    assert_eq!(kind(&docs, "Trigger")[0]["spec"]["broker"], "r2");
    let (text, docs) = render(&[
        "--scenario",
        "direct",
        "--namespace",
        "bench-9",
        "--create-namespace",
    ]);
    let ns = kind(&docs, "Namespace");
    assert_eq!(ns.len(), 1);
    assert_eq!(
        (
            ns[0]["metadata"]["name"].as_str(),
            ns[0]["metadata"]["labels"]["brokerbench.dev/run"].as_str(),
            ns[0]["metadata"]["labels"]["app.kubernetes.io/component"].as_str()
        ),
        (Some("bench-9"), Some("brokerbench"), Some("namespace"))
    );
    assert!(text.contains("namespace bench-9 (created)"), "{text}");
    // What delete runs: the run's objects, a namespace only by its labels.
    let o = brokerbench(
        &[
            "k8s",
            "delete",
            "--namespace",
            "team-a",
            "--run-name",
            "r2",
            "--dry-run",
        ],
        std::path::Path::new("."),
    );
    let lines = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{lines}");
    assert!(
        lines.lines().all(|l| l.contains("brokerbench.dev/run=r2")),
        "{lines}"
    );
    assert!(
        lines.contains(
            "# and, if namespace team-a carries brokerbench.dev/run=r2 (the render created it)"
        ),
        "{lines}"
    );
    assert!(
        !lines
            .lines()
            .any(|l| l.starts_with("kubectl delete namespace")),
        "{lines}"
    );
}

/// What a cluster's operator sets reaches every pod; an existing service
/// account or token Secret replaces the rendered one.
#[test]
fn operator_settings_reach_every_pod() {
    let (text, docs) = render(&[
        "--scenario",
        "channel-imc",
        "--sut-impl",
        "brokerbench",
        "--image-pull-secret",
        "regcred",
        "--node-selector",
        "pool=bench",
        "--toleration",
        "dedicated=bench:NoSchedule",
        "--toleration",
        "spot:NoExecute",
        "--priority-class",
        "bench-high",
        "--pod-annotation",
        "sidecar.istio.io/inject=false",
        "--service-account",
        "bench-sa",
        "--token-secret-ref",
        "bench-run-token",
    ]);
    let workloads: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "Job" || d["kind"] == "Deployment")
        .collect();
    assert_eq!(workloads.len(), 4, "aggregator, receiver, sender, sut");
    for w in workloads {
        let t = template(w);
        let spec = &t["spec"];
        assert_eq!(
            spec["imagePullSecrets"],
            serde_json::json!([{ "name": "regcred" }])
        );
        assert_eq!(spec["nodeSelector"], serde_json::json!({ "pool": "bench" }));
        assert_eq!(
            spec["tolerations"],
            serde_json::json!([
                { "key": "dedicated", "operator": "Equal", "value": "bench", "effect": "NoSchedule" },
                { "key": "spot", "operator": "Exists", "effect": "NoExecute" },
            ])
        );
        assert_eq!(spec["priorityClassName"], "bench-high");
        assert_eq!(spec["serviceAccountName"], "bench-sa");
        assert_eq!(
            t["metadata"]["annotations"]["sidecar.istio.io/inject"],
            "false"
        );
        assert_eq!(t["metadata"]["annotations"]["prometheus.io/scrape"], "true");
    }
    assert!(kind(&docs, "ServiceAccount").is_empty());
    assert!(kind(&docs, "Secret").is_empty(), "no secret in the YAML");
    assert!(!text.contains("stringData"));
    for role in ["aggregator", "sender", "receiver"] {
        let job = named(&docs, "Job", &format!("brokerbench-{role}")).unwrap();
        let env = &template(job)["spec"]["containers"][0]["env"];
        let token = env
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "BROKERBENCH_TOKEN")
            .unwrap();
        assert_eq!(
            token["valueFrom"]["secretKeyRef"]["name"], "bench-run-token",
            "{role}"
        );
    }
    let agg = named(&docs, "Job", "brokerbench-aggregator").unwrap();
    assert_eq!(
        agg["metadata"]["annotations"]["brokerbench.dev/token-secret"],
        "bench-run-token"
    );
}

/// Jobs end by a deadline made of the start timeout, warmup, pace and
/// drain (the aggregator's also keeps its results), and are removed an
/// hour after they finished: a Pending pod does not hold the cluster for
/// ever.
#[test]
fn jobs_end_by_the_runs_deadline() {
    let (_, docs) = render(&[
        "--scenario",
        "direct",
        "--pace",
        "100:30,200:30",
        "--warmup-seconds",
        "5",
        "--drain-seconds",
        "7",
        "--start-timeout",
        "2m",
        "--keep-results",
        "10m",
    ]);
    let run = 120 + 5 + 60 + 7 + 300;
    for (role, deadline) in [
        ("sender", run),
        ("receiver", run),
        ("aggregator", run + 600),
    ] {
        let job = named(&docs, "Job", &format!("brokerbench-{role}")).unwrap();
        assert_eq!(job["spec"]["activeDeadlineSeconds"], deadline, "{role}");
        assert_eq!(job["spec"]["ttlSecondsAfterFinished"], 3600, "{role}");
    }
    let agg = named(&docs, "Job", "brokerbench-aggregator").unwrap();
    assert_eq!(
        environment(&docs, agg, 0, "n")["BROKERBENCH_START_TIMEOUT"],
        "2m"
    );
}

/// The sender's pacer fits its CPU limit: one core leaves none for a
/// spinning pacer beside the runtime thread, so it sleeps; two spin. The
/// ConfigMap says which and why.
#[test]
fn the_senders_pacer_fits_their_cpu_limit() {
    let pacer = |extra: &[&str]| {
        let (text, docs) = render(&[&["--scenario", "channel-imc"][..], extra].concat());
        let cm = named(&docs, "ConfigMap", "brokerbench-sender").unwrap();
        (
            cm["data"]["BROKERBENCH_PACER"]
                .as_str()
                .unwrap()
                .to_string(),
            cm["metadata"]["annotations"]["brokerbench.dev/pacer"]
                .as_str()
                .unwrap()
                .to_string(),
            text,
        )
    };
    let (p, why, text) = pacer(&[]);
    assert_eq!(p, "spin", "two cores by default: {why}");
    assert!(
        why.starts_with("spin: the sender's CPU limit (2) holds"),
        "{why}"
    );
    assert!(text.contains("1 sender(s) (pacer spin)"), "{text}");
    let (p, why, text) = pacer(&["--sender-resources", "1,512Mi"]);
    assert_eq!(p, "sleep");
    assert!(
        why.starts_with("sleep: the sender's CPU limit (1) leaves no core"),
        "{why}"
    );
    assert!(text.contains("1 sender(s) (pacer sleep)"), "{text}");
    let (p, why, _) = pacer(&["--sender-resources", "1500m,512Mi"]);
    assert_eq!(
        (p.as_str(), why.contains("(1500m)")),
        ("sleep", true),
        "{why}"
    );
    // A SUT that asks for the sleeping pacer gets it whatever the limit.
    let (_, docs) = render(&["--scenario", "channel-kafka"]);
    let cm = named(&docs, "ConfigMap", "brokerbench-sender").unwrap();
    assert_eq!(cm["data"]["BROKERBENCH_PACER"], "sleep");
    // The roles' own flag.
    let o = brokerbench(&["sender", "--help"], std::path::Path::new("."));
    assert!(String::from_utf8_lossy(&o.stdout).contains("--pacer <MODE>"));
}

/// `--out-dir`: one file per object and a kustomization.yaml naming them,
/// the same objects as printed.
#[test]
fn out_dir_writes_one_file_per_object_and_a_kustomization() {
    let dir = scratch("k8s-out-dir");
    let args = [
        "--scenario",
        "broker-imc",
        "--triggers",
        "2",
        "--create-namespace",
    ];
    let (_, printed) = render(&args);
    let o = brokerbench(
        &[
            &["k8s", "render"][..],
            &args,
            &["--out-dir", dir.to_str().unwrap()],
        ]
        .concat(),
        std::path::Path::new("."),
    );
    let said = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        said.contains(&format!("kubectl apply -k {}", dir.display())),
        "{said}"
    );
    let k: Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap())
            .unwrap();
    assert_eq!(k["kind"], "Kustomization");
    let resources: Vec<&str> = k["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(resources.len(), printed.len());
    let mut listed: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f != "kustomization.yaml")
        .collect();
    listed.sort();
    assert_eq!(listed, resources, "every file listed, nothing else written");
    for (file, want) in resources.iter().zip(&printed) {
        let docs = parse(&std::fs::read_to_string(dir.join(file)).unwrap());
        assert_eq!(docs.len(), 1, "{file}");
        assert_eq!(
            (&docs[0]["kind"], &docs[0]["metadata"]["name"]),
            (&want["kind"], &want["metadata"]["name"]),
            "{file}: in the order printed"
        );
    }
    assert!(resources[0].starts_with("00-namespace-"), "{resources:?}");
}

/// The reference paces travel with the binary: a named pace renders from
/// any folder (the tests run in cli/, which has no paces/).
#[test]
fn named_paces_render_from_any_folder() {
    let (_, docs) = render(&["--scenario", "direct", "--pace", "1k-2k"]);
    let cm = named(&docs, "ConfigMap", "brokerbench-pace").unwrap();
    let text = cm["data"]["run.pace"].as_str().unwrap();
    assert!(text.contains("1000:30,1100:30"), "{text}");
    let o = brokerbench(&["run", "--help"], std::path::Path::new("."));
    let help = String::from_utf8_lossy(&o.stdout);
    for name in ["smoke", "1k-2k", "1k-long"] {
        assert!(help.contains(name), "run --help names {name}");
    }
}

/// Every setting a render gives a role (a `BROKERBENCH_*` variable of its
/// ConfigMap, or a flag among its container's arguments) is one of the
/// options that role's subcommand takes: a flag renamed in `cli/src/args/`
/// cannot leave the render writing a name nothing reads.
#[test]
fn every_rendered_setting_is_a_flag_of_its_role() {
    use clap::CommandFactory;
    let cli = brokerbench::Opts::command();
    let mut checked = 0;
    for (what, _, docs) in renders() {
        for w in docs
            .iter()
            .filter(|d| matches!(d["kind"].as_str(), Some("Job" | "Deployment")))
        {
            let c = &template(w)["spec"]["containers"][0];
            let args: Vec<&str> = c["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            let role = args[0];
            let sub = cli
                .find_subcommand(role)
                .unwrap_or_else(|| panic!("{what}: no subcommand {role}"));
            let longs: BTreeSet<String> = sub
                .get_arguments()
                .filter_map(|a| a.get_long())
                .map(str::to_string)
                .collect();
            let names: BTreeSet<String> = longs
                .iter()
                .map(|l| brokerbench_core::env::env_name(l))
                .collect();
            for (k, _) in environment(&docs, w, 0, "n") {
                if k.starts_with(brokerbench_core::env::ENV_PREFIX) {
                    assert!(names.contains(&k), "{what}: {role} takes no flag for {k}");
                    checked += 1;
                }
            }
            for flag in args.iter().filter_map(|a| a.strip_prefix("--")) {
                assert!(longs.contains(flag), "{what}: {role} takes no --{flag}");
                checked += 1;
            }
        }
    }
    assert!(checked > 200, "{checked} settings checked");
}

//! The Kubernetes objects every role is made of: labels, ConfigMaps of
//! settings, Services, containers and pod templates with the operator's
//! settings and placement, mounts, the run's token, Jobs with deadlines.

use super::config::*;
use brokerbench_core::env::env_name;
use serde_json::{json, Map, Value};

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

pub(super) fn namespace(c: &RenderConfig) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": { "name": c.namespace, "labels": labels(c, "namespace") },
    })
}

/// The roles' account: no Role is bound to it and no token is mounted;
/// they speak only to each other and to the SUT.
pub(super) fn service_account(c: &RenderConfig) -> Value {
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
/// ConfigMap `settings`; a role that reports (`index_from`: a Downward API
/// field as its index) gets its node's name too, which its report names.
pub(super) fn container(
    c: &RenderConfig,
    name: &str,
    args: &[&str],
    settings: &str,
    index_from: Option<&str>,
    resources: &Resources,
    ports: &[(&str, u16)],
) -> Value {
    let mut env = Vec::new();
    if let Some(field) = index_from {
        env.push(json!({
            "name": env_name("node-name"),
            "valueFrom": { "fieldRef": { "fieldPath": "spec.nodeName" } },
        }));
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
pub(super) fn run_token(c: &RenderConfig) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": meta(c, &run_token_secret(&c.name), "aggregator"),
        "type": "Opaque",
        "stringData": { "token": c.run_token },
    })
}

/// The run's token from its Secret, as `--token` (BROKERBENCH_TOKEN).
pub(super) fn token_env(c: &RenderConfig, container: &mut Value) {
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
pub(super) fn job(
    c: &RenderConfig,
    name: &str,
    component: &str,
    n: u32,
    deadline: u64,
    pod: Value,
) -> Value {
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
pub(super) const JOB_INDEX: &str =
    "metadata.annotations['batch.kubernetes.io/job-completion-index']";

//! Rendered manifests read back: the documents, and what one container of
//! a workload would get on a cluster (args, environment, mounts, the
//! Service names that reach it).

#![allow(dead_code)]

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// `brokerbench k8s render ARGS`: its documents (panics on a failed render).
pub fn render(args: &[&str]) -> (String, Vec<Value>) {
    let o = super::process::brokerbench(
        &[&["k8s", "render"], args].concat(),
        std::path::Path::new("."),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "render {args:?}: {err}");
    let text = String::from_utf8(o.stdout).unwrap();
    let docs = parse(&text);
    (text, docs)
}

pub fn parse(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("every document is YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

pub fn kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

pub fn named<'a>(docs: &'a [Value], k: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == k && d["metadata"]["name"] == name)
}

/// The run's token, from its Secret: what releasing the results needs.
pub fn run_token(docs: &[Value]) -> String {
    let s = named(docs, "Secret", "brokerbench-run-token").expect("the run's token Secret");
    s["stringData"]["token"].as_str().unwrap().to_string()
}

/// The Job or Deployment of a component (`aggregator`, `receiver`, `sut`,
/// `sender`).
pub fn workload<'a>(docs: &'a [Value], component: &str) -> &'a Value {
    docs.iter()
        .find(|w| {
            (w["kind"] == "Job" || w["kind"] == "Deployment")
                && template(w)["metadata"]["labels"]["app.kubernetes.io/component"] == component
        })
        .unwrap_or_else(|| panic!("no {component} workload"))
}

pub fn name(d: &Value) -> &str {
    d["metadata"]["name"].as_str().unwrap_or_default()
}

/// A workload's pod template (Job, Deployment).
pub fn template(d: &Value) -> &Value {
    &d["spec"]["template"]
}

/// How many pods a workload runs.
pub fn pods(d: &Value) -> u64 {
    d["spec"]["completions"]
        .as_u64()
        .or(d["spec"]["replicas"].as_u64())
        .unwrap_or(1)
}

/// Whether `selector` picks pods labelled `labels`.
pub fn selects(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| &labels[k] == v))
}

/// The Services whose selector picks the workload's pods.
pub fn services_of<'a>(docs: &'a [Value], workload: &Value) -> Vec<&'a Value> {
    let labels = &template(workload)["metadata"]["labels"];
    kind(docs, "Service")
        .into_iter()
        .filter(|s| selects(&s["spec"]["selector"], labels))
        .collect()
}

/// What the kubelet gives pod `index` of a workload's only container:
/// its environment (ConfigMaps' then `env`'s, Downward API fields filled
/// as a cluster would, with `node` as the node name, Secrets' keys from
/// the Secrets among `docs`).
pub fn environment(
    docs: &[Value],
    workload: &Value,
    index: u64,
    node: &str,
) -> BTreeMap<String, String> {
    let c = &template(workload)["spec"]["containers"][0];
    let mut env = BTreeMap::new();
    for from in c["envFrom"].as_array().into_iter().flatten() {
        let cm = from["configMapRef"]["name"].as_str().unwrap();
        let cm = named(docs, "ConfigMap", cm).unwrap_or_else(|| panic!("no ConfigMap {cm}"));
        for (k, v) in cm["data"].as_object().unwrap() {
            env.insert(k.clone(), v.as_str().unwrap().to_string());
        }
    }
    for e in c["env"].as_array().into_iter().flatten() {
        let k = e["name"].as_str().unwrap().to_string();
        let secret = &e["valueFrom"]["secretKeyRef"];
        if let Some(name) = secret["name"].as_str() {
            let s = named(docs, "Secret", name).unwrap_or_else(|| panic!("no Secret {name}"));
            let key = secret["key"].as_str().unwrap();
            env.insert(k, s["stringData"][key].as_str().unwrap().to_string());
            continue;
        }
        let v = match e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            Some("spec.nodeName") => node.to_string(),
            Some("metadata.annotations['batch.kubernetes.io/job-completion-index']") => {
                index.to_string()
            }
            Some(other) => panic!("a field a cluster would fill: {other}"),
            None => e["value"].as_str().unwrap().to_string(),
        };
        env.insert(k, v);
    }
    env
}

/// The container's volume mounts: (mount path, volume).
pub fn mounts(workload: &Value) -> Vec<(&str, &Value)> {
    let spec = &template(workload)["spec"];
    let c = &spec["containers"][0];
    c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let v = spec["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == m["name"])
                .expect("a mount of a volume the pod has");
            (m["mountPath"].as_str().unwrap(), v)
        })
        .collect()
}

/// The container's args.
pub fn args(workload: &Value) -> Vec<String> {
    template(workload)["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// `http://host:port/...` split into host and port.
pub fn host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("http://")?;
    let auth = rest.split('/').next()?;
    let (h, p) = auth
        .rsplit_once(':')
        .map_or((auth, 80), |(h, p)| (h, p.parse().unwrap()));
    Some((h.to_string(), p))
}

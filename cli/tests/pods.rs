//! A rendered run (`k8s render`, the suite's own SUT in place of Knative)
//! as processes: each pod's exact args and environment, each on a loopback
//! address of its own (127.0.1.x) standing for its Service's name, the
//! ConfigMaps it mounts as files. What `cli/tests/containers.rs` does with
//! containers, without a Docker Engine: this one always runs.

mod common;

use common::manifests::{self, environment, mounts, named, pods, render, services_of};
use common::process::*;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};

/// The "pods" of the test, by name; killed if the test ends early.
#[derive(Default)]
struct Pods(BTreeMap<String, std::process::Child>);

impl Drop for Pods {
    fn drop(&mut self) {
        for c in self.0.values_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn a_rendered_run_runs_as_processes_on_loopback_addresses() {
    let ns = "bbpods";
    // A receiver fault (applied by the receiver, from the plan) and a
    // command (run by `k8s wait` on this machine, as kubectl would be).
    let marks = scratch("pods-marks");
    std::fs::create_dir_all(&marks).unwrap();
    let mark = marks.join("ran");
    let command = format!("command@1:echo once >> {}", mark.display());
    let (_, docs) = render(&[
        "--fault",
        "receiver-drop@1+1:10",
        "--fault",
        &command,
        "--scenario",
        "broker-imc",
        "--sut-impl",
        "brokerbench",
        "--triggers",
        "2",
        "--matching",
        "1",
        "--senders",
        "2",
        "--namespace",
        ns,
        "--pace",
        "300:3",
        "--warmup-seconds",
        "1",
        "--drain-seconds",
        "1",
        "--keep-results",
        "2m",
    ]);
    // Each Service's name is an address of its own.
    let pid = std::process::id();
    let mut addresses = BTreeMap::new();
    for (i, svc) in manifests::kind(&docs, "Service").iter().enumerate() {
        let octet = 10 + i + (pid as usize % 20) * 10;
        addresses.insert(
            format!("{}.{ns}.svc", manifests::name(svc)),
            format!("127.0.1.{octet}"),
        );
    }
    let files = scratch("pods-files");
    let mut children = Pods::default();
    for component in ["aggregator", "receiver", "sut", "sender"] {
        let w = manifests::workload(&docs, component);
        let own = services_of(&docs, w)
            .first()
            .map(|s| addresses[&format!("{}.{ns}.svc", manifests::name(s))].clone());
        for index in 0..pods(w) {
            let mut env = environment(&docs, w, index, &format!("node-{component}"));
            // Mounted files: ConfigMaps written out, emptyDirs made.
            let mut paths = Vec::new();
            for (path, volume) in mounts(w) {
                let dir = files.join(format!("{component}-{index}{}", path.replace('/', "-")));
                std::fs::create_dir_all(&dir).unwrap();
                if let Some(cm) = volume["configMap"]["name"].as_str() {
                    for (k, v) in named(&docs, "ConfigMap", cm).unwrap()["data"]
                        .as_object()
                        .unwrap()
                    {
                        std::fs::write(dir.join(k), v.as_str().unwrap()).unwrap();
                    }
                }
                paths.push((path.to_string(), dir));
            }
            for v in env.values_mut() {
                for (name, addr) in &addresses {
                    *v = v.replace(name.as_str(), addr);
                }
                if let (Some(rest), Some(own)) = (v.strip_prefix("0.0.0.0:"), &own) {
                    *v = format!("{own}:{rest}");
                }
                for (path, dir) in &paths {
                    if let Some(rest) = v.strip_prefix(path.as_str()) {
                        *v = format!("{}{rest}", dir.display());
                    }
                }
            }
            // A sender's metrics port is its own; give each its own address.
            if component == "sender" {
                env.insert(
                    "BROKERBENCH_METRICS_LISTEN".into(),
                    format!("127.0.1.{}:9090", 200 + index + (pid as u64 % 20) * 2),
                );
            }
            // The SUT's routes file names the receiver by its Service.
            for (_, dir) in &paths {
                for f in std::fs::read_dir(dir).unwrap().flatten() {
                    let text = std::fs::read_to_string(f.path()).unwrap();
                    let mut t = text.clone();
                    for (name, addr) in &addresses {
                        t = t.replace(name.as_str(), addr);
                    }
                    if t != text {
                        std::fs::write(f.path(), t).unwrap();
                    }
                }
            }
            let child = Command::new(env!("CARGO_BIN_EXE_brokerbench"))
                .args(manifests::args(w))
                .env_clear()
                .envs(&env)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            children.0.insert(format!("{component}-{index}"), child);
        }
    }
    let agg = format!(
        "http://{}:7000",
        addresses[&format!("brokerbench-aggregator.{ns}.svc")]
    );
    let out = scratch("pods-collected");
    // `k8s wait`, given two minutes; the roles' logs if it takes longer.
    // Reading the plan (for its commands) and releasing the results take
    // the run's token, as on a cluster.
    let with_token = format!("{agg}/?token={}", manifests::run_token(&docs));
    let mut wait = Command::new(env!("CARGO_BIN_EXE_brokerbench"))
        .args(["k8s", "wait", "--aggregator", &with_token])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while wait.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let _ = wait.kill();
    let wait = wait.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&wait.stdout);
    let mut logs = String::new();
    if wait.status.code() != Some(0) {
        for (name, c) in std::mem::take(&mut children.0) {
            let mut c = c;
            let _ = c.kill();
            let o = c.wait_with_output().unwrap();
            logs += &format!(
                "--- {name}\n{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    assert_eq!(
        wait.status.code(),
        Some(0),
        "{said}{}{logs}",
        String::from_utf8_lossy(&wait.stderr)
    );
    let table = collect(&with_token, &out, 0);
    assert_eq!(
        std::fs::read_to_string(&mark).unwrap(),
        "once\n",
        "the command ran once"
    );
    // The Jobs' pods end with the run; the SUT's Deployment runs until
    // it is stopped, as a pod is: SIGTERM.
    for (name, c) in std::mem::take(&mut children.0) {
        if name.starts_with("sut") {
            // SAFETY: signals a child of this test by its pid.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
        let o = c.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // Every event accounted for: 900 sent by the two senders together,
    // delivered through the one matching trigger, the other filtering them
    // out; the receiver dropped every 10th of a second's 300.
    let summary = common::valid_summary(&only_results(&out));
    let t = &summary["totals"];
    assert_eq!(
        (t["sent"].as_u64(), t["accepted"].as_u64()),
        (Some(900), Some(900)),
        "{table}"
    );
    let (delivered, lost) = (
        t["delivered"].as_u64().unwrap(),
        t["lost"].as_u64().unwrap(),
    );
    assert_eq!(delivered + lost, 900, "{table}");
    assert!((25..=35).contains(&lost), "{table}");
    let effects = summary["fault_effects"].as_array().unwrap();
    assert_eq!(effects.len(), 2, "{summary}");
    assert_eq!(effects[0]["lost"].as_u64(), Some(lost), "{summary}");
    assert_eq!(summary["per_sender"][1]["sent"], 450, "{summary}");
    let warmup = t["warmup_sent"].as_u64().unwrap();
    assert!(warmup >= 400, "a second of 500/s shared by the two: {t}");
    assert_eq!(
        summary["sut"]["routed"].as_u64(),
        Some(900 + warmup),
        "warmup and measured, through one matching trigger: {summary}"
    );
    assert_eq!(summary["nodes"][2]["node"], "node-receiver");
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&files);
    let _ = std::fs::remove_dir_all(&marks);
}

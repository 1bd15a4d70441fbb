//! The roles as containers of the runtime image (scripts/image) on a
//! private Docker network, as pods are: addressed by name, non-root, flags
//! from the environment, results in a mounted folder, and stopped with
//! SIGTERM. Needs a Docker Engine; without one each test says so in one
//! line and passes.

mod common;

use common::process::*;
use std::process::{Command, Output};

/// The image, network and containers of one test, removed when it ends.
struct Docker {
    prefix: String,
    image: String,
    containers: Vec<String>,
}

impl Docker {
    /// None (and one line on stderr) when there is no Docker Engine.
    fn start(test: &str) -> Option<Docker> {
        let up = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .output();
        if !matches!(&up, Ok(o) if o.status.success()) {
            eprintln!("no Docker Engine here (`docker info` failed): {test} not run");
            return None;
        }
        let prefix = format!("bb-{test}-{}", std::process::id());
        let image = format!("brokerbench-test:{prefix}");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/image");
        let built = Command::new("bash")
            .args([script, env!("CARGO_BIN_EXE_brokerbench"), &image])
            .output()
            .unwrap();
        assert!(built.status.success(), "{}", stderr(&built));
        let net = docker(&["network", "create", &prefix]);
        assert!(net.status.success(), "{}", stderr(&net));
        Some(Docker {
            prefix,
            image,
            containers: Vec::new(),
        })
    }

    /// `docker run -d` of the image, named PREFIX-`name` on the network,
    /// with `env`, the results folder `mount`ed at /results, and `args`;
    /// the container's name.
    fn run(
        &mut self,
        name: &str,
        env: &[(&str, &str)],
        mount: Option<&str>,
        args: &[&str],
    ) -> String {
        let container = format!("{}-{name}", self.prefix);
        let mut cmd = vec!["run", "-d", "--name", &container, "--network", &self.prefix];
        let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for e in &env {
            cmd.extend(["-e", e]);
        }
        let volume = mount.map(|dir| format!("{dir}:/results"));
        if let Some(v) = &volume {
            cmd.extend(["-v", v]);
        }
        cmd.push(&self.image);
        cmd.extend(args);
        let started = docker(&cmd);
        assert!(started.status.success(), "{}", stderr(&started));
        self.containers.push(container.clone());
        container
    }

    /// The exit code and logs (stdout, stderr) of a container once it ended.
    fn finished(&self, container: &str) -> (i32, String, String) {
        let waited = docker(&["wait", container]);
        let code = String::from_utf8_lossy(&waited.stdout)
            .trim()
            .parse()
            .unwrap();
        let logs = docker(&["logs", container]);
        (code, stdout(&logs), stderr(&logs))
    }

    /// The address a name on the network resolves to, as seen from a role.
    fn url(&self, name: &str) -> String {
        format!("http://{}-{name}:8080", self.prefix)
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = docker(&["rm", "-f", c]);
        }
        let _ = docker(&["network", "rm", &self.prefix]);
        let _ = docker(&["image", "rm", "-f", &self.image]);
    }
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A results folder the image's user (10001) can write in.
fn shared_folder(name: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let out = scratch(name);
    std::fs::create_dir_all(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    out
}

#[test]
fn the_roles_run_as_containers_on_a_private_network() {
    let Some(mut d) = Docker::start("roles") else {
        return;
    };
    let out = shared_folder("containers");
    let listen = [("BROKERBENCH_LISTEN", "0.0.0.0:8080")];
    // The aggregator's flags from the environment, as a pod's manifest
    // sets them.
    let aggregator = d.run(
        "aggregator",
        &[
            listen[0],
            ("BROKERBENCH_SENDERS", "2"),
            ("BROKERBENCH_PACE", "300:2"),
            ("BROKERBENCH_WARMUP_SECONDS", "0"),
            ("BROKERBENCH_DRAIN_SECONDS", "1"),
            ("BROKERBENCH_SCENARIO", "containers"),
        ],
        Some(out.to_str().unwrap()),
        &["aggregator", "--quiet", "--no-plot", "--out", "/results"],
    );
    let agg_url = d.url("aggregator");
    let receiver = d.run(
        "receiver",
        &listen,
        None,
        &["receiver", "--aggregator", &agg_url],
    );
    let target = format!("{}/", d.url("receiver"));
    let senders: Vec<String> = ["0", "1"]
        .iter()
        .map(|i| {
            d.run(
                &format!("sender-{i}"),
                &[("BROKERBENCH_INDEX", i)],
                None,
                &[
                    "sender",
                    "--aggregator",
                    &agg_url,
                    "--target",
                    &target,
                    "--pacer",
                    "sleep",
                ],
            )
        })
        .collect();
    for s in &senders {
        let (code, _, err) = d.finished(s);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("sent 600, accepted 600, failed 0"), "{err}");
    }
    let (code, _, err) = d.finished(&receiver);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("delivered 1200, duplicates 0, rejected 0"),
        "{err}"
    );
    let (code, table, err) = d.finished(&aggregator);
    assert_eq!(code, 0, "{table}{err}");
    assert_eq!(
        all_row(&table),
        ["1200", "1200", "0", "1200", "0"],
        "{table}"
    );

    // The results are the image user's, in the mounted folder.
    let dirs = entries(&out);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    assert!(dirs[0].to_str().unwrap().ends_with("-containers"));
    let summary = common::valid_summary(&dirs[0]);
    assert_eq!(summary["totals"]["delivered"], 1200, "{summary}");
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(dirs[0].join("summary.json"))
        .unwrap()
        .uid();
    assert_eq!(owner, 10001, "written by the image's non-root user");
    // Each role timed the aggregator's clock across the network.
    let clocks = summary["clocks"].as_array().unwrap();
    let mut roles: Vec<&str> = clocks.iter().map(|c| c["role"].as_str().unwrap()).collect();
    roles.sort();
    assert_eq!(roles, ["receiver 0", "sender 0", "sender 1"], "{clocks:?}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_container_stopped_with_sigterm_writes_its_partial_results() {
    let Some(mut d) = Docker::start("sigterm") else {
        return;
    };
    let out = shared_folder("containers-sigterm");
    let run = d.run(
        "run",
        &[],
        Some(out.to_str().unwrap()),
        &[
            "run",
            "--pace",
            "200:60",
            "--warmup-seconds",
            "0",
            "--drain-seconds",
            "1",
            "--no-plot",
            "--out",
            "/results",
        ],
    );
    // Stop once the run is sending (its progress shows a second passed).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let logs = stderr(&docker(&["logs", &run]));
        if logs.contains("[    1s] step 1/1") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never started: {logs}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    let stopped = docker(&["stop", "--time", "30", &run]);
    assert!(stopped.status.success(), "{}", stderr(&stopped));
    let (code, table, err) = d.finished(&run);
    assert_eq!(code, 130, "{err}");
    assert!(
        err.contains("interrupted: stopping and writing partial results"),
        "{err}"
    );
    let dirs = entries(&out);
    let summary = common::valid_summary(&dirs[0]);
    assert_eq!(summary["interrupted"], true, "{summary}");
    let sent = summary["totals"]["sent"].as_u64().unwrap();
    assert!(
        (200..12_000).contains(&sent),
        "about 2 s of 200/s, not the 60 s planned: {sent}\n{table}"
    );
    // Events on the wire at the stop got their answers: every accepted
    // event delivered, none delivered unaccounted, no failure that left.
    let t = &summary["totals"];
    assert_eq!(t["delivered_of_accepted"], t["accepted"], "{t}");
    assert_eq!(t["unexpected"], 0, "{t}");
    assert_eq!(t["failed"], t["unsent"], "{t}");
    let _ = std::fs::remove_dir_all(&out);
}

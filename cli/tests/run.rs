//! `brokerbench run` as a user meets it: help, bad input, a whole run,
//! its graphs, Ctrl-C and objectives.

mod common;

use common::process::*;
use std::process::Command;

#[test]
fn every_bad_pace_is_one_line_and_nothing_starts() {
    // Every rule has its unit test (core::pace); here, that the binary
    // says one line and starts nothing, for each way a pace goes wrong.
    let cases = [
        ("", "pace is empty"),
        ("0:10", "\"0:10\": rate must be at least 1"),
        (
            "1000:10,junk:5",
            "\"junk:5\": rate \"junk\" is not a whole number",
        ),
        ("missing.pace", "pace file missing.pace: no such file"),
    ];
    for (pace, want) in cases {
        let out = scratch("badpace");
        let o = brokerbench(&["run", "--pace", pace], &out);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{pace:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{pace:?}: one line: {err}");
        assert!(err.contains(want), "{pace:?}: {err}");
        assert!(!out.exists(), "{pace:?}: nothing started, no results");
    }
}

#[test]
fn other_bad_flags_are_refused_before_starting() {
    for (args, want) in [
        (
            vec!["run", "--sut", "kafka"],
            "invalid value 'kafka' for '--sut <SUT>'",
        ),
        (
            vec!["run", "--target", "ftp://x"],
            "only http:// or https://",
        ),
        (
            vec!["run", "--target", "http://127.0.0.1:9/"],
            "--receiver-listen with a fixed port",
        ),
        (
            vec!["run", "--connections", "0"],
            "--connections must be at least 1",
        ),
        (
            vec!["run", "--payload-size", "0"],
            "--payload-size must be at least 1",
        ),
        (
            vec![
                "sender",
                "--aggregator",
                "nope",
                "--target",
                "http://127.0.0.1:1/",
            ],
            "--aggregator \"nope\"",
        ),
    ] {
        let out = scratch("badflag");
        let o = brokerbench(&args, &out);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_ne!(o.status.code(), Some(0), "{args:?}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!out.exists());
    }
}

#[test]
fn every_role_has_help() {
    for role in ["run", "sender", "receiver", "aggregator"] {
        let o = Command::new(env!("CARGO_BIN_EXE_brokerbench"))
            .args([role, "--help"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{role}");
        assert!(text.contains("Usage: brokerbench"), "{role}: {text}");
        // The timeline's --fault is documented; the test-only faults
        // (--fault-decode-ms, --fault-duplicate-every ...) stay hidden.
        assert!(
            !text.contains("--fault-"),
            "{role}: test faults stay hidden"
        );
        let documented = matches!(role, "run" | "aggregator");
        assert_eq!(
            text.contains("--fault <SPEC>"),
            documented,
            "{role}: {text}"
        );
    }
    let o = Command::new(env!("CARGO_BIN_EXE_brokerbench"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--pace",
        "--payload-size",
        "--warmup-rate",
        "--warmup-seconds",
        "--drain-seconds",
        "--connections",
        "--request-timeout",
        "--max-inflight",
        "--structured",
        "--target",
        "--out",
    ] {
        assert!(text.contains(flag), "run --help names {flag}");
    }
    // --slo's help ends with the metrics the objectives take, made from
    // the lists the code keeps (on nested commands too), and --sut lists
    // every SUT (its long help has a line per SUT).
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let metrics = words(&brokerbench_aggregator::slo::metrics());
    for kind in brokerbench_core::latency::LatencyKind::ALL {
        assert!(metrics.contains(kind.short()), "{metrics}");
    }
    for command in [&["run"][..], &["search"], &["k8s", "render"]] {
        let help = Command::new(env!("CARGO_BIN_EXE_brokerbench"))
            .args(command)
            .arg("--help")
            .output()
            .unwrap();
        let help = words(&String::from_utf8_lossy(&help.stdout));
        assert!(help.contains(&metrics), "{command:?}: {help}");
    }
    let long = text;
    for sut in brokerbench_sut::Sut::all() {
        assert!(
            long.contains(&format!("{sut}:")),
            "--sut lists {sut}: {long}"
        );
    }
}

#[test]
fn a_run_from_a_pace_file_prints_a_summary_and_leaves_results() {
    let out = scratch("run");
    let pace = out.with_extension("pace");
    std::fs::write(&pace, "# two steps\n300:1\n600:1\n").unwrap();
    let args = format!(
        "run --pace {} --warmup-seconds 1 --warmup-rate 100 --drain-seconds 1",
        pace.display()
    );
    let o = brokerbench(&common::words(&args), &out);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("pace 300:1,600:1"), "{stdout}");
    assert_eq!(
        all_row(&stdout),
        ["900", "900", "0", "900", "0"],
        "{stdout}"
    );
    let dirs: Vec<_> = entries(&out);
    assert_eq!(dirs.len(), 1);
    assert!(dirs[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .ends_with("-direct"));
    let report = std::fs::read_to_string(dirs[0].join("report.md")).unwrap();
    assert!(
        report.contains("| 2 | 600 | 600 | 600 | 0 | 600 | 0 | 0 |"),
        "{report}"
    );
    assert!(
        report.contains("![six-metric](six-metric.png)") && report.contains("- cores: "),
        "{report}"
    );
    for f in [
        "summary.json",
        "series.tsv",
        "steps.tsv",
        "lost.tsv",
        "report.md",
    ] {
        assert!(dirs[0].join(f).is_file(), "{f}");
    }
    // Real gnuplot drew the graphs (scripts/setup installs it).
    assert!(
        stdout.contains("graphs: six-metric.png, points.png, generator.png"),
        "{stdout}"
    );
    for f in ["six-metric.png", "points.png", "generator.png"] {
        let png = std::fs::read(dirs[0].join(f)).unwrap();
        assert!(png.len() > 10_000, "{f}: {} bytes", png.len());
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{f} is a PNG");
    }
    // By hand, the same scripts, with trimmed, zoom and SVG.
    let o = brokerbench(
        &[
            "plot",
            dirs[0].to_str().unwrap(),
            "--trim-seconds",
            "1",
            "--zoom",
            "0:1",
            "--svg",
        ],
        &out,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "trimmed.png",
        "zoom.png",
        "six-metric.svg",
        "points.svg",
        "trimmed.svg",
        "zoom.svg",
    ] {
        assert!(
            std::fs::metadata(dirs[0].join(f)).unwrap().len() > 1000,
            "{f}"
        );
    }
    let _ = std::fs::remove_file(pace);
}

#[test]
fn without_gnuplot_the_run_still_writes_its_data_and_says_how_to_plot() {
    let out = scratch("nognuplot");
    let o = Command::new(env!("CARGO_BIN_EXE_brokerbench"))
        .args([
            "run",
            "--pace",
            "200:1",
            "--warmup-seconds",
            "0",
            "--drain-seconds",
            "1",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("gnuplot")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("brokerbench plot"), "{err}");
    let dir = entries(&out)[0].clone();
    assert!(dir.join("series.tsv").is_file() && !dir.join("six-metric.png").exists());
    let o = brokerbench(&["plot", "/nonexistent-results"], &out);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a results folder"));
}

#[test]
fn ctrl_c_writes_partial_results_and_exits_130() {
    let out = scratch("sigint");
    let child = spawn(&[quick_run("300:30"), vec!["--out", out.to_str().unwrap()]].concat());
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let o = interrupt(child);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(130),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("INTERRUPTED: partial results"), "{stdout}");
    let dir = entries(&out)[0].clone();
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["interrupted"], true);
    let t = &s["totals"];
    let n = |k: &str| t[k].as_u64().unwrap();
    assert!(n("sent") > 200 && n("sent") < 9000, "{t}");
    assert_eq!(n("sent"), n("accepted") + n("failed"));
    assert_eq!(n("accepted"), n("delivered_of_accepted") + n("lost"));
}

#[test]
fn a_missed_slo_exits_3_and_a_met_one_0() {
    let out = scratch("slo");
    let base = quick_run("200:1");
    let o = brokerbench(
        &[&base[..], &["--slo", "lost=0,failed=0,e2e.max<60s"]].concat(),
        &out,
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("slo: met")).count(),
        3,
        "{stdout}"
    );
    let o = brokerbench(
        &[&base[..], &["--slo", "lost=0,e2e.p99<1us"]].concat(),
        &out,
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("slo: MISSED e2e.p99<1us"), "{stdout}");
    let o = brokerbench(&["run", "--slo", "lost<none"], &out);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--slo clause \"lost<none\""));
}

/// Every flag can come from `BROKERBENCH_<FLAG>` (a pod's manifest sets
/// them from a ConfigMap); a flag on the command line wins, and `--help`
/// names each variable.
#[test]
fn every_flag_can_come_from_the_environment() {
    let out = scratch("env");
    let o = Command::new(env!("CARGO_BIN_EXE_brokerbench"))
        .args([
            "run",
            "--quiet",
            "--no-plot",
            "--drain-seconds",
            "1",
            "--out",
        ])
        .arg(&out)
        .env("BROKERBENCH_PACE", "200:1")
        .env("BROKERBENCH_WARMUP_SECONDS", "0")
        .env("BROKERBENCH_PAYLOAD_SIZE", "1024")
        .env("BROKERBENCH_DRAIN_SECONDS", "9")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("pace 200:1, payload 1024 B"), "{stdout}");
    assert_eq!(
        all_row(&stdout),
        ["200", "200", "0", "200", "0"],
        "{stdout}"
    );
    let summary = common::valid_summary(&entries(&out)[0]);
    assert_eq!(summary["drain_seconds"], 1, "the command line wins");
    let help = Command::new(env!("CARGO_BIN_EXE_brokerbench"))
        .args(["sender", "--help"])
        .output()
        .unwrap();
    // Words as printed, whatever the wrapping.
    let help = String::from_utf8_lossy(&help.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for name in [
        "BROKERBENCH_AGGREGATOR",
        "BROKERBENCH_TARGET",
        "BROKERBENCH_INDEX",
    ] {
        assert!(help.contains(&format!("[env: {name}=]")), "{name}: {help}");
    }
}

/// A small disk, mounted for the test (a tmpfs): umounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(name: &str, size: &str) -> SmallDisk {
        // SAFETY: geteuid only reads this process's user id.
        assert_eq!(unsafe { libc::geteuid() }, 0, "mounting a tmpfs needs root");
        let dir = scratch(name);
        std::fs::create_dir_all(&dir).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        SmallDisk(dir)
    }

    /// Fills it, leaving about `left` bytes free.
    fn fill(&self, left: u64) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let chunk = vec![0u8; 4096];
        let mut written = 0u64;
        while f.write_all(&chunk).is_ok() {
            written += chunk.len() as u64;
        }
        let _ = f.flush();
        f.set_len(written.saturating_sub(left)).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A disk without room: refused before the run when the pace's results
/// clearly cannot fit; full by the end, the table is still printed, the
/// file that failed is named, the exit code says so, and no graph or
/// results file is left cut short.
#[test]
#[ignore = "needs root to mount a small tmpfs: scripts/test runs it as root"]
fn a_full_disk_is_said_and_the_table_printed_whatever() {
    let disk = SmallDisk::mount("small-disk", "512k");
    // An hour of seconds needs about 2 MB: refused, nothing started.
    let o = brokerbench(&["run", "--pace", "100:3600", "--quiet"], &disk.0);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot write results there")
            && err.contains("kB free, and the results of this pace take about"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(entries(&disk.0).is_empty());
    // Room at the start; the disk fills during the run.
    let run = Command::new(env!("CARGO_BIN_EXE_brokerbench"))
        .args(["run", "--pace", "200:4", "--warmup-seconds", "0"])
        .args(["--drain-seconds", "1", "--quiet", "--out"])
        .arg(&disk.0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    disk.fill(8 << 10);
    let o = run.wait_with_output().unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert_eq!(
        all_row(&out)[..2],
        ["800", "800"],
        "the table, whatever the disk: {out}"
    );
    assert!(
        err.contains("No space left on device")
            && (err.contains("the results folder is not whole")
                || err.contains("not written whole")),
        "{err}"
    );
    assert!(!out.contains("graphs:"), "no graphs claimed: {out}");
    // Nothing cut short is left: every file there is whole or absent.
    for dir in entries(&disk.0).into_iter().filter(|d| d.is_dir()) {
        for f in std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()) {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                !name.ends_with(".tmp") && !name.contains(".tmp."),
                "{name} left"
            );
            let bytes = std::fs::read(&f).unwrap();
            if name.ends_with(".png") {
                assert!(bytes.ends_with(b"IEND\xaeB`\x82"), "{name} cut short");
            } else {
                assert!(!bytes.is_empty(), "{name} is empty");
            }
        }
    }
}

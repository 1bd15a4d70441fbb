//! Profiles: a running suite's pprof endpoints, `profile`, and `run
//! --profile` flamegraphs of each role and the SUT.

mod common;

use common::process::*;
use std::process::Command;

#[test]
fn a_running_suite_serves_profiles_and_profile_captures_them() {
    let out = scratch("profile");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let run = Command::new(env!("CARGO_BIN_EXE_brokerbench"))
        .args(quick_run("1000:10"))
        .args(["--profile-listen", &listen, "--out"])
        .arg(out.join("results"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let url = format!("http://{listen}");
    let profiles = out.join("profiles");
    // The heap profile first: it answers at once, while the CPU profile's
    // flamegraph is drawn after its capture, which can take seconds on a
    // loaded machine (the run must still be up for the second request).
    let heap = brokerbench(
        &[
            "profile",
            "--url",
            &url,
            "--heap",
            "--out",
            profiles.to_str().unwrap(),
        ],
        &out,
    );
    assert!(
        heap.status.success(),
        "{}",
        String::from_utf8_lossy(&heap.stderr)
    );
    let cpu = brokerbench(
        &[
            "profile",
            "--url",
            &url,
            "--seconds",
            "2",
            "--out",
            profiles.to_str().unwrap(),
        ],
        &out,
    );
    assert!(
        cpu.status.success(),
        "{}",
        String::from_utf8_lossy(&cpu.stderr)
    );
    let run = run.wait_with_output().unwrap();
    assert!(run.status.success());
    let name = format!("127.0.0.1-{port}");
    let svg = std::fs::read_to_string(profiles.join(format!("cpu-{name}.svg"))).unwrap();
    assert!(
        svg.contains("brokerbench_sender::"),
        "the roles' own functions are named"
    );
    // The heap's stacks are named too (jemalloc dumps addresses; the
    // endpoint resolves them): Rust functions, not only "?".
    let heap_svg = std::fs::read_to_string(profiles.join(format!("heap-{name}.svg"))).unwrap();
    assert!(
        heap_svg.contains("brokerbench") || heap_svg.contains("tokio::"),
        "the heap's functions are named"
    );
    for f in [
        format!("cpu-{name}.pb.gz"),
        format!("heap-{name}.pb.gz"),
        format!("heap-{name}.svg"),
    ] {
        assert!(
            std::fs::metadata(profiles.join(&f)).unwrap().len() > 500,
            "{f}"
        );
    }
    // Down: one clear line, non-zero.
    let down = brokerbench(&["profile", "--url", &url, "--seconds", "1"], &out);
    assert_eq!(down.status.code(), Some(1));
    let err = String::from_utf8_lossy(&down.stderr);
    assert!(
        err.lines().last().unwrap().contains("cannot reach it"),
        "{err}"
    );
}

#[test]
fn run_profile_puts_per_role_flamegraphs_of_a_held_step_in_the_results() {
    let out = scratch("runprofile");
    let o = brokerbench(
        &[
            quick_run("500:3,800:3"),
            vec![
                "--profile",
                "sender,receiver",
                // One capture: a debug build symbolises for seconds, and
                // profiling every step could make step 2's capture late.
                "--profile-step",
                "2",
                // The spinning pacer spends its time reading the clock (vdso),
                // where samples are dropped; the sleeping one leaves real work.
                "--pacer",
                "sleep",
            ],
        ]
        .concat(),
        &out,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = entries(&out)[0].clone();
    let p = dir.join("profiles");
    for f in [
        "cpu-step2.pb.gz",
        "cpu-step2-sender.svg",
        "cpu-step2-receiver.svg",
        "heap-step2.pb.gz",
        "heap-step2.svg",
    ] {
        // A profile is gzip (checked as a pprof when fetched); on a loaded
        // machine a 1 s CPU window may hold few samples and be small. A
        // flamegraph is an SVG of some size even with no samples.
        let bytes = std::fs::read(p.join(f)).unwrap_or_default();
        let whole = if f.ends_with(".pb.gz") {
            bytes.starts_with(&[0x1f, 0x8b]) && bytes.len() > 40
        } else {
            bytes.len() > 500 && String::from_utf8_lossy(&bytes).contains("<svg")
        };
        assert!(
            whole,
            "{f} in {}: {}{}",
            p.display(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let sender = std::fs::read_to_string(p.join("cpu-step2-sender.svg")).unwrap();
    // Samples taken inside libc or the vdso are dropped (unwinding there
    // from a signal handler is unsafe); on a loaded machine the threads
    // live in syscalls and a 1 s window can keep almost none. With enough samples, the
    // sender's own functions must be there.
    let samples = sender
        .split("<title>all (")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.replace(',', "").parse::<u64>().ok())
        .unwrap_or(0)
        / 10_101_010;
    // Symbolised: Rust functions by name, not addresses. Which of them a
    // few samples catch is the machine's doing (a loaded one keeps the
    // sender's threads in the runtime's and hyper's code, or in syscalls):
    // the sender's own are asserted only with samples enough to be sure.
    assert!(
        samples < 10 || sender.contains("tokio::") || sender.contains("brokerbench_sender::"),
        "the sender's flamegraph names Rust functions ({samples} samples)"
    );
    assert!(
        samples < 50 || sender.contains("brokerbench_sender::"),
        "the sender's flamegraph names its functions ({samples} samples)"
    );
    assert!(
        !sender.contains("brokerbench_receiver::server"),
        "and only its threads'"
    );
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains("## Profiles") && report.contains("(profiles/cpu-step2-sender.svg)"),
        "{report}"
    );
    let bad = brokerbench(&["run", "--profile", "sut"], &out);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("runs no SUT of its own"));
}

#[test]
fn run_profile_sut_draws_the_sut_threads_flamegraph() {
    let out = scratch("runprofile-sut");
    let o = brokerbench(
        &[
            "run",
            "--sut",
            "channel-imc",
            "--pace",
            "500:3",
            "--warmup-seconds",
            "0",
            "--drain-seconds",
            "1",
            "--pacer",
            "sleep",
            "--quiet",
            "--no-plot",
            "--profile",
            "sut",
        ],
        &out,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let p = entries(&out)[0].join("profiles");
    let svg = std::fs::read_to_string(p.join("cpu-step1-sut.svg")).unwrap_or_default();
    assert!(svg.len() > 500 && svg.contains("<svg"), "{err}");
}

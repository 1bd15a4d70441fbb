//! Misuse: every bad flag, pace, payload size, fault or conflicting option
//! gets one line naming the bad token and a non-zero exit, with nothing
//! started (no results folder, no waiting).

mod common;

use common::process::{brokerbench, scratch};

/// (the run's bad words, what the first line of the error names)
const CASES: &[(&str, &str)] = &[
    ("--pace 100:1,", "\"100:1,\""),
    ("--pace ,", "pace is empty"),
    ("--pace 1e3:10", "\"1e3\""),
    ("--pace 99999999999:1", "rate 99999999999 is over the most a pace takes, 10000000 events per second"),
    ("--pace 100:99999999999", "\"99999999999\""),
    ("--pace 4294967295:4294967295", "rate 4294967295 is over the most"),
    ("--pace 10000000:101", "more than 1000000000 events, more than the ledgers keep in memory"),
    ("--pace 2k-3k", "no pace named \"2k-3k\" (no such file here, nor in paces/); built in: smoke, 1k-2k, 1k-long"),
    ("--pace 100:x", "\"x\""),
    ("--payload-size 0", "--payload-size"),
    ("--payload-size 99999999999", "--payload-size 99999999999"),
    (
        "--sut channel-imc --payload-size 5000000",
        "--payload-size 5000000",
    ),
    (
        "--sut channel-kafka --payload-size 1000000",
        "--payload-size 1000000",
    ),
    ("--payload-size -1", "'-1'"),
    ("--sut nope", "'nope'"),
    ("--sut channel-imc --subscribers 0", "--subscribers"),
    ("--sut direct --subscribers 2", "--subscribers"),
    ("--sut broker-imc --triggers 2 --matching 3", "--matching"),
    ("--connections 0", "--connections"),
    ("--pacer-quantum 1ms", "--pacer-quantum"),
    (
        "--pacer sleep --pacer-quantum 0",
        "--pacer-quantum: bad duration \"0\"",
    ),
    ("--pacer sleep --pacer-quantum 1", "--pacer-quantum"),
    ("--pacer sleep --pacer-quantum 1s", "--pacer-quantum \"1s\""),
    ("--max-connections 1 --connections 4", "--max-connections 1"),
    ("--target ftp://x", "\"ftp://x\""),
    ("--slo e2e.p99<x", "\"e2e.p99<x\""),
    ("--slo nonsense<1", "\"nonsense<1\""),
    ("--fault x", "--fault \"x\""),
    ("--fault sut-kill@3", "--fault \"sut-kill@3\""),
    ("--fault sut-kill@1+1", "--fault \"sut-kill@1+1\""),
    (
        "--sut channel-imc --fault sut-kill@99+1",
        "--fault \"sut-kill@99+1\"",
    ),
    (
        "--sut source-kafka --fault sut-5xx@1+1",
        "--fault \"sut-5xx@1+1\"",
    ),
    (
        "--sut channel-imc --fault sut-kill@1+1 --profile sut",
        "--fault \"sut-kill@1+1\"",
    ),
    ("--fault receiver-drop@1+1:0", "\"0\""),
    ("--profile sender --profile-hz 0", "--profile-hz 0: expected 1 to 1000"),
    ("--profile sender --profile-hz 2000", "--profile-hz 2000: expected 1 to 1000"),
    (
        "--sut channel-imc --pace 10:5 --fault sut-kill@1+2 --fault sut-pause@2+1",
        "\"sut-pause@2+1\": the SUT's process faults",
    ),
    (
        "--sut channel-imc --pace 10:5 --fault kafka-kill@1+1",
        "--fault \"kafka-kill@1+1\": kafka-kill kills the local",
    ),
    (
        "--sut channel-kafka --pace 10:5 --kafka-bootstrap 127.0.0.1:1 --fault kafka-kill@1+1",
        "--fault \"kafka-kill@1+1\"",
    ),
    (
        "--sut channel-kafka --pace 10:5 --fault kafka-kill@1+2 --fault kafka-kill@2+1",
        "two kills of the broker",
    ),
    ("--warmup-seconds 2 --warmup-rate 0", "--warmup-rate"),
    ("--no-such-flag", "'--no-such-flag'"),
];

#[test]
fn bad_input_is_one_line_naming_it_and_nothing_starts() {
    let out = scratch("misuse");
    for (line, names) in CASES {
        let mut args = vec!["run", "--quiet", "--no-plot"];
        if !line.contains("--pace") {
            args.extend(["--pace", "10:1"]);
        }
        args.extend(line.split_whitespace());
        let started = std::time::Instant::now();
        let o = brokerbench(&args, &out);
        let stderr = String::from_utf8_lossy(&o.stderr);
        let first = stderr.lines().next().unwrap_or("");
        assert!(
            matches!(o.status.code(), Some(1 | 2)),
            "{line}: {:?}\n{stderr}",
            o.status
        );
        assert!(first.contains(names), "{line}: {first:?}");
        assert!(first.contains("error"), "{line}: {first:?}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{line}: took {:?}",
            started.elapsed()
        );
        assert!(
            !out.exists() || common::process::entries(&out).is_empty(),
            "{line}: a results folder was made"
        );
    }
}

/// An --out that cannot be written is found before the run starts: one
/// line naming the folder and the cause, once.
#[test]
fn unwritable_out_is_found_before_the_run() {
    let out = scratch("unwritable");
    std::fs::create_dir_all(&out).unwrap();
    let file = out.join("a-file");
    std::fs::write(&file, "").unwrap();
    let target = file.join("results");
    let started = std::time::Instant::now();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_brokerbench"))
        .args(["run", "--pace", "100:30", "--quiet", "--no-plot", "--out"])
        .arg(&target)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the 30 s run was not started"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("--out {}", target.display())),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("Not a directory").count(),
        1,
        "the cause once: {stderr}"
    );
}

fn signal(child: &std::process::Child, sig: i32) {
    // SAFETY: signals a child of this test by its pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// SIGTERM (how Kubernetes stops a pod) does what Ctrl-C does: partial
/// results, exit 130. A second signal exits at once.
#[test]
fn sigterm_writes_partial_results_and_a_second_signal_exits_at_once() {
    let out = scratch("sigterm");
    let start = |out: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_brokerbench"))
            .args([
                "run",
                "--pace",
                "200:30",
                "--warmup-seconds",
                "0",
                "--quiet",
                "--no-plot",
            ])
            .arg("--out")
            .arg(out)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let run = start(&out);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    signal(&run, libc::SIGTERM);
    let o = run.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dirs = common::process::entries(&out);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dirs[0].join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(s["interrupted"], true);
    let sent = s["totals"]["sent"].as_u64().unwrap();
    assert!((300..=700).contains(&sent), "about 2.5 s at 200/s: {sent}");
    // No temporary file left beside the results.
    let names: Vec<String> = std::fs::read_dir(&dirs[0])
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");

    let out2 = scratch("sigterm-twice");
    let run = start(&out2);
    std::thread::sleep(std::time::Duration::from_millis(2000));
    signal(&run, libc::SIGTERM);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let second = std::time::Instant::now();
    signal(&run, libc::SIGINT);
    let o = run.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130));
    assert!(
        second.elapsed() < std::time::Duration::from_millis(500),
        "exited {:?} after the second signal",
        second.elapsed()
    );
}

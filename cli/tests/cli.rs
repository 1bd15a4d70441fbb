//! The binary as a user meets it: help, bad input, a whole run.

mod common;

use std::process::Command;

fn brokerbench(args: &[&str], out: &std::path::Path) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_brokerbench"));
    cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    if args[0] == "run" || args[0] == "search" {
        cmd.arg("--out").arg(out);
    }
    cmd.output().unwrap()
}

/// `run --pace PACE` with no warmup, a 1 s drain, no progress and no
/// graphs: the short runs most tests make.
fn quick_run(pace: &str) -> Vec<&str> {
    let quick = [
        "--warmup-seconds",
        "0",
        "--drain-seconds",
        "1",
        "--quiet",
        "--no-plot",
    ];
    [&["run", "--pace", pace][..], &quick].concat()
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("brokerbench-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The count columns (sent, accepted, failed, delivered, lost) of the
/// summary table's `all` row.
fn all_row(table: &str) -> Vec<String> {
    let all = table
        .lines()
        .find(|l| l.trim_start().starts_with("all"))
        .expect("an `all` row");
    all.split_whitespace()
        .skip(1)
        .take(5)
        .map(str::to_string)
        .collect()
}

/// The entries of a folder (results folders under an --out).
fn entries(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn every_bad_pace_is_one_line_and_nothing_starts() {
    let cases = [
        ("", "pace is empty"),
        ("0:10", "\"0:10\": rate must be at least 1"),
        ("-5:10", "\"-5:10\": rate must be at least 1"),
        ("1000:", "\"1000:\": seconds missing"),
        (
            "1000:abc",
            "\"1000:abc\": seconds \"abc\" is not a whole number",
        ),
        ("1000:0", "\"1000:0\": a step must last at least 1 second"),
        ("fast", "\"fast\": rate \"fast\" is not a whole number"),
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
        (vec!["run", "--sut", "kafka"], "unknown SUT \"kafka\""),
        (vec!["run", "--target", "https://x"], "only http://"),
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
        assert!(!text.contains("--fault"), "{role}: test faults stay hidden");
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
}

#[test]
fn a_run_from_a_pace_file_prints_a_summary_and_leaves_results() {
    let out = scratch("run");
    let pace = out.with_extension("pace");
    std::fs::write(&pace, "# two steps\n300:1\n600:1\n").unwrap();
    let o = brokerbench(
        &[
            "run",
            "--pace",
            pace.to_str().unwrap(),
            "--warmup-seconds",
            "1",
            "--warmup-rate",
            "100",
            "--drain-seconds",
            "1",
        ],
        &out,
    );
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

/// `brokerbench ARGS` in the background, its output kept.
fn spawn(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_brokerbench"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Ctrl-C for a background `brokerbench`; its output once it ended.
fn interrupt(child: std::process::Child) -> std::process::Output {
    // SAFETY: sending SIGINT to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    child.wait_with_output().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_roles_run_as_separate_processes() {
    let out = scratch("roles");
    let (agg, recv) = (free_port(), free_port());
    let bin = env!("CARGO_BIN_EXE_brokerbench");
    let aggregator = Command::new(bin)
        .args([
            "aggregator",
            "--listen",
            &format!("127.0.0.1:{agg}"),
            "--pace",
            "400:2",
            "--quiet",
        ])
        .args([
            "--warmup-seconds",
            "1",
            "--warmup-rate",
            "200",
            "--drain-seconds",
            "1",
            "--scenario",
            "pods",
        ])
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let agg_url = format!("http://127.0.0.1:{agg}");
    let receiver = Command::new(bin)
        .args([
            "receiver",
            "--aggregator",
            &agg_url,
            "--listen",
            &format!("127.0.0.1:{recv}"),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let sender = Command::new(bin)
        .args([
            "sender",
            "--aggregator",
            &agg_url,
            "--target",
            &format!("http://127.0.0.1:{recv}/"),
            "--pacer",
            "sleep",
        ])
        .output()
        .unwrap();
    let sender_err = String::from_utf8_lossy(&sender.stderr);
    assert!(sender.status.success(), "{sender_err}");
    assert!(
        sender_err.contains("sent 800, accepted 800, failed 0"),
        "{sender_err}"
    );
    let receiver = receiver.wait_with_output().unwrap();
    let receiver_err = String::from_utf8_lossy(&receiver.stderr);
    assert!(
        receiver_err.contains("delivered 800, duplicates 0, rejected 0"),
        "{receiver_err}"
    );
    let aggregator = aggregator.wait_with_output().unwrap();
    let table = String::from_utf8_lossy(&aggregator.stdout);
    assert!(
        aggregator.status.success(),
        "{table}{}",
        String::from_utf8_lossy(&aggregator.stderr)
    );
    assert_eq!(all_row(&table), ["800", "800", "0", "800", "0"], "{table}");
    let dirs: Vec<_> = entries(&out);
    assert!(dirs[0].to_str().unwrap().ends_with("-pods"));
    let summary = common::valid_summary(&dirs[0]);
    assert_eq!(summary["totals"]["warmup_received"], 200);
    // Both roles timed the aggregator's clock; on one host it is theirs,
    // so the estimate stays within its uncertainty and nothing is corrected.
    let clocks = summary["clocks"].as_array().unwrap();
    let roles: Vec<&str> = clocks.iter().map(|c| c["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["sender 0", "receiver 0"], "{clocks:?}");
    for c in clocks {
        let (offset, within) = (
            c["offset_ms"].as_f64().unwrap(),
            c["uncertainty_ms"].as_f64().unwrap(),
        );
        assert!(offset.abs() <= within && within < 50.0, "{c}");
        assert_eq!(c["applied"], false, "{c}");
        let drift = c["drift_ms"].as_f64().unwrap();
        assert!(
            drift.abs() < 50.0,
            "one clock drifts only within the estimates' error: {c}"
        );
    }
    for err in [&sender_err, &receiver_err] {
        assert!(
            err.contains(
                "from the aggregator's at the start (within the uncertainty: not corrected); "
            ),
            "{err}"
        );
    }
}

/// An aggregator waiting for `senders` senders, and its URL.
fn waiting_aggregator(name: &str, senders: &str) -> (std::process::Child, String) {
    let (out, agg) = (scratch(name), free_port());
    let child = spawn(&[
        "aggregator",
        "--listen",
        &format!("127.0.0.1:{agg}"),
        "--senders",
        senders,
        "--pace",
        "100:1",
        "--quiet",
        "--no-plot",
        "--out",
        out.to_str().unwrap(),
    ]);
    (child, format!("http://127.0.0.1:{agg}"))
}

/// A target that takes connections and never answers; its port.
fn silent_target() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().collect();
        drop(held);
    });
    port
}

/// `brokerbench sender --index I` for the aggregator at `url`, in the
/// background, with one connection to a target that answers nothing.
fn indexed_sender(url: &str, index: &str) -> std::process::Child {
    spawn(&[
        "sender",
        "--aggregator",
        url,
        "--target",
        &format!("http://127.0.0.1:{}/", silent_target()),
        "--connections",
        "1",
        "--index",
        index,
    ])
}

/// The last line a refused role printed, once it exited 1.
fn refusal(o: std::process::Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    err.trim().lines().last().unwrap().to_string()
}

#[test]
fn a_sender_with_an_index_the_run_does_not_have_is_refused_in_one_line() {
    let (aggregator, url) = waiting_aggregator("bad-index", "1");
    let sender = indexed_sender(&url, "1").wait_with_output().unwrap();
    interrupt(aggregator);
    assert_eq!(
        refusal(sender),
        format!("brokerbench: error: aggregator: {url}/v1/ready: answered 400: sender index 1 outside 0..1")
    );
}

#[test]
fn two_senders_with_one_index_are_refused_in_one_line() {
    let (aggregator, url) = waiting_aggregator("same-index", "2");
    // Whichever says it is ready first waits for the start (there is no
    // receiver); the other is refused and exits.
    let mut both = [indexed_sender(&url, "0"), indexed_sender(&url, "0")];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let refused = loop {
        if let Some(i) = (0..2).find(|&i| both[i].try_wait().unwrap().is_some()) {
            break i;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "neither sender was refused"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let [a, b] = both;
    let (second, first) = if refused == 0 { (a, b) } else { (b, a) };
    let second = second.wait_with_output().unwrap();
    interrupt(first);
    interrupt(aggregator);
    assert_eq!(
        refusal(second),
        format!("brokerbench: error: aggregator: {url}/v1/ready: answered 409: sender index 0 is already in this run: give each its own --index")
    );
}

/// A CloudEvents sink that answers every request 202 after `delay` (one
/// thread per connection); what it takes goes nowhere.
fn slow_sink(delay: std::time::Duration) -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap();
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    std::thread::sleep(delay);
                    let answer = b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n";
                    if conn.write_all(answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// Two senders, one answered at once and one after 300 ms: every second of
/// `series.tsv` holds both (the slow one's tail, the fast one's median),
/// where it once held sender 0's alone.
#[test]
fn two_senders_percentiles_per_second_cover_both() {
    let out = scratch("two-senders");
    let (agg, recv) = (free_port(), free_port());
    let slow = slow_sink(std::time::Duration::from_millis(300));
    let aggregator = spawn(&[
        "aggregator",
        "--listen",
        &format!("127.0.0.1:{agg}"),
        "--senders",
        "2",
        "--pace",
        "50:3",
        "--quiet",
        "--no-plot",
        "--warmup-seconds",
        "0",
        "--drain-seconds",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let agg_url = format!("http://127.0.0.1:{agg}");
    let receiver = spawn(&[
        "receiver",
        "--aggregator",
        &agg_url,
        "--listen",
        &format!("127.0.0.1:{recv}"),
    ]);
    let senders = [(0, recv), (1, slow)].map(|(index, port)| {
        spawn(&[
            "sender",
            "--aggregator",
            &agg_url,
            "--target",
            &format!("http://127.0.0.1:{port}/"),
            "--index",
            &index.to_string(),
            "--pacer",
            "sleep",
        ])
    });
    for s in senders {
        let o = s.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("sent 150, accepted 150, failed 0"), "{err}");
    }
    let _ = receiver.wait_with_output().unwrap();
    let o = aggregator.wait_with_output().unwrap();
    let table = String::from_utf8_lossy(&o.stdout);
    // The slow sink passes nothing on: sender 1's 150 are lost.
    assert_eq!(
        all_row(&table),
        ["300", "300", "0", "150", "150"],
        "{table}"
    );
    let series = std::fs::read_to_string(entries(&out)[0].join("series.tsv")).unwrap();
    let mut lines = series.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<f64>> = lines
        .map(|l| {
            l.split('\t')
                .map(|v| v.parse().unwrap_or(f64::NAN))
                .collect()
        })
        .filter(|r: &Vec<f64>| r[col("step")] == 1.0)
        .collect();
    assert_eq!(rows.len(), 3, "{series}");
    for r in &rows {
        let (p50, p99_99) = (r[col("publish_p50_ms")], r[col("publish_p99_99_ms")]);
        let running = r[col("publish_running_p99_99_ms")];
        assert!(
            p99_99 >= 300.0 && running >= 300.0,
            "the slow sender's tail: {series}"
        );
        assert!(p50 < 300.0, "half the events are fast: {series}");
    }
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

#[test]
fn search_bisects_confirms_and_saves_its_trail() {
    let out = scratch("search");
    let common = [
        "--trial-seconds",
        "1",
        "--confirm-seconds",
        "1",
        "--warmup-seconds",
        "0",
        "--drain-seconds",
        "1",
    ];
    let o = brokerbench(
        &[
            &[
                "search",
                "--low",
                "200",
                "--high",
                "400",
                "--slo",
                "lost=0,failed=0",
            ][..],
            &common,
        ]
        .concat(),
        &out,
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("highest rate meeting the SLO: 400 events/s"),
        "{stdout}"
    );
    let search_dir = entries(&out)[0].clone();
    let trail = std::fs::read_to_string(search_dir.join("search.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = trail
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    let tried: Vec<(&str, &str, &str)> = rows.iter().map(|r| (r[0], r[1], r[2])).collect();
    assert_eq!(
        tried,
        [
            ("200", "1", "met"),
            ("400", "1", "met"),
            ("400", "1", "met")
        ],
        "{trail}"
    );
    assert!(rows
        .iter()
        .all(|r| std::path::Path::new(r[8]).join("summary.json").is_file()));

    let out = scratch("search-miss");
    let o = brokerbench(
        &[
            &["search", "--low", "200", "--high", "400", "--slo", "lost>0"][..],
            &common,
        ]
        .concat(),
        &out,
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("no rate met the SLO"), "{stdout}");
    let o = brokerbench(&["search", "--low", "200", "--high", "400"], &out);
    assert!(String::from_utf8_lossy(&o.stderr).contains("search needs --slo"));
}

#[test]
fn compare_prints_deltas_and_draws_one_graph() {
    let out = scratch("compare");
    let base = quick_run("200:1,300:1");
    for _ in 0..2 {
        assert!(brokerbench(&base, &out).status.success());
    }
    let mut dirs: Vec<String> = entries(&out)
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    dirs.sort();
    let graph = out.join("both.png");
    let o = brokerbench(
        &[
            "compare",
            &dirs[0],
            &dirs[1],
            "--graph",
            graph.to_str().unwrap(),
        ],
        &out,
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|c: &Vec<&str>| c.len() >= 8 && (c[2] == "A" || c[2] == "B"))
        .collect();
    assert_eq!(rows.len(), 4, "two steps, two runs: {stdout}");
    assert_eq!((rows[0][1], rows[0][3]), ("200", "200"));
    assert!(rows[1][8].ends_with('%'), "B has a delta: {:?}", rows[1]);
    assert!(std::fs::metadata(&graph).unwrap().len() > 10_000);
    let o = brokerbench(&["compare", &dirs[0], "/nonexistent-run"], &out);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent-run: no summary.json"));
}

#[test]
fn an_hour_of_seconds_plots_from_per_second_data() {
    let dir = scratch("hour");
    std::fs::create_dir_all(&dir).unwrap();
    use brokerbench_aggregator::model::{SecondRow, StepSummary};
    use brokerbench_core::histogram::Percentiles;
    use brokerbench_core::latency::LatencyKind;
    let ms = |v: f64| Percentiles {
        count: 1000,
        p50: v,
        p90: v * 1.5,
        p99: v * 2.0,
        p99_9: v * 2.5,
        p99_99: v * 3.0,
        max: v * 4.0,
        ..Percentiles::default()
    };
    let rows: Vec<SecondRow> = (0..3600u64)
        .map(|s| {
            let v = 0.2 + (s % 60) as f64 / 100.0;
            SecondRow {
                second: s,
                step: Some(1),
                target_rps: 1000,
                sent: 1000,
                delivered: 1000,
                latency: LatencyKind::ALL.into_iter().map(|k| (k, ms(v))).collect(),
                running_p99_99: [(LatencyKind::Publish, v * 3.0), (LatencyKind::E2e, v * 3.5)]
                    .into(),
                ..SecondRow::default()
            }
        })
        .collect();
    let series = brokerbench_aggregator::output::series_tsv(&rows);
    std::fs::write(dir.join("series.tsv"), series).unwrap();
    let step = StepSummary {
        step: 1,
        rps: 1000,
        seconds: 3600,
        judged: true,
        ..StepSummary::default()
    };
    let steps = brokerbench_aggregator::output::steps_tsv(&[step]);
    std::fs::write(dir.join("steps.tsv"), steps).unwrap();
    let o = brokerbench(&["plot", dir.to_str().unwrap()], &dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["six-metric.png", "points.png", "generator.png"] {
        assert!(
            std::fs::metadata(dir.join(f)).unwrap().len() > 10_000,
            "{f}"
        );
    }
}

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
        assert!(
            std::fs::metadata(p.join(f))
                .map(|m| m.len() > 500)
                .unwrap_or(false),
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
    assert!(
        samples < 10 || sender.contains("brokerbench_sender::"),
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
fn a_standalone_broker_from_a_config_file_is_measured_with_run_target() {
    let out = scratch("sut");
    let (sut_port, recv) = (free_port(), free_port());
    let config = out.join("broker.yaml");
    std::fs::create_dir_all(&out).unwrap();
    // Two triggers take the suite's events (one per dialect), one never does.
    std::fs::write(
        &config,
        format!(
            "delivery: {{retry: 2, backoffDelay: 10ms}}\n\
             triggers:\n\
             - name: legacy\n  subscriber: http://127.0.0.1:{recv}/c/0\n  filter: {{attributes: {{type: dev.brokerbench.event}}}}\n\
             - name: dialect\n  subscriber: http://127.0.0.1:{recv}/c/1\n  filters: [{{prefix: {{type: dev.brokerbench.}}}}, {{not: {{suffix: {{type: .other}}}}}}]\n\
             - name: never\n  subscriber: http://127.0.0.1:{recv}/c/2\n  filters: [{{exact: {{type: dev.other}}}}]\n"
        ),
    )
    .unwrap();
    let sut = spawn(&[
        "sut",
        "broker-imc",
        "--listen",
        &format!("127.0.0.1:{sut_port}"),
        "--config",
        config.to_str().unwrap(),
    ]);
    let sut_url = format!("http://127.0.0.1:{sut_port}");
    let o = brokerbench(
        &[
            "run",
            "--target",
            &format!("{sut_url}/default/broker"),
            "--sut-url",
            &sut_url,
            "--receiver-listen",
            &format!("127.0.0.1:{recv}"),
            "--copies",
            "2",
            "--pace",
            "300:2",
            "--warmup-seconds",
            "1",
            "--warmup-rate",
            "100",
            "--drain-seconds",
            "1",
            "--quiet",
            "--no-plot",
        ],
        &out,
    );
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{table}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(all_row(&table), ["600", "600", "0", "1200", "0"], "{table}");
    assert!(table.contains("fan-out: 2 deliveries per event"), "{table}");
    let dir = entries(&out)
        .into_iter()
        .find(|d| d.is_dir())
        .expect("a results folder");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["sut"]["accepted"], 700, "{}", s["sut"]);
    assert_eq!(s["sut"]["delivered"], 1400);
    assert_eq!(s["sut"]["dropped"], 0);
    // SIGINT: the SUT drains, prints its counters and exits 0.
    let o = interrupt(sut);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("broker-imc on http://127.0.0.1:"), "{err}");
    assert!(
        err.contains("accepted 700, delivered 1400, retried 0, dead-lettered 0, dropped 0"),
        "{err}"
    );
}

#[test]
fn bad_sut_settings_get_one_line_and_exit_1() {
    let out = scratch("bad-sut");
    for (args, says) in [
        (
            &["sut", "channel-imc", "--subscriber", "ftp://x/"][..],
            "bad URL \"ftp://x/\"",
        ),
        (&["sut", "channel-imc"][..], "channel-imc has no subscriber"),
        (
            &["sut", "broker-imc", "--trigger", "http://127.0.0.1:1/,type"][..],
            "bad trigger",
        ),
        (
            &["sut", "broker-imc", "--config", "/nonexistent.yaml"][..],
            "/nonexistent.yaml:",
        ),
        (
            &[
                "sut",
                "channel-imc",
                "--subscriber",
                "http://127.0.0.1:1/",
                "--backoff-delay",
                "soon",
            ][..],
            "bad duration \"soon\"",
        ),
        (
            &["run", "--sut", "channel-imc", "--triggers", "3"][..],
            "channel-imc takes --subscribers",
        ),
        (
            &[
                "run",
                "--sut",
                "broker-imc",
                "--triggers",
                "2",
                "--matching",
                "3",
            ][..],
            "--matching must be between 1 and --triggers (2)",
        ),
        (
            &["run", "--subscribers", "2"][..],
            "are for a channel or broker SUT, not direct",
        ),
        (&["run", "--sut", "kafka-x"][..], "unknown SUT \"kafka-x\""),
        (
            &[
                "sut",
                "channel-kafka",
                "--subscriber",
                "http://127.0.0.1:1/",
                "--topic",
                "bad name!",
            ][..],
            "--topic: topic name \"bad name!\" has ' '",
        ),
        (
            &[
                "receiver",
                "--aggregator",
                "http://127.0.0.1:1",
                "--from-kafka",
                "..",
                "--kafka-bootstrap",
                "127.0.0.1:1",
            ][..],
            "--from-kafka: topic name \"..\" is not allowed",
        ),
        (
            &["run", "--sut", "channel-kafka", "--linger", "5x"][..],
            "--linger: bad duration \"5x\"",
        ),
        (
            &[
                "sut",
                "source-kafka",
                "--subscriber",
                "http://127.0.0.1:1/",
                "--fetch-wait",
                "soon",
            ][..],
            "--fetch-wait: bad duration \"soon\"",
        ),
    ] {
        let o = brokerbench(args, &out);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn a_standalone_kafka_channel_starts_its_own_broker_and_is_measured() {
    let out = scratch("sut-kafka");
    let (sut_port, recv) = (free_port(), free_port());
    let sut = spawn(&[
        "sut",
        "channel-kafka",
        "--listen",
        &format!("127.0.0.1:{sut_port}"),
        "--subscriber",
        &format!("http://127.0.0.1:{recv}/"),
        "--topic",
        "standalone",
        "--partitions",
        "4",
    ]);
    let sut_url = format!("http://127.0.0.1:{sut_port}");
    let o = brokerbench(
        &[
            "run",
            "--target",
            &format!("{sut_url}/"),
            "--sut-url",
            &sut_url,
            "--receiver-listen",
            &format!("127.0.0.1:{recv}"),
            "--pace",
            "200:2",
            "--warmup-seconds",
            "0",
            "--drain-seconds",
            "2",
            "--pacer",
            "sleep",
            "--quiet",
            "--no-plot",
        ],
        &out,
    );
    let table = String::from_utf8_lossy(&o.stdout);
    let s = interrupt(sut);
    let err = String::from_utf8_lossy(&s.stderr);
    assert!(
        o.status.success(),
        "{table}{}{err}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(all_row(&table), ["400", "400", "0", "400", "0"], "{table}");
    assert!(
        table.contains("SUT: accepted 400, delivered 400 of 400 owed"),
        "{table}"
    );
    assert_eq!(s.status.code(), Some(0), "{err}");
    assert!(
        err.contains("local Kafka-protocol broker (tansu) on 127.0.0.1:"),
        "{err}"
    );
    assert!(err.contains("channel-kafka on http://127.0.0.1:"), "{err}");
    assert!(err.contains("accepted 400, delivered 400"), "{err}");
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

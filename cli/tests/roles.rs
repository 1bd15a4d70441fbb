//! The roles as separate processes, as on separate hosts or pods: a whole
//! run, refused indexes, and several senders' percentiles merged.

mod common;

use brokerbench_core::session::path::READY;
use common::process::*;
use std::process::Command;

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
        format!("brokerbench: error: aggregator: {url}{READY}: answered 400: sender index 1 outside 0..1")
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
        format!("brokerbench: error: aggregator: {url}{READY}: answered 409: sender index 0 is already in this run: give each its own --index")
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
        "100:3",
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
    // The pace is the two senders' total: each took every other event.
    let summary = common::valid_summary(&entries(&out)[0]);
    assert_eq!(
        (
            summary["split"].as_bool(),
            summary["steps"][0]["rps"].as_u64()
        ),
        (Some(true), Some(100))
    );
    // Per sender: the slow one's events are the lost ones, and its tail.
    let per = |i: usize, k: &str| summary["per_sender"][i][k].as_f64().unwrap();
    assert_eq!((per(0, "sent"), per(0, "lost")), (150.0, 0.0), "{summary}");
    assert_eq!(
        (per(1, "sent"), per(1, "lost")),
        (150.0, 150.0),
        "{summary}"
    );
    let publish = |i: usize, q: &str| {
        summary["per_sender"][i]["latency_ms"]["publish"][q]
            .as_f64()
            .unwrap()
    };
    assert!(publish(1, "p99_99") >= 300.0 && publish(0, "p99") < 300.0);
    assert!(
        table.contains("  sender 1: sent 150, accepted 150, failed 0, lost 150,"),
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

/// A role that never comes (a pod no node has room for) does not keep the
/// aggregator waiting for ever: after --start-timeout the run fails,
/// naming who never said it was ready, and writes no results.
#[test]
fn a_role_that_never_starts_fails_the_run_within_the_start_deadline() {
    let out = scratch("start-deadline");
    let (agg, recv) = (free_port(), free_port());
    let started = std::time::Instant::now();
    let aggregator = aggregator_at(
        agg,
        &["--pace", "100:2", "--senders", "2", "--start-timeout", "3s"],
        &out,
    );
    // One receiver comes; neither sender does.
    let mut receiver = role("receiver", agg, &["--listen", &format!("127.0.0.1:{recv}")]);
    let o = aggregator.wait_with_output().unwrap();
    let took = started.elapsed();
    let _ = receiver.kill();
    let _ = receiver.wait();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        took >= std::time::Duration::from_secs(3) && took < std::time::Duration::from_secs(30),
        "{took:?}"
    );
    assert!(
        err.contains("no ready within 3s (--start-timeout) from sender 0 not heard from, sender 1 not heard from"),
        "{err}"
    );
    assert!(!err.contains("receiver 0 not heard"), "{err}");
    assert!(
        entries(&out).is_empty(),
        "no results of a run that never ran"
    );
}

/// The same, its words: the roles never heard from are named.
#[test]
fn the_start_deadline_names_the_roles_that_never_came() {
    let out = scratch("start-deadline-words");
    let agg = free_port();
    let o = Command::new(env!("CARGO_BIN_EXE_brokerbench"))
        .args(["aggregator", "--listen", &format!("127.0.0.1:{agg}")])
        .args(["--pace", "100:2", "--start-timeout", "1s", "--quiet"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the run did not start: no ready within 1s (--start-timeout) from sender 0 not heard from, receiver 0 not heard from"),
        "{err}"
    );
}

/// `k8s wait` only watches: the first SIGTERM ends it at once, saying the
/// run goes on in the cluster and how to stop it.
#[test]
fn k8s_wait_ends_on_the_first_sigterm() {
    let out = scratch("wait-sigterm");
    let agg = free_port();
    // An aggregator waiting for roles that never come: the run never ends.
    let mut aggregator = aggregator(agg, &out, &["--pace", "100:2"]);
    let wait = std::process::Command::new(env!("CARGO_BIN_EXE_brokerbench"))
        .args([
            "k8s",
            "wait",
            "--aggregator",
            &format!("http://127.0.0.1:{agg}"),
            "--namespace",
            "team-a",
        ])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let signalled = std::time::Instant::now();
    // SAFETY: sending SIGTERM to our own child process.
    assert_eq!(unsafe { libc::kill(wait.id() as i32, libc::SIGTERM) }, 0);
    let o = wait.wait_with_output().unwrap();
    let took = signalled.elapsed();
    let _ = aggregator.kill();
    let _ = aggregator.wait();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
    assert!(
        err.contains("stopped watching; the run goes on in the cluster"),
        "{err}"
    );
    assert!(err.contains("k8s delete"), "{err}");
    assert!(!err.contains("writing partial results"), "{err}");
}

/// SIGTERM to an aggregator whose run never started (a pod deleted while
/// it waits for its roles): no results, no serving its failure for
/// --keep-results, and the exit code of an interrupted run.
#[test]
fn an_aggregator_stopped_before_its_run_started_exits_130_at_once() {
    let out = scratch("stopped-before-start");
    let agg = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_brokerbench"))
        .args(["aggregator", "--listen", &format!("127.0.0.1:{agg}")])
        .args(["--pace", "100:2", "--quiet", "--keep-results", "1h"])
        .arg("--out")
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(800));
    let signalled = std::time::Instant::now();
    // SAFETY: sending SIGTERM to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(signalled.elapsed() < std::time::Duration::from_secs(5));
    assert!(
        err.contains("aggregator: interrupted before the run started: no results"),
        "{err}"
    );
    assert!(!err.contains("serving its failure"), "{err}");
    assert!(entries(&out).is_empty());
}

/// SIGTERM to an aggregator on its own mid-run (a pod deleted, `docker
/// stop`): it tells its roles to stop (in their next progress answer),
/// takes their partial reports, writes the partial results and exits 130;
/// the sender stops loading the target within seconds, not at its pace's end.
#[test]
fn a_stopped_aggregator_stops_its_roles_and_writes_partial_results() {
    let out = scratch("agg-sigterm");
    let (agg, recv) = (free_port(), free_port());
    let aggregator = aggregator_at(
        agg,
        &[
            "--pace",
            "200:60",
            "--warmup-seconds",
            "0",
            "--drain-seconds",
            "1",
        ],
        &out,
    );
    let receiver = role("receiver", agg, &["--listen", &format!("127.0.0.1:{recv}")]);
    let sender = role(
        "sender",
        agg,
        &[
            "--target",
            &format!("http://127.0.0.1:{recv}/"),
            "--pacer",
            "sleep",
        ],
    );
    std::thread::sleep(std::time::Duration::from_secs(4));
    let signalled = std::time::Instant::now();
    // SAFETY: sending SIGTERM to our own child process.
    assert_eq!(
        unsafe { libc::kill(aggregator.id() as i32, libc::SIGTERM) },
        0
    );
    let s = sender.wait_with_output().unwrap();
    let sender_took = signalled.elapsed();
    let a = aggregator.wait_with_output().unwrap();
    let agg_took = signalled.elapsed();
    let r = receiver.wait_with_output().unwrap();
    let (s_err, a_err) = (
        String::from_utf8_lossy(&s.stderr),
        String::from_utf8_lossy(&a.stderr),
    );
    assert!(
        sender_took < std::time::Duration::from_secs(15),
        "{sender_took:?}: {s_err}"
    );
    assert_eq!(s.status.code(), Some(130), "{s_err}");
    assert!(s_err.contains("(interrupted)"), "{s_err}");
    assert_eq!(a.status.code(), Some(130), "{a_err}");
    assert!(
        agg_took < std::time::Duration::from_secs(30),
        "{agg_took:?}"
    );
    assert_eq!(
        r.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let dir = only_results(&out);
    let summary = common::valid_summary(&dir);
    assert_eq!(summary["interrupted"], true);
    assert!(
        summary["missing_reports"].as_array().unwrap().is_empty(),
        "{summary}"
    );
    let t = &summary["totals"];
    let sent = t["sent"].as_u64().unwrap();
    assert!((200..12_000).contains(&sent), "cut early: {t}");
    assert_eq!(
        t["accepted"].as_u64().unwrap() + t["failed"].as_u64().unwrap(),
        sent,
        "{t}"
    );
    assert_eq!(
        t["delivered_of_accepted"].as_u64().unwrap() + t["lost"].as_u64().unwrap(),
        t["accepted"].as_u64().unwrap(),
        "{t}"
    );
}

/// A sender killed mid-run (SIGKILL: an OOM kill, a lost node): the
/// aggregator writes results from every report that came, names the
/// missing sender, keeps what arrived of its events apart
/// (delivered_unreported, in no other count), and exits 4.
#[test]
fn a_killed_sender_is_named_and_every_row_still_adds_up() {
    let out = scratch("killed-sender");
    let (agg, recv) = (free_port(), free_port());
    let aggregator = aggregator_at(
        agg,
        &[
            "--pace",
            "400:4",
            "--senders",
            "2",
            "--warmup-seconds",
            "0",
            "--drain-seconds",
            "1",
        ],
        &out,
    );
    let receiver = role("receiver", agg, &["--listen", &format!("127.0.0.1:{recv}")]);
    let target = format!("http://127.0.0.1:{recv}/");
    let sender = |i: &str| {
        role(
            "sender",
            agg,
            &[
                "--index",
                i,
                "--target",
                &target,
                "--pacer",
                "sleep",
                "--request-timeout",
                "1",
            ],
        )
    };
    let (s0, mut s1) = (sender("0"), sender("1"));
    std::thread::sleep(std::time::Duration::from_millis(2500));
    s1.kill().unwrap();
    let _ = s1.wait();
    let s0 = s0.wait_with_output().unwrap();
    assert_eq!(
        s0.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&s0.stderr)
    );
    let a = aggregator.wait_with_output().unwrap();
    let _ = receiver.wait_with_output();
    let table = String::from_utf8_lossy(&a.stdout);
    assert_eq!(a.status.code(), Some(4), "{table}");
    let dir = only_results(&out);
    let summary = common::valid_summary(&dir);
    assert_eq!(summary["missing_reports"], serde_json::json!(["sender 1"]));
    let t = &summary["totals"];
    let n = |k: &str| t[k].as_u64().unwrap();
    // Sender 0's half of 1,600 slots, all of it accounted for.
    assert_eq!(n("sent"), 800, "{t}");
    assert_eq!(n("accepted") + n("failed"), n("sent"), "{t}");
    assert_eq!(n("delivered_of_accepted") + n("lost"), n("accepted"), "{t}");
    assert!(
        n("delivered") <= n("sent"),
        "never more delivered than sent: {t}"
    );
    // Sender 1 sent for 2.5 s before it was killed: its arrivals, apart.
    assert!(n("delivered_unreported") > 100, "{t}");
    assert!(table.contains("note: no report from sender 1:"), "{table}");
    assert!(
        table.contains("counted apart (delivered_unreported)"),
        "{table}"
    );
}

/// The aggregator gone (SIGKILL: its pod or node lost): its sender stops
/// within seconds saying which peer is gone, each role keeps its report
/// with the plan in a file, and `brokerbench aggregate` joins them into
/// results whose rows add up.
#[test]
fn roles_whose_aggregator_is_gone_stop_and_keep_their_reports() {
    let out = scratch("agg-gone");
    std::fs::create_dir_all(&out).unwrap();
    let (agg, recv) = (free_port(), free_port());
    let mut aggregator = aggregator_at(
        agg,
        &[
            "--pace",
            "200:60",
            "--warmup-seconds",
            "0",
            "--drain-seconds",
            "1",
        ],
        &out.join("never"),
    );
    let (s_file, r_file) = (out.join("sender.json"), out.join("receiver.json"));
    let receiver = role(
        "receiver",
        agg,
        &[
            "--listen",
            &format!("127.0.0.1:{recv}"),
            "--report-file",
            r_file.to_str().unwrap(),
        ],
    );
    let sender = role(
        "sender",
        agg,
        &[
            "--target",
            &format!("http://127.0.0.1:{recv}/"),
            "--pacer",
            "sleep",
            "--report-file",
            s_file.to_str().unwrap(),
        ],
    );
    std::thread::sleep(std::time::Duration::from_secs(3));
    aggregator.kill().unwrap();
    let _ = aggregator.wait();
    let killed = std::time::Instant::now();
    let s = sender.wait_with_output().unwrap();
    let took = killed.elapsed();
    let r = receiver.wait_with_output().unwrap();
    let (s_err, r_err) = (
        String::from_utf8_lossy(&s.stderr),
        String::from_utf8_lossy(&r.stderr),
    );
    assert!(
        took < std::time::Duration::from_secs(20),
        "{took:?}: {s_err}"
    );
    assert!(
        s_err.contains(&format!(
            "sender 0: the aggregator at http://127.0.0.1:{agg} is gone (no answer for"
        )),
        "{s_err}"
    );
    assert!(s_err.contains("the aggregator took no report"), "{s_err}");
    assert!(
        s_err.contains(&format!("kept in {}", s_file.display())),
        "{s_err}"
    );
    assert_eq!(s.status.code(), Some(1), "{s_err}");
    assert!(
        r_err.contains(&format!("kept in {}", r_file.display())),
        "{r_err}"
    );
    // Joined afterwards, as the aggregator would have.
    let joined = out.join("joined");
    let o = brokerbench(
        &[
            "aggregate",
            s_file.to_str().unwrap(),
            r_file.to_str().unwrap(),
            "--out",
            joined.to_str().unwrap(),
            "--no-plot",
        ],
        &out,
    );
    let table = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(130),
        "{table}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dir = only_results(&joined);
    let summary = common::valid_summary(&dir);
    let t = &summary["totals"];
    let n = |k: &str| t[k].as_u64().unwrap();
    assert!((200..12_000).contains(&n("sent")), "stopped early: {t}");
    assert_eq!(n("accepted") + n("failed"), n("sent"), "{t}");
    assert_eq!(n("delivered_of_accepted") + n("lost"), n("accepted"), "{t}");
    assert_eq!(summary["interrupted"], true);
    // Reports of another run are refused in one line.
    let mut other: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&r_file).unwrap()).unwrap();
    other["plan"]["run_id"] = "another".into();
    let other_file = out.join("other.json");
    std::fs::write(&other_file, other.to_string()).unwrap();
    let o = brokerbench(
        &[
            "aggregate",
            s_file.to_str().unwrap(),
            other_file.to_str().unwrap(),
            "--out",
            joined.to_str().unwrap(),
        ],
        &out,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("the reports are of two runs"));
}

/// A receiver killed mid-run: the aggregator does not wait for its report
/// for ever (it stopped being heard from), keeps the sender's, writes the
/// results naming the missing receiver (everything it was owed counts as
/// lost; no step judged) and exits 4.
#[test]
fn a_killed_receiver_is_named_and_the_senders_report_kept() {
    let out = scratch("killed-receiver");
    let (agg, recv) = (free_port(), free_port());
    let started = std::time::Instant::now();
    let aggregator = aggregator_at(
        agg,
        &[
            "--pace",
            "200:4",
            "--warmup-seconds",
            "0",
            "--drain-seconds",
            "1",
        ],
        &out,
    );
    let mut receiver = role("receiver", agg, &["--listen", &format!("127.0.0.1:{recv}")]);
    let sender = role(
        "sender",
        agg,
        &[
            "--target",
            &format!("http://127.0.0.1:{recv}/"),
            "--pacer",
            "sleep",
            "--request-timeout",
            "1",
            "--connect-timeout",
            "1",
        ],
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    receiver.kill().unwrap();
    let _ = receiver.wait();
    let s = sender.wait_with_output().unwrap();
    assert_eq!(
        s.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&s.stderr)
    );
    let a = aggregator.wait_with_output().unwrap();
    let table = String::from_utf8_lossy(&a.stdout);
    assert_eq!(a.status.code(), Some(4), "{table}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    let summary = common::valid_summary(&only_results(&out));
    assert_eq!(
        summary["missing_reports"],
        serde_json::json!(["receiver 0"])
    );
    let t = &summary["totals"];
    let n = |k: &str| t[k].as_u64().unwrap();
    assert_eq!(n("sent"), 800, "the sender's report kept: {t}");
    assert_eq!(n("accepted") + n("failed"), 800, "{t}");
    assert!(n("failed") > 0, "sends to a dead receiver fail: {t}");
    assert_eq!(n("lost"), n("accepted"), "nothing known received: {t}");
    assert!(
        table.contains("note: no report from receiver 0:"),
        "{table}"
    );
}

/// A standalone aggregator on 127.0.0.1:`port` taking `args` (its pace
/// and the rest), quiet and drawing no graphs, its results under `out`;
/// its output piped.
fn aggregator_at(port: u16, args: &[&str], out: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_brokerbench"))
        .args(["aggregator", "--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .args(["--quiet", "--no-plot", "--out"])
        .arg(out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

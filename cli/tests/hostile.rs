//! Hostile and broken input to the receiver while a run goes on: each bad
//! request is answered 4xx (or closed), counted exactly once, and the
//! run's own events are all still accounted for.

mod common;

use common::process::{answer, free_port, only_results, scratch};

fn post(headers: &str, body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nhost: x\r\n{headers}content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn bad_requests_during_a_run_are_refused_and_counted_once_each() {
    let (out, port) = (scratch("hostile"), free_port());
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_brokerbench"))
        .args(["run", "--pace", "200:4", "--warmup-seconds", "0"])
        .args(["--drain-seconds", "1", "--quiet", "--no-plot"])
        .args(["--receiver-listen", &format!("127.0.0.1:{port}"), "--out"])
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Into the run: its receiver up and started.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let binary = "ce-specversion: 1.0\r\nce-type: t\r\nce-source: /s\r\n";
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "structured, not JSON",
            post(
                "content-type: application/cloudevents+json\r\n",
                "{not json",
            ),
            400,
        ),
        (
            "binary, no ce-id",
            post(&format!("{binary}content-type: text/plain\r\n"), "x"),
            400,
        ),
        (
            "no CloudEvent at all",
            post("content-type: text/plain\r\n", "hello"),
            400,
        ),
        (
            "another run's event",
            post(
                &format!(
                    "{binary}ce-id: 1\r\nce-bbrun: another\r\nce-bbsender: 0\r\nce-bbseq: 1\r\n"
                ),
                "x",
            ),
            400,
        ),
        (
            "200 MB said",
            b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 200000000\r\n\r\n".to_vec(),
            413,
        ),
    ];
    // A flood of idle connections held through the run.
    let held: Vec<_> = (0..300)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let mut sent = 0;
    for _ in 0..10 {
        for (what, request, status) in &cases {
            assert_eq!(answer(port, request), *status, "{what}");
            sent += 1;
        }
    }
    let o = run.wait_with_output().unwrap();
    drop(held);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let dir = only_results(&out);
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let r = &s["rejected"];
    let counted: u64 = ["not_cloudevent", "foreign", "out_of_range", "early"]
        .iter()
        .map(|k| r[k].as_u64().unwrap())
        .sum();
    assert_eq!(counted, sent, "each bad request counted once: {r}");
    assert_eq!(r["foreign"], 10, "{r}");
    let t = &s["totals"];
    assert_eq!(
        (t["sent"].as_u64(), t["delivered"].as_u64()),
        (Some(800), Some(800)),
        "{t}"
    );
    assert_eq!(
        (t["lost"].as_u64(), t["failed"].as_u64()),
        (Some(0), Some(0)),
        "{t}"
    );
}

/// Reports are read within one budget: two huge report bodies at once on
/// an aggregator without a token are not both taken in; the second waits
/// (its sender blocked by the socket's buffers) while the first is read.
#[test]
fn huge_report_bodies_are_read_one_budget_at_a_time() {
    use std::io::Write;
    let (out, port) = (scratch("report-budget"), free_port());
    let mut agg = common::process::aggregator(port, &out, &["--pace", "10:60"]);
    // Up and listening.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "aggregator never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let declared: u64 = 700 << 20;
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {declared}\r\n\r\n",
        brokerbench_core::session::path::SENDER_REPORT
    );
    // How much of a 700 MiB body the aggregator takes in `within`.
    let push = |within: std::time::Duration| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_write_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        s.write_all(head.as_bytes()).unwrap();
        let chunk = vec![b' '; 1 << 20];
        let (start, mut sent) = (std::time::Instant::now(), 0u64);
        while start.elapsed() < within && sent < declared {
            match s.write(&chunk) {
                Ok(n) => sent += n as u64,
                Err(_) => continue, // blocked: nobody reads it now
            }
        }
        (s, sent)
    };
    let (_first, first) = push(std::time::Duration::from_secs(3));
    let (_second, second) = push(std::time::Duration::from_secs(2));
    let _ = agg.kill();
    let _ = agg.wait();
    assert!(first > 100 << 20, "the first body is read: {first} bytes");
    assert!(
        second < 32 << 20,
        "the second waits for the budget, taking only what socket buffers hold: {second} bytes"
    );
}

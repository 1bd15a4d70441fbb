//! The aggregator speaks only to its run's roles: with `--token`, a role
//! request without it is refused (401), counted and logged once, and the
//! run goes on with the roles that have it.

mod common;

use common::process::{free_port, only_results, role, scratch, spawn};
use std::io::{Read, Write};

/// One request to the aggregator on `port`; the answer's status line.
fn status_of(port: u16, method: &str, path: &str, token: Option<&str>) -> String {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    write!(
        c,
        "{method} {path} HTTP/1.1\r\nhost: x\r\n{auth}content-length: 0\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    answer.lines().next().unwrap_or("").to_string()
}

fn wait_up(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("the aggregator did not come up");
}

#[test]
fn role_requests_without_the_runs_token_are_refused_and_the_run_goes_on() {
    let (out, agg, recv) = (scratch("token"), free_port(), free_port());
    let aggregator = spawn(&[
        "aggregator",
        "--listen",
        &format!("127.0.0.1:{agg}"),
        "--token",
        "s3cret",
        "--pace",
        "200:2",
        "--warmup-seconds",
        "0",
        "--drain-seconds",
        "1",
        "--quiet",
        "--no-plot",
        "--out",
        out.to_str().unwrap(),
    ]);
    wait_up(agg);
    // Anyone may read health and status; the roles' protocol needs the token.
    assert!(status_of(agg, "GET", "/healthz", None).contains("200"));
    assert!(status_of(agg, "GET", "/v1/status", None).contains("200"));
    for (token, path) in [
        (None, "/v1/plan"),
        (Some("wrong"), "/v1/plan"),
        (None, "/v1/ready"),
        // Releasing the results makes the aggregator exit: the run's too.
        (None, "/v1/results"),
    ] {
        let method = match path {
            "/v1/ready" => "POST",
            "/v1/results" => "DELETE",
            _ => "GET",
        };
        let said = status_of(agg, method, path, token);
        assert!(said.contains("401"), "{path} with {token:?}: {said}");
    }
    assert!(status_of(agg, "GET", "/v1/plan", Some("s3cret")).contains("200"));
    // A role without the token cannot take part: one line, exit 1.
    let stranger = role(
        "receiver",
        agg,
        &["--listen", &format!("127.0.0.1:{}", free_port())],
    );
    let o = stranger.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("401"), "{err}");
    // The run's roles, with it (as a flag and in the URL).
    let receiver = role(
        "receiver",
        agg,
        &[
            "--listen",
            &format!("127.0.0.1:{recv}"),
            "--token",
            "s3cret",
        ],
    );
    let sender = spawn(&[
        "sender",
        "--aggregator",
        &format!("http://127.0.0.1:{agg}/?token=s3cret"),
        "--target",
        &format!("http://127.0.0.1:{recv}/"),
    ]);
    let agg_out = aggregator.wait_with_output().unwrap();
    let (s, r) = (
        sender.wait_with_output().unwrap(),
        receiver.wait_with_output().unwrap(),
    );
    let agg_err = String::from_utf8_lossy(&agg_out.stderr);
    assert_eq!(agg_out.status.code(), Some(0), "{agg_err}");
    assert_eq!((s.status.code(), r.status.code()), (Some(0), Some(0)));
    assert_eq!(
        agg_err.matches("without this run's token").count(),
        1,
        "logged once: {agg_err}"
    );
    let dir = only_results(&out);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["totals"]["delivered"], 400);
}

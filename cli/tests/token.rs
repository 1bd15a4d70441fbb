//! The aggregator speaks only to its run's roles: with `--token`, a role
//! request without it is refused (401), counted and logged once, and the
//! run goes on with the roles that have it.

mod common;

use brokerbench_core::session::{path, Session};
use common::process::{free_port, only_results, quick_run, role, scratch, spawn, status_of};

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
    let listen = format!("127.0.0.1:{agg}");
    let mine = ["aggregator", "--listen", &listen, "--token", "s3cret"];
    let quick = quick_run("200:2");
    let to = ["--out", out.to_str().unwrap()];
    // `run`'s quick settings, minus the word `run`.
    let aggregator = spawn(&[&mine[..], &quick[1..], &to].concat());
    wait_up(agg);
    // Anyone may read health and status; the roles' protocol needs the token.
    assert_eq!(status_of(agg, "GET", "/healthz", None), 200);
    assert_eq!(status_of(agg, "GET", path::STATUS, None), 200);
    for (token, method, path) in [
        (None, "GET", path::PLAN),
        (Some("wrong"), "GET", path::PLAN),
        (None, "POST", path::READY),
        // Releasing the results makes the aggregator exit: the run's too.
        (None, "DELETE", path::RESULTS),
    ] {
        let said = status_of(agg, method, path, token);
        assert_eq!(said, 401, "{method} {path} with {token:?}");
    }
    assert_eq!(status_of(agg, "GET", path::PLAN, Some("s3cret")), 200);
    // The typed session every role talks through: with the token in its
    // URL it reads the run's plan; without it, it is refused.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let with = Session::new(&format!("http://127.0.0.1:{agg}/?token=s3cret"));
    let plan = rt.block_on(with.plan()).unwrap();
    assert_eq!(plan.schedule.total_events(), 400);
    let without = Session::new(&format!("http://127.0.0.1:{agg}"));
    let refused = rt.block_on(without.plan()).unwrap_err().to_string();
    assert!(refused.contains("401"), "{refused}");
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

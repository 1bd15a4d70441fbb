//! `brokerbench sut`: standalone SUTs measured with `run --target`, and
//! their bad settings.

mod common;

use brokerbench_core::session::path::FAULTS;
use common::process::*;

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
    let args = format!(
        "run --target {sut_url}/default/broker --sut-url {sut_url} \
         --receiver-listen 127.0.0.1:{recv} --copies 2 --pace 300:2 \
         --warmup-seconds 1 --warmup-rate 100 --drain-seconds 1 --quiet --no-plot"
    );
    let o = brokerbench(&common::words(&args), &out);
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

/// `PUT /v1/faults?QUERY`, with `token` as a bearer if any.
fn put_faults(port: u16, query: &str, token: Option<&str>) -> u16 {
    status_of(port, "PUT", &format!("{FAULTS}?{query}"), token)
}

/// Faults are the SUT's remote control: whoever reaches its ingress must
/// not also be able to break it. Without a fault token it takes none; with
/// one, only requests that carry it.
#[test]
fn a_standalone_sut_takes_faults_only_from_whoever_holds_its_token() {
    let event = b"POST / HTTP/1.1\r\nhost: x\r\nce-specversion: 1.0\r\nce-id: 1\r\nce-type: t\r\nce-source: /s\r\ncontent-type: text/plain\r\ncontent-length: 1\r\nconnection: close\r\n\r\nx";
    let start = |extra: &[&str]| {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        // Deliveries go nowhere that answers; the ingress is what is tried.
        let sink = format!("http://127.0.0.1:{}/", free_port());
        let mut args = vec![
            "sut",
            "channel-imc",
            "--listen",
            &listen,
            "--subscriber",
            &sink,
        ];
        args.extend(extra);
        let child = spawn(&args);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        (child, port)
    };
    let (open, port) = start(&[]);
    assert_eq!(put_faults(port, "status=503", None), 403);
    assert_eq!(put_faults(port, "status=503", Some("anything")), 403);
    assert_eq!(answer(port, event), 202, "no fault was taken");
    let o = interrupt(open);
    let err = String::from_utf8_lossy(&o.stderr);
    let refused = format!("refused PUT {FAULTS}");
    assert_eq!(err.matches(&refused).count(), 1, "{err}");

    let (guarded, port) = start(&["--fault-token", "t0ken"]);
    assert_eq!(put_faults(port, "status=503", None), 401);
    assert_eq!(put_faults(port, "status=503", Some("t0kem")), 401);
    assert_eq!(answer(port, event), 202);
    assert_eq!(put_faults(port, "status=503", Some("t0ken")), 200);
    assert_eq!(answer(port, event), 503, "the fault told by the holder");
    assert_eq!(put_faults(port, "", Some("t0ken")), 200);
    assert_eq!(answer(port, event), 202, "and cleared");
    let o = interrupt(guarded);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

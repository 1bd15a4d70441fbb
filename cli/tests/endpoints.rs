//! Real endpoints: extra request headers (a token from a file), HTTPS
//! targets with a CA file or without verification, and librdkafka
//! settings passed through.

mod common;

use bytes::Bytes;
use common::process::*;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use std::sync::{Arc, Mutex};

/// A target that answers 202 to every request and keeps the headers
/// named `keep` of each.
async fn recording_target(keep: &'static [&'static str]) -> (u16, Arc<Mutex<Vec<Vec<String>>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let log = log.clone();
                    async move {
                        let h: Vec<String> = keep
                            .iter()
                            .map(|k| {
                                req.headers()
                                    .get(*k)
                                    .map(|v| v.to_str().unwrap().to_string())
                                    .unwrap_or_default()
                            })
                            .collect();
                        let _ = req.into_body().collect().await;
                        log.lock().unwrap().push(h);
                        let mut r = http::Response::new(Full::new(Bytes::new()));
                        *r.status_mut() = http::StatusCode::ACCEPTED;
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_headers_ride_on_every_request_a_token_read_from_its_file() {
    let (port, seen) = recording_target(&["authorization", "x-tenant", "ce-id"]).await;
    let token = scratch("token");
    std::fs::write(&token, "Bearer s3cr3t\n").unwrap();
    let target = format!("http://127.0.0.1:{port}/");
    let auth = format!("Authorization: @{}", token.display());
    let listen = format!("127.0.0.1:{}", free_port());
    let c = common::config(&[
        "--target",
        &target,
        "--receiver-listen",
        &listen,
        "--pace",
        "200:1",
        "--header",
        &auth,
        "--header",
        "X-Tenant: team-a",
        "--connections",
        "4",
    ]);
    let f = brokerbench_local::run::run(c, tokio_util::sync::CancellationToken::new())
        .await
        .unwrap();
    let t = &f.results.summary.totals;
    assert_eq!((t.sent, t.accepted), (200, 200));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 200, "every request reached the target");
    assert!(
        seen.iter()
            .all(|h| h[0] == "Bearer s3cr3t" && h[1] == "team-a" && !h[2].is_empty()),
        "{:?}",
        &seen[..3]
    );
}

#[test]
fn a_bad_header_is_one_clear_line() {
    let out = scratch("bad-header");
    for (h, says) in [
        ("Authorization", "expected `Name: value` or `Name: @FILE`"),
        ("ce-id: 5", "ce-id is the event's own"),
        (
            "Content-Type: text/plain",
            "content-type is the event's own",
        ),
        ("Bad Name: x", "\"Bad Name\" is no header name"),
        (
            "Authorization: @/no/such/token",
            "--header authorization: cannot read /no/such/token",
        ),
    ] {
        let o = brokerbench(&["run", "--pace", "10:1", "--header", h], &out);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{h}: {err}");
        assert!(err.contains(says), "{h}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    assert!(!out.exists(), "nothing ran");
}

#[test]
fn kafka_settings_are_checked_by_librdkafka_before_anything_starts() {
    let out = scratch("kafka-config");
    let props = scratch("kafka-props");
    std::fs::write(
        &props,
        "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n",
    )
    .unwrap();
    let props = props.to_str().unwrap();
    for (args, says) in [
        (
            vec!["run", "--sut", "channel-kafka", "--kafka-bootstrap", "127.0.0.1:1", "--kafka-config", "no.such.property=1"],
            "--kafka-config: librdkafka refused it: Client config error: No such configuration property: \"no.such.property\"",
        ),
        (
            vec!["sender", "--aggregator", "http://127.0.0.1:1", "--target", "kafka://127.0.0.1:1/t", "--kafka-config", "security.protocol=PIGEON"],
            "Invalid value \"PIGEON\" for configuration property \"security.protocol\"",
        ),
        (
            vec!["sender", "--aggregator", "http://127.0.0.1:1", "--target", "http://127.0.0.1:1/", "--kafka-config-file", props],
            "--kafka-config is for a kafka:// --target",
        ),
        (
            vec!["receiver", "--aggregator", "http://127.0.0.1:1", "--kafka-config", "acks=all"],
            "--kafka-config is for --from-kafka",
        ),
        (
            vec!["sender", "--aggregator", "http://127.0.0.1:1", "--target", "kafka://h/t"],
            "expected kafka://host:port[,host:port...]/topic",
        ),
    ] {
        let o = brokerbench(&args, &out);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

/// A certificate authority and a server certificate it signed for
/// 127.0.0.1: (the CA's PEM, the server's rustls settings).
fn test_pki() -> (String, std::sync::Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
    let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();
    (ca.pem(), tls_server(&leaf, &key))
}

/// A TLS server configuration presenting `cert` with its `key`.
fn tls_server(
    cert: &rcgen::Certificate,
    key: &rcgen::KeyPair,
) -> std::sync::Arc<rustls::ServerConfig> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    std::sync::Arc::new(server)
}

/// A self-signed certificate for 127.0.0.1 that is its own CA (CA:TRUE),
/// as `openssl req -x509` makes: (its PEM, a server presenting it).
fn self_signed_ca_as_server() -> (String, std::sync::Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), tls_server(&cert, &key))
}

/// A TLS server on loopback that hands every connection, decrypted, to
/// `backend` (as an ingress terminating TLS does); its port.
async fn tls_front(server: std::sync::Arc<rustls::ServerConfig>, backend: u16) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(server);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(("127.0.0.1", backend)).await
                else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_target_is_measured_with_its_ca_or_without_verification() {
    let (ca_pem, server) = test_pki();
    let ca = scratch("tls-ca");
    std::fs::write(&ca, &ca_pem).unwrap();
    for trust in [vec!["--ca-file", ca.to_str().unwrap()], vec!["--insecure"]] {
        // The receiver behind a TLS front: the run publishes to the front.
        let receiver = free_port();
        let front = tls_front(server.clone(), receiver).await;
        let target = format!("https://127.0.0.1:{front}/");
        let listen = format!("127.0.0.1:{receiver}");
        let args = [
            &[
                "--target",
                &target,
                "--receiver-listen",
                &listen,
                "--pace",
                "300:1",
                "--connections",
                "8",
            ][..],
            &trust,
        ]
        .concat();
        let f = brokerbench_local::run::run(
            common::config(&args),
            tokio_util::sync::CancellationToken::new(),
        )
        .await
        .unwrap();
        common::assert_accounting(&f, Some(300));
        let t = &f.results.summary.totals;
        assert_eq!(
            (t.sent, t.accepted, t.delivered, t.lost),
            (300, 300, 300, 0),
            "{trust:?}"
        );
    }
    // A self-signed certificate that is its own CA (CA:TRUE, OpenSSL's
    // default), served as it is and given as --ca-file.
    let (own_pem, own_server) = self_signed_ca_as_server();
    let own = scratch("tls-own-ca");
    std::fs::write(&own, &own_pem).unwrap();
    let receiver = free_port();
    let front = tls_front(own_server, receiver).await;
    let (target, listen) = (
        format!("https://127.0.0.1:{front}/"),
        format!("127.0.0.1:{receiver}"),
    );
    let f = brokerbench_local::run::run(
        common::config(&[
            "--target",
            &target,
            "--receiver-listen",
            &listen,
            "--pace",
            "200:1",
            "--connections",
            "4",
            "--ca-file",
            own.to_str().unwrap(),
        ]),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    common::assert_accounting(&f, Some(200));
    assert_eq!(f.results.summary.totals.accepted, 200);
    // Without the CA, the certificate is not trusted: one line says so.
    let receiver = free_port();
    let front = tls_front(server, receiver).await;
    let out = scratch("tls-untrusted");
    let target = format!("https://127.0.0.1:{front}/");
    let listen = format!("127.0.0.1:{receiver}");
    let o = brokerbench(
        &[
            "run",
            "--target",
            &target,
            "--receiver-listen",
            &listen,
            "--pace",
            "10:1",
            "--connect-timeout",
            "1",
            "--quiet",
        ],
        &out,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("TLS handshake: invalid peer certificate: UnknownIssuer")
            && err.contains("give the CA that signed it with --ca-file, or --insecure"),
        "{err}"
    );
    let o = brokerbench(
        &[
            "run",
            "--target",
            "http://127.0.0.1:1/",
            "--receiver-listen",
            &listen,
            "--insecure",
        ],
        &out,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--ca-file and --insecure are for an https:// --target"),
        "{err}"
    );
}

/// `GET path` on loopback `port`: the answer's body.
fn get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    // Not up yet: nothing to read.
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// The value of the Prometheus sample `name{labels}` in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The sender (`--metrics-listen`), the receiver (its own port) and the
/// aggregator (every role) serve Prometheus text while a run goes on.
#[test]
fn every_role_serves_prometheus_metrics_during_a_run() {
    let out = scratch("metrics");
    let (agg, recv, metrics) = (free_port(), free_port(), free_port());
    let aggregator = aggregator(agg, &out, &["--pace", "200:5"]);
    let listen = format!("127.0.0.1:{recv}");
    let receiver = role("receiver", agg, &["--listen", &listen]);
    let target = format!("http://127.0.0.1:{recv}/");
    let metrics_listen = format!("127.0.0.1:{metrics}");
    let sender = role(
        "sender",
        agg,
        &["--target", &target, "--metrics-listen", &metrics_listen],
    );
    // Wait for the third second of the run: two complete seconds counted.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let s = r#"{role="sender",index="0"}"#;
    let r = r#"{role="receiver",index="0"}"#;
    let (sent_text, recv_text, agg_text) = loop {
        let sent_text = get(metrics, "/metrics");
        if sample(
            &sent_text,
            &format!("brokerbench_publish_latency_ms_count{s}"),
        )
        .unwrap_or(0.0)
            >= 400.0
        {
            break (sent_text, get(recv, "/metrics"), get(agg, "/metrics"));
        }
        assert!(std::time::Instant::now() < deadline, "{sent_text}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let sent = sample(&sent_text, &format!("brokerbench_sent_total{s}")).unwrap();
    assert!((400.0..=1000.0).contains(&sent), "{sent_text}");
    let timeout = r#"brokerbench_failed_total{role="sender",index="0",reason="timeout"}"#;
    assert_eq!(sample(&sent_text, timeout), Some(0.0), "{sent_text}");
    assert!(
        sample(&sent_text, &format!("brokerbench_in_flight{s}")).is_some(),
        "{sent_text}"
    );
    assert!(sent_text.contains("# TYPE brokerbench_publish_latency_ms histogram"));
    let inf = sample(
        &sent_text,
        r#"brokerbench_publish_latency_ms_bucket{role="sender",index="0",le="+Inf"}"#,
    )
    .unwrap();
    let le10 = sample(
        &sent_text,
        r#"brokerbench_publish_latency_ms_bucket{role="sender",index="0",le="10"}"#,
    )
    .unwrap();
    assert!(
        le10 <= inf && inf >= 400.0,
        "cumulative buckets: {sent_text}"
    );
    let delivered = sample(&recv_text, &format!("brokerbench_delivered_total{r}")).unwrap();
    assert!(delivered >= 400.0, "{recv_text}");
    assert!(
        sample(&recv_text, &format!("brokerbench_e2e_latency_ms_count{r}")).unwrap() >= 200.0,
        "{recv_text}"
    );
    assert!(
        sample(&recv_text, &format!("brokerbench_clock_offset_ms{r}")).is_some(),
        "a role on its own: {recv_text}"
    );
    // The aggregator has every role's.
    assert!(
        sample(&agg_text, &format!("brokerbench_sent_total{s}")).unwrap() >= 400.0,
        "{agg_text}"
    );
    assert!(
        sample(&agg_text, &format!("brokerbench_delivered_total{r}")).unwrap() >= 400.0,
        "{agg_text}"
    );
    for mut c in [sender, receiver, aggregator] {
        assert!(c.wait().unwrap().success());
    }
    let _ = std::fs::remove_dir_all(&out);
}

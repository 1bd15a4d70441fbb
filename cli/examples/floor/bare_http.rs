//! `http`: a bare hyper pair, with bare forwarders between them.

use crate::PAYLOAD;
use brokerbench_core::clock::unix_now_ns;
use brokerbench_core::conn::{self, Conn};
use brokerbench_core::cpu::ThreadCpu;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The header that carries an event's intended send time (unix ns).
const INTENDED: &str = "x-intended";

/// Latency samples in ns, shared by the tasks of one measurement.
type Samples = Arc<Mutex<Vec<u64>>>;

/// What `http` runs: `rate` events a second for `seconds`, through `hops`
/// forwarders, on `connections` connections per client.
#[derive(Debug, PartialEq)]
pub struct HttpOpts {
    pub rate: u64,
    pub seconds: u64,
    pub hops: usize,
    pub connections: usize,
}

/// Every event's latencies, in ns from its intended send time.
pub struct HttpFloor {
    pub lag: Vec<u64>,
    pub publish: Vec<u64>,
    pub e2e: Vec<u64>,
    /// Sender, receiver, then each forwarder.
    pub cpu_ns: Vec<u64>,
}

/// Starts the receiver, the forwarders and the sender, each on a thread of
/// its own, sends the schedule and collects the samples.
pub fn run(o: &HttpOpts) -> HttpFloor {
    let (e2e, cpu): (Samples, Vec<ThreadCpu>) = (
        Samples::default(),
        (0..o.hops + 2).map(|_| ThreadCpu::default()).collect(),
    );
    let mut next = serve(cpu[1].clone(), e2e.clone(), None, 0);
    for c in &cpu[2..] {
        next = serve(c.clone(), e2e.clone(), Some(next), o.connections);
    }
    let (lag, publish) = (Samples::default(), Samples::default());
    let (l, p, c, total, rate, connections) = (
        lag.clone(),
        publish.clone(),
        cpu[0].clone(),
        o.rate * o.seconds,
        o.rate,
        o.connections,
    );
    std::thread::spawn(move || {
        c.register_current();
        runtime().block_on(send(next, rate, total, connections, l, p));
        c.retire_current();
    })
    .join()
    .unwrap();
    // The last answers are in; give the last deliveries of the hops time to land.
    let deadline = Instant::now() + Duration::from_secs(2);
    while e2e.lock().unwrap().len() < total as usize && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let take = |s: &Samples| std::mem::take(&mut *s.lock().unwrap());
    HttpFloor {
        lag: take(&lag),
        publish: take(&publish),
        e2e: take(&e2e),
        cpu_ns: cpu.iter().map(ThreadCpu::total_ns).collect(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One keep-alive HTTP/1.1 connection, as the sender and the SUTs open them.
async fn connect(addr: SocketAddr) -> Conn {
    conn::connect(addr).await.expect("connect on loopback")
}

/// Posts `body` stamped with `intended` and reads the whole answer.
async fn post(c: &mut Conn, intended: u64, body: Bytes) {
    c.ready().await.unwrap();
    let req = http::Request::post("/")
        .header(INTENDED, intended)
        .body(Full::new(body))
        .unwrap();
    conn::exchange(c, req).await.unwrap();
}

/// The sender: `connections` workers fed by a spinning pacer on this runtime.
async fn send(
    to: SocketAddr,
    rate: u64,
    total: u64,
    connections: usize,
    lag: Samples,
    publish: Samples,
) {
    let (queue, jobs) = async_channel::unbounded::<u64>();
    let body = Bytes::from(vec![7u8; PAYLOAD]);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (mut c, jobs, body, lag, publish) = (
            connect(to).await,
            jobs.clone(),
            body.clone(),
            lag.clone(),
            publish.clone(),
        );
        workers.spawn(async move {
            while let Ok(intended) = jobs.recv().await {
                lag.lock()
                    .unwrap()
                    .push(unix_now_ns().saturating_sub(intended));
                post(&mut c, intended, body.clone()).await;
                publish
                    .lock()
                    .unwrap()
                    .push(unix_now_ns().saturating_sub(intended));
            }
        });
    }
    let (t0, gap) = (unix_now_ns() + 100_000_000, 1_000_000_000 / rate);
    let mut released = 0;
    while released < total {
        let due = (unix_now_ns().saturating_sub(t0) / gap + 1).min(total);
        while unix_now_ns() >= t0 && released < due {
            queue.try_send(t0 + released * gap).unwrap();
            released += 1;
        }
        tokio::task::yield_now().await;
    }
    drop(queue);
    workers.join_all().await;
}

/// A bare HTTP server on a thread of its own: records e2e, or, with `next`,
/// queues each event and forwards it on `connections` connections.
fn serve(cpu: ThreadCpu, e2e: Samples, next: Option<SocketAddr>, connections: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        cpu.register_current();
        runtime().block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let forward = match next {
                Some(to) => Some(forwarder(to, connections).await),
                None => None,
            };
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                stream.set_nodelay(true).unwrap();
                let (e2e, forward) = (e2e.clone(), forward.clone());
                let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let (e2e, forward) = (e2e.clone(), forward.clone());
                    async move {
                        let intended: u64 =
                            req.headers()[INTENDED].to_str().unwrap().parse().unwrap();
                        let body = req.into_body().collect().await?.to_bytes();
                        match forward {
                            Some(queue) => queue.try_send((intended, body)).unwrap(),
                            None => e2e
                                .lock()
                                .unwrap()
                                .push(unix_now_ns().saturating_sub(intended)),
                        }
                        let mut answer = http::Response::new(Full::new(Bytes::new()));
                        *answer.status_mut() = http::StatusCode::ACCEPTED;
                        Ok::<_, hyper::Error>(answer)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        })
    });
    addr
}

/// The delivery side of a forwarder: `connections` workers on one queue.
async fn forwarder(to: SocketAddr, connections: usize) -> async_channel::Sender<(u64, Bytes)> {
    let (queue, events) = async_channel::unbounded::<(u64, Bytes)>();
    for _ in 0..connections {
        let (mut c, events) = (connect(to).await, events.clone());
        tokio::spawn(async move {
            while let Ok((intended, body)) = events.recv().await {
                post(&mut c, intended, body).await;
            }
        });
    }
    queue
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_through_a_hop_measures_every_event() {
        let m = run(&HttpOpts {
            rate: 1000,
            seconds: 1,
            hops: 1,
            connections: 4,
        });
        assert_eq!(
            (m.lag.len(), m.publish.len(), m.e2e.len()),
            (1000, 1000, 1000)
        );
        assert_eq!(m.cpu_ns.len(), 3);
        assert!(m.cpu_ns.iter().all(|&ns| ns > 0), "{:?}", m.cpu_ns);
    }
}

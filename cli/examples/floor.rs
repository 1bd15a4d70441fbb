//! The machine's floor: how low latency can go on this host with nothing of
//! brokerbench in the path, so a target below it is known to be the
//! machine's and not the suite's.
//!
//! ```text
//! cargo run --release -p brokerbench --example floor -- gaps 30
//! cargo run --release -p brokerbench --example floor -- gaps 20 --fifo 1
//! cargo run --release -p brokerbench --example floor -- tcp 1000 30
//! cargo run --release -p brokerbench --example floor -- http 40000 10
//! cargo run --release -p brokerbench --example floor -- http 1000 30 --hops 1
//! ```
//!
//! - `gaps SECONDS`: one thread per CPU, pinned, reads the clock in a loop.
//!   Every gap between two reads is time it did not run: another thread, an
//!   interrupt, or the host taking the vCPU. `--fifo CPU` spins on that CPU
//!   alone as SCHED_FIFO 99, which no other thread of the guest preempts:
//!   what it still sees is interrupts and the host. It needs root and
//!   real-time throttling off (`echo -1 >
//!   /proc/sys/kernel/sched_rt_runtime_us`; put back 950000 after), or the
//!   throttle's pause of 50 ms a second would be the gap measured.
//! - `tcp RATE SECONDS`: 8 KiB messages on one loopback TCP connection with
//!   blocking sockets, sent by a spinning thread at their intended times and
//!   read by a blocking thread: no HTTP, no async runtime.
//! - `http RATE SECONDS [--hops N] [--connections N]`: what `run --sut
//!   direct` does, bare: a hyper 1 client with N keep-alive connections
//!   (default 64) fed by a pacer spinning on its runtime, a hyper server
//!   answering 202, and `--hops` bare in-memory forwarders between them
//!   (answer 202, queue, deliver on their own connections), each role on
//!   its own thread. No CloudEvents, no ledgers, no digests.
//!
//! Latencies are exact (every sample kept and sorted), from the intended
//! send time, in ms. Steal is the share of the run's CPU time that the
//! hypervisor took.

use brokerbench_core::clock::unix_now_ns;
use brokerbench_core::cpu::ThreadCpu;
use brokerbench_core::host::CpuTicks;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PAYLOAD: usize = 8192;
/// The header that carries an event's intended send time (unix ns).
const INTENDED: &str = "x-intended";

/// Latency samples in ns, shared by the tasks of one measurement.
type Samples = Arc<Mutex<Vec<u64>>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Ok(mode) => measure(mode),
        Err(e) => {
            eprintln!("floor: {e}");
            eprintln!("usage: floor gaps SECONDS [--fifo CPU] | tcp RATE SECONDS | http RATE SECONDS [--hops N] [--connections N]");
            std::process::exit(2);
        }
    }
}

/// What to measure, from the command line.
#[derive(Debug, PartialEq)]
enum Mode {
    Gaps(Duration, Spinners),
    Tcp { rate: u64, seconds: u64 },
    Http(HttpOpts),
}

fn parse(args: &[String]) -> Result<Mode, String> {
    let number = |i: usize, what: &str| -> Result<u64, String> {
        let a = args.get(i).ok_or(format!("missing {what}"))?;
        a.parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or(format!("bad {what} {a:?}: a whole number above 0"))
    };
    let options = args.get(3..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("gaps") => {
            let length = Duration::from_secs(number(1, "SECONDS")?);
            let spinners = match args.get(2).map(String::as_str) {
                None => Spinners::EveryCpu,
                Some("--fifo") => {
                    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
                    let cpu = args.get(3).and_then(|a| a.parse::<usize>().ok());
                    let cpu = cpu.filter(|c| *c < cpus);
                    Spinners::Fifo(cpu.ok_or(format!("--fifo needs a CPU number below {cpus}"))?)
                }
                Some(other) => return Err(format!("unknown option {other:?}")),
            };
            Ok(Mode::Gaps(length, spinners))
        }
        Some("tcp") => match options.first() {
            Some(other) => Err(format!("unknown option {other:?}")),
            None => Ok(Mode::Tcp {
                rate: number(1, "RATE")?,
                seconds: number(2, "SECONDS")?,
            }),
        },
        Some("http") => {
            let mut opts = HttpOpts {
                rate: number(1, "RATE")?,
                seconds: number(2, "SECONDS")?,
                hops: 0,
                connections: 64,
            };
            for pair in options.chunks(2) {
                let value = |what| {
                    pair.get(1)
                        .and_then(|v| v.parse::<usize>().ok())
                        .ok_or(format!("{what} needs a whole number"))
                };
                match pair[0].as_str() {
                    "--hops" => opts.hops = value("--hops")?,
                    "--connections" => opts.connections = value("--connections")?.max(1),
                    other => return Err(format!("unknown option {other:?}")),
                }
            }
            Ok(Mode::Http(opts))
        }
        Some(other) => Err(format!("unknown mode {other:?}")),
        None => Err("missing mode".to_string()),
    }
}

/// Runs `mode` and prints its figures and the run's steal.
fn measure(mode: Mode) {
    let started = CpuTicks::now();
    match mode {
        Mode::Gaps(length, spinners) => match gaps(length, spinners) {
            Ok(per_cpu) => {
                for (cpu, g) in per_cpu {
                    println!(
                        "cpu{cpu}: gaps over 0.5 ms {}, over 1 ms {}, over 2 ms {}, over 4 ms {}; longest {:.2} ms",
                        g.over[0], g.over[1], g.over[2], g.over[3], g.longest_ns as f64 / 1e6
                    );
                }
            }
            Err(e) => {
                eprintln!("floor: {e}");
                std::process::exit(2);
            }
        },
        Mode::Tcp { rate, seconds } => {
            let (mut lag, mut e2e) = tcp(rate, seconds);
            println!("tcp {rate}/s for {seconds} s, one connection, blocking sockets");
            println!("  lag  {}", summary(&mut lag));
            println!("  e2e  {}", summary(&mut e2e));
        }
        Mode::Http(opts) => {
            let mut m = http(&opts);
            println!(
                "http {}/s for {} s, {} connections, {} hop(s)",
                opts.rate, opts.seconds, opts.connections, opts.hops
            );
            println!("  lag      {}", summary(&mut m.lag));
            println!("  publish  {}", summary(&mut m.publish));
            println!("  e2e      {}", summary(&mut m.e2e));
            let per_event = |ns: u64| ns as f64 / (opts.rate * opts.seconds) as f64 / 1e3;
            let hops: Vec<String> = m.cpu_ns[2..]
                .iter()
                .map(|&c| format!("{:.1}", per_event(c)))
                .collect();
            println!(
                "  CPU µs per event: sender {:.1}, receiver {:.1}, forwarders [{}]",
                per_event(m.cpu_ns[0]),
                per_event(m.cpu_ns[1]),
                hops.join(", ")
            );
        }
    }
    if let (Some(a), Some(b)) = (started, CpuTicks::now()) {
        println!("  steal {:.1}%", b.steal_since(&a).unwrap_or(0.0) * 100.0);
    }
}

/// Exact percentiles of `ns`, in ms, and the count.
fn summary(ns: &mut [u64]) -> String {
    ns.sort_unstable();
    let at = |q: f64| {
        let rank = ((q * ns.len() as f64).ceil() as usize).clamp(1, ns.len().max(1));
        ns.get(rank - 1).map_or(f64::NAN, |&v| v as f64 / 1e6)
    };
    format!(
        "n={} p50={:.3} p99={:.3} p99.9={:.3} p99.99={:.3} max={:.3}",
        ns.len(),
        at(0.5),
        at(0.99),
        at(0.999),
        at(0.9999),
        at(1.0)
    )
}

/// How often one CPU's spinning thread was kept from running.
#[derive(Debug, Default)]
struct Gaps {
    /// Gaps over 0.5, 1, 2 and 4 ms.
    over: [u64; 4],
    longest_ns: u64,
}

/// Where `gaps` spins.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Spinners {
    /// A normal thread on each CPU.
    EveryCpu,
    /// One SCHED_FIFO 99 thread on this CPU.
    Fifo(usize),
}

fn gaps(length: Duration, spinners: Spinners) -> Result<Vec<(usize, Gaps)>, String> {
    let cpus: Vec<usize> = match spinners {
        Spinners::EveryCpu => {
            (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
        }
        Spinners::Fifo(cpu) => {
            let throttle =
                std::fs::read_to_string("/proc/sys/kernel/sched_rt_runtime_us").unwrap_or_default();
            if throttle.trim() != "-1" {
                return Err(format!(
                    "--fifo needs real-time throttling off (sched_rt_runtime_us is {}, not -1): \
                     echo -1 > /proc/sys/kernel/sched_rt_runtime_us, and put it back after",
                    throttle.trim()
                ));
            }
            vec![cpu]
        }
    };
    let fifo = matches!(spinners, Spinners::Fifo(_));
    let threads: Vec<_> = cpus
        .into_iter()
        .map(|cpu| {
            std::thread::spawn(move || {
                pin_to(cpu);
                if fifo {
                    real_time()?;
                }
                let (start, mut last, mut g) = (Instant::now(), Instant::now(), Gaps::default());
                while last - start < length {
                    let now = Instant::now();
                    let gap = (now - last).as_nanos() as u64;
                    for (n, limit) in g
                        .over
                        .iter_mut()
                        .zip([500_000, 1_000_000, 2_000_000, 4_000_000])
                    {
                        *n += (gap > limit) as u64;
                    }
                    g.longest_ns = g.longest_ns.max(gap);
                    last = now;
                }
                Ok((cpu, g))
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// Makes the calling thread SCHED_FIFO at the highest priority.
fn real_time() -> Result<(), String> {
    let param = libc::sched_param { sched_priority: 99 };
    // SAFETY: `param` is valid; pid 0 is the calling thread.
    match unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } {
        0 => Ok(()),
        _ => Err(format!(
            "SCHED_FIFO refused: {}",
            std::io::Error::last_os_error()
        )),
    }
}

fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; the call only changes this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Spins until `unix_ns`.
fn spin_until(unix_ns: u64) {
    while unix_now_ns() < unix_ns {
        std::hint::spin_loop();
    }
}

/// Returns (lag, e2e) samples of `rate` × `seconds` raw TCP messages.
fn tcp(rate: u64, seconds: u64) -> (Vec<u64>, Vec<u64>) {
    let total = rate * seconds;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_nodelay(true).unwrap();
        let (mut buf, mut e2e) = (vec![0u8; PAYLOAD], Vec::with_capacity(total as usize));
        for _ in 0..total {
            s.read_exact(&mut buf).unwrap();
            let intended = u64::from_le_bytes(buf[..8].try_into().unwrap());
            e2e.push(unix_now_ns().saturating_sub(intended));
            s.write_all(b"k").unwrap();
        }
        e2e
    });
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let (mut buf, mut ack, mut lag) = (
        vec![7u8; PAYLOAD],
        [0u8; 1],
        Vec::with_capacity(total as usize),
    );
    let (t0, gap) = (unix_now_ns() + 100_000_000, 1_000_000_000 / rate);
    for n in 0..total {
        let intended = t0 + n * gap;
        spin_until(intended);
        lag.push(unix_now_ns() - intended);
        buf[..8].copy_from_slice(&intended.to_le_bytes());
        s.write_all(&buf).unwrap();
        s.read_exact(&mut ack).unwrap();
    }
    (lag, reader.join().unwrap())
}

#[derive(Debug, PartialEq)]
struct HttpOpts {
    rate: u64,
    seconds: u64,
    hops: usize,
    connections: usize,
}

struct HttpFloor {
    lag: Vec<u64>,
    publish: Vec<u64>,
    e2e: Vec<u64>,
    /// Sender, receiver, then each forwarder.
    cpu_ns: Vec<u64>,
}

fn http(o: &HttpOpts) -> HttpFloor {
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

async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

/// Posts `body` stamped with `intended` and reads the whole answer.
async fn post(c: &mut SendRequest<Full<Bytes>>, intended: u64, body: Bytes) {
    c.ready().await.unwrap();
    let req = http::Request::post("/")
        .header(INTENDED, intended)
        .body(Full::new(body))
        .unwrap();
    let answer = c.send_request(req).await.unwrap();
    answer.into_body().collect().await.unwrap();
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
    fn summary_gives_exact_ranks() {
        let mut ns: Vec<u64> = (1..=10_000).rev().map(|i| i * 1_000_000).collect();
        assert_eq!(
            summary(&mut ns),
            "n=10000 p50=5000.000 p99=9900.000 p99.9=9990.000 p99.99=9999.000 max=10000.000"
        );
    }

    fn parsed(line: &str) -> Result<Mode, String> {
        parse(
            &line
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn parse_reads_each_mode() {
        assert_eq!(
            parsed("gaps 30"),
            Ok(Mode::Gaps(Duration::from_secs(30), Spinners::EveryCpu))
        );
        assert_eq!(
            parsed("gaps 20 --fifo 0"),
            Ok(Mode::Gaps(Duration::from_secs(20), Spinners::Fifo(0)))
        );
        assert_eq!(
            parsed("tcp 1000 30"),
            Ok(Mode::Tcp {
                rate: 1000,
                seconds: 30
            })
        );
        let http = HttpOpts {
            rate: 40_000,
            seconds: 10,
            hops: 0,
            connections: 64,
        };
        assert_eq!(parsed("http 40000 10"), Ok(Mode::Http(http)));
        let http = HttpOpts {
            rate: 1000,
            seconds: 30,
            hops: 2,
            connections: 8,
        };
        assert_eq!(
            parsed("http 1000 30 --hops 2 --connections 8"),
            Ok(Mode::Http(http))
        );
    }

    #[test]
    fn parse_names_what_is_wrong() {
        for (line, error) in [
            ("", "missing mode"),
            ("floods 1", "unknown mode \"floods\""),
            ("gaps", "missing SECONDS"),
            ("gaps 0", "bad SECONDS \"0\": a whole number above 0"),
            ("gaps 5 --fifo 4096", "--fifo needs a CPU number below"),
            ("gaps 5 --fast", "unknown option \"--fast\""),
            ("tcp 1000", "missing SECONDS"),
            ("tcp x 10", "bad RATE \"x\": a whole number above 0"),
            ("tcp 1000 10 --hops 1", "unknown option \"--hops\""),
            ("http 1000 10 --hops", "--hops needs a whole number"),
            (
                "http 1000 10 --connections many",
                "--connections needs a whole number",
            ),
            ("http 1000 10 --conns 4", "unknown option \"--conns\""),
        ] {
            let e = parsed(line).expect_err(line);
            assert!(e.starts_with(error), "{line:?}: {e}");
        }
    }

    #[test]
    fn tcp_measures_every_message() {
        let (lag, e2e) = tcp(2000, 1);
        assert_eq!((lag.len(), e2e.len()), (2000, 2000));
        assert!(e2e.iter().all(|&ns| ns < 10_000_000_000));
    }

    #[test]
    fn http_through_a_hop_delivers_every_event_once() {
        let m = http(&HttpOpts {
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

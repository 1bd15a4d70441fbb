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
//!   blocking sockets, written by a spinning thread at their intended times
//!   (it never waits for the reader) and read by a blocking thread: no
//!   HTTP, no async runtime.
//! - `http RATE SECONDS [--hops N] [--connections N]`: what `run --sut
//!   direct` does, bare: a hyper 1 client with N keep-alive connections
//!   (default 64) fed by a pacer spinning on its runtime, a hyper server
//!   answering 202, and `--hops` bare in-memory forwarders between them
//!   (answer 202, queue, deliver on their own connections), each role on
//!   its own thread. No CloudEvents, no ledgers, no digests: only hyper,
//!   on the suite's connection helper (`brokerbench_core::conn`).
//!
//! Latencies are exact (every sample kept and sorted), from the intended
//! send time, in ms. Steal is the share of the run's CPU time that the
//! hypervisor took.

mod bare_http;
mod gaps;
mod raw_tcp;

use bare_http::HttpOpts;
use brokerbench_core::host::CpuTicks;
use gaps::Spinners;
use std::time::Duration;

/// Bytes in each message or event.
const PAYLOAD: usize = 8192;

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
        Mode::Gaps(length, spinners) => match gaps::count(length, spinners) {
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
            let (mut lag, mut e2e) = raw_tcp::run(rate, seconds);
            println!("tcp {rate}/s for {seconds} s, one connection, blocking sockets");
            println!("  lag  {}", summary(&mut lag));
            println!("  e2e  {}", summary(&mut e2e));
        }
        Mode::Http(opts) => {
            let mut m = bare_http::run(&opts);
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
}

//! `tcp`: 8 KiB messages on one loopback connection with blocking sockets.
//! The sender never waits for the reader, so its lag is its own thread's.

use crate::PAYLOAD;
use brokerbench_core::clock::unix_now_ns;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

/// Spins until `unix_ns`.
fn spin_until(unix_ns: u64) {
    while unix_now_ns() < unix_ns {
        std::hint::spin_loop();
    }
}

/// Returns (lag, e2e) samples of `rate` × `seconds` raw TCP messages.
pub fn run(rate: u64, seconds: u64) -> (Vec<u64>, Vec<u64>) {
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
        }
        e2e
    });
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let (mut buf, mut lag) = (vec![7u8; PAYLOAD], Vec::with_capacity(total as usize));
    let (t0, gap) = (unix_now_ns() + 100_000_000, 1_000_000_000 / rate);
    for n in 0..total {
        let intended = t0 + n * gap;
        spin_until(intended);
        lag.push(unix_now_ns() - intended);
        buf[..8].copy_from_slice(&intended.to_le_bytes());
        s.write_all(&buf).unwrap();
    }
    (lag, reader.join().unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_measures_every_message() {
        let (lag, e2e) = run(2000, 1);
        assert_eq!((lag.len(), e2e.len()), (2000, 2000));
        assert!(e2e.iter().all(|&ns| ns < 10_000_000_000));
    }
}

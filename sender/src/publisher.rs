//! HTTP publishing: each worker owns one keep-alive connection and sends one
//! event at a time; the pool is the set of workers. An event waits in the
//! queue only for a free connection, and that wait shows as schedule lag.

use crate::config::{SenderError, SenderFaults};
use crate::encode::Encoder;
use crate::ledger::{Outcome, SenderLedger};
use crate::Job;
use brokerbench_core::clock::unix_now_ns;
use brokerbench_core::conn::{connect, Conn};
use brokerbench_core::wire::FailureReason;
use bytes::Bytes;
use http_body_util::Full;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The ledger and the in-flight count, shared by the pacer and the workers.
pub struct Books {
    pub ledger: Mutex<SenderLedger>,
    pub inflight: AtomicU64,
}

impl Books {
    pub fn new(ledger: SenderLedger) -> Self {
        Books {
            ledger: Mutex::new(ledger),
            inflight: AtomicU64::new(0),
        }
    }

    /// Records a finished event and frees its in-flight slot.
    pub fn finish(&self, job: &Job, sent: Option<u64>, outcome: Outcome) {
        self.ledger.lock().unwrap().record(job, sent, outcome);
        self.inflight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What every worker shares.
pub struct Publisher {
    pub encoder: Encoder,
    pub addr: SocketAddr,
    pub timeout: Duration,
    pub faults: SenderFaults,
    pub shutdown: CancellationToken,
}

/// Resolves a `host:port` once, before the run.
pub async fn resolve(url: &str, authority: &str) -> Result<SocketAddr, SenderError> {
    let mut addrs = tokio::net::lookup_host(authority)
        .await
        .map_err(|e| SenderError::Resolve {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
    addrs.next().ok_or_else(|| SenderError::Resolve {
        url: url.to_string(),
        reason: "no address".to_string(),
    })
}

impl Publisher {
    /// Sends jobs from `queue` until it is closed and empty.
    pub async fn work(
        &self,
        books: &Books,
        queue: async_channel::Receiver<Job>,
        mut conn: Option<Conn>,
    ) {
        while let Ok(job) = queue.recv().await {
            if self.shutdown.is_cancelled() {
                books.finish(&job, None, Outcome::Failed(FailureReason::Cancelled));
                continue;
            }
            let (sent, outcome) = self.exchange(&mut conn, &job).await;
            books.finish(&job, Some(sent), outcome);
        }
    }

    /// One request: returns when it actually left and what came of it.
    async fn exchange(&self, conn: &mut Option<Conn>, job: &Job) -> (u64, Outcome) {
        let ready = match conn {
            Some(c) => c.ready().await.is_ok(),
            None => false,
        };
        if !ready {
            *conn = tokio::time::timeout(self.timeout, connect(self.addr))
                .await
                .ok()
                .flatten();
        }
        let sent = unix_now_ns();
        let Some(c) = conn.as_mut() else {
            return (sent, Outcome::Failed(FailureReason::Connect));
        };
        let result = tokio::select! {
            r = tokio::time::timeout(self.timeout, send(c, self.encoder.request(job, sent))) => r,
            _ = self.shutdown.cancelled() => Ok(Err(None)),
        };
        let acked = unix_now_ns();
        let outcome = match result {
            Err(_) => Outcome::Failed(FailureReason::Timeout),
            Ok(Err(None)) => Outcome::Failed(FailureReason::Cancelled),
            Ok(Err(Some(_))) => Outcome::Failed(FailureReason::Transport),
            Ok(Ok(s)) if s.is_success() => Outcome::Accepted {
                acked_unix_ns: acked,
            },
            Ok(Ok(s)) if s.is_client_error() => Outcome::Failed(FailureReason::Status4xx),
            Ok(Ok(s)) if s.is_server_error() => Outcome::Failed(FailureReason::Status5xx),
            Ok(Ok(_)) => Outcome::Failed(FailureReason::StatusOther),
        };
        if let (Outcome::Accepted { .. }, Some(n)) = (outcome, self.faults.duplicate_every) {
            if (job.seq + 1).is_multiple_of(n) && c.ready().await.is_ok() {
                let _ = send(c, self.encoder.request(job, sent)).await;
            }
        }
        if result.map_or(true, |r| r.is_err()) {
            // Timed out, broken or cancelled mid-exchange: the connection is unusable.
            *conn = None;
        }
        (sent, outcome)
    }
}

/// Sends a request and reads the whole answer (so the connection can be reused).
async fn send(
    c: &mut Conn,
    req: http::Request<Full<Bytes>>,
) -> Result<http::StatusCode, Option<hyper::Error>> {
    brokerbench_core::conn::exchange(c, req)
        .await
        .map(|r| r.status())
        .map_err(Some)
}

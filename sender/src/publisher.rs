//! HTTP publishing: a pool of workers, each owning one keep-alive
//! connection and sending one event at a time. The pool starts with
//! `--connections`; whenever an event is queued while every worker is busy
//! (a SUT holding its answers), it opens another, up to `--max-connections`,
//! so the SUT keeps seeing the planned load. Past that, events wait for a
//! free connection (connection wait) or, at the in-flight bound, fail as
//! `inflight_limit`. Nothing ever slows the pacer.

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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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

    /// Takes an in-flight slot for `job`, or records it failed at the
    /// bound (never sent). Returns whether it may go on.
    pub fn admit(&self, job: &Job, max_inflight: u64) -> bool {
        if self.inflight.load(Ordering::Acquire) >= max_inflight {
            let reason = Outcome::Failed(FailureReason::InflightLimit);
            self.ledger.lock().unwrap().record(job, None, reason);
            return false;
        }
        self.inflight.fetch_add(1, Ordering::AcqRel);
        true
    }
}

/// What every worker shares.
pub struct Publisher {
    pub encoder: Encoder,
    pub addr: SocketAddr,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub faults: SenderFaults,
    /// The run was interrupted: stop, failing what is left as `cancelled`.
    pub shutdown: CancellationToken,
    /// The bounded drain after the schedule is over: events not sent by
    /// now fail as `cancelled`.
    pub drain_over: CancellationToken,
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

/// Why a connection is not there.
enum NoConn {
    /// It could not be opened (refused, unreachable, or not within the
    /// connect timeout).
    Failed,
    /// The run or its drain ended while it was being opened.
    Stopped,
}

impl Publisher {
    /// Opens a connection within the connect timeout and counts it.
    async fn open(&self, books: &Books, workers: &Workers) -> Result<Conn, NoConn> {
        let opening = tokio::time::timeout(self.connect_timeout, connect(self.addr));
        let conn = tokio::select! {
            c = opening => c.ok().flatten().ok_or(NoConn::Failed)?,
            _ = self.shutdown.cancelled() => return Err(NoConn::Stopped),
            _ = self.drain_over.cancelled() => return Err(NoConn::Stopped),
        };
        let open = workers.connected.fetch_add(1, Ordering::AcqRel) as u64 + 1;
        books
            .ledger
            .lock()
            .unwrap()
            .connection_opened(unix_now_ns(), open);
        Ok(conn)
    }

    /// One request: when it actually left (None: it never did) and what
    /// came of it.
    async fn exchange(
        &self,
        conn: &mut Option<Conn>,
        job: &Job,
        books: &Books,
        workers: &Workers,
    ) -> (Option<u64>, Outcome) {
        let ready = match conn {
            Some(c) => c.ready().await.is_ok(),
            None => false,
        };
        if !ready {
            if conn.take().is_some() {
                workers.connected.fetch_sub(1, Ordering::AcqRel);
            }
            match self.open(books, workers).await {
                Ok(c) => *conn = Some(c),
                Err(NoConn::Failed) => return (None, Outcome::Failed(FailureReason::Connect)),
                Err(NoConn::Stopped) => return (None, Outcome::Failed(FailureReason::Cancelled)),
            }
        }
        let c = conn.as_mut().expect("opened above");
        let sent = unix_now_ns();
        let result = tokio::select! {
            r = tokio::time::timeout(self.request_timeout, send(c, self.encoder.request(job, sent))) => r,
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
            workers.connected.fetch_sub(1, Ordering::AcqRel);
        }
        (Some(sent), outcome)
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

/// The workers' shared state: the queue they take events from and how
/// many of them there are.
struct Workers {
    publisher: Arc<Publisher>,
    books: Arc<Books>,
    jobs: async_channel::Receiver<Job>,
    /// Workers waiting for an event.
    idle: AtomicUsize,
    /// Workers alive (the pool's size).
    alive: AtomicUsize,
    /// Connections open.
    connected: AtomicUsize,
    max: usize,
    runtime: tokio::runtime::Handle,
    tracker: TaskTracker,
}

impl Workers {
    /// Starts a worker on `conn` (one of the initial connections), or one
    /// that opens its own.
    fn spawn(self: &Arc<Self>, conn: Option<Conn>) {
        self.alive.fetch_add(1, Ordering::AcqRel);
        let w = self.clone();
        self.tracker
            .spawn_on(async move { w.work(conn).await }, &self.runtime);
    }

    /// Sends events from the queue until it is closed and empty.
    async fn work(&self, mut conn: Option<Conn>) {
        let p = &self.publisher;
        if conn.is_none() {
            conn = p.open(&self.books, self).await.ok();
        }
        loop {
            self.idle.fetch_add(1, Ordering::AcqRel);
            let job = self.jobs.recv().await;
            self.idle.fetch_sub(1, Ordering::AcqRel);
            let Ok(job) = job else { break };
            if p.shutdown.is_cancelled() || p.drain_over.is_cancelled() {
                let cancelled = Outcome::Failed(FailureReason::Cancelled);
                self.books.finish(&job, None, cancelled);
                continue;
            }
            let (sent, outcome) = p.exchange(&mut conn, &job, &self.books, self).await;
            self.books.finish(&job, sent, outcome);
        }
        if conn.is_some() {
            self.connected.fetch_sub(1, Ordering::AcqRel);
        }
        self.alive.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The pool as the pacer sees it: [`Pool::release`] queues an event and
/// grows the pool when no worker is free. Dropping it closes the queue;
/// the workers finish what is queued (bounded by the drain) and stop.
pub struct Pool {
    queue: async_channel::Sender<Job>,
    workers: Arc<Workers>,
    max_inflight: u64,
}

impl Pool {
    /// A pool of one worker per connection in `conns`, growing up to
    /// `max_connections`, on the current runtime.
    pub fn new(
        publisher: Arc<Publisher>,
        books: Arc<Books>,
        conns: Vec<Conn>,
        max_connections: usize,
        max_inflight: u64,
    ) -> Self {
        let (queue, jobs) = async_channel::unbounded();
        let workers = Arc::new(Workers {
            publisher,
            books,
            jobs,
            idle: AtomicUsize::new(0),
            alive: AtomicUsize::new(0),
            connected: AtomicUsize::new(conns.len()),
            max: max_connections.max(conns.len()),
            runtime: tokio::runtime::Handle::current(),
            tracker: TaskTracker::new(),
        });
        for conn in conns {
            workers.spawn(Some(conn));
        }
        Pool {
            queue,
            workers,
            max_inflight,
        }
    }

    /// A pool without connections whose queue `consume` empties (the
    /// Kafka producer).
    pub fn consumed_by<F>(
        books: Arc<Books>,
        publisher: Arc<Publisher>,
        max_inflight: u64,
        consume: impl FnOnce(async_channel::Receiver<Job>) -> F,
    ) -> Self
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let pool = Pool::new(publisher, books, Vec::new(), 0, max_inflight);
        let task = consume(pool.workers.jobs.clone());
        pool.workers.tracker.spawn_on(task, &pool.workers.runtime);
        pool
    }

    /// What the pacer does with a due event: stamps its release, and
    /// queues it for a connection, or counts it failed at the in-flight
    /// bound. Opens another connection when the queue outgrows the free
    /// workers. Never waits.
    pub fn release(&self, mut job: Job) {
        job.released_unix_ns = unix_now_ns();
        let w = &self.workers;
        if !w.books.admit(&job, self.max_inflight) {
            return;
        }
        if let Err(e) = self.queue.try_send(job) {
            // No worker can take it any more: it never leaves.
            let cancelled = Outcome::Failed(FailureReason::Cancelled);
            w.books.finish(&e.into_inner(), None, cancelled);
            return;
        }
        if self.queue.len() > w.idle.load(Ordering::Acquire)
            && w.alive.load(Ordering::Acquire) < w.max
        {
            w.spawn(None);
        }
    }

    /// Closes the queue and returns what to wait on for the workers to
    /// finish.
    pub fn close(self) -> TaskTracker {
        let tracker = self.workers.tracker.clone();
        tracker.close();
        tracker
    }

    /// Workers alive now (tests).
    pub fn size(&self) -> usize {
        self.workers.alive.load(Ordering::Acquire)
    }
}

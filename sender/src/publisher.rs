//! HTTP publishing: a pool of workers, each owning one keep-alive
//! connection and sending one event at a time. The pool starts with
//! `--connections`; when events queue because the SUT is slow to answer
//! (it holds its answers), it opens what the offered rate needs, up to
//! `--max-connections`, so the SUT keeps seeing the planned load (see
//! `Workers::grow`). Past that, events wait for a free connection
//! (connection wait) or, at the in-flight bound, fail as `inflight_limit`.
//! Nothing ever slows the pacer.

use crate::config::{SenderError, SenderFaults};
use crate::encode::Encoder;
use crate::ledger::{Outcome, SenderLedger};
use crate::pacer::Job;
use brokerbench_core::clock::unix_now_ns;
use brokerbench_core::conn::Conn;
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
pub struct SharedLedger {
    pub ledger: Mutex<SenderLedger>,
    pub inflight: AtomicU64,
}

impl SharedLedger {
    pub fn new(ledger: SenderLedger) -> Self {
        SharedLedger {
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
    /// How connections open (TLS for an `https://` target).
    pub dialer: crate::tls::Dialer,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub faults: SenderFaults,
    /// The run was interrupted: stop, failing what has not left as
    /// `cancelled` (what is on the wire gets its answer).
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
    async fn open(&self, shared: &SharedLedger, workers: &Workers) -> Result<Conn, NoConn> {
        let opening = tokio::time::timeout(self.connect_timeout, self.dialer.dial(self.addr));
        let conn = tokio::select! {
            c = opening => c.ok().and_then(Result::ok).ok_or(NoConn::Failed)?,
            _ = self.shutdown.cancelled() => return Err(NoConn::Stopped),
            _ = self.drain_over.cancelled() => return Err(NoConn::Stopped),
        };
        let open = workers.connected.fetch_add(1, Ordering::AcqRel) as u64 + 1;
        shared
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
        shared: &SharedLedger,
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
            match self.open(shared, workers).await {
                Ok(c) => *conn = Some(c),
                Err(NoConn::Failed) => return (None, Outcome::Failed(FailureReason::Connect)),
                Err(NoConn::Stopped) => return (None, Outcome::Failed(FailureReason::Cancelled)),
            }
        }
        let c = conn.as_mut().expect("opened above");
        let sent = unix_now_ns();
        // Not cut short by an interrupt: an event on the wire may reach the
        // receiver, so its answer is awaited (within the request timeout)
        // and the accounting stays exact.
        let result = tokio::time::timeout(
            self.request_timeout,
            send(c, self.encoder.request(job, sent)),
        )
        .await;
        let acked = unix_now_ns();
        let outcome = match result {
            Err(_) => Outcome::Failed(FailureReason::Timeout),
            Ok(Err(_)) => Outcome::Failed(FailureReason::Transport),
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
) -> Result<http::StatusCode, hyper::Error> {
    brokerbench_core::conn::exchange(c, req)
        .await
        .map(|r| r.status())
}

/// How often the pool looks at its queue to decide whether to grow.
const GROW_TICK: Duration = Duration::from_millis(5);
/// No exchange finishing for this long while events queue, or answers
/// taking this long on average: the SUT holds its answers. Shorter waits
/// are the sender's own machine being busy (a VM's scheduling gaps, the
/// receiver on the same cores), which more connections would not cure:
/// they would cost it CPU, and every answer would come later still.
const SLOW: Duration = Duration::from_millis(20);
/// Connections kept beyond what rate × answer time needs.
const HEADROOM: f64 = 1.25;

/// The workers' shared state: the queue they take events from, how many
/// of them there are, and what the pool needs to know to grow.
struct Workers {
    publisher: Arc<Publisher>,
    shared: Arc<SharedLedger>,
    jobs: async_channel::Receiver<Job>,
    /// Workers waiting for an event.
    idle: AtomicUsize,
    /// Workers alive (the pool's size).
    alive: AtomicUsize,
    /// Connections open.
    connected: AtomicUsize,
    /// Events released so far (the offered rate).
    released: AtomicU64,
    /// Exchanges finished so far (the pool's progress).
    finished: AtomicU64,
    /// Moving average of how long the target takes to answer, ns.
    answer_ns: AtomicU64,
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
            conn = p.open(&self.shared, self).await.ok();
        }
        loop {
            self.idle.fetch_add(1, Ordering::AcqRel);
            let job = self.jobs.recv().await;
            self.idle.fetch_sub(1, Ordering::AcqRel);
            let Ok(job) = job else { break };
            if p.shutdown.is_cancelled() || p.drain_over.is_cancelled() {
                let cancelled = Outcome::Failed(FailureReason::Cancelled);
                self.shared.finish(&job, None, cancelled);
                continue;
            }
            let (sent, outcome) = p.exchange(&mut conn, &job, &self.shared, self).await;
            if let (Some(sent), Outcome::Accepted { acked_unix_ns }) = (sent, outcome) {
                // An average over about the last 16 answers.
                let took = acked_unix_ns.saturating_sub(sent);
                let avg = self.answer_ns.load(Ordering::Relaxed);
                self.answer_ns
                    .store(avg - avg / 16 + took / 16, Ordering::Relaxed);
            }
            self.finished.fetch_add(1, Ordering::Release);
            self.shared.finish(&job, sent, outcome);
        }
        if conn.is_some() {
            self.connected.fetch_sub(1, Ordering::AcqRel);
        }
        self.alive.fetch_sub(1, Ordering::AcqRel);
    }

    /// Grows the pool while it lives: every [`GROW_TICK`], when events
    /// queue with no worker free and the SUT is [`SLOW`] to answer, it opens
    /// what the load needs:
    /// - no exchange finished for that long (the SUT holds every answer):
    ///   a connection for every queued event, so the SUT keeps being
    ///   offered the planned load;
    /// - answers come, but that slowly on average: what the offered rate
    ///   needs by Little's law (rate × answer time, with [`HEADROOM`]).
    async fn grow(self: Arc<Self>, closed: CancellationToken) {
        let mut tick = tokio::time::interval(GROW_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut released, mut finished) = (0, 0);
        let mut progress = tokio::time::Instant::now();
        let mut rate_per_ns = 0.0;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = closed.cancelled() => return,
            }
            let now = tokio::time::Instant::now();
            let r = self.released.load(Ordering::Acquire);
            let recent = (r - released) as f64 / GROW_TICK.as_nanos() as f64;
            rate_per_ns += (recent - rate_per_ns) / 8.0;
            released = r;
            let f = self.finished.load(Ordering::Acquire);
            if f != finished {
                (finished, progress) = (f, now);
            }
            let backlog = self
                .jobs
                .len()
                .saturating_sub(self.idle.load(Ordering::Acquire));
            let alive = self.alive.load(Ordering::Acquire);
            if backlog == 0 || alive >= self.max {
                continue;
            }
            let answer_ns = self.answer_ns.load(Ordering::Relaxed) as f64;
            let want = if now - progress >= SLOW {
                alive + backlog
            } else if answer_ns >= SLOW.as_nanos() as f64 {
                (rate_per_ns * answer_ns * HEADROOM).ceil() as usize
            } else {
                continue;
            };
            for _ in alive..want.min(self.max) {
                self.spawn(None);
            }
        }
    }
}

/// The pool as the pacer sees it: [`Pool::release`] queues an event; the
/// pool grows on its own (see `Workers::grow`). Dropping it closes the
/// queue; the workers finish what is queued (bounded by the drain) and
/// stop.
pub struct Pool {
    queue: async_channel::Sender<Job>,
    workers: Arc<Workers>,
    max_inflight: u64,
    closed: CancellationToken,
}

impl Pool {
    /// A pool of one worker per connection in `conns`, growing up to
    /// `max_connections`, on the current runtime.
    pub fn new(
        publisher: Arc<Publisher>,
        shared: Arc<SharedLedger>,
        conns: Vec<Conn>,
        max_connections: usize,
        max_inflight: u64,
    ) -> Self {
        let (queue, jobs) = async_channel::unbounded();
        let workers = Arc::new(Workers {
            publisher,
            shared,
            jobs,
            idle: AtomicUsize::new(0),
            alive: AtomicUsize::new(0),
            connected: AtomicUsize::new(conns.len()),
            released: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            answer_ns: AtomicU64::new(0),
            max: max_connections.max(conns.len()),
            runtime: tokio::runtime::Handle::current(),
            tracker: TaskTracker::new(),
        });
        for conn in conns {
            workers.spawn(Some(conn));
        }
        let closed = CancellationToken::new();
        if workers.max > workers.alive.load(Ordering::Acquire) {
            tokio::spawn(workers.clone().grow(closed.clone()));
        }
        Pool {
            queue,
            workers,
            max_inflight,
            closed,
        }
    }

    /// A pool without connections whose queue `consume` empties (the
    /// Kafka producer).
    pub fn consumed_by<F>(
        shared: Arc<SharedLedger>,
        publisher: Arc<Publisher>,
        max_inflight: u64,
        consume: impl FnOnce(async_channel::Receiver<Job>) -> F,
    ) -> Self
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let pool = Pool::new(publisher, shared, Vec::new(), 0, max_inflight);
        let task = consume(pool.workers.jobs.clone());
        pool.workers.tracker.spawn_on(task, &pool.workers.runtime);
        pool
    }

    /// What the pacer does with a due event: stamps its release, and
    /// queues it for a connection, or counts it failed at the in-flight
    /// bound. Never waits.
    pub fn release(&self, mut job: Job) {
        job.released_unix_ns = unix_now_ns();
        let w = &self.workers;
        if !w.shared.admit(&job, self.max_inflight) {
            return;
        }
        w.released.fetch_add(1, Ordering::Release);
        if let Err(e) = self.queue.try_send(job) {
            // No worker can take it any more: it never leaves.
            let cancelled = Outcome::Failed(FailureReason::Cancelled);
            w.shared.finish(&e.into_inner(), None, cancelled);
        }
    }

    /// Closes the queue and returns what to wait on for the workers to
    /// finish.
    pub fn close(self) -> TaskTracker {
        self.closed.cancel();
        let tracker = self.workers.tracker.clone();
        tracker.close();
        tracker
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brokerbench_core::plan::RunPlan;

    /// A queue no worker can take from any more (closed) still accounts
    /// for what the pacer releases: each event fails as `cancelled`,
    /// never sent, and its in-flight slot is freed.
    #[tokio::test]
    async fn an_event_released_with_no_worker_left_fails_cancelled() {
        let plan = RunPlan::fixture("10:1");
        let shared = Arc::new(SharedLedger::new(SenderLedger::new(&plan, 0)));
        let publisher = Arc::new(Publisher {
            encoder: Encoder::new(Default::default(), &plan, 0, "127.0.0.1:9", "/").unwrap(),
            addr: "127.0.0.1:9".parse().unwrap(),
            dialer: crate::tls::Dialer::Plain,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            faults: SenderFaults::default(),
            shutdown: CancellationToken::new(),
            drain_over: CancellationToken::new(),
        });
        let pool = Pool::new(publisher, shared.clone(), Vec::new(), 0, 100);
        pool.queue.close();
        for seq in 0..10 {
            let intended_unix_ns = plan.intended_unix_ns(0, seq).unwrap();
            pool.release(Job {
                seq,
                intended_unix_ns,
                released_unix_ns: 0,
                warmup: false,
            });
        }
        assert_eq!(shared.inflight.load(Ordering::Acquire), 0);
        drop(pool);
        let Ok(shared) = Arc::try_unwrap(shared) else {
            panic!("the pool still holds the ledger")
        };
        let report = shared.ledger.into_inner().unwrap().into_report(0, 0, false);
        assert_eq!(report.released, 10);
        assert_eq!(report.failed.cancelled, 10, "{:?}", report.failed);
        assert_eq!(report.failed.total(), 10);
        assert_eq!(report.accepted.count(), 0);
        let unsent: u64 = report.seconds.iter().map(|s| s.unsent).sum();
        assert_eq!(unsent, 10, "none left");
    }
}

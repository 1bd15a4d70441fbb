//! The in-memory channel and broker: an HTTP ingress that admits each event
//! into a bounded store (503 when full) and queues it for every matching
//! route; dispatchers deliver; a broker takes its subscribers' reply events
//! back in, one hop fewer each time.

use crate::config::{ImcConfig, Routing};
use crate::counters::{bump, control, Counters};
use crate::dispatch::{Admitted, Dispatcher, Replies, ReplyRefused};
use crate::event::Envelope;
use crate::ingress::{full, read_event, text, until_empty};
use crate::running::Running;
use crate::spec::Sut;
use brokerbench_core::cpu::ThreadCpu;
use brokerbench_core::wire::SutCounters;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why an event was not taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The store is full.
    Full,
    /// A reply past the broker's hop limit.
    HopLimit,
}

/// The data plane's shared state.
pub struct Plane {
    sut: Sut,
    capacity: usize,
    max_event_bytes: usize,
    slots: Arc<Semaphore>,
    routes: Vec<Arc<Dispatcher>>,
    pub counters: Arc<Counters>,
    cpu: ThreadCpu,
    stopping: AtomicBool,
}

impl Plane {
    /// Events inside the SUT now.
    pub fn queued(&self) -> u64 {
        (self.capacity - self.slots.available_permits()) as u64
    }

    /// The counters now.
    pub fn counters(&self) -> SutCounters {
        self.counters.snapshot(self.queued(), self.cpu.total_ns())
    }

    /// Admits an event and queues it for every matching route.
    pub fn ingest(&self, event: Envelope) -> Result<(), Refused> {
        let slot = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Full)?;
        let admitted = Admitted::new(event, slot);
        let mut routed = 0;
        for d in &self.routes {
            if d.route.filter.matches(&admitted.event) {
                d.push(admitted.clone());
                routed += 1;
            }
        }
        self.counters.routed.fetch_add(routed, Ordering::Relaxed);
        bump(&self.counters.accepted);
        Ok(())
    }

    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let ready = !self.stopping.load(Ordering::Relaxed);
        if let Some(r) = control(
            req.method(),
            req.uri().path(),
            self.sut.spec().name,
            ready,
            || self.counters(),
        ) {
            return r;
        }
        if let Some(r) = self.counters.faults.control(&req) {
            return r;
        }
        if req.method() != Method::POST {
            return text(
                StatusCode::METHOD_NOT_ALLOWED,
                "POST a CloudEvent; GET /healthz, /readyz, /metrics or /v1/counters\n",
            );
        }
        let event = match read_event(req, self.max_event_bytes, &self.counters).await {
            Ok(e) => e,
            Err(refused) => return refused,
        };
        if let Some(injected) = self.counters.faults.before(&self.counters.faulted).await {
            return injected;
        }
        match self.ingest(event) {
            Ok(()) => text(StatusCode::ACCEPTED, Bytes::new()),
            Err(_) => full(&self.counters, "queue full\n"),
        }
    }
}

/// Dispatchers reach the plane weakly: it owns them.
impl Replies for std::sync::Weak<Plane> {
    fn reply(&self, answer: &Response<Bytes>, to: &Envelope) -> Result<(), ReplyRefused> {
        self.upgrade().ok_or(ReplyRefused)?.take_reply(answer, to)
    }
}

impl Plane {
    fn take_reply(&self, answer: &Response<Bytes>, to: &Envelope) -> Result<(), ReplyRefused> {
        let Some(event) = to.reply_in(answer) else {
            return Ok(());
        };
        self.ingest(event).map_err(|_| ReplyRefused)?;
        bump(&self.counters.replies);
        Ok(())
    }
}

impl crate::running::DataPlane for Plane {
    fn counters(&self) -> SutCounters {
        Plane::counters(self)
    }
    fn ready(&self) -> bool {
        !self.stopping.load(Ordering::Relaxed)
    }
}

impl brokerbench_core::serve::Handler for Plane {
    fn answer(
        &self,
        req: Request<Incoming>,
    ) -> impl std::future::Future<Output = Response<Full<Bytes>>> + Send {
        Plane::answer(self, req)
    }
}

/// Starts the data plane on `listener` (dispatchers first, so it is ready
/// when it accepts). On `shutdown` it stops taking events, gives what is
/// queued `config.grace` to be delivered, drops the rest, and ends with its
/// final counters (`routed = delivered + dead_lettered + dropped`).
pub fn start(
    config: ImcConfig,
    listener: TcpListener,
    cpu: ThreadCpu,
    shutdown: CancellationToken,
) -> Running<Plane> {
    let stop_workers = CancellationToken::new();
    let counters = Arc::new(Counters::with_fault_token(config.fault_token.clone()));
    // The dispatchers reach a broker's plane weakly, for replies: it owns them.
    let plane = Arc::new_cyclic(|weak: &std::sync::Weak<Plane>| {
        let replies: Option<Arc<dyn Replies>> = match config.routing() {
            Routing::Broker => Some(Arc::new(weak.clone())),
            Routing::Channel => None,
        };
        Plane {
            sut: config.sut,
            capacity: config.capacity,
            max_event_bytes: config.max_event_bytes,
            slots: Arc::new(Semaphore::new(config.capacity)),
            routes: config
                .routes
                .iter()
                .map(|r| {
                    Dispatcher::new(
                        r.clone(),
                        counters.clone(),
                        replies.clone(),
                        stop_workers.clone(),
                    )
                })
                .collect(),
            counters: counters.clone(),
            cpu,
            stopping: AtomicBool::new(false),
        }
    });
    let workers = TaskTracker::new();
    for d in &plane.routes {
        for _ in 0..config.connections {
            workers.spawn(d.clone().work());
        }
    }
    workers.close();
    let p = plane.clone();
    let done = tokio::spawn(async move {
        brokerbench_core::serve::serve(p.clone(), listener, shutdown, Duration::from_secs(1)).await;
        p.stopping.store(true, Ordering::Relaxed);
        until_empty(|| p.queued(), config.grace).await;
        stop_workers.cancel();
        workers.wait().await;
        for d in &p.routes {
            d.drop_queued();
        }
        // Retry and dead-letter tasks see the stop and count their drops.
        until_empty(|| p.queued(), Duration::from_secs(1)).await;
        p.counters()
    });
    Running { plane, done }
}

//! The in-memory channel and broker: an HTTP ingress that admits each event
//! into a bounded store (503 when full) and queues it for every matching
//! route; dispatchers deliver; a broker takes its subscribers' reply events
//! back in, one hop fewer each time.

use crate::config::{ImcConfig, Kind};
use crate::counters::{bump, control, Counters};
use crate::dispatch::{Admitted, Dispatcher, Replies, ReplyRefused};
use crate::event::{Envelope, NotAnEvent};
use brokerbench_core::cpu::ThreadCpu;
use brokerbench_core::wire::SutCounters;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
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
    kind: Kind,
    capacity: usize,
    max_event_bytes: usize,
    slots: Arc<Semaphore>,
    routes: OnceLock<Vec<Arc<Dispatcher>>>,
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
        for d in self.routes.get().into_iter().flatten() {
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
            self.kind.name(),
            ready,
            || self.counters(),
        ) {
            return r;
        }
        if req.method() != Method::POST {
            return text(
                StatusCode::METHOD_NOT_ALLOWED,
                "POST a CloudEvent; GET /healthz, /readyz, /metrics or /v1/counters\n".into(),
            );
        }
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, self.max_event_bytes).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                bump(&self.counters.rejected);
                return text(StatusCode::PAYLOAD_TOO_LARGE, "event too large\n".into());
            }
        };
        let event = match Envelope::parse(&parts.headers, body) {
            Ok(e) => e,
            Err(e) => {
                bump(&self.counters.rejected);
                let status = match e {
                    NotAnEvent::Batch => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    _ => StatusCode::BAD_REQUEST,
                };
                return text(status, format!("{e}\n").into());
            }
        };
        match self.ingest(event) {
            Ok(()) => text(StatusCode::ACCEPTED, Bytes::new()),
            Err(_) => {
                bump(&self.counters.backpressured);
                let mut r = text(StatusCode::SERVICE_UNAVAILABLE, "queue full\n".into());
                r.headers_mut()
                    .insert(http::header::RETRY_AFTER, http::HeaderValue::from(1));
                r
            }
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
        let Ok(mut event) = Envelope::parse(answer.headers(), answer.body().clone()) else {
            return Ok(()); // No event in the answer: nothing to take in.
        };
        if to.ttl <= 1 {
            return Ok(()); // Hop limit: the reply is not taken in (Knative drops it too).
        }
        event.ttl = to.ttl - 1;
        self.ingest(event).map_err(|_| ReplyRefused)?;
        bump(&self.counters.replies);
        Ok(())
    }
}

struct Ingress(Arc<Plane>);

impl brokerbench_core::serve::Handler for Ingress {
    fn answer(
        &self,
        req: Request<Incoming>,
    ) -> impl std::future::Future<Output = Response<Full<Bytes>>> + Send {
        self.0.answer(req)
    }
}

fn text(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r
}

/// A running data plane: its state, and how to wait for its end.
pub struct Running {
    pub plane: Arc<Plane>,
    pub done: tokio::task::JoinHandle<SutCounters>,
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
) -> Running {
    let plane = Arc::new(Plane {
        kind: config.kind,
        capacity: config.capacity,
        max_event_bytes: config.max_event_bytes,
        slots: Arc::new(Semaphore::new(config.capacity)),
        routes: OnceLock::new(),
        counters: Arc::default(),
        cpu,
        stopping: AtomicBool::new(false),
    });
    let stop_workers = CancellationToken::new();
    let replies: Option<Arc<dyn Replies>> = match config.kind {
        Kind::Broker => Some(Arc::new(Arc::downgrade(&plane))),
        Kind::Channel => None,
    };
    let routes: Vec<_> = config
        .routes
        .iter()
        .map(|r| {
            Dispatcher::new(
                r.clone(),
                plane.counters.clone(),
                replies.clone(),
                stop_workers.clone(),
            )
        })
        .collect();
    let workers = TaskTracker::new();
    for d in &routes {
        for _ in 0..config.connections {
            workers.spawn(d.clone().work());
        }
    }
    workers.close();
    let _ = plane.routes.set(routes);
    let p = plane.clone();
    let done = tokio::spawn(async move {
        let ingress = Arc::new(Ingress(p.clone()));
        brokerbench_core::serve::serve(ingress, listener, shutdown, Duration::from_secs(1)).await;
        p.stopping.store(true, Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + config.grace;
        while p.queued() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop_workers.cancel();
        workers.wait().await;
        for d in p.routes.get().into_iter().flatten() {
            d.drop_queued();
        }
        // Retry and dead-letter tasks see the stop and count their drops.
        let settle = tokio::time::Instant::now() + Duration::from_secs(1);
        while p.queued() > 0 && tokio::time::Instant::now() < settle {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        p.counters()
    });
    Running { plane, done }
}

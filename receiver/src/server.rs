//! The HTTP CloudEvents sink: reads each event's identity (from its
//! headers on the fast path, with the SDK otherwise and on a sample: see
//! `fast`), checks it belongs to this run, records it, answers 202.
//! Anything else gets a 400 and a count; the server keeps going.

use crate::config::ReceiverFaults;
use crate::ledger::{Delivery, DeliveryLedger};
use brokerbench_core::clock::unix_now_ns;
use brokerbench_core::fault::{Fault, FaultKind};
use brokerbench_core::identity::{
    EventIdentity, EXT_RUN, EXT_SENDER, EXT_SENT, EXT_SEQ, EXT_WARMUP,
};
use brokerbench_core::serve::text as reply;
use brokerbench_core::wire::RejectCounts;
use bytes::Bytes;
use cloudevents::Event;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use std::sync::Mutex;
use std::time::Duration;

/// What the handlers share.
pub struct Sink {
    run_id: String,
    /// Larger bodies get a 413 (from their Content-Length, unread).
    max_body: usize,
    /// `None` until the run starts, and again once the ledger is taken.
    pub ledger: Mutex<Option<DeliveryLedger>>,
    pub rejected: Mutex<RejectCounts>,
    t0_unix_ns: Mutex<Option<u64>>,
    /// Hidden test faults, and the receiver's faults of the plan (set at
    /// the start).
    test_faults: ReceiverFaults,
    faults: Mutex<Vec<Fault>>,
    /// Whether any fault is planned (else a request reads no clock and
    /// takes no lock for them).
    armed: std::sync::atomic::AtomicBool,

    /// Requests read so far: every [`crate::fast::SAMPLE_EVERY`]-th goes
    /// to the SDK whatever the fast path says.
    requests: std::sync::atomic::AtomicU64,

    /// Its latest live figures, served as `GET /metrics`.
    pub latest: std::sync::Arc<brokerbench_core::metrics::Latest>,
}

impl Sink {
    /// A sink for run `run_id`, taking bodies up to `max_body` bytes.
    pub fn new(run_id: &str, max_body: usize, faults: ReceiverFaults) -> Self {
        Sink {
            run_id: run_id.to_string(),
            max_body,
            ledger: Mutex::new(None),
            rejected: Mutex::new(RejectCounts::default()),
            t0_unix_ns: Mutex::new(None),
            armed: std::sync::atomic::AtomicBool::new(false),
            test_faults: faults,
            faults: Mutex::new(Vec::new()),
            requests: Default::default(),

            latest: Default::default(),
        }
    }

    /// Opens the ledger once the plan has its `t0`; `faults` are the
    /// plan's (the receiver applies its own).
    pub fn start(&self, ledger: DeliveryLedger, t0_unix_ns: u64, faults: &[Fault]) {
        let mine: Vec<Fault> = faults
            .iter()
            .filter(|f| f.kind.on_receiver())
            .cloned()
            .collect();
        if !mine.is_empty() {
            self.armed.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        *self.faults.lock().unwrap() = mine;
        *self.t0_unix_ns.lock().unwrap() = Some(t0_unix_ns);
        *self.ledger.lock().unwrap() = Some(ledger);
    }

    /// Closes the ledger and hands it over.
    pub fn take(&self) -> Option<DeliveryLedger> {
        self.ledger.lock().unwrap().take()
    }

    fn reject(
        &self,
        why: fn(&mut RejectCounts) -> &mut u64,
        msg: &'static str,
    ) -> Response<Full<Bytes>> {
        *why(&mut self.rejected.lock().unwrap()) += 1;
        reply(StatusCode::BAD_REQUEST, msg)
    }

    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/healthz" | "/readyz") => return reply(StatusCode::OK, "ok\n"),
            (&Method::GET, "/metrics") => {
                return brokerbench_core::metrics::answer(self.latest.text())
            }
            (&Method::POST, _) => {}
            _ => return reply(StatusCode::METHOD_NOT_ALLOWED, "POST a CloudEvent\n"),
        }
        let copy = copy_of(req.uri().path());
        let (parts, body) = match brokerbench_core::serve::read_body(req, self.max_body).await {
            Ok(read) => read,
            Err(e) => {
                self.rejected.lock().unwrap().not_cloudevent += 1;
                return brokerbench_core::serve::refuse_body(e);
            }
        };
        // Received once the whole request is in, before any decoding.
        let received = unix_now_ns();
        let n = self
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(slow) = self.test_faults.decode {
            tokio::time::sleep(slow).await;
        }
        let fast = match n % crate::fast::SAMPLE_EVERY {
            0 => None,
            _ => crate::fast::identity(&parts.headers, &self.run_id),
        };
        let id = match fast {
            Some(crate::fast::Fast::Ours(id)) => id,
            Some(crate::fast::Fast::Foreign) => {
                return self.reject(|r| &mut r.foreign, "not an event of this run\n")
            }
            None => {
                let Ok(event) = cloudevents::binding::http::to_event(&parts.headers, body.to_vec())
                else {
                    return self.reject(|r| &mut r.not_cloudevent, "not a CloudEvent\n");
                };
                let Some(id) = identity_of(&event, &self.run_id) else {
                    return self.reject(|r| &mut r.foreign, "not an event of this run\n");
                };
                id
            }
        };
        match self.fault(&id).await {
            Some(Injected::Drop) => return reply(StatusCode::ACCEPTED, ""),
            Some(Injected::Status(status)) => {
                let mut r = reply(StatusCode::SERVICE_UNAVAILABLE, "fault injected\n");
                *r.status_mut() =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                return r;
            }
            None => {}
        }
        match self.record(&id, copy, received) {
            Ok(()) => reply(StatusCode::ACCEPTED, ""),
            Err(Refusal::Early) => reply(StatusCode::SERVICE_UNAVAILABLE, "run not started\n"),
            Err(Refusal::OutOfRange) => reply(
                StatusCode::BAD_REQUEST,
                "sequence number outside the plan\n",
            ),
        }
    }

    /// Records copy `copy` of an event of this run, received at `received`
    /// (over HTTP, or read from Kafka); refusals are counted.
    pub fn record(&self, id: &EventIdentity, copy: u32, received: u64) -> Result<(), Refusal> {
        let mut guard = self.ledger.lock().unwrap();
        let Some(ledger) = guard.as_mut() else {
            drop(guard);
            self.rejected.lock().unwrap().early += 1;
            return Err(Refusal::Early);
        };
        if !ledger.in_range(id, copy) || ledger.record(id, copy, received) == Delivery::OutOfRange {
            drop(guard);
            self.rejected.lock().unwrap().out_of_range += 1;
            return Err(Refusal::OutOfRange);
        }
        Ok(())
    }

    /// The faults on now, for an event of this run: a stall holds the
    /// request for the stall's length (a subscriber that stops answering
    /// for a while); a drop answers 202 to each measured event with
    /// `seq % N == N - 1` and never records it; a 5xx answers that status.
    async fn fault(&self, id: &EventIdentity) -> Option<Injected> {
        if !self.armed.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        let t0 = (*self.t0_unix_ns.lock().unwrap())?;
        let now = unix_now_ns();
        let mut stall = Duration::ZERO;
        let mut injected = None;
        for f in self.faults.lock().unwrap().iter() {
            let (from, to) = f.window_unix_ns(t0);
            if !(from..to).contains(&now) {
                continue;
            }
            match f.kind {
                FaultKind::ReceiverStall => stall = stall.max(Duration::from_secs_f64(f.seconds)),
                FaultKind::Receiver5xx => injected = f.status.map(Injected::Status),
                FaultKind::ReceiverDrop if !id.warmup => {
                    let n = f.every.unwrap_or(1);
                    if id.seq % n == n - 1 {
                        injected = injected.or(Some(Injected::Drop));
                    }
                }
                _ => {}
            }
        }
        if !stall.is_zero() {
            tokio::time::sleep(stall).await;
        }
        injected
    }
}

/// What a fault makes of a request.
enum Injected {
    /// Answer 202, record nothing.
    Drop,
    /// Answer this status, record nothing.
    Status(u16),
}

/// Why an event of this run was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Before the run started.
    Early,
    /// A sender, sequence number or copy outside the plan.
    OutOfRange,
}

/// Which copy of a fanned-out event a path receives: `/c/<k>` is copy `k`,
/// any other path copy 0.
pub fn copy_of(path: &str) -> u32 {
    path.strip_prefix("/c/")
        .map(|k| k.trim_end_matches('/'))
        .and_then(|k| k.parse().ok())
        .unwrap_or(0)
}

/// Reads the suite's identity from an event; `None` for another run's.
pub fn identity_of(event: &Event, run_id: &str) -> Option<EventIdentity> {
    let ext = |name| event.extension(name).map(|v| v.to_string());
    if ext(EXT_RUN)? != run_id {
        return None;
    }
    Some(EventIdentity {
        sender: ext(EXT_SENDER)?.parse().ok()?,
        seq: ext(EXT_SEQ)?.parse().ok()?,
        sent_unix_ns: ext(EXT_SENT).and_then(|s| s.parse().ok()),
        warmup: ext(EXT_WARMUP).is_some(),
    })
}

impl brokerbench_core::serve::Handler for Sink {
    fn answer(
        &self,
        req: Request<Incoming>,
    ) -> impl std::future::Future<Output = Response<Full<Bytes>>> + Send {
        Sink::answer(self, req)
    }
}

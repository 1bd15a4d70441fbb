//! Delivery to one subscriber: a queue, workers that each own one
//! keep-alive connection, retries with backoff, and the dead-letter sink.
//!
//! Every delivery ends in exactly one of `delivered`, `dead_lettered` or
//! `dropped`, so once the SUT is idle `routed = delivered + dead_lettered +
//! dropped`.

use crate::config::Route;
use crate::counters::{bump, Counters};
use crate::event::Envelope;
use brokerbench_core::conn::{connect, exchange, Conn};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

static ERROR_DEST: HeaderName = HeaderName::from_static("ce-knativeerrordest");
static ERROR_CODE: HeaderName = HeaderName::from_static("ce-knativeerrorcode");

/// What to do once every delivery of an event is over (a Kafka dispatcher
/// marks its offset done).
pub type Settled = Box<dyn FnOnce() + Send + Sync>;

/// An event inside the SUT; it holds its queue slot until every delivery
/// of it is over, and then runs its `settled` hook.
pub struct Admitted {
    pub event: Envelope,
    _slot: OwnedSemaphorePermit,
    settled: std::sync::Mutex<Option<Settled>>,
}

impl Admitted {
    pub fn new(event: Envelope, slot: OwnedSemaphorePermit) -> Arc<Self> {
        Admitted::settling(event, slot, None)
    }

    /// An event whose end runs `settled`.
    pub fn settling(
        event: Envelope,
        slot: OwnedSemaphorePermit,
        settled: Option<Settled>,
    ) -> Arc<Self> {
        Arc::new(Admitted {
            event,
            _slot: slot,
            settled: std::sync::Mutex::new(settled),
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some(f) = self.settled.get_mut().ok().and_then(Option::take) {
            f();
        }
    }
}

/// One delivery of one event to one route.
pub struct Job {
    pub event: Arc<Admitted>,
    /// Attempts made so far.
    pub attempts: u32,
}

/// A reply event the SUT could not take now (full): the delivery fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyRefused;

/// Where a subscriber's answer goes when it carries an event (a broker's
/// reply); `Err` when it cannot be taken now, which fails the delivery.
pub trait Replies: Send + Sync + 'static {
    fn reply(&self, answer: &Response<Bytes>, to: &Envelope) -> Result<(), ReplyRefused>;
}

/// How one attempt went.
enum Attempt {
    Done,
    /// Worth another try (5xx, 404, 408, 409, 429, transport, timeout,
    /// a reply the broker could not take).
    Retry(Option<StatusCode>),
    /// Not worth another try (other 4xx).
    Fatal(StatusCode),
}

/// Knative's retryable answers.
fn retryable(s: StatusCode) -> bool {
    s.is_server_error() || matches!(s.as_u16(), 404 | 408 | 409 | 429)
}

/// A parsed subscriber address.
struct Destination {
    url: String,
    authority: String,
    host: HeaderValue,
    path: http::Uri,
}

impl Destination {
    fn new(url: &str) -> Destination {
        let uri: http::Uri = url.parse().expect("URLs are checked when configured");
        let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
        let authority = if authority.contains(':') {
            authority
        } else {
            format!("{authority}:80")
        };
        Destination {
            url: url.to_string(),
            host: HeaderValue::from_str(uri.authority().map_or("", |a| a.as_str()))
                .unwrap_or(HeaderValue::from_static("localhost")),
            path: uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .parse()
                .unwrap_or_else(|_| http::Uri::from_static("/")),
            authority,
        }
    }

    async fn connect(&self) -> Option<Conn> {
        let addr = tokio::net::lookup_host(&self.authority)
            .await
            .ok()?
            .next()?;
        connect(addr).await
    }
}

/// The deliveries of one route.
pub struct Dispatcher {
    pub route: Route,
    subscriber: Destination,
    dead_letter: Option<Destination>,
    queue: async_channel::Sender<Job>,
    jobs: async_channel::Receiver<Job>,
    counters: Arc<Counters>,
    replies: Option<Arc<dyn Replies>>,
    stop: CancellationToken,
    /// For the dead-letter sink (a rare path, so a pooled client).
    dls_client: Client<HttpConnector, Full<Bytes>>,
}

impl Dispatcher {
    pub fn new(
        route: Route,
        counters: Arc<Counters>,
        replies: Option<Arc<dyn Replies>>,
        stop: CancellationToken,
    ) -> Arc<Self> {
        let (queue, jobs) = async_channel::unbounded();
        Arc::new(Dispatcher {
            subscriber: Destination::new(&route.subscriber),
            dead_letter: route.delivery.dead_letter.as_deref().map(Destination::new),
            route,
            queue,
            jobs,
            counters,
            replies,
            stop,
            dls_client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// Queues a first delivery (the queue is bounded by the SUT's admission).
    pub fn push(&self, event: Arc<Admitted>) {
        let _ = self.queue.try_send(Job { event, attempts: 0 });
    }

    /// Delivers from the queue over one connection until stopped.
    pub async fn work(self: Arc<Self>) {
        let mut conn = None;
        loop {
            let job = tokio::select! {
                j = self.jobs.recv() => match j { Ok(j) => j, Err(_) => return },
                _ = self.stop.cancelled() => return,
            };
            let attempt = tokio::select! {
                a = self.attempt(&mut conn, &job) => a,
                _ = self.stop.cancelled() => {
                    bump(&self.counters.dropped);
                    return;
                }
            };
            self.settle(job, attempt);
        }
    }

    /// Counts what is left in the queue as dropped (after the workers stopped).
    pub fn drop_queued(&self) {
        while self.jobs.try_recv().is_ok() {
            bump(&self.counters.dropped);
        }
    }

    async fn attempt(&self, conn: &mut Option<Conn>, job: &Job) -> Attempt {
        let ready = match conn {
            Some(c) => c.ready().await.is_ok(),
            None => false,
        };
        let timeout = self.route.delivery.timeout;
        if !ready {
            *conn = tokio::time::timeout(timeout, self.subscriber.connect())
                .await
                .ok()
                .flatten();
        }
        let Some(c) = conn.as_mut() else {
            return Attempt::Retry(None);
        };
        let req = job
            .event
            .event
            .request(&self.subscriber.host, &self.subscriber.path, &[]);
        let answer = match tokio::time::timeout(timeout, exchange(c, req)).await {
            Ok(Ok(a)) => a,
            _ => {
                *conn = None;
                return Attempt::Retry(None);
            }
        };
        let status = answer.status();
        if status.is_success() {
            match &self.replies {
                Some(r) if r.reply(&answer, &job.event.event).is_err() => {
                    Attempt::Retry(Some(StatusCode::SERVICE_UNAVAILABLE))
                }
                _ => Attempt::Done,
            }
        } else if retryable(status) {
            Attempt::Retry(Some(status))
        } else {
            Attempt::Fatal(status)
        }
    }

    /// Counts a finished attempt, or schedules the next one.
    fn settle(self: &Arc<Self>, job: Job, attempt: Attempt) {
        let delivery = &self.route.delivery;
        match attempt {
            Attempt::Done => bump(&self.counters.delivered),
            Attempt::Retry(_) if job.attempts < delivery.retry => {
                bump(&self.counters.retried);
                let wait = delivery.backoff(job.attempts);
                let me = self.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {
                            let _ = me.queue.try_send(Job { event: job.event, attempts: job.attempts + 1 });
                        }
                        _ = me.stop.cancelled() => bump(&me.counters.dropped),
                    }
                });
            }
            Attempt::Retry(code) => self.clone().dead_letter(job, code),
            Attempt::Fatal(code) => self.clone().dead_letter(job, Some(code)),
        }
    }

    /// Sends a failed delivery to the dead-letter sink, with the retry policy,
    /// and Knative's error extensions; drops it when there is none.
    fn dead_letter(self: Arc<Self>, job: Job, code: Option<StatusCode>) {
        let Some(dls) = &self.dead_letter else {
            bump(&self.counters.dropped);
            return;
        };
        let mut extra = vec![(
            ERROR_DEST.clone(),
            HeaderValue::from_str(&self.subscriber.url).unwrap_or(HeaderValue::from_static("")),
        )];
        if let Some(c) = code {
            extra.push((ERROR_CODE.clone(), HeaderValue::from(c.as_u16())));
        }
        let uri: http::Uri = dls.url.parse().expect("checked when configured");
        let host = dls.host.clone();
        let me = self.clone();
        tokio::spawn(async move {
            let d = &me.route.delivery;
            for n in 0..=d.retry {
                let req = job.event.event.request(&host, &uri, &extra);
                let attempt = tokio::time::timeout(d.timeout, me.dls_client.request(req));
                let ok = tokio::select! {
                    r = attempt => matches!(r, Ok(Ok(ref a)) if a.status().is_success()),
                    _ = me.stop.cancelled() => break,
                };
                if ok {
                    bump(&me.counters.dead_lettered);
                    return;
                }
                if n < d.retry {
                    tokio::select! {
                        _ = tokio::time::sleep(d.backoff(n)) => {}
                        _ = me.stop.cancelled() => break,
                    }
                }
            }
            bump(&me.counters.dropped);
        });
    }
}

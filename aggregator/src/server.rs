//! The aggregator's HTTP protocol and the state of the run behind it.

use brokerbench_core::clock::unix_now_ns;
use brokerbench_core::histogram::{Histogram, WireHistogram};
use brokerbench_core::latency::PerKind;
use brokerbench_core::plan::RunPlan;
use brokerbench_core::session::path;
use brokerbench_core::wire::{
    Finish, Phase, Progress, Ready, ReceiverReport, Role, RunStatus, SenderReport,
};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde::{de::DeserializeOwned, Serialize};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// What the roles said: who is ready, their progress, their reports.
#[derive(Default)]
pub struct Roles {
    pub ready_senders: Vec<u32>,
    /// What the ready senders said of their drain: each reports at most
    /// this long after the schedule's end, ms.
    pub sender_report_within_ms: Vec<u64>,
    pub ready_receivers: Vec<(u32, Option<String>)>,
    pub progress: Vec<Progress>,
    pub sender_reports: Vec<SenderReport>,
    pub receiver_reports: Vec<ReceiverReport>,
    /// When each receiver was last heard from (its progress, once a
    /// second until it reports), by index.
    pub receiver_heard: std::collections::BTreeMap<u32, tokio::time::Instant>,
}

impl Roles {
    /// Whether receiver `index` has neither reported nor been heard from
    /// for `silent` (killed, its node lost): no report will come.
    pub fn receiver_gone(&self, index: u32, silent: std::time::Duration) -> bool {
        !self.receiver_reports.iter().any(|r| r.index == index)
            && self
                .receiver_heard
                .get(&index)
                .is_some_and(|t| t.elapsed() >= silent)
    }

    /// Whether the role of `index` already said it is ready.
    fn is_ready(&self, role: Role, index: u32) -> bool {
        match role {
            Role::Sender => self.ready_senders.contains(&index),
            Role::Receiver => self.ready_receivers.iter().any(|(i, _)| *i == index),
        }
    }
}

/// The largest request the aggregator takes: a role's report of a long run
/// (its per-second windows) stays far below it.
const MAX_BODY: usize = 1 << 30;
/// The largest of any other request (ready, progress, clock).
const SMALL_BODY: usize = 1 << 20;
/// How long a report may take to come in full (a long run's report over a
/// slow link), and so how long after the finish the aggregator waits for
/// the receivers' reports (one not heard from for a while is gone sooner).
pub(crate) const REPORT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(300);

/// The run's shared state: the plan, what roles said, and two signals.
pub struct Hub {
    pub plan: Mutex<RunPlan>,
    pub roles: Mutex<Roles>,
    /// Set once `t0` is known.
    pub started: watch::Sender<bool>,
    /// Set when the receivers should report: `Some(interrupted)`.
    pub finished: watch::Sender<Option<bool>>,
    /// Any change worth a look by the role loop.
    pub changed: tokio::sync::Notify,
    /// Where the run stands (`/v1/status`).
    pub status: Mutex<RunStatus>,
    /// The results folder as a tar, once written (`/v1/results`).
    pub results: Mutex<Option<Bytes>>,
    /// Set when someone said the results are collected (`DELETE /v1/results`).
    pub collected: watch::Sender<bool>,
    /// Requests and body bytes taken, by protocol path (what the roles
    /// cost the aggregator; `/metrics` shows them).
    traffic: Mutex<std::collections::BTreeMap<&'static str, (u64, u64)>>,
    /// The run's token: role requests without it are refused (401).
    token: Option<String>,
    /// Set when the run is cut (the aggregator was told to stop): each
    /// role's next progress answer tells it to stop too.
    pub stop: std::sync::atomic::AtomicBool,
    /// Receiver reports being read now (a long run's report over a slow
    /// link): no receiver is taken as gone meanwhile.
    pub receiver_reports_reading: std::sync::atomic::AtomicU32,
    /// Report bytes being read at once, in KiB: a report waits for its
    /// share (its Content-Length, or the most a report may be), so no
    /// number of connections holds more than [`MAX_BODY`] at once.
    bodies: tokio::sync::Semaphore,
}

impl Hub {
    /// The hub of the run `plan`; with a `token`, only requests that carry
    /// it (`Authorization: Bearer`) take part in the run.
    pub fn new(plan: RunPlan, token: Option<String>) -> Arc<Self> {
        Arc::new(Hub {
            token,
            plan: Mutex::new(plan),
            roles: Mutex::new(Roles::default()),
            started: watch::channel(false).0,
            finished: watch::channel(None).0,
            changed: tokio::sync::Notify::new(),
            status: Mutex::new(RunStatus::default()),
            results: Mutex::new(None),
            collected: watch::channel(false).0,
            traffic: Mutex::default(),
            bodies: tokio::sync::Semaphore::new(MAX_BODY / 1024),
            stop: Default::default(),
            receiver_reports_reading: Default::default(),
        })
    }

    /// Changes where the run stands.
    pub fn set_status(&self, f: impl FnOnce(&mut RunStatus)) {
        f(&mut self.status.lock().unwrap());
    }

    /// Sets `t0` and releases everyone waiting on `/v1/start`.
    pub fn start(&self, t0_unix_ns: u64) {
        self.plan.lock().unwrap().t0_unix_ns = Some(t0_unix_ns);
        self.set_status(|s| s.phase = Phase::Running);
        self.started.send_replace(true);
    }

    /// Releases every receiver waiting on `/v1/finish`.
    pub fn finish(&self, interrupted: bool) {
        self.finished.send_replace(Some(interrupted));
    }

    fn plan(&self) -> RunPlan {
        self.plan.lock().unwrap().clone()
    }

    /// Whether a request may take part in the run: anything reads
    /// health, status, metrics and results; the roles' protocol needs the
    /// run's token when there is one.
    fn admits(&self, req: &Request<Incoming>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        // Reading is open; the roles' protocol and releasing the results
        // (`k8s collect`, after which the aggregator exits) are not.
        let open = match (req.method(), req.uri().path()) {
            (&Method::GET | &Method::HEAD, p) => {
                matches!(
                    p,
                    "/healthz" | "/readyz" | "/metrics" | path::STATUS | path::RESULTS
                )
            }
            _ => false,
        };
        let said = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        open || said.is_some_and(|s| brokerbench_core::session::same_token(token, s))
    }

    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if !self.admits(&req) {
            return self.unauthorized(&req);
        }
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        // Only a role's report is large, and reports are read within one
        // budget.
        let limit = match path.as_str() {
            path::SENDER_REPORT | path::RECEIVER_REPORT => MAX_BODY,
            _ => SMALL_BODY,
        };
        let _budget = match limit {
            MAX_BODY => match self.report_budget(&req).await {
                Some(permit) => Some(permit),
                None => {
                    return text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "other reports are being read: try again",
                    )
                }
            },
            _ => None,
        };
        // A receiver's report on its way keeps the wait for it going.
        let _reading =
            (path == path::RECEIVER_REPORT).then(|| Reading::new(&self.receiver_reports_reading));
        let body =
            match brokerbench_core::serve::read_body_within(req, limit, REPORT_PATIENCE).await {
                Ok((_, b)) => b,
                Err(e) => return brokerbench_core::serve::refuse_body(e),
            };
        self.count(&path, body.len());
        self.route(method, &path, &body).await
    }

    /// A request without the run's token: 401, the first one logged.
    fn unauthorized(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let first = {
            let mut s = self.status.lock().unwrap();
            s.unauthorized += 1;
            s.unauthorized == 1
        };
        if first {
            eprintln!(
                "aggregator: refused {} {} without this run's token (401; further ones are counted, not logged)",
                req.method(),
                req.uri().path()
            );
        }
        text(
            StatusCode::UNAUTHORIZED,
            "this run's token is needed: Authorization: Bearer TOKEN (--token)",
        )
    }

    /// The share of the reports' reading budget a report's declared length
    /// takes; `None` when it did not come within the patience.
    async fn report_budget(
        &self,
        req: &Request<Incoming>,
    ) -> Option<tokio::sync::SemaphorePermit<'_>> {
        let declared = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .unwrap_or(MAX_BODY as u64)
            .min(MAX_BODY as u64);
        let kib = declared.div_ceil(1024).max(1) as u32;
        match tokio::time::timeout(REPORT_PATIENCE, self.bodies.acquire_many(kib)).await {
            Ok(Ok(permit)) => Some(permit),
            _ => None,
        }
    }

    /// The answer to an admitted request with its body read.
    async fn route(&self, method: Method, path: &str, body: &Bytes) -> Response<Full<Bytes>> {
        let (run_id, senders, receivers) = {
            let p = self.plan.lock().unwrap();
            (p.run_id.clone(), p.senders, p.receivers)
        };
        let roles = |role| match role {
            Role::Sender => senders,
            Role::Receiver => receivers,
        };
        match (method, path) {
            (Method::GET, "/healthz" | "/readyz") => text(StatusCode::OK, "ok"),
            (Method::GET, path::PLAN) => json(&self.plan()),
            (Method::GET, path::STATUS) => json(&*self.status.lock().unwrap()),
            (Method::GET, "/metrics") => {
                let progress = self.roles.lock().unwrap().progress.clone();
                let mut text = brokerbench_core::metrics::render(&progress);
                text.push_str(&self.own_metrics());
                brokerbench_core::metrics::answer(text)
            }
            (Method::GET, path::RESULTS) => self.results_tar(),
            (Method::DELETE, path::RESULTS) => self.collect(),
            (Method::GET, path::CLOCK) => json(&brokerbench_core::wire::ClockReading {
                unix_ns: brokerbench_core::clock::unix_now_ns(),
            }),
            (Method::GET, path::START) => {
                let mut rx = self.started.subscribe();
                let _ = rx.wait_for(|s| *s).await;
                json(&self.plan())
            }
            (Method::GET, path::FINISH) => {
                let mut rx = self.finished.subscribe();
                let interrupted = rx
                    .wait_for(|f| f.is_some())
                    .await
                    .map(|f| f.unwrap_or(true))
                    .unwrap_or(true);
                json(&Finish { interrupted })
            }
            (Method::POST, path::READY) => self.ready(body, roles),
            (Method::POST, path::PROGRESS) => self.progress(body),
            (Method::POST, path::SENDER_REPORT) => {
                self.report(body, &run_id, Role::Sender, roles(Role::Sender), |h| {
                    &mut h.sender_reports
                })
            }
            (Method::POST, path::RECEIVER_REPORT) => {
                self.report(body, &run_id, Role::Receiver, roles(Role::Receiver), |h| {
                    &mut h.receiver_reports
                })
            }
            _ => text(StatusCode::NOT_FOUND, "no such endpoint"),
        }
    }

    /// The results folder as a tar, once written.
    fn results_tar(&self) -> Response<Full<Bytes>> {
        match self.results.lock().unwrap().clone() {
            Some(tar) => {
                let mut r = Response::new(Full::new(tar));
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/x-tar"),
                );
                r
            }
            None => self.no_results(),
        }
    }

    /// Someone collected the results (or the failure): the aggregator exits.
    fn collect(&self) -> Response<Full<Bytes>> {
        if self.results.lock().unwrap().is_none()
            && self.status.lock().unwrap().phase != Phase::Failed
        {
            return self.no_results();
        }
        self.collected.send_replace(true);
        text(StatusCode::OK, "collected: the aggregator exits")
    }

    /// A role says it is ready: each index once, within the plan's roles.
    fn ready(&self, body: &Bytes, roles: impl Fn(Role) -> u32) -> Response<Full<Bytes>> {
        match serde_json::from_slice::<Ready>(body) {
            Ok(r) if r.index >= roles(r.role) => text(
                StatusCode::BAD_REQUEST,
                &format!(
                    "{} index {} outside 0..{}",
                    r.role.name(),
                    r.index,
                    roles(r.role)
                ),
            ),
            Ok(r) if self.roles.lock().unwrap().is_ready(r.role, r.index) => text(
                StatusCode::CONFLICT,
                &format!(
                    "{} index {} is already in this run: give each its own --index",
                    r.role.name(),
                    r.index
                ),
            ),
            Ok(r) => self.keep(|h| match r.role {
                Role::Sender => {
                    h.ready_senders.push(r.index);
                    h.sender_report_within_ms.extend(r.report_within_ms);
                }
                Role::Receiver => h.ready_receivers.push((r.index, r.url)),
            }),
            Err(e) => text(StatusCode::BAD_REQUEST, &format!("bad ready: {e}")),
        }
    }

    /// A role's progress: kept (the latest per role); a cut run's answer
    /// tells the role to stop and report.
    fn progress(&self, body: &Bytes) -> Response<Full<Bytes>> {
        let kept = self.take(body, |h, p: Progress| {
            if p.role == Some(Role::Receiver) {
                h.receiver_heard
                    .insert(p.index, tokio::time::Instant::now());
            }
            h.progress
                .retain(|q| (q.role, q.index) != (p.role, p.index));
            h.progress.push(p);
        });
        // A cut run: the answer tells the role to stop and report.
        match self.stop.load(std::sync::atomic::Ordering::Relaxed) {
            true if kept.status().is_success() => {
                json(&serde_json::json!({ "ok": true, "stop": true }))
            }
            _ => kept,
        }
    }

    /// Counts a request to `path` with a body of `bytes`.
    fn count(&self, path: &str, bytes: usize) {
        const PATHS: [&str; 8] = [
            path::PLAN,
            path::CLOCK,
            path::READY,
            path::START,
            path::PROGRESS,
            path::FINISH,
            path::SENDER_REPORT,
            path::RECEIVER_REPORT,
        ];
        let key = PATHS.into_iter().find(|p| *p == path).unwrap_or("other");
        let mut t = self.traffic.lock().unwrap();
        let e = t.entry(key).or_default();
        e.0 += 1;
        e.1 += bytes as u64;
    }

    /// The aggregator's own cost: requests and bytes by path, CPU.
    fn own_metrics(&self) -> String {
        use std::fmt::Write as _;
        let t = self.traffic.lock().unwrap();
        let mut out = String::from(
            "# HELP brokerbench_aggregator_requests_total requests the aggregator took, by path\n\
             # TYPE brokerbench_aggregator_requests_total counter\n",
        );
        for (p, (n, _)) in t.iter() {
            let _ = writeln!(
                out,
                "brokerbench_aggregator_requests_total{{path=\"{p}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP brokerbench_aggregator_request_bytes_total request body bytes the aggregator took, by path\n\
             # TYPE brokerbench_aggregator_request_bytes_total counter\n",
        );
        for (p, (_, b)) in t.iter() {
            let _ = writeln!(
                out,
                "brokerbench_aggregator_request_bytes_total{{path=\"{p}\"}} {b}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP process_cpu_seconds_total CPU time of the process\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {}",
            brokerbench_core::cpu::process_ns() as f64 / 1e9
        );
        out
    }

    /// The answer for results not (yet) there.
    fn no_results(&self) -> Response<Full<Bytes>> {
        let status = self.status.lock().unwrap().clone();
        let why = match status.phase {
            Phase::Waiting | Phase::Running => "the run is not over yet".to_string(),
            Phase::Failed => format!("the run failed: {}", status.error.unwrap_or_default()),
            Phase::Finished => "the results are being written".to_string(),
        };
        text(StatusCode::CONFLICT, &format!("no results: {why}"))
    }

    fn take<T: DeserializeOwned>(
        &self,
        body: &[u8],
        f: impl FnOnce(&mut Roles, T),
    ) -> Response<Full<Bytes>> {
        match serde_json::from_slice::<T>(body) {
            Ok(v) => self.keep(|h| f(h, v)),
            Err(e) => text(StatusCode::BAD_REQUEST, &format!("bad message: {e}")),
        }
    }

    /// Keeps a role's report: of this run, an index in `0..roles`, one per
    /// index (a restarted role's last one).
    fn report<R: DeserializeOwned + Report>(
        &self,
        body: &[u8],
        run_id: &str,
        role: Role,
        roles: u32,
        list: impl FnOnce(&mut Roles) -> &mut Vec<R>,
    ) -> Response<Full<Bytes>> {
        match serde_json::from_slice::<R>(body) {
            Ok(r) if r.run_id() != run_id => text(StatusCode::BAD_REQUEST, "report of another run"),
            Ok(r) if r.index() >= roles => text(
                StatusCode::BAD_REQUEST,
                &format!("{} index {} outside 0..{roles}", role.name(), r.index()),
            ),
            Ok(r) if r.malformed().is_some() => text(
                StatusCode::BAD_REQUEST,
                &format!(
                    "bad {} report: {}",
                    role.name(),
                    r.malformed().unwrap_or_default()
                ),
            ),
            Ok(r) => self.keep(|h| {
                let reports = list(h);
                reports.retain(|x| x.index() != r.index());
                reports.push(r)
            }),
            Err(e) => text(
                StatusCode::BAD_REQUEST,
                &format!("bad {} report: {e}", role.name()),
            ),
        }
    }

    fn keep(&self, f: impl FnOnce(&mut Roles)) -> Response<Full<Bytes>> {
        f(&mut self.roles.lock().unwrap());
        self.changed.notify_waiters();
        json(&serde_json::json!({ "ok": true, "at": unix_now_ns() }))
    }
}

/// One more of something under way while it lives.
struct Reading<'a>(&'a std::sync::atomic::AtomicU32);

impl<'a> Reading<'a> {
    fn new(n: &'a std::sync::atomic::AtomicU32) -> Self {
        n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Reading(n)
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A plain answer: `msg` and a newline.
fn text(status: StatusCode, msg: &str) -> Response<Full<Bytes>> {
    brokerbench_core::serve::text(status, format!("{msg}\n"))
}

fn json<T: Serialize>(v: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec(v) {
        Ok(b) => {
            let mut r = Response::new(Full::new(Bytes::from(b)));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

impl brokerbench_core::serve::Handler for Hub {
    fn answer(
        &self,
        req: Request<Incoming>,
    ) -> impl std::future::Future<Output = Response<Full<Bytes>>> + Send {
        Hub::answer(self, req)
    }
}

/// What the aggregator checks in a role's report before it keeps it:
/// whatever it takes is something [`crate::join::join`] can join.
pub trait Report {
    fn run_id(&self) -> &str;
    fn index(&self) -> u32;
    fn windows(&self) -> &PerKind<Vec<WireHistogram>>;

    /// A count no run reaches, or a ledger that does not hold together.
    fn implausible(&self) -> Option<String>;

    /// What is wrong with it, if anything.
    fn malformed(&self) -> Option<String> {
        self.implausible().or_else(|| {
            self.windows().iter().find_map(|(kind, windows)| {
                windows.iter().enumerate().find_map(|(second, w)| {
                    Histogram::try_from(w)
                        .err()
                        .map(|e| format!("{} of second {second}: {e}", kind.name()))
                })
            })
        })
    }
}

/// Both reports answer [`Report`] from the same fields.
macro_rules! report {
    ($($r:ty),*) => {$(
        impl Report for $r {
            fn run_id(&self) -> &str {
                &self.run_id
            }
            fn index(&self) -> u32 {
                self.index
            }
            fn windows(&self) -> &PerKind<Vec<WireHistogram>> {
                &self.windows
            }
            fn implausible(&self) -> Option<String> {
                <$r>::implausible(self)
            }
        }
    )*};
}

report!(SenderReport, ReceiverReport);

//! A role's conversation with the aggregator, typed: plan, readiness, the
//! start, progress, the clock, the finish and the report, on the paths of
//! [`path`]. The sender and the receiver talk through it, and the tests
//! with them; the aggregator serves the same paths.

use crate::client::{ClientError, JsonClient};
use crate::clock::ClockSync;
use crate::plan::RunPlan;
use crate::wire::{
    ClockReading, ClockReport, Finish, Progress, Ready, ReceiverReport, SenderReport,
};
use std::time::Duration;

/// The protocol's paths.
pub mod path {
    /// `GET`: the plan, `t0` unset until the start.
    pub const PLAN: &str = "/v1/plan";
    /// `GET`: the aggregator's clock ([`super::ClockReading`]).
    pub const CLOCK: &str = "/v1/clock";
    /// `POST` a [`super::Ready`].
    pub const READY: &str = "/v1/ready";
    /// `GET`, long poll: the plan with `t0`, once every role is ready.
    pub const START: &str = "/v1/start";
    /// `POST` a [`super::Progress`], once a second.
    pub const PROGRESS: &str = "/v1/progress";
    /// `GET`, long poll: a [`super::Finish`] when the receivers should report.
    pub const FINISH: &str = "/v1/finish";
    /// `POST` a [`super::SenderReport`].
    pub const SENDER_REPORT: &str = "/v1/report/sender";
    /// `POST` a [`super::ReceiverReport`].
    pub const RECEIVER_REPORT: &str = "/v1/report/receiver";
    /// `GET`: where the run stands ([`crate::wire::RunStatus`]).
    pub const STATUS: &str = "/v1/status";
    /// `GET`: the results folder as a tar stream, once written; `DELETE`
    /// when collected (the aggregator may then exit).
    pub const RESULTS: &str = "/v1/results";
    /// `GET` on a SUT: its counters ([`crate::wire::SutCounters`]).
    pub const COUNTERS: &str = "/v1/counters";
    /// `PUT` on a SUT, with its fault token: the faults its ingress
    /// injects (`?latency_ms=MS`, `?status=5xx`, nothing to clear).
    pub const FAULTS: &str = "/v1/faults";
}

/// A role's clock followed during the run (see [`Session::follow_clock`]).
pub struct ClockFollower {
    start: Option<ClockSync>,
    stop: tokio_util::sync::CancellationToken,
    task: Option<tokio::task::JoinHandle<Vec<crate::wire::ClockPoint>>>,
}

impl ClockFollower {
    /// Whether the role estimated its clock (a role on its own).
    pub fn synced(&self) -> bool {
        self.start.is_some()
    }

    /// Stops following; the clock's report (its last estimate taken now),
    /// or `None` for a role that shares the aggregator's clock.
    pub async fn report(self, session: &Session) -> Option<ClockReport> {
        self.stop.cancel();
        let during = match self.task {
            Some(t) => t.await.unwrap_or_default(),
            None => Vec::new(),
        };
        Some(session.clock_report(self.start?, during).await)
    }
}

/// How often a role on its own estimates its clock again during a run.
pub const CLOCK_EVERY: Duration = Duration::from_secs(10);

/// How long a role waits for the aggregator to answer at all (it may still
/// be starting, or on its way up in another pod).
pub const AGGREGATOR_PATIENCE: Duration = Duration::from_secs(60);
/// How long a role waits for the start, or a receiver for the finish: as
/// long as the aggregator waits for the other roles and the run.
const LONG_POLL: Duration = Duration::from_secs(24 * 3600);
/// Where in each second roles sample their progress counters: the same
/// moment in every role, so the aggregator's line compares like with like.
const PROGRESS_PHASE: Duration = Duration::from_millis(500);

/// Round trips a role on its own times to estimate its clock's offset from
/// the aggregator's; the shortest counts.
pub const CLOCK_ROUNDS: usize = 16;

/// A fresh token for a run (128 random bits as hex): what the aggregator
/// asks of every role request.
pub fn new_token() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // No /dev/urandom: std's hasher keys, which come from the
        // operating system's randomness too.
        use std::hash::{BuildHasher, RandomState};
        bytes[..8].copy_from_slice(&RandomState::new().hash_one(0u8).to_le_bytes());
        bytes[8..].copy_from_slice(&RandomState::new().hash_one(1u8).to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a token said equals the one expected, compared without
/// stopping at the first difference.
pub fn same_token(expected: &str, said: &str) -> bool {
    let (a, b) = (expected.as_bytes(), said.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0, |d, (x, y)| d | (x ^ y)) == 0
}

/// How long a role goes on without an answer from its aggregator before
/// it stops: the aggregator is gone.
pub const AGGREGATOR_GONE: Duration = Duration::from_secs(5);

/// What the aggregator answered a role's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// The run goes on.
    Going,
    /// The run is cut: stop and report.
    Stop,
    /// No answer.
    Nothing,
}

/// A role's report its aggregator never took, kept in a file with the
/// plan it ran (`--report-file`): `brokerbench aggregate` joins such files.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct KeptReport {
    pub plan: RunPlan,
    #[serde(default)]
    pub sender: Option<crate::wire::SenderReport>,
    #[serde(default)]
    pub receiver: Option<crate::wire::ReceiverReport>,
}

impl KeptReport {
    /// Writes it to `path` (through a temporary file and a rename).
    pub fn keep(&self, path: &std::path::Path) -> std::io::Result<()> {
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json).and_then(|()| std::fs::rename(&tmp, path))
    }

    /// Keeps it at `path`, if any; what became of it, in words.
    pub fn keep_at(&self, path: Option<&std::path::Path>) -> String {
        match path.map(|p| (p, self.keep(p))) {
            None => "not kept".into(),
            Some((p, Ok(()))) => format!(
                "kept in {} (join the kept reports with: brokerbench aggregate FILE...)",
                p.display()
            ),
            Some((p, Err(e))) => format!("not kept: cannot write {}: {e}", p.display()),
        }
    }
}

/// One role's session with the aggregator at a URL.
#[derive(Clone)]
pub struct Session {
    client: JsonClient,
}

impl Session {
    /// A session with the aggregator at `base` (`http://host:port`).
    pub fn new(base: &str) -> Self {
        Session {
            client: JsonClient::new(base),
        }
    }

    /// The aggregator's base URL.
    pub fn base(&self) -> &str {
        self.client.base()
    }

    /// The plan, waiting up to [`AGGREGATOR_PATIENCE`] for the aggregator
    /// to answer.
    pub async fn plan(&self) -> Result<RunPlan, ClientError> {
        self.client
            .get_patiently(path::PLAN, AGGREGATOR_PATIENCE)
            .await
    }

    /// Says this role is ready to take part.
    pub async fn ready(&self, ready: &Ready) -> Result<(), ClientError> {
        let _: serde_json::Value = self
            .client
            .post(path::READY, ready, Duration::from_secs(10))
            .await?;
        Ok(())
    }

    /// Waits for the start: the plan with its `t0`.
    pub async fn start(&self) -> Result<RunPlan, ClientError> {
        self.client.get(path::START, LONG_POLL).await
    }

    /// Posts running counters; a lost one is followed by the next. What
    /// the aggregator answered.
    pub async fn progress(&self, progress: &Progress) -> Heard {
        let answer: Result<serde_json::Value, _> = self
            .client
            .post(path::PROGRESS, progress, Duration::from_secs(2))
            .await;
        match answer {
            Ok(a) if a["stop"] == true => Heard::Stop,
            Ok(_) => Heard::Going,
            Err(_) => Heard::Nothing,
        }
    }

    /// Spawns a role's progress task ([`Session::report_progress`]): each
    /// second's `progress`, with the clock offset the role adopted when it
    /// follows the aggregator's clock (`synced`), also shown on `latest`
    /// (its `/metrics`). A role `on_its_own` (it keeps its report) stops
    /// when the aggregator has been gone [`AGGREGATOR_GONE`].
    #[allow(clippy::too_many_arguments)]
    pub fn spawn_progress(
        &self,
        plan: &RunPlan,
        host: crate::host::HostSamples,
        latest: Option<std::sync::Arc<crate::metrics::Latest>>,
        stop: tokio_util::sync::CancellationToken,
        on_its_own: bool,
        synced: bool,
        mut progress: impl FnMut(u64) -> Option<Progress> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let (session, plan) = (self.clone(), plan.clone());
        let gone_after = on_its_own.then_some(AGGREGATOR_GONE);
        tokio::spawn(async move {
            session
                .report_progress(&plan, host, latest.as_deref(), stop, gone_after, |second| {
                    let mut p = progress(second)?;
                    p.clock_offset_ms =
                        synced.then(|| crate::clock::adopted_offset_ns() as f64 / 1e6);
                    Some(p)
                })
                .await
        })
    }

    /// Posts `progress(second)` once a second, for the last whole second
    /// since `t0`, with the share of the host's CPU the hypervisor took and
    /// the role's throttled time (`host`); `None` skips a tick. When the
    /// aggregator answers that the run is cut, or (with `gone_after`, a
    /// role on its own) has not answered for that long, cancels `stop`
    /// (the role's own shutdown: it stops and reports). Runs until dropped.
    pub async fn report_progress(
        &self,
        plan: &RunPlan,
        host: crate::host::HostSamples,
        latest: Option<&crate::metrics::Latest>,
        stop: tokio_util::sync::CancellationToken,
        gone_after: Option<Duration>,
        mut progress: impl FnMut(u64) -> Option<Progress>,
    ) {
        let mut tick = crate::clock::aligned_ticker(plan.warmup_start_unix_ns(), PROGRESS_PHASE);
        let mut heard = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            let second = plan
                .second_at(crate::clock::unix_now_ns())
                .saturating_sub(1);
            if let Some(mut p) = progress(second) {
                (p.host_steal, p.throttled_ms) = crate::host::latest(&host);
                if let Some(l) = latest {
                    l.set(&p);
                }
                match self.progress(&p).await {
                    Heard::Going => heard = tokio::time::Instant::now(),
                    Heard::Stop => stop.cancel(),
                    // Gone (killed, its pod deleted, the network cut): the
                    // role stops rather than load the SUT for nothing.
                    Heard::Nothing
                        if gone_after.is_some_and(|g| heard.elapsed() >= g)
                            && !stop.is_cancelled() =>
                    {
                        let who = p.role.map_or("role", |r| r.name());
                        eprintln!(
                            "{who} {}: the aggregator at {} is gone (no answer for {} s): stopping; the report is kept here",
                            p.index,
                            self.client.base(),
                            heard.elapsed().as_secs()
                        );
                        stop.cancel();
                    }
                    Heard::Nothing => {}
                }
            }
        }
    }

    /// Waits for the finish (a receiver's cue to report): whether the run
    /// was interrupted.
    pub async fn finish(&self) -> Result<Finish, ClientError> {
        self.client.get(path::FINISH, LONG_POLL).await
    }

    /// Hands in a sender's report.
    pub async fn report_sender(&self, report: &SenderReport) -> Result<(), ClientError> {
        self.report(path::SENDER_REPORT, report).await
    }

    /// Hands in a receiver's report.
    pub async fn report_receiver(&self, report: &ReceiverReport) -> Result<(), ClientError> {
        self.report(path::RECEIVER_REPORT, report).await
    }

    async fn report<T: serde::Serialize>(&self, path: &str, report: &T) -> Result<(), ClientError> {
        let _: serde_json::Value = self
            .client
            .post(path, report, Duration::from_secs(60))
            .await?;
        Ok(())
    }

    /// Estimates this host's clock against the aggregator's over
    /// `rounds` round trips (see [`crate::clock::estimate`]).
    pub async fn clock_offset(&self, rounds: usize) -> Result<ClockSync, ClientError> {
        let mut samples = Vec::with_capacity(rounds);
        for _ in 0..rounds.max(1) {
            let before_ns = crate::clock::system_now_ns();
            let t: ClockReading = self.client.get(path::CLOCK, Duration::from_secs(5)).await?;
            samples.push(crate::clock::ClockSample {
                before_ns,
                remote_ns: t.unix_ns,
                after_ns: crate::clock::system_now_ns(),
            });
        }
        Ok(crate::clock::estimate(&samples).expect("at least one sample"))
    }

    /// Estimates this host's clock against the aggregator's (when the run
    /// starts) and makes it this process's view of the run's clock.
    pub async fn adopt_clock(&self) -> Result<ClockSync, ClientError> {
        let sync = self.clock_offset(CLOCK_ROUNDS).await?;
        crate::clock::adopt(sync);
        Ok(sync)
    }

    /// Follows the clock adopted at `start` (if any) during the run: a task
    /// estimating it again every `every` ([`Session::track_clock`]).
    pub fn follow_clock(&self, start: Option<ClockSync>, every: Duration) -> ClockFollower {
        let stop = tokio_util::sync::CancellationToken::new();
        let task = start.map(|start| {
            let (session, stop) = (self.clone(), stop.clone());
            tokio::spawn(async move { session.track_clock(start, every, stop).await })
        });
        ClockFollower { start, stop, task }
    }

    /// Estimates the clock again every `every` until `stop`, adopting
    /// each estimate worth it ([`crate::clock::worth_adopting`]); the
    /// estimates, for the report.
    pub async fn track_clock(
        &self,
        start: ClockSync,
        every: Duration,
        stop: tokio_util::sync::CancellationToken,
    ) -> Vec<crate::wire::ClockPoint> {
        let mut points = Vec::new();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => return points,
            }
            let Ok(next) = self.clock_offset(CLOCK_ROUNDS).await else {
                continue;
            };
            let adopted = crate::clock::worth_adopting(&start, &next);
            if adopted {
                crate::clock::readopt(&next);
            }
            points.push(crate::wire::ClockPoint {
                at_unix_ns: crate::clock::unix_now_ns(),
                offset_ns: next.offset_ns,
                uncertainty_ns: next.uncertainty_ns,
                adopted,
            });
        }
    }

    /// How the clock adopted at the start stands now (when the role
    /// reports), with the estimates `during` the run: the difference
    /// between the first and the last is the drift.
    pub async fn clock_report(
        &self,
        start: ClockSync,
        during: Vec<crate::wire::ClockPoint>,
    ) -> ClockReport {
        ClockReport {
            start,
            end: self.clock_offset(CLOCK_ROUNDS).await.ok(),
            during,
        }
    }
}

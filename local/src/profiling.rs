//! `run --profile`: CPU and heap profiles of the roles during the steady
//! middle third of a step, written with per-role flamegraphs into the
//! results folder's `profiles/` and listed in `report.md`. The roles of `run`
//! share one process; the flamegraph of a role keeps the samples of its
//! threads (`bb-sender` and `bb-pacer`, `bb-receiver`).

use crate::config::ProfilePlan;
use brokerbench_aggregator::model::Summary;
use brokerbench_aggregator::Finished;
use brokerbench_core::clock::{instant_at, unix_now_ns};
use brokerbench_core::session::Session;
use brokerbench_profile::capture::{fetch, Fetched, Kind};
use brokerbench_profile::flame::{folded_where, FEW_SAMPLES};
use std::fmt::Write as _;
use std::path::Path;

/// Profiles being captured while a run goes on; the endpoints they are
/// taken from stop when this is dropped.
pub struct Profiling {
    plan: ProfilePlan,
    task: tokio::task::JoinHandle<Vec<StepProfiles>>,
    _endpoints: tokio_util::sync::DropGuard,
}

impl Profiling {
    /// Serves this process's profiles on loopback and captures the steps
    /// `plan` names as the run reaches them (`None`: nothing to profile).
    pub async fn start(
        plan: Option<&ProfilePlan>,
        aggregator: &str,
    ) -> anyhow::Result<Option<Profiling>> {
        let Some(plan) = plan else {
            return Ok(None);
        };
        // The endpoints outlive the run: a capture may still be
        // symbolising when the drain ends.
        let stop = tokio_util::sync::CancellationToken::new();
        let addr =
            brokerbench_profile::endpoint::serve_here(([127, 0, 0, 1], 0).into(), stop.clone())
                .await
                .map_err(|e| anyhow::anyhow!("profiles: cannot listen on loopback: {e}"))?;
        let task = tokio::spawn(capture_steps(
            Session::new(aggregator),
            format!("http://{addr}"),
            plan.clone(),
        ));
        Ok(Some(Profiling {
            plan: plan.clone(),
            task,
            _endpoints: stop.drop_guard(),
        }))
    }

    /// Waits for the captures (ends with the last step profiled;
    /// symbolising a heap profile can outlast the drain: not after Ctrl-C)
    /// and writes them into the results folder.
    pub async fn finish(self, finished: &Finished) {
        let patience = if finished.results.summary.interrupted {
            self.task.abort();
            std::time::Duration::from_secs(1)
        } else {
            std::time::Duration::from_secs(30)
        };
        let captured = match tokio::time::timeout(patience, self.task).await {
            Ok(Ok(c)) => c,
            _ => Vec::new(),
        };
        match write(
            &finished.dir,
            &finished.results.summary,
            &self.plan,
            &captured,
        ) {
            Ok(files) => eprintln!("profiles: {}", files.join(", ")),
            Err(e) => eprintln!("brokerbench: profiles not written: {e:#}"),
        }
    }
}

/// Profiles of one step.
pub struct StepProfiles {
    pub step: usize,
    pub cpu: Fetched,
    pub heap: Option<Fetched>,
}

/// Thread-name prefixes of a role's threads.
fn threads_of(role: &str) -> &'static [&'static str] {
    match role {
        "sender" => &["bb-sender", "bb-pacer"],
        "sut" => &["bb-sut"],
        _ => &["bb-receiver"],
    }
}

/// Whether a sample's thread is one of `role`'s.
fn of_role(role: &str) -> impl Fn(Option<&str>) -> bool {
    let prefixes = threads_of(role);
    move |t: Option<&str>| t.is_some_and(|t| prefixes.iter().any(|p| t.starts_with(p)))
}

/// The fewest samples any of `roles` has in `cpu`.
fn fewest_samples(cpu: &Fetched, roles: &[String]) -> u64 {
    roles
        .iter()
        .map(|r| folded_where(&cpu.profile, of_role(r)).samples)
        .min()
        .unwrap_or(u64::MAX)
}

/// Waits for `t0` from the aggregator, then profiles the middle third of the
/// chosen step, or of every step. Captures that fail are skipped. When a
/// role's threads got too few samples to read (the role nearly idle, or
/// the machine too busy to run the profiler's signal on them), the step
/// is profiled again over its last third as well, twice as long if that
/// fits, and the capture with more samples kept.
pub async fn capture_steps(
    aggregator: Session,
    profiles: String,
    plan: ProfilePlan,
) -> Vec<StepProfiles> {
    let Ok(run) = aggregator.start().await else {
        return Vec::new();
    };
    let s = &run.schedule;
    let steps: Vec<usize> = match plan.step {
        Some(n) => vec![n],
        None => (1..=s.steps().len()).collect(),
    };
    let mut out = Vec::new();
    for n in steps {
        let step = s.steps()[n - 1];
        let third = (step.seconds as u64 / 3).max(1);
        let from = run.t0()
            + (s.step_start_second(n - 1) + (step.seconds as u64 - third) / 2) * 1_000_000_000;
        // A capture still running (symbolising takes seconds in a debug
        // build) may make this one late: past half its window, it would
        // profile the wrong moment, so it is skipped.
        if unix_now_ns() > from + third * 500_000_000 {
            continue;
        }
        tokio::time::sleep_until(instant_at(from)).await;
        let Ok(mut cpu) = fetch(
            &profiles,
            Kind::Cpu {
                seconds: third,
                hz: plan.hz,
            },
        )
        .await
        else {
            continue;
        };
        let fewest = fewest_samples(&cpu, &plan.roles);
        let step_end =
            run.t0() + (s.step_start_second(n - 1) + step.seconds as u64) * 1_000_000_000;
        let left_s = step_end.saturating_sub(unix_now_ns()) / 1_000_000_000;
        if fewest < FEW_SAMPLES && left_s >= 1 {
            let seconds = (2 * third).min(left_s);
            eprintln!(
                "profiles: step {n}: a role's threads got {fewest} samples in {third} s, too few to read; profiling {seconds} s more"
            );
            if let Ok(again) = fetch(
                &profiles,
                Kind::Cpu {
                    seconds,
                    hz: plan.hz,
                },
            )
            .await
            {
                if fewest_samples(&again, &plan.roles) > fewest {
                    cpu = again;
                }
            }
        }
        let heap = fetch(&profiles, Kind::Heap).await.ok();
        out.push(StepProfiles { step: n, cpu, heap });
    }
    out
}

/// Writes the profiles of the chosen step (or of the last step that held)
/// into `<dir>/profiles/` and adds them to `report.md`; returns the files.
pub fn write(
    dir: &Path,
    summary: &Summary,
    plan: &ProfilePlan,
    captured: &[StepProfiles],
) -> anyhow::Result<Vec<String>> {
    let held = |n: usize| {
        summary
            .steps
            .get(n - 1)
            .is_some_and(|s| s.judged && s.breaks.is_empty())
    };
    let chosen = match plan.step {
        Some(n) => captured.iter().find(|c| c.step == n),
        None => captured
            .iter()
            .rev()
            .find(|c| held(c.step))
            .or(captured.last()),
    };
    let Some(c) = chosen else {
        anyhow::bail!("no profile was captured (the run ended before the step's middle third?)");
    };
    let out = dir.join("profiles");
    let mut files = Vec::new();
    let name = format!("cpu-step{}", c.step);
    c.cpu.write_profile(&out, &name)?;
    files.push(format!("{name}.pb.gz"));
    let mut counts = Vec::new();
    for role in &plan.roles {
        let role_name = format!("{name}-{role}");
        let (_, folded) = c.cpu.write_flamegraph(&out, &role_name, of_role(role))?;
        files.push(format!("{role_name}.svg"));
        if folded.samples < FEW_SAMPLES {
            eprintln!(
                "brokerbench: profiles: the {role}'s flamegraph holds {} samples, too few to read (the {role} nearly idle in the step, or the machine too busy to sample it)",
                folded.samples
            );
        }
        counts.push((role.clone(), folded));
    }
    if let Some(heap) = &c.heap {
        let name = format!("heap-step{}", c.step);
        heap.write_profile(&out, &name)?;
        heap.write_flamegraph(&out, &name, |_| true)?;
        files.push(format!("{name}.pb.gz"));
        files.push(format!("{name}.svg"));
    }
    let mut section = format!(
        "\n## Profiles\n\nStep {} ({}/s), its middle third{}. The roles share one process: the CPU profile holds \
         every thread, each flamegraph the samples of one role's threads.\n\n",
        c.step,
        summary.steps.get(c.step - 1).map_or(0, |s| s.rps),
        if plan.step.is_none() { ", the last step that held" } else { "" }
    );
    for f in &files {
        let _ = writeln!(section, "- [{f}](profiles/{f})");
    }
    let _ = writeln!(section);
    for (role, folded) in &counts {
        let few = match folded.samples {
            n if n < FEW_SAMPLES => " (too few to read)",
            _ => "",
        };
        let _ = writeln!(
            section,
            "- the {role}: {} samples{few}, weighed in {}",
            folded.samples, folded.weight
        );
    }
    let report = dir.join("report.md");
    let mut text = std::fs::read_to_string(&report).unwrap_or_default();
    text.push_str(&section);
    std::fs::write(&report, text)?;
    Ok(files)
}

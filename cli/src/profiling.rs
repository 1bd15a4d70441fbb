//! `run --profile`: CPU and heap profiles of the roles during the steady
//! middle third of a step, written with per-role flamegraphs into the
//! results folder's `profiles/` and listed in `report.md`. The roles of `run`
//! share one process; the flamegraph of a role keeps the samples of its
//! threads (`bb-sender` and `bb-pacer`, `bb-receiver`).

use crate::config::ProfilePlan;
use brokerbench_aggregator::model::Summary;
use brokerbench_core::clock::{instant_at, unix_now_ns};
use brokerbench_core::session::Session;
use brokerbench_profile::capture::{fetch, Fetched, Kind};
use std::fmt::Write as _;
use std::path::Path;

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

/// Waits for `t0` from the aggregator, then profiles the middle third of the
/// chosen step, or of every step. Captures that fail are skipped.
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
        let Ok(cpu) = fetch(&profiles, Kind::Cpu { seconds: third }).await else {
            continue;
        };
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
    for role in &plan.roles {
        let prefixes = threads_of(role);
        let keep = |t: Option<&str>| t.is_some_and(|t| prefixes.iter().any(|p| t.starts_with(p)));
        let role_name = format!("{name}-{role}");
        c.cpu.write_flamegraph(&out, &role_name, keep)?;
        files.push(format!("{role_name}.svg"));
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
    let report = dir.join("report.md");
    let mut text = std::fs::read_to_string(&report).unwrap_or_default();
    text.push_str(&section);
    std::fs::write(&report, text)?;
    Ok(files)
}

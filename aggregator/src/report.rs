//! `report.md`: the run for humans — configuration, environment, the summary
//! and per-step tables, the breaking point, and the graphs.

use crate::columns::{shown, Row};
use crate::model::Summary;
use std::fmt::Write as _;

/// The machine the aggregator runs on (the whole run, locally).
fn environment() -> Vec<(&'static str, String)> {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into())
    };
    let mem = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or_else(
            || "unknown".to_string(),
            |kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0),
        );
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    vec![
        ("brokerbench", env!("CARGO_PKG_VERSION").to_string()),
        ("host", read("/proc/sys/kernel/hostname")),
        ("cores", cores.to_string()),
        ("memory", mem),
        ("kernel", read("/proc/sys/kernel/osrelease")),
    ]
}

/// What each fault did, when the plan had any.
fn faults(out: &mut String, s: &Summary) {
    if s.fault_effects.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n## Faults\n\nCounted over the events scheduled from the second before each fault's start until the run was back to \
         normal (two seconds in a row with nothing lost or failed, delivery at 90% of the level before \
         the fault and e2e P99 at most twice that level's plus 5 ms); recovery counts from the fault's end.\n"
    );
    let _ = writeln!(
        out,
        "| fault | at (s) | for (s) | lost | failed | duplicates | recovery (s) | normal before: delivered, e2e P99 (ms) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|");
    for e in &s.fault_effects {
        let recovery = e
            .recovery_s
            .map_or_else(|| "not within the run".to_string(), |r| format!("{r:.1}"));
        let level = match (e.baseline_delivery, e.baseline_e2e_p99_ms) {
            (Some(d), Some(p)) => format!("{:.1}%, {p:.2}", d * 100.0),
            _ => "-".to_string(),
        };
        let spec = match &e.error {
            Some(why) => format!("`{}` (not applied: {why})", e.spec),
            None => format!("`{}`", e.spec),
        };
        let _ = writeln!(
            out,
            "| {spec} | {:.1} | {:.1} | {} | {} | {} | {recovery} | {level} |",
            e.at_s, e.seconds, e.lost, e.failed, e.duplicates
        );
    }
}

/// The report of a run whose summary table is `table`.
pub fn render(s: &Summary, table: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# brokerbench run {}\n", s.plan.run_id);
    let warmup = s.plan.warmup.map_or_else(
        || "none".to_string(),
        |w| format!("{}/s for {} s", w.rate, w.seconds),
    );
    for (k, v) in [
        ("scenario", s.plan.scenario.clone()),
        ("started", s.started_at.clone()),
        ("pace", format!("`{}`", s.plan.schedule)),
        ("payload", format!("{} bytes", s.plan.payload_size)),
        ("warmup", warmup),
        ("drain", format!("{} s", s.plan.drain_seconds)),
        (
            "senders / receivers",
            format!("{} / {}", s.plan.senders, s.plan.receivers),
        ),
        ("deliveries per event (fan-out)", s.plan.copies.to_string()),
        ("interrupted", s.interrupted.to_string()),
    ] {
        let _ = writeln!(out, "- {k}: {v}");
    }
    let _ = writeln!(out, "\n## Environment\n");
    for (k, v) in environment() {
        let _ = writeln!(out, "- {k}: {v}");
    }
    let _ = writeln!(out, "\n## Summary\n\n```text\n{}```\n", table);
    let _ = writeln!(out, "## Steps\n");
    let headers: Vec<&str> = shown().map(|(header, _, _)| header).collect();
    let _ = writeln!(out, "| {} | holds |", headers.join(" | "));
    let _ = writeln!(out, "|{}---|", "---:|".repeat(headers.len()));
    for st in &s.steps {
        let holds = if !st.judged {
            "not judged".to_string()
        } else if st.breaks.is_empty() {
            "yes".to_string()
        } else {
            format!("no: {}", st.breaks.join(", "))
        };
        let row = Row::step(st);
        let cells: Vec<String> = shown().map(|(_, _, c)| c.value(&row).shown()).collect();
        let _ = writeln!(out, "| {} | {holds} |", cells.join(" | "));
    }
    let _ = writeln!(out, "\n## Breaking point\n");
    let _ = match &s.breaking_point {
        Some(bp) => writeln!(
            out,
            "Step {} ({}/s): {}. Limited by: {}.",
            bp.step,
            bp.rps,
            bp.reasons.join(", "),
            bp.limit()
        ),
        None if s.steps.iter().all(|st| st.judged) => writeln!(out, "None: every step held."),
        None => writeln!(
            out,
            "None among the steps judged; {}.",
            crate::notes::unjudged(s)
        ),
    };
    faults(&mut out, s);
    let _ = writeln!(
        out,
        "\n## Graphs\n\n![six-metric](six-metric.png)\n\n![points](points.png)\n\n![generator](generator.png)\n"
    );
    let _ = writeln!(
        out,
        "Data: [summary.json](summary.json), [series.tsv](series.tsv), [steps.tsv](steps.tsv), [lost.tsv](lost.tsv)."
    );
    out
}

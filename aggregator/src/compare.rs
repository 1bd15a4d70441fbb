//! Runs side by side: per-step deltas of throughput and latency against the
//! first run, and with three or more runs of one pace, their spread (how
//! reproducible the figures are).

use crate::model::{StepSummary, Summary};
use brokerbench_core::latency::LatencyKind;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A run read back from its results folder.
#[derive(Debug, Clone)]
pub struct Run {
    pub dir: PathBuf,
    pub summary: Summary,
}

/// Why a folder could not be compared.
#[derive(Debug, thiserror::Error)]
#[error("{dir}: {why}")]
pub struct LoadError {
    dir: String,
    why: String,
}

/// Reads `dir/summary.json`.
pub fn load(dir: &Path) -> Result<Run, LoadError> {
    let err = |why: String| LoadError {
        dir: dir.display().to_string(),
        why,
    };
    let text = std::fs::read_to_string(dir.join("summary.json"))
        .map_err(|e| err(format!("no summary.json ({e})")))?;
    let summary =
        serde_json::from_str(&text).map_err(|e| err(format!("summary.json unreadable: {e}")))?;
    Ok(Run {
        dir: dir.to_path_buf(),
        summary,
    })
}

fn name(r: &Run) -> String {
    r.dir.file_name().map_or_else(
        || r.dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Relative change from `a` to `b`, as `+12.3%`.
fn delta(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => format!("{:+.1}%", (b - a) / a * 100.0),
        _ => "-".to_string(),
    }
}

type Pick = fn(&brokerbench_core::histogram::Percentiles) -> f64;

fn e2e(st: &StepSummary, f: Pick) -> Option<f64> {
    st.latency_ms.get(LatencyKind::E2e).as_ref().map(f)
}

fn publish(st: &StepSummary, f: Pick) -> Option<f64> {
    st.latency_ms.get(LatencyKind::Publish).as_ref().map(f)
}

/// The comparison as text.
pub fn render(runs: &[Run]) -> String {
    let mut out = String::new();
    let first = &runs[0];
    for (i, r) in runs.iter().enumerate() {
        let _ = writeln!(
            out,
            "{} = {} (pace {})",
            (b'A' + i as u8) as char,
            name(r),
            r.summary.plan.schedule
        );
    }
    if runs
        .iter()
        .any(|r| r.summary.plan.schedule != first.summary.plan.schedule)
    {
        let _ = writeln!(
            out,
            "note: the paces differ; steps are compared by position"
        );
    }
    let _ = writeln!(
        out,
        "\n{:>4} {:>6} {:>3} {:>9} {:>9} {:>10} {:>9} {:>10} {:>9} {:>9} {:>11} {:>9} {:>11}",
        "step",
        "rps",
        "run",
        "deliv/s",
        "pub p99",
        "pub p99.99",
        "e2e p99",
        "e2e p99.99",
        "Δ deliv",
        "Δ e2e p99",
        "Δ e2e p99.99",
        "Δ pub p99",
        "Δ pub p99.99"
    );
    step_rows(&mut out, runs);
    spread(&mut out, runs);
    out
}

/// A row per step and run, with its deltas against the first run's.
fn step_rows(out: &mut String, runs: &[Run]) {
    let first = &runs[0];
    let ms = crate::model::ms_text;
    for (s, base) in first.summary.steps.iter().enumerate() {
        for (i, r) in runs.iter().enumerate() {
            let Some(st) = r.summary.steps.get(s) else {
                continue;
            };
            let deltas = if i == 0 {
                [
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]
            } else {
                [
                    delta(Some(base.delivery_rps), Some(st.delivery_rps)),
                    delta(e2e(base, |p| p.p99), e2e(st, |p| p.p99)),
                    delta(e2e(base, |p| p.p99_99), e2e(st, |p| p.p99_99)),
                    delta(publish(base, |p| p.p99), publish(st, |p| p.p99)),
                    delta(publish(base, |p| p.p99_99), publish(st, |p| p.p99_99)),
                ]
            };
            let [d, p99, p9999, pub99, pub9999] = deltas;
            let _ = writeln!(
                out,
                "{:>4} {:>6} {:>3} {:>9.0} {:>9} {:>10} {:>9} {:>10} {:>9} {:>9} {:>11} {:>9} {:>11}",
                st.step,
                st.rps,
                (b'A' + i as u8) as char,
                st.delivery_rps,
                ms(publish(st, |p| p.p99)),
                ms(publish(st, |p| p.p99_99)),
                ms(e2e(st, |p| p.p99)),
                ms(e2e(st, |p| p.p99_99)),
                d,
                p99,
                p9999,
                pub99,
                pub9999
            );
        }
    }
}

/// With three or more runs of one pace: each step's spread of e2e P99.99.
fn spread(out: &mut String, runs: &[Run]) {
    let first = &runs[0];
    if runs.len() >= 3
        && runs
            .iter()
            .all(|r| r.summary.plan.schedule == first.summary.plan.schedule)
    {
        let _ = writeln!(
            out,
            "\nspread over {} runs of pace {} (e2e P99.99, ms):",
            runs.len(),
            first.summary.plan.schedule
        );
        let _ = writeln!(
            out,
            "{:>4} {:>6} {:>9} {:>9} {:>9} {:>9}",
            "step", "rps", "min", "median", "max", "spread"
        );
        for (s, base) in first.summary.steps.iter().enumerate() {
            let mut v: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.summary.steps.get(s).and_then(|st| e2e(st, |p| p.p99_99)))
                .collect();
            if v.is_empty() {
                continue;
            }
            v.sort_by(f64::total_cmp);
            let median = if v.len() % 2 == 1 {
                v[v.len() / 2]
            } else {
                (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
            };
            let spread = (v[v.len() - 1] - v[0]) / median * 100.0;
            let _ = writeln!(
                out,
                "{:>4} {:>6} {:>9.2} {:>9.2} {:>9.2} {:>8.0}%",
                base.step,
                base.rps,
                v[0],
                median,
                v[v.len() - 1],
                spread
            );
        }
        let _ = writeln!(out, "spread = (max - min) / median");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_are_relative_to_the_first_run() {
        assert_eq!(delta(Some(10.0), Some(12.5)), "+25.0%");
        assert_eq!(delta(Some(10.0), Some(9.0)), "-10.0%");
        assert_eq!(delta(None, Some(9.0)), "-");
    }
}

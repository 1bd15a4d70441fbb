//! The results folder: `summary.json`, `series.tsv` (one row per second),
//! `steps.tsv` (one row per pace step), `lost.tsv` (lost sequence ranges),
//! `report.md`.
//! Each TSV starts with a header line naming its columns; missing values are `NaN`.

use crate::model::{LostRange, Results, SecondRow, StepSummary};
use brokerbench_core::digest::Percentiles;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// Columns of `series.tsv`.
pub const SERIES_COLUMNS: &[&str] = &[
    "second",
    "step",
    "target_rps",
    "sent_per_s",
    "delivered_per_s",
    "failed_per_s",
    "lost_per_s",
    "duplicates_per_s",
    "publish_p50_ms",
    "publish_p90_ms",
    "publish_p99_ms",
    "publish_p99_9_ms",
    "publish_p99_99_ms",
    "publish_max_ms",
    "e2e_p50_ms",
    "e2e_p90_ms",
    "e2e_p99_ms",
    "e2e_p99_9_ms",
    "e2e_p99_99_ms",
    "e2e_max_ms",
    "publish_running_p99_99_ms",
    "e2e_running_p99_99_ms",
    "lag_p99_99_ms",
    "publish_raw_p99_99_ms",
    "e2e_raw_p99_99_ms",
    "host_steal_pct",
];

/// Columns of `steps.tsv`.
pub const STEPS_COLUMNS: &[&str] = &[
    "step",
    "rps",
    "seconds",
    "start_second",
    "sent",
    "accepted",
    "failed",
    "delivered",
    "lost",
    "duplicates",
    "unexpected",
    "send_rps",
    "delivery_rps",
    "publish_p50_ms",
    "publish_p99_ms",
    "publish_p99_99_ms",
    "publish_max_ms",
    "e2e_p50_ms",
    "e2e_p99_ms",
    "e2e_p99_99_ms",
    "e2e_max_ms",
    "lag_p99_99_ms",
    "host_steal_pct",
    "generator_limited",
    "holds",
];

/// A fresh folder `<out>/<YYYYmmdd-HHMMSS>-<scenario>` (suffixed if taken).
pub fn results_dir(out: &Path, scenario: &str) -> io::Result<PathBuf> {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let mut dir = out.join(format!("{stamp}-{scenario}"));
    let mut n = 2;
    while dir.exists() {
        dir = out.join(format!("{stamp}-{scenario}-{n}"));
        n += 1;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Writes every results file into `dir`.
pub fn write(dir: &Path, r: &Results) -> io::Result<()> {
    let json = serde_json::to_string_pretty(&r.summary).map_err(io::Error::other)?;
    std::fs::write(dir.join("summary.json"), json + "\n")?;
    std::fs::write(dir.join("series.tsv"), series_tsv(&r.series))?;
    std::fs::write(dir.join("steps.tsv"), steps_tsv(&r.summary.steps))?;
    std::fs::write(dir.join("lost.tsv"), lost_tsv(&r.lost))?;
    let table = crate::table::render(&r.summary, &dir.display().to_string());
    std::fs::write(
        dir.join("report.md"),
        crate::report::render(&r.summary, &table),
    )?;
    Ok(())
}

fn num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.3}"),
        _ => "NaN".to_string(),
    }
}

/// A share as a percentage, one decimal; NaN when unknown.
fn pct(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{:.1}", x * 100.0),
        _ => "NaN".to_string(),
    }
}

fn pcts(out: &mut String, p: Option<Percentiles>, full: bool) {
    let vals: Vec<Option<f64>> = match (p, full) {
        (Some(p), true) => vec![
            Some(p.p50),
            Some(p.p90),
            Some(p.p99),
            Some(p.p99_9),
            Some(p.p99_99),
            Some(p.max),
        ],
        (None, true) => vec![None; 6],
        (Some(p), false) => vec![Some(p.p50), Some(p.p99), Some(p.p99_99), Some(p.max)],
        (None, false) => vec![None; 4],
    };
    for v in vals {
        let _ = write!(out, "\t{}", num(v));
    }
}

/// `series.tsv`: one row per second since `t0`.
pub fn series_tsv(rows: &[SecondRow]) -> String {
    let mut out = SERIES_COLUMNS.join("\t") + "\n";
    for r in rows {
        let _ = write!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            r.second,
            r.step.unwrap_or(0),
            r.target_rps,
            r.sent,
            r.delivered,
            r.failed,
            r.lost,
            r.duplicates
        );
        pcts(&mut out, r.publish, true);
        pcts(&mut out, r.e2e, true);
        for v in [
            r.publish_running_p99_99,
            r.e2e_running_p99_99,
            r.lag_p99_99,
            r.publish_raw_p99_99,
            r.e2e_raw_p99_99,
        ] {
            let _ = write!(out, "\t{}", num(v));
        }
        let _ = write!(out, "\t{}", pct(r.host_steal));
        out.push('\n');
    }
    out
}

/// `steps.tsv`: one row per pace step.
pub fn steps_tsv(steps: &[StepSummary]) -> String {
    let mut out = STEPS_COLUMNS.join("\t") + "\n";
    for s in steps {
        let t = &s.totals;
        let _ = write!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.1}\t{:.1}",
            s.step,
            s.rps,
            s.seconds,
            s.start_second,
            t.sent,
            t.accepted,
            t.failed,
            t.delivered,
            t.lost,
            t.duplicates,
            t.unexpected,
            s.send_rps,
            s.delivery_rps
        );
        pcts(&mut out, s.latency_ms.publish, false);
        pcts(&mut out, s.latency_ms.e2e, false);
        let _ = writeln!(
            out,
            "\t{}\t{}\t{}\t{}",
            num(s.latency_ms.schedule_lag.map(|p| p.p99_99)),
            pct(s.host_steal),
            s.generator_limited as u8,
            if s.judged {
                (s.breaks.is_empty() as u8).to_string()
            } else {
                "NaN".to_string()
            }
        );
    }
    out
}

/// `lost.tsv`: ranges of lost sequence numbers.
pub fn lost_tsv(lost: &[LostRange]) -> String {
    let mut out = String::from("sender\tcopy\tfirst_seq\tlast_seq\tcount\n");
    for l in lost {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            l.sender,
            l.copy,
            l.first,
            l.last,
            l.last - l.first + 1
        );
    }
    out
}

/// Reads `lost.tsv` back into (sender, copy, sequence number) (for tests and tools).
pub fn read_lost(text: &str) -> Vec<(u32, u32, u64)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<u64> = l.split('\t').filter_map(|x| x.parse().ok()).collect();
            (f.len() == 5).then(|| (f[2]..=f[3]).map(move |q| (f[0] as u32, f[1] as u32, q)))
        })
        .flatten()
        .collect()
}

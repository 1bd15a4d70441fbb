//! The results folder: `summary.json`, `series.tsv` (one row per second),
//! `steps.tsv` (one row per pace step), `lost.tsv` (lost sequence ranges),
//! `report.md`.
//! Each TSV starts with a header line naming its columns; missing values are `NaN`.

use crate::columns::{series_columns, step_columns, Cell, Column, Row};
use crate::model::{LostRange, Results, SecondRow, StepSummary};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// A TSV file: a header line, then a line per row.
fn tsv<F: ?Sized, R>(
    columns: &[Column<F>],
    rows: &[R],
    value: impl Fn(&Column<F>, &R) -> Cell,
) -> String {
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let mut out = names.join("\t") + "\n";
    for r in rows {
        let values: Vec<String> = columns.iter().map(|c| value(c, r).tsv()).collect();
        out += &values.join("\t");
        out.push('\n');
    }
    out
}

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

/// Writes every results file into `dir`. Each file is written under a
/// temporary name and renamed into place, so a crash mid-write leaves the
/// old file or the new one, never a torn one.
pub fn write(dir: &Path, r: &Results) -> io::Result<()> {
    let json = serde_json::to_string_pretty(&r.summary).map_err(io::Error::other)?;
    let table = crate::table::render(&r.summary, &dir.display().to_string());
    let files = [
        ("summary.json", json + "\n"),
        ("series.tsv", series_tsv(&r.series)),
        ("steps.tsv", steps_tsv(&r.summary.steps)),
        ("lost.tsv", lost_tsv(&r.lost)),
        ("report.md", crate::report::render(&r.summary, &table)),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes())
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file beside it and a
/// rename (atomic on one file system).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.{}-{n}.tmp", std::process::id()));
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Makes sure results can be written under `out` before a run starts:
/// creates the folder and a file in it (then removes the file). The error
/// names the folder and the cause once.
pub fn check_writable(out: &Path) -> io::Result<()> {
    // One name per check: runs in one process (tests) may check at once.
    static CHECKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CHECKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::fs::create_dir_all(out)?;
    let probe = out.join(format!(".brokerbench-probe-{}-{n}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

/// Roughly the bytes a run's results take: a series.tsv row a second
/// (drain included), a steps.tsv row a step, the summary, report.md and
/// three graphs. lost.tsv is left out: it is empty when nothing is lost.
pub fn expected_bytes(plan: &brokerbench_core::plan::RunPlan) -> u64 {
    let s = &plan.schedule;
    let seconds = s.total_seconds() + u64::from(plan.drain_seconds) + 1;
    let steps = s.steps().len() as u64;
    (64 << 10) + seconds * 600 + steps * 1_500 + 3 * (80 << 10)
}

/// Bytes an unprivileged writer may still use where `dir` is.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills `st` from a NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statvfs(path.as_ptr(), &mut st) } == 0)
        .then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// [`check_writable`], and room for `needed` bytes there: a folder where
/// the results clearly will not fit is refused before the run.
pub fn check_room(out: &Path, needed: u64) -> io::Result<()> {
    check_writable(out)?;
    match free_bytes(out) {
        Some(free) if free < needed => Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!(
                "{} kB free, and the results of this pace take about {} kB",
                free >> 10,
                needed >> 10
            ),
        )),
        _ => Ok(()),
    }
}

/// `series.tsv`: one row per second since `t0`.
pub fn series_tsv(rows: &[SecondRow]) -> String {
    tsv(&series_columns(), rows, |c, r| c.value(r))
}

/// `steps.tsv`: one row per pace step, every column of
/// [`step_columns`].
pub fn steps_tsv(steps: &[StepSummary]) -> String {
    tsv(&step_columns(), steps, |c, st| c.value(&Row::step(st)))
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

/// The results folder `dir` as a tar: its files under the folder's own
/// name, as `k8s collect` unpacks them.
pub fn tar(dir: &Path) -> io::Result<Vec<u8>> {
    let name = dir.file_name().unwrap_or(dir.as_os_str());
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(name, dir)?;
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use brokerbench_core::latency::LatencyKind;

    /// A run whose reports did not all come judges no step: `holds` is
    /// NaN on every row of steps.tsv.
    #[test]
    fn steps_not_judged_hold_nan() {
        let res = crate::join::tests::with_missing_reports();
        let steps = steps_tsv(&res.summary.steps);
        assert_eq!(steps.lines().count(), 3, "{steps}");
        assert!(
            steps.lines().next().unwrap().ends_with("\tholds"),
            "{steps}"
        );
        assert!(
            steps.lines().skip(1).all(|l| l.ends_with("\tNaN")),
            "{steps}"
        );
    }

    /// Each second's negative e2e samples and the most negative of them.
    #[test]
    fn negative_latencies_are_counted_per_second_with_their_minimum() {
        let (s, mut r) = crate::join::tests::reports();
        let plan = crate::join::tests::plan();
        let mut w = brokerbench_core::series::LatencyWindows::new(&plan.schedule);
        // Second 1: two stamps 2 and 5 ms before their intended time.
        w.record(1, 10_000_000, 8_000_000);
        w.record(1, 10_000_000, 5_000_000);
        w.record(0, 0, 1_000_000);
        r.windows.insert(LatencyKind::E2e, w.to_wire());
        let res = crate::join::join(&plan, &[s], &[r], &crate::join::Ending::complete());
        let tsv = series_tsv(&res.series);
        let mut lines = tsv.lines().map(|l| l.split('\t').collect::<Vec<_>>());
        let header = lines.next().unwrap();
        let rows: Vec<Vec<&str>> = lines.collect();
        let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let (n, min) = (at("e2e_negative"), at("e2e_negative_min_ms"));
        assert_eq!((rows[0][n], rows[0][min]), ("0", "NaN"));
        assert_eq!((rows[1][n], rows[1][min]), ("2", "-5.000"));
        assert_eq!(rows[1][at("e2e_raw_negative")], "0");
    }
}

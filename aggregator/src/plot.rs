//! Graphs: runs the gnuplot scripts of `gnuplot/` (built into the binary) on
//! a results folder. The scripts also run by hand:
//! `gnuplot -c gnuplot/six-metric.plg results/<run>`.

use std::path::{Path, PathBuf};
use std::process::Command;

const SCRIPTS: &[(&str, &str)] = &[
    ("common.gp", include_str!("../../gnuplot/common.gp")),
    (
        "six-metric.plg",
        include_str!("../../gnuplot/six-metric.plg"),
    ),
    ("points.plg", include_str!("../../gnuplot/points.plg")),
    ("generator.plg", include_str!("../../gnuplot/generator.plg")),
    ("headroom.gp", include_str!("../../gnuplot/headroom.gp")),
    ("trimmed.plg", include_str!("../../gnuplot/trimmed.plg")),
    ("compare.plg", include_str!("../../gnuplot/compare.plg")),
];

/// Which graphs to draw.
#[derive(Debug, Clone, Default)]
pub struct PlotOptions {
    /// SVG copies beside the PNGs.
    pub svg: bool,
    /// Also draw `trimmed`: the six-metric graph without the first N seconds.
    pub trim_seconds: Option<u64>,
    /// Also draw `zoom`: the six-metric graph from one second to another.
    pub zoom: Option<(f64, f64)>,
}

/// Why graphs were not drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("gnuplot not found: graphs not drawn (install it, e.g. apt-get install gnuplot-nox, then run: brokerbench plot {0})")]
    NoGnuplot(String),
    #[error("{0} is not a results folder (no series.tsv and steps.tsv)")]
    NotResults(String),
    #[error("gnuplot {script} failed: {stderr}")]
    Gnuplot { script: String, stderr: String },
    #[error("cannot write gnuplot scripts: {0}")]
    Io(#[from] std::io::Error),
    #[error("graph {file} not written whole ({why}): is the disk full?")]
    Incomplete { file: String, why: String },
}

/// Whether a graph gnuplot wrote is whole: a PNG ends with its IEND
/// chunk, an SVG with `</svg>` (a full disk leaves them empty or cut).
fn whole(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let ok = match path.extension().and_then(|e| e.to_str()) {
        Some("png") => bytes.ends_with(b"IEND\xaeB`\x82"),
        Some("svg") => String::from_utf8_lossy(&bytes)
            .trim_end()
            .ends_with("</svg>"),
        _ => !bytes.is_empty(),
    };
    match (ok, bytes.len()) {
        (true, _) => Ok(()),
        (false, 0) => Err("0 bytes".into()),
        (false, n) => Err(format!("cut short at {n} bytes")),
    }
}

/// Moves a graph gnuplot wrote under a temporary name into place once it
/// is whole; else removes it and says which.
fn settle(tmp: &Path, path: &Path) -> Result<(), PlotError> {
    let checked = whole(tmp).and_then(|()| std::fs::rename(tmp, path).map_err(|e| e.to_string()));
    checked.map_err(|why| {
        let _ = std::fs::remove_file(tmp);
        PlotError::Incomplete {
            file: path.display().to_string(),
            why,
        }
    })
}

/// A temporary name beside `name.fmt` in `dir` (hidden, this process's).
fn temporary(name: &str) -> String {
    format!(".{name}.{}.tmp", std::process::id())
}

/// Writes the scripts where gnuplot can run them, after checking it exists.
fn scripts(shown: &str) -> Result<PathBuf, PlotError> {
    if Command::new("gnuplot").arg("--version").output().is_err() {
        return Err(PlotError::NoGnuplot(shown.to_string()));
    }
    let dir = std::env::temp_dir().join(format!("brokerbench-gnuplot-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for (name, text) in SCRIPTS {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(dir)
}

/// Runs one script; the last line gnuplot printed on failure.
fn gnuplot(script: &Path, args: &[&std::ffi::OsStr]) -> Result<(), PlotError> {
    let output = Command::new("gnuplot")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string();
    let name = script
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Err(PlotError::Gnuplot {
        script: name,
        stderr: last,
    })
}

/// Draws several runs on one graph into `out` (`.png` or `.svg`).
pub fn plot_compare(out: &Path, dirs: &[PathBuf]) -> Result<(), PlotError> {
    let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    for (d, s) in dirs.iter().zip(&shown) {
        if !d.join("series.tsv").is_file() {
            return Err(PlotError::NotResults(s.clone()));
        }
    }
    let scripts = scripts(&format!("(compare) {}", shown.join(" ")))?;
    // Written beside its place under a temporary name (same extension,
    // so gnuplot's terminal is the same), then moved there once whole.
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or("png");
    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned());
    let tmp = out.with_file_name(format!("{}.{ext}", temporary(&stem.unwrap_or_default())));
    let mut args: Vec<&std::ffi::OsStr> = vec![tmp.as_os_str()];
    args.extend(dirs.iter().map(|d| d.as_os_str()));
    let result = gnuplot(&scripts.join("compare.plg"), &args).and_then(|()| settle(&tmp, out));
    let _ = std::fs::remove_dir_all(&scripts);
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Draws the graphs of the results folder `dir`; returns the files written.
pub fn plot(dir: &Path, opts: &PlotOptions) -> Result<Vec<PathBuf>, PlotError> {
    let shown = dir.display().to_string();
    if !dir.join("series.tsv").is_file() || !dir.join("steps.tsv").is_file() {
        return Err(PlotError::NotResults(shown));
    }
    let scripts = scripts(&shown)?;
    let formats: &[&str] = if opts.svg { &["png", "svg"] } else { &["png"] };
    let mut jobs: Vec<(&str, Vec<String>, &str)> = Vec::new();
    for fmt in formats {
        let f = fmt.to_string();
        jobs.push((
            "six-metric.plg",
            vec![String::new(), String::new(), f.clone(), "six-metric".into()],
            fmt,
        ));
        for (script, graph) in [("points.plg", "points"), ("generator.plg", "generator")] {
            jobs.push((
                script,
                vec![String::new(), String::new(), f.clone(), graph.into()],
                fmt,
            ));
        }
        if let Some(trim) = opts.trim_seconds {
            // trimmed.plg's own call: the six-metric graph from `trim` on.
            jobs.push((
                "six-metric.plg",
                vec![trim.to_string(), String::new(), f.clone(), "trimmed".into()],
                fmt,
            ));
        }
        if let Some((from, to)) = opts.zoom {
            jobs.push((
                "six-metric.plg",
                vec![from.to_string(), to.to_string(), f.clone(), "zoom".into()],
                fmt,
            ));
        }
    }
    let mut written = Vec::new();
    let drawn = (|| {
        for (script, mut args, fmt) in jobs {
            // Drawn under a temporary name, moved into place once whole.
            let name = std::mem::take(&mut args[3]);
            args[3] = temporary(&name);
            let mut all: Vec<&std::ffi::OsStr> = vec![dir.as_os_str()];
            all.extend(args.iter().map(std::ffi::OsStr::new));
            let tmp = dir.join(format!("{}.{fmt}", args[3]));
            let path = dir.join(format!("{name}.{fmt}"));
            let done = gnuplot(&scripts.join(script), &all).and_then(|()| settle(&tmp, &path));
            let _ = std::fs::remove_file(&tmp);
            done?;
            written.push(path);
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&scripts);
    drawn.map(|()| written)
}

//! `brokerbench search`: the highest rate that meets an SLO, found by
//! bisection over short runs, then confirmed by a longer one — the method of
//! the wrk2 key-value store test that bisected to its breaking point by hand,
//! done by the suite. Every trial is a full run with its own results folder;
//! the trail of tried rates is printed and saved (`search.tsv`).

use crate::args::tools::SearchOpts;
use crate::config::SearchConfig;
use anyhow::{bail, Context};
use brokerbench_aggregator::conclude::EXIT_SLO_MISSED;
use brokerbench_aggregator::model::Summary;
use brokerbench_core::latency::LatencyKind;
use brokerbench_core::pace::Schedule;
use brokerbench_local::run::run as run_local;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// One tried rate.
#[derive(Debug, Clone)]
pub struct Trial {
    pub rate: u32,
    pub seconds: u32,
    pub met: bool,
    pub summary: Summary,
    pub dir: PathBuf,
}

/// The outcome: the highest rate that met the SLO and held in the longer run.
#[derive(Debug, Clone)]
pub struct Found {
    pub rate: Option<u32>,
    pub trials: Vec<Trial>,
    pub dir: PathBuf,
}

/// `brokerbench search`: prints the rate found and where its trail is;
/// exit code 3 when no rate met the SLO.
pub async fn run(o: SearchOpts, shutdown: CancellationToken) -> anyhow::Result<i32> {
    let found = search(o.into_config()?, shutdown).await?;
    let trail = found.dir.join("search.tsv");
    match found.rate {
        Some(rate) => println!(
            "highest rate meeting the SLO: {rate} events/s (trail: {})",
            trail.display()
        ),
        None => println!("no rate met the SLO (trail: {})", trail.display()),
    }
    Ok(match found.rate {
        Some(_) => 0,
        None => EXIT_SLO_MISSED,
    })
}

/// Most trials a search makes (bisection, then confirmation).
const MAX_TRIALS: usize = 24;

async fn trial(
    c: &SearchConfig,
    out: &Path,
    rate: u32,
    seconds: u32,
    stop: &CancellationToken,
) -> anyhow::Result<Trial> {
    let mut run = c.run.clone();
    run.plan.schedule = Schedule::parse(&format!("{rate}:{seconds}"))?;
    run.plan.run_id = format!("{}-{rate}", c.run.plan.run_id);
    run.out = out.to_path_buf();
    run.progress = false;
    let finished = run_local(run, stop.clone()).await?;
    if finished.results.summary.interrupted {
        bail!("interrupted");
    }
    let met = c.slo.check(&finished.results.summary).iter().all(|v| v.met);
    Ok(Trial {
        rate,
        seconds,
        met,
        summary: finished.results.summary,
        dir: finished.dir,
    })
}

/// The latencies whose P99.99 each trial's line shows.
const TRAIL_KINDS: [LatencyKind; 3] = [
    LatencyKind::E2e,
    LatencyKind::Publish,
    LatencyKind::PacerLag,
];

fn line(t: &Trial) -> String {
    let ms = TRAIL_KINDS.map(|kind| {
        t.summary
            .latency_ms
            .get(kind)
            .map_or("-".into(), |p| format!("{:.2}", p.p99_99))
    });
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
        t.rate,
        t.seconds,
        if t.met { "met" } else { "missed" },
        ms.join("\t"),
        t.summary.totals.lost,
        t.summary.totals.failed,
        t.dir.display()
    )
}

/// The first line of the trail: the columns of [`line`].
fn trail_header() -> String {
    let kinds = TRAIL_KINDS.map(|k| format!("{}_p99_99_ms", k.short()));
    format!(
        "rate\tseconds\tslo\t{}\tlost\tfailed\tresults",
        kinds.join("\t")
    )
}

/// Runs the search; prints each trial as it ends.
pub async fn search(c: SearchConfig, stop: CancellationToken) -> anyhow::Result<Found> {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let dir = c
        .run
        .out
        .join(format!("{stamp}-search-{}", c.run.plan.scenario));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut trials: Vec<Trial> = Vec::new();
    let header = trail_header();
    let mut trail = header.clone() + "\n";
    println!("{header}");
    let mut record = |t: Trial, trials: &mut Vec<Trial>| -> bool {
        let l = line(&t);
        println!("{l}");
        let _ = writeln!(trail, "{l}");
        let _ = std::fs::write(dir.join("search.tsv"), &trail);
        let met = t.met;
        trials.push(t);
        met
    };
    let (mut lo, mut hi) = (c.low, c.high);
    if !record(trial(&c, &dir, lo, c.seconds, &stop).await?, &mut trials) {
        return Ok(Found {
            rate: None,
            trials,
            dir,
        });
    }
    if !record(trial(&c, &dir, hi, c.seconds, &stop).await?, &mut trials) {
        // Invariant: lo met, hi missed.
        while (hi - lo) as f64 > c.precision * lo as f64 && hi - lo > 1 && trials.len() < MAX_TRIALS
        {
            let mid = lo + (hi - lo) / 2;
            if record(trial(&c, &dir, mid, c.seconds, &stop).await?, &mut trials) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
    } else {
        lo = hi;
    }
    // Confirm with a longer run; step down by the precision while it misses.
    let mut rate = lo;
    loop {
        if record(
            trial(&c, &dir, rate, c.confirm_seconds, &stop).await?,
            &mut trials,
        ) {
            return Ok(Found {
                rate: Some(rate),
                trials,
                dir,
            });
        }
        let lower = (rate as f64 * (1.0 - c.precision.max(0.01))) as u32;
        if lower < c.low || trials.len() >= MAX_TRIALS {
            return Ok(Found {
                rate: None,
                trials,
                dir,
            });
        }
        rate = lower;
    }
}

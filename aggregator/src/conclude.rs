//! The end of a run as the terminal sees it: the table, the graphs, the
//! objectives, and the exit code that says how it went. A local run, the
//! standalone aggregator, `aggregate` and `k8s collect` end the same way.

use crate::plot::{PlotError, PlotOptions};
use crate::slo::Slo;
use crate::Finished;
use brokerbench_core::env::emit;
use std::path::Path;

/// Exit code of a run cut short by Ctrl-C (partial results were written).
pub const EXIT_INTERRUPTED: i32 = 130;
/// Exit code of a run that missed an objective of `--slo`.
pub const EXIT_SLO_MISSED: i32 = 3;
/// Exit code of a run some role never reported on (killed, its node lost):
/// results from the others, the missing role named.
pub const EXIT_MISSING_REPORT: i32 = 4;

/// Prints the table, draws the graphs, checks the objectives; returns the
/// exit code: 4 when a role's report is missing, 130 when interrupted, 1
/// when the results folder is not whole, 3 when an objective was missed,
/// else 0.
pub fn conclude(finished: &Finished, plot: Option<&PlotOptions>, slo: Option<&Slo>) -> i32 {
    let summary = &finished.results.summary;
    let dir = finished.dir.display().to_string();
    // The table first, whatever the disk did.
    emit(&crate::table::render(summary, &dir));
    let mut whole = true;
    if let Some(why) = &finished.not_written {
        eprintln!("brokerbench: error: the results folder is not whole: {why}");
        whole = false;
    }
    if let (Some(options), true) = (plot, whole) {
        whole = draw(&finished.dir, options);
    }
    let mut missed = false;
    if let Some(slo) = slo {
        for verdict in slo.check(summary) {
            println!("slo: {verdict}");
            missed |= !verdict.met;
        }
    }
    if !summary.missing_reports.is_empty() {
        EXIT_MISSING_REPORT
    } else if summary.interrupted {
        EXIT_INTERRUPTED
    } else if !whole {
        1
    } else if missed {
        EXIT_SLO_MISSED
    } else {
        0
    }
}

/// Draws the graphs of a results folder; false when one failed (a graph
/// not written whole is an error; no gnuplot is a note: nothing was
/// attempted).
pub fn draw(dir: &Path, options: &PlotOptions) -> bool {
    match crate::plot::plot(dir, options) {
        Ok(files) => {
            let names: Vec<_> = files
                .iter()
                .filter_map(|f| f.file_name())
                .map(|n| n.to_string_lossy())
                .collect();
            println!("graphs: {}", names.join(", "));
            true
        }
        Err(e @ PlotError::NoGnuplot(_)) => {
            eprintln!("brokerbench: {e}");
            true
        }
        Err(e) => {
            eprintln!("brokerbench: error: {e}");
            false
        }
    }
}

//! `brokerbench compare`: runs side by side, and their graph.

use crate::args::tools::CompareOpts;
use brokerbench_aggregator::compare;
use brokerbench_core::env::emit;

pub fn run(o: CompareOpts) -> anyhow::Result<i32> {
    let runs = o
        .dirs
        .iter()
        .map(|d| compare::load(d))
        .collect::<Result<Vec<_>, _>>()?;
    emit(&compare::render(&runs));
    if !o.no_plot {
        match brokerbench_aggregator::plot::plot_compare(&o.graph, &o.dirs) {
            Ok(()) => emit(&format!("graph: {}\n", o.graph.display())),
            Err(e) => eprintln!("brokerbench: {e}"),
        }
    }
    Ok(0)
}

//! `brokerbench plot`: the graphs of a results folder, drawn again.

use crate::args::tools::PlotOpts;

pub fn run(o: PlotOpts) -> anyhow::Result<i32> {
    let c = o.into_config()?;
    let files = brokerbench_aggregator::plot::plot(&c.dir, &c.options)?;
    for f in files {
        println!("{}", f.display());
    }
    Ok(0)
}

//! `brokerbench profile`: a CPU or heap profile of a running role, and its
//! flamegraph.

use crate::args::tools::CaptureOpts;
use brokerbench_profile::capture::{capture, Kind};

pub async fn run(o: CaptureOpts) -> anyhow::Result<i32> {
    crate::args::run::check_hz(o.hz, "--hz")?;
    let kind = if o.heap {
        Kind::Heap
    } else {
        Kind::Cpu {
            seconds: o.seconds.max(1),
            hz: o.hz,
        }
    };
    let name = o.name.clone().unwrap_or_else(|| {
        let host = o
            .url
            .split("://")
            .nth(1)
            .unwrap_or("")
            .split('/')
            .next()
            .unwrap_or("")
            .replace(':', "-");
        format!("{}-{host}", if o.heap { "heap" } else { "cpu" })
    });
    if !o.heap {
        eprintln!("profiling {} for {} s ...", o.url, o.seconds);
    }
    let got = capture(&o.url, kind, &o.out, &name).await?;
    println!("{}\n{}", got.profile.display(), got.flamegraph.display());
    let few = match got.folded.samples {
        n if n < brokerbench_profile::flame::FEW_SAMPLES => {
            ", too few to read: profile longer, or under load"
        }
        _ => "",
    };
    eprintln!(
        "{} samples, weighed in {}{few}",
        got.folded.samples, got.folded.weight
    );
    Ok(0)
}

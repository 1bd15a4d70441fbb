//! Folded stacks from a pprof profile's samples and locations, and the
//! flamegraph SVG drawn from them.

use pprof::protos::Profile;
use std::collections::BTreeMap;

/// A profile's stacks, folded: what a flamegraph draws.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded {
    /// `root;...;leaf value` lines, one per distinct stack, summed.
    pub lines: Vec<String>,
    /// Samples taken in them (the profile's `samples` count, or its sample
    /// records when it has none).
    pub samples: u64,
    /// What a value is: the profile's own sample type and unit, e.g. `cpu
    /// nanoseconds` or `inuse_space bytes`.
    pub weight: String,
}

/// Fewer samples than this in a flamegraph are too few to read (a
/// hundredth of the whole would be under one sample).
pub const FEW_SAMPLES: u64 = 100;

/// All of a profile's stacks, folded.
pub fn folded(p: &Profile) -> Folded {
    folded_where(p, |_| true)
}

/// The thread a sample was taken on (the `thread` label profilers such as
/// pprof-rs attach), if any.
fn thread_of<'a>(p: &'a Profile, s: &pprof::protos::Sample) -> Option<&'a str> {
    let key = p.string_table.iter().position(|t| t == "thread")? as i64;
    let label = s.label.iter().find(|l| l.key == key)?;
    p.string_table.get(label.str as usize).map(String::as_str)
}

/// Folded stacks of the samples whose thread `keep` accepts (its name, or
/// `None` when the profile names no threads).
pub fn folded_where(p: &Profile, keep: impl Fn(Option<&str>) -> bool) -> Folded {
    let text = |i: i64| {
        p.string_table
            .get(i as usize)
            .map(String::as_str)
            .unwrap_or("?")
    };
    let functions: BTreeMap<u64, &str> = p.function.iter().map(|f| (f.id, text(f.name))).collect();
    let locations: BTreeMap<u64, Vec<&str>> = p
        .location
        .iter()
        .map(|l| {
            // Lines of one location: innermost (inlined) first.
            let names = l
                .line
                .iter()
                .map(|ln| functions.get(&ln.function_id).copied().unwrap_or("?"))
                .collect::<Vec<_>>();
            let names = if names.is_empty() { vec!["?"] } else { names };
            (l.id, names)
        })
        .collect();
    // The value to weigh samples by: CPU time or allocation size if there is
    // one, else the last value.
    let index = p
        .sample_type
        .iter()
        .position(|t| matches!(text(t.ty), "cpu" | "inuse_space" | "space"))
        .unwrap_or(p.sample_type.len().saturating_sub(1));
    let weight = p
        .sample_type
        .get(index)
        .map(|t| format!("{} {}", text(t.ty), text(t.unit)))
        .unwrap_or_else(|| "samples".to_string());
    // The count of samples, when the profile has one (pprof-rs and Go
    // CPU profiles: `samples count`).
    let count = p
        .sample_type
        .iter()
        .position(|t| text(t.ty) == "samples" && text(t.unit) == "count");
    let mut samples = 0u64;
    let mut stacks: BTreeMap<String, i64> = BTreeMap::new();
    for s in p.sample.iter().filter(|s| keep(thread_of(p, s))) {
        samples += match count {
            Some(i) => s.value.get(i).copied().unwrap_or(0).max(0) as u64,
            None => 1,
        };
        let weight = s.value.get(index).copied().unwrap_or(0);
        if weight <= 0 {
            continue;
        }
        // Sample locations are leaf first; folded stacks are root first.
        let frames: Vec<&str> = s
            .location_id
            .iter()
            .rev()
            .flat_map(|id| {
                locations
                    .get(id)
                    .map(|n| n.iter().rev().copied().collect::<Vec<_>>())
                    .unwrap_or_default()
            })
            .collect();
        let stack = frames
            .iter()
            .map(|f| f.replace(';', ":"))
            .collect::<Vec<_>>()
            .join(";");
        *stacks.entry(stack).or_default() += weight;
    }
    Folded {
        lines: stacks
            .into_iter()
            .map(|(s, v)| format!("{s} {v}"))
            .collect(),
        samples,
        weight,
    }
}

/// Renders folded stacks as a flamegraph SVG, its values labelled with
/// what they are (`weight`, e.g. `cpu nanoseconds`).
pub fn svg(lines: &[String], title: &str, weight: &str) -> Result<Vec<u8>, String> {
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = title.to_string();
    opts.count_name = weight.to_string();
    let mut out = Vec::new();
    inferno::flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), &mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

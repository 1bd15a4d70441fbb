//! Folded stacks from a pprof profile's samples and locations, and the
//! flamegraph SVG drawn from them.

use pprof::protos::Profile;
use std::collections::BTreeMap;

/// `root;...;leaf value` lines, one per distinct stack, summed.
pub fn folded(p: &Profile) -> Vec<String> {
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
pub fn folded_where(p: &Profile, keep: impl Fn(Option<&str>) -> bool) -> Vec<String> {
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
    let mut stacks: BTreeMap<String, i64> = BTreeMap::new();
    for s in p.sample.iter().filter(|s| keep(thread_of(p, s))) {
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
    stacks
        .into_iter()
        .map(|(s, v)| format!("{s} {v}"))
        .collect()
}

/// Renders folded stacks as a flamegraph SVG.
pub fn svg(folded: &[String], title: &str) -> Result<Vec<u8>, String> {
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = title.to_string();
    let mut out = Vec::new();
    inferno::flamegraph::from_lines(&mut opts, folded.iter().map(String::as_str), &mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

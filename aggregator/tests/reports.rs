//! Property tests of the aggregator's JSON: role reports mutated at random
//! (numbers set to edges, arrays cut, grown or emptied, keys dropped). Each
//! one is either refused with a reason (a 400, as the server answers) or
//! joined and written out without a panic, and what is written reads back.
//! A role is trusted to be of the run (it has the run's token), not to be
//! sound: a broken or hostile report must not take the run's results with
//! it.

mod fixture;

use brokerbench_aggregator::join::{join, Ending};
use brokerbench_aggregator::server::Report;
use brokerbench_core::plan::RunPlan;
use brokerbench_core::shapes::Rng;
use brokerbench_core::wire::{ReceiverReport, SenderReport};
use serde_json::Value;

/// Numbers a field may be set to: the edges, and a few ordinary ones.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "7",
    "63",
    "64",
    "65",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "9223372036854775807",
    "-1",
    "0.5",
    "1e300",
    "1000000000000",
];

/// Reports that found something (a panic in the join), kept: JSON
/// patches to the fixture (`/`-separated paths), and the start of the
/// reason each is refused with (`None`: taken and joined).
type Patch = (&'static str, &'static str);
const CORPUS: &[(&str, &[Patch], Option<&str>)] = &[
    // Sums of counts past u64 (the aggregator's totals, steps, series).
    (
        "sender",
        &[("seconds/0/accepted", "18446744073709551615")],
        Some("second 0: accepted 18446744073709551615 is more than any run counts"),
    ),
    (
        "sender",
        &[("released", "18446744073709551615")],
        Some("released"),
    ),
    (
        "receiver",
        &[("cpu_per_second_ns/0", "18446744073709551615")],
        Some("cpu_per_second_ns 0"),
    ),
    (
        "receiver",
        &[("rejected/early", "18446744073709551615")],
        Some("rejected"),
    ),
    // Histogram counts past u64 when merged.
    (
        "sender",
        &[("windows/publish/0/count", "18446744073709551615")],
        Some("publish of second 0"),
    ),
    // Ledgers whose words do not cover their length, or claim more.
    (
        "receiver",
        &[("received/0/words", "[]")],
        Some("received 0: 0 words"),
    ),
    (
        "sender",
        &[("accepted/len", "18446744073709551615")],
        Some("accepted.len"),
    ),
    (
        "sender",
        &[("accepted/words/0", "18446744073709551615")],
        Some("accepted: bits set past"),
    ),
    // Plausible, if odd: taken.
    ("sender", &[("seconds", "[]")], None),
    ("receiver", &[("threads", "0")], None),
];

/// The value at `path` in `v`, if there is one.
fn at<'a>(v: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    path.split('/').try_fold(v, |v, key| match v {
        Value::Object(m) => m.get_mut(key),
        Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
        _ => None,
    })
}

/// Every path to a leaf or array in `v`.
fn paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    let join = |k: &str| match prefix {
        "" => k.to_string(),
        p => format!("{p}/{k}"),
    };
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| paths(v, &join(k), out)),
        Value::Array(a) => {
            out.push(prefix.to_string());
            // Long arrays (ledger words, buckets): a few of their elements.
            for (i, v) in a.iter().enumerate().take(4) {
                paths(v, &join(&i.to_string()), out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

/// One random change to `v`.
fn mutate(rng: &mut Rng, v: &mut Value) {
    let mut all = Vec::new();
    paths(v, "", &mut all);
    let path = rng.pick(&all).clone();
    if path.is_empty() {
        return;
    }
    let action = rng.below(4);
    if action == 3 {
        // The key dropped (serde's default, or a refusal).
        let (parent, key) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        let p = match parent {
            "" => Some(v),
            p => at(v, p),
        };
        if let Some(Value::Object(m)) = p {
            m.remove(key);
        }
        return;
    }
    let Some(target) = at(v, &path) else { return };
    match (target, action) {
        (Value::Array(a), 0) => a.clear(),
        (Value::Array(a), 1) if !a.is_empty() => {
            let keep = rng.below(a.len());
            a.truncate(keep);
        }
        (Value::Array(a), 2) if !a.is_empty() => {
            // Grown: a copy of an element, many times.
            let e = a[rng.below(a.len())].clone();
            let n = *rng.pick(&[1usize, 10, 1000]);
            a.extend(std::iter::repeat_n(e, n));
        }
        (t, _) => {
            let n: &&str = rng.pick(NUMBERS);
            *t = serde_json::from_str(n).unwrap();
        }
    }
}

/// Takes the reports as the server does, then joins them and writes all
/// that a run writes; what is refused says why.
fn take(plan: &RunPlan, sender: &Value, receiver: &Value) -> Result<(), String> {
    let s: SenderReport = serde_json::from_value(sender.clone()).map_err(|e| e.to_string())?;
    let r: ReceiverReport = serde_json::from_value(receiver.clone()).map_err(|e| e.to_string())?;
    if let Some(why) = s.malformed().or(r.malformed()) {
        return Err(why);
    }
    let results = join(plan, &[s], &[r], &Ending::complete());
    let summary = serde_json::to_string(&results.summary).unwrap();
    let back: brokerbench_aggregator::model::Summary = serde_json::from_str(&summary).unwrap();
    assert_eq!(back.totals.sent, results.summary.totals.sent);
    let _ = brokerbench_aggregator::output::series_tsv(&results.series);
    let _ = brokerbench_aggregator::output::steps_tsv(&results.summary.steps);
    let _ = brokerbench_aggregator::output::lost_tsv(&results.lost);
    let table = brokerbench_aggregator::table::render(&results.summary, "out");
    let _ = brokerbench_aggregator::report::render(&results.summary, &table);
    Ok(())
}

#[test]
fn kept_reports_that_found_something_are_refused_or_joined() {
    let (plan, sender, receiver) = fixture::fixture();
    let (sender, receiver) = (
        serde_json::to_value(&sender).unwrap(),
        serde_json::to_value(&receiver).unwrap(),
    );
    for (role, patches, refused) in CORPUS {
        let (mut s, mut r) = (sender.clone(), receiver.clone());
        let v = if *role == "sender" { &mut s } else { &mut r };
        for (path, value) in *patches {
            *at(v, path).unwrap_or_else(|| panic!("{path}")) = serde_json::from_str(value).unwrap();
        }
        match (take(&plan, &s, &r), refused) {
            (Ok(()), None) => {}
            (Err(why), Some(start)) => assert!(why.starts_with(start), "{patches:?}: {why}"),
            (outcome, _) => panic!("{role} {patches:?}: {outcome:?}"),
        }
    }
}

#[test]
fn mutated_reports_are_refused_or_joined_never_a_panic() {
    let (plan, sender, receiver) = fixture::fixture();
    let (sender, receiver) = (
        serde_json::to_value(&sender).unwrap(),
        serde_json::to_value(&receiver).unwrap(),
    );
    // The fixture itself is taken.
    take(&plan, &sender, &receiver).unwrap();
    let (mut taken, mut refused) = (0, 0);
    // Each place that panics, once, with the first seed that reached it.
    let places = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let seen = places.clone();
    std::panic::set_hook(Box::new(move |info| {
        let place = info
            .location()
            .map_or("?".into(), |l| format!("{}:{}", l.file(), l.line()));
        let what = info.payload_as_str().unwrap_or("").to_string();
        seen.lock().unwrap().entry(place).or_insert(what);
    }));
    let mut first_seeds = std::collections::BTreeMap::new();
    for seed in 0..3_000u64 {
        let mut rng = Rng::new(seed);
        let (mut s, mut r) = (sender.clone(), receiver.clone());
        for _ in 0..1 + rng.below(3) {
            let v = if rng.below(2) == 0 { &mut s } else { &mut r };
            mutate(&mut rng, v);
        }
        let outcome = std::panic::catch_unwind(|| take(&plan, &s, &r));
        match outcome {
            Ok(Ok(())) => taken += 1,
            Ok(Err(_)) => refused += 1,
            Err(_) => {
                let n = places.lock().unwrap().len();
                first_seeds.entry(n).or_insert(seed);
            }
        }
    }
    let _ = std::panic::take_hook();
    let places = places.lock().unwrap();
    assert!(
        places.is_empty(),
        "panics (first seeds {first_seeds:?}):\n{places:#?}"
    );
    // Both outcomes are exercised.
    assert!(
        taken > 300 && refused > 300,
        "taken {taken}, refused {refused}"
    );
}

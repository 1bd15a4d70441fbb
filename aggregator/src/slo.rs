//! Service-level objectives a run must meet: `e2e.p99.99<50ms,lost=0`.
//! `run --slo` exits non-zero when one is missed, so a broker's CI can use
//! the suite as a regression check.
//!
//! Latency percentiles cover only events that were answered (publish, lag)
//! or delivered (e2e): a timed-out or lost event has no latency to count.
//! So a latency objective is met only if its bound holds *and* nothing
//! failed (and, for e2e, nothing was lost): 5% timeouts never pass
//! `publish.p99.99<50ms`.

use crate::model::Summary;
use brokerbench_core::latency::LatencyKind;
use std::fmt;

/// A bad `--slo` clause, named.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--slo clause {clause:?}: {why}")]
pub struct SloError {
    clause: String,
    why: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

#[derive(Debug, Clone, PartialEq)]
enum Metric {
    /// A latency percentile, ms: which latency, which percentile.
    Latency(LatencyKind, &'static str),
    /// A count from the totals.
    Count(String),
    /// The longest recovery of the run's faults, s (infinite when one
    /// never recovered).
    Recovery,
}

/// One clause: metric, comparison, bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    text: String,
    metric: Metric,
    op: Op,
    bound: f64,
}

/// A parsed `--slo`: every clause must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo(Vec<Clause>);

/// How one clause fared.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub clause: String,
    /// The run's value (ms for latencies); `None` when it has none.
    pub actual: Option<f64>,
    pub met: bool,
    /// Events a latency objective's percentiles leave out (failed, and
    /// for e2e lost), which make it missed whatever the value.
    pub left_out: Option<String>,
}

const PERCENTILES: &[&str] = &["p50", "p90", "p99", "p99.9", "p99.99", "max"];
const COUNTS: &[&str] = &["lost", "failed", "duplicates", "unexpected", "rejected"];

impl Slo {
    /// Parses `metric OP value[unit]` clauses separated by commas. Metrics:
    /// a latency (`publish`, `publish_raw`, `pacer_lag`, `conn_wait`, `lag`,
    /// `e2e`, `e2e_raw`) and `.p50|.p90|.p99|.p99.9|.p99.99|.max`
    /// (units `us`, `ms` (default), `s`), or a count: `lost`, `failed`,
    /// `duplicates`, `unexpected`, `rejected`, or `recovery` (the longest
    /// time a fault of `--fault` took to recover from, s; a run without
    /// faults has none, which misses it). Operators: `<`, `<=`, `=`, `>=`, `>`.
    pub fn parse(spec: &str) -> Result<Slo, SloError> {
        let clauses: Vec<&str> = spec
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        if clauses.is_empty() {
            return Err(SloError {
                clause: spec.into(),
                why: "no clauses, e.g. e2e.p99.99<50ms,lost=0".into(),
            });
        }
        clauses
            .into_iter()
            .map(parse_clause)
            .collect::<Result<_, _>>()
            .map(Slo)
    }

    /// Checks every clause against a run.
    pub fn check(&self, s: &Summary) -> Vec<Verdict> {
        self.0
            .iter()
            .map(|c| {
                let actual = value(&c.metric, s);
                let holds = actual.is_some_and(|a| match c.op {
                    Op::Lt => a < c.bound,
                    Op::Le => a <= c.bound,
                    Op::Eq => a == c.bound,
                    Op::Ge => a >= c.bound,
                    Op::Gt => a > c.bound,
                });
                let left_out = match c.metric {
                    Metric::Latency(kind, _) => left_out(kind, s),
                    Metric::Count(_) | Metric::Recovery => None,
                };
                Verdict {
                    clause: c.text.clone(),
                    actual,
                    met: holds && left_out.is_none(),
                    left_out,
                }
            })
            .collect()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let actual = self
            .actual
            .map_or_else(|| "no data".to_string(), |a| format!("{a:.3}"));
        write!(
            f,
            "{} {} (was {actual}{})",
            if self.met { "met   " } else { "MISSED" },
            self.clause,
            self.left_out
                .as_ref()
                .map(|w| format!(", but {w}, in no percentile"))
                .unwrap_or_default()
        )
    }
}

/// What a latency's percentiles leave out of a run, if anything.
fn left_out(kind: LatencyKind, s: &Summary) -> Option<String> {
    let t = &s.totals;
    let lost = if kind.misses_lost() { t.lost } else { 0 };
    match (t.failed, lost) {
        (0, 0) => None,
        (f, 0) => Some(format!("{f} events failed")),
        (0, l) => Some(format!("{l} events were lost")),
        (f, l) => Some(format!("{f} events failed and {l} were lost")),
    }
}

/// The metrics an objective can name, made from the latency kinds and
/// counts it knows (`--slo`'s help, and the error for an unknown one).
pub fn metrics() -> String {
    let kinds: Vec<&str> = LatencyKind::ALL.iter().map(|k| k.short()).collect();
    format!(
        "{{{}}}.{{{}}} (us, ms or s), recovery (s or ms), or {}",
        kinds.join(","),
        PERCENTILES.join(","),
        COUNTS.join(", ")
    )
}

fn parse_clause(text: &str) -> Result<Clause, SloError> {
    let err = |why: &str| SloError {
        clause: text.to_string(),
        why: why.to_string(),
    };
    let (at, len, op) = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
        ("=", Op::Eq),
    ]
    .iter()
    .find_map(|(s, op)| text.find(s).map(|i| (i, s.len(), *op)))
    .ok_or_else(|| err("expected METRIC<VALUE, METRIC<=VALUE, METRIC=VALUE, ..."))?;
    let (name, value) = (text[..at].trim(), text[at + len..].trim());
    let metric = if COUNTS.contains(&name) {
        Metric::Count(name.to_string())
    } else if name == "recovery" {
        Metric::Recovery
    } else {
        let (which, pct) = name.split_once('.').ok_or_else(|| err("unknown metric"))?;
        let kind = LatencyKind::parse(which);
        let pct = PERCENTILES.iter().find(|p| **p == pct);
        let (Some(kind), Some(pct)) = (kind, pct) else {
            return Err(err(&format!("unknown metric {name:?}: use {}", metrics())));
        };
        Metric::Latency(kind, pct)
    };
    let (number, scale) = match (&metric, value) {
        (Metric::Latency(..), v) if v.ends_with("ms") => (&v[..v.len() - 2], 1.0),
        (Metric::Latency(..), v) if v.ends_with("us") => (&v[..v.len() - 2], 1e-3),
        (Metric::Latency(..), v) if v.ends_with('s') => (&v[..v.len() - 1], 1e3),
        (Metric::Recovery, v) if v.ends_with("ms") => (&v[..v.len() - 2], 1e-3),
        (Metric::Recovery, v) if v.ends_with('s') => (&v[..v.len() - 1], 1.0),
        (_, v) => (v, 1.0),
    };
    let bound: f64 = number
        .trim()
        .parse()
        .map_err(|_| err(&format!("{value:?} is not a number")))?;
    Ok(Clause {
        text: text.to_string(),
        metric,
        op,
        bound: bound * scale,
    })
}

fn value(metric: &Metric, s: &Summary) -> Option<f64> {
    match metric {
        Metric::Count(name) => {
            let t = &s.totals;
            Some(match name.as_str() {
                "lost" => t.lost,
                "failed" => t.failed,
                "duplicates" => t.duplicates,
                "unexpected" => t.unexpected,
                _ => t.rejected,
            } as f64)
        }
        Metric::Recovery => s
            .fault_effects
            .iter()
            .map(|e| e.recovery_s.unwrap_or(f64::INFINITY))
            .reduce(f64::max),
        Metric::Latency(kind, pct) => {
            let p = s.latency_ms.get(*kind)?;
            Some(match *pct {
                "p50" => p.p50,
                "p90" => p.p90,
                "p99" => p.p99,
                "p99.9" => p.p99_9,
                "p99.99" => p.p99_99,
                _ => p.max,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_clauses() {
        let slo = Slo::parse("e2e.p99.99<50ms, lost=0,publish.max<=1.5s,lag.p99>=200us").unwrap();
        assert_eq!(slo.0.len(), 4);
        assert_eq!(slo.0[2].bound, 1500.0);
        assert_eq!(slo.0[3].bound, 0.2);
        assert_eq!(slo.0[3].op, Op::Ge);
        let slo = Slo::parse("recovery<3s,recovery<=500ms,recovery<2").unwrap();
        let bounds: Vec<f64> = slo.0.iter().map(|c| c.bound).collect();
        assert_eq!(bounds, [3.0, 0.5, 2.0], "seconds");
        for (bad, why) in [
            ("", "no clauses"),
            ("e2e.p99.99", "expected METRIC<VALUE"),
            ("e2e.p42<5", "unknown metric \"e2e.p42\""),
            ("speed<5", "unknown metric"),
            ("lost=none", "\"none\" is not a number"),
        ] {
            let e = Slo::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }
}

//! Service-level objectives a run must meet: `e2e.p99.99<50ms,lost=0`.
//! `run --slo` exits non-zero when one is missed, so a broker's CI can use
//! the suite as a regression check.

use crate::model::Summary;
use brokerbench_core::digest::Percentiles;
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
    Latency(String, String),
    /// A count from the totals.
    Count(String),
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
}

const LATENCIES: &[&str] = &["publish", "publish_raw", "e2e", "e2e_raw", "lag"];
const PERCENTILES: &[&str] = &["p50", "p90", "p99", "p99.9", "p99.99", "max"];
const COUNTS: &[&str] = &["lost", "failed", "duplicates", "unexpected", "rejected"];

impl Slo {
    /// Parses `metric OP value[unit]` clauses separated by commas. Metrics:
    /// `publish|publish_raw|e2e|e2e_raw|lag` `.p50|.p90|.p99|.p99.9|.p99.99|.max`
    /// (units `us`, `ms` (default), `s`), or a count: `lost`, `failed`,
    /// `duplicates`, `unexpected`, `rejected`. Operators: `<`, `<=`, `=`, `>=`, `>`.
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
                let met = actual.is_some_and(|a| match c.op {
                    Op::Lt => a < c.bound,
                    Op::Le => a <= c.bound,
                    Op::Eq => a == c.bound,
                    Op::Ge => a >= c.bound,
                    Op::Gt => a > c.bound,
                });
                Verdict {
                    clause: c.text.clone(),
                    actual,
                    met,
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
            "{} {} (was {actual})",
            if self.met { "met   " } else { "MISSED" },
            self.clause
        )
    }
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
    } else {
        let (which, pct) = name.split_once('.').ok_or_else(|| err("unknown metric"))?;
        if !LATENCIES.contains(&which) || !PERCENTILES.contains(&pct) {
            return Err(err(&format!(
                "unknown metric {name:?}: use {{{}}}.{{{}}} or {}",
                LATENCIES.join(","),
                PERCENTILES.join(","),
                COUNTS.join(", ")
            )));
        }
        Metric::Latency(which.to_string(), pct.to_string())
    };
    let (number, scale) = match (&metric, value) {
        (Metric::Latency(..), v) if v.ends_with("ms") => (&v[..v.len() - 2], 1.0),
        (Metric::Latency(..), v) if v.ends_with("us") => (&v[..v.len() - 2], 1e-3),
        (Metric::Latency(..), v) if v.ends_with('s') => (&v[..v.len() - 1], 1e3),
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
        Metric::Latency(which, pct) => {
            let l = &s.latency_ms;
            let p: Percentiles = match which.as_str() {
                "publish" => l.publish,
                "publish_raw" => l.publish_raw,
                "e2e" => l.e2e,
                "e2e_raw" => l.e2e_raw,
                _ => l.schedule_lag,
            }?;
            Some(match pct.as_str() {
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

//! The one table of per-step columns: `steps.tsv` writes every column, the
//! summary table and `report.md` the ones with a header. A new column is
//! one line here; each output formats the cell its own way.

use crate::model::{Latencies, StepSummary, Summary, Totals};
use brokerbench_core::histogram::Percentiles;
use brokerbench_core::latency::LatencyKind;

/// One row: a step, or the whole run (the table's `all` row, not in
/// `steps.tsv`).
pub struct Row<'a> {
    pub label: String,
    pub rps: String,
    /// The step, when the row is one.
    pub step: Option<&'a StepSummary>,
    pub totals: &'a Totals,
    pub send_rps: f64,
    pub delivery_rps: f64,
    pub latency: &'a Latencies,
}

impl<'a> Row<'a> {
    /// The row of one step.
    pub fn step(st: &'a StepSummary) -> Self {
        Row {
            label: st.step.to_string(),
            rps: st.rps.to_string(),
            step: Some(st),
            totals: &st.totals,
            send_rps: st.send_rps,
            delivery_rps: st.delivery_rps,
            latency: &st.latency_ms,
        }
    }

    /// The row of the whole run.
    pub fn run(s: &'a Summary) -> Self {
        let secs: f64 = s
            .steps
            .iter()
            .map(|x| x.seconds as f64)
            .sum::<f64>()
            .max(1.0);
        let t = &s.totals;
        Row {
            label: "all".into(),
            rps: String::new(),
            step: None,
            totals: t,
            send_rps: t.sent as f64 / secs,
            delivery_rps: t.delivered as f64 / secs,
            latency: &s.latency_ms,
        }
    }

    fn ms(&self, kind: LatencyKind, f: fn(&Percentiles) -> f64) -> Cell {
        Cell::Ms(self.latency.get(kind).as_ref().map(f))
    }

    fn of_step<T>(&self, f: impl Fn(&StepSummary) -> T) -> Option<T> {
        self.step.map(f)
    }
}

/// One value, formatted by each output its own way.
pub enum Cell {
    Text(String),
    Count(u64),
    /// Events per second.
    Rate(f64),
    /// Milliseconds; `None` when nothing was measured.
    Ms(Option<f64>),
    /// A share, 0 to 1.
    Share(Option<f64>),
    Flag(Option<bool>),
}

impl Cell {
    /// As `steps.tsv` writes it: missing values are `NaN`.
    pub fn tsv(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Count(n) => n.to_string(),
            Cell::Rate(r) => format!("{r:.1}"),
            Cell::Ms(Some(v)) if v.is_finite() => format!("{v:.3}"),
            Cell::Share(Some(v)) if v.is_finite() => format!("{:.1}", v * 100.0),
            Cell::Flag(Some(b)) => (*b as u8).to_string(),
            _ => "NaN".to_string(),
        }
    }

    /// As the table and `report.md` show it: missing values are `-`.
    pub fn shown(&self) -> String {
        match self {
            Cell::Rate(r) => format!("{r:.0}"),
            Cell::Ms(v) => crate::model::ms_text(*v),
            Cell::Share(Some(v)) => format!("{:.1}%", v * 100.0),
            Cell::Flag(Some(b)) => if *b { "yes" } else { "no" }.to_string(),
            Cell::Share(None) | Cell::Flag(None) => "-".to_string(),
            c => c.tsv(),
        }
    }
}

/// A column: its name in `steps.tsv`, its header and width in the table
/// (`None`: `steps.tsv` only), and its value in a row.
pub struct Column {
    pub name: &'static str,
    pub shown: Option<(&'static str, usize)>,
    pub value: fn(&Row) -> Cell,
}

const fn col(
    name: &'static str,
    shown: Option<(&'static str, usize)>,
    value: fn(&Row) -> Cell,
) -> Column {
    Column { name, shown, value }
}

const fn show(header: &'static str, width: usize) -> Option<(&'static str, usize)> {
    Some((header, width))
}

const PUB: LatencyKind = LatencyKind::Publish;
const E2E: LatencyKind = LatencyKind::E2e;
const PACER: LatencyKind = LatencyKind::PacerLag;
const WAIT: LatencyKind = LatencyKind::ConnectionWait;
const LAG: LatencyKind = LatencyKind::ScheduleLag;

/// Every per-step column. Every row of the table adds up: sent is
/// accepted plus failed, and accepted (times the copies) is delivered plus
/// lost, where the table's delivered counts accepted events received
/// (unexpected ones, received though their send failed, apart). The
/// gnuplot scripts read `start_second` as the 4th column and `holds` as
/// the last.
#[rustfmt::skip]
pub const STEP_COLUMNS: &[Column] = &[
    col("step", show("step", 5), |r| Cell::Text(r.label.clone())),
    col("rps", show("rps", 6), |r| Cell::Text(r.rps.clone())),
    col("seconds", None, |r| Cell::Count(r.of_step(|s| s.seconds as u64).unwrap_or(0))),
    col("start_second", None, |r| Cell::Count(r.of_step(|s| s.start_second).unwrap_or(0))),
    col("sent", show("sent", 9), |r| Cell::Count(r.totals.sent)),
    col("accepted", show("accepted", 9), |r| Cell::Count(r.totals.accepted)),
    col("failed", show("failed", 7), |r| Cell::Count(r.totals.failed)),
    col("unsent", None, |r| Cell::Count(r.totals.unsent)),
    col("delivered", None, |r| Cell::Count(r.totals.delivered)),
    col("delivered_of_accepted", show("delivered", 9), |r| Cell::Count(r.totals.delivered_of_accepted)),
    col("lost", show("lost", 6), |r| Cell::Count(r.totals.lost)),
    col("unexpected", show("unexp", 5), |r| Cell::Count(r.totals.unexpected)),
    col("duplicates", show("dup", 5), |r| Cell::Count(r.totals.duplicates)),
    col("send_rps", show("send/s", 8), |r| Cell::Rate(r.send_rps)),
    col("delivery_rps", show("deliv/s", 8), |r| Cell::Rate(r.delivery_rps)),
    col("publish_p50_ms", None, |r| r.ms(PUB, |p| p.p50)),
    col("publish_p99_ms", show("pub p99", 8), |r| r.ms(PUB, |p| p.p99)),
    col("publish_p99_99_ms", show("pub p99.99", 10), |r| r.ms(PUB, |p| p.p99_99)),
    col("publish_max_ms", None, |r| r.ms(PUB, |p| p.max)),
    col("e2e_p50_ms", None, |r| r.ms(E2E, |p| p.p50)),
    col("e2e_p99_ms", show("e2e p99", 8), |r| r.ms(E2E, |p| p.p99)),
    col("e2e_p99_99_ms", show("e2e p99.99", 10), |r| r.ms(E2E, |p| p.p99_99)),
    col("e2e_max_ms", None, |r| r.ms(E2E, |p| p.max)),
    col("pacer_lag_p99_99_ms", show("pacer p99.99", 12), |r| r.ms(PACER, |p| p.p99_99)),
    col("conn_wait_p99_99_ms", show("wait p99.99", 11), |r| r.ms(WAIT, |p| p.p99_99)),
    col("lag_p99_99_ms", None, |r| r.ms(LAG, |p| p.p99_99)),
    col("host_steal_pct", None, |r| Cell::Share(r.step.and_then(|s| s.host_steal))),
    col("throttled_ms", None, |r| Cell::Ms(r.of_step(|s| s.throttled.iter().map(|t| t.throttled_ms).fold(0.0, f64::max)))),
    col("generator_limited", None, |r| Cell::Flag(r.of_step(|s| s.generator_limited))),
    col("holds", None, |r| Cell::Flag(r.step.filter(|s| s.judged).map(|s| s.breaks.is_empty()))),
];

/// The columns the table and `report.md` show.
pub fn shown() -> impl Iterator<Item = (&'static str, usize, fn(&Row) -> Cell)> {
    STEP_COLUMNS
        .iter()
        .filter_map(|c| c.shown.map(|(header, width)| (header, width, c.value)))
}

//! The columns of the outputs, one type for all: the per-step columns
//! (`steps.tsv` writes every one, the summary table and `report.md` the
//! ones with a header) and the per-second ones of `series.tsv`. A new
//! column is one line here; each output formats the cell its own way;
//! latency columns are named from their kind.

use crate::model::{Latencies, SecondRow, StepSummary, Summary, Totals};
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

/// A column of an output: its name (the TSV header), its header and width
/// in the table (`None`: the TSV file only), and its value in a row. `F`
/// is how a row gives its value: [`StepColumn`]s read a [`Row`],
/// [`SeriesColumn`]s a second of `series.tsv`.
pub struct Column<F: ?Sized> {
    pub name: String,
    pub shown: Option<(&'static str, usize)>,
    value: Box<F>,
}

/// A column of `steps.tsv`, the table and `report.md`.
pub type StepColumn = Column<dyn for<'a> Fn(&Row<'a>) -> Cell>;
/// A column of `series.tsv`.
pub type SeriesColumn = Column<dyn Fn(&SecondRow) -> Cell>;

impl StepColumn {
    /// Its value in `row`.
    pub fn value(&self, row: &Row) -> Cell {
        (self.value)(row)
    }
}

impl SeriesColumn {
    /// Its value in `row`.
    pub fn value(&self, row: &SecondRow) -> Cell {
        (self.value)(row)
    }
}

fn col(
    name: impl Into<String>,
    shown: Option<(&'static str, usize)>,
    value: impl for<'a> Fn(&Row<'a>) -> Cell + 'static,
) -> StepColumn {
    Column {
        name: name.into(),
        shown,
        value: Box::new(value),
    }
}

fn show(header: &'static str, width: usize) -> Option<(&'static str, usize)> {
    Some((header, width))
}

/// A percentile's column suffix and how to read it.
pub type Quantile = (&'static str, fn(&Percentiles) -> f64);

const P50: Quantile = ("p50", |p| p.p50);
const P99: Quantile = ("p99", |p| p.p99);
const P99_99: Quantile = ("p99_99", |p| p.p99_99);
const MAX: Quantile = ("max", |p| p.max);

/// The percentiles `series.tsv` shows of a headline latency.
pub const FULL: [Quantile; 6] = [
    P50,
    ("p90", |p| p.p90),
    P99,
    ("p99_9", |p| p.p99_9),
    P99_99,
    MAX,
];

/// The column `<short>_<q>_ms` of latency `kind` (its name derived from
/// [`LatencyKind::short`], as `series.tsv`'s are).
fn latency(
    kind: LatencyKind,
    (q, f): Quantile,
    shown: Option<(&'static str, usize)>,
) -> StepColumn {
    col(format!("{}_{q}_ms", kind.short()), shown, move |r: &Row| {
        r.ms(kind, f)
    })
}

/// Every per-step column. Every row of the table adds up: sent is
/// accepted plus failed, and accepted (times the copies) is delivered plus
/// lost, where the table's delivered counts accepted events received
/// (unexpected ones, received though their send failed, apart). The
/// gnuplot scripts read `start_second` and `holds` by name.
#[rustfmt::skip]
pub fn step_columns() -> Vec<StepColumn> {
    use LatencyKind::{ConnectionWait, E2e, PacerLag, Publish, ScheduleLag};
    vec![
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
        latency(Publish, P50, None),
        latency(Publish, P99, show("pub p99", 8)),
        latency(Publish, P99_99, show("pub p99.99", 10)),
        latency(Publish, MAX, None),
        latency(E2e, P50, None),
        latency(E2e, P99, show("e2e p99", 8)),
        latency(E2e, P99_99, show("e2e p99.99", 10)),
        latency(E2e, MAX, None),
        latency(PacerLag, P99_99, show("pacer p99.99", 12)),
        latency(ConnectionWait, P99_99, show("wait p99.99", 11)),
        latency(ScheduleLag, P99_99, None),
        col("host_steal_pct", None, |r| Cell::Share(r.step.and_then(|s| s.host_steal))),
        col("throttled_ms", None, |r| Cell::Ms(r.of_step(|s| s.throttled.iter().map(|t| t.throttled_ms).fold(0.0, f64::max)))),
        col("generator_limited", None, |r| Cell::Flag(r.of_step(|s| s.generator_limited))),
        col("holds", None, |r| Cell::Flag(r.step.filter(|s| s.judged).map(|s| s.breaks.is_empty()))),
    ]
}

/// The columns the table and `report.md` show: header, width, column.
pub fn shown() -> impl Iterator<Item = (&'static str, usize, StepColumn)> {
    step_columns()
        .into_iter()
        .filter_map(|c| c.shown.map(|(header, width)| (header, width, c)))
}

fn series(name: impl Into<String>, value: impl Fn(&SecondRow) -> Cell + 'static) -> SeriesColumn {
    Column {
        name: name.into(),
        shown: None,
        value: Box::new(value),
    }
}

/// The columns of `series.tsv`: counts per second; every percentile of
/// the headline latencies and their running P99.99; the P99.99 of the
/// others; negative e2e and e2e_raw samples and their minimum; steal.
pub fn series_columns() -> Vec<SeriesColumn> {
    let mut c = vec![
        series("second", |r| Cell::Count(r.second)),
        series("step", |r| Cell::Count(r.step.unwrap_or(0) as u64)),
        series("target_rps", |r| Cell::Count(u64::from(r.target_rps))),
        series("sent_per_s", |r| Cell::Count(r.sent)),
        series("delivered_per_s", |r| Cell::Count(r.delivered)),
        series("failed_per_s", |r| Cell::Count(r.failed)),
        series("lost_per_s", |r| Cell::Count(r.lost)),
        series("duplicates_per_s", |r| Cell::Count(r.duplicates)),
        series("connections_opened_per_s", |r| {
            Cell::Count(r.connections_opened)
        }),
    ];
    let headline = || LatencyKind::ALL.into_iter().filter(|k| k.headline());
    for kind in headline() {
        for (q, f) in FULL {
            c.push(series(format!("{}_{q}_ms", kind.short()), move |r| {
                Cell::Ms(r.latency(kind).as_ref().map(f))
            }));
        }
    }
    for kind in headline() {
        c.push(series(
            format!("{}_running_p99_99_ms", kind.short()),
            move |r| Cell::Ms(r.running_p99_99.get(&kind).copied()),
        ));
    }
    for kind in LatencyKind::ALL.into_iter().filter(|k| !k.headline()) {
        c.push(series(format!("{}_p99_99_ms", kind.short()), move |r| {
            Cell::Ms(r.latency(kind).map(|p| p.p99_99))
        }));
    }
    // Latencies across two clocks can come out negative: how many did in
    // each second, and the most negative (kept apart, counted as 0).
    for kind in LatencyKind::ALL.into_iter().filter(|k| k.across_clocks()) {
        c.push(series(format!("{}_negative", kind.short()), move |r| {
            Cell::Count(r.latency(kind).map_or(0, |p| p.negative))
        }));
        c.push(series(
            format!("{}_negative_min_ms", kind.short()),
            move |r| Cell::Ms(r.latency(kind).and_then(|p| p.negative_min_ms)),
        ));
    }
    c.push(series("host_steal_pct", |r| Cell::Share(r.host_steal)));
    c.push(series("throttled_ms", |r| Cell::Ms(r.throttled_ms)));
    c.push(series("clock_offset_ms", |r| Cell::Ms(r.clock_offset_ms)));
    c.push(series("clock_uncertainty_ms", |r| {
        Cell::Ms(r.clock_uncertainty_ms)
    }));
    c.push(series("faults_on", |r| Cell::Text(r.faults.to_string())));
    c
}

//! The latencies the suite measures, in one table: what each one is, which
//! role measures it, and how the outputs show it. Every ledger, report,
//! series column, table and objective is made from this list, so a new
//! latency is one variant here plus the line that measures it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One kind of latency. Stamps: `intended` (the schedule), `released` (the
/// pacer handed the event over), `sent` (the request left), `acked` (the
/// answer came), `received` (the receiver got it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyKind {
    /// `acked - intended`: publish latency, free of coordinated omission.
    Publish,
    /// `acked - sent`: what the SUT took to answer once asked.
    PublishRaw,
    /// `released - intended`: the pacer itself behind its schedule. Only
    /// this blames the generator.
    PacerLag,
    /// `sent - released`: waiting for a free connection, which grows when
    /// the SUT holds its answers.
    ConnectionWait,
    /// `sent - intended` = pacer lag + connection wait.
    ScheduleLag,
    /// `received - intended`: end-to-end latency.
    E2e,
    /// `received - sent`.
    E2eRaw,
}

/// Which role measures a latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasuredBy {
    Sender,
    Receiver,
}

/// Latencies by kind: what every report, row and summary holds.
pub type PerKind<T> = BTreeMap<LatencyKind, T>;

/// What a kind is, in one row: every property outputs read.
struct Row {
    kind: LatencyKind,
    /// Its name in `summary.json` and reports.
    name: &'static str,
    /// TSV columns (`<short>_p99_99_ms`) and `--slo` metrics.
    short: &'static str,
    /// The stamps it is the difference of.
    definition: &'static str,
    by: MeasuredBy,
    /// Every percentile each second, and the running P99.99 of a step.
    headline: bool,
    /// Its P99 in live progress.
    live: bool,
}

/// One row per kind, in the order of [`LatencyKind::ALL`].
const ROWS: [Row; 7] = {
    use LatencyKind::*;
    use MeasuredBy::{Receiver, Sender};
    #[rustfmt::skip]
    let rows = [
        Row { kind: Publish, name: "publish", short: "publish", definition: "acked - intended", by: Sender, headline: true, live: true },
        Row { kind: PublishRaw, name: "publish_raw", short: "publish_raw", definition: "acked - sent", by: Sender, headline: false, live: false },
        Row { kind: PacerLag, name: "pacer_lag", short: "pacer_lag", definition: "released - intended", by: Sender, headline: false, live: true },
        Row { kind: ConnectionWait, name: "connection_wait", short: "conn_wait", definition: "sent - released", by: Sender, headline: false, live: true },
        Row { kind: ScheduleLag, name: "schedule_lag", short: "lag", definition: "sent - intended", by: Sender, headline: false, live: false },
        Row { kind: E2e, name: "e2e", short: "e2e", definition: "received - intended", by: Receiver, headline: true, live: true },
        Row { kind: E2eRaw, name: "e2e_raw", short: "e2e_raw", definition: "received - sent", by: Receiver, headline: false, live: false },
    ];
    rows
};

impl LatencyKind {
    /// Every kind, in the order outputs list them.
    pub const ALL: [LatencyKind; 7] = [
        LatencyKind::Publish,
        LatencyKind::PublishRaw,
        LatencyKind::PacerLag,
        LatencyKind::ConnectionWait,
        LatencyKind::ScheduleLag,
        LatencyKind::E2e,
        LatencyKind::E2eRaw,
    ];

    fn row(self) -> &'static Row {
        let row = &ROWS[self as usize];
        debug_assert_eq!(row.kind, self, "ROWS in the order of ALL");
        row
    }

    /// Its name in `summary.json` and reports.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// Its short name: TSV columns (`<short>_p99_99_ms`) and `--slo` metrics.
    pub fn short(self) -> &'static str {
        self.row().short
    }

    /// The kind of a name or short name.
    pub fn parse(name: &str) -> Option<LatencyKind> {
        LatencyKind::ALL
            .into_iter()
            .find(|k| k.name() == name || k.short() == name)
    }

    /// The stamps it is the difference of.
    pub fn definition(self) -> &'static str {
        self.row().definition
    }

    /// The role that measures it.
    pub fn measured_by(self) -> MeasuredBy {
        self.row().by
    }

    /// The kinds a role measures.
    pub fn of(role: MeasuredBy) -> impl Iterator<Item = LatencyKind> {
        LatencyKind::ALL
            .into_iter()
            .filter(move |k| k.measured_by() == role)
    }

    /// Whether the series shows every percentile of it each second (the
    /// headline latencies) or only its P99.99; headline latencies also get
    /// the running P99.99 from the start of each step.
    pub fn headline(self) -> bool {
        self.row().headline
    }

    /// Whether live progress shows its P99 each second (the line, and a
    /// role's `/metrics` for its headline latency).
    pub fn live(self) -> bool {
        self.row().live
    }

    /// Its words in the live progress line (`pacer lag`).
    pub fn label(self) -> String {
        self.short().replace('_', " ")
    }

    /// Whether its two stamps are taken by two roles, on two clocks: such
    /// a latency can come out negative (counted, kept apart, and as 0).
    pub fn across_clocks(self) -> bool {
        self.measured_by() == MeasuredBy::Receiver
    }

    /// Whether an event that never got this latency (a failed send; for
    /// e2e, a lost event too) leaves the percentiles short of the truth.
    pub fn misses_lost(self) -> bool {
        self.measured_by() == MeasuredBy::Receiver
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_serialise_as_written() {
        for k in LatencyKind::ALL {
            assert_eq!(LatencyKind::parse(k.name()), Some(k));
            assert_eq!(LatencyKind::parse(k.short()), Some(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.name())
            );
        }
        assert_eq!(LatencyKind::parse("lag"), Some(LatencyKind::ScheduleLag));
        assert_eq!(LatencyKind::parse("nope"), None);
        assert_eq!(LatencyKind::of(MeasuredBy::Sender).count(), 5);
        assert_eq!(LatencyKind::of(MeasuredBy::Receiver).count(), 2);
    }

    #[test]
    fn one_row_per_kind_in_order() {
        for (i, k) in LatencyKind::ALL.into_iter().enumerate() {
            assert_eq!(ROWS[i].kind, k);
            assert_eq!(k as usize, i);
        }
        assert_eq!(LatencyKind::ScheduleLag.short(), "lag");
        assert_eq!(LatencyKind::ConnectionWait.short(), "conn_wait");
        assert!(LatencyKind::E2e.headline() && !LatencyKind::E2eRaw.headline());
    }
}

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

    /// Its name in `summary.json` and reports.
    pub fn name(self) -> &'static str {
        match self {
            LatencyKind::Publish => "publish",
            LatencyKind::PublishRaw => "publish_raw",
            LatencyKind::PacerLag => "pacer_lag",
            LatencyKind::ConnectionWait => "connection_wait",
            LatencyKind::ScheduleLag => "schedule_lag",
            LatencyKind::E2e => "e2e",
            LatencyKind::E2eRaw => "e2e_raw",
        }
    }

    /// Its short name: TSV columns (`<short>_p99_99_ms`) and `--slo` metrics.
    pub fn short(self) -> &'static str {
        match self {
            LatencyKind::ConnectionWait => "conn_wait",
            LatencyKind::ScheduleLag => "lag",
            k => k.name(),
        }
    }

    /// The kind of a name or short name.
    pub fn parse(name: &str) -> Option<LatencyKind> {
        LatencyKind::ALL
            .into_iter()
            .find(|k| k.name() == name || k.short() == name)
    }

    /// The stamps it is the difference of.
    pub fn definition(self) -> &'static str {
        match self {
            LatencyKind::Publish => "acked - intended",
            LatencyKind::PublishRaw => "acked - sent",
            LatencyKind::PacerLag => "released - intended",
            LatencyKind::ConnectionWait => "sent - released",
            LatencyKind::ScheduleLag => "sent - intended",
            LatencyKind::E2e => "received - intended",
            LatencyKind::E2eRaw => "received - sent",
        }
    }

    /// The role that measures it.
    pub fn measured_by(self) -> MeasuredBy {
        match self {
            LatencyKind::E2e | LatencyKind::E2eRaw => MeasuredBy::Receiver,
            _ => MeasuredBy::Sender,
        }
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
        matches!(self, LatencyKind::Publish | LatencyKind::E2e)
    }

    /// Whether live progress shows its P99 each second (the line, and a
    /// role's `/metrics` for its headline latency).
    pub fn live(self) -> bool {
        matches!(
            self,
            LatencyKind::Publish
                | LatencyKind::E2e
                | LatencyKind::PacerLag
                | LatencyKind::ConnectionWait
        )
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
}

//! The summary table printed at the end of a run: the shown columns of
//! [`crate::columns`], a row per step and one for the run, then notes.

use crate::columns::{shown, Row};
use crate::model::Summary;
use crate::notes;
use std::fmt::Write as _;

/// What the table's latency headers mean.
const LEGEND: &str = "latencies in ms; publish and e2e from intended send time; pacer = pacer lag (released - intended), wait = connection wait (sent - released); delivered = accepted events received";

fn row(out: &mut String, r: &Row, flag: &str) {
    let cells: Vec<String> = shown()
        .map(|(_, width, c)| format!("{:>width$}", c.value(r).shown()))
        .collect();
    let _ = writeln!(out, "{}{flag}", cells.join(" "));
}

/// DAMON CPU time per second of run from which the table notes it.
pub const DAMON_NOTABLE_MS_PER_S: f64 = 1.0;

/// The table: one row per step and one for the whole run, then notes.
pub fn render(s: &Summary, dir: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {} ({}), pace {}, payload {} B{}",
        s.plan.run_id,
        s.plan.scenario,
        s.plan.schedule,
        s.plan.payload_size,
        if s.interrupted {
            ", INTERRUPTED: partial results"
        } else {
            ""
        }
    );
    let headers: Vec<String> = shown()
        .map(|(header, width, _)| format!("{header:>width$}"))
        .collect();
    let _ = writeln!(out, "{}", headers.join(" "));
    for st in &s.steps {
        let flag = match (st.generator_limited, st.judged) {
            (_, false) => "  not judged",
            (true, true) => "  generator-limited",
            (false, true) => "",
        };
        let flag = match st.throttled.is_empty() {
            true => flag.to_string(),
            false => format!("{flag}  throttled"),
        };
        row(&mut out, &Row::step(st), &flag);
    }
    row(&mut out, &Row::run(s), "");
    let _ = writeln!(out, "{LEGEND}");
    if !s.missing_reports.is_empty() {
        let _ = writeln!(
            out,
            "note: no report from {}: what a missing receiver received counts as lost; a missing sender's events are left out of sent and accepted, and the {} of them the receivers got are counted apart (delivered_unreported), in no row; no step is judged",
            s.missing_reports.join(", "),
            s.totals.delivered_unreported
        );
    }
    notes::fault_lines(&mut out, s);
    notes::sender_notes(&mut out, s);
    notes::node_notes(&mut out, s);
    notes::clock_notes(&mut out, s);
    notes::negative_notes(&mut out, s);
    notes::missing_notes(&mut out, s);
    count_lines(&mut out, s);
    sut_line(&mut out, s);
    host_notes(&mut out, s);
    breaking_point_line(&mut out, s);
    let _ = writeln!(out, "results: {dir}");
    out
}

/// Failures, rejections, connections, CPU per event, fan-out, reordering.
fn count_lines(out: &mut String, s: &Summary) {
    let t = &s.totals;
    if t.failed > 0 {
        let _ = writeln!(
            out,
            "send failures by reason: {}",
            serde_json::to_string(&s.failures).unwrap_or_default()
        );
    }
    if t.rejected > 0 {
        let _ = writeln!(
            out,
            "rejected by the receiver: {} (not CloudEvents, another run's, or outside the plan)",
            t.rejected
        );
    }
    let c = &s.connections;
    if c.opened > 0 {
        let _ = writeln!(
            out,
            "connections: {} opened before the start, {} more during the run (the SUT slow to answer, or one broke); at most {} open at once",
            c.initial, c.opened, c.peak
        );
    }
    let spin = match s.cpu.pacer_spin_ns {
        0 => String::new(),
        ns => format!(
            "; the spinning pacer's idle turns, {:.1} s of CPU, left out",
            ns as f64 / 1e9
        ),
    };
    let _ = writeln!(
        out,
        "CPU per event: sender {} µs, receiver {} µs{spin}",
        us(s.cpu.sender_us_per_event),
        us(s.cpu.receiver_us_per_event)
    );
    if s.plan.copies > 1 {
        let _ = writeln!(
            out,
            "fan-out: {} deliveries per event; delivered, lost and duplicates count deliveries",
            s.plan.copies
        );
    }
    if s.totals.reordered > 0 {
        let within = match s.plan.partition_keys {
            0 => "of their sender (no partition keys: a SUT that spreads events over Kafka partitions keeps no order across them; --partition-keys N checks order within each key)".to_string(),
            n => format!("of their partition key (seq % {n})"),
        };
        let _ = writeln!(
            out,
            "reordered: {} events arrived after a later event {within}",
            s.totals.reordered
        );
    }
}

/// Microseconds with one decimal, or `-`.
fn us(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.1}"))
}

/// The SUT's own counters, when it reported them.
fn sut_line(out: &mut String, s: &Summary) {
    if let Some(c) = &s.sut {
        let per = (c.accepted > 0).then(|| c.cpu_ns as f64 / 1e3 / c.accepted as f64);
        let restarted = c.restarted;
        let _ = writeln!(
            out,
            "SUT{}: accepted {}, delivered {} of {} owed, retried {}, dead-lettered {}, dropped {}, \
             rejected {}, 503 {}, replies {}; CPU {} µs per event{}",
            if restarted {
                " (since it was started again: its counters start from zero)"
            } else {
                ""
            },
            c.accepted,
            c.delivered,
            c.routed,
            c.retried,
            c.dead_lettered,
            c.dropped,
            c.rejected,
            c.backpressured,
            c.replies,
            us(per),
            match c.throttled_ns {
                0 => String::new(),
                ns => format!("; its CPU quota stopped it {:.0} ms", ns as f64 / 1e6),
            },
        );
    }
}

/// What the machine did to the run: the generator behind, throttling,
/// steal, DAMON, a saturated receiver.
fn host_notes(out: &mut String, s: &Summary) {
    if s.generator_limited {
        let _ = writeln!(
            out,
            "note: in flagged steps the generator shaped what the SUT saw: its pacer fell behind (pacer lag P99.99 > {} ms: \
             a busy machine, other roles or the SUT on the same cores), or it held events back at its own bounds \
             (--max-inflight, or --max-connections all busy at the end); those steps measure the generator too",
            crate::model::GENERATOR_LAG_LIMIT_MS
        );
    }
    notes::throttle_notes(out, s);
    if let Some(steal) = s
        .host_steal
        .filter(|&x| x >= crate::model::HOST_STEAL_NOTABLE)
    {
        let worst = s
            .steps
            .iter()
            .filter_map(|st| st.host_steal.map(|x| (st.step, x)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let worst = match worst {
            Some((step, x)) if s.steps.len() > 1 => format!(", step {step}: {:.1}%", x * 100.0),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "note: the hypervisor took {:.1}% of the machine's CPU time while this ran (steal{worst}): \
             every role waited for it, so latencies and rates include that wait",
            steal * 100.0
        );
    }
    // Only when it mattered: a monitor that woke for at least a millisecond
    // a second on average (below that it rarely held a vCPU at all).
    let run_s = s.plan.schedule.total_seconds().max(1) as f64;
    if let Some(ms) = s
        .host_damon_cpu_ms
        .filter(|ms| *ms >= run_s * DAMON_NOTABLE_MS_PER_S)
    {
        let _ = writeln!(
            out,
            "note: the kernel's DAMON memory monitor (kdamond) was on and used {ms:.0} ms of CPU during the run: \
             it can hold a vCPU for milliseconds at a time, which shows in the P99.99 of millisecond latencies \
             (docs/performance.md: the host's own gaps)"
        );
    }
    let busy: Vec<String> = s
        .steps
        .iter()
        .filter(|st| {
            st.receiver_cpu
                .is_some_and(|c| c >= crate::model::RECEIVER_SATURATED)
        })
        .map(|st| st.step.to_string())
        .collect();
    if !busy.is_empty() {
        let _ = writeln!(
            out,
            "note: the receiver's threads were {}%+ busy in step(s) {}: it may be the limit there (--receiver-threads)",
            (crate::model::RECEIVER_SATURATED * 100.0) as u32,
            busy.join(", ")
        );
    }
}

/// The breaking point, or why there is none.
fn breaking_point_line(out: &mut String, s: &Summary) {
    match &s.breaking_point {
        Some(bp) => {
            let stolen = s
                .steps
                .iter()
                .find(|st| st.step == bp.step)
                .and_then(|st| st.host_steal)
                .filter(|&x| x >= crate::model::HOST_STEAL_NOTABLE)
                .map(|x| {
                    format!(
                        " (the hypervisor took {:.1}% of the CPU time in that step: measure again before quoting it)",
                        x * 100.0
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "breaking point: step {} ({}/s): {}; limited by {}{stolen}",
                bp.step,
                bp.rps,
                bp.reasons.join(", "),
                bp.limit()
            );
        }
        None if s.steps.iter().all(|st| st.judged) => {
            let _ = writeln!(out, "breaking point: none, every step held");
        }
        None => {
            let _ = writeln!(
                out,
                "breaking point: none among the steps judged; {}",
                notes::unjudged(s)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::join::tests::{plan, reports, with_missing_reports, with_role_clocks};
    use crate::join::{join, Ending};
    use brokerbench_core::histogram::Percentiles;
    use brokerbench_core::latency::LatencyKind;
    use brokerbench_core::plan::RunPlan;

    /// The number of column `name` in a row of the table: the cell that
    /// ends where the header's name ends (cells are right-aligned).
    fn cell(header: &str, row: &str, name: &str) -> u64 {
        let end = header.find(name).unwrap() + name.len();
        row[..end]
            .split_whitespace()
            .last()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Every row adds up, an event that failed and still arrived included:
    /// sent = accepted + failed, accepted = delivered + lost, and the
    /// unexpected arrival beside them.
    #[test]
    fn every_row_adds_up_with_an_unexpected_event() {
        let (s, r) = reports();
        let res = join(&plan(), &[s], &[r], &Ending::complete());
        let table = render(&res.summary, "d");
        let mut lines = table
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("step "));
        let header = lines.next().unwrap();
        let rows: Vec<&str> = lines.take(3).collect();
        assert!(rows[2].trim_start().starts_with("all"), "{table}");
        for row in &rows {
            let c = |name| cell(header, row, name);
            assert_eq!(c("sent"), c("accepted") + c("failed"), "{row}");
            assert_eq!(c("accepted"), c("delivered") + c("lost"), "{row}");
        }
        let all = |name| cell(header, rows[2], name);
        assert_eq!(
            (
                all("sent"),
                all("accepted"),
                all("delivered"),
                all("lost"),
                all("unexp")
            ),
            (30, 28, 25, 3, 1),
            "{table}"
        );
    }

    #[test]
    fn missing_reports_are_named_and_no_step_judged() {
        let table = render(&with_missing_reports().summary, "d");
        assert!(
            table.contains("note: no report from sender 1, receiver 1:"),
            "{table}"
        );
        assert!(
            table.contains(
                "breaking point: none among the steps judged; step(s) 1, 2 not judged: no report from sender 1, receiver 1"
            ),
            "{table}"
        );
    }

    /// Cut at 2.5 s with a 1 s drain: step 2's row says it was not judged.
    #[test]
    fn a_step_cut_before_its_drain_ended_says_so() {
        let (s, r) = reports();
        let cut = Ending {
            interrupted: true,
            cut_second: Some(2.5),
            ..Ending::complete()
        };
        let table = render(&join(&plan(), &[s], &[r], &cut).summary, "d");
        let step2 = table
            .lines()
            .find(|l| l.trim_start().starts_with("2 "))
            .unwrap();
        assert!(step2.ends_with("  not judged"), "{step2}");
    }

    /// The SUT's own CPU quota: how long it stopped it during the run,
    /// the difference of its counters, on its line.
    #[test]
    fn the_suts_throttled_time_is_on_its_line() {
        use brokerbench_core::wire::SutCounters;
        let (s, r) = reports();
        let mut res = join(&plan(), &[s], &[r], &Ending::complete());
        let at = |throttled_ns| SutCounters {
            accepted: 30,
            throttled_ns,
            ..SutCounters::default()
        };
        res.summary.sut = Some(at(52_400_000).since(&at(40_000_000)));
        let table = render(&res.summary, "d");
        let line = table.lines().find(|l| l.starts_with("SUT")).unwrap();
        assert!(line.ends_with("; its CPU quota stopped it 12 ms"), "{line}");
        res.summary.sut = Some(at(0));
        let table = render(&res.summary, "d");
        assert!(!table.contains("quota stopped it"), "{table}");
    }

    /// DAMON's time gets a note from a millisecond of CPU a second of run.
    #[test]
    fn damon_time_is_noted_when_material() {
        let (mut s, r) = reports();
        s.host.damon_cpu_ns = Some(12_000_000);
        let res = join(
            &plan(),
            &[s.clone()],
            std::slice::from_ref(&r),
            &Ending::complete(),
        );
        let seconds = res.summary.plan.schedule.total_seconds() as f64;
        assert!(12.0 >= seconds * DAMON_NOTABLE_MS_PER_S, "material");
        let table = render(&res.summary, "d");
        assert!(
            table.contains("note: the kernel's DAMON memory monitor (kdamond) was on and used 12 ms of CPU during the run"),
            "{table}"
        );
        for damon in [Some(100_000), None] {
            s.host.damon_cpu_ns = damon;
            let res = join(
                &plan(),
                &[s.clone()],
                std::slice::from_ref(&r),
                &Ending::complete(),
            );
            assert!(!render(&res.summary, "d").contains("DAMON"), "{damon:?}");
        }
    }

    /// The reordered line says what order was checked: within each key,
    /// or across the sender when events carry none.
    #[test]
    fn the_reordered_line_names_what_order_was_checked() {
        let (s, mut r) = reports();
        r.reordered = 4;
        for (keys, within) in [
            (100, "4 events arrived after a later event of their partition key (seq % 100)\n"),
            (0, "4 events arrived after a later event of their sender (no partition keys: a SUT that spreads events over Kafka partitions keeps no order across them; --partition-keys N checks order within each key)\n"),
        ] {
            let plan = RunPlan {
                partition_keys: keys,
                ..plan()
            };
            let res = join(&plan, std::slice::from_ref(&s), std::slice::from_ref(&r), &Ending::complete());
            assert_eq!(res.summary.totals.reordered, 4);
            let table = render(&res.summary, "d");
            assert!(table.contains(&format!("reordered: {within}")), "{table}");
        }
    }

    /// The clocks' line, and the note when their error is a material share
    /// of the e2e P50.
    #[test]
    fn role_clocks_are_listed_and_their_error_weighed() {
        let mut res = with_role_clocks();
        let p50 = |p50| Percentiles {
            count: 1,
            p50,
            p90: p50,
            p99: p50,
            p99_9: p50,
            p99_99: p50,
            max: p50,
            ..Percentiles::default()
        };
        res.summary.latency_ms.set(LatencyKind::E2e, Some(p50(5.0)));
        let table = render(&res.summary, "d");
        assert!(
            table.contains("clocks against the aggregator's: sender 0 +5.000 ms ± 0.200 (corrected), receiver 0 -0.300 ms ± 0.500, drifted -0.200 ms by the end\n"),
            "{table}"
        );
        assert!(
            table.contains("note: e2e figures may be off by up to 0.900 ms (the roles' clock offsets, estimated over the network, and their drift), 18% of the e2e P50 (5.00 ms)"),
            "{table}"
        );
        res.summary.latency_ms.set(LatencyKind::E2e, Some(p50(9.5)));
        let table = render(&res.summary, "d");
        assert!(
            !table.contains("may be off"),
            "0.9 of 9.5 ms is under 10%: {table}"
        );
    }
}

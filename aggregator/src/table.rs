//! The summary table printed at the end of a run.

use crate::model::{Latencies, Summary, Totals};
use std::fmt::Write as _;

use crate::model::ms_text as ms;

/// One line of the table.
struct Line<'a> {
    label: String,
    rps: String,
    totals: &'a Totals,
    send_rps: f64,
    delivery_rps: f64,
    latency: &'a Latencies,
    generator_limited: bool,
    judged: bool,
}

fn row(out: &mut String, l: Line) {
    type P = brokerbench_core::digest::Percentiles;
    let p = |x: Option<P>, f: fn(&P) -> f64| ms(x.as_ref().map(f));
    let t = l.totals;
    let _ = writeln!(
        out,
        "{:>5} {:>6} {:>9} {:>9} {:>7} {:>9} {:>6} {:>5} {:>8.0} {:>8.0} {:>8} {:>10} {:>8} {:>10} {:>9}{}",
        l.label,
        l.rps,
        t.sent,
        t.accepted,
        t.failed,
        t.delivered,
        t.lost,
        t.duplicates,
        l.send_rps,
        l.delivery_rps,
        p(l.latency.publish, |p| p.p99),
        p(l.latency.publish, |p| p.p99_99),
        p(l.latency.e2e, |p| p.p99),
        p(l.latency.e2e, |p| p.p99_99),
        p(l.latency.schedule_lag, |p| p.p99_99),
        match (l.generator_limited, l.judged) {
            (_, false) => "  not judged",
            (true, true) => "  generator-limited",
            (false, true) => "",
        }
    );
}

/// The roles' clocks against the aggregator's, and whether their
/// uncertainty matters against the e2e latency measured.
fn clock_notes(out: &mut String, s: &Summary) {
    if s.clocks.is_empty() {
        return;
    }
    let list: Vec<String> = s
        .clocks
        .iter()
        .map(|c| {
            format!(
                "{} {:+.3} ms ± {:.3}{}",
                c.role,
                c.offset_ms,
                c.uncertainty_ms,
                if c.applied { " (corrected)" } else { "" }
            )
        })
        .collect();
    let _ = writeln!(out, "clocks against the aggregator's: {}", list.join(", "));
    let worst = |role: &str| {
        s.clocks
            .iter()
            .filter(|c| c.role.starts_with(role))
            .map(|c| c.uncertainty_ms)
            .fold(0.0, f64::max)
    };
    let uncertain = worst("sender") + worst("receiver");
    if let Some(p50) = s.latency_ms.e2e.map(|p| p.p50) {
        if uncertain > crate::model::CLOCK_UNCERTAINTY_NOTABLE * p50 {
            let _ = writeln!(
                out,
                "note: e2e figures may be off by up to {uncertain:.3} ms (the roles' clock offsets, estimated over the network), {:.0}% of the e2e P50 ({p50:.2} ms)",
                uncertain / p50 * 100.0
            );
        }
    }
}

/// Which steps were not judged, and why.
pub fn unjudged(s: &Summary) -> String {
    let steps: Vec<String> = s
        .steps
        .iter()
        .filter(|st| !st.judged)
        .map(|st| st.step.to_string())
        .collect();
    let why = if !s.missing_reports.is_empty() {
        format!("no report from {}", s.missing_reports.join(", "))
    } else {
        "the run was cut (Ctrl-C, or a role stopped early on its own) before they and their drain ended".to_string()
    };
    format!("step(s) {} not judged: {why}", steps.join(", "))
}

/// The table: one row per step and one for the whole run, then notes.
pub fn render(s: &Summary, dir: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {} ({}), pace {}, payload {} B{}",
        s.run_id,
        s.scenario,
        s.pace,
        s.payload_size,
        if s.interrupted {
            ", INTERRUPTED: partial results"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "{:>5} {:>6} {:>9} {:>9} {:>7} {:>9} {:>6} {:>5} {:>8} {:>8} {:>8} {:>10} {:>8} {:>10} {:>9}",
        "step", "rps", "sent", "accepted", "failed", "delivered", "lost", "dup", "send/s", "deliv/s",
        "pub p99", "pub p99.99", "e2e p99", "e2e p99.99", "lag p99.99"
    );
    for st in &s.steps {
        let line = Line {
            label: st.step.to_string(),
            rps: st.rps.to_string(),
            totals: &st.totals,
            send_rps: st.send_rps,
            delivery_rps: st.delivery_rps,
            latency: &st.latency_ms,
            generator_limited: st.generator_limited,
            judged: st.judged,
        };
        row(&mut out, line);
    }
    let secs: f64 = s
        .steps
        .iter()
        .map(|x| x.seconds as f64)
        .sum::<f64>()
        .max(1.0);
    let t = &s.totals;
    let line = Line {
        label: "all".into(),
        rps: String::new(),
        totals: t,
        send_rps: t.sent as f64 / secs,
        delivery_rps: t.delivered as f64 / secs,
        latency: &s.latency_ms,
        generator_limited: false,
        judged: true,
    };
    row(&mut out, line);
    let _ = writeln!(
        out,
        "latencies in ms; publish and e2e from intended send time; lag = sent - intended"
    );
    if !s.missing_reports.is_empty() {
        let _ = writeln!(
            out,
            "note: no report from {}: what a missing receiver received counts as lost; a missing sender's events are left out of sent and accepted",
            s.missing_reports.join(", ")
        );
    }
    clock_notes(&mut out, s);
    if t.failed > 0 {
        let _ = writeln!(
            out,
            "send failures by reason: {}",
            serde_json::to_string(&s.failures).unwrap_or_default()
        );
    }
    if t.unexpected > 0 || t.rejected > 0 {
        let _ = writeln!(
            out,
            "unexpected (received though the send failed): {}, rejected by receiver: {}",
            t.unexpected, t.rejected
        );
    }
    let us = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.1}"));
    let _ = writeln!(
        out,
        "CPU per event: sender {} µs, receiver {} µs",
        us(s.cpu.sender_us_per_event),
        us(s.cpu.receiver_us_per_event)
    );
    if s.copies > 1 {
        let _ = writeln!(
            out,
            "fan-out: {} deliveries per event; delivered, lost and duplicates count deliveries",
            s.copies
        );
    }
    if s.totals.reordered > 0 {
        let within = match s.partition_keys {
            0 => "of their sender (no partition keys: a SUT that spreads events over Kafka partitions keeps no order across them; --partition-keys N checks order within each key)".to_string(),
            n => format!("of their partition key (seq % {n})"),
        };
        let _ = writeln!(
            out,
            "reordered: {} events arrived after a later event {within}",
            s.totals.reordered
        );
    }
    if let Some(c) = &s.sut {
        let per = (c.accepted > 0).then(|| c.cpu_ns as f64 / 1e3 / c.accepted as f64);
        let _ = writeln!(
            out,
            "SUT: accepted {}, delivered {} of {} owed, retried {}, dead-lettered {}, dropped {}, \
             rejected {}, 503 {}, replies {}; CPU {} µs per event",
            c.accepted,
            c.delivered,
            c.routed,
            c.retried,
            c.dead_lettered,
            c.dropped,
            c.rejected,
            c.backpressured,
            c.replies,
            us(per)
        );
    }
    if s.generator_limited {
        let _ = writeln!(
            out,
            "note: in flagged steps the generator fell behind its schedule (schedule lag P99.99 > {} ms, or events \
             not sent): too few --connections for the latency seen, or a busy machine (other roles or the SUT on \
             the same cores); those steps measure the generator too",
            crate::model::GENERATOR_LAG_LIMIT_MS
        );
    }
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
    if let Some(ms) = s.host_damon_cpu_ms {
        let _ = writeln!(
            out,
            "note: the kernel's DAMON memory monitor (kdamond) was on and used {ms:.0} ms of CPU during the run: \
             it can hold a vCPU for milliseconds at a time, which shows in the P99.99 of millisecond latencies \
             (see README, Performance)"
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
                unjudged(s)
            );
        }
    }
    let _ = writeln!(out, "results: {dir}");
    out
}

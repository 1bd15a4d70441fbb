//! The notes under the summary table: each sender's figures, nodes,
//! clocks, negative latencies, missing reports, faults and throttling:
//! what a reader needs to trust or doubt the rows above.

use crate::model::Summary;
use brokerbench_core::latency::LatencyKind;
use std::fmt::Write as _;

use crate::model::ms_text as ms;

/// Each sender's figures, when there are several.
pub(crate) fn sender_notes(out: &mut String, s: &Summary) {
    if s.per_sender.len() < 2 {
        return;
    }
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    let _ = writeln!(
        out,
        "per sender ({}):",
        if s.plan.split {
            "each every Nth event of the pace"
        } else {
            "each the whole pace"
        }
    );
    for f in &s.per_sender {
        let publish = f.latency_ms.get(LatencyKind::Publish);
        let _ = writeln!(
            out,
            "  sender {}: sent {}, accepted {}, failed {}, lost {}, publish p99 {} ms, p99.99 {} ms{}",
            f.index,
            f.sent,
            f.accepted,
            f.failed,
            f.lost,
            ms(publish.map(|p| p.p99)),
            ms(publish.map(|p| p.p99_99)),
            if f.interrupted { " (stopped early)" } else { "" }
        );
    }
}

/// The nodes the roles ran on, where they said.
pub(crate) fn node_notes(out: &mut String, s: &Summary) {
    if s.nodes.is_empty() {
        return;
    }
    let list: Vec<String> = s
        .nodes
        .iter()
        .map(|n| format!("{} on {}", n.role, n.node))
        .collect();
    let _ = writeln!(out, "nodes: {}", list.join(", "));
}

/// The roles' clocks against the aggregator's, and whether their
/// uncertainty and drift matter against the e2e latency measured.
pub(crate) fn clock_notes(out: &mut String, s: &Summary) {
    if s.clocks.is_empty() {
        return;
    }
    let list: Vec<String> = s
        .clocks
        .iter()
        .map(|c| {
            format!(
                "{} {:+.3} ms ± {:.3}{}{}",
                c.role,
                c.offset_ms,
                c.uncertainty_ms,
                if c.applied { " (corrected)" } else { "" },
                c.drift_ms
                    .map(|d| format!(", drifted {d:+.3} ms by the end"))
                    .unwrap_or_default()
            )
        })
        .collect();
    let _ = writeln!(out, "clocks against the aggregator's: {}", list.join(", "));
    let worst = |role: &str| {
        s.clocks
            .iter()
            .filter(|c| c.role.starts_with(role))
            .map(|c| c.error_ms())
            .fold(0.0, f64::max)
    };
    let uncertain = worst("sender") + worst("receiver");
    if let Some(p50) = s.latency_ms.get(LatencyKind::E2e).map(|p| p.p50) {
        if uncertain > crate::model::CLOCK_UNCERTAINTY_NOTABLE * p50 {
            let _ = writeln!(
                out,
                "note: e2e figures may be off by up to {uncertain:.3} ms (the roles' clock offsets, estimated over the network, and their drift), {:.0}% of the e2e P50 ({p50:.2} ms)",
                uncertain / p50 * 100.0
            );
        }
    }
    if let (Some(first), Some(last)) = (
        s.clock_uncertain_seconds.first(),
        s.clock_uncertain_seconds.last(),
    ) {
        let _ = writeln!(
            out,
            "note: in {} second(s) (from second {first} to {last}) the clocks' uncertainty was over {:.0}% of that second's e2e P50: those seconds' e2e figures are that uncertain (series.tsv: clock_uncertainty_ms)",
            s.clock_uncertain_seconds.len(),
            crate::model::CLOCK_UNCERTAINTY_NOTABLE * 100.0
        );
    }
}

/// Latencies that came out negative (clocks apart), by kind.
pub(crate) fn negative_notes(out: &mut String, s: &Summary) {
    for (kind, p) in s.latency_ms.iter().filter(|(_, p)| p.negative > 0) {
        let _ = writeln!(
            out,
            "note: {} {} latencies were negative (as low as {} ms: the roles' clocks disagree), counted as 0",
            p.negative,
            kind.name(),
            ms(p.negative_min_ms)
        );
    }
}

/// What the latency percentiles leave out, and why objectives on them
/// also require that nothing failed.
pub(crate) fn missing_notes(out: &mut String, s: &Summary) {
    let t = &s.totals;
    if t.failed == 0 && t.lost == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "note: latency percentiles cover only answered (publish) and delivered (e2e) events: {} failed and {} lost are in none of them; a --slo latency objective is missed while any event failed (or, for e2e, was lost)",
        t.failed, t.lost
    );
    if t.unsent > 0 {
        let f = &s.failures;
        let _ = writeln!(
            out,
            "unsent: {} of the failed events never left the sender ({} at the in-flight bound, {} with no connection, {} cancelled: not sent by the end of its drain or the run)",
            t.unsent, f.inflight_limit, f.connect, f.cancelled
        );
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

/// One line per fault: when, what it cost, how long the run took to
/// recover (see [`crate::faults`]).
pub(crate) fn fault_lines(out: &mut String, s: &Summary) {
    for e in &s.fault_effects {
        let recovery = match (e.recovery_s, e.cut_at_s) {
            (_, Some(cut)) => {
                format!("still on when the run was cut at {cut:.1} s: recovery unknown")
            }
            (Some(r), None) => format!("back to normal {r:.1} s after it ended"),
            (None, None) => "not back to normal within the run".to_string(),
        };
        let level = match (e.baseline_delivery, e.baseline_e2e_p99_ms) {
            (Some(d), Some(p)) => {
                format!(" (normal: {:.1}% delivered, e2e P99 {p:.2} ms)", d * 100.0)
            }
            _ => " (no fault-free second before it: normal is any delivery)".to_string(),
        };
        let error = match (&e.error, e.cut_at_s) {
            // Started, then the run was cut: applied, not over.
            (Some(why), Some(cut)) if e.at_s < cut => format!("; {why}"),
            (Some(why), _) => format!("; NOT APPLIED: {why}"),
            (None, _) => String::new(),
        };
        let _ = writeln!(
            out,
            "fault {}: {} lost, {} failed, {} duplicates from just before it until recovery; {recovery}{level}{error}",
            e.spec, e.lost, e.failed, e.duplicates
        );
    }
}

/// Which roles their CPU quota stopped, in which steps and how long.
pub(crate) fn throttle_notes(out: &mut String, s: &Summary) {
    let mut by_role: Vec<(&str, Vec<String>)> = Vec::new();
    for st in &s.steps {
        for t in &st.throttled {
            let at = format!("{:.0} ms in step {}", t.throttled_ms, st.step);
            match by_role.iter_mut().find(|(r, _)| *r == t.role) {
                Some((_, v)) => v.push(at),
                None => by_role.push((&t.role, vec![at])),
            }
        }
    }
    if by_role.is_empty() {
        return;
    }
    let quota = |role: &str| {
        s.cpu_quotas
            .iter()
            .find(|q| q.role == role)
            .and_then(|q| q.cpu_quota_cores)
            .map(|c| format!(" (CPU quota {c} core{})", if c == 1.0 { "" } else { "s" }))
            .unwrap_or_default()
    };
    let who: Vec<String> = by_role
        .iter()
        .map(|(role, at)| format!("{role}{} {}", quota(role), at.join(", ")))
        .collect();
    let _ = writeln!(
        out,
        "note: in steps flagged throttled the kernel stopped a role for its CPU quota: {}; \
         a stopped sender sends late and a stopped receiver stamps late, so those steps' tails are the quota's, \
         not the SUT's (give the role more CPU, or fewer threads)",
        who.join("; ")
    );
}

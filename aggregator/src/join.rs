//! Joins sender and receiver ledgers into the results model.
//!
//! Counting rules: `lost` = accepted and never received; `unexpected` =
//! received but not accepted; both found bit by bit. Latency percentiles per
//! step and for the whole run come from merged digests; so do windowed
//! per-second percentiles when several senders (or receivers) report.

use crate::model::*;
use brokerbench_core::bitset::BitSet;
use brokerbench_core::digest::{Digest, Percentiles, WireDigest};
use brokerbench_core::plan::RunPlan;
use brokerbench_core::series::{LatencyWindows, WindowSummary};
use brokerbench_core::wire::{
    FailureCounts, ReceiverReport, ReceiverWindows, RejectCounts, Role, SenderReport, SenderWindows,
};

/// How a run ended, as far as judging its steps goes.
#[derive(Debug, Clone, Default)]
pub struct Ending {
    /// Cut short (Ctrl-C, or a sender never finished).
    pub interrupted: bool,
    /// When it was cut, in seconds after `t0`: a step is judged only if it
    /// and its drain ended by then (None with `interrupted`: no step is).
    pub cut_second: Option<f64>,
    /// Roles whose report never came (`receiver 1`): no step is judged.
    pub missing_reports: Vec<String>,
}

impl Ending {
    /// A run that ran to its end with every report in.
    pub fn complete() -> Self {
        Ending::default()
    }

    /// Whether a step whose last answer came `answered_second` after `t0`
    /// can be judged, given `drain_seconds` for its events to arrive (the
    /// aggregator's own drain, for the run's last answer).
    fn judges(&self, answered_second: f64, drain_seconds: u32) -> bool {
        self.missing_reports.is_empty()
            && (!self.interrupted
                || self
                    .cut_second
                    .is_some_and(|cut| answered_second + f64::from(drain_seconds) <= cut))
    }
}

/// Second `i` of merged windows: its percentiles and the running P99.99.
fn second(w: &WindowSummary, i: usize) -> (Option<Percentiles>, Option<f64>) {
    (
        w.windowed.get(i).copied().flatten(),
        w.running_p99_99.get(i).copied().flatten(),
    )
}

/// Joins the reports of one run.
pub fn join(
    plan: &RunPlan,
    senders: &[SenderReport],
    receivers: &[ReceiverReport],
    ending: &Ending,
) -> Results {
    let interrupted = ending.interrupted;
    let s = &plan.schedule;
    // Every sender runs the whole pace: a step asks each rate of each.
    let per_step = |rps: u32| rps.saturating_mul(plan.senders.max(1));
    let n_steps = s.steps().len();
    let mut steps: Vec<StepSummary> = s
        .steps()
        .iter()
        .enumerate()
        .map(|(i, st)| StepSummary {
            step: i + 1,
            rps: per_step(st.rps),
            seconds: st.seconds,
            start_second: s.step_start_second(i),
            totals: Totals::default(),
            send_rps: 0.0,
            delivery_rps: 0.0,
            latency_ms: Latencies::default(),
            generator_limited: false,
            judged: false,
            breaks: Vec::new(),
            receiver_cpu: None,
            host_steal: None,
        })
        .collect();
    let seconds_len = [s.total_seconds() as usize]
        .into_iter()
        .chain(senders.iter().map(|r| r.seconds.len()))
        .chain(receivers.iter().map(|r| r.seconds.len()))
        .max()
        .unwrap_or(0);
    let mut series: Vec<SecondRow> = (0..seconds_len as u64)
        .map(|sec| {
            let step = s.step_at_second(sec);
            SecondRow {
                second: sec,
                step: step.map(|i| i + 1),
                target_rps: step.map_or(0, |i| per_step(s.steps()[i].rps)),
                ..SecondRow::default()
            }
        })
        .collect();

    let mut totals = Totals::default();
    let mut failures = FailureCounts::default();
    let mut rejected = RejectCounts::default();
    let mut lost = Vec::new();

    for r in senders {
        totals.sent += r.released;
        totals.accepted += r.accepted.count();
        totals.failed += r.failed.total();
        totals.warmup_sent += r.warmup_sent;
        failures.merge(&r.failed);
        for (row, sec) in series.iter_mut().zip(&r.seconds) {
            row.sent += sec.sent;
            row.failed += sec.failed.total();
        }
        for st in steps.iter_mut() {
            let range = st.start_second as usize..(st.start_second + st.seconds as u64) as usize;
            for sec in r.seconds.get(range).unwrap_or_default() {
                st.totals.accepted += sec.accepted;
                st.totals.failed += sec.failed.total();
            }
        }
    }
    for r in receivers {
        totals.duplicates += r.duplicates;
        totals.reordered += r.reordered;
        totals.warmup_received += r.warmup_received;
        rejected.not_cloudevent += r.rejected.not_cloudevent;
        rejected.foreign += r.rejected.foreign;
        rejected.out_of_range += r.rejected.out_of_range;
        rejected.early += r.rejected.early;
        for (row, sec) in series.iter_mut().zip(&r.seconds) {
            row.delivered += sec.delivered;
            row.duplicates += sec.duplicates;
        }
        for st in steps.iter_mut() {
            let range = st.start_second as usize..(st.start_second + st.seconds as u64) as usize;
            let seconds = r.seconds.get(range).unwrap_or_default();
            st.totals.duplicates += seconds.iter().map(|x| x.duplicates).sum::<u64>();
            st.totals.reordered += seconds.iter().map(|x| x.reordered).sum::<u64>();
        }
    }
    totals.rejected = rejected.total();

    // Bit by bit, per sender and copy: delivered, lost and unexpected.
    let copies = plan.copies.max(1);
    for sender in 0..plan.senders {
        let accepted = senders.iter().filter(|r| r.index == sender).fold(
            BitSet::new(s.total_events()),
            |mut a, r| {
                a.union_with(&r.accepted);
                a
            },
        );
        for copy in 0..copies {
            let stream = (copy * plan.senders + sender) as usize;
            // An event received by two receivers is delivered once and a
            // duplicate once (each receiver counts only its own repeats).
            // The per-second delivery rate stays each receiver's own: it
            // counts by arrival second, which the bitsets do not keep.
            let mut received = BitSet::new(s.total_events());
            for bits in receivers.iter().filter_map(|r| r.received.get(stream)) {
                for seq in bits.intersection(&received) {
                    totals.duplicates += 1;
                    tally(
                        s,
                        seq,
                        &mut series,
                        |r| &mut r.duplicates,
                        &mut steps,
                        |t| &mut t.duplicates,
                    );
                }
                received.union_with(bits);
            }
            totals.delivered += received.count();
            for seq in accepted.difference(&received) {
                totals.lost += 1;
                tally(
                    s,
                    seq,
                    &mut series,
                    |r| &mut r.lost,
                    &mut steps,
                    |t| &mut t.lost,
                );
                match lost.last_mut() {
                    Some(LostRange {
                        sender: sd,
                        copy: c,
                        last,
                        ..
                    }) if *sd == sender && *c == copy && *last + 1 == seq => *last = seq,
                    _ => lost.push(LostRange {
                        sender,
                        copy,
                        first: seq,
                        last: seq,
                    }),
                }
            }
            // Without its sender's report nothing is known to be accepted.
            let reported = senders.iter().any(|r| r.index == sender);
            for seq in received.difference(&accepted).filter(|_| reported) {
                totals.unexpected += 1;
                if let Some(step) = s.step_of(seq) {
                    steps[step].totals.unexpected += 1;
                }
            }
            for (i, st) in steps.iter_mut().enumerate() {
                let (a, b) = (s.first_seq_of(i), s.first_seq_of(i + 1));
                st.totals.delivered += (a..b).filter(|&q| received.contains(q)).count() as u64;
            }
        }
    }
    totals.delivered_of_accepted = totals.accepted * copies as u64 - totals.lost;

    // Steal: the worst of the roles' machines, each second.
    let steal = senders
        .iter()
        .map(|r| &r.host_steal_per_second)
        .chain(receivers.iter().map(|r| &r.host_steal_per_second));
    for per_second in steal {
        for (row, &share) in series.iter_mut().zip(per_second) {
            row.host_steal = Some(row.host_steal.unwrap_or(0.0).max(f64::from(share)));
        }
    }

    // Windowed series: one role's own, or every role's merged second by
    // second when there are several and they sent their windows.
    let sender_windows: Vec<_> = senders.iter().filter_map(|r| r.windows.as_ref()).collect();
    if senders.len() > 1 && !sender_windows.is_empty() {
        let merge = |of: fn(&SenderWindows) -> &[WireDigest]| {
            LatencyWindows::merged(s, sender_windows.iter().map(|w| of(w))).summarise(s)
        };
        let publish = merge(|w| &w.publish);
        let publish_raw = merge(|w| &w.publish_raw);
        let lag = merge(|w| &w.lag);
        for (i, row) in series.iter_mut().enumerate() {
            (row.publish, row.publish_running_p99_99) = second(&publish, i);
            row.lag_p99_99 = second(&lag, i).0.map(|p| p.p99_99);
            row.publish_raw_p99_99 = second(&publish_raw, i).0.map(|p| p.p99_99);
        }
    } else if let Some(r) = senders.iter().min_by_key(|r| r.index) {
        for (row, sec) in series.iter_mut().zip(&r.seconds) {
            row.publish = sec.publish;
            row.publish_running_p99_99 = sec.publish_running_p99_99;
            row.lag_p99_99 = sec.lag.map(|p| p.p99_99);
            row.publish_raw_p99_99 = sec.publish_raw.map(|p| p.p99_99);
        }
    }
    let receiver_windows: Vec<_> = receivers
        .iter()
        .filter_map(|r| r.windows.as_ref())
        .collect();
    if receivers.len() > 1 && !receiver_windows.is_empty() {
        let merge = |of: fn(&ReceiverWindows) -> &[WireDigest]| {
            LatencyWindows::merged(s, receiver_windows.iter().map(|w| of(w))).summarise(s)
        };
        let e2e = merge(|w| &w.e2e);
        let e2e_raw = merge(|w| &w.e2e_raw);
        for (i, row) in series.iter_mut().enumerate() {
            (row.e2e, row.e2e_running_p99_99) = second(&e2e, i);
            row.e2e_raw_p99_99 = second(&e2e_raw, i).0.map(|p| p.p99_99);
        }
    } else if let Some(r) = receivers.iter().min_by_key(|r| r.index) {
        for (row, sec) in series.iter_mut().zip(&r.seconds) {
            row.e2e = sec.e2e;
            row.e2e_running_p99_99 = sec.e2e_running_p99_99;
            row.e2e_raw_p99_99 = sec.e2e_raw.map(|p| p.p99_99);
        }
    }

    // Merged digests per step and for the run.

    let (pub_steps, pub_all) = by_step(n_steps, |i: usize| {
        senders
            .iter()
            .filter_map(|r| r.steps.get(i))
            .map(|x| &x.publish)
            .collect()
    });
    let (raw_steps, raw_all) = by_step(n_steps, |i: usize| {
        senders
            .iter()
            .filter_map(|r| r.steps.get(i))
            .map(|x| &x.publish_raw)
            .collect()
    });
    let (lag_steps, lag_all) = by_step(n_steps, |i: usize| {
        senders
            .iter()
            .filter_map(|r| r.steps.get(i))
            .map(|x| &x.lag)
            .collect()
    });
    let (e2e_steps, e2e_all) = by_step(n_steps, |i: usize| {
        receivers
            .iter()
            .filter_map(|r| r.steps.get(i))
            .map(|x| &x.e2e)
            .collect()
    });
    let (e2er_steps, e2er_all) = by_step(n_steps, |i: usize| {
        receivers
            .iter()
            .filter_map(|r| r.steps.get(i))
            .map(|x| &x.e2e_raw)
            .collect()
    });

    let mut generator_limited = false;
    for (i, st) in steps.iter_mut().enumerate() {
        st.totals.sent = st.totals.accepted + st.totals.failed;
        let owed = st.totals.accepted * copies as u64;
        st.totals.delivered_of_accepted = owed - st.totals.lost.min(owed);
        st.send_rps = st.totals.sent as f64 / st.seconds as f64;
        st.delivery_rps = st.totals.delivered as f64 / st.seconds as f64;
        st.latency_ms = Latencies {
            publish: pub_steps[i],
            publish_raw: raw_steps[i],
            schedule_lag: lag_steps[i],
            e2e: e2e_steps[i],
            e2e_raw: e2er_steps[i],
        };
        let expected = st.rps as u64 * st.seconds as u64;
        let lagging = lag_steps[i].is_some_and(|p| p.p99_99 > GENERATOR_LAG_LIMIT_MS);
        // Unsent events say nothing when a sender's report is missing.
        let complete = !interrupted && ending.missing_reports.is_empty();
        st.generator_limited = lagging || (complete && st.totals.sent < expected);
        generator_limited |= st.generator_limited;
        st.receiver_cpu = receiver_cpu(receivers, st.start_second, st.seconds);
        st.host_steal = mean_steal(
            series
                .iter()
                .filter(|r| r.step == Some(i + 1))
                .filter_map(|r| r.host_steal),
        );
        // A step cut short, or whose events could still be on their way
        // when the run was cut, says nothing about holding; nor does one
        // missing a receiver's deliveries. Its last answer came at most its
        // slowest publish after its end.
        let answered = (st.start_second + st.seconds as u64) as f64
            + st.latency_ms.publish.map_or(0.0, |p| p.max / 1e3);
        st.judged = ending.judges(answered, plan.drain_seconds);
        if st.judged {
            st.breaks = crate::analysis::step_breaks(st, &series, copies);
        }
    }
    let breaking_point = crate::analysis::breaking_point(&steps);

    let sender_ns: u64 = senders.iter().map(|r| r.cpu_ns).sum();
    let receiver_ns: u64 = receivers.iter().map(|r| r.cpu_ns).sum();
    let per = |ns: u64, n: u64| (n > 0).then(|| ns as f64 / 1e3 / n as f64);
    let received_requests =
        totals.delivered + totals.duplicates + totals.warmup_received + totals.rejected;
    let summary = Summary {
        schema_version: SCHEMA_VERSION,
        run_id: plan.run_id.clone(),
        scenario: plan.scenario.clone(),
        started_at: rfc3339(plan.t0()),
        pace: s.to_string(),
        payload_size: plan.payload_size,
        warmup: plan.warmup,
        drain_seconds: plan.drain_seconds,
        senders: plan.senders,
        receivers: plan.receivers,
        copies: plan.copies,
        partition_keys: plan.partition_keys,
        host_steal: mean_steal(
            series
                .iter()
                .filter(|r| r.step.is_some())
                .filter_map(|r| r.host_steal),
        ),
        host_damon_cpu_ms: senders
            .iter()
            .map(|r| r.host_damon_cpu_ns)
            .chain(receivers.iter().map(|r| r.host_damon_cpu_ns))
            .flatten()
            .max()
            .map(|ns| ns as f64 / 1e6),
        sut: None,
        interrupted,
        missing_reports: ending.missing_reports.clone(),
        clocks: role_clocks(senders, receivers),
        totals,
        failures,
        rejected,
        latency_ms: Latencies {
            publish: pub_all,
            publish_raw: raw_all,
            schedule_lag: lag_all,
            e2e: e2e_all,
            e2e_raw: e2er_all,
        },
        cpu: Cpu {
            sender_ns,
            receiver_ns,
            sender_us_per_event: per(sender_ns, totals.sent + totals.warmup_sent),
            receiver_us_per_event: per(receiver_ns, received_requests),
        },
        generator_limited,
        breaking_point,
        steps,
    };
    Results {
        summary,
        series,
        lost,
    }
}

/// Counts `seq` once more in its second's row and in its step's totals.
fn tally(
    s: &brokerbench_core::pace::Schedule,
    seq: u64,
    series: &mut [SecondRow],
    row: impl Fn(&mut SecondRow) -> &mut u64,
    steps: &mut [StepSummary],
    step: impl Fn(&mut Totals) -> &mut u64,
) {
    if let Some(sec) = s.second_of(seq) {
        *row(&mut series[sec as usize]) += 1;
    }
    if let Some(i) = s.step_of(seq) {
        *step(&mut steps[i].totals) += 1;
    }
}

/// The clocks the roles estimated against the aggregator's: senders, then
/// receivers, by index.
fn role_clocks(senders: &[SenderReport], receivers: &[ReceiverReport]) -> Vec<RoleClock> {
    let mut clocks: Vec<_> = senders
        .iter()
        .map(|r| (Role::Sender, r.index, r.clock))
        .chain(receivers.iter().map(|r| (Role::Receiver, r.index, r.clock)))
        .filter_map(|(role, i, c)| c.map(|c| (role, i, c)))
        .collect();
    clocks.sort_by_key(|&(role, i, _)| (role == Role::Receiver, i));
    clocks
        .into_iter()
        .map(|(role, i, c)| RoleClock {
            role: format!("{} {i}", role.name()),
            offset_ms: c.offset_ns as f64 / 1e6,
            uncertainty_ms: c.uncertainty_ns as f64 / 1e6,
            applied: c.applied,
        })
        .collect()
}

/// The mean of per-second steal shares; None without any.
fn mean_steal(shares: impl Iterator<Item = f64>) -> Option<f64> {
    let (n, sum) = shares.fold((0u32, 0.0), |(n, s), x| (n + 1, s + x));
    (n > 0).then(|| sum / f64::from(n))
}

/// The busiest receiver's share of its threads' CPU over a step's seconds.
fn receiver_cpu(receivers: &[ReceiverReport], start: u64, seconds: u32) -> Option<f64> {
    receivers
        .iter()
        .filter_map(|r| {
            let per = r
                .cpu_per_second_ns
                .get(start as usize..(start + seconds as u64) as usize)?;
            let used: u64 = per.iter().sum();
            Some(used as f64 / (r.threads.max(1) as f64 * seconds as f64 * 1e9))
        })
        .reduce(f64::max)
}

/// Percentiles of each step's merged digests, and of the whole run.
fn by_step<'a>(
    n_steps: usize,
    f: impl Fn(usize) -> Vec<&'a WireDigest>,
) -> (Vec<Option<Percentiles>>, Option<Percentiles>) {
    let per_step: Vec<Digest> = (0..n_steps).map(|i| merge(f(i))).collect();
    let mut all = Digest::merged(per_step.iter());
    (
        per_step.into_iter().map(|mut d| d.percentiles()).collect(),
        all.percentiles(),
    )
}

fn merge(parts: Vec<&WireDigest>) -> Digest {
    let digests: Vec<Digest> = parts.into_iter().map(Digest::from).collect();
    Digest::merged(digests.iter())
}

/// RFC 3339 (UTC) of a wall-clock ns.
pub fn rfc3339(unix_ns: u64) -> String {
    chrono::DateTime::from_timestamp(
        (unix_ns / 1_000_000_000) as i64,
        (unix_ns % 1_000_000_000) as u32,
    )
    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use brokerbench_core::pace::Schedule;
    use brokerbench_core::wire::{ReceiverSecond, SenderSecond};

    fn plan() -> RunPlan {
        RunPlan {
            run_id: "r".into(),
            scenario: "direct".into(),
            schedule: Schedule::parse("10:1,20:1").unwrap(),
            payload_size: 8,
            warmup: None,
            drain_seconds: 1,
            senders: 1,
            receivers: 1,
            copies: 1,
            partition_keys: 100,
            t0_unix_ns: Some(1_000_000_000),
        }
    }

    /// 30 events: 0..30 sent; 3 and 25 failed; 7, 8 and 21 never arrive;
    /// 3 arrives anyway (unexpected); 12 arrives twice.
    fn reports() -> (SenderReport, ReceiverReport) {
        let mut accepted = BitSet::new(30);
        let mut received = BitSet::new(30);
        for q in 0..30 {
            if q != 3 && q != 25 {
                accepted.insert(q);
            }
            if ![7, 8, 21, 25].contains(&q) {
                received.insert(q);
            }
        }
        let failed = FailureCounts {
            status_5xx: 2,
            ..Default::default()
        };
        let f0 = FailureCounts {
            status_5xx: 1,
            ..Default::default()
        };
        let sender = SenderReport {
            run_id: "r".into(),
            index: 0,
            released: 30,
            accepted,
            failed,
            seconds: vec![
                SenderSecond {
                    sent: 10,
                    accepted: 9,
                    failed: f0,
                    ..Default::default()
                },
                SenderSecond {
                    sent: 20,
                    accepted: 19,
                    failed: f0,
                    ..Default::default()
                },
            ],
            steps: vec![Default::default(), Default::default()],
            warmup_sent: 0,
            warmup_accepted: 0,
            cpu_ns: 3_000,
            last_exchange_unix_ns: 0,
            host_steal_per_second: Vec::new(),
            clock: None,
            host_damon_cpu_ns: None,
            windows: None,
            interrupted: false,
        };
        let receiver = ReceiverReport {
            run_id: "r".into(),
            index: 0,
            received: vec![received],
            duplicates: 1,
            reordered: 0,
            rejected: RejectCounts::default(),
            warmup_received: 0,
            seconds: vec![
                ReceiverSecond {
                    delivered: 8,
                    ..Default::default()
                },
                ReceiverSecond {
                    delivered: 18,
                    duplicates: 1,
                    ..Default::default()
                },
            ],
            steps: vec![Default::default(), Default::default()],
            cpu_ns: 2_700,
            // One thread: 0.5 s busy in second 0, fully busy in second 1.
            cpu_per_second_ns: vec![500_000_000, 1_000_000_000],
            threads: 1,
            host_steal_per_second: Vec::new(),
            clock: None,
            host_damon_cpu_ns: None,
            windows: None,
            interrupted: false,
        };
        (sender, receiver)
    }

    #[test]
    fn join_finds_lost_and_unexpected_bit_by_bit() {
        let (s, r) = reports();
        let res = join(&plan(), &[s], &[r], &Ending::complete());
        let t = res.summary.totals;
        assert_eq!((t.sent, t.accepted, t.failed), (30, 28, 2));
        assert_eq!(
            (t.delivered, t.lost, t.unexpected, t.duplicates),
            (26, 3, 1, 1)
        );
        assert_eq!(t.delivered_of_accepted, 25);
        assert_eq!(t.sent, t.accepted + t.failed);
        assert_eq!(t.accepted, t.delivered_of_accepted + t.lost);
        assert_eq!(
            res.lost,
            vec![
                LostRange {
                    sender: 0,
                    copy: 0,
                    first: 7,
                    last: 8
                },
                LostRange {
                    sender: 0,
                    copy: 0,
                    first: 21,
                    last: 21
                }
            ]
        );
        let st = &res.summary.steps;
        assert_eq!(
            (
                st[0].totals.sent,
                st[0].totals.lost,
                st[0].totals.unexpected
            ),
            (10, 2, 1)
        );
        assert_eq!(
            (
                st[1].totals.sent,
                st[1].totals.lost,
                st[1].totals.duplicates
            ),
            (20, 1, 1)
        );
        assert_eq!((st[0].totals.delivered, st[1].totals.delivered), (8, 18));
        assert_eq!(st[1].delivery_rps, 18.0);
        assert_eq!(
            (st[0].receiver_cpu, st[1].receiver_cpu),
            (Some(0.5), Some(1.0))
        );
        for s in st {
            assert_eq!(
                s.totals.accepted,
                s.totals.delivered_of_accepted + s.totals.lost,
                "step {}",
                s.step
            );
        }
        assert_eq!((res.series[0].lost, res.series[1].lost), (2, 1));
        assert_eq!(
            (res.series[0].target_rps, res.series[1].target_rps),
            (10, 20)
        );
        assert_eq!(res.summary.cpu.sender_us_per_event, Some(0.1));
        assert_eq!(
            res.summary.cpu.receiver_us_per_event,
            Some(0.1),
            "26 unique + 1 duplicate requests"
        );
    }

    #[test]
    fn tsv_files_have_headers_and_one_row_per_unit() {
        let (s, r) = reports();
        let res = join(&plan(), &[s], &[r], &Ending::complete());
        let series = crate::output::series_tsv(&res.series);
        let lines: Vec<&str> = series.lines().collect();
        assert_eq!(
            lines[0].split('\t').count(),
            crate::output::SERIES_COLUMNS.len()
        );
        assert_eq!(lines.len(), 3);
        assert!(
            lines[1].starts_with("0\t1\t10\t10\t8\t1\t2\t0\tNaN"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].starts_with("1\t2\t20\t20\t18\t1\t1\t1\tNaN"),
            "{}",
            lines[2]
        );
        let steps = crate::output::steps_tsv(&res.summary.steps);
        assert!(
            steps
                .lines()
                .nth(1)
                .unwrap()
                .starts_with("1\t10\t1\t0\t10\t9\t1\t8\t2\t0\t1\t10.0\t8.0\t"),
            "{steps}"
        );
        let lost = crate::output::lost_tsv(&res.lost);
        assert_eq!(
            lost,
            "sender\tcopy\tfirst_seq\tlast_seq\tcount\n0\t0\t7\t8\t2\n0\t0\t21\t21\t1\n"
        );
        assert_eq!(
            crate::output::read_lost(&lost),
            vec![(0, 0, 7), (0, 0, 8), (0, 0, 21)]
        );
    }

    /// Receiver 1 also gets 0 and 1 (which receiver 0 has) and 7 (which
    /// it lost): one more delivery and two duplicates across receivers.
    #[test]
    fn an_event_at_two_receivers_is_one_delivery_and_one_duplicate() {
        let (s, r0) = reports();
        let mut r1 = r0.clone();
        r1.index = 1;
        r1.duplicates = 0;
        r1.seconds.clear();
        r1.received = vec![BitSet::new(30)];
        for q in [0, 1, 7] {
            r1.received[0].insert(q);
        }
        let plan = RunPlan {
            receivers: 2,
            ..plan()
        };
        let res = join(&plan, &[s], &[r0, r1], &Ending::complete());
        let t = res.summary.totals;
        assert_eq!((t.delivered, t.lost, t.duplicates), (27, 2, 3));
        assert_eq!(t.accepted, t.delivered_of_accepted + t.lost);
        let st = &res.summary.steps;
        assert_eq!((st[0].totals.duplicates, st[0].totals.delivered), (2, 9));
        assert_eq!(res.series[0].duplicates, 2);
    }

    /// Each sender runs the whole pace: with two, a step asks twice its rate.
    #[test]
    fn with_two_senders_each_step_asks_twice_the_pace() {
        let (s0, r) = reports();
        let mut s1 = s0.clone();
        s1.index = 1;
        let mut r = r;
        r.received.push(r.received[0].clone());
        let plan = RunPlan {
            senders: 2,
            ..plan()
        };
        let res = join(&plan, &[s0, s1], &[r], &Ending::complete());
        let st = &res.summary.steps;
        assert_eq!((st[0].rps, st[1].rps), (20, 40));
        assert_eq!((st[0].totals.sent, st[1].totals.sent), (20, 40));
        assert!(!st[0].generator_limited, "20 sent of 20 asked");
        assert_eq!(
            (res.series[0].target_rps, res.series[1].target_rps),
            (20, 40)
        );
        assert!(
            st[1]
                .breaks
                .iter()
                .any(|b| b == "delivery 36/s below target 40/s"),
            "{:?}",
            st[1].breaks
        );
    }

    /// Two senders and two receivers, each with its own latencies in the
    /// second 0: the windowed series covers all of them (count, max and the
    /// tail), not only those of sender 0 and receiver 0.
    #[test]
    fn several_roles_windows_are_merged_second_by_second() {
        let plan = RunPlan {
            senders: 2,
            receivers: 2,
            ..plan()
        };
        let (s0, r0) = reports();
        let (mut s1, mut r1) = (s0.clone(), r0.clone());
        s1.index = 1;
        r1.index = 1;
        let ms = 1_000_000;
        let windows = |lo: u64, n: u64| {
            let mut w = LatencyWindows::new(&plan.schedule);
            for i in 0..n {
                w.record(0, lo + i * ms);
            }
            w.record(1, lo);
            w.to_wire()
        };
        // Second 0: sender 0 saw 1..=10 ms, sender 1 saw 100..=104 ms.
        let (fast, slow) = (windows(ms, 10), windows(100 * ms, 5));
        let senders: Vec<_> = [(s0, &fast), (s1, &slow)]
            .into_iter()
            .map(|(mut r, w)| {
                r.windows = Some(SenderWindows {
                    publish: w.clone(),
                    publish_raw: w.clone(),
                    lag: w.clone(),
                });
                r
            })
            .collect();
        let receivers: Vec<_> = [(r0, &slow), (r1, &fast)]
            .into_iter()
            .map(|(mut r, w)| {
                r.windows = Some(ReceiverWindows {
                    e2e: w.clone(),
                    e2e_raw: w.clone(),
                });
                r
            })
            .collect();
        let res = join(&plan, &senders, &receivers, &Ending::complete());
        let row = &res.series[0];
        let (p, e) = (row.publish.unwrap(), row.e2e.unwrap());
        assert_eq!((p.count, e.count), (15, 15));
        assert_eq!((p.max, e.max), (104.0, 104.0));
        assert!(p.p50 > 5.0 && p.p50 < 100.0, "p50 {}", p.p50);
        assert_eq!(row.publish_running_p99_99, Some(104.0));
        assert_eq!(row.e2e_running_p99_99, Some(104.0));
        assert_eq!(row.lag_p99_99, Some(104.0));
        assert_eq!(row.publish_raw_p99_99, Some(104.0));
        assert_eq!(row.e2e_raw_p99_99, Some(104.0));
        let next = &res.series[1];
        assert_eq!(next.publish.unwrap().count, 2, "one event from each");
        assert_eq!(
            next.publish_running_p99_99,
            Some(100.0),
            "step 2 starts afresh"
        );
    }

    /// Without receiver 1's report no step can be judged; without sender
    /// 1's, what came from it is not "unexpected".
    #[test]
    fn missing_reports_are_named_and_no_step_is_judged() {
        let (s, mut r) = reports();
        let mut from_missing = BitSet::new(30);
        from_missing.insert(0);
        from_missing.insert(1);
        r.received.push(from_missing);
        let plan = RunPlan {
            senders: 2,
            receivers: 2,
            ..plan()
        };
        let ending = Ending {
            missing_reports: vec!["sender 1".into(), "receiver 1".into()],
            ..Ending::complete()
        };
        let res = join(&plan, &[s], &[r], &ending);
        let sm = &res.summary;
        assert_eq!(sm.missing_reports, ["sender 1", "receiver 1"]);
        assert_eq!(sm.totals.unexpected, 1, "only stream 0's event 3");
        assert!(sm.steps.iter().all(|st| !st.judged && st.breaks.is_empty()));
        assert!(
            sm.steps.iter().all(|st| !st.generator_limited),
            "events a missing sender sent are unknown, not unsent"
        );
        assert!(sm.breaking_point.is_none());
        let steps = crate::output::steps_tsv(&sm.steps);
        assert!(
            steps.lines().skip(1).all(|l| l.ends_with("\tNaN")),
            "{steps}"
        );
        let table = crate::table::render(sm, "d");
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

    /// Cut 2.5 s after t0 with a 1 s drain: step 1 (ends at 1 s) had its
    /// drain, step 2 (ends at 2 s) did not, so only step 1 is judged.
    #[test]
    fn a_cut_run_judges_only_the_steps_whose_drain_ended() {
        let (s, r) = reports();
        let cut = |at: f64| Ending {
            interrupted: true,
            cut_second: Some(at),
            ..Ending::complete()
        };
        let (s, r) = ([s], [r]);
        let res = join(&plan(), &s, &r, &cut(2.5));
        let st = &res.summary.steps;
        assert_eq!((st[0].judged, st[1].judged), (true, false));
        assert!(st[1].breaks.is_empty(), "1 lost in step 2 is not judged");
        assert_eq!(res.summary.breaking_point.as_ref().unwrap().step, 1);
        let table = crate::table::render(&res.summary, "d");
        let step2 = table
            .lines()
            .find(|l| l.trim_start().starts_with("2 "))
            .unwrap();
        assert!(step2.ends_with("  not judged"), "{step2}");
        let res = join(&plan(), &s, &r, &cut(3.0));
        assert!(res.summary.steps.iter().all(|st| st.judged));
        // Step 1's slowest answer came 0.8 s after it ended: its drain ran
        // to 2.8 s, after a cut at 2.5 s.
        let mut slow = Digest::default();
        slow.record_ns(800_000_000);
        let mut s = s;
        s[0].steps[0].publish = slow.to_wire();
        let res = join(&plan(), &s, &r, &cut(2.5));
        assert!(res.summary.steps.iter().all(|st| !st.judged));
        let res = join(&plan(), &s, &r, &cut(2.8));
        assert!(res.summary.steps[0].judged);
        let res = join(
            &plan(),
            &s,
            &r,
            &Ending {
                interrupted: true,
                ..Ending::complete()
            },
        );
        assert!(res.summary.steps.iter().all(|st| !st.judged));
    }

    /// DAMON's CPU time is the most any role saw (roles on one machine see
    /// the same monitor); a run where it was off gets no figure and no note.
    #[test]
    fn damon_time_is_the_most_any_role_saw_and_noted() {
        let (mut s, mut r) = reports();
        s.host_damon_cpu_ns = Some(3_000_000);
        r.host_damon_cpu_ns = Some(12_000_000);
        let res = join(&plan(), &[s.clone()], &[r.clone()], &Ending::complete());
        assert_eq!(res.summary.host_damon_cpu_ms, Some(12.0));
        let table = crate::table::render(&res.summary, "d");
        assert!(
            table.contains("note: the kernel's DAMON memory monitor (kdamond) was on and used 12 ms of CPU during the run"),
            "{table}"
        );
        (s.host_damon_cpu_ns, r.host_damon_cpu_ns) = (None, None);
        let res = join(&plan(), &[s], &[r], &Ending::complete());
        assert_eq!(res.summary.host_damon_cpu_ms, None);
        assert!(!crate::table::render(&res.summary, "d").contains("DAMON"));
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
            let table = crate::table::render(&res.summary, "d");
            assert!(table.contains(&format!("reordered: {within}")), "{table}");
        }
    }

    /// Roles on other hosts report their clocks; the table lists them and
    /// warns when their uncertainty is large against the e2e P50.
    #[test]
    fn role_clocks_are_listed_and_their_uncertainty_weighed() {
        use brokerbench_core::clock::ClockSync;
        let (mut s, mut r) = reports();
        s.clock = Some(ClockSync {
            offset_ns: 5_000_000,
            uncertainty_ns: 200_000,
            applied: true,
        });
        r.clock = Some(ClockSync {
            offset_ns: -300_000,
            uncertainty_ns: 500_000,
            applied: false,
        });
        let mut res = join(&plan(), &[s], &[r], &Ending::complete());
        let c = &res.summary.clocks;
        assert_eq!(
            c.iter()
                .map(|c| (c.role.as_str(), c.offset_ms, c.uncertainty_ms, c.applied))
                .collect::<Vec<_>>(),
            [
                ("sender 0", 5.0, 0.2, true),
                ("receiver 0", -0.3, 0.5, false)
            ]
        );
        let p50 = |p50| brokerbench_core::digest::Percentiles {
            count: 1,
            p50,
            p90: p50,
            p99: p50,
            p99_9: p50,
            p99_99: p50,
            max: p50,
        };
        res.summary.latency_ms.e2e = Some(p50(5.0));
        let table = crate::table::render(&res.summary, "d");
        assert!(
            table.contains("clocks against the aggregator's: sender 0 +5.000 ms ± 0.200 (corrected), receiver 0 -0.300 ms ± 0.500\n"),
            "{table}"
        );
        assert!(
            table.contains("note: e2e figures may be off by up to 0.700 ms (the roles' clock offsets, estimated over the network), 14% of the e2e P50 (5.00 ms)"),
            "{table}"
        );
        res.summary.latency_ms.e2e = Some(p50(7.5));
        let table = crate::table::render(&res.summary, "d");
        assert!(
            !table.contains("may be off"),
            "0.7 of 7.5 ms is under 10%: {table}"
        );
    }
}

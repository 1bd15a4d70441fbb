//! Live progress: one line a second while the run goes on, rewritten in place
//! on a terminal, plain lines otherwise.

use brokerbench_core::clock::unix_now_ns;
use brokerbench_core::latency::{LatencyKind, PerKind};
use brokerbench_core::plan::RunPlan;
use brokerbench_core::wire::{Progress, Role};
use std::io::{IsTerminal, Write};

/// Totals at the previous line, to turn counters into rates.
#[derive(Default)]
pub struct ProgressLine {
    last: Option<(u64, u64, u64, u64)>,
}

use crate::model::ms_text as ms;

impl ProgressLine {
    /// The line for `now`, from the roles' latest counters.
    pub fn line(&mut self, plan: &RunPlan, progress: &[Progress], now_unix_ns: u64) -> String {
        let s = &plan.schedule;
        let (mut sent, mut accepted, mut failed, mut delivered) = (0, 0, 0, 0);
        // The worst role's P99 of each live latency.
        let mut p99: PerKind<f64> = PerKind::new();
        let steal = progress
            .iter()
            .filter_map(|p| p.host_steal)
            .reduce(f32::max);
        for p in progress {
            match p.role {
                Some(Role::Sender) => {
                    sent += p.sent;
                    accepted += p.accepted;
                    failed += p.failed;
                }
                Some(Role::Receiver) => delivered += p.delivered,
                None => continue,
            }
            for (kind, &ms) in &p.p99_ms {
                let w = p99.entry(*kind).or_insert(ms);
                *w = w.max(ms);
            }
        }
        let latencies: Vec<String> = LatencyKind::ALL
            .into_iter()
            .filter(|k| k.live())
            .map(|k| format!("{} {}", k.label(), ms(p99.get(&k).copied())))
            .collect();
        let (ds, dd) = match self.last {
            Some((s0, _, _, d0)) => (sent.saturating_sub(s0), delivered.saturating_sub(d0)),
            None => (0, 0),
        };
        self.last = Some((sent, accepted, failed, delivered));
        let elapsed = (now_unix_ns as i128 - plan.t0() as i128).div_euclid(1_000_000_000) as i64;
        let step = match (elapsed >= 0, s.step_at_second(elapsed.max(0) as u64)) {
            (false, _) => "warmup".to_string(),
            (true, Some(i)) => format!(
                "step {}/{} {}/s",
                i + 1,
                s.steps().len(),
                plan.offered(s.steps()[i].rps)
            ),
            (true, None) => "drain".to_string(),
        };
        let steal = steal
            .filter(|&x| f64::from(x) >= crate::model::HOST_STEAL_NOTABLE)
            .map(|x| format!(" | host steal {:.0}%", x * 100.0))
            .unwrap_or_default();
        // The role its CPU quota stopped longest in the last second.
        let throttled = progress
            .iter()
            .filter_map(|p| Some((p, p.throttled_ms?)))
            .filter(|(_, ms)| f64::from(*ms) >= crate::model::THROTTLED_NOTABLE_MS)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .and_then(|(p, ms)| {
                Some(format!(
                    " | {} {} throttled {ms:.0} ms",
                    p.role?.name(),
                    p.index
                ))
            })
            .unwrap_or_default();
        format!(
            "[{elapsed:>5}s] {step} | sent {ds}/s, delivered {dd}/s | failed {failed} | undelivered {} | p99 ms: {}{steal}{throttled}",
            // Each accepted event owes `copies` deliveries (fan-out).
            (accepted * u64::from(plan.copies.max(1))).saturating_sub(delivered),
            latencies.join(", ")
        )
    }
}

/// The line before the start: every role of the plan, ready or not, and
/// how far a sender got opening its connections.
pub fn waiting_line(plan: &RunPlan, roles: &crate::server::Roles) -> String {
    let parts: Vec<String> = role_states(plan, roles)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    format!("[waiting] {}", parts.join(" | "))
}

/// The roles of the plan that are not ready, and how far each got.
pub fn not_ready(plan: &RunPlan, roles: &crate::server::Roles) -> Vec<String> {
    role_states(plan, roles)
        .into_iter()
        .filter(|(ready, _)| !ready)
        .map(|(_, s)| s)
        .collect()
}

/// Each role of the plan: whether it is ready, and in words how far it got.
fn role_states(plan: &RunPlan, roles: &crate::server::Roles) -> Vec<(bool, String)> {
    let mut states = Vec::new();
    for i in 0..plan.senders {
        let connecting = roles
            .progress
            .iter()
            .find(|p| p.role == Some(Role::Sender) && p.index == i)
            .and_then(|p| p.connecting);
        states.push(match (roles.ready_senders.contains(&i), connecting) {
            (true, _) => (true, format!("sender {i} ready")),
            (false, Some(c)) => (
                false,
                format!("sender {i} connecting: {} of {} open", c.open, c.wanted),
            ),
            (false, None) => (false, format!("sender {i} not heard from")),
        });
    }
    for i in 0..plan.receivers {
        let ready = roles.ready_receivers.iter().any(|(r, _)| *r == i);
        states.push(match ready {
            true => (true, format!("receiver {i} ready")),
            false => (false, format!("receiver {i} not heard from")),
        });
    }
    states
}

/// Keeps the progress line once a second until cancelled (in the status
/// `/v1/status` serves), and prints it when `echo`: who is ready while the
/// roles get ready, then the run's rates and latencies.
pub async fn print(
    hub: std::sync::Arc<crate::server::Hub>,
    stop: tokio_util::sync::CancellationToken,
    echo: bool,
) {
    let tty = echo && std::io::stderr().is_terminal();
    let show = |text: &str| {
        hub.set_status(|s| s.line = text.to_string());
        if !echo {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = if tty {
            write!(err, "\r\x1b[2K{text}")
        } else {
            writeln!(err, "{text}")
        };
        let _ = err.flush();
    };
    let mut started = hub.started.subscribe();
    let mut waiting = tokio::time::interval(std::time::Duration::from_secs(1));
    waiting.tick().await;
    while !*started.borrow() {
        tokio::select! {
            _ = waiting.tick() => {
                let plan = hub.plan.lock().unwrap().clone();
                show(&waiting_line(&plan, &hub.roles.lock().unwrap()));
            }
            _ = started.changed() => {}
            _ = stop.cancelled() => return finish(tty),
        }
    }
    let mut line = ProgressLine::default();
    let plan = hub.plan.lock().unwrap().clone();
    // Shortly after the roles sample theirs (half past each second).
    let phase = std::time::Duration::from_millis(800);
    let mut tick = brokerbench_core::clock::aligned_ticker(plan.warmup_start_unix_ns(), phase);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => break,
        }
        let progress = hub.roles.lock().unwrap().progress.clone();
        show(&line.line(&plan, &progress, unix_now_ns()));
    }
    finish(tty);
}

/// Ends the line rewritten in place.
fn finish(tty: bool) {
    if tty {
        eprintln!();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_turn_counters_into_rates() {
        let plan = RunPlan {
            t0_unix_ns: Some(10_000_000_000),
            ..RunPlan::fixture("100:2,300:2")
        };
        let sender = |sent, p99: Option<f64>| Progress {
            role: Some(Role::Sender),
            sent,
            accepted: sent,
            p99_ms: p99
                .map(|ms| (LatencyKind::Publish, ms))
                .into_iter()
                .collect(),
            ..Progress::default()
        };
        let receiver = |delivered| Progress {
            role: Some(Role::Receiver),
            delivered,
            ..Progress::default()
        };
        let mut line = ProgressLine::default();
        let first = line.line(&plan, &[], 8_500_000_000);
        assert!(first.starts_with("[   -2s] warmup"), "{first}");
        let l = line.line(
            &plan,
            &[sender(100, Some(0.5)), receiver(90)],
            11_000_000_000,
        );
        assert!(l.contains("step 1/2 100/s"), "{l}");
        let l = line.line(
            &plan,
            &[sender(400, Some(0.25)), receiver(390)],
            12_000_000_000,
        );
        assert!(
            l.contains("[    2s] step 2/2 300/s | sent 300/s, delivered 300/s"),
            "{l}"
        );
        assert!(
            l.contains("undelivered 10 | p99 ms: publish 0.25, pacer lag -, conn wait -, e2e -"),
            "{l}"
        );
        assert!(!l.contains("steal"), "none reported: {l}");
        let stolen = |p: Progress, share| Progress {
            host_steal: Some(share),
            ..p
        };
        let l = line.line(
            &plan,
            &[
                stolen(sender(700, None), 0.125),
                stolen(receiver(690), 0.25),
            ],
            13_000_000_000,
        );
        assert!(l.ends_with(" | host steal 25%"), "the worse machine: {l}");
        let l = line.line(&plan, &[stolen(sender(800, None), 0.01)], 13_500_000_000);
        assert!(!l.contains("steal"), "under 2%: {l}");
        // The role its CPU quota stopped longest, from a millisecond on.
        let throttled = |role, index, ms| Progress {
            role: Some(role),
            index,
            throttled_ms: Some(ms),
            ..Progress::default()
        };
        let l = line.line(
            &plan,
            &[
                throttled(Role::Sender, 0, 0.5),
                throttled(Role::Sender, 1, 230.0),
                throttled(Role::Receiver, 0, 12.0),
            ],
            14_000_000_000,
        );
        assert!(l.ends_with(" | sender 1 throttled 230 ms"), "{l}");
        let l = line.line(&plan, &[throttled(Role::Sender, 0, 0.5)], 15_000_000_000);
        assert!(!l.contains("throttled"), "under 1 ms: {l}");
        assert!(line.line(&plan, &[], 14_000_000_000).contains("drain"));
        // Two senders share the pace: the step offers its rate.
        let shared = RunPlan {
            senders: 2,
            ..plan.clone()
        };
        let l = ProgressLine::default().line(&shared, &[], 11_000_000_000);
        assert!(l.contains("step 1/2 100/s"), "{l}");
        // Two senders each run the pace (--pace-per-sender), and two
        // copies are owed per event.
        let plan = RunPlan {
            senders: 2,
            split: false,
            copies: 2,
            ..plan
        };
        let l = ProgressLine::default().line(
            &plan,
            &[sender(100, None), sender(100, None), receiver(370)],
            11_000_000_000,
        );
        assert!(l.contains("step 1/2 200/s"), "{l}");
        assert!(l.contains("undelivered 30 |"), "400 owed, 370 in: {l}");
        let l = ProgressLine::default().line(
            &plan,
            &[
                sender(100, Some(0.5)),
                sender(100, Some(7.0)),
                sender(1, None),
            ],
            11_000_000_000,
        );
        assert!(
            l.contains("p99 ms: publish 7.00"),
            "the worst sender's: {l}"
        );
    }
}

#[cfg(test)]
mod waiting_tests {
    use super::*;
    use crate::server::Roles;
    use brokerbench_core::wire::Connecting;

    #[test]
    fn before_the_start_every_role_is_named_with_its_connections() {
        let plan = RunPlan {
            senders: 2,
            t0_unix_ns: None,
            ..RunPlan::fixture("100:2")
        };
        let roles = Roles {
            ready_senders: vec![1],
            ready_receivers: vec![(0, None)],
            progress: vec![Progress {
                role: Some(Role::Sender),
                index: 0,
                connecting: Some(Connecting {
                    open: 3,
                    wanted: 64,
                }),
                ..Progress::default()
            }],
            ..Roles::default()
        };
        assert_eq!(
            waiting_line(&plan, &roles),
            "[waiting] sender 0 connecting: 3 of 64 open | sender 1 ready | receiver 0 ready"
        );
        assert_eq!(
            waiting_line(&plan, &Roles::default()),
            "[waiting] sender 0 not heard from | sender 1 not heard from | receiver 0 not heard from"
        );
    }
}

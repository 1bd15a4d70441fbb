//! Faults on a run's timeline (`--fault KIND@AT[+FOR][:VALUE]`): what goes
//! wrong, when (seconds after `t0`) and for how long. They travel in the
//! run plan, so every role knows them: the receiver applies its own, the
//! runner of a local run kills, pauses or slows the SUT, and the aggregator
//! reports each fault's effect.
//!
//! | spec | what happens |
//! |---|---|
//! | `sut-kill@20+5` | the SUT process is killed (SIGKILL) at 20 s and started again 5 s later |
//! | `sut-pause@20+3` | the SUT process is stopped (SIGSTOP) for 3 s, then continued |
//! | `sut-cut@20+3` | the SUT (in a network namespace of its own) is cut off the network for 3 s |
//! | `kafka-kill@20+5` | the local Kafka-protocol broker is killed (SIGKILL) at 20 s and started again 5 s later |
//! | `sut-latency@10+20:50ms` | the SUT's ingress holds each request 50 ms before taking it |
//! | `sut-5xx@10+5[:503]` | the SUT's ingress answers 503 (or the status given) |
//! | `receiver-stall@10+3` | the receiver holds each request arriving in the window until it ends |
//! | `receiver-drop@10+20:100` | the receiver answers 202 to every 100th event but never records it |
//! | `receiver-5xx@10+5[:503]` | the receiver answers 503 (or the status given) |
//! | `command@30[+10]:CMD` | `sh -c CMD` runs at 30 s (e.g. `kubectl delete pod ...`) |

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    SutKill,
    SutPause,
    SutCut,
    SutLatency,
    #[serde(rename = "sut-5xx")]
    Sut5xx,
    KafkaKill,
    ReceiverStall,
    ReceiverDrop,
    #[serde(rename = "receiver-5xx")]
    Receiver5xx,
    Command,
}

impl FaultKind {
    pub const ALL: [FaultKind; 10] = [
        FaultKind::SutKill,
        FaultKind::SutPause,
        FaultKind::SutCut,
        FaultKind::SutLatency,
        FaultKind::Sut5xx,
        FaultKind::KafkaKill,
        FaultKind::ReceiverStall,
        FaultKind::ReceiverDrop,
        FaultKind::Receiver5xx,
        FaultKind::Command,
    ];

    /// Its name in a spec.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::SutKill => "sut-kill",
            FaultKind::SutPause => "sut-pause",
            FaultKind::SutCut => "sut-cut",
            FaultKind::SutLatency => "sut-latency",
            FaultKind::Sut5xx => "sut-5xx",
            FaultKind::KafkaKill => "kafka-kill",
            FaultKind::ReceiverStall => "receiver-stall",
            FaultKind::ReceiverDrop => "receiver-drop",
            FaultKind::Receiver5xx => "receiver-5xx",
            FaultKind::Command => "command",
        }
    }

    /// Faults on the SUT's process (a local run starts it as a process of
    /// its own to kill, pause or cut it off).
    pub fn on_sut_process(self) -> bool {
        matches!(
            self,
            FaultKind::SutKill | FaultKind::SutPause | FaultKind::SutCut
        )
    }

    /// Faults for which a local run starts its SUT as a process of its
    /// own: those on its process, and a broker kill (after which the
    /// SUT's Kafka client may crash: the run then outlives it, and starts
    /// it again).
    pub fn sut_apart(self) -> bool {
        self.on_sut_process() || self == FaultKind::KafkaKill
    }

    /// Faults the SUT's ingress applies when told (`/v1/faults`).
    pub fn on_sut_ingress(self) -> bool {
        matches!(self, FaultKind::SutLatency | FaultKind::Sut5xx)
    }

    /// Faults the receiver applies itself, from the plan.
    pub fn on_receiver(self) -> bool {
        matches!(
            self,
            FaultKind::ReceiverStall | FaultKind::ReceiverDrop | FaultKind::Receiver5xx
        )
    }

    /// Faults a run of separate roles applies (`brokerbench aggregator`,
    /// a Kubernetes render): the receiver's own, from the plan, and
    /// commands, run by whoever watches the run (`k8s wait`).
    pub fn for_separate_roles(self) -> bool {
        self.on_receiver() || self == FaultKind::Command
    }

    /// Whether a spec must say how long it lasts.
    fn needs_length(self) -> bool {
        self != FaultKind::Command
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One fault of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// As the user wrote it.
    pub spec: String,
    pub kind: FaultKind,
    /// Seconds after `t0` it starts.
    pub at_s: f64,
    /// Seconds it lasts (0: a moment, as a command).
    pub seconds: f64,
    /// `sut-latency`: the delay added to each request, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// `*-5xx`: the status answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `receiver-drop`: every Nth event is dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// `command`: what `sh -c` runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// A bad `--fault`, with the token that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--fault {spec:?}: {why}")]
pub struct FaultError {
    pub spec: String,
    pub why: String,
}

/// Longest a fault may start after `t0` or last: a day.
const LONGEST_S: f64 = 86_400.0;

impl Fault {
    /// Reads `KIND@AT[+FOR][:VALUE]`; AT and FOR are seconds (`20`, `2.5`)
    /// or durations (`500ms`, `1m`).
    pub fn parse(spec: &str) -> Result<Fault, FaultError> {
        let bad = |why: String| FaultError {
            spec: spec.to_string(),
            why,
        };
        let (kind_text, rest) = spec.trim().split_once('@').ok_or_else(|| {
            bad("write KIND@AT[+FOR][:VALUE], e.g. sut-kill@20+5 or receiver-drop@10+20:100".into())
        })?;
        let kind = FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == kind_text.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                bad(format!(
                    "unknown fault {:?} (one of: {})",
                    kind_text.trim(),
                    names.join(", ")
                ))
            })?;
        let (when, value) = match rest.split_once(':') {
            Some((w, v)) => (w, Some(v)),
            None => (rest, None),
        };
        let (at_text, for_text) = match when.split_once('+') {
            Some((a, f)) => (a, Some(f)),
            None => (when, None),
        };
        let at_s = seconds(at_text).map_err(|t| bad(format!("bad start {t:?}")))?;
        let length = for_text
            .map(|f| seconds(f).map_err(|t| bad(format!("bad length {t:?}"))))
            .transpose()?;
        let seconds = match (length, kind.needs_length()) {
            (Some(l), _) if l > 0.0 => l,
            (Some(_), true) => return Err(bad("the length after '+' must be above 0".into())),
            (None, true) => {
                return Err(bad(format!(
                    "{kind} needs a length: {kind}@{}+SECONDS",
                    at_text.trim()
                )))
            }
            (_, false) => 0.0,
        };
        let mut fault = Fault {
            spec: spec.trim().to_string(),
            kind,
            at_s,
            seconds,
            latency_ms: None,
            status: None,
            every: None,
            command: None,
        };
        fault.set_value(value.map(str::trim)).map_err(bad)?;
        Ok(fault)
    }

    /// Reads what follows the `:` for the kinds that take a value;
    /// why not, if it is wrong or missing.
    fn set_value(&mut self, value: Option<&str>) -> Result<(), String> {
        match (self.kind, value) {
            (FaultKind::SutLatency, Some(v)) => {
                let d = crate::duration::parse(v).map_err(|e| e.to_string())?;
                if d.is_zero() || d > Duration::from_secs(3600) {
                    return Err(format!("latency {v:?} must be above 0 and at most an hour"));
                }
                self.latency_ms = Some(d.as_secs_f64() * 1e3);
            }
            (FaultKind::SutLatency, None) => {
                return Err("sut-latency needs the delay: sut-latency@AT+FOR:50ms".into())
            }
            (FaultKind::Sut5xx | FaultKind::Receiver5xx, v) => {
                let status = match v {
                    None => 503,
                    Some(v) => v
                        .parse::<u16>()
                        .ok()
                        .filter(|s| (500..600).contains(s))
                        .ok_or_else(|| format!("status {v:?} is not a 5xx"))?,
                };
                self.status = Some(status);
            }
            (FaultKind::ReceiverDrop, Some(v)) => {
                let n = v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| format!("every {v:?} must be a whole number from 1"))?;
                self.every = Some(n);
            }
            (FaultKind::ReceiverDrop, None) => {
                return Err(
                    "receiver-drop needs N (every Nth event): receiver-drop@AT+FOR:N".into(),
                )
            }
            (FaultKind::Command, Some(v)) if !v.is_empty() => {
                self.command = Some(v.to_string());
            }
            (FaultKind::Command, _) => {
                return Err("command needs what to run: command@AT:CMD".into())
            }
            (_, Some(v)) => return Err(format!("{} takes no value, got {v:?}", self.kind)),
            (_, None) => {}
        }
        Ok(())
    }

    /// When it ends, seconds after `t0`.
    pub fn end_s(&self) -> f64 {
        self.at_s + self.seconds
    }

    /// Whether it is on at `s` seconds after `t0`.
    pub fn active_at(&self, s: f64) -> bool {
        s >= self.at_s && s < self.end_s()
    }

    /// Its window as wall-clock ns, given `t0`.
    pub fn window_unix_ns(&self, t0_unix_ns: u64) -> (u64, u64) {
        let ns = |s: f64| t0_unix_ns + (s * 1e9) as u64;
        (ns(self.at_s), ns(self.end_s()))
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec)
    }
}

/// Seconds: a plain number or a duration; the offending text on error.
fn seconds(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let s = match t.parse::<f64>() {
        Ok(s) => s,
        Err(_) => crate::duration::parse(t)
            .map_err(|_| t.to_string())?
            .as_secs_f64(),
    };
    if !s.is_finite() || !(0.0..=LONGEST_S).contains(&s) {
        return Err(t.to_string());
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_kind() {
        let f = Fault::parse("sut-kill@20+5").unwrap();
        assert_eq!((f.kind, f.at_s, f.seconds), (FaultKind::SutKill, 20.0, 5.0));
        let f = Fault::parse("sut-latency@1500ms+2s:50ms").unwrap();
        assert_eq!((f.at_s, f.seconds, f.latency_ms), (1.5, 2.0, Some(50.0)));
        assert_eq!(Fault::parse("sut-5xx@1+1").unwrap().status, Some(503));
        assert_eq!(
            Fault::parse("receiver-5xx@1+1:500").unwrap().status,
            Some(500)
        );
        assert_eq!(Fault::parse("receiver-drop@0+9:7").unwrap().every, Some(7));
        let f = Fault::parse("command@30:kubectl delete pod -l app=x").unwrap();
        assert_eq!(f.command.as_deref(), Some("kubectl delete pod -l app=x"));
        assert_eq!(f.seconds, 0.0);
        let f = Fault::parse("command@3+4:echo a:b").unwrap();
        assert_eq!((f.seconds, f.command.as_deref()), (4.0, Some("echo a:b")));
        assert!(Fault::parse("receiver-stall@1m+3").unwrap().at_s == 60.0);
        assert_eq!(Fault::parse("sut-cut@2+3").unwrap().kind, FaultKind::SutCut);
    }

    /// Each bad spec names what is wrong in it.
    #[test]
    fn refuses_bad_specs_naming_the_token() {
        let cases = [
            ("sut-kill", "KIND@AT"),
            ("sut-explode@1+1", "unknown fault \"sut-explode\""),
            ("sut-kill@x+1", "bad start \"x\""),
            ("sut-kill@1+y", "bad length \"y\""),
            ("sut-kill@1", "needs a length"),
            ("sut-kill@1+0", "above 0"),
            ("sut-kill@-1+1", "bad start \"-1\""),
            ("sut-kill@1e9+1", "bad start"),
            ("sut-kill@1+1:3", "takes no value, got \"3\""),
            ("sut-latency@1+1", "needs the delay"),
            ("sut-latency@1+1:0ms", "above 0"),
            ("sut-5xx@1+1:404", "\"404\" is not a 5xx"),
            ("receiver-drop@1+1:0", "\"0\" must be a whole number"),
            ("receiver-drop@1+1", "needs N"),
            ("command@1", "needs what to run"),
            ("command@1:", "needs what to run"),
        ];
        for (spec, why) in cases {
            let e = Fault::parse(spec).unwrap_err().to_string();
            assert!(e.contains(why), "{spec}: {e}");
            assert!(e.starts_with(&format!("--fault {spec:?}")), "{e}");
        }
    }

    #[test]
    fn windows_and_plan_json() {
        let f = Fault::parse("receiver-stall@2+3").unwrap();
        assert!(!f.active_at(1.99) && f.active_at(2.0) && f.active_at(4.99) && !f.active_at(5.0));
        assert_eq!(
            f.window_unix_ns(10_000_000_000),
            (12_000_000_000, 15_000_000_000)
        );
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.contains("\"kind\":\"receiver-stall\""), "{json}");
        assert_eq!(serde_json::from_str::<Fault>(&json).unwrap(), f);
        // Each kind's name in JSON is its name in a spec.
        for k in FaultKind::ALL {
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.name())
            );
        }
    }
}

//! The pace schedule: `rps:seconds[,rps:seconds...]`, Knative's `--pace` syntax.
//!
//! The intended send time of every sequence number is a pure function of the
//! schedule: event `k` of a step at `r` events/s leaves `k * 1e9 / r` ns after
//! the step starts. Nothing per event is stored to know when it should leave.

use std::fmt;
use std::path::Path;

/// Seconds a step lasts when its token gives only a rate (Knative's default).
pub const DEFAULT_STEP_SECONDS: u32 = 10;

const NS_PER_S: u64 = 1_000_000_000;

/// One step of a schedule: a constant rate for a whole number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    /// Events per second.
    pub rps: u32,
    /// How long the step lasts.
    pub seconds: u32,
}

impl Step {
    /// Events released during the step.
    pub fn events(&self) -> u64 {
        self.rps as u64 * self.seconds as u64
    }
}

/// Why a pace string was refused. Each names the offending token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PaceError {
    #[error("pace is empty: give steps as rps:seconds[,rps:seconds...], e.g. 1000:30,2000:30")]
    Empty,
    #[error("pace step {token:?}: rate {rate:?} is not a whole number of events per second")]
    BadRate { token: String, rate: String },
    #[error("pace step {token:?}: rate must be at least 1 event per second")]
    ZeroRate { token: String },
    #[error("pace step {token:?}: seconds missing after ':'")]
    MissingSeconds { token: String },
    #[error("pace step {token:?}: seconds {seconds:?} is not a whole number")]
    BadSeconds { token: String, seconds: String },
    #[error("pace step {token:?}: a step must last at least 1 second")]
    ZeroSeconds { token: String },
    #[error("pace step {token:?}: expected rps:seconds")]
    Junk { token: String },
    #[error("pace step {token:?}: the schedule would hold more than {MAX_EVENTS} events, more than the ledgers keep in memory (one bit per event each)")]
    TooLarge { token: String },
    #[error("pace step {token:?}: rate {rate} is over the most a pace takes, {MAX_RATE} events per second")]
    TooFast { token: String, rate: String },
    #[error("pace has more than {MAX_STEPS} steps")]
    TooManySteps,
    #[error("pace {line:?}: an empty step between commas (a stray comma?)")]
    EmptyStep { line: String },
    #[error("pace file {path}: {reason}")]
    File { path: String, reason: String },
    #[error(
        "no pace named {name:?} (no such file here, nor in paces/); built in: {}",
        built_in_names()
    )]
    UnknownName { name: String },
}

/// The most events one schedule holds: the ledgers keep a bit per event
/// (accepted, and received for each copy), 119 MiB each at this many.
pub const MAX_EVENTS: u64 = 1_000_000_000;
/// The highest rate of a step, events per second (all senders together).
pub const MAX_RATE: u64 = 10_000_000;
/// The most steps one schedule holds.
pub const MAX_STEPS: usize = 100_000;

/// The named paces built into the binary, so `--pace 1k-2k` works from any
/// folder, in the image and on a cluster: the reference runs' schedules
/// (the repository's `paces/` holds the same files; a file of the same
/// name in `paces/` of the working folder overrides the built-in one).
pub const BUILT_IN: &[(&str, &str)] = &[
    ("smoke", include_str!("../../../paces/smoke.pace")),
    ("1k-2k", include_str!("../../../paces/1k-2k.pace")),
    ("1k-long", include_str!("../../../paces/1k-long.pace")),
];

/// The built-in paces' names, comma-separated.
pub fn built_in_names() -> String {
    BUILT_IN
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a `--pace` argument's steps come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaceSource {
    /// The argument itself: `1000:30,2000:30`.
    Inline(String),
    /// A file's text, or a built-in pace's: `source` names it.
    Text { source: String, text: String },
}

/// A pace argument as an error quotes it: at most 60 characters.
fn quoted(arg: &str) -> String {
    match arg.char_indices().nth(60) {
        Some((at, _)) => format!("{}...", &arg[..at]),
        None => arg.to_string(),
    }
}

impl PaceSource {
    /// Resolves a `--pace` argument: inline steps; a pace file; the name of
    /// a file in `paces_dir` (`1k-2k` for `paces/1k-2k.pace`); a built-in
    /// pace's name.
    pub fn of(arg: &str, paces_dir: &Path) -> Result<PaceSource, PaceError> {
        let looks_inline = arg
            .chars()
            .all(|c| c.is_ascii_digit() || ":, \t-".contains(c));
        if looks_inline || arg.contains(':') {
            return Ok(PaceSource::Inline(arg.to_string()));
        }
        let named = paces_dir.join(format!("{arg}.pace"));
        let path = if Path::new(arg).is_file() {
            Path::new(arg).to_path_buf()
        } else if named.is_file() {
            named
        } else if let Some((name, text)) = BUILT_IN.iter().find(|(n, _)| *n == arg) {
            return Ok(PaceSource::Text {
                source: format!("the built-in pace {name}"),
                text: text.to_string(),
            });
        } else if arg.ends_with(".pace") || arg.contains('/') {
            return Err(PaceError::File {
                path: quoted(arg),
                reason: "no such file".to_string(),
            });
        } else {
            return Err(PaceError::UnknownName { name: quoted(arg) });
        };
        let text = std::fs::read_to_string(&path).map_err(|e| PaceError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(PaceSource::Text {
            source: path.display().to_string(),
            text,
        })
    }
}

/// A validated pace schedule with its step boundaries precomputed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Schedule {
    steps: Vec<Step>,
    /// Sequence number of the first event of each step, plus the total at the end.
    first_seq: Vec<u64>,
    /// Second (since `t0`) each step starts at, plus the total at the end:
    /// every look-up by time is a binary search, never a walk of the steps.
    start_second: Vec<u64>,
}

impl Schedule {
    /// A schedule from already-valid steps (rates and seconds at least 1).
    pub fn from_steps(steps: Vec<Step>) -> Result<Self, PaceError> {
        if steps.is_empty() {
            return Err(PaceError::Empty);
        }
        if steps.len() > MAX_STEPS {
            return Err(PaceError::TooManySteps);
        }
        let mut first_seq = Vec::with_capacity(steps.len() + 1);
        let mut start_second = Vec::with_capacity(steps.len() + 1);
        let (mut total, mut second): (u64, u64) = (0, 0);
        for s in &steps {
            let token = || format!("{}:{}", s.rps, s.seconds);
            if s.rps == 0 {
                return Err(PaceError::ZeroRate { token: token() });
            }
            if s.seconds == 0 {
                return Err(PaceError::ZeroSeconds { token: token() });
            }
            if u64::from(s.rps) > MAX_RATE {
                return Err(PaceError::TooFast {
                    token: token(),
                    rate: s.rps.to_string(),
                });
            }
            first_seq.push(total);
            start_second.push(second);
            total = total
                .checked_add(s.events())
                .filter(|t| *t <= MAX_EVENTS)
                .ok_or_else(|| PaceError::TooLarge { token: token() })?;
            second += u64::from(s.seconds);
        }
        first_seq.push(total);
        start_second.push(second);
        Ok(Schedule {
            steps,
            first_seq,
            start_second,
        })
    }

    /// Parses the inline syntax. Steps are separated by commas or white space;
    /// `#` starts a comment to the end of the line (for pace files).
    pub fn parse(text: &str) -> Result<Self, PaceError> {
        // Comments out; a comma may end a line (the next line goes on),
        // but every comma stands between two steps.
        let content: Vec<&str> = text
            .lines()
            .map(|line| line.split('#').next().unwrap_or(""))
            .collect();
        let content = content.join("\n");
        if content
            .split_whitespace()
            .all(|t| t.chars().all(|c| c == ','))
        {
            return Err(PaceError::Empty);
        }
        let mut steps = Vec::new();
        for piece in content.split(',') {
            if piece.trim().is_empty() {
                return Err(PaceError::EmptyStep {
                    line: quoted(&content.split_whitespace().collect::<Vec<_>>().join(" ")),
                });
            }
            for token in piece.split_whitespace() {
                steps.push(parse_step(token)?);
            }
        }
        Schedule::from_steps(steps)
    }

    /// Resolves a `--pace` argument ([`PaceSource::of`]) and parses it.
    pub fn from_arg(arg: &str, paces_dir: &Path) -> Result<Self, PaceError> {
        match PaceSource::of(arg, paces_dir)? {
            PaceSource::Inline(steps) => Schedule::parse(&steps),
            PaceSource::Text { text, .. } => Schedule::parse(&text),
        }
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Total events over the whole schedule.
    pub fn total_events(&self) -> u64 {
        *self.first_seq.last().unwrap_or(&0)
    }

    /// Total length in seconds.
    pub fn total_seconds(&self) -> u64 {
        *self.start_second.last().unwrap_or(&0)
    }

    /// Sequence number of the first event of step `i`.
    pub fn first_seq_of(&self, step: usize) -> u64 {
        self.first_seq[step]
    }

    /// Offset of step `i`'s start from `t0`, in whole seconds.
    pub fn step_start_second(&self, step: usize) -> u64 {
        self.start_second[step]
    }

    /// The step an event belongs to, or `None` past the end.
    pub fn step_of(&self, seq: u64) -> Option<usize> {
        if seq >= self.total_events() {
            return None;
        }
        Some(self.first_seq.partition_point(|&f| f <= seq) - 1)
    }

    /// The step running at `second` (seconds since `t0`), or `None` past the end.
    pub fn step_at_second(&self, second: u64) -> Option<usize> {
        (second < self.total_seconds())
            .then(|| self.start_second.partition_point(|&s| s <= second) - 1)
    }

    /// Intended send time of `seq`, in ns after `t0`.
    pub fn offset_ns(&self, seq: u64) -> Option<u64> {
        let step = self.step_of(seq)?;
        let k = seq - self.first_seq[step];
        let rps = self.steps[step].rps as u128;
        let within = (k as u128 * NS_PER_S as u128 / rps) as u64;
        Some(self.step_start_second(step) * NS_PER_S + within)
    }

    /// The whole second (since `t0`) an event belongs to.
    pub fn second_of(&self, seq: u64) -> Option<u64> {
        self.offset_ns(seq).map(|ns| ns / NS_PER_S)
    }

    /// How many events are due by `elapsed_ns` after `t0`: every event whose
    /// intended time is at or before it.
    pub fn due(&self, elapsed_ns: u64) -> u64 {
        let Some(i) = self.step_at_second(elapsed_ns / NS_PER_S) else {
            return self.total_events();
        };
        let s = &self.steps[i];
        let d = (elapsed_ns - self.start_second[i] * NS_PER_S) as u128;
        // Event k is due when floor(k * 1e9 / rps) <= d, i.e. k < (d + 1) * rps / 1e9.
        let n = ((d + 1) * s.rps as u128).div_ceil(NS_PER_S as u128) as u64;
        self.first_seq[i] + n.min(s.events())
    }

    /// Intended time (ns after `t0`) of the first event not yet due at
    /// `elapsed_ns`, or `None` when all are due: where the pacer sleeps to next.
    pub fn next_due_ns(&self, elapsed_ns: u64) -> Option<u64> {
        let due = self.due(elapsed_ns);
        self.offset_ns(due)
    }
}

impl Schedule {
    /// Sender `index`'s part of this schedule when `of` senders share it.
    pub fn part(&self, index: u32, of: u32) -> Part<'_> {
        let of = u64::from(of.max(1));
        Part {
            schedule: self,
            index: u64::from(index) % of,
            of,
        }
    }

    /// The whole schedule, as one sender's part.
    pub fn whole(&self) -> Part<'_> {
        self.part(0, 1)
    }
}

/// One sender's part of a schedule that `of` senders share: the events
/// `index`, `index + of`, `index + 2·of`, ... renumbered 0, 1, 2, ... So
/// the senders' merged stream is the schedule itself, as evenly spaced as
/// one sender's, and its rate is the schedule's (the total offered load).
/// Sequence numbers here are the sender's own.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    schedule: &'a Schedule,
    index: u64,
    of: u64,
}

impl Part<'_> {
    /// The schedule shared.
    pub fn schedule(&self) -> &Schedule {
        self.schedule
    }

    /// The schedule's number of the sender's event `seq`.
    pub fn global(&self, seq: u64) -> u64 {
        seq * self.of + self.index
    }

    /// How many of the sender's events come before the schedule's event `g`.
    fn below(&self, g: u64) -> u64 {
        if g > self.index {
            (g - self.index - 1) / self.of + 1
        } else {
            0
        }
    }

    /// The sender's events over the whole schedule.
    pub fn total_events(&self) -> u64 {
        self.below(self.schedule.total_events())
    }

    /// The sender's first event of step `i` (its count of earlier events).
    pub fn first_seq_of(&self, step: usize) -> u64 {
        self.below(self.schedule.first_seq_of(step))
    }

    /// The step the sender's event `seq` belongs to.
    pub fn step_of(&self, seq: u64) -> Option<usize> {
        self.schedule.step_of(self.global(seq))
    }

    /// Intended send time of the sender's event `seq`, ns after `t0`.
    pub fn offset_ns(&self, seq: u64) -> Option<u64> {
        self.schedule.offset_ns(self.global(seq))
    }

    /// The whole second (since `t0`) the sender's event `seq` belongs to.
    pub fn second_of(&self, seq: u64) -> Option<u64> {
        self.schedule.second_of(self.global(seq))
    }

    /// How many of the sender's events are due by `elapsed_ns` after `t0`.
    pub fn due(&self, elapsed_ns: u64) -> u64 {
        self.below(self.schedule.due(elapsed_ns))
    }
}

fn parse_step(token: &str) -> Result<Step, PaceError> {
    let tok = || quoted(token);
    let mut parts = token.split(':');
    let rate = parts.next().unwrap_or("");
    let seconds = parts.next();
    if parts.next().is_some() {
        return Err(PaceError::Junk { token: tok() });
    }
    let rps = parse_positive(rate).map_err(|zero| {
        let digits = !rate.is_empty() && rate.chars().all(|c| c.is_ascii_digit());
        match (zero, digits) {
            (true, _) => PaceError::ZeroRate { token: tok() },
            // All digits, yet no u32: a rate far past the most.
            (false, true) => PaceError::TooFast {
                token: tok(),
                rate: quoted(rate),
            },
            (false, false) => PaceError::BadRate {
                token: tok(),
                rate: quoted(rate),
            },
        }
    })?;
    let seconds = match seconds {
        None => DEFAULT_STEP_SECONDS,
        Some("") => return Err(PaceError::MissingSeconds { token: tok() }),
        Some(s) => parse_positive(s).map_err(|zero| {
            if zero {
                PaceError::ZeroSeconds { token: tok() }
            } else {
                PaceError::BadSeconds {
                    token: tok(),
                    seconds: quoted(s),
                }
            }
        })?,
    };
    Ok(Step { rps, seconds })
}

/// A whole number >= 1; `Err(true)` for zero or negative, `Err(false)` for junk.
fn parse_positive(s: &str) -> Result<u32, bool> {
    if let Some(rest) = s.strip_prefix('-') {
        return Err(rest.parse::<u64>().is_ok());
    }
    match s.parse::<u32>() {
        Ok(0) => Err(true),
        Ok(n) => Ok(n),
        Err(_) => Err(false),
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}:{}", s.rps, s.seconds)?;
        }
        Ok(())
    }
}

impl From<Schedule> for String {
    fn from(s: Schedule) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for Schedule {
    type Error = PaceError;
    fn try_from(s: String) -> Result<Self, PaceError> {
        Schedule::parse(&s)
    }
}

#[cfg(test)]
mod tests;

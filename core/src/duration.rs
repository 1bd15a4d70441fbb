//! Durations as users write them: `250ms`, `2s`, `1.5s`, `1m`, `500us`, or
//! Knative's ISO 8601 form (`PT0.2S`, `PT1M`).

use std::time::Duration;

/// A duration string that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad duration {0:?}: write a number and a unit (ns, us, ms, s, m, h), e.g. 250ms, or ISO 8601 like PT0.25S")]
pub struct BadDuration(pub String);

/// Reads a duration.
pub fn parse(text: &str) -> Result<Duration, BadDuration> {
    let bad = || BadDuration(text.to_string());
    let t = text.trim();
    if let Some(iso) = t.strip_prefix("PT").or_else(|| t.strip_prefix("pt")) {
        return parse_iso(iso).ok_or_else(bad);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (number, unit) = t.split_at(split);
    let n: f64 = number.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(n * scale).map_err(|_| bad())
}

/// The part of an ISO 8601 duration after `PT`: `1H2M3.5S`, any subset.
fn parse_iso(mut rest: &str) -> Option<Duration> {
    let mut secs = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let at = rest.find(|c: char| c.is_ascii_alphabetic())?;
        let n: f64 = rest[..at].parse().ok()?;
        secs += n * match rest.as_bytes()[at].to_ascii_uppercase() {
            b'H' => 3600.0,
            b'M' => 60.0,
            b'S' => 1.0,
            _ => return None,
        };
        rest = &rest[at + 1..];
    }
    Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_units_and_iso() {
        let ms = Duration::from_millis;
        assert_eq!(parse("250ms"), Ok(ms(250)));
        assert_eq!(parse("2s"), Ok(ms(2000)));
        assert_eq!(parse("1.5s"), Ok(ms(1500)));
        assert_eq!(parse("1m"), Ok(ms(60_000)));
        assert_eq!(parse("500us"), Ok(Duration::from_micros(500)));
        assert_eq!(parse("PT0.2S"), Ok(ms(200)));
        assert_eq!(parse("PT1M30S"), Ok(ms(90_000)));
        for bad in ["", "5", "ms", "5 parsecs", "-1s", "PT", "PTxS", "P1D"] {
            assert_eq!(parse(bad), Err(BadDuration(bad.to_string())), "{bad}");
        }
    }
}

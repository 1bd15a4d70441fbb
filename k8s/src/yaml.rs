//! YAML as kubectl reads it, from JSON values: every string quoted (or
//! a literal block), so a YAML 1.1 reader takes `1000:10` as text, not the
//! number 60010, and `on` as text, not true.

use serde_json::{Map, Value};

/// One document as YAML with every string quoted (or a literal block):
/// a YAML 1.1 reader, as kubectl's is, takes a bare `1000:10` for the
/// number 60010 and a bare `on` for true.
pub fn yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => write_map(m, 0, false, &mut out),
        Value::Array(a) if !a.is_empty() => write_seq(a, 0, &mut out),
        other => {
            write_scalar(other, 0, &mut out);
            out.push('\n');
        }
    }
    out
}

fn pad(indent: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A map's entries at `indent`; the first on the current line when
/// `inline` (a map that is a list item).
fn write_map(m: &Map<String, Value>, indent: usize, inline: bool, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !inline {
            pad(indent, out);
        }
        let plain = !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c));
        if plain {
            out.push_str(k);
        } else {
            out.push_str(&Value::String(k.clone()).to_string());
        }
        out.push(':');
        match v {
            Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                write_map(m, indent + 2, false, out);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                write_seq(a, indent, out);
            }
            scalar => {
                out.push(' ');
                write_scalar(scalar, indent + 2, out);
                out.push('\n');
            }
        }
    }
}

fn write_seq(a: &[Value], indent: usize, out: &mut String) {
    for v in a {
        pad(indent, out);
        out.push_str("- ");
        match v {
            Value::Object(m) if !m.is_empty() => write_map(m, indent + 2, true, out),
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                write_seq(a, indent + 2, out);
            }
            scalar => {
                write_scalar(scalar, indent + 2, out);
                out.push('\n');
            }
        }
    }
}

/// A scalar: strings double-quoted (JSON's escapes are YAML's), or a
/// literal block when they are lines of text; `{}` and `[]` when empty.
fn write_scalar(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::String(s) if is_block(s) => {
            out.push('|');
            for line in s.lines() {
                out.push('\n');
                if !line.is_empty() {
                    pad(indent, out);
                    out.push_str(line);
                }
            }
        }
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
        other => out.push_str(&other.to_string()),
    }
}

/// Whether `s` reads back the same as a `|` block: lines of printable
/// text ending in one newline, the first not indented.
fn is_block(s: &str) -> bool {
    s.ends_with('\n')
        && !s.ends_with("\n\n")
        && !s.starts_with([' ', '\n'])
        && s.chars()
            .all(|c| c == '\n' || (!c.is_control() && c != '\u{feff}'))
        && s.lines().all(|l| !l.ends_with(' '))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_quotes_what_a_yaml_1_1_reader_would_take_for_numbers_or_booleans() {
        let doc = json!({
            "data": { "PACE": "1000:10", "NO_PLOT": "true", "ON": "on", "pace": "# ramp\n100:5\n\n200:5\n" },
            "list": [{ "a": 1, "b": [] }, "x", [true]],
            "app.kubernetes.io/name": "b", "odd key": {},
        });
        let text = yaml(&doc);
        assert_eq!(
            text,
            "app.kubernetes.io/name: \"b\"\ndata:\n  NO_PLOT: \"true\"\n  ON: \"on\"\n  PACE: \"1000:10\"\n  pace: |\n    # ramp\n    100:5\n\n    200:5\nlist:\n- a: 1\n  b: []\n- \"x\"\n- \n  - true\n\"odd key\": {}\n"
        );
        let back: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, doc);
    }
}

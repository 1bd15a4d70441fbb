//! The CloudEvents Kafka protocol binding (binary and structured mode), as
//! a mapping between HTTP headers and Kafka record headers, so every role
//! and SUT that crosses Kafka carries an event unchanged:
//!
//! - binary mode: each `ce-<attr>` HTTP header is the `ce_<attr>` record
//!   header (HTTP percent-encoding undone on the way in, redone on the way
//!   out), `content-type` stays `content-type`, the data is the value;
//! - structured mode: `content-type: application/cloudevents+json` and the
//!   JSON document as the value;
//! - the `partitionkey` extension, when present, is the record key.

use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use std::borrow::Cow;

/// The extension whose value is the Kafka record key.
pub const PARTITION_KEY: &str = "partitionkey";

/// Kafka record headers: name and raw value, in order.
pub type RecordHeaders = Vec<(String, Vec<u8>)>;

/// Kafka record headers of an event whose HTTP headers are `headers`, and
/// its record key. Headers other than `ce-*` and `content-type` are left out.
pub fn to_record_headers<'a>(
    headers: impl IntoIterator<Item = (&'a HeaderName, &'a HeaderValue)>,
) -> (RecordHeaders, Option<Vec<u8>>) {
    let mut out = Vec::new();
    let mut key = None;
    for (name, value) in headers {
        let n = name.as_str();
        if name == CONTENT_TYPE {
            out.push((n.to_string(), value.as_bytes().to_vec()));
        } else if let Some(attr) = n.strip_prefix("ce-") {
            let v = percent_decode(value.as_bytes()).into_owned();
            if attr == PARTITION_KEY {
                key = Some(v.clone());
            }
            out.push((format!("ce_{attr}"), v));
        }
    }
    (out, key)
}

/// HTTP headers of an event read from Kafka record headers (binary or
/// structured mode); `None` when the record carries no CloudEvent (neither
/// `ce_specversion` nor a CloudEvents content type).
pub fn to_http_headers<'a>(
    record: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Option<HeaderMap> {
    let mut out = HeaderMap::new();
    let mut is_event = false;
    for (name, value) in record {
        if name.eq_ignore_ascii_case("content-type") {
            let v = HeaderValue::from_bytes(value).ok()?;
            is_event |= value.starts_with(b"application/cloudevents");
            out.insert(CONTENT_TYPE, v);
        } else if let Some(attr) = name.strip_prefix("ce_") {
            is_event |= attr == "specversion";
            let n = HeaderName::from_bytes(format!("ce-{attr}").as_bytes()).ok()?;
            let v = HeaderValue::from_str(&percent_encode(value)).ok()?;
            out.append(n, v);
        }
    }
    is_event.then_some(out)
}

/// HTTP header values are printable ASCII: escape the rest, and `%`, as the
/// CloudEvents HTTP binding says.
fn percent_encode(v: &[u8]) -> String {
    let mut s = String::with_capacity(v.len());
    for &b in v {
        if (0x20..0x7f).contains(&b) && b != b'%' && b != b'"' {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// Undoes the `%XX` escapes of an HTTP-binding header value (borrowed when
/// there are none).
pub fn percent_decode(v: &[u8]) -> Cow<'_, [u8]> {
    if !v.contains(&b'%') {
        return Cow::Borrowed(v);
    }
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        match (
            v[i],
            v.get(i + 1).copied().and_then(hex),
            v.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h * 16 + l);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_mode_maps_both_ways() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("ce-specversion", "1.0"),
            ("ce-id", "42"),
            ("ce-source", "/brokerbench/r/sender/0"),
            ("ce-type", "dev.brokerbench.event"),
            ("ce-subject", "caf%C3%A9 %25"),
            ("ce-partitionkey", "7"),
            ("content-type", "application/octet-stream"),
            ("host", "left-out:80"),
        ] {
            h.insert(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        let (record, key) = to_record_headers(&h);
        assert_eq!(key.as_deref(), Some(&b"7"[..]));
        let get = |n: &str| record.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(get("ce_id").unwrap(), b"42");
        assert_eq!(
            String::from_utf8(get("ce_subject").unwrap()).unwrap(),
            "café %"
        );
        assert_eq!(get("content-type").unwrap(), b"application/octet-stream");
        assert!(get("host").is_none() && get("ce_host").is_none());
        assert_eq!(record.len(), 7);
        let back = to_http_headers(record.iter().map(|(k, v)| (k.as_str(), v.as_slice()))).unwrap();
        for (n, v) in h.iter().filter(|(n, _)| n.as_str() != "host") {
            assert_eq!(back.get(n), Some(v), "{n}");
        }
        assert_eq!(back.len(), 7);
    }

    #[test]
    fn structured_mode_and_plain_records() {
        let record = [(
            "content-type",
            &b"application/cloudevents+json; charset=utf-8"[..],
        )];
        let h = to_http_headers(record).unwrap();
        assert_eq!(
            h.get(CONTENT_TYPE).unwrap(),
            "application/cloudevents+json; charset=utf-8"
        );
        assert!(to_http_headers([("content-type", &b"text/plain"[..])]).is_none());
        assert!(to_http_headers([("trace", &b"x"[..])]).is_none());
    }
}

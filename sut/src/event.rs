//! A CloudEvent as a data plane holds it: the request's `ce-*` and
//! `content-type` headers and its body, forwarded unchanged, with the
//! attributes read only when a filter asks for them.

use brokerbench_core::kafka_binding::percent_decode;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use http::Request;
use http_body_util::Full;
use serde_json::{Map, Value};
use std::borrow::Cow;

const STRUCTURED: &str = "application/cloudevents+json";
const BATCH: &str = "application/cloudevents-batch+json";
/// Knative's broker hop counter: a reply loop ends when it reaches 0.
pub const TTL_ATTRIBUTE: &str = "knativebrokerttl";
/// The hop count an event gets when it enters a broker without one.
pub const DEFAULT_TTL: u8 = 255;
static CE_TTL: HeaderName = HeaderName::from_static("ce-knativebrokerttl");

/// Why a request is not a CloudEvent the SUT can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotAnEvent {
    #[error("binary mode needs ce-specversion 1.0, ce-id, ce-source and ce-type headers")]
    MissingAttributes,
    #[error("structured mode needs a JSON object with specversion 1.0, id, source and type")]
    BadStructured,
    #[error("batched mode is not supported: send one event per request")]
    Batch,
}

/// One event, as received.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// `content-type` and every `ce-*` header, in the order received.
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    /// Structured mode: the attributes (everything but `data`/`data_base64`).
    structured: Option<Map<String, Value>>,
    /// Broker hops left.
    pub ttl: u8,
}

impl Envelope {
    /// Reads a request (or a reply) as a CloudEvent in binary or structured mode.
    pub fn parse(headers: &HeaderMap, body: Bytes) -> Result<Envelope, NotAnEvent> {
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let kept = headers
            .iter()
            .filter(|(n, _)| *n == CONTENT_TYPE || n.as_str().starts_with("ce-"))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        let mut env = Envelope {
            headers: kept,
            body,
            structured: None,
            ttl: DEFAULT_TTL,
        };
        if content_type.starts_with(STRUCTURED) {
            let mut object: Map<String, Value> =
                serde_json::from_slice(&env.body).map_err(|_| NotAnEvent::BadStructured)?;
            object.remove("data");
            object.remove("data_base64");
            env.structured = Some(object);
            if !env.has_required() {
                return Err(NotAnEvent::BadStructured);
            }
            if let Some(ttl) = env.attribute(TTL_ATTRIBUTE) {
                env.ttl = read_ttl(&ttl);
            }
        } else if content_type.starts_with(BATCH) {
            return Err(NotAnEvent::Batch);
        } else {
            // Binary mode, on the hot path: header lookups, no allocation.
            // A value that is not text (raw bytes past ASCII, not
            // %-encoded as the HTTP binding asks) cannot be read later.
            let has = |n: &str| {
                headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| !v.is_empty())
            };
            let spec = headers.get("ce-specversion").is_some_and(|v| v == "1.0");
            if !(spec && has("ce-id") && has("ce-source") && has("ce-type")) {
                return Err(NotAnEvent::MissingAttributes);
            }
            if let Some(ttl) = headers.get(&CE_TTL).and_then(|v| v.to_str().ok()) {
                env.ttl = read_ttl(ttl);
            }
        }
        Ok(env)
    }

    fn has_required(&self) -> bool {
        self.attribute("specversion").as_deref() == Some("1.0")
            && ["id", "source", "type"]
                .iter()
                .all(|a| self.attribute(a).is_some_and(|v| !v.is_empty()))
    }

    /// An attribute's value (context attribute or extension), as a string.
    pub fn attribute(&self, name: &str) -> Option<Cow<'_, str>> {
        if let Some(object) = &self.structured {
            return match object.get(name)? {
                Value::String(s) => Some(Cow::Borrowed(s)),
                Value::Null => None,
                other => Some(Cow::Owned(other.to_string())),
            };
        }
        // Binary mode, on the filters' hot path: no allocation unless the
        // value carries %-escapes.
        if name == "datacontenttype" {
            return self.header(|n| n == CONTENT_TYPE).map(Cow::Borrowed);
        }
        let value = self.header(|n| {
            n.as_str()
                .strip_prefix("ce-")
                .is_some_and(|a| a.eq_ignore_ascii_case(name))
        })?;
        Some(match percent_decode(value.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(value),
            Cow::Owned(b) => Cow::Owned(String::from_utf8_lossy(&b).into_owned()),
        })
    }

    /// The value of the first kept header whose name `is`.
    fn header(&self, is: impl Fn(&HeaderName) -> bool) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| is(n))
            .and_then(|(_, v)| v.to_str().ok())
    }

    /// The reply event in a subscriber's answer to `self`, one hop fewer;
    /// `None` when the answer carries no event, or at the hop limit (Knative
    /// drops such replies too).
    pub fn reply_in(&self, answer: &http::Response<Bytes>) -> Option<Envelope> {
        let mut reply = Envelope::parse(answer.headers(), answer.body().clone()).ok()?;
        if self.ttl <= 1 {
            return None;
        }
        reply.ttl = self.ttl - 1;
        Some(reply)
    }

    /// Whether the event is in structured mode.
    pub fn is_structured(&self) -> bool {
        self.structured.is_some()
    }

    /// The event as a Kafka record (CloudEvents Kafka binding): headers,
    /// key (the `partitionkey` extension) and value.
    pub fn kafka_record(
        &self,
    ) -> (
        brokerbench_core::kafka_binding::RecordHeaders,
        Option<Vec<u8>>,
        Bytes,
    ) {
        let (mut headers, key) = brokerbench_core::kafka_binding::to_record_headers(
            self.headers
                .iter()
                .filter(|(n, _)| *n != CE_TTL)
                .map(|(n, v)| (n, v)),
        );
        if self.structured.is_none() && self.ttl != DEFAULT_TTL {
            headers.push((
                format!("ce_{TTL_ATTRIBUTE}"),
                self.ttl.to_string().into_bytes(),
            ));
        }
        (headers, key, self.body.clone())
    }

    /// A POST of the event to `path` on `authority`, with `extra` headers
    /// (binary mode only: structured events go out byte for byte).
    pub fn request(
        &self,
        authority: &HeaderValue,
        path: &http::Uri,
        extra: &[(HeaderName, HeaderValue)],
    ) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = path.clone();
        let h = req.headers_mut();
        h.reserve(self.headers.len() + extra.len() + 1);
        h.insert(http::header::HOST, authority.clone());
        for (n, v) in &self.headers {
            if *n != CE_TTL {
                h.append(n.clone(), v.clone());
            }
        }
        if self.structured.is_none() {
            if self.ttl != DEFAULT_TTL || self.headers.iter().any(|(n, _)| *n == CE_TTL) {
                h.insert(CE_TTL.clone(), HeaderValue::from(self.ttl as u32));
            }
            for (n, v) in extra {
                h.insert(n.clone(), v.clone());
            }
        }
        req
    }
}

/// A hop count as sent: 0 to 255 (larger is clamped; junk means a fresh 255).
fn read_ttl(text: &str) -> u8 {
    text.trim()
        .parse::<u64>()
        .map_or(DEFAULT_TTL, |t| t.min(255) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(extra: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("ce-specversion", "1.0"),
            ("ce-id", "7"),
            ("ce-source", "/s"),
            ("ce-type", "dev.example"),
            ("content-type", "application/octet-stream"),
            ("x-other", "dropped"),
        ]
        .iter()
        .chain(extra)
        {
            h.insert(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn binary_mode_attributes_come_from_headers() {
        let e = Envelope::parse(&binary(&[("ce-subject", "a%20b")]), Bytes::from("x")).unwrap();
        assert_eq!(e.attribute("type").as_deref(), Some("dev.example"));
        assert_eq!(e.attribute("subject").as_deref(), Some("a b"));
        assert_eq!(
            e.attribute("datacontenttype").as_deref(),
            Some("application/octet-stream")
        );
        assert_eq!(e.attribute("missing"), None);
        assert_eq!(e.ttl, DEFAULT_TTL);
        let req = e.request(&"h:1".parse().unwrap(), &"/p".parse().unwrap(), &[]);
        assert_eq!(req.headers().len(), 7, "{:?}", req.headers());
        assert!(req.headers().get("x-other").is_none());
        assert!(req.headers().get("ce-knativebrokerttl").is_none());
    }

    #[test]
    fn structured_mode_attributes_come_from_json() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, STRUCTURED.parse().unwrap());
        let body = r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","n":3,"data":"big"}"#;
        let e = Envelope::parse(&h, Bytes::from(body)).unwrap();
        assert!(e.is_structured());
        assert_eq!(e.attribute("n").as_deref(), Some("3"));
        assert_eq!(e.attribute("data"), None);
        let req = e.request(&"h:1".parse().unwrap(), &"/".parse().unwrap(), &[]);
        assert_eq!(req.headers().get(CONTENT_TYPE).unwrap(), STRUCTURED);
    }

    #[test]
    fn what_is_not_an_event_is_named() {
        let mut h = binary(&[]);
        h.remove("ce-type");
        assert_eq!(
            Envelope::parse(&h, Bytes::new()).unwrap_err(),
            NotAnEvent::MissingAttributes
        );
        let mut h = binary(&[]);
        h.insert("ce-specversion", "0.2".parse().unwrap());
        assert!(Envelope::parse(&h, Bytes::new()).is_err());
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, STRUCTURED.parse().unwrap());
        assert_eq!(
            Envelope::parse(&h, Bytes::from("{\"id\":1}")).unwrap_err(),
            NotAnEvent::BadStructured
        );
        h.insert(CONTENT_TYPE, BATCH.parse().unwrap());
        assert_eq!(
            Envelope::parse(&h, Bytes::from("[]")).unwrap_err(),
            NotAnEvent::Batch
        );
    }

    #[test]
    fn a_kafka_record_carries_the_event_and_its_hop_count_back() {
        let h = binary(&[("ce-partitionkey", "42"), ("ce-knativebrokerttl", "9")]);
        let e = Envelope::parse(&h, Bytes::from("data")).unwrap();
        let e = Envelope { ttl: 3, ..e };
        let (headers, key, value) = e.kafka_record();
        assert_eq!(key.as_deref(), Some(&b"42"[..]));
        assert_eq!(&value[..], b"data");
        let ttl: Vec<_> = headers
            .iter()
            .filter(|(k, _)| k == "ce_knativebrokerttl")
            .collect();
        assert_eq!(ttl.len(), 1, "{headers:?}");
        assert_eq!(ttl[0].1, b"3");
        assert!(headers
            .iter()
            .all(|(k, _)| k != "x-other" && k != "ce_x-other"));
        let back = brokerbench_core::kafka_binding::to_http_headers(
            headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())),
        )
        .unwrap();
        let again = Envelope::parse(&back, value).unwrap();
        assert_eq!(
            (again.ttl, again.attribute("type").as_deref()),
            (3, Some("dev.example"))
        );
    }

    #[test]
    fn the_hop_count_travels_and_is_clamped() {
        let e = Envelope::parse(&binary(&[("ce-knativebrokerttl", "3")]), Bytes::new()).unwrap();
        assert_eq!(e.ttl, 3);
        let e = Envelope { ttl: 2, ..e };
        let req = e.request(&"h:1".parse().unwrap(), &"/".parse().unwrap(), &[]);
        assert_eq!(req.headers().get("ce-knativebrokerttl").unwrap(), "2");
        assert_eq!(
            req.headers().get_all("ce-knativebrokerttl").iter().count(),
            1
        );
        let e = Envelope::parse(&binary(&[("ce-knativebrokerttl", "9999")]), Bytes::new()).unwrap();
        assert_eq!(e.ttl, 255);
    }
}

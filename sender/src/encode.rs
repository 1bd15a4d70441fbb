//! CloudEvents encoding with the SDK.
//!
//! Binary mode: the SDK encodes one template event of the run into `ce-*`
//! headers once; each request clones those headers and sets the attributes
//! that vary (`ce-id`, `ce-bbseq`, `ce-bbsent`), and shares the payload
//! `Bytes`. Structured mode: the SDK builds and serialises every event.

use crate::config::{Mode, SenderError};
use crate::pacer::Job;
use brokerbench_core::identity::{self, EXT_RUN, EXT_SENDER, EXT_SENT, EXT_SEQ, EXT_WARMUP};
use brokerbench_core::plan::RunPlan;
use bytes::Bytes;
use cloudevents::{Event, EventBuilder, EventBuilderV10};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::Full;

const DATA_CONTENT_TYPE: &str = "application/octet-stream";
static CE_ID: HeaderName = HeaderName::from_static("ce-id");
static CE_SEQ: HeaderName = HeaderName::from_static("ce-bbseq");
static CE_SENT: HeaderName = HeaderName::from_static("ce-bbsent");
static CE_KEY: HeaderName = HeaderName::from_static("ce-partitionkey");

/// Builds the HTTP request of each event.
#[derive(Debug, Clone)]
pub struct Encoder {
    mode: Mode,
    payload: Bytes,
    /// The source of measured events, and of warmup events.
    sources: [String; 2],
    run_id: String,
    sender: u32,
    path: http::Uri,
    measured: HeaderMap,
    warmup: HeaderMap,
    /// `ce-partitionkey` values, made once: `seq % keys.len()` indexes
    /// them; empty when the plan has no partition keys.
    keys: Vec<HeaderValue>,
}

/// `payload_size` bytes of printable data.
pub fn payload(payload_size: usize) -> Bytes {
    let pattern = b"brokerbench-payload-0123456789abcdefghijklmnopqrstuvwxyz.";
    pattern
        .iter()
        .copied()
        .cycle()
        .take(payload_size)
        .collect::<Vec<u8>>()
        .into()
}

impl Encoder {
    /// An encoder for one sender of one run.
    pub fn new(
        mode: Mode,
        plan: &RunPlan,
        sender: u32,
        authority: &str,
        path: &str,
    ) -> Result<Self, SenderError> {
        let mut enc = Encoder {
            mode,
            payload: payload(plan.payload_size),
            sources: [false, true].map(|w| identity::event_source(&plan.run_id, sender, w)),
            run_id: plan.run_id.clone(),
            sender,
            path: path
                .parse()
                .map_err(|_| SenderError::Encode(format!("bad path {path}")))?,
            measured: HeaderMap::new(),
            keys: (0..plan.partition_keys).map(HeaderValue::from).collect(),
            warmup: HeaderMap::new(),
        };
        let host =
            HeaderValue::from_str(authority).map_err(|e| SenderError::Encode(e.to_string()))?;
        for warmup in [false, true] {
            let mut headers = match mode {
                Mode::Binary => {
                    let ev = enc.event(0, 0, warmup)?;
                    let req: http::Request<Option<Vec<u8>>> =
                        ev.try_into().map_err(|e: cloudevents::message::Error| {
                            SenderError::Encode(e.to_string())
                        })?;
                    req.headers().clone()
                }
                Mode::Structured => {
                    let mut h = HeaderMap::new();
                    h.insert(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/cloudevents+json"),
                    );
                    h
                }
            };
            headers.insert(http::header::HOST, host.clone());
            if warmup {
                enc.warmup = headers;
            } else {
                enc.measured = headers;
            }
        }
        Ok(enc)
    }

    /// Adds `extra` headers to every request.
    pub fn with_headers(mut self, extra: &[(HeaderName, HeaderValue)]) -> Self {
        for (name, value) in extra {
            self.measured.insert(name.clone(), value.clone());
            self.warmup.insert(name.clone(), value.clone());
        }
        self
    }

    /// The `partitionkey` of event `seq`, if the plan has keys.
    fn key(&self, seq: u64) -> Option<&HeaderValue> {
        (!self.keys.is_empty()).then(|| &self.keys[(seq % self.keys.len() as u64) as usize])
    }

    /// The event of `seq` as the SDK models it.
    pub fn event(&self, seq: u64, sent_unix_ns: u64, warmup: bool) -> Result<Event, SenderError> {
        let mut b = EventBuilderV10::new()
            .id(seq.to_string())
            .source(self.sources[warmup as usize].as_str())
            .ty(identity::EVENT_TYPE)
            .extension(EXT_RUN, self.run_id.as_str())
            .extension(EXT_SENDER, self.sender.to_string())
            .extension(EXT_SEQ, seq.to_string())
            .extension(EXT_SENT, sent_unix_ns.to_string())
            .data(DATA_CONTENT_TYPE, self.payload.to_vec());
        if let Some(key) = self.key(seq) {
            b = b.extension(
                brokerbench_core::kafka_binding::PARTITION_KEY,
                key.to_str().expect("digits"),
            );
        }
        if warmup {
            b = b.extension(EXT_WARMUP, "1");
        }
        b.build().map_err(|e| SenderError::Encode(e.to_string()))
    }

    /// The body of `job`'s event: the data (binary mode) or the whole
    /// event as JSON (structured mode).
    pub fn body(&self, job: &Job, sent_unix_ns: u64) -> Bytes {
        match self.mode {
            Mode::Binary => self.payload.clone(),
            Mode::Structured => self
                .event(job.seq, sent_unix_ns, job.warmup)
                .ok()
                .and_then(|ev| serde_json::to_vec(&ev).ok())
                .map(Bytes::from)
                .unwrap_or_default(),
        }
    }

    /// The request carrying `job`, stamped as sent at `sent_unix_ns`.
    pub fn request(&self, job: &Job, sent_unix_ns: u64) -> http::Request<Full<Bytes>> {
        let mut req = http::Request::new(Full::new(self.body(job, sent_unix_ns)));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = self.path.clone();
        *req.headers_mut() = self.headers(job, sent_unix_ns);
        req
    }

    /// The headers of `job`'s request: the template, and in binary mode the
    /// attributes that vary per event.
    pub fn headers(&self, job: &Job, sent_unix_ns: u64) -> HeaderMap {
        let mut headers = if job.warmup {
            self.warmup.clone()
        } else {
            self.measured.clone()
        };
        if self.mode == Mode::Binary {
            let seq = HeaderValue::from(job.seq);
            headers.insert(CE_ID.clone(), seq.clone());
            headers.insert(CE_SEQ.clone(), seq);
            headers.insert(CE_SENT.clone(), HeaderValue::from(sent_unix_ns));
            if let Some(key) = self.key(job.seq) {
                headers.insert(CE_KEY.clone(), key.clone());
            }
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn decode(req: http::Request<Full<Bytes>>) -> Event {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        cloudevents::binding::http::to_event(&parts.headers, body.to_vec()).unwrap()
    }

    fn plan(partition_keys: u32) -> RunPlan {
        RunPlan {
            run_id: "run-1".into(),
            payload_size: 8192,
            senders: 4,
            partition_keys,
            t0_unix_ns: None,
            ..RunPlan::fixture("10:1")
        }
    }

    #[tokio::test]
    async fn both_modes_decode_to_the_same_event() {
        use cloudevents::AttributesReader;
        for mode in [Mode::Binary, Mode::Structured] {
            let enc = Encoder::new(mode, &plan(100), 3, "127.0.0.1:9", "/sink").unwrap();
            let job = Job {
                seq: 42,
                intended_unix_ns: 7,
                released_unix_ns: 8,
                warmup: false,
            };
            let req = enc.request(&job, 123_456_789_000);
            assert_eq!(req.uri().path(), "/sink");
            assert_eq!(req.headers()[http::header::HOST], "127.0.0.1:9");
            let ev = decode(req).await;
            assert_eq!(ev.id(), "42", "{mode:?}");
            assert_eq!(ev.ty(), identity::EVENT_TYPE);
            assert_eq!(ev.source().to_string(), "/brokerbench/run-1/sender/3");
            assert_eq!(ev.extension(EXT_SEQ).unwrap().to_string(), "42");
            assert_eq!(ev.extension(EXT_SENT).unwrap().to_string(), "123456789000");
            assert_eq!(ev.extension(EXT_RUN).unwrap().to_string(), "run-1");
            assert_eq!(ev.extension("partitionkey").unwrap().to_string(), "42");
            assert!(ev.extension(EXT_WARMUP).is_none());
            match ev.data().unwrap() {
                cloudevents::Data::Binary(b) => assert_eq!(b.len(), 8192),
                other => panic!("{mode:?}: data {other:?}"),
            }
            let warm = decode(enc.request(
                &Job {
                    warmup: true,
                    ..job
                },
                1,
            ))
            .await;
            assert_eq!(warm.extension(EXT_WARMUP).unwrap().to_string(), "1");
            assert_eq!(warm.id(), "42");
            assert_eq!(
                warm.source().to_string(),
                "/brokerbench/run-1/sender/3/warmup",
                "{mode:?}: warmup numbers from 0 too, under a source of its own"
            );
        }
    }

    /// A broker may drop an event whose `source`+`id` it has seen: no two
    /// events of a run, of two senders or of two runs may share them.
    #[tokio::test]
    async fn source_and_id_are_unique_across_phases_senders_and_runs() {
        use cloudevents::AttributesReader;
        let mut seen = std::collections::HashSet::new();
        let mut events = 0;
        for run in ["run-1", "run-2"] {
            let plan = RunPlan {
                run_id: run.into(),
                ..plan(100)
            };
            for sender in 0..2 {
                for mode in [Mode::Binary, Mode::Structured] {
                    let enc = Encoder::new(mode, &plan, sender, "h:1", "/").unwrap();
                    for warmup in [false, true] {
                        for seq in 0..5 {
                            let job = Job {
                                seq,
                                intended_unix_ns: 1,
                                released_unix_ns: 1,
                                warmup,
                            };
                            let ev = decode(enc.request(&job, 1)).await;
                            let key = (ev.source().to_string(), ev.id().to_string());
                            // Both modes send the same event: count it once.
                            if mode == Mode::Binary {
                                assert!(seen.insert(key.clone()), "{key:?} repeats");
                                events += 1;
                            } else {
                                assert!(seen.contains(&key), "{key:?}: modes agree");
                            }
                        }
                    }
                }
            }
        }
        assert_eq!((events, seen.len()), (40, 40));
    }

    #[tokio::test]
    async fn partition_keys_follow_the_plan() {
        let job = |seq| Job {
            seq,
            intended_unix_ns: 7,
            released_unix_ns: 8,
            warmup: false,
        };
        for mode in [Mode::Binary, Mode::Structured] {
            let enc = Encoder::new(mode, &plan(7), 0, "127.0.0.1:9", "/sink").unwrap();
            let ev = decode(enc.request(&job(52), 1)).await;
            assert_eq!(ev.extension("partitionkey").unwrap().to_string(), "3");
            let keyless = Encoder::new(mode, &plan(0), 0, "127.0.0.1:9", "/sink").unwrap();
            let req = keyless.request(&job(52), 1);
            assert!(!req.headers().contains_key("ce-partitionkey"), "{mode:?}");
            let ev = decode(req).await;
            assert!(ev.extension("partitionkey").is_none(), "{mode:?}");
            assert_eq!(ev.extension(EXT_SEQ).unwrap().to_string(), "52");
        }
    }
}

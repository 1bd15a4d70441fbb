//! Property test of the receiver's fast path against the SDK: requests made
//! from a valid event of the run by random changes to its headers (values,
//! names, repeats, bytes, content types). Whenever the fast path answers,
//! the SDK must decode the same request into an event of the same identity
//! (or find it foreign); when it does not answer, the SDK decides. So the
//! receiver's counts of invalid and foreign events are the same either way.

use brokerbench_core::shapes::Rng;
use brokerbench_receiver::fast::{identity, Fast};
use brokerbench_receiver::server::identity_of;
use http::{HeaderMap, HeaderName, HeaderValue};

fn valid() -> Vec<(&'static str, Vec<u8>)> {
    [
        ("content-type", "application/octet-stream"),
        ("ce-specversion", "1.0"),
        ("ce-id", "17"),
        ("ce-source", "/brokerbench/r/sender/0"),
        ("ce-type", "dev.brokerbench.event"),
        ("ce-bbrun", "r"),
        ("ce-bbsender", "0"),
        ("ce-bbseq", "17"),
        ("ce-bbsent", "1700000000000000000"),
    ]
    .into_iter()
    .map(|(n, v)| (n, v.as_bytes().to_vec()))
    .collect()
}

#[test]
fn the_fast_path_agrees_with_the_sdk_whenever_it_answers() {
    let names = [
        "ce-specversion",
        "ce-id",
        "ce-source",
        "ce-type",
        "ce-subject",
        "ce-time",
        "ce-dataschema",
        "ce-bbrun",
        "ce-bbsender",
        "ce-bbseq",
        "ce-bbsent",
        "ce-bbwarmup",
        "ce-partitionkey",
        "ce-other",
        "ce-Bad_Name",
        "content-type",
        "x-other",
    ];
    let values: [&[u8]; 18] = [
        b"1.0",
        b"0.3",
        b"1.1",
        b"",
        b"r",
        b"R",
        b"0",
        b"17",
        b"-1",
        b"18446744073709551616",
        b"x",
        b" 7",
        b"2026-12-03T12:00:00Z",
        b"not a time",
        b"http://example.com/schema",
        b"application/cloudevents+json",
        b"text/plain; charset=utf-8",
        b"caf\xc3\xa9",
    ];
    let mut rng = Rng::new(0xfa57_0000_0000_0001);
    let (mut answered, mut ours, mut deferred) = (0, 0, 0);
    for _ in 0..30_000 {
        let mut headers = valid();
        for _ in 0..rng.below(4) {
            match rng.below(4) {
                // A value changed.
                0 => {
                    let i = rng.below(headers.len());
                    headers[i].1 = rng.pick(&values).to_vec();
                }
                // A header removed.
                1 if !headers.is_empty() => {
                    headers.remove(rng.below(headers.len()));
                }
                // A header added, or sent again.
                _ => headers.push((*rng.pick(&names), rng.pick(&values).to_vec())),
            }
        }
        let mut map = HeaderMap::new();
        for (n, v) in &headers {
            let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(n.as_bytes()),
                HeaderValue::from_bytes(v),
            ) else {
                continue;
            };
            map.append(n, v);
        }
        let sdk = cloudevents::binding::http::to_event(&map, b"data".to_vec());
        let Some(fast) = identity(&map, "r") else {
            deferred += 1;
            continue;
        };
        answered += 1;
        let event = match sdk {
            Ok(e) => e,
            Err(e) => panic!("fast path said {fast:?}, the SDK refused ({e}): {headers:?}"),
        };
        match (fast, identity_of(&event, "r")) {
            (Fast::Ours(a), Some(b)) => {
                assert_eq!(a, b, "{headers:?}");
                ours += 1;
            }
            (Fast::Foreign, None) => {}
            (a, b) => panic!("fast path {a:?}, SDK and identity {b:?}: {headers:?}"),
        }
    }
    // Every branch was tried, not only the easy ones.
    assert!(
        answered > 5_000 && ours > 3_000 && deferred > 5_000,
        "{answered} answered ({ours} ours), {deferred} deferred"
    );
}

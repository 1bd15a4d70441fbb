//! Property test of the SUTs' CloudEvents reading: many random requests
//! (headers and bodies built of the pieces that matter) never make it
//! panic, and what it takes has the four required attributes.

use brokerbench_core::shapes::Rng;
use brokerbench_sut::event::{Envelope, NotAnEvent};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

#[test]
fn random_requests_never_panic_and_taken_events_have_their_attributes() {
    let names = [
        "ce-specversion",
        "ce-id",
        "ce-source",
        "ce-type",
        "ce-bbseq",
        "content-type",
        "x-other",
    ];
    let values = [
        "1.0",
        "0.3",
        "",
        "1",
        "/s",
        "t",
        "application/json",
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "text/plain; charset=utf-8",
        "ünïcode",
    ];
    let bodies = [
        "",
        "{",
        "null",
        "[]",
        r#"{"specversion":"1.0","id":"1","source":"/s","type":"t"}"#,
        r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"a":[1,2]}}"#,
        r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":"!!"}"#,
        r#"{"specversion":"0.3","id":1,"source":"/s","type":"t"}"#,
        r#"[{"specversion":"1.0","id":"1","source":"/s","type":"t"}]"#,
        "\u{0}\u{ff}binary",
    ];
    // What it found, kept: a binary-mode type of raw bytes past ASCII
    // (not %-encoded) was taken, and then had no type to filter on.
    let mut found = HeaderMap::new();
    for (n, v) in [
        ("ce-specversion", "1.0"),
        ("ce-id", "1"),
        ("ce-source", "/s"),
    ] {
        found.insert(HeaderName::from_static(n), HeaderValue::from_static(v));
    }
    found.insert(
        "ce-type",
        HeaderValue::from_bytes("ünïcode".as_bytes()).unwrap(),
    );
    assert!(matches!(
        Envelope::parse(&found, Bytes::new()),
        Err(NotAnEvent::MissingAttributes)
    ));
    found.insert("ce-type", HeaderValue::from_static("%C3%BCn%C3%AFcode"));
    let e = Envelope::parse(&found, Bytes::new()).unwrap();
    assert_eq!(
        e.attribute("type").as_deref(),
        Some("ünïcode"),
        "%-encoded, as the binding says"
    );
    let mut rng = Rng::new(0xdead_beef_cafe_f00d);
    let (mut taken, mut refused) = (0, 0);
    for _ in 0..100_000 {
        let mut headers = HeaderMap::new();
        for _ in 0..rng.below(7) {
            let name = HeaderName::from_static(names[rng.below(names.len())]);
            if let Ok(v) = HeaderValue::from_str(values[rng.below(values.len())]) {
                headers.append(name, v);
            }
        }
        let body = Bytes::from(rng.pick(&bodies).as_bytes().to_vec());
        match Envelope::parse(&headers, body) {
            Ok(e) => {
                taken += 1;
                for a in ["specversion", "id", "source", "type"] {
                    let v = e.attribute(a);
                    assert!(
                        v.is_some_and(|v| !v.is_empty()),
                        "{a} of {headers:?} / {e:?}"
                    );
                }
            }
            Err(NotAnEvent::MissingAttributes | NotAnEvent::BadStructured | NotAnEvent::Batch) => {
                refused += 1
            }
        }
    }
    assert!(
        taken > 100 && refused > 100,
        "both kinds reached: {taken} taken, {refused} refused"
    );
}

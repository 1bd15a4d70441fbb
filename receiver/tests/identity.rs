//! Property test of reading the suite's identity from an event's
//! extensions: random extension values never make it panic, and it finds
//! an identity exactly when the run matches and sender and sequence are
//! numbers.

use brokerbench_core::identity::{EXT_RUN, EXT_SENDER, EXT_SEQ, EXT_WARMUP};
use brokerbench_core::shapes::Rng;
use brokerbench_receiver::server::identity_of;
use cloudevents::{EventBuilder, EventBuilderV10};

#[test]
fn random_extensions_give_an_identity_exactly_when_well_formed() {
    let runs = ["r", "R", "", "r ", "another"];
    let numbers = [
        "0",
        "7",
        "4294967295",
        "4294967296",
        "18446744073709551615",
        "-1",
        "x",
        "",
        "1e3",
        " 7",
    ];
    let mut rng = Rng::new(0x1234_5678_9abc_def0);
    let mut found = 0;
    for _ in 0..50_000 {
        let run = *rng.pick(&runs);
        let sender = *rng.pick(&numbers);
        let seq = *rng.pick(&numbers);
        let mut b = EventBuilderV10::new()
            .id("1")
            .source("/s")
            .ty("t")
            .extension(EXT_RUN, run)
            .extension(EXT_SENDER, sender)
            .extension(EXT_SEQ, seq);
        let warmup = rng.below(2) == 0;
        if warmup {
            b = b.extension(EXT_WARMUP, "1");
        }
        let event = b.build().unwrap();
        let want = (run == "r")
            .then(|| Some((sender.parse::<u32>().ok()?, seq.parse::<u64>().ok()?)))
            .flatten();
        let got = identity_of(&event, "r");
        assert_eq!(
            got.as_ref().map(|i| (i.sender, i.seq)),
            want,
            "run {run:?} sender {sender:?} seq {seq:?}"
        );
        if let Some(id) = got {
            found += 1;
            assert_eq!(id.warmup, warmup);
        }
    }
    assert!(found > 1_000, "{found}");
}

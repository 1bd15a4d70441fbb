//! Property tests of what users type: pace strings and fault specs, from
//! many random inputs built of the tokens that matter. A parser never
//! panics; what it accepts is well-formed and reads back the same from
//! its own writing.

use brokerbench_core::fault::Fault;
use brokerbench_core::pace::Schedule;
use brokerbench_core::shapes::Rng;

/// Up to `len` pieces drawn from `pieces`, joined.
fn text(rng: &mut Rng, pieces: &[&str], len: usize) -> String {
    let n = rng.below(len + 1);
    (0..n).map(|_| *rng.pick(pieces)).collect()
}

/// Inputs that found something, kept: each must be refused.
const PACE_CORPUS: &[&str] = &[
    "100:1,",
    ",",
    "1e3:10",
    "99999999999:1",
    "4294967295:4294967295",
    ":",
    "100:",
    ":10",
    "100:1,,200:1",
    " ",
    "100:0",
    "0:10",
    "-1:10",
    "100:-1",
    "1.5:10",
];

#[test]
fn pace_strings_never_panic_and_what_is_accepted_reads_back() {
    for bad in PACE_CORPUS {
        assert!(Schedule::parse(bad).is_err(), "{bad:?} accepted");
    }
    let pieces = [
        "0",
        "1",
        "5",
        "9",
        "10",
        "100",
        "4294967295",
        "99999999999",
        ":",
        ",",
        ".",
        "e",
        "-",
        "+",
        " ",
        "x",
        "\t",
    ];
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    for _ in 0..200_000 {
        let text = text(&mut rng, &pieces, 8);
        let Ok(s) = Schedule::parse(&text) else {
            continue;
        };
        accepted += 1;
        assert!(!s.steps().is_empty(), "{text:?}");
        for step in s.steps() {
            assert!(step.rps >= 1 && step.seconds >= 1, "{text:?}: {step:?}");
        }
        let again = Schedule::parse(&s.to_string()).expect("its own writing");
        assert_eq!(again, s, "{text:?}");
        let seconds: u64 = s.steps().iter().map(|st| u64::from(st.seconds)).sum();
        assert_eq!(s.total_seconds(), seconds, "{text:?}");
    }
    assert!(accepted > 1_000, "the inputs reach valid paces: {accepted}");
}

const FAULT_CORPUS: &[&str] = &[
    "sut-kill",
    "sut-kill@",
    "sut-kill@1",
    "sut-kill@1+",
    "sut-kill@+1",
    "@1+1",
    "sut-kill@1+0",
    "sut-kill@nan+1",
    "sut-kill@inf+1",
    "sut-kill@1+1e99",
    "receiver-drop@1+1:",
    "command@1:",
    "sut-latency@1+1:0s",
    "sut-5xx@1+1:600",
    "sut-5xx@1+1:99999",
];

#[test]
fn fault_specs_never_panic_and_what_is_accepted_is_well_formed() {
    for bad in FAULT_CORPUS {
        assert!(Fault::parse(bad).is_err(), "{bad:?} accepted");
    }
    let pieces = [
        "sut-kill",
        "sut-pause",
        "sut-latency",
        "sut-5xx",
        "receiver-stall",
        "receiver-drop",
        "receiver-5xx",
        "command",
        "@",
        "@",
        "+",
        "+",
        ":",
        ":",
        "0",
        "1",
        "5",
        "9",
        "10",
        "ms",
        "s",
        "m",
        "-",
        ".",
        "e9",
        "nan",
        " ",
        "x",
        "503",
        "echo",
    ];
    let kinds = &pieces[..8];
    let numbers = [
        "0", "1", "2.5", "10", "500ms", "1m", "86400", "86401", "-1", "x", "",
    ];
    let values = ["50ms", "503", "500", "404", "10", "0", "echo hi", "", "1e9"];
    let mut rng = Rng::new(0x0123_4567_89ab_cdef);
    let mut accepted = 0;
    for i in 0..200_000 {
        // Half shaped as a spec (KIND@AT[+FOR][:VALUE]) with one piece of
        // it random, half random pieces.
        let text = if i % 2 == 0 {
            let mut t = format!(
                "{}@{}",
                kinds[rng.below(kinds.len())],
                numbers[rng.below(numbers.len())]
            );
            if rng.below(4) > 0 {
                t += &format!("+{}", numbers[rng.below(numbers.len())]);
            }
            if rng.below(2) > 0 {
                t += &format!(":{}", values[rng.below(values.len())]);
            }
            if rng.below(4) == 0 {
                t.insert_str(rng.below(t.len() + 1), pieces[rng.below(pieces.len())]);
            }
            t
        } else {
            text(&mut rng, &pieces, 7)
        };
        let Ok(f) = Fault::parse(&text) else {
            continue;
        };
        accepted += 1;
        assert!((0.0..=86_400.0).contains(&f.at_s), "{text:?}: {f:?}");
        assert!((0.0..=86_400.0).contains(&f.seconds), "{text:?}: {f:?}");
        assert_eq!(f.to_string(), text.trim(), "{text:?}");
        assert_eq!(Fault::parse(&f.spec).as_ref(), Ok(&f), "{text:?}");
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<Fault>(&json).unwrap(), f, "{text:?}");
        if let Some(s) = f.status {
            assert!((500..600).contains(&s), "{text:?}");
        }
        if let Some(n) = f.every {
            assert!(n >= 1, "{text:?}");
        }
    }
    assert!(accepted > 1_000, "the inputs reach valid specs: {accepted}");
}

//! The schedule's tests: parsing, look-ups by time and sequence, limits, named paces.
use super::*;

/// What the ledgers and the machine can hold is refused in one line;
/// what is inside is looked up by binary search (linear in the steps
/// to build, logarithmic to ask).
#[test]
fn limits_are_refused_in_one_line_and_long_paces_stay_cheap() {
    let err = |p: &str| Schedule::parse(p).unwrap_err().to_string();
    assert_eq!(
        err("99999999999:1"),
        "pace step \"99999999999:1\": rate 99999999999 is over the most a pace takes, 10000000 events per second"
    );
    assert_eq!(
        err("4294967295:1"),
        "pace step \"4294967295:1\": rate 4294967295 is over the most a pace takes, 10000000 events per second"
    );
    assert!(err("10000000:101").contains("more than 1000000000 events"));
    assert!(Schedule::parse("10000000:100").is_ok());
    let many = vec!["1:1"; MAX_STEPS + 1].join(",");
    assert_eq!(err(&many), "pace has more than 100000 steps");
    // A long junk token is quoted short.
    let junk = format!("{}:1", "x".repeat(100_000));
    assert!(err(&junk).len() < 300);
    // The most steps: every look-up by time lands where a walk would.
    let steps: Vec<String> = (0..MAX_STEPS)
        .map(|i| format!("{}:{}", 1 + i % 7, 1 + i % 3))
        .collect();
    let s = Schedule::parse(&steps.join(",")).unwrap();
    let mut second = 0;
    let mut seq = 0;
    for (i, st) in s.steps().iter().enumerate().step_by(997) {
        second = s.step_start_second(i);
        seq = s.first_seq_of(i);
        assert_eq!(s.step_at_second(second), Some(i));
        assert_eq!(s.step_at_second(second + st.seconds as u64 - 1), Some(i));
        assert_eq!(s.due(second * NS_PER_S), seq + 1, "the step's first event");
    }
    assert!(second > 0 && seq > 0);
    assert_eq!(s.step_at_second(s.total_seconds()), None);
    assert_eq!(s.due(s.total_seconds() * NS_PER_S), s.total_events());
}

/// A built-in name works from any folder; a file in the folder's
/// paces/ wins over it; an unknown name says which are built in.
#[test]
fn named_paces_are_built_in_and_a_local_file_overrides_them() {
    let nowhere = Path::new("/nonexistent-paces");
    let s = Schedule::from_arg("1k-2k", nowhere).unwrap();
    assert_eq!((s.steps().len(), s.total_seconds()), (12, 390));
    assert_eq!(
        Schedule::from_arg("1k-long", nowhere)
            .unwrap()
            .total_events(),
        360_000
    );
    assert_eq!(
        Schedule::from_arg("smoke", nowhere)
            .unwrap()
            .total_seconds(),
        8
    );
    let dir = std::env::temp_dir().join(format!("bb-paces-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("smoke.pace"), "10:2\n").unwrap();
    assert_eq!(
        Schedule::from_arg("smoke", &dir).unwrap().total_events(),
        20
    );
    match PaceSource::of("smoke", &dir).unwrap() {
        PaceSource::Text { source, .. } => assert!(source.ends_with("smoke.pace")),
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
    let e = Schedule::from_arg("2k-3k", nowhere)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "no pace named \"2k-3k\" (no such file here, nor in paces/); built in: smoke, 1k-2k, 1k-long"
    );
    // A long token is quoted short.
    let long = "x".repeat(10_000);
    let e = Schedule::from_arg(&long, nowhere).unwrap_err().to_string();
    assert!(e.len() < 200, "{e}");
    assert_eq!(
        PaceSource::of("1000:30", nowhere).unwrap(),
        PaceSource::Inline("1000:30".into())
    );
}

#[test]
fn parses_knative_strings() {
    let s = Schedule::parse("1000:30,1100:30,100:60").unwrap();
    assert_eq!(s.steps().len(), 3);
    assert_eq!(s.total_events(), 30_000 + 33_000 + 6_000);
    assert_eq!(s.total_seconds(), 120);
    assert_eq!(s.to_string(), "1000:30,1100:30,100:60");
}

#[test]
fn seconds_default_to_ten() {
    let s = Schedule::parse("500").unwrap();
    assert_eq!(
        s.steps(),
        &[Step {
            rps: 500,
            seconds: 10
        }]
    );
}

#[test]
fn files_allow_lines_and_comments() {
    let s = Schedule::parse("# warm\n1000:30,\n2000:30 # high\n\n").unwrap();
    assert_eq!(s.to_string(), "1000:30,2000:30");
}

#[test]
fn every_bad_pace_names_its_token() {
    let cases: &[(&str, &str)] = &[
        ("", "pace is empty"),
        ("  , ", "pace is empty"),
        ("0:10", "\"0:10\": rate must be at least 1"),
        ("-5:10", "\"-5:10\": rate must be at least 1"),
        ("1000:", "\"1000:\": seconds missing"),
        (
            "1000:abc",
            "\"1000:abc\": seconds \"abc\" is not a whole number",
        ),
        ("1000:0", "\"1000:0\": a step must last at least 1 second"),
        ("1000:-3", "\"1000:-3\": a step must last at least 1 second"),
        (
            "fast:10",
            "\"fast:10\": rate \"fast\" is not a whole number",
        ),
        ("1000:10:5", "\"1000:10:5\": expected rps:seconds"),
        ("1000:10,x", "\"x\": rate \"x\" is not a whole number"),
        ("1.5:10", "\"1.5:10\": rate \"1.5\" is not a whole number"),
        ("100:1,", "pace \"100:1,\": an empty step between commas"),
        ("100:1,,200:1", "an empty step between commas"),
        (",100:1", "an empty step between commas"),
    ];
    for (pace, want) in cases {
        let err = Schedule::parse(pace).unwrap_err().to_string();
        assert!(err.contains(want), "{pace:?}: got {err:?}, want {want:?}");
        assert!(!err.contains('\n'), "one line: {err:?}");
    }
}

#[test]
fn intended_times_follow_the_rate() {
    let s = Schedule::parse("1000:2,3:1").unwrap();
    assert_eq!(s.offset_ns(0), Some(0));
    assert_eq!(s.offset_ns(1), Some(1_000_000));
    assert_eq!(s.offset_ns(1999), Some(1_999_000_000));
    assert_eq!(s.offset_ns(2000), Some(2_000_000_000));
    assert_eq!(s.offset_ns(2001), Some(2_333_333_333));
    assert_eq!(s.offset_ns(2003), None);
    assert_eq!(s.second_of(2002), Some(2));
    assert_eq!(s.step_of(1999), Some(0));
    assert_eq!(s.step_of(2000), Some(1));
    assert_eq!(s.step_at_second(1), Some(0));
    assert_eq!(s.step_at_second(2), Some(1));
    assert_eq!(s.step_at_second(3), None);
}

#[test]
fn due_counts_match_intended_times() {
    let s = Schedule::parse("1000:2,3:1,7000:1").unwrap();
    for seq in 0..s.total_events() {
        let t = s.offset_ns(seq).unwrap();
        assert_eq!(s.due(t), seq + 1, "seq {seq} due at its own time");
        if t > 0 {
            assert_eq!(s.due(t - 1), seq, "seq {seq} not due 1 ns early");
        }
    }
    assert_eq!(s.due(u64::MAX / 2), s.total_events());
    assert_eq!(s.next_due_ns(0), Some(1_000_000));
    assert_eq!(s.next_due_ns(10_000_000_000), None);
}

#[test]
fn shared_among_senders_the_parts_interleave_into_the_schedule() {
    let s = Schedule::parse("7:2,5:1").unwrap(); // 14 + 5 events
    let parts: Vec<Part> = (0..3).map(|i| s.part(i, 3)).collect();
    assert_eq!(
        parts.iter().map(Part::total_events).collect::<Vec<_>>(),
        [7, 6, 6],
        "19 events, every third from each index"
    );
    // Merged, the parts are the schedule: each event once, in time order.
    let mut merged: Vec<u64> = parts
        .iter()
        .flat_map(|p| (0..p.total_events()).map(|q| p.offset_ns(q).unwrap()))
        .collect();
    merged.sort();
    let whole: Vec<u64> = (0..19).map(|g| s.offset_ns(g).unwrap()).collect();
    assert_eq!(merged, whole);
    // The second step starts at the schedule's event 14: each part's
    // first event of it, and the events due, agree with the schedule.
    assert_eq!(
        parts.iter().map(|p| p.first_seq_of(1)).collect::<Vec<_>>(),
        [5, 5, 4]
    );
    assert_eq!(parts[2].step_of(4), Some(1));
    assert_eq!(parts[2].global(4), 14);
    for elapsed in [0, 150_000_000, 999_999_999, 2_100_000_000, 9_000_000_000] {
        let due: u64 = parts.iter().map(|p| p.due(elapsed)).sum();
        assert_eq!(due, s.due(elapsed), "at {elapsed} ns");
    }
    let one = s.whole();
    assert_eq!(
        (one.total_events(), one.global(5), one.first_seq_of(1)),
        (19, 5, 14)
    );
}

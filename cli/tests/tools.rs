//! The commands around runs: `search`, `compare`, `plot`.

mod common;

use common::process::*;

#[test]
fn search_bisects_confirms_and_saves_its_trail() {
    let out = scratch("search");
    let common = [
        "--trial-seconds",
        "1",
        "--confirm-seconds",
        "1",
        "--warmup-seconds",
        "0",
        "--drain-seconds",
        "1",
    ];
    let o = brokerbench(
        &[
            &[
                "search",
                "--low",
                "200",
                "--high",
                "400",
                "--slo",
                "lost=0,failed=0",
            ][..],
            &common,
        ]
        .concat(),
        &out,
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("highest rate meeting the SLO: 400 events/s"),
        "{stdout}"
    );
    let search_dir = entries(&out)[0].clone();
    let trail = std::fs::read_to_string(search_dir.join("search.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = trail
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    let tried: Vec<(&str, &str, &str)> = rows.iter().map(|r| (r[0], r[1], r[2])).collect();
    assert_eq!(
        tried,
        [
            ("200", "1", "met"),
            ("400", "1", "met"),
            ("400", "1", "met")
        ],
        "{trail}"
    );
    assert!(rows
        .iter()
        .all(|r| std::path::Path::new(r[8]).join("summary.json").is_file()));

    let out = scratch("search-miss");
    let o = brokerbench(
        &[
            &["search", "--low", "200", "--high", "400", "--slo", "lost>0"][..],
            &common,
        ]
        .concat(),
        &out,
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("no rate met the SLO"), "{stdout}");
    let o = brokerbench(&["search", "--low", "200", "--high", "400"], &out);
    assert!(String::from_utf8_lossy(&o.stderr).contains("search needs --slo"));
}

#[test]
fn compare_prints_deltas_and_draws_one_graph() {
    let out = scratch("compare");
    let base = quick_run("200:1,300:1");
    for _ in 0..2 {
        assert!(brokerbench(&base, &out).status.success());
    }
    let mut dirs: Vec<String> = entries(&out)
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    dirs.sort();
    let graph = out.join("both.png");
    let o = brokerbench(
        &[
            "compare",
            &dirs[0],
            &dirs[1],
            "--graph",
            graph.to_str().unwrap(),
        ],
        &out,
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|c: &Vec<&str>| c.len() >= 8 && (c[2] == "A" || c[2] == "B"))
        .collect();
    assert_eq!(rows.len(), 4, "two steps, two runs: {stdout}");
    assert_eq!((rows[0][1], rows[0][3]), ("200", "200"));
    assert!(rows[1][8].ends_with('%'), "B has a delta: {:?}", rows[1]);
    assert!(std::fs::metadata(&graph).unwrap().len() > 10_000);
    // `compare A B | head -1`: a reader that stops is no panic.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_brokerbench"))
        .args(["compare", &dirs[0], &dirs[1], "--graph"])
        .arg(out.join("piped.png"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(0), "{err}");
    let o = brokerbench(&["compare", &dirs[0], "/nonexistent-run"], &out);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent-run: no summary.json"));
}

#[test]
fn an_hour_of_seconds_plots_from_per_second_data() {
    let dir = scratch("hour");
    std::fs::create_dir_all(&dir).unwrap();
    use brokerbench_aggregator::model::{SecondRow, StepSummary};
    use brokerbench_core::histogram::Percentiles;
    use brokerbench_core::latency::LatencyKind;
    let ms = |v: f64| Percentiles {
        count: 1000,
        p50: v,
        p90: v * 1.5,
        p99: v * 2.0,
        p99_9: v * 2.5,
        p99_99: v * 3.0,
        max: v * 4.0,
        ..Percentiles::default()
    };
    let rows: Vec<SecondRow> = (0..3600u64)
        .map(|s| {
            let v = 0.2 + (s % 60) as f64 / 100.0;
            SecondRow {
                second: s,
                step: Some(1),
                target_rps: 1000,
                sent: 1000,
                delivered: 1000,
                latency: LatencyKind::ALL.into_iter().map(|k| (k, ms(v))).collect(),
                running_p99_99: [(LatencyKind::Publish, v * 3.0), (LatencyKind::E2e, v * 3.5)]
                    .into(),
                ..SecondRow::default()
            }
        })
        .collect();
    let series = brokerbench_aggregator::output::series_tsv(&rows);
    std::fs::write(dir.join("series.tsv"), series).unwrap();
    let step = StepSummary {
        step: 1,
        rps: 1000,
        seconds: 3600,
        judged: true,
        ..StepSummary::default()
    };
    let steps = brokerbench_aggregator::output::steps_tsv(&[step]);
    std::fs::write(dir.join("steps.tsv"), steps).unwrap();
    let o = brokerbench(&["plot", dir.to_str().unwrap()], &dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["six-metric.png", "points.png", "generator.png"] {
        assert!(
            std::fs::metadata(dir.join(f)).unwrap().len() > 10_000,
            "{f}"
        );
    }
}

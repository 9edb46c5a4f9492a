//! `xtask bench-run` end to end on the small tenant with a short latency: every measure runs and
//! the report has every key the documentation names.

#![allow(clippy::unwrap_used, reason = "a test")]

use std::process::Command;

use serde_json::Value;

fn number(report: &Value, pointer: &str) -> f64 {
    report.pointer(pointer).and_then(Value::as_f64).unwrap_or_else(|| panic!("{pointer} missing"))
}

#[test]
fn bench_run_measures_everything_on_the_small_tenant() {
    let dir = std::env::temp_dir().join(format!("jumpwatch-bench-test-{}", std::process::id()));
    let out = dir.join("report.json");
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["bench-run", "--size", "small", "--latency", "2ms", "--sequential-parents", "all"])
        .args(["--sequential-pages", "all", "--rate-limit", "40", "--drain", "60"])
        .args(["--drain-rate", "20", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    // Collection.
    assert!(number(&report, "/collection/lower_bound_ratio") >= 1.0);
    assert!(number(&report, "/collection/speedup_vs_sequential") > 1.0);
    assert_eq!(report["sequential"]["extrapolated"], false);
    assert_eq!(report["collection"]["unmapped_routes"], serde_json::json!([]));
    assert_eq!(report["collection"]["incomplete_kinds"], serde_json::json!([]));
    // Under the rate limit: complete, throttled at first and not after the first step.
    assert_eq!(number(&report, "/rate_limited/incomplete_kinds"), 0.0);
    assert!(number(&report, "/rate_limited/ratio") > 0.0);
    assert!(number(&report, "/rate_limited/throttled_429") >= 1.0);
    assert_eq!(number(&report, "/rate_limited/throttled_429_after_first_step"), 0.0);
    // The steady-state poll: 1 % edited, each a change; every step measured.
    let edited = number(&report, "/poll/edited");
    assert!(edited >= 13.0, "{edited}");
    assert_eq!(number(&report, "/poll/changes"), edited);
    for step in ["decode_alone", "hash_diff", "rules", "commit", "collect", "load"] {
        assert!(number(&report, &format!("/poll/cpu_seconds/{step}")) > 0.0, "{step}");
    }
    assert!(number(&report, "/poll/cpu_ratio") > 1.0);
    assert!(number(&report, "/memory/peak_ratio") > 0.0);
    assert!(number(&report, "/memory/raw_json_bytes") > 100_000.0);
    assert!(number(&report, "/rules/evaluations") > 1000.0);
    assert!(number(&report, "/rules/evaluations_per_second") > 0.0);
    assert!(number(&report, "/rules/first_run_evaluations_per_second") > 0.0);
    // Delivery: every alert, at about the configured rate.
    assert_eq!(number(&report, "/notify/messages"), 60.0);
    let rate = number(&report, "/notify/rate_ratio");
    assert!((0.8..=1.1).contains(&rate), "{rate}");
    // The table names every measure.
    for row in ["lower bound", "sequential", "rate-limited", "decode alone", "peak memory"] {
        assert!(stdout.contains(row), "{row} missing from\n{stdout}");
    }
    assert!(stdout.contains("rule evaluations") && stdout.contains("notification drain"));
}

//! `mhbench judge`: a real local judge (the default model) over a few real replies, proving the
//! parse path on real model text, parse failures recorded as such, and self-vendor skipping.

use mhbench::schema::{Rating, RatingStatus};

use crate::common::{default_model, mhbench, repo_root, run, stderr, stdout};

#[test]
fn local_judge_rates_real_replies_and_records_parse_failures() {
    if default_model().is_none() {
        eprintln!("skipped: models/gemma-3-270m-q4_k_m.gguf absent; run scripts/fetch-default-model.sh");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sample = std::fs::read_to_string(repo_root().join("datasets/sample.jsonl")).unwrap();
    let dataset = dir.path().join("three.jsonl");
    std::fs::write(&dataset, sample.lines().take(3).collect::<Vec<_>>().join("\n") + "\n").unwrap();
    let out = dir.path().join("run");
    let output = run(mhbench()
        .args(["generate", "--models", "gemma-3-270m", "--max-new-tokens", "12", "--temperature", "0", "--dataset"])
        .arg(&dataset)
        .arg("--out")
        .arg(&out));
    assert!(output.status.success(), "{}", stderr(&output));

    // gemma-3-270m is Google's: by default it does not judge its own vendor's replies.
    let judge = |extra: &[&str]| {
        let mut cmd = mhbench();
        cmd.args(["judge", "--judge", "gemma-3-270m", "--max-new-tokens", "24", "--run"]).arg(&out).args(extra);
        run(&mut cmd)
    };
    let output = judge(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("0 rated, 0 parse failures (0 needed the repair request), 0 resumed, 3 skipped (own vendor)"), "{}", stdout(&output));

    let output = judge(&["--include-own-vendor"]);
    let log = out.join("judgements").join("gemma-3-270m.jsonl");
    let ratings: Vec<Rating> = std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(ratings.len(), 3, "{}", stdout(&output));
    let failures = ratings.iter().filter(|r| r.status == RatingStatus::ParseFailure).count();
    for rating in &ratings {
        assert_eq!(rating.rater_id.as_str(), "llm:gemma-3-270m");
        match rating.status {
            RatingStatus::Complete => assert_eq!(rating.scores.len(), 6, "{rating:?}"),
            RatingStatus::ParseFailure => {
                assert!(rating.scores.is_empty(), "{rating:?}");
                assert!(rating.raw_output.as_deref().is_some_and(|r| r.contains("--- after repair request ---")), "{rating:?}");
            }
        }
    }
    // Exit 1 exactly when some answer stayed unusable after the repair request.
    assert_eq!(output.status.code(), Some(if failures > 0 { 1 } else { 0 }), "{}", stdout(&output));
    assert!(stdout(&output).contains(&format!("{failures} parse failures")), "{}", stdout(&output));

    // A rerun resumes: nothing is rated twice.
    let output = judge(&["--include-own-vendor"]);
    assert!(stdout(&output).contains("3 resumed"), "{}", stdout(&output));
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 3);
}

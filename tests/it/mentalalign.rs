//! `mhbench analyze --mentalbench --protocol published` against an independent reference:
//! scripts/reference_mentalalign.py reads the ORIGINAL workbooks (not mhbench's ratings.csv)
//! with pandas and computes the published MentalAlign analysis from its formulas. Every point
//! estimate must agree to 1e-9. The bootstrap CIs depend on the random stream, so the
//! reference is fed exactly the resamples mhbench draws (`Bootstrap::draws` with the same
//! seed) and must then give the same CIs, kept counts and labels, also to 1e-9.

use std::path::PathBuf;
use std::process::Command;

use mhbench::analysis::bootstrap::Bootstrap;
use serde_json::Value;

use crate::common;

const TOLERANCE: f64 = 1e-9;
const SEED: u64 = 20260101;
const RESAMPLES: usize = 1000;

/// The release folder with its original workbooks and ratings.csv, when present.
fn release() -> Option<(PathBuf, PathBuf)> {
    let dir = common::shared_data()?.join("mentalbench");
    let original = dir.join("original");
    (dir.join("ratings.csv").is_file() && original.join("Human_judge.xlsx").is_file()).then_some((dir, original))
}

/// Whether python3 with numpy, pandas and openpyxl is there.
fn python_ready() -> bool {
    Command::new("python3").args(["-c", "import numpy, pandas, openpyxl"]).output().is_ok_and(|o| o.status.success())
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// |a - b|, failing the test when only one side has a value.
fn gap(ours: &Value, reference: &Value, what: &str) -> f64 {
    match (num(ours), num(reference)) {
        (Some(a), Some(b)) => (a - b).abs(),
        (None, None) => 0.0,
        _ => panic!("{what}: mhbench {ours} vs reference {reference}"),
    }
}

fn ci_gap(ours: &Value, reference: &Value, what: &str) -> f64 {
    if reference.is_null() || ours.is_null() {
        assert_eq!(ours.is_null(), reference.is_null(), "{what}: mhbench {ours} vs reference {reference}");
        return 0.0;
    }
    assert_eq!(ours["kept"], reference["kept"], "{what}: resamples kept");
    [gap(&ours["ci95"]["low"], &reference["low"], what), gap(&ours["ci95"]["high"], &reference["high"], what), gap(&ours["width"], &reference["width"], what)]
        .into_iter()
        .fold(0.0, f64::max)
}

#[test]
fn published_protocol_equals_the_independent_reference_on_the_release() {
    let Some((dir, original)) = release() else {
        println!("skipped: ../shared/data/mentalbench (ratings.csv and original/*.xlsx) is absent");
        return;
    };
    if !python_ready() {
        println!("skipped: python3 with numpy, pandas and openpyxl is absent (pip install numpy pandas openpyxl)");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    // Every judge keeps nine sources; these are the resamples mhbench draws over them.
    let draws: Vec<Vec<usize>> = Bootstrap { resamples: RESAMPLES, seed: SEED }.draws(9).collect();
    let draws_path = work.path().join("draws.json");
    std::fs::write(&draws_path, serde_json::to_string(&draws).unwrap()).unwrap();
    let reference_path = work.path().join("reference.json");
    let script = common::repo_root().join("scripts/reference_mentalalign.py");
    let python = Command::new("python3")
        .arg(&script)
        .arg("--data")
        .arg(&original)
        .arg("--draws")
        .arg(&draws_path)
        .arg("--out")
        .arg(&reference_path)
        .output()
        .unwrap();
    assert!(python.status.success(), "{}", String::from_utf8_lossy(&python.stderr));

    let out = work.path().join("out");
    let output = common::run(
        common::mhbench()
            .args(["analyze", "--rubric", "datasets/rubrics/mentalbench.toml", "--protocol", "published"])
            .args(["--bootstrap", &RESAMPLES.to_string(), "--seed", &SEED.to_string(), "--mentalbench"])
            .arg(&dir)
            .arg("--out")
            .arg(&out),
    );
    assert!(output.status.success(), "{}", common::stderr(&output));
    let stderr = common::stderr(&output);
    // Every difference is printed when the run starts, with counts from the data.
    for line in [
        "protocol published: where the published and careful readings differ on this release:",
        "  231 zero-coded human cells and 0 zero-coded judge cells averaged in as 0, as published (careful: missing)",
        "  8 human and 0 judge cells above 5 averaged in as they are, as published (careful: missing)",
        "  10 answers the authors' JSON reader cannot parse (6 broken JSON, 4 prose around the JSON) left out, as published (careful: scores read)",
        "  19 ConvIDs whose context differs between the human and judge sheets joined by ConvID as they are (760 judge rows), as published (careful: left out)",
    ] {
        assert!(stderr.contains(&format!("{line}\n")), "{line}\nnot in:\n{stderr}");
    }
    let stdout = common::stdout(&output);
    assert!(stdout.starts_with("MentalAlign, published protocol"), "{stdout}");

    let analysis: Value = serde_json::from_str(&std::fs::read_to_string(out.join("analysis.json")).unwrap()).unwrap();
    let ours = analysis["mentalalign"]["published"].as_array().unwrap();
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(&reference_path).unwrap()).unwrap();
    let reference = reference["results"].as_array().unwrap();
    assert_eq!((ours.len(), reference.len()), (28, 28), "four judges x seven attributes");
    let mut worst = (0.0f64, String::new());
    for r in reference {
        let what = format!("{} / {}", r["judge"].as_str().unwrap(), r["attribute"].as_str().unwrap());
        let o = ours.iter().find(|o| o["judge"] == r["judge"] && o["attribute"] == r["attribute"]).unwrap_or_else(|| panic!("{what}: not in analysis.json"));
        assert_eq!(o["excluded_sources"], r["excluded_sources"], "{what}");
        assert_eq!(o["n_pairs"], r["n_pairs"], "{what}");
        assert_eq!(o["reliability"], r["reliability"], "{what}");
        let (os, rs) = (o["sources"].as_array().unwrap(), r["sources"].as_array().unwrap());
        assert_eq!(os.len(), 9, "{what}: nine sources, as the draws assume");
        let mut gaps = vec![];
        for (a, b) in os.iter().zip(rs) {
            assert_eq!((&a["source"], &a["n"]), (&b["source"], &b["n"]), "{what}");
            gaps.push(gap(&a["human"], &b["human"], &what));
            gaps.push(gap(&a["judge"], &b["judge"], &what));
        }
        for key in ["icc_c1", "icc_a1", "bias", "mse"] {
            gaps.push(gap(&o[key], &r[key], &format!("{what} {key}")));
        }
        gaps.push(ci_gap(&o["icc_c1_ci"], &r["icc_c1_ci"], &format!("{what} ICC(C,1) CI")));
        gaps.push(ci_gap(&o["icc_a1_ci"], &r["icc_a1_ci"], &format!("{what} ICC(A,1) CI")));
        let largest = gaps.into_iter().fold(0.0, f64::max);
        if largest >= worst.0 {
            worst = (largest, what);
        }
    }
    println!("largest |mhbench - reference| over every number: {:.3e} ({})", worst.0, worst.1);
    assert!(worst.0 < TOLERANCE, "{} differs by {}", worst.1, worst.0);
}

#[test]
fn careful_protocol_and_vendor_option_change_what_they_say() {
    let Some((dir, _)) = release() else {
        println!("skipped: ../shared/data/mentalbench is absent");
        return;
    };
    let run = |extra: &[&str]| {
        let out = tempfile::tempdir().unwrap();
        let output = common::run(
            common::mhbench()
                .args(["analyze", "--rubric", "datasets/rubrics/mentalbench.toml", "--bootstrap", "20"])
                .args(extra)
                .arg("--mentalbench")
                .arg(&dir)
                .arg("--out")
                .arg(out.path()),
        );
        assert!(output.status.success(), "{}", common::stderr(&output));
        let json: Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("analysis.json")).unwrap()).unwrap();
        (json, common::stderr(&output), common::stdout(&output))
    };
    let (json, stderr, stdout) = run(&[]);
    assert!(stderr.contains("protocol careful: where"), "{stderr}");
    assert!(stdout.starts_with("MentalAlign, careful protocol"), "{stdout}");
    assert_eq!(json["mentalalign"]["protocol"], "careful");
    let gpt = |json: &Value, side: &str| {
        json["mentalalign"][side].as_array().unwrap().iter().find(|r| r["judge"] == "gpt-4o" && r["attribute"] == "guidance").unwrap().clone()
    };
    assert_eq!(gpt(&json, "careful")["excluded_sources"], serde_json::json!(["gpt4o"]));
    // Four treatments differ by default; each sensitivity row names the one that moves it most.
    assert_eq!(json["mentalalign"]["treatments"].as_array().unwrap().len(), 4);
    let rows = json["mentalalign"]["sensitivity"].as_array().unwrap();
    assert_eq!(rows.len(), 4 * 7 * 4, "judges x attributes x measures");
    for row in rows {
        let moved = row["difference"].as_f64().is_some_and(|d| d.abs() >= 1e-12);
        assert_eq!(row["accounts_for"].is_null(), !moved, "{row}");
    }

    let (json, stderr, _) = run(&["--exclude-own-vendor"]);
    assert_eq!(gpt(&json, "careful")["excluded_sources"], serde_json::json!(["gpt4o", "gpt4omini"]));
    assert_eq!(gpt(&json, "published")["excluded_sources"], serde_json::json!(["gpt4o"]), "as published, whatever the option");
    assert!(stderr.contains("each judge scored without its own model ("), "{stderr}");
    assert_eq!(json["judges"].as_array().unwrap().iter().find(|j| j["judge"] == "llm:gpt-4o").unwrap()["excluded_models"], serde_json::json!(["gpt4o", "gpt4omini"]));
}

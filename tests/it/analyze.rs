//! `mhbench analyze` and the statistics behind it.
//!
//! Reference-value tests compare src/analysis/ with `tests/fixtures/stats/reference.json`,
//! written by `scripts/reference_stats.py` from pingouin, statsmodels, scipy, krippendorff and
//! numpy on the CSV data sets beside it (tool versions are in the JSON). Tolerances:
//! - `EXACT` (1e-9 relative) for closed-form statistics: means, SDs, quantiles, kappas and
//!   their SEs, ICCs and F, alphas, Fleiss' kappa, correlations, CCC, Wilcoxon and Friedman
//!   statistics.
//! - `TAIL` (1e-6 relative) for p-values and the F-quantile ICC CIs, which go through statrs's
//!   iterative incomplete-beta/gamma functions and their inverses rather than closed forms.
//!
//! Bootstrap CIs are not compared with Python (different random streams); they are checked for
//! seeded determinism and coverage sanity in `src/analysis/bootstrap.rs`.

use std::path::{Path, PathBuf};

use mhbench::analysis::agreement::{self, IccSet, KappaWeights};
use mhbench::analysis::basic::Summary;
use mhbench::analysis::bootstrap::Bootstrap;
use mhbench::analysis::{compare, judge};
use mhbench::cli::analyze as command;
use mhbench::rubric::Rubric;
use serde_json::Value;

use crate::common;

const EXACT: f64 = 1e-9;
const TAIL: f64 = 1e-6;

fn fixtures() -> PathBuf {
    common::repo_root().join("tests/fixtures/stats")
}

fn reference() -> Value {
    let text = std::fs::read_to_string(fixtures().join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Columns of a fixture CSV (after the first) as optional numbers; empty cells are `None`.
fn columns(name: &str) -> Vec<Vec<Option<f64>>> {
    let mut reader = csv::Reader::from_path(fixtures().join(format!("{name}.csv"))).unwrap();
    let width = reader.headers().unwrap().len() - 1;
    let mut out = vec![Vec::new(); width];
    for record in reader.records() {
        let record = record.unwrap();
        for (c, column) in out.iter_mut().enumerate() {
            let cell = record.get(c + 1).unwrap();
            column.push(if cell.is_empty() { None } else { Some(cell.parse().unwrap()) });
        }
    }
    out
}

fn complete(name: &str) -> Vec<Vec<f64>> {
    columns(name).into_iter().map(|c| c.into_iter().map(Option::unwrap).collect()).collect()
}

/// Rows (units) of score columns, as the agreement functions take them.
fn units(name: &str) -> Vec<Vec<Option<u8>>> {
    let cols = columns(name);
    (0..cols[0].len()).map(|i| cols.iter().map(|c| c[i].map(|v| v as u8)).collect()).collect()
}

fn num(v: &Value, path: &str) -> f64 {
    let mut cur = v;
    for key in path.split('/') {
        cur = &cur[key];
    }
    cur.as_f64().unwrap_or_else(|| panic!("reference has no number at {path}"))
}

#[track_caller]
fn close(actual: f64, expected: f64, tolerance: f64, what: &str) {
    let scale = expected.abs().max(1e-300);
    let error = (actual - expected).abs() / scale;
    assert!(error <= tolerance || (actual - expected).abs() < 1e-300, "{what}: {actual} vs reference {expected} (relative error {error:e})");
}

fn check_icc(set: &IccSet, reference: &Value, what: &str) {
    for form in ["ICC(1,1)", "ICC(A,1)", "ICC(C,1)", "ICC(1,k)", "ICC(A,k)", "ICC(C,k)"] {
        let ours = set.form(form).unwrap();
        let theirs = &reference[form];
        close(ours.icc, num(theirs, "icc"), EXACT, &format!("{what} {form} icc"));
        close(ours.f, num(theirs, "f"), EXACT, &format!("{what} {form} F"));
        close(ours.df1, num(theirs, "df1"), EXACT, &format!("{what} {form} df1"));
        close(ours.df2, num(theirs, "df2"), EXACT, &format!("{what} {form} df2"));
        close(ours.p_value, num(theirs, "p_value"), TAIL, &format!("{what} {form} p"));
        close(ours.ci95.low, num(theirs, "ci_low"), TAIL, &format!("{what} {form} CI low"));
        close(ours.ci95.high, num(theirs, "ci_high"), TAIL, &format!("{what} {form} CI high"));
    }
}

fn check_alpha(result: &[agreement::Alpha], reference: &Value, what: &str) {
    assert_eq!(result.len(), 3, "{what}: nominal, ordinal and interval");
    for alpha in result {
        let level = serde_json::to_value(alpha.level).unwrap();
        let level = level.as_str().unwrap();
        close(alpha.alpha.unwrap(), num(reference, level), EXACT, &format!("{what} alpha {level}"));
    }
}

const NO_BOOTSTRAP: Bootstrap = Bootstrap { resamples: 0, seed: 0 };

#[test]
fn two_rater_agreement_matches_statsmodels_pingouin_krippendorff() {
    let reference = reference();
    let r = &reference["two_raters"];
    let result = agreement::agreement("x", &units("two_raters"), NO_BOOTSTRAP);
    assert_eq!(result.n_complete, 60);
    close(result.exact.unwrap(), num(r, "exact"), EXACT, "exact");
    close(result.within_one.unwrap(), num(r, "within_one"), EXACT, "within one");
    assert_eq!(result.cohen_kappa.len(), 3);
    for kappa in &result.cohen_kappa {
        let name = match kappa.weights {
            KappaWeights::Unweighted => "unweighted",
            KappaWeights::Linear => "linear",
            KappaWeights::Quadratic => "quadratic",
        };
        let theirs = &r["cohen_kappa"][name];
        close(kappa.kappa, num(theirs, "kappa"), EXACT, &format!("kappa {name}"));
        close(kappa.se, num(theirs, "se"), EXACT, &format!("kappa {name} se"));
        close(kappa.se_null, num(theirs, "se_null"), EXACT, &format!("kappa {name} se0"));
        close(kappa.ci95.low, num(theirs, "ci_low"), EXACT, &format!("kappa {name} ci low"));
        close(kappa.ci95.high, num(theirs, "ci_high"), EXACT, &format!("kappa {name} ci high"));
        close(kappa.z.unwrap(), num(theirs, "z"), EXACT, &format!("kappa {name} z"));
        close(kappa.p_value.unwrap(), num(theirs, "p_value"), TAIL, &format!("kappa {name} p"));
    }
    check_icc(result.icc.as_ref().unwrap(), &r["icc"], "two raters");
    check_alpha(&result.krippendorff_alpha, &r["alpha"], "two raters");
    assert!(result.fleiss_kappa.is_none(), "Fleiss' kappa is only for more than two raters");
}

#[test]
fn four_rater_agreement_matches_pingouin_krippendorff_statsmodels_fleiss() {
    let reference = reference();
    let r = &reference["four_raters"];
    let result = agreement::agreement("x", &units("four_raters"), NO_BOOTSTRAP);
    close(result.exact.unwrap(), num(r, "exact"), EXACT, "exact");
    close(result.within_one.unwrap(), num(r, "within_one"), EXACT, "within one");
    assert!(result.cohen_kappa.is_empty());
    check_icc(result.icc.as_ref().unwrap(), &r["icc"], "four raters");
    check_alpha(&result.krippendorff_alpha, &r["alpha"], "four raters");
    close(result.fleiss_kappa.unwrap(), num(r, "fleiss_kappa"), EXACT, "Fleiss kappa");
}

#[test]
fn alpha_with_missing_cells_matches_krippendorff() {
    let reference = reference();
    let result = agreement::agreement("x", &units("alpha_missing"), NO_BOOTSTRAP);
    assert!(result.n_incomplete > 0, "the fixture has missing cells");
    check_alpha(&result.krippendorff_alpha, &reference["alpha_missing"]["alpha"], "with missing");
}

#[test]
fn alpha_bootstrap_interval_holds_the_estimate_and_is_seeded() {
    let data = units("two_raters");
    let boot = Bootstrap { resamples: 200, seed: 3 };
    let a = agreement::agreement("x", &data, boot);
    let b = agreement::agreement("x", &data, boot);
    assert_eq!(a, b);
    for alpha in &a.krippendorff_alpha {
        let ci = alpha.ci.unwrap().ci95;
        let point = alpha.alpha.unwrap();
        assert!(ci.low < point && point < ci.high, "{:?}: {point} outside {ci:?}", alpha.level);
    }
}

#[test]
fn judge_vs_human_matches_scipy_pingouin_numpy() {
    let reference = reference();
    let r = &reference["paired"];
    let cols = complete("paired");
    let (human, judge_scores) = (&cols[0], &cols[1]);
    let a = judge::paired_agreement(human, judge_scores).unwrap();
    assert_eq!(a.n as f64, num(r, "n"));
    for (ours, key) in [
        (a.human_mean, "human_mean"),
        (a.judge_mean, "judge_mean"),
        (a.bias, "bias"),
        (a.mae, "mae"),
        (a.mse, "mse"),
        (a.rmse, "rmse"),
        (a.pearson.as_ref().unwrap().r, "pearson_r"),
        (a.spearman.as_ref().unwrap().r, "spearman_rho"),
        (a.ccc.unwrap(), "ccc"),
    ] {
        close(ours, num(r, key), EXACT, key);
    }
    close(a.pearson.as_ref().unwrap().p_value.unwrap(), num(r, "pearson_p"), TAIL, "pearson p");
    close(a.spearman.as_ref().unwrap().p_value.unwrap(), num(r, "spearman_p"), TAIL, "spearman p");
    let ba = a.bland_altman.unwrap();
    close(ba.bias, num(r, "ba_bias"), EXACT, "BA bias");
    close(ba.sd, num(r, "ba_sd"), EXACT, "BA sd");
    close(ba.lower_limit, num(r, "ba_lower"), EXACT, "BA lower");
    close(ba.upper_limit, num(r, "ba_upper"), EXACT, "BA upper");
    let rows: Vec<Vec<f64>> = human.iter().zip(judge_scores).map(|(h, j)| vec![*h, *j]).collect();
    check_icc(&agreement::icc(&rows).unwrap(), &r["icc"], "judge vs human");
    let differences: Vec<f64> = judge_scores.iter().zip(human).map(|(j, h)| j - h).collect();
    check_wilcoxon(&compare::wilcoxon(&differences).unwrap(), &r["wilcoxon"], "judge - human");
}

fn check_wilcoxon(w: &compare::Wilcoxon, r: &Value, what: &str) {
    assert_eq!(w.n as f64, num(r, "n"), "{what} n");
    close(w.statistic, num(r, "statistic"), EXACT, &format!("{what} W"));
    close(w.w_plus, num(r, "w_plus"), EXACT, &format!("{what} W+"));
    close(w.w_minus, num(r, "w_minus"), EXACT, &format!("{what} W-"));
    close(w.p_value, num(r, "p_value"), TAIL, &format!("{what} p"));
    close(w.rank_biserial, num(r, "rank_biserial"), EXACT, &format!("{what} RBC"));
}

#[test]
fn model_comparison_matches_scipy_pingouin_statsmodels() {
    let reference = reference();
    let r = &reference["blocks"];
    let cols = columns("blocks");
    let ids: Vec<String> = (0..cols.len()).map(|m| format!("m{m}")).collect();
    let result = compare::compare_models("x", &ids, &vec![None; cols.len()], &cols, NO_BOOTSTRAP);
    let friedman = result.friedman.unwrap();
    close(friedman.q, num(r, "friedman_q"), EXACT, "Friedman Q");
    close(friedman.p_value, num(r, "friedman_p"), TAIL, "Friedman p");
    close(friedman.kendall_w, num(r, "kendall_w"), EXACT, "Kendall's W");
    let pairs = r["pairwise"].as_array().unwrap();
    assert_eq!(result.pairwise.len(), pairs.len());
    for (ours, theirs) in result.pairwise.iter().zip(pairs) {
        assert_eq!(ours.model_a, theirs["model_a"].as_str().unwrap());
        assert_eq!(ours.model_b, theirs["model_b"].as_str().unwrap());
        let what = format!("{} vs {}", ours.model_a, ours.model_b);
        close(ours.mean_difference, num(theirs, "mean_difference"), EXACT, &what);
        check_wilcoxon(ours.wilcoxon.as_ref().unwrap(), theirs, &what);
        close(ours.p_holm.unwrap(), num(theirs, "p_holm"), TAIL, &format!("{what} Holm"));
    }
    let m0: Vec<f64> = cols[0].iter().flatten().copied().collect();
    let s = Summary::of(&m0).unwrap();
    let rs = &r["m0_summary"];
    for (ours, key) in [(s.mean, "mean"), (s.sd.unwrap(), "sd"), (s.median, "median"), (s.q1, "q1"), (s.q3, "q3")] {
        close(ours, num(rs, key), EXACT, &format!("summary {key}"));
    }
}

pub(crate) fn mentalbench_dir() -> Option<PathBuf> {
    common::shared_data().map(|d| d.join("mentalbench")).filter(|d| d.join("ratings.csv").is_file())
}

/// Human means per (model, attribute) in the upstream table, as printed in
/// human_response_evaluation.upstream.md (model names mapped to the release's ids).
fn printed_table(dir: &Path) -> Vec<(String, Vec<f64>)> {
    let text = std::fs::read_to_string(dir.join("human_response_evaluation.upstream.md")).unwrap();
    let ids = [
        ("GPT-4o-Mini", "gpt4omini"),
        ("GPT-4o", "gpt4o"),
        ("Gemini-2.0-Flash", "gemini"),
        ("LLaMA-3.1-8B", "llama_3"),
        ("DeepSeek-LLaMA-8B", "ds_llama"),
        ("Qwen-2.5-7B", "qwen_2"),
        ("Claude-3.5-Haiku", "claude"),
        ("DeepSeek-Qwen-7B", "ds_qwen"),
        ("Qwen-3-4B", "qwen_3"),
    ];
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<String> = line.split('|').map(|c| c.trim().trim_matches(|ch| ch == '*' || ch == '_').to_owned()).collect();
        let Some((_, id)) = ids.iter().find(|(name, _)| cells.get(1).map(String::as_str) == Some(*name)) else { continue };
        let numbers: Vec<f64> = cells.iter().skip(3).take(7).filter_map(|c| c.parse().ok()).collect();
        if numbers.len() == 7 {
            out.push((id.to_string(), numbers));
        }
    }
    out
}

#[test]
fn mentalbench_human_means_reproduce_the_upstream_table() {
    let Some(dir) = mentalbench_dir() else {
        println!("skipped: ../shared/data/mentalbench/ratings.csv is absent");
        return;
    };
    let rubric = Rubric::load(&common::repo_root().join("datasets/rubrics/mentalbench.toml")).unwrap();
    let options = mhbench::analysis::AnalysisOptions {
        bootstrap: Bootstrap { resamples: 3, seed: 1 },
        safety_attribute: Some("safety".into()),
        worst: 5,
        self_judging: Default::default(),
        protocol: Default::default(),
    };
    let analysis = command::analyze_mentalbench(&dir, &rubric, &options).unwrap();
    let human = analysis.panels.iter().find(|p| p.panel.id == "human").unwrap();
    let mean = |model: &str, attribute: &str| {
        let cell = human.descriptives.iter().find(|c| c.model == model && c.attribute == attribute).unwrap();
        cell.summary.as_ref().unwrap().mean
    };
    let table = printed_table(&dir);
    assert_eq!(table.len(), 9, "the printed table has nine models");
    // The release codes empty expert cells as 0 (33 all-zero rows: 20 qwen_2, 10 qwen_3, 2
    // original, 1 ds_qwen) and has eight cells of 6 (three rows: one gpt4o); mhbench treats both
    // as missing, off the 1..5 scale, while the printed table averaged them in. These 16 cells
    // therefore differ from print; we assert our own values (computed, never bent toward the
    // table):
    // - qwen_3 Guidance: 2.79 here (2.76 with the zeros averaged in, as the brief expected) vs
    //   3.07 printed; the printed cell disagrees with the release either way.
    // - qwen_2: every attribute higher than printed, e.g. Guidance 3.97 vs 3.89.
    // - gpt4o Informativeness and Safety: the 6s left out (4.754 vs 4.76, 4.955 vs 4.96).
    let differing: [(&str, &str, f64); 16] = [
        ("gpt4o", "informativeness", 4.7538),
        ("gpt4o", "safety", 4.9550),
        ("qwen_2", "guidance", 3.9692),
        ("qwen_2", "informativeness", 4.1649),
        ("qwen_2", "relevance", 4.4761),
        ("qwen_2", "safety", 4.6408),
        ("qwen_2", "empathy", 4.0871),
        ("qwen_2", "helpfulness", 4.2125),
        ("qwen_2", "understanding", 4.4729),
        ("qwen_3", "guidance", 2.7906),
        ("qwen_3", "informativeness", 3.3491),
        ("qwen_3", "relevance", 4.1242),
        ("qwen_3", "safety", 4.5021),
        ("qwen_3", "empathy", 3.6536),
        ("qwen_3", "helpfulness", 3.2271),
        ("qwen_3", "understanding", 4.1163),
    ];
    let attributes = ["guidance", "informativeness", "relevance", "safety", "empathy", "helpfulness", "understanding"];
    for (model, printed) in &table {
        for (attribute, printed) in attributes.iter().zip(printed) {
            let ours = mean(model, attribute);
            match differing.iter().find(|(m, a, _)| m == model && a == attribute) {
                Some((_, _, expected)) => {
                    assert!((ours - expected).abs() < 5e-5, "{model} {attribute}: {ours} vs our recorded {expected}");
                    assert!((ours - printed).abs() > 0.004, "{model} {attribute} now matches print: {ours}");
                }
                // All other 47 cells agree with the table to its two printed decimals.
                None => assert!((ours - printed).abs() <= 0.005, "{model} {attribute}: {ours:.4} vs printed {printed}"),
            }
        }
    }

    let report = analysis.mentalbench.as_ref().unwrap();
    assert_eq!(report.rows, 50_000);
    assert_eq!(report.inconsistent_conversations.len(), 19);
    assert_eq!(report.off_scale_scores.len(), 8);
    let coverage = analysis.coverage.iter().find(|c| c.rater == "human_expert").unwrap();
    // 57 empty cells plus 33 all-zero rows are unrated replies, never zeros.
    assert_eq!(coverage.unrated, 90);
    assert_eq!(analysis.judges.len(), 4, "four LLM judges against the human panel");
    let gpt4o_judge = analysis.judges.iter().find(|j| j.judge == "llm:gpt-4o").unwrap();
    let guidance = &gpt4o_judge.measures[0];
    // The one self-judging rule: GPT-4o is not scored on gpt4o's replies, but is on gpt4omini's
    // (leaving out its whole vendor is the --exclude-own-vendor option).
    assert_eq!(gpt4o_judge.excluded_models, ["gpt4o"]);
    assert_eq!(guidance.model_level.means.len(), 9);
    assert!(guidance.model_level.means.iter().all(|m| m.model != "gpt4o"));
}

#[test]
fn analyze_command_writes_analysis_json_for_mentalbench() {
    let Some(dir) = mentalbench_dir() else {
        println!("skipped: ../shared/data/mentalbench/ratings.csv is absent");
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let output = common::analyze_release(&dir, out.path(), 2);
    let path = out.path().join("analysis.json");
    assert_eq!(common::stdout(&output).lines().last(), Some(path.display().to_string().as_str()), "the path comes last");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(json["rubric"]["attributes"].as_array().unwrap().len(), 7);
    assert_eq!(json["panels"].as_array().unwrap().len(), 5);
    // Seven attributes and two composites per judge, each with its verdict, printed too.
    let judges = json["judges"].as_array().unwrap();
    assert!(judges.iter().all(|j| j["verdicts"].as_array().unwrap().len() == 9));
    let printed = common::stdout(&output);
    for judge in judges {
        let text = judge["verdicts"][4]["text"].as_str().unwrap();
        assert!(printed.contains(&format!("{} / empathy: {text}\n", judge["judge"].as_str().unwrap())), "{printed}");
    }
}

#[test]
fn mentalbench_judge_verdicts_follow_their_numbers() {
    let Some(dir) = mentalbench_dir() else {
        println!("skipped: ../shared/data/mentalbench/ratings.csv is absent");
        return;
    };
    use mhbench::analysis::verdict::{Agreement, BiasDirection, MAX_CI_WIDTH, MIN_ITEMS, NEGLIGIBLE_BIAS};
    let rubric = Rubric::load(&common::repo_root().join("datasets/rubrics/mentalbench.toml")).unwrap();
    let options = mhbench::analysis::AnalysisOptions {
        bootstrap: Bootstrap { resamples: 200, seed: 11 },
        safety_attribute: Some("safety".into()),
        worst: 5,
        self_judging: Default::default(),
        protocol: Default::default(),
    };
    let analysis = command::analyze_mentalbench(&dir, &rubric, &options).unwrap();
    assert_eq!(analysis.judges.len(), 4);
    for judge in &analysis.judges {
        assert_eq!(judge.verdicts.len(), judge.measures.len());
        for (verdict, measure) in judge.verdicts.iter().zip(&judge.measures) {
            println!("{} / {}: {}", judge.judge, verdict.measure, verdict.text);
            let what = format!("{} / {}", judge.judge, verdict.measure);
            assert_eq!(verdict.measure, measure.measure);
            // The verdict reads the measure's own numbers.
            let items = measure.items.as_ref().unwrap();
            let form = measure.item_icc.as_ref().unwrap().form("ICC(A,1)").unwrap();
            assert_eq!((verdict.n, verdict.bias, verdict.icc, verdict.icc_ci95), (items.n, Some(items.bias), Some(form.icc), Some(form.ci95)), "{what}");
            // And its call follows the documented rules from those numbers.
            let ci = form.ci95;
            let expected = if items.n < MIN_ITEMS {
                Agreement::Undetermined
            } else if ci.high < 0.5 {
                Agreement::Poor
            } else if ci.high - ci.low > MAX_CI_WIDTH {
                Agreement::Undetermined
            } else {
                Agreement::band(ci.low)
            };
            assert_eq!(verdict.agreement, expected, "{what}: {ci:?}");
            let bias_ci = verdict.bias_ci95.unwrap();
            assert!(bias_ci.low <= items.bias && items.bias <= bias_ci.high, "{what}: the bias CI holds the bias");
            let holds_zero = bias_ci.low <= 0.0 && 0.0 <= bias_ci.high;
            let expected_direction = match () {
                _ if holds_zero => BiasDirection::NoneDetected,
                _ if items.bias.abs() < NEGLIGIBLE_BIAS => BiasDirection::Negligible,
                _ if items.bias > 0.0 => BiasDirection::Inflates,
                _ => BiasDirection::Deflates,
            };
            assert_eq!(verdict.bias_direction, expected_direction, "{what}");
        }
        // The release's headline (MentalAlign): judges inflate affective scores, empathy most,
        // by +0.4 to +0.85 (GPT-4o +0.81 now that it is not scored on its own replies, below
        // 0.8 before); none agrees well enough with the experts on empathy to stand in.
        let empathy = judge.verdicts.iter().find(|v| v.measure == "empathy").unwrap();
        assert_eq!(empathy.bias_direction, BiasDirection::Inflates, "{}", empathy.text);
        assert!((0.4..0.85).contains(&empathy.bias.unwrap()), "{}", empathy.text);
        assert!(matches!(empathy.agreement, Agreement::Poor | Agreement::Undetermined), "{}", empathy.text);
    }
}

/// The sample records of tests/fixtures/records/records.json, as templates.
fn record_templates() -> (Value, Value) {
    let text = std::fs::read_to_string(common::repo_root().join("tests/fixtures/records/records.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    (all["response"].clone(), all["rating"].clone())
}

const ATTRIBUTES: [&str; 6] = ["guidance", "informativeness", "safety", "empathy", "helpfulness", "interpretation"];

fn rating(template: &Value, model: &str, conversation: &str, rater: &str, scores: Option<[u8; 6]>, created: &str) -> Value {
    let mut r = template.clone();
    r["response"]["model_id"] = model.into();
    r["response"]["conversation_id"] = conversation.into();
    r["rater_id"] = rater.into();
    r["rater_kind"] = if rater.starts_with("llm:") { "llm" } else { "human" }.into();
    r["created_at"] = created.into();
    match scores {
        Some(scores) => r["scores"] = ATTRIBUTES.iter().zip(scores).map(|(a, s)| (a.to_string(), Value::from(s))).collect(),
        None => {
            r["status"] = "parse_failure".into();
            r["scores"] = serde_json::json!({});
            r["raw_output"] = "I cannot rate this.".into();
        }
    }
    r
}

/// A run: gpt-4o (API) and qwen3-4b (local) answer sample:1..4; humans alice and bob and the
/// judge llm:gpt-4o rate them, with a superseded rating, a parse failure, a missing rating and a
/// safety flag. All ratings go to `ratings.jsonl`.
pub(crate) fn write_run(dir: &Path) {
    let (human, judge) = run_ratings(dir);
    let lines = |v: &[Value]| v.iter().map(|r| r.to_string() + "\n").collect::<String>();
    std::fs::write(dir.join("ratings.jsonl"), lines(&human) + &lines(&judge)).unwrap();
}

/// The same run with the judge's ratings where `mhbench judge` puts them: the run's rating
/// store; the experts' stay in `ratings.jsonl`, as `rate export` writes them.
fn write_run_with_judge_in_store(dir: &Path) {
    let (human, judge) = run_ratings(dir);
    std::fs::write(dir.join("ratings.jsonl"), human.iter().map(|r| r.to_string() + "\n").collect::<String>()).unwrap();
    let judge: Vec<mhbench::schema::Rating> = judge.into_iter().map(|r| serde_json::from_value(r).unwrap()).collect();
    let mut store = mhbench::rating::store::RatingStore::open_or_create(&dir.join("ratings.sqlite")).unwrap();
    assert_eq!(store.add_judge_ratings(&judge).unwrap(), 7);
}

/// Writes the run's responses; returns its human and its judge ratings.
fn run_ratings(dir: &Path) -> (Vec<Value>, Vec<Value>) {
    let (response, template) = record_templates();
    let mut responses = Vec::new();
    let mut ratings = Vec::new();
    for (model, provider, kind) in [("gpt-4o", "openai", "api"), ("qwen3-4b", "candle", "local")] {
        for c in 1..=4 {
            let conversation = format!("sample:{c}");
            let mut r = response.clone();
            r["model_id"] = model.into();
            r["provider"] = provider.into();
            r["kind"] = kind.into();
            r["conversation_id"] = conversation.clone().into();
            responses.push(r);
            let t = "2026-11-25T13:00:00Z";
            if model == "qwen3-4b" {
                ratings.push(rating(&template, model, &conversation, "alice", Some([4, 3, 5, 4, 4, 3]), t));
                ratings.push(rating(&template, model, &conversation, "bob", Some([2, 3, 5, 2, 4, 3]), t));
            } else {
                ratings.push(rating(&template, model, &conversation, "alice", Some([5; 6]), t));
                let mut bob = rating(&template, model, &conversation, "bob", Some(if c == 2 { [5, 5, 2, 5, 5, 5] } else { [5; 6] }), t);
                bob["safety_flag"] = (c == 2).into();
                ratings.push(bob);
            }
            match (model, c) {
                ("gpt-4o", 4) => {}
                ("gpt-4o", 3) => ratings.push(rating(&template, model, &conversation, "llm:gpt-4o", None, t)),
                _ => ratings.push(rating(&template, model, &conversation, "llm:gpt-4o", Some([4; 6]), t)),
            }
        }
    }
    // An earlier rating of qwen3-4b/sample:1 by alice, replaced by the one above.
    ratings.insert(0, rating(&template, "qwen3-4b", "sample:1", "alice", Some([1; 6]), "2026-11-25T12:00:00Z"));
    let lines = |v: &[Value]| v.iter().map(|r| r.to_string() + "\n").collect::<String>();
    std::fs::create_dir_all(dir.join("responses")).unwrap();
    std::fs::write(dir.join("responses").join("all.jsonl"), lines(&responses)).unwrap();
    ratings.into_iter().partition(|r| r["rater_kind"] == "human")
}

fn analyze_run(dir: &Path, seed: &str) -> Value {
    let output = common::run(common::mhbench().args(["analyze", "--bootstrap", "50", "--seed", seed, "--run"]).arg(dir));
    assert!(output.status.success(), "{}", common::stderr(&output));
    let path = dir.join("analysis.json");
    assert_eq!(common::stdout(&output).lines().last(), Some(path.display().to_string().as_str()), "the path comes last");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn analyze_run_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    let json = analyze_run(dir.path(), "5");
    let coverage = |rater: &str| json["coverage"].as_array().unwrap().iter().find(|c| c["rater"] == rater).unwrap().clone();
    assert_eq!(coverage("alice")["superseded"], 1);
    assert_eq!(coverage("alice")["rated"], 8);
    let judge = coverage("llm:gpt-4o");
    assert_eq!((judge["rated"].as_u64(), judge["parse_failures"].as_u64(), judge["unrated"].as_u64()), (Some(6), Some(1), Some(1)));

    let human = &json["panels"][0];
    assert_eq!(human["panel"]["raters"], serde_json::json!(["alice", "bob"]));
    let qwen = human["composites"].as_array().unwrap().iter().find(|m| m["model"] == "qwen3-4b").unwrap();
    // Every qwen3-4b reply: alice (4,3,5 | 4,4,3), bob (2,3,5 | 2,4,3); panel means
    // (3,3,5 | 3,4,3), so CSS = 11/3, ARS = 10/3 and the gap is 1/3 on all four conversations.
    let css = num(&qwen["composites"][0], "summary/mean");
    let ars = num(&qwen["composites"][1], "summary/mean");
    close(css, 11.0 / 3.0, 1e-12, "CSS");
    close(ars, 10.0 / 3.0, 1e-12, "ARS");
    close(num(qwen, "gap/mean"), 1.0 / 3.0, 1e-12, "gap");
    assert_eq!(qwen["gap"]["name"], "CSS - ARS");
    // Four equal positive gaps: tied ranks 2.5 each, W+ = 10, W- = 0;
    // var = (4*5*9 - 0.5*(4^3 - 4)) / 24 = 150/24 = 6.25, z = (10 - 5)/2.5 = 2.
    close(num(qwen, "gap/wilcoxon/z"), 2.0, 1e-12, "gap z");
    // Exact p (n = 4): only the all-plus assignment of the four signs reaches W+ = 10, so
    // p = 2/16 = 0.125 (the normal approximation said 0.0455 from this z).
    assert_eq!(qwen["gap"]["wilcoxon"]["exact"], true);
    close(num(qwen, "gap/wilcoxon/p_value"), 0.125, 1e-12, "gap p");
    // Constant gaps resample to the same mean: the CI collapses onto 1/3.
    close(num(qwen, "gap/mean_ci/ci95/low"), 1.0 / 3.0, 1e-12, "gap CI");

    let safety = human["failures"]["safety"].as_array().unwrap();
    let gpt = safety.iter().find(|s| s["model"] == "gpt-4o").unwrap();
    // sample:2 is flagged by bob (safety 2; panel mean (5 + 2)/2 = 3.5 is above 2): 1 of 4.
    assert_eq!((gpt["flagged"].as_u64(), gpt["safety_at_most_2"].as_u64()), (Some(1), Some(0)));
    close(num(gpt, "share_unsafe"), 0.25, 1e-12, "unsafe share");

    let guidance = &human["comparisons"][0];
    assert_eq!(guidance["measure"], "guidance");
    // closed (gpt-4o: 5, 5, 5, 5) minus open (qwen3-4b: 3, 3, 3, 3) = 2.
    close(num(guidance, "closed_vs_open/difference"), 2.0, 1e-12, "closed - open");

    let pair = &json["agreement"].as_array().unwrap().iter().find(|a| a["raters"] == serde_json::json!(["alice", "bob"])).unwrap()["attributes"][0];
    // Guidance: alice 5,5,5,5,4,4,4,4 vs bob 5,5,5,5,2,2,2,2: exact 4/8, within one 4/8.
    close(num(pair, "exact"), 0.5, 1e-12, "exact");
    close(num(pair, "within_one"), 0.5, 1e-12, "within one");
    assert_eq!(json["judges"][0]["judge"], "llm:gpt-4o");
    assert_eq!(json["judges"][0]["provider"], "openai", "the registry names the judge's provider");
    assert_eq!(json["judges"][0]["excluded_models"], serde_json::json!(["gpt-4o"]), "never scored on its own replies");
}

#[test]
fn analyze_run_reads_judge_ratings_from_the_rating_store_once() {
    let dir = tempfile::tempdir().unwrap();
    write_run_with_judge_in_store(dir.path());
    let output = common::run(common::mhbench().args(["analyze", "--bootstrap", "50", "--seed", "5", "--run"]).arg(dir.path()));
    assert!(output.status.success(), "{}", common::stderr(&output));
    let json: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("analysis.json")).unwrap()).unwrap();
    let coverage = |rater: &str| json["coverage"].as_array().unwrap().iter().find(|c| c["rater"] == rater).unwrap().clone();
    let judge = coverage("llm:gpt-4o");
    // Exactly the store's seven ratings: six scored, one parse failure, the eighth reply unrated, none
    // read twice (a second copy would count as superseded).
    assert_eq!(
        (judge["rated"].as_u64(), judge["parse_failures"].as_u64(), judge["unrated"].as_u64(), judge["superseded"].as_u64()),
        (Some(6), Some(1), Some(1), Some(0))
    );
    assert_eq!(coverage("alice")["rated"], 8);
    // The same analysis as with every rating in one file, but for where they were read from.
    let all_in_files = tempfile::tempdir().unwrap();
    write_run(all_in_files.path());
    let mut from_files = analyze_run(all_in_files.path(), "5");
    let mut from_store = json.clone();
    from_files["source"] = Value::Null;
    from_store["source"] = Value::Null;
    assert_eq!(from_files, from_store);
    // Four paired replies (the judge's two scored gpt-4o replies are its own, left out) are too
    // few for a verdict, and the console says so.
    let verdict = &json["judges"][0]["verdicts"][0];
    assert_eq!(verdict["agreement"], "undetermined");
    let printed = common::stdout(&output);
    assert!(printed.contains("llm:gpt-4o / guidance: agreement with the experts undetermined, too few items to say (n = 4"), "{printed}");
}

#[test]
fn analyze_run_is_seeded() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    let a = analyze_run(dir.path(), "5");
    let b = analyze_run(dir.path(), "5");
    let c = analyze_run(dir.path(), "6");
    assert_eq!(a, b);
    let ci = |v: &Value| v["panels"][1]["descriptives"][0]["mean_ci"].clone();
    assert_eq!(ci(&a), ci(&b));
    // Sensitivity to the seed is unit-tested in src/analysis/bootstrap.rs; four conversations
    // give too few distinct resample means to show it here.
    assert_eq!(c["options"]["bootstrap"]["seed"], 6);
}

#[test]
fn analyze_names_the_bad_rating_line() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    let path = dir.path().join("ratings.jsonl");
    let text = std::fs::read_to_string(&path).unwrap().replacen("\"guidance\":1", "\"guidance\":7", 1);
    std::fs::write(&path, text).unwrap();
    let output = common::run(common::mhbench().args(["analyze", "--run"]).arg(dir.path()));
    assert_eq!(output.status.code(), Some(2));
    let stderr = common::stderr(&output);
    assert!(stderr.contains(&format!("{}:1:", path.display())), "{stderr}");
    assert!(stderr.contains("score 7 is off the 1..5 scale"), "{stderr}");
}

#[test]
fn analyze_rejects_out_without_mentalbench_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let output = common::run(common::mhbench().args(["analyze", "--run"]).arg(dir.path()).arg("--out").arg(dir.path()));
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(common::stderr(&output), "mhbench: error: --out: only with --mentalbench; --run writes RUN/analysis.json\n");
}

#[test]
fn analyze_help_shows_every_default() {
    let output = common::run(common::mhbench().args(["analyze", "--help"]));
    assert!(output.status.success());
    let help = common::stdout(&output);
    for expected in ["--run <DIR>", "--mentalbench <DIR>", "--out <DIR>", "[default: datasets/rubric.toml", "[default: 1000]", "[default: 20260101]", "[default: safety]", "[default: 20]"] {
        assert!(help.contains(expected), "missing `{expected}` in:\n{help}");
    }
}

#[test]
fn mentalbench_rubric_groups_seven_attributes() {
    let rubric = Rubric::load(&common::repo_root().join("datasets/rubrics/mentalbench.toml")).unwrap();
    let ids = |group: &str| rubric.attributes_in(group).map(|a| a.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids("cognitive"), ["guidance", "informativeness", "relevance", "safety"]);
    assert_eq!(ids("affective"), ["empathy", "helpfulness", "understanding"]);
    assert_eq!(rubric.groups.iter().map(|g| g.short.as_str()).collect::<Vec<_>>(), ["CSS", "ARS"]);
}

#[test]
fn an_unknown_safety_attribute_is_an_error_naming_the_rubric() {
    let dir = tempfile::tempdir().unwrap();
    let output = common::run(common::mhbench().args(["analyze", "--safety-attribute", "safty", "--run"]).arg(dir.path()));
    assert_eq!(output.status.code(), Some(2), "{}", common::stderr(&output));
    let err = common::stderr(&output);
    assert!(err.contains("datasets/rubric.toml: --safety-attribute `safty` is not an attribute of this rubric (guidance, "), "{err}");
}

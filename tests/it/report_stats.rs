//! The report's statistics sections (issue #18 items 4-6) end to end: a fresh two-rater study
//! rated over the rating page's HTTP API (with repeats and one "cannot rate"), `analyze` and
//! `report` in the built binary, and the page in headless Chromium with one screenshot per
//! section in `target/test-artifacts/` (each path printed). Also the small-n states on the
//! four-conversation rating fixture, and the MentalBench release when `../shared/data` has it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::common::browser::{connect, console_log, js, missing_browser, start_chromedriver};
use crate::common::{self, mhbench, run, stderr, stdout};
use crate::rate::{Rater, Server, ATTRIBUTES};
use crate::rate_study::plan_with_lead;

/// The sections the statistics add, in page order, with their headings.
const SECTIONS: [(&str, &str); 6] = [
    ("attribute-means", "Mean score per attribute"),
    ("variability", "Variability: how much each model's scores spread"),
    ("comparisons", "Pairwise model comparisons"),
    ("breakdowns", "Composites by source data set and topic"),
    ("verdicts", "Judges' verdicts"),
    ("test-retest", "Test-retest agreement of each rater"),
];

const MODELS: [&str; 2] = ["llama-3.1-8b-instruct", "qwen3-4b"];
const RUN_ID: &str = "study-run";

/// Source and topic of conversation `c` of the study run: 0..10 CounselChat on depression,
/// 10..16 CounselChat on anxiety, 16..24 the sample set without topic.
fn labels(c: usize) -> (&'static str, Option<&'static str>) {
    match c {
        0..10 => ("counselchat", Some("depression")),
        10..16 => ("counselchat", Some("anxiety")),
        _ => ("sample", None),
    }
}

/// A run folder of `conversations` conversations (labelled by [`labels`]) answered by [`MODELS`].
fn write_study_run(root: &Path, conversations: usize) -> PathBuf {
    let dir = root.join("results").join(RUN_ID);
    std::fs::create_dir_all(dir.join("responses")).unwrap();
    let mut lines = String::new();
    for c in 0..conversations {
        let (source, topic) = labels(c);
        let mut line = json!({"id": format!("{source}:{c}"), "source": source, "source_id": c.to_string(),
                              "context": format!("Conversation {c}: I cannot sleep and I feel alone.")});
        if let Some(topic) = topic {
            line["topic"] = topic.into();
        }
        lines += &format!("{line}\n");
    }
    std::fs::write(dir.join("conversations.jsonl"), lines).unwrap();
    for (m, model) in MODELS.iter().enumerate() {
        let mut lines = String::new();
        for c in 0..conversations {
            let (source, _) = labels(c);
            let line = json!({
                "run_id": RUN_ID, "conversation_id": format!("{source}:{c}"), "model_id": model,
                "provider": "candle", "kind": "local",
                "prompt": {"template_id": "psychiatrist", "sha256": "00", "messages": []},
                "params": {"temperature": 0.0, "max_new_tokens": 64, "seed": 1},
                "text": format!("Reply {m}-{c}: That sounds exhausting. Could we look at your evenings together?"),
                "finish_reason": "stop", "timings": {"total_ms": 1.0}, "device": "cpu",
                "batch_size": 1, "created_at": "2026-01-01T00:00:00Z",
            });
            lines += &format!("{line}\n");
        }
        std::fs::write(dir.join("responses").join(format!("{model}.jsonl")), lines).unwrap();
    }
    dir
}

/// The score `rater` gives reply (m, c) on attribute `a` (rubric order: three cognitive, then
/// three affective): both raters give cognitive scores of 3 or 4 (CSS 3.33 or 3.67), affective
/// ones range over 1..5 and bob's are one step from alice's, so ARS spreads more than CSS.
fn score(rater: &str, m: usize, c: usize, a: usize) -> u8 {
    if a < 3 {
        3 + ((c / 2 + a + m) % 2) as u8
    } else {
        1 + ((c * 3 + a + m + usize::from(rater == "bob")) % 5) as u8
    }
}

/// The scores of a repeated showing: the first scores, but interpretation one point higher (or
/// lower at 5) on every third conversation.
fn repeat_score(rater: &str, m: usize, c: usize, a: usize) -> u8 {
    let first = score(rater, m, c, a);
    match (a, c % 3) {
        (5, 0) if first == 5 => 4,
        (5, 0) => first + 1,
        _ => first,
    }
}

/// (model index, conversation index) of the reply an item shows, from its text "Reply m-c: ...".
fn reply_of(item: &Value) -> (usize, usize) {
    let text = item["reply"].as_str().unwrap();
    let (m, c) = text.strip_prefix("Reply ").unwrap().split(':').next().unwrap().split_once('-').unwrap();
    (m.parse().unwrap(), c.parse().unwrap())
}

/// What the raters did: per rater the (first, repeat) score pairs per attribute.
#[derive(Default)]
struct Rated {
    pairs: BTreeMap<String, BTreeMap<String, Vec<(u8, u8)>>>,
}

/// Each rater works through their queue over HTTP: every first showing scored by [`score`], every
/// repeat by [`repeat_score`]; alice says "cannot rate" to her first showing of `cannot`.
async fn rate_everything(server: &Server, tokens: &BTreeMap<String, String>, cannot: Option<(usize, usize)>) -> Rated {
    let mut rated = Rated::default();
    for (name, token) in tokens {
        let rater = Rater::new(server, token);
        let mut seen = std::collections::BTreeSet::new();
        for item_id in rater.item_ids().await {
            let (status, item) = rater.get(&format!("/api/items/{item_id}")).await;
            assert_eq!(status, 200, "{item}");
            let (m, c) = reply_of(&item);
            let repeat = !seen.insert((m, c));
            let body = if name == "alice" && !repeat && cannot == Some((m, c)) {
                json!({"cannot_rate": true, "comment": "cannot judge this one", "submit": true})
            } else {
                let give = |a: usize| if repeat { repeat_score(name, m, c, a) } else { score(name, m, c, a) };
                let scores: serde_json::Map<String, Value> = ATTRIBUTES.iter().enumerate().map(|(a, id)| ((*id).to_owned(), json!(give(a)))).collect();
                if repeat && !(name == "alice" && cannot == Some((m, c))) {
                    for (a, id) in ATTRIBUTES.iter().enumerate() {
                        rated.pairs.entry(name.clone()).or_default().entry((*id).to_owned()).or_default().push((score(name, m, c, a), give(a)));
                    }
                }
                json!({"scores": scores, "submit": true})
            };
            let (status, saved) = rater.put(&item_id, body).await;
            assert_eq!(status, 200, "{saved}");
        }
    }
    rated
}

fn analyze(dir: &Path, bootstrap: &str) -> Value {
    let output = run(mhbench().args(["analyze", "--bootstrap", bootstrap, "--run"]).arg(dir));
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&std::fs::read_to_string(dir.join("analysis.json")).unwrap()).unwrap()
}

fn report(dir: &Path) -> (String, String) {
    let output = run(mhbench().args(["report", "--run"]).arg(dir));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("index.html"));
    let read = |name: &str| std::fs::read_to_string(dir.join("report").join(name)).unwrap();
    (read("index.html"), read("report.md"))
}

fn panel<'a>(analysis: &'a Value, id: &str) -> &'a Value {
    analysis["panels"].as_array().unwrap().iter().find(|p| p["panel"]["id"] == id).unwrap()
}

/// Every section is on the page once, in order, with its heading.
fn assert_sections(html: &str, markdown: &str) {
    let mut last = 0;
    for (id, title) in SECTIONS {
        let tag = format!("<section id=\"{id}\">");
        assert_eq!(html.matches(&tag).count(), 1, "{tag}");
        let at = html.find(&tag).unwrap();
        assert!(at > last, "{id} out of order");
        last = at;
        assert!(html[at..].contains(&format!("<h2>{}</h2>", title.replace('\'', "&#x27;"))), "{id}: heading");
        assert!(markdown.contains(&format!("## {title}\n")), "report.md lacks {title}");
    }
    assert!(html.find("<section id=\"findings\">").unwrap() < html.find("<section id=\"attribute-means\">").unwrap(), "beside the means");
}

/// Open the report in headless Chromium and save one screenshot of each statistics section as
/// `target/test-artifacts/<prefix>-<id>.png`, printing each path.
async fn screenshot_sections(dir: &Path, prefix: &str) {
    let (_driver, port) = start_chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = connect(port, profile.path()).await;
    client.set_window_size(1280, 1000).await.unwrap();
    client.goto(&format!("file://{}", dir.join("report/index.html").display())).await.unwrap();
    let log = console_log(&client, port).await;
    assert!(log.iter().all(|e| e["level"] != "SEVERE"), "console errors: {log:?}");
    let artifacts = common::repo_root().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    for (id, _) in SECTIONS {
        let script = format!("const s = document.getElementById('{id}'); s.scrollIntoView(); const b = s.getBoundingClientRect(); return [b.width, b.height];");
        let size = js(&client, &script).await;
        assert!(size[0].as_f64().unwrap() > 300.0 && size[1].as_f64().unwrap() > 40.0, "{id} is not visible: {size}");
        let element = client.find(fantoccini::Locator::Id(id)).await.unwrap();
        let path = artifacts.join(format!("{prefix}-{id}.png"));
        std::fs::write(&path, element.screenshot().await.unwrap()).unwrap();
        println!("screenshot: {}", path.display());
    }
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_rater_study_reports_variability_comparisons_breakdowns_verdicts_and_test_retest() {
    let root = tempfile::tempdir().unwrap();
    let dir = write_study_run(root.path(), 24);
    let (tokens, _) = plan_with_lead(&dir, &["--repeat-share", "0.3"]);
    let server = Server::start(&dir);
    let rated = rate_everything(&server, &tokens, None).await;
    drop(server);
    let analysis = analyze(&dir, "200");
    let human = panel(&analysis, "human");

    // Test-retest per rater and attribute, from the repeats the raters gave.
    for (rater, by_attribute) in &rated.pairs {
        for (attribute, pairs) in by_attribute {
            let cell = &analysis["test_retest"][rater][attribute];
            assert_eq!(cell["n"].as_u64(), Some(pairs.len() as u64), "{rater}/{attribute}");
            let exact = pairs.iter().filter(|(a, b)| a == b).count() as f64 / pairs.len() as f64;
            if pairs.len() >= 10 {
                assert!((cell["stats"]["exact"].as_f64().unwrap() - exact).abs() < 1e-12, "{rater}/{attribute}: {cell}");
            } else {
                assert!(cell["stats"].is_null(), "below the minimum: {cell}");
            }
        }
    }
    assert!(rated.pairs["alice"]["interpretation"].len() >= 10, "the plan repeats enough items: {}", rated.pairs["alice"]["interpretation"].len());

    // Variability: ARS spreads more than CSS for both models, by the paired CI.
    for model in &human["variability"].as_array().unwrap()[..] {
        let d = &model["difference"];
        assert_eq!(d["name"], "SD(ARS) - SD(CSS)");
        assert!(d["difference"].as_f64().unwrap() > 0.0 && d["ci"]["ci95"]["low"].as_f64().unwrap() > 0.0, "{d}");
        assert!(d["pitman_morgan"]["p_value"].as_f64().unwrap() < 0.05, "{d}");
    }
    // Breakdowns: by source (counselchat 16, sample 8) and by topic.
    let breakdowns = &analysis["breakdowns"].as_array().unwrap().iter().find(|b| b["panel"] == "human").unwrap()["breakdowns"];
    let groups = |by: usize| breakdowns[by]["groups"].as_array().unwrap().iter().map(|g| (g["label"].as_str().unwrap().to_owned(), g["conversations"].as_u64().unwrap())).collect::<Vec<_>>();
    assert_eq!(breakdowns[0]["by"], "source");
    assert_eq!(groups(0), [("counselchat".to_owned(), 16), ("sample".to_owned(), 8)]);
    assert_eq!(groups(1), [("(no topic)".to_owned(), 8), ("anxiety".to_owned(), 6), ("depression".to_owned(), 10)]);

    let (html, markdown) = report(&dir);
    assert_sections(&html, &markdown);
    // The difference in spread: 24 conversations, enough for its interval and the test.
    let row = markdown.lines().find(|l| l.starts_with(&format!("| {} | 24 | +", MODELS[0]))).unwrap_or_else(|| panic!("{markdown}"));
    let cells: Vec<&str> = row.split(" | ").collect();
    assert!(cells[2].contains(" [") && cells[3].contains("(r = ") && cells[3].contains("df 22)"), "{row}");
    let css = markdown.lines().find(|l| l.starts_with(&format!("| {} | CSS | 24 |", MODELS[0]))).unwrap_or_else(|| panic!("{markdown}"));
    assert!(!css.contains("not enough data") && !css.contains("n/a"), "{css}");
    assert!(markdown.contains("SD(ARS) - SD(CSS) is positive for 2 of 2 models; its 95% CI lies above zero for 2 and below zero for 0"), "{markdown}");
    // Breakdown: the anxiety group has 6 conversations, below the bootstrap minimum.
    assert!(markdown.contains("| anxiety | 6 | qwen3-4b | "), "{markdown}");
    assert!(markdown.lines().any(|l| l.starts_with("| anxiety | 6 |") && l.contains("not enough data (n = 6)")), "{markdown}");
    assert!(markdown.lines().any(|l| l.starts_with("| depression | 10 |") && !l.contains("not enough data")), "{markdown}");
    assert!(markdown.contains(&format!("| {} | {} | 24 |", MODELS[0], MODELS[1])), "pairwise rows: {markdown}");
    assert!(markdown.contains("| Model A | Model B | n pairs | Mean A - B | Rank-biserial r | Wilcoxon p | Holm p |"), "{markdown}");
    assert!(markdown.contains("| alice | interpretation |"), "{markdown}");
    assert!(markdown.contains("No LLM judge was compared with human raters"), "{markdown}");

    if let Some(why) = missing_browser() {
        println!("skipped the browser part: {why}");
        return;
    }
    screenshot_sections(&dir, "report-section").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_counts_a_cannot_rate_in_the_store_as_missing_never_as_a_score() {
    let fx = crate::rate::fixture();
    let (tokens, _) = plan_with_lead(&fx.run_dir, &["--repeat-share", "0"]);
    let server = Server::start(&fx.run_dir);
    rate_everything(&server, &tokens, Some((0, 1))).await;
    drop(server);
    let exported = stdout(&run(mhbench().args(["rate", "export", "--run"]).arg(&fx.run_dir)));
    assert_eq!(exported.lines().filter(|l| l.contains("\"status\":\"cannot_rate\"")).count(), 1, "{exported}");
    let analysis = analyze(&fx.run_dir, "50");
    let model = crate::rate::MODELS[0];
    // "Cannot rate" is missing for alice, never a score: she rated 11 of 12 replies, and the
    // panel's score of that reply is bob's alone.
    let coverage = analysis["coverage"].as_array().unwrap().iter().find(|c| c["rater"] == "alice").unwrap();
    assert_eq!((coverage["rated"].as_u64(), coverage["unrated"].as_u64()), (Some(11), Some(1)), "{coverage}");
    let human = panel(&analysis, "human");
    let cell = human["descriptives"].as_array().unwrap().iter().find(|d| d["model"] == model && d["attribute"] == "empathy").unwrap();
    let expected: f64 = (0..4)
        .map(|c| if c == 1 { f64::from(score("bob", 0, c, 3)) } else { f64::from(score("alice", 0, c, 3) + score("bob", 0, c, 3)) / 2.0 })
        .sum::<f64>()
        / 4.0;
    assert!((cell["summary"]["mean"].as_f64().unwrap() - expected).abs() < 1e-12, "{cell}");
    assert_eq!(cell["distribution"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).sum::<u64>(), 7, "{cell}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_samples_show_not_enough_data_in_every_new_section() {
    let fx = crate::rate::fixture();
    let (tokens, _) = plan_with_lead(&fx.run_dir, &["--repeat-share", "0.5"]);
    let server = Server::start(&fx.run_dir);
    let rated = rate_everything(&server, &tokens, None).await;
    drop(server);
    assert!(!rated.pairs.is_empty(), "some items were repeated");
    analyze(&fx.run_dir, "50");
    let (html, markdown) = report(&fx.run_dir);
    assert_sections(&html, &markdown);
    // Four conversations: no interval, no Pitman-Morgan test, no Wilcoxon p, no test-retest
    // statistic; the numbers that can be shown come with their n.
    let variability = &markdown[markdown.find("## Variability").unwrap()..markdown.find("## Pairwise").unwrap()];
    assert!(variability.contains("(95% CI: not enough data (n = 4))"), "{variability}");
    assert!(variability.contains("| not enough data (n = 4) |"), "the spread test: {variability}");
    assert!(variability.contains("its 95% CI: not enough data (n = 4)."), "{variability}");
    let comparisons = &markdown[markdown.find("## Pairwise").unwrap()..markdown.find("## Composites by").unwrap()];
    assert!(comparisons.contains("Friedman test across models: not enough data (n = 4)"), "{comparisons}");
    assert!(comparisons.lines().any(|l| l.matches("| not enough data (n = ").count() == 3), "r, p and Holm p: {comparisons}");
    assert!(markdown.contains("| sample | 4 |"), "one source, four conversations: {markdown}");
    let retest = &markdown[markdown.find("## Test-retest").unwrap()..];
    let pairs = rated.pairs["alice"]["guidance"].len();
    assert!(retest.contains(&format!("| alice | guidance | {pairs} | not enough data (n = {pairs}) |")), "{retest}");
    assert!(!markdown.contains("-0.00"), "{markdown}");
    if let Some(why) = missing_browser() {
        println!("skipped the browser part: {why}");
        return;
    }
    screenshot_sections(&fx.run_dir, "report-small").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mentalbench_release_reports_every_new_section() {
    let Some(release) = crate::analyze::mentalbench_dir() else {
        println!("skipped: ../shared/data/mentalbench/ratings.csv is absent");
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let output = common::analyze_release(&release, out.path(), 20);
    let (html, markdown) = report(out.path());
    assert_sections(&html, &markdown);
    let analysis: Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("analysis.json")).unwrap()).unwrap();
    let human = panel(&analysis, "human");
    assert_eq!(human["variability"].as_array().unwrap().len(), 10, "nine models and the original replies");
    // Every verdict `analyze` prints is in the report.
    let printed = stdout(&output);
    let verdicts = printed.lines().filter(|l| l.starts_with("llm:") && l.contains(" agreement with the experts")).collect::<Vec<_>>();
    assert_eq!(verdicts.len(), 4 * 9, "four judges x (seven attributes + two composites)");
    for line in verdicts {
        assert!(markdown.contains(&format!("\n- {line}\n")), "{line} missing from the report");
    }
    assert!(markdown.contains("The MentalBench release does not label which data set or topic each context came from"), "{markdown}");
    assert!(markdown.contains("No repeated ratings"), "{markdown}");
    // 45 pairs of ten sources on each of nine measures.
    assert_eq!(markdown.lines().filter(|l| l.starts_with("| claude | ds_llama |")).count(), 9, "{markdown}");
    if let Some(why) = missing_browser() {
        println!("skipped the browser part: {why}");
        return;
    }
    screenshot_sections(out.path(), "report-mentalbench").await;
}

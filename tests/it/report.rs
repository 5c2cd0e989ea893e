//! `mhbench report`: from a rated run (the analyze tests' fixture run) through `analyze` and
//! `report` in the built binary, to the page opened in a real headless Chromium: no console
//! errors, no fetches, every figure on screen and drawn. Also the MentalBench release when
//! `../shared/data/mentalbench` is present, figures left out with their reason, and the error
//! for a folder that has not been analysed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::analyze::{mentalbench_dir, write_run};
use crate::common::browser::{connect, console_log, js, missing_browser, start_chromedriver};
use crate::common::{self, mhbench, run, stderr, stdout};

fn analyze(dir: &Path) {
    let output = run(mhbench().args(["analyze", "--bootstrap", "50", "--run"]).arg(dir));
    assert!(output.status.success(), "{}", stderr(&output));
}

/// Run `report --run dir`, check it printed the two paths, and return the figure ids written.
fn report(dir: &Path) -> BTreeSet<String> {
    let output = run(mhbench().args(["report", "--run"]).arg(dir));
    assert!(output.status.success(), "{}", stderr(&output));
    let out = dir.join("report");
    assert_eq!(stdout(&output), format!("{}\n{}\n", out.join("index.html").display(), out.join("report.md").display()));
    std::fs::read_dir(out.join("figures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The page is self-contained: no script, no stylesheet or image link, no URL but the SVG
/// namespace.
fn assert_self_contained(html: &str) {
    assert!(!html.contains("<script"), "the report needs no JavaScript");
    assert!(!html.contains("src="), "the report loads something");
    assert_eq!(html.matches("href=").count(), html.matches("href=\"#").count(), "the report links outside itself");
    let urls = html.matches("http").count();
    assert_eq!(urls, html.matches("http://www.w3.org/2000/svg").count(), "a URL other than the SVG namespace");
}

#[test]
fn report_of_a_rated_run_shows_scores_speed_price_and_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    // The manifest is read by `analyze` (performance is part of the analysis record).
    write_manifest(dir.path(), 2560 << 20);
    analyze(dir.path());
    let figures = report(dir.path());
    let expected = ["bland-altman-llm-gpt-4o", "composites", "distributions", "heatmap", "profiles", "quality-memory", "quality-price", "quality-speed"];
    assert_eq!(figures, expected.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>());

    let markdown = read(dir.path().join("report/report.md"));
    for id in expected {
        assert!(markdown.contains(&format!("](figures/{id}.svg)")), "report.md does not link {id}");
    }
    // Human panel: qwen3-4b's gap is 1/3 on every conversation; gpt-4o's is -1/2 on sample:2
    // (bob's safety 2) and 0 elsewhere, -1/8 on average: qwen3-4b has the largest gap. Four
    // conversations are below the minimum n of a bootstrap interval (10) and of the Wilcoxon
    // test (6), so neither is shown (before: a zero-width "[+0.33, +0.33]" and a p from the
    // normal approximation).
    assert!(
        markdown.contains("Largest cognitive-affective gap (CSS - ARS): qwen3-4b, +0.33 (95% CI: not enough data (n = 4)) (Wilcoxon test: not enough data (n = 4))."),
        "{markdown}"
    );
    // gpt-4o's CSS (5, 4.5, 5, 5) beats qwen3-4b's 11/3 in all four conversations: Friedman
    // would say p 0.046 from four blocks, below its minimum of 10; closed (gpt-4o) minus open
    // (qwen3-4b) = 4.875 - 3.667, its interval below the minimum too.
    assert!(markdown.contains("Friedman test across models on CSS: not enough data (n = 4)."), "{markdown}");
    assert!(markdown.contains("Closed minus open models on CSS: +1.21 (95% CI: not enough data (n = 4)) (4.88 vs 3.67)."), "{markdown}");
    assert!(!markdown.contains("-0.00") && !markdown.contains("-0.0 ") && !markdown.contains("-0.0 |"), "{markdown}");
    assert!(markdown.contains("## Methods and glossary"), "{markdown}");
    assert!(markdown.contains("### Small samples: the minimum n of each statistic"), "{markdown}");
    assert!(markdown.contains("50 resamples, seed"), "the bootstrap settings of this analysis: {markdown}");
    assert!(markdown.contains("- Friedman test across models: at least 10 conversations rated for every model;"), "{markdown}");
    // qwen3-4b: 4 replies of one batch, each 120 tokens and 1980.75 ms from request to reply,
    // all finished at the same instant: 480 tokens in 1.98 s of wall time = 242.3 tokens/s
    // (summing each reply's time said 60.6); median per-row latency 1.98 s. gpt-4o at 2.50 and
    // 10.00 USD per million tokens: (41 x 2.50 + 120 x 10.00) / 1e6 = 0.0013025 USD a reply.
    // The manifest's peak memory of qwen3-4b: 2560 MiB; none for the API model.
    assert!(markdown.contains("| qwen3-4b | local | 4 | 0 | 0 | 0 | 242.3 | 2.0 | 1.98 | 2560 | n/a |"), "{markdown}");
    assert!(markdown.contains("| gpt-4o | api | 4 | 0 | 0 | 0 | n/a | n/a | 1.98 | n/a | 1.30 |"), "{markdown}");
    assert!(markdown.contains("| Tokens/s of wall time | Wall time s | Median s per reply |"), "each figure says its measure: {markdown}");
    let memory = read(dir.path().join("report/figures/quality-memory.svg"));
    assert!(memory.contains("peak resident memory (MiB)") && memory.contains("qwen3-4b") && !memory.contains("gpt-4o"));
    // The judge left one reply unrated and could not parse another.
    assert!(markdown.contains("| llm:gpt-4o | llm | 8 | 6 | 1 | 1 | 0 | 0 |"), "{markdown}");
    assert!(markdown.contains("| Exam nerves can feel overwhelming... |"), "the worst replies are shown for reading");
    assert_self_contained(&read(dir.path().join("report/index.html")));
}

#[test]
fn a_figure_without_data_is_left_out_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    let path = dir.path().join("ratings.jsonl");
    let humans: String = read(path.clone()).lines().filter(|l| !l.contains("\"llm:")).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, humans).unwrap();
    analyze(dir.path());
    let figures = report(dir.path());
    assert!(!figures.iter().any(|f| f.starts_with("bland-altman")), "{figures:?}");
    let markdown = read(dir.path().join("report/report.md"));
    assert!(markdown.contains("- Bland-Altman plots of judges against humans: no LLM judge rated this run."), "{markdown}");
    // No manifest.json, so no peak memory.
    assert!(!figures.contains("quality-memory"), "{figures:?}");
    assert!(markdown.contains("- Quality against peak memory (local models): the run's manifest records no peak memory"), "{markdown}");
}

/// A manifest.json for the fixture run, as `generate` writes it: the local qwen3-4b with its peak
/// memory, the API gpt-4o without.
fn write_manifest(dir: &Path, qwen_peak_bytes: u64) {
    let records: Value = serde_json::from_str(&read(common::repo_root().join("tests/fixtures/records/records.json"))).unwrap();
    let model = |kind: &str, provider: &str, revision: &str| {
        json!({"kind": kind, "provider": provider, "device": "cpu", "revision": revision, "provenance": {}})
    };
    let mut qwen = model("local", "candle", "Qwen/Qwen3-4B@main");
    qwen["peak_rss_bytes"] = qwen_peak_bytes.into();
    let manifest = json!({
        "run_id": "fixture", "mhbench_version": "0.1.0", "git_commit": "unknown", "created_at": "2026-11-25T12:00:00Z",
        "dataset": {"path": "datasets/sample.jsonl", "sha256": "0", "conversations": 4},
        "prompt_id": "psychiatrist", "prompt_sha256": "0", "params": records["response"]["params"],
        "models": {"qwen3-4b": qwen, "gpt-4o": model("api", "openai", "gpt-4o")},
    });
    let parsed: mhbench::schema::RunManifest = serde_json::from_value(manifest.clone()).unwrap();
    assert_eq!(parsed.models.len(), 2);
    std::fs::write(dir.join("manifest.json"), serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
}

#[test]
fn report_before_analyze_names_the_command_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(mhbench().args(["report", "--run"]).arg(dir.path()));
    assert_eq!(output.status.code(), Some(2));
    let d = dir.path().display();
    assert_eq!(stderr(&output), format!("mhbench: error: rendering the report: {d}/analysis.json: not found; run `mhbench analyze --run {d}` first\n"));
}

#[test]
fn report_builds_from_the_mentalbench_release() {
    let Some(release) = mentalbench_dir() else {
        println!("skipped: ../shared/data/mentalbench/ratings.csv is absent");
        return;
    };
    let out = tempfile::tempdir().unwrap();
    common::analyze_release(&release, out.path(), 2);
    let figures = report(out.path());
    // Ten answer sources (nine models and the original replies) in one small-multiples figure
    // instead of ten radar charts; four LLM judges.
    assert!(!figures.iter().any(|f| f.starts_with("radar-")), "{figures:?}");
    let profiles = read(out.path().join("report/figures/profiles.svg"));
    assert!(profiles.contains("original (human reply)") && profiles.contains("gpt4omini"), "one panel per source");
    assert_eq!(figures.iter().filter(|f| f.starts_with("bland-altman-")).count(), 4, "{figures:?}");
    for id in ["composites", "heatmap", "distributions", "profiles"] {
        assert!(figures.contains(id), "{id} missing from {figures:?}");
    }
    let markdown = read(out.path().join("report/report.md"));
    assert!(markdown.contains("Quality against speed (local models): the folder has no responses/*.jsonl to measure speed or price from."));
    // The MentalAlign sensitivity table: every judge x attribute, both readings, the cause.
    assert!(markdown.contains("## MentalAlign: the published reading against the careful one"), "{markdown}");
    assert!(markdown.contains("- 231 zero-coded human cells and 0 zero-coded judge cells averaged in as 0, as published (careful: missing)"), "{markdown}");
    let analysis: Value = serde_json::from_str(&read(out.path().join("analysis.json"))).unwrap();
    let first = &analysis["mentalalign"]["sensitivity"][0];
    let cell = format!(
        "| {} | {} | {:.3} → {:.3}",
        first["judge"].as_str().unwrap(),
        first["attribute"].as_str().unwrap(),
        first["published"].as_f64().unwrap(),
        first["careful"].as_f64().unwrap()
    );
    assert!(markdown.contains(&cell), "{cell} not in {markdown}");
    let sensitivity_rows = markdown.lines().filter(|l| l.contains(" → ") && !l.contains("published → careful")).count();
    assert_eq!(sensitivity_rows, 28, "four judges x seven attributes");
    let heatmap = read(out.path().join("report/figures/heatmap.svg"));
    for attribute in ["guidance", "informativeness", "relevance", "safety", "empathy", "helpfulness", "understanding"] {
        assert!(heatmap.contains(attribute), "the heatmap lacks the rubric's {attribute}");
    }
    assert_self_contained(&read(out.path().join("report/index.html")));
}

const FIGURES: &str = "return Array.from(document.querySelectorAll('figure.figure')).map(f => { \
    const svg = f.querySelector('svg'); const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 }; \
    return { id: f.id, width: box.width, height: box.height, \
             drawn: svg ? svg.querySelectorAll('circle, rect, polygon, polyline, line, text').length : 0 }; })";

fn severe(entries: &[Value]) -> Vec<&Value> {
    entries.iter().filter(|e| e["level"] == "SEVERE").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_page_renders_in_chromium_without_console_errors_and_with_every_figure() {
    if let Some(why) = missing_browser() {
        println!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    analyze(dir.path());
    let ids = report(dir.path());
    let (_driver, port) = start_chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = connect(port, profile.path()).await;
    client.set_window_size(1280, 1000).await.unwrap();

    // Control: the log does catch a failed load, so an empty log below means something.
    let broken = dir.path().join("broken.html");
    std::fs::write(&broken, "<!doctype html><title>x</title><img src=\"missing.png\" alt=\"\">").unwrap();
    client.goto(&format!("file://{}", broken.display())).await.unwrap();
    assert!(!severe(&console_log(&client, port).await).is_empty(), "the console log missed a failed image load");

    client.goto(&format!("file://{}", dir.path().join("report/index.html").display())).await.unwrap();
    let log = console_log(&client, port).await;
    assert!(severe(&log).is_empty(), "console errors: {log:?}");
    assert_eq!(js(&client, "return performance.getEntriesByType('resource').length").await, json!(0), "the page fetched something");
    let figures = js(&client, FIGURES).await;
    let figures = figures.as_array().unwrap();
    let shown: BTreeSet<String> = figures.iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(shown, ids, "the page shows exactly the figures written to report/figures/");
    for figure in figures {
        assert!(figure["width"].as_f64().unwrap() > 100.0 && figure["height"].as_f64().unwrap() > 100.0, "figure too small or hidden: {figure}");
        assert!(figure["drawn"].as_u64().unwrap() > 10, "figure has nearly nothing drawn: {figure}");
    }
    let artifacts = common::repo_root().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join("report.png"), client.screenshot().await.unwrap()).unwrap();
    client.close().await.unwrap();
}

#[test]
fn report_help_names_the_run_folder() {
    let output = run(mhbench().args(["report", "--help"]));
    assert!(output.status.success());
    let help = stdout(&output);
    assert!(help.contains("--run <DIR>") && help.contains("run `mhbench analyze` first"), "{help}");
}

#[test]
fn an_analysis_of_another_layout_asks_for_a_fresh_analyze() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    analyze(dir.path());
    let path = dir.path().join("analysis.json");
    let current = mhbench::analysis::ANALYSIS_VERSION;
    let text = read(path.clone()).replacen(&format!("\"analysis_version\": {current}"), "\"analysis_version\": 1", 1);
    std::fs::write(&path, text).unwrap();
    let output = run(mhbench().args(["report", "--run"]).arg(dir.path()));
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        format!("mhbench: error: rendering the report: {}:1: analysis_version: 1 is not the supported {current}; rerun `mhbench analyze` with this mhbench\n", path.display())
    );
}

#[test]
fn judge_only_ratings_report_the_judge_panel_and_say_why_bland_altman_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    let path = dir.path().join("ratings.jsonl");
    let judges: String = read(path.clone()).lines().filter(|l| l.contains("\"llm:")).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, judges).unwrap();
    analyze(dir.path());
    report(dir.path());
    let markdown = read(dir.path().join("report/report.md"));
    assert!(markdown.contains("scores from the llm:gpt-4o (llm:gpt-4o) panel"), "{markdown}");
    assert!(markdown.contains("- Bland-Altman plots of judges against humans: no human ratings to compare the judges with."), "{markdown}");
    assert!(markdown.contains("Only one rater: no agreement to measure."), "{markdown}");
}

/// The fixture run's conversations as `generate` writes them, each with the data set's own
/// human reply (`reference_response`), as CounselChat has.
fn write_conversations(dir: &Path) {
    let lines: String = (1..=4)
        .map(|c| {
            json!({"id": format!("sample:{c}"), "source": "sample", "source_id": c.to_string(),
                   "context": format!("Message {c}: I cannot sleep before exams and my chest gets tight."),
                   "reference_response": format!("Counsellor {c}: That tightness is common; let us look at what happens the night before.")})
            .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(dir.join("conversations.jsonl"), lines).unwrap();
}

/// The scores table's rows of `markdown` (between its caption and the next blank line).
fn score_rows(markdown: &str) -> Vec<&str> {
    markdown.lines().skip_while(|l| *l != "**Scores per model**").skip(4).take_while(|l| l.starts_with('|')).collect()
}

#[test]
fn examples_show_best_median_worst_and_flagged_replies_under_the_message_beside_the_human_reply() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    write_conversations(dir.path());
    analyze(dir.path());
    report(dir.path());
    let markdown = read(dir.path().join("report/report.md"));
    let examples = markdown.split("## Example replies").nth(1).and_then(|s| s.split("## Failures and missing ratings").next()).unwrap_or_else(|| panic!("no examples section: {markdown}"));
    // gpt-4o by the human panel's mean of CSS and ARS: sample:2 is lowest (bob's safety 2), the
    // rest tie at 5 and keep conversation order, so best = sample:4, median = sample:1 (the lower
    // middle of four), worst = sample:2.
    let gpt = examples.split("### gpt-4o").nth(1).unwrap().split("### qwen3-4b").next().unwrap();
    let order: Vec<&str> = gpt.lines().filter(|l| l.starts_with("> **The person wrote")).collect();
    assert_eq!(order, ["> **The person wrote (sample:4):** Message 4: I cannot sleep before exams and my chest gets tight.", "> **The person wrote (sample:1):** Message 1: I cannot sleep before exams and my chest gets tight.", "> **The person wrote (sample:2):** Message 2: I cannot sleep before exams and my chest gets tight."], "{gpt}");
    assert!(gpt.contains("#### best: CSS 5.00, ARS 5.00") && gpt.contains("#### worst: CSS "), "{gpt}");
    assert!(gpt.contains("> **The data set's own human reply (not a model):** Counsellor 2: That tightness is common"), "{gpt}");
    assert!(gpt.contains("- alice: Warm, could name the fear more."), "rater comments: {gpt}");
    // bob flagged gpt-4o's reply to sample:2: it is listed again among the flagged replies.
    let flagged = examples.split("### Replies flagged for safety").nth(1).unwrap();
    assert!(flagged.contains("#### gpt-4o, sample:2: CSS ") && flagged.contains("Flagged for safety by bob."), "{flagged}");
    assert_eq!(flagged.matches("#### ").count(), 1, "one flagged reply: {flagged}");
    // The methods say what the run used.
    assert!(markdown.contains("- **CSS**: Cognitive Support score"), "{markdown}");
    assert!(markdown.contains("\"cannot rate\" included"), "{markdown}");
    let contents: Vec<&str> = markdown.lines().filter(|l| l.contains("](#")).collect();
    assert_eq!(contents.len(), markdown.matches("<a id=\"").count(), "every section is in the contents: {contents:?}");
    assert!(contents.iter().any(|l| l.ends_with("[Example replies](#examples)")), "{contents:?}");
}

#[test]
fn the_release_sets_its_human_reply_apart_from_the_models() {
    let Some(release) = mentalbench_dir() else {
        println!("skipped: ../shared/data/mentalbench/ratings.csv is absent");
        return;
    };
    let out = tempfile::tempdir().unwrap();
    common::analyze_release(&release, out.path(), 2);
    report(out.path());
    let markdown = read(out.path().join("report/report.md"));
    let rows = score_rows(&markdown);
    assert_eq!(rows.len(), 10, "{markdown}");
    assert!(rows[9].starts_with("| original (data set's human reply, not a model) | human reply |"), "the human reply comes last: {rows:?}");
    assert!(rows[..9].iter().all(|r| !r.contains("original")), "{rows:?}");
    let highest = markdown.lines().find(|l| l.starts_with("- Highest CSS: ")).unwrap();
    assert!(!highest.contains("original"), "the human reply is not ranked among the models: {highest}");
    assert!(markdown.contains("- The data set's own human reply (original), not a model and not ranked among them: CSS "), "{markdown}");
    let heatmap = read(out.path().join("report/figures/heatmap.svg"));
    assert!(heatmap.contains("original (human reply)"), "the heatmap labels the human reply");
    assert!(markdown.contains("The data holds no reply texts and no messages"), "{markdown}");
    assert!(markdown.contains("scores of 0 (cells left empty)"), "the release's missing cells are described: {markdown}");
    assert!(markdown.contains("- 9 models and the data set's own human reply answered 1000 conversations"), "{markdown}");
    // No axis reads "-0" (plotters' own tick formatter printed "-0.0" on the gap's axis).
    for entry in std::fs::read_dir(out.path().join("report/figures")).unwrap() {
        let path = entry.unwrap().path();
        let svg = read(path.clone());
        assert!(!svg.contains("\n-0.0\n") && !svg.contains(">-0.0<") && !svg.contains("\n-0\n") && !svg.contains(">-0<"), "{} has a negative zero", path.display());
    }
}

/// Every section of the page with its heading, and the contents list's targets.
const SECTIONS: &str = "return { sections: Array.from(document.querySelectorAll('section[id]')).map(s => [s.id, s.querySelector('h2') ? s.querySelector('h2').textContent : '']), \
    contents: Array.from(document.querySelectorAll('nav.toc a')).map(a => [a.getAttribute('href').slice(1), a.textContent]) }";

/// What runs past the right edge of the page: the page's own width against the window's, and
/// (where `tables` is true) each table against the box it sits in, as `[what, its width, room]`.
const OVERFLOW: &str = "const out = []; const root = document.documentElement; \
    if (root.scrollWidth > root.clientWidth) out.push(['page', root.scrollWidth, root.clientWidth]); \
    if (tables) for (const t of document.querySelectorAll('table')) { const room = t.parentElement.clientWidth; \
      if (t.scrollWidth > room + 1) out.push([t.querySelector('caption').textContent.slice(0, 60), t.scrollWidth, room]); } \
    for (const p of document.querySelectorAll('.turn .text')) { if (getComputedStyle(p).textAlign !== 'left' && getComputedStyle(p).textAlign !== 'start') out.push(['reply text aligned ' + getComputedStyle(p).textAlign, 0, 0]); } \
    return out;";

/// Save `bytes` as `target/test-artifacts/name` and print its path.
fn artifact(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = common::repo_root().join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    println!("screenshot: {}", path.display());
    path
}

/// Open `page`, screenshot each section (`report-<prefix>-<id>.png`), check the contents list
/// names exactly the sections, then at the width of an A4 page and of a phone check that nothing
/// runs past the edge, and print the page to `report-<prefix>.pdf`.
async fn sections_and_page_width(page: &Path, prefix: &str) -> Vec<String> {
    let (_driver, port) = start_chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = connect(port, profile.path()).await;
    client.set_window_size(1280, 1000).await.unwrap();
    client.goto(&format!("file://{}", page.display())).await.unwrap();
    let found = js(&client, SECTIONS).await;
    assert_eq!(found["sections"], found["contents"], "the contents list names every section, in order, by its heading");
    let ids: Vec<String> = found["sections"].as_array().unwrap().iter().map(|s| s[0].as_str().unwrap().to_owned()).collect();
    // A window as tall as the page, so each section's screenshot holds all of it.
    let height = js(&client, "return document.documentElement.scrollHeight").await.as_u64().unwrap();
    client.set_window_size(1280, u32::try_from(height.min(30_000)).unwrap()).await.unwrap();
    for id in &ids {
        let section = client.find(fantoccini::Locator::Id(id)).await.unwrap();
        artifact(&format!("report-{prefix}-{id}.png"), &section.screenshot().await.unwrap());
    }
    // 794 px is an A4 page's width at 96 dpi; print and screens this narrow share the rules
    // that wrap every table to the page. On a phone a table may scroll in its own box, the
    // page may not.
    for (width, name, tables) in [(794, "a4", true), (420, "phone", false)] {
        client.set_window_size(width, 1000).await.unwrap();
        client.goto(&format!("file://{}", page.display())).await.unwrap();
        let overflow = js(&client, &format!("const tables = {tables}; {OVERFLOW}")).await;
        assert_eq!(overflow, json!([]), "at {width} px wide something runs past the edge");
        artifact(&format!("report-{prefix}-{name}.png"), &client.screenshot().await.unwrap());
    }
    let pdf = client.print(fantoccini::wd::PrintConfiguration::builder().size(fantoccini::wd::PrintSize::A4).shrink_to_fit(false).build().unwrap()).await.unwrap();
    assert!(pdf.starts_with(b"%PDF"), "the page printed to a PDF");
    artifact(&format!("report-{prefix}.pdf"), &pdf);
    client.close().await.unwrap();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_report_section_is_listed_screenshot_and_fits_a_printed_page() {
    if let Some(why) = missing_browser() {
        println!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path());
    write_conversations(dir.path());
    write_manifest(dir.path(), 2560 << 20);
    analyze(dir.path());
    report(dir.path());
    let ids = sections_and_page_width(&dir.path().join("report/index.html"), "run").await;
    assert_eq!(ids, ["findings", "attribute-means", "variability", "comparisons", "breakdowns", "figures", "examples", "failures",
        "agreement", "verdicts", "test-retest", "methods"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_report_fits_a_printed_page() {
    if let Some(why) = missing_browser() {
        println!("skipped: {why}");
        return;
    }
    let Some(release) = mentalbench_dir() else {
        println!("skipped: ../shared/data/mentalbench/ratings.csv is absent");
        return;
    };
    let out = tempfile::tempdir().unwrap();
    common::analyze_release(&release, out.path(), 2);
    report(out.path());
    let ids = sections_and_page_width(&out.path().join("report/index.html"), "mentalbench").await;
    assert_eq!(ids, ["findings", "attribute-means", "variability", "comparisons", "breakdowns", "figures", "examples", "failures",
        "agreement", "verdicts", "test-retest", "mentalalign", "methods"]);
}

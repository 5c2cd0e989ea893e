//! `mhbench judge`: a real local judge (the default model) over a few real replies, proving the
//! parse path on real model text, parse failures recorded as such, and self-judging skipping;
//! and API judges against the fake providers of `api::fake` (real HTTP, each provider's wire
//! format), proving exact scores, the single repair request, honest parse failures,
//! concurrency, resume after a kill, and that judge ratings land in the run's rating store
//! without reaching the experts' page.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mhbench::rating::store::RatingStore;
use mhbench::schema::{Rating, RatingStatus};
use serde_json::Value;

use crate::api::anthropic::AnthropicFake;
use crate::api::fake::FakeServer;
use crate::api::google::GoogleFake;
use crate::api::openai::OpenaiFake;
use crate::common::{default_model, mhbench, repo_root, run, stderr, stdout};

/// Every judge rating in a run's rating store.
fn stored_ratings(run_dir: &Path) -> Vec<Rating> {
    RatingStore::open_or_create(&run_dir.join("ratings.sqlite")).unwrap().judge_ratings().unwrap()
}

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

    // The replies are gemma-3-270m's own: by default a judge never rates its own model's replies.
    let judge = |extra: &[&str]| {
        let mut cmd = mhbench();
        cmd.args(["judge", "--judge", "gemma-3-270m", "--max-new-tokens", "24", "--run"]).arg(&out).args(extra);
        run(&mut cmd)
    };
    let output = judge(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("0 rated, 0 parse failures (0 needed the repair request), 0 resumed, 3 skipped (own)"), "{}", stdout(&output));

    let output = judge(&["--include-own"]);
    let ratings = stored_ratings(&out);
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
            RatingStatus::CannotRate => panic!("a judge never says cannot rate: {rating:?}"),
        }
    }
    // Exit 1 exactly when some answer stayed unusable after the repair request.
    assert_eq!(output.status.code(), Some(if failures > 0 { 1 } else { 0 }), "{}", stdout(&output));
    assert!(stdout(&output).contains(&format!("{failures} parse failures")), "{}", stdout(&output));

    // A rerun resumes: nothing is rated twice.
    let output = judge(&["--include-own"]);
    assert!(stdout(&output).contains("3 resumed"), "{}", stdout(&output));
    assert_eq!(stored_ratings(&out).len(), 3);
}

// ---- API judges against the fake providers ------------------------------------------------

/// The shipped rubric's attributes, in order.
const ATTRIBUTES: [&str; 6] = ["guidance", "informativeness", "safety", "empathy", "helpfulness", "interpretation"];

/// The fake judge: each rated reply carries its tag (`judged-N`) and a directive
/// `[judge: TOKEN ...]`; the n-th answer given for that reply is TOKEN n, where `json:a,b,c,d,e,f`
/// is valid JSON with those six scores and `garbage` is prose without any JSON. The turn is
/// found from the transcript: the answers already given appear in it (the repair request
/// carries the judge's first answer back), and each answer names its tag and turn, so no two
/// are alike.
fn judge_script(transcript: &str) -> String {
    let Some(tag) = transcript.split_whitespace().find(|w| w.starts_with("judged-")) else {
        return "no tagged reply in this request".to_owned();
    };
    let directive = transcript
        .split_once("[judge:")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(tokens, _)| tokens.split_whitespace().collect::<Vec<_>>())
        .unwrap_or_default();
    let answers: Vec<String> = directive.iter().enumerate().map(|(turn, token)| answer(tag, turn, token)).collect();
    let turn = answers.iter().take_while(|a| transcript.contains(a.as_str())).count();
    answers.get(turn).cloned().unwrap_or_else(|| format!("{tag}: the script has no turn {turn}"))
}

fn answer(tag: &str, turn: usize, token: &str) -> String {
    match token.strip_prefix("json:") {
        Some(scores) => {
            let fields: Vec<String> = ATTRIBUTES.iter().zip(scores.split(',')).map(|(a, s)| format!("\"{a}\": {s}")).collect();
            format!("{{{}, \"rationale\": \"Turn {turn} on {tag}.\"}}", fields.join(", "))
        }
        None => format!("Turn {turn} on {tag}: a lovely reply, I would give it high marks."),
    }
}

/// A provider the judge reaches over HTTP.
#[derive(Debug, Clone, Copy)]
enum ApiProvider {
    Openai,
    Anthropic,
    Google,
}

impl ApiProvider {
    fn name(self) -> &'static str {
        match self {
            ApiProvider::Openai => "openai",
            ApiProvider::Anthropic => "anthropic",
            ApiProvider::Google => "google",
        }
    }
}

/// A fake provider with the judge script, a registry naming it `judge-<provider>`, and a run
/// folder with one reply per `(tag, directive, fault script)`.
struct ApiJudgeRun {
    server: FakeServer,
    _dir: tempfile::TempDir,
    registry: PathBuf,
    run: PathBuf,
    key_var: String,
    key: String,
    judge: String,
}

impl ApiJudgeRun {
    fn new(provider: ApiProvider, test: &str, replies: &[(&str, &str)]) -> Self {
        let key = format!("sk-judge-{test}-{:016x}", rand::random::<u64>());
        let server = match provider {
            ApiProvider::Openai => FakeServer::start_scripted(OpenaiFake { key: Some(key.clone()), compatible: false }, judge_script),
            ApiProvider::Anthropic => FakeServer::start_scripted(AnthropicFake { key: key.clone() }, judge_script),
            ApiProvider::Google => FakeServer::start_scripted(GoogleFake { key: key.clone() }, judge_script),
        };
        let base_url = match provider {
            ApiProvider::Openai => format!("{}/v1", server.origin),
            ApiProvider::Anthropic | ApiProvider::Google => server.origin.clone(),
        };
        let dir = tempfile::tempdir().unwrap();
        let key_var = format!("MHBENCH_TEST_JUDGE_{}_{}_KEY", test, provider.name()).to_uppercase().replace('-', "_");
        let judge = format!("judge-{}", provider.name());
        let registry = dir.path().join("models.toml");
        crate::common::link_datasets(dir.path());
        std::fs::write(
            &registry,
            format!(
                "[defaults]\nprompt = \"psychiatrist\"\nmax_new_tokens = 512\ntemperature = 0.7\ntop_p = 1.0\nseed = 2026\n\n\
                 [[models]]\nid = \"{judge}\"\nvendor = \"{vendor}\"\nkind = \"api\"\nfamily = \"Fake\"\nprovider = \"{provider}\"\n\
                 model = \"fake-model-1\"\napi_key_env = \"{key_var}\"\nbase_url = \"{base_url}\"\n\
                 price_input_per_mtok = 1.0\nprice_output_per_mtok = 2.0\nmax_concurrency = 4\n\
                 limits = {{ timeout_s = 30.0, max_retries = 3, backoff_base_ms = 1, backoff_max_ms = 20 }}\n",
                vendor = provider.name(),
                provider = provider.name(),
            ),
        )
        .unwrap();
        let run = dir.path().join("run");
        write_run(&run, replies);
        Self { server, _dir: dir, registry, run, key_var, key, judge }
    }

    fn command(&self, extra: &[&str]) -> Command {
        let mut cmd = mhbench();
        cmd.arg("--registry").arg(&self.registry).env(&self.key_var, &self.key);
        cmd.args(["judge", "--judge", &self.judge, "--run"]).arg(&self.run).args(extra);
        cmd
    }

    fn judge(&self, extra: &[&str]) -> Output {
        run(&mut self.command(extra))
    }

    fn rating(&self, tag: &str) -> Rating {
        let ratings = stored_ratings(&self.run);
        let mut matching = ratings.into_iter().filter(|r| r.response.conversation_id.as_str() == format!("sample:{tag}"));
        let rating = matching.next().unwrap_or_else(|| panic!("no rating of {tag}"));
        assert!(matching.next().is_none(), "two ratings of {tag}");
        rating
    }
}

/// A run folder with one reply of model `gen-a` per `(tag, directive + fault script)`, written
/// from the record templates in `tests/fixtures/records`.
fn write_run(run: &Path, replies: &[(&str, &str)]) {
    let templates: Value = serde_json::from_str(&std::fs::read_to_string(repo_root().join("tests/fixtures/records/records.json")).unwrap()).unwrap();
    let mut conversations = String::new();
    let mut responses = String::new();
    for (tag, script) in replies {
        let mut conversation = templates["conversation"].clone();
        conversation["id"] = Value::from(format!("sample:{tag}"));
        conversation["source_id"] = Value::from(*tag);
        conversation["context"] = Value::from(format!("{tag} feels anxious before exams."));
        conversations += &format!("{conversation}\n");
        let mut response = templates["response"].clone();
        response["run_id"] = Value::from("judge-test");
        response["conversation_id"] = Value::from(format!("sample:{tag}"));
        response["model_id"] = Value::from("gen-a");
        response["text"] = Value::from(format!("Exams are hard; breathe slowly. {script}"));
        responses += &format!("{response}\n");
    }
    std::fs::create_dir_all(run.join("responses")).unwrap();
    std::fs::write(run.join("conversations.jsonl"), conversations).unwrap();
    std::fs::write(run.join("responses/gen-a.jsonl"), responses).unwrap();
}

fn scores_of(rating: &Rating) -> Vec<u8> {
    ATTRIBUTES.iter().map(|a| rating.scores.get(*a).map_or(0, |s| s.get())).collect()
}

#[test]
fn api_judges_store_exact_scores_repair_once_and_record_parse_failures() {
    for provider in [ApiProvider::Openai, ApiProvider::Anthropic, ApiProvider::Google] {
        let setup = ApiJudgeRun::new(
            provider,
            "exact",
            &[
                ("judged-1", "[judge: json:4,3,5,2,4,1]"),
                ("judged-2", "[judge: garbage json:2,2,3,1,5,4]"),
                ("judged-3", "[judge: garbage garbage json:5,5,5,5,5,5]"),
            ],
        );
        let output = setup.judge(&[]);
        // One reply stayed unusable after its repair request: done, but exit 1.
        assert_eq!(output.status.code(), Some(1), "{provider:?}: {}", stderr(&output));
        assert!(
            stdout(&output).starts_with("2 rated, 1 parse failures (1 needed the repair request), 0 resumed"),
            "{provider:?}: {}",
            stdout(&output)
        );

        let valid = setup.rating("judged-1");
        assert_eq!(valid.status, RatingStatus::Complete);
        assert_eq!(scores_of(&valid), [4, 3, 5, 2, 4, 1], "{provider:?}: the exact scores sent");
        assert_eq!(valid.comment.as_deref(), Some("Turn 0 on judged-1."));
        assert_eq!(valid.rater_id.as_str(), format!("llm:judge-{}", provider.name()));
        assert_eq!(valid.rater_kind, mhbench::schema::RaterKind::Llm);
        assert_eq!(valid.rubric_version, mhbench::rubric::Rubric::load(&repo_root().join("datasets/rubric.toml")).unwrap().version);
        let params = valid.judge_params.as_ref().unwrap();
        assert_eq!((params.temperature, params.max_new_tokens), (0.0, 256), "the judge's defaults are recorded");
        assert_eq!(valid.raw_output, None, "no repair, nothing raw kept");
        assert_eq!(setup.server.requests_with("judged-1"), 1, "{provider:?}");

        let repaired = setup.rating("judged-2");
        assert_eq!(repaired.status, RatingStatus::Complete);
        assert_eq!(scores_of(&repaired), [2, 2, 3, 1, 5, 4], "{provider:?}: the scores of the repaired answer");
        assert_eq!(setup.server.requests_with("judged-2"), 2, "{provider:?}: the first request and exactly one repair");
        assert!(repaired.raw_output.as_deref().unwrap().starts_with("Turn 0 on judged-2: a lovely reply"), "{repaired:?}");

        let failed = setup.rating("judged-3");
        assert_eq!(failed.status, RatingStatus::ParseFailure);
        assert!(failed.scores.is_empty(), "{provider:?}: no score invented: {failed:?}");
        let raw = failed.raw_output.as_deref().unwrap();
        assert_eq!(
            raw,
            "Turn 0 on judged-3: a lovely reply, I would give it high marks.\n--- after repair request ---\n\
             Turn 1 on judged-3: a lovely reply, I would give it high marks.",
            "{provider:?}: both raw answers kept"
        );
        assert_eq!(failed.comment.as_deref(), Some("no JSON object found in the reply"));
        assert_eq!(setup.server.requests_with("judged-3"), 2, "{provider:?}: one repair, never a third request");
        assert!(!stdout(&output).contains(&setup.key) && !stderr(&output).contains(&setup.key), "the key leaked");
    }
}

#[test]
fn api_judge_runs_concurrently_and_a_rerun_adds_nothing() {
    let tags: Vec<String> = (1..=12).map(|i| format!("judged-{i}")).collect();
    // `wait` holds each first answer 200 ms, so concurrent requests overlap at the server.
    let replies: Vec<(&str, &str)> = tags.iter().map(|t| (t.as_str(), "[judge: json:3,3,3,3,3,3] [faults: wait]")).collect();
    let setup = ApiJudgeRun::new(ApiProvider::Anthropic, "concurrent", &replies);
    let output = setup.judge(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let in_flight = setup.server.max_in_flight();
    assert!((2..=4).contains(&in_flight), "max_concurrency 4 and 12 replies: {in_flight} at once");
    assert_eq!(stored_ratings(&setup.run).len(), 12);

    let output = setup.judge(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("0 rated, 0 parse failures (0 needed the repair request), 12 resumed"), "{}", stdout(&output));
    assert_eq!(stored_ratings(&setup.run).len(), 12, "no duplicates");
    assert_eq!(setup.server.requests(), 12, "the rerun asked nothing");
}

#[test]
fn api_judge_killed_mid_run_resumes_without_losing_or_repeating_a_rating() {
    // Batches of two: the first two answer at once, the next two stall 6 s (the fake's `slow`),
    // long enough to kill the judge while it waits for them.
    let replies = [
        ("judged-1", "[judge: json:1,2,3,4,5,1]"),
        ("judged-2", "[judge: json:2,3,4,5,1,2]"),
        ("judged-3", "[judge: json:3,4,5,1,2,3] [faults: slow]"),
        ("judged-4", "[judge: json:4,5,1,2,3,4] [faults: slow]"),
    ];
    let setup = ApiJudgeRun::new(ApiProvider::Openai, "killed", &replies);
    let mut child = setup.command(&["--batch-size", "2"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while stored_count(&setup.run) < 2 {
        assert!(started.elapsed() < Duration::from_secs(30), "the first batch never landed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before: Vec<Rating> = stored_ratings(&setup.run);
    assert_eq!(before.len(), 2, "killed while the second batch was in flight");

    let output = setup.judge(&["--batch-size", "2"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("2 rated, 0 parse failures (0 needed the repair request), 2 resumed"), "{}", stdout(&output));
    let after = stored_ratings(&setup.run);
    assert_eq!(after.len(), 4, "every reply rated exactly once");
    for rating in &before {
        assert!(after.contains(rating), "a rating from before the kill was changed: {rating:?}");
    }
    assert_eq!(setup.server.requests_with("judged-1"), 1, "rated before the kill, never asked again");
    assert_eq!(setup.server.requests_with("judged-2"), 1);
    assert_eq!(scores_of(&setup.rating("judged-4")), [4, 5, 1, 2, 3, 4]);
}

/// Judge ratings in the store so far; 0 while the judge is still creating it.
fn stored_count(run_dir: &Path) -> usize {
    let path = run_dir.join("ratings.sqlite");
    if !path.is_file() {
        return 0;
    }
    rusqlite::Connection::open(&path)
        .and_then(|conn| conn.query_row("SELECT COUNT(*) FROM judge_ratings", [], |row| row.get(0)))
        .unwrap_or(0)
}

#[test]
fn judge_ratings_share_the_rating_store_but_stay_off_the_experts_page() {
    let replies = [("judged-1", "[judge: json:1,1,1,1,1,1]"), ("judged-2", "[judge: json:2,2,2,2,2,2]"), ("judged-3", "[judge: json:3,3,3,3,3,3]")];
    let setup = ApiJudgeRun::new(ApiProvider::Google, "blinding", &replies);
    // Judged before any plan: the store exists with judge ratings only, and a plan still goes in.
    assert!(setup.judge(&[]).status.success());
    let rate = |args: &[&str]| {
        let mut cmd = mhbench();
        cmd.arg("rate").args(args).arg("--run").arg(&setup.run);
        run(&mut cmd)
    };
    let plan = rate(&["plan", "--raters", "alice,bob", "--seed", "1"]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    let status = rate(&["status"]);
    assert!(status.status.success(), "{}", stderr(&status));
    let table = stdout(&status);
    let raters: Vec<&str> = table.lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(raters, ["alice", "bob"], "the judge is no rater of the page");
    let export = rate(&["export"]);
    assert!(export.status.success() && stdout(&export).is_empty(), "no human rating yet, and no judge's: {}", stdout(&export));
    // Re-planning discards the plan and human ratings, never the judge's.
    let replan = rate(&["plan", "--raters", "carol", "--per-response", "1", "--replace"]);
    assert!(replan.status.success(), "{}", stderr(&replan));
    assert_eq!(stored_ratings(&setup.run).len(), 3);
    let again = setup.judge(&[]);
    assert!(stdout(&again).contains("3 resumed"), "{}", stdout(&again));
}

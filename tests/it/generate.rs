//! `mhbench generate` and `mhbench merge`: real runs of the default model, killed, resumed,
//! sharded and merged, with nothing lost or duplicated.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mhbench::schema::{FinishReason, ResponseRecord, RunManifest};

use crate::common::{default_model, mhbench, run, stderr, stdout};

const SAMPLE: &str = "datasets/sample.jsonl";
const MODEL: &str = "gemma-3-270m";

fn sample_ids() -> BTreeSet<String> {
    let text = std::fs::read_to_string(crate::common::repo_root().join(SAMPLE)).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every record of a response file, asserting each line parses.
fn records(path: &Path) -> Vec<ResponseRecord> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "{} ends with a torn line", path.display());
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect()
}

/// The conversation ids answered, asserting none is answered twice.
fn answered_once(path: &Path) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for record in records(path) {
        assert!(ids.insert(record.conversation_id.to_string()), "{} answered twice", record.conversation_id);
    }
    ids
}

fn generate(out: &Path, extra: &[&str]) -> Command {
    let mut cmd = mhbench();
    cmd.args(["generate", "--dataset", SAMPLE, "--models", MODEL, "--temperature", "0", "--out"]).arg(out).args(extra);
    cmd
}

macro_rules! require_model {
    () => {
        if default_model().is_none() {
            eprintln!("skipped: models/gemma-3-270m-q4_k_m.gguf absent; run scripts/fetch-default-model.sh");
            return;
        }
    };
}

#[test]
fn real_run_writes_valid_records_and_manifest() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let output = run(&mut generate(&out, &["--max-new-tokens", "6"]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("tok/s"), "{}", stdout(&output));
    let file = out.join("responses").join(format!("{MODEL}.jsonl"));
    assert_eq!(answered_once(&file), sample_ids());
    for record in records(&file) {
        assert_eq!(record.model_id.as_str(), MODEL);
        assert_eq!(record.run_id.as_str(), "demo");
        assert_eq!(record.params.max_new_tokens, 6);
        let usage = record.usage.expect("local replies count tokens");
        assert!(usage.completion_tokens <= 6 && usage.prompt_tokens > 20, "{usage:?}");
        assert!(matches!(record.finish_reason, FinishReason::Stop | FinishReason::Length), "{record:?}");
        assert!(record.prompt.messages[0].content.contains("psychiatrist"));
    }
    let manifest: RunManifest = serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let model = &manifest.models[&mhbench::schema::ModelId::from(MODEL)];
    assert_eq!(model.device, "cpu");
    assert!(!manifest.dataset.sha256.is_empty() && !manifest.prompt_sha256.is_empty());
    // Peak memory while the model loaded and answered: at least its weights (read into memory
    // at load), and not absurdly more.
    let weights = std::fs::metadata(default_model().unwrap()).unwrap().len();
    let peak = model.peak_rss_bytes.expect("generate records a local model's peak memory on Linux");
    assert!(peak > weights && peak < 4 * weights, "peak {peak} for {weights} bytes of weights");
}

/// Starts `generate` into `out`, SIGKILLs it once two records are on disk, reruns it and checks
/// that the rerun resumed exactly what was there and every conversation is answered once.
/// Returns the responses file.
fn kill_after_two_records_and_resume(out: &Path, args: &[&str]) -> std::path::PathBuf {
    let mut child = generate(out, args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let file = out.join("responses").join(format!("{MODEL}.jsonl"));
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::read_to_string(&file).map(|t| t.lines().count()).unwrap_or(0) < 2 {
        assert!(Instant::now() < deadline, "no records within 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = answered_once(&file);
    assert!(before.len() < sample_ids().len(), "the run finished before it could be killed");
    let output = run(&mut generate(out, args));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains(&format!("{} resumed", before.len())), "{}", stdout(&output));
    assert_eq!(answered_once(&file), sample_ids());
    file
}

#[test]
fn killed_run_resumes_without_loss_or_duplicates() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("killed");
    let args = ["--max-new-tokens", "24", "--batch-size", "1"];
    kill_after_two_records_and_resume(&out, &args);
}

/// The text of every reply, by conversation id.
fn texts(path: &Path) -> std::collections::BTreeMap<String, String> {
    records(path).into_iter().map(|r| (r.conversation_id.to_string(), r.text)).collect()
}

/// Continuous batching (4 slots, each refilled as soon as its reply ends, records appended in
/// order of completion) killed mid-run and resumed: every conversation answered once, each with
/// the reply it gets one at a time, and each record timed as its own row.
#[test]
fn continuous_batching_killed_and_resumed_gives_the_replies_of_one_at_a_time() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let alone = dir.path().join("alone");
    let output = run(&mut generate(&alone, &["--max-new-tokens", "24", "--batch-size", "1", "--static-batches"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let out = dir.path().join("continuous");
    let args = ["--max-new-tokens", "24", "--batch-size", "4"];
    let file = kill_after_two_records_and_resume(&out, &args);
    assert_eq!(texts(&file), texts(&alone.join("responses").join(format!("{MODEL}.jsonl"))));
    let records = records(&file);
    for r in &records {
        let (ttft, prefill, decode) = (r.timings.ttft_ms.unwrap(), r.timings.prefill_ms.unwrap(), r.timings.decode_ms.unwrap());
        assert!(prefill > 0.0 && ttft >= prefill && (r.timings.total_ms - (ttft + decode)).abs() < 1e-6, "{:?}", r.timings);
        assert!((1..=4).contains(&r.batch_size), "{}", r.batch_size);
    }
    assert!(records.iter().any(|r| r.batch_size == 4), "4 slots never decoded together");
}

/// Two real `generate` processes on one run folder: the second is refused at once, naming the
/// first (pid and host from the lock file), and writes nothing; the first answers every
/// conversation once; once it has ended the lock is free again.
#[test]
fn a_second_generate_on_a_run_folder_in_use_is_refused_by_name() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("locked");
    let args = ["--max-new-tokens", "48", "--batch-size", "1"];
    let mut first = generate(&out, &args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let file = out.join("responses").join(format!("{MODEL}.jsonl"));
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::read_to_string(&file).map(|t| t.lines().count()).unwrap_or(0) < 1 {
        assert!(Instant::now() < deadline, "no record within 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = run(&mut generate(&out, &args));
    let during = std::fs::read_to_string(&file).unwrap().lines().count();
    let first_status = first.wait().unwrap();
    assert!(during < sample_ids().len(), "the first run ended before the second tried; the test proves nothing");
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    let err = stderr(&second);
    let lock = out.join(".lock");
    assert!(
        err.contains(&format!("{}: this run folder is in use by mhbench generate (pid {}, host ", lock.display(), first.id())),
        "{err}"
    );
    assert!(first_status.success());
    assert_eq!(answered_once(&file), sample_ids());
    let output = run(&mut generate(&out, &args));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains(&format!("0 new replies ({} resumed", sample_ids().len())), "{}", stdout(&output));
}

#[test]
fn torn_last_line_is_repaired_on_resume() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("torn");
    let args = ["--max-new-tokens", "2"];
    assert!(run(&mut generate(&out, &args)).status.success());
    let file = out.join("responses").join(format!("{MODEL}.jsonl"));
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let last = lines.pop().unwrap();
    let torn = format!("{}\n{}", lines.join("\n"), &last[..last.len() / 2]);
    std::fs::write(&file, torn).unwrap();
    let output = run(&mut generate(&out, &args));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("torn last line"), "{}", stderr(&output));
    assert!(stdout(&output).contains(&format!("1 new replies ({} resumed", lines.len())), "{}", stdout(&output));
    assert_eq!(answered_once(&file), sample_ids());
}

/// Resume is keyed by (run, conversation, model): a record carrying another model's id does not
/// answer this model's conversation (it is generated again, the other record left alone), and
/// a record of another run is refused by `file:line` before anything runs.
#[test]
fn resume_counts_only_this_runs_records_of_this_model() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keyed");
    let args = ["--max-new-tokens", "2"];
    assert!(run(&mut generate(&out, &args)).status.success());
    let file = out.join("responses").join(format!("{MODEL}.jsonl"));
    let edit_line = |index: usize, edit: &dyn Fn(&mut ResponseRecord)| {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let mut record: ResponseRecord = serde_json::from_str(&lines[index]).unwrap();
        edit(&mut record);
        lines[index] = serde_json::to_string(&record).unwrap();
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    };
    edit_line(0, &|r| r.model_id = mhbench::schema::ModelId::from("another-model"));
    let output = run(&mut generate(&out, &args));
    assert!(output.status.success(), "{}", stderr(&output));
    let n = sample_ids().len();
    assert!(stdout(&output).contains(&format!("1 new replies ({} resumed", n - 1)), "{}", stdout(&output));
    let all = records(&file);
    let mine: BTreeSet<String> = all.iter().filter(|r| r.model_id.as_str() == MODEL).map(|r| r.conversation_id.to_string()).collect();
    assert_eq!(mine, sample_ids());
    assert_eq!(all.len(), n + 1, "the other model's record is kept, not overwritten");

    edit_line(1, &|r| r.run_id = mhbench::schema::RunId("someone-elses-run".to_owned()));
    let output = run(&mut generate(&out, &args));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let err = stderr(&output);
    assert!(err.contains(&format!("{}:2: run_id: `someone-elses-run` is not this run (`keyed`)", file.display())), "{err}");
}

/// A data set with the sample's conversations and one far beyond the model's context: in a
/// batch of 4, the long one is refused before any compute with its reason and token count
/// recorded, its batch-mates are answered; a rerun asks again for the failed pair by default
/// (one record per pair after it), and `--keep-failed` keeps it.
#[test]
fn an_over_long_prompt_fails_alone_with_its_reason_and_a_rerun_retries_it() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let sample = std::fs::read_to_string(crate::common::repo_root().join(SAMPLE)).unwrap();
    let mut long: serde_json::Value = serde_json::from_str(sample.lines().next().unwrap()).unwrap();
    long["id"] = "sample:long".into();
    long["source_id"] = "long".into();
    long["context"] = "I keep worrying that every small mistake at work will get me fired. ".repeat(3000).into();
    let dataset = dir.path().join("with-long.jsonl");
    std::fs::write(&dataset, format!("{}\n{}\n", sample.trim_end(), long)).unwrap();
    let out = dir.path().join("long");
    let generate_long = |extra: &[&str]| {
        let mut cmd = mhbench();
        cmd.args(["generate", "--models", MODEL, "--temperature", "0", "--max-new-tokens", "4", "--batch-size", "4", "--dataset"])
            .arg(&dataset)
            .arg("--out")
            .arg(&out)
            .args(extra);
        run(&mut cmd)
    };
    let n = sample_ids().len();
    let output = generate_long(&[]);
    assert_eq!(output.status.code(), Some(1), "a failed reply makes the run unclean: {}", stderr(&output));
    assert!(stdout(&output).contains(&format!("{} new replies (0 resumed, 1 failed", n + 1)), "{}", stdout(&output));
    let file = out.join("responses").join(format!("{MODEL}.jsonl"));
    let check = |records: &[ResponseRecord]| {
        let mut ids = sample_ids();
        ids.insert("sample:long".to_owned());
        assert_eq!(answered_once(&file), ids);
        for r in records {
            if r.conversation_id.as_str() == "sample:long" {
                assert_eq!(r.finish_reason, FinishReason::Error);
                let error = r.error.as_deref().unwrap();
                assert!(error.starts_with("prompt too long: ") && error.contains("refused before any compute"), "{error}");
                let usage = r.usage.expect("the refused prompt's token count is recorded");
                let context: u32 = error.split("model's context of ").nth(1).and_then(|t| t.split(' ').next()).unwrap().parse().unwrap();
                assert!(usage.prompt_tokens >= context && usage.completion_tokens == 0, "{usage:?} {error}");
                assert!(error.contains(&format!("{} tokens leave no room", usage.prompt_tokens)), "{error}");
            } else {
                assert!(matches!(r.finish_reason, FinishReason::Stop | FinishReason::Length), "{r:?}");
            }
        }
    };
    check(&records(&file));
    let output = generate_long(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stdout(&output).contains(&format!("1 new replies ({n} resumed, 1 failed, 1 earlier failures retried)")), "{}", stdout(&output));
    check(&records(&file));
    let output = generate_long(&["--keep-failed"]);
    assert!(stdout(&output).contains(&format!("0 new replies ({} resumed, 0 failed, 0 earlier", n + 1)), "{}", stdout(&output));
    check(&records(&file));
}

#[test]
fn changed_params_are_refused_by_name_unless_new_run() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("params");
    assert!(run(&mut generate(&out, &["--max-new-tokens", "2"])).status.success());
    let output = run(&mut generate(&out, &["--max-new-tokens", "3"]));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("holds a run with other settings") && err.contains("params:"), "{err}");
    assert!(err.contains("\"max_new_tokens\":2") && err.contains("--new-run"), "{err}");
    let output = run(&mut generate(&out, &["--max-new-tokens", "3", "--new-run"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let aside: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(aside.iter().any(|n| n.starts_with("params.replaced-")), "{aside:?}");
}

#[test]
fn two_shards_merge_into_the_unsharded_set() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let args = ["--max-new-tokens", "2"];
    let mut shards = Vec::new();
    for k in 1..=2 {
        let out = dir.path().join(format!("shard{k}"));
        let shard = format!("{k}/2");
        let output = run(&mut generate(&out, &[args[0], args[1], "--shard", &shard, "--run-id", "sharded"]));
        assert!(output.status.success(), "{}", stderr(&output));
        shards.push(out);
    }
    let merged = dir.path().join("merged");
    let output = run(mhbench().args(["merge", "--out"]).arg(&merged).args(&shards));
    assert!(output.status.success(), "{}", stderr(&output));
    let file = merged.join("responses").join(format!("{MODEL}.jsonl"));
    assert_eq!(answered_once(&file), sample_ids());
    let manifest: RunManifest = serde_json::from_str(&std::fs::read_to_string(merged.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest.shard, None);
    assert_eq!(manifest.merged_from.len(), 2);
    // A shard merged twice is refused.
    let again = dir.path().join("again");
    let output = run(mhbench().args(["merge", "--out"]).arg(&again).arg(&shards[0]).arg(&shards[0]));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("repeats"), "{}", stderr(&output));
}

#[test]
fn unknown_model_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(&mut mhbench().args(["generate", "--models", "gpt-5", "--out"]).arg(dir.path().join("x")));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("unknown model `gpt-5`; known models: gemma-3-270m, llama-3.1-8b-instruct"), "{}", stderr(&output));
}

#[test]
fn invalid_dataset_line_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("bad.jsonl");
    std::fs::write(&dataset, "{\"id\":\"sample:1\",\"source\":\"sample\",\"source_id\":\"1\",\"context\":\"hi\"}\n{\"id\":\"sample:2\",\"source\":\"forum\",\"source_id\":\"2\",\"context\":\"x\"}\n").unwrap();
    let output = run(mhbench().args(["generate", "--dataset"]).arg(&dataset).arg("--out").arg(dir.path().join("r")));
    assert_eq!(output.status.code(), Some(2));
    let expected = format!("{}:2: source: unknown variant `forum`", dataset.display());
    assert!(stderr(&output).contains(&expected), "{}", stderr(&output));
}

#[test]
fn dry_run_prices_api_models_without_calling_them() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(mhbench().args(["generate", "--models", "gpt-4o,gemma-3-270m", "--dry-run", "--out"]).arg(dir.path().join("plan")));
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    let gpt = table.lines().find(|l| l.starts_with("gpt-4o")).unwrap();
    // 12 requests x 512 tokens at 10 USD/M = 0.06144 USD of completions, plus the prompt estimate.
    let cost: f64 = gpt.split_whitespace().last().unwrap().parse().unwrap();
    assert!(cost > 0.06144 && cost < 0.07, "{gpt}");
    assert!(!dir.path().join("plan").exists(), "a dry run writes nothing");
}

#[test]
fn a_dry_run_without_api_models_costs_zero_not_minus_zero() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(mhbench().args(["generate", "--models", "gemma-3-270m", "--dry-run", "--out"]).arg(dir.path().join("plan")));
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    assert!(table.contains("API cost at most: 0.0000 USD"), "{table}");
}

/// A study model whose weights are not here: offline, the run stops at once naming the cache and
/// the fetch command; online but unreachable, hf-hub's download fails fast with the same advice.
#[test]
fn missing_study_weights_are_fetched_through_the_hub_or_named() {
    let (dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let study = |offline: bool| {
        let mut cmd = mhbench();
        cmd.args(["generate", "--dataset", SAMPLE, "--models", "llama-3.1-8b-instruct", "--out"])
            .arg(dir.path().join(if offline { "off" } else { "on" }))
            .env("HF_HOME", cache.path());
        if offline {
            cmd.env("HF_HUB_OFFLINE", "1");
        } else {
            // Port 9 on loopback refuses at once, standing in for "no network".
            cmd.env_remove("HF_HUB_OFFLINE").env("HF_ENDPOINT", "http://127.0.0.1:9");
        }
        run(&mut cmd)
    };
    let fetch = "fetch them with: huggingface-cli download bartowski/Meta-Llama-3.1-8B-Instruct-GGUF \
                 Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf --revision main";
    let offline = study(true);
    assert_ne!(offline.status.code(), Some(0));
    // A model that cannot open ends its part of the run; the summary line says why.
    let err = stdout(&offline) + &stderr(&offline);
    assert!(err.contains(fetch), "{err}");
    assert!(err.contains(&format!("not in the Hugging Face cache at {}/hub and HF_HUB_OFFLINE=1 forbids downloading",
        cache.path().display())), "{err}");
    let unreachable = study(false);
    assert_ne!(unreachable.status.code(), Some(0));
    let err = stdout(&unreachable) + &stderr(&unreachable);
    assert!(err.contains(fetch) && err.contains("download failed"), "{err}");
}

/// A newcomer's run from another folder: `--registry` names the project, and the data set,
/// weights and named prompt defaults resolve beside it; `--prompt` given as a relative path is
/// read from the current folder as typed. The run ends by naming its folder and the next steps.
#[test]
fn from_another_folder_defaults_resolve_beside_the_registry_and_the_run_names_its_next_steps() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let registry = crate::common::repo_root().join("models.toml");
    let generate_here = |extra: &[&str]| {
        let mut cmd = mhbench();
        cmd.current_dir(dir.path()).arg("--registry").arg(&registry);
        cmd.args(["generate", "--models", MODEL, "--temperature", "0", "--max-new-tokens", "2"]).args(extra);
        run(&mut cmd)
    };
    let output = generate_here(&["--out", "first"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(answered_once(&dir.path().join("first/responses").join(format!("{MODEL}.jsonl"))), sample_ids());
    let err = stderr(&output);
    let closing: Vec<&str> = err.lines().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect();
    let r = registry.display();
    assert_eq!(
        closing,
        [
            "run folder: first".to_owned(),
            "next:".to_owned(),
            format!("  human raters:  mhbench --registry {r} rate plan --run first --raters alice,bob"),
            format!("  an LLM judge:  mhbench --registry {r} judge --run first --judge MODEL"),
            format!("  statistics:    mhbench --registry {r} analyze --run first"),
            "  the report:    mhbench report --run first".to_owned(),
        ],
        "{err}"
    );
    // A prompt file beside the user, named by its relative path, not looked up in datasets/prompts.
    let named = std::fs::read_to_string(crate::common::repo_root().join("datasets/prompts/psychiatrist.toml")).unwrap();
    let mine = named.replacen("You are a psychiatrist", "(my own wording) You are a psychiatrist", 1);
    assert_ne!(mine, named);
    std::fs::create_dir(dir.path().join("prompts")).unwrap();
    std::fs::write(dir.path().join("prompts/mine.toml"), mine).unwrap();
    let output = generate_here(&["--out", "second", "--prompt", "prompts/mine.toml"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let replies = records(&dir.path().join("second/responses").join(format!("{MODEL}.jsonl")));
    assert_eq!(replies.len(), sample_ids().len());
    assert!(replies.iter().all(|r| r.prompt.messages.last().unwrap().content.contains("(my own wording) ")));
}

#[test]
fn a_prompt_is_a_path_as_typed_or_a_named_one_and_neither_names_both_places() {
    let dir = tempfile::tempdir().unwrap();
    let registry = crate::common::repo_root().join("models.toml");
    let dry_run = |prompt: &str| {
        let mut cmd = mhbench();
        cmd.current_dir(dir.path()).arg("--registry").arg(&registry);
        cmd.args(["generate", "--models", MODEL, "--dry-run", "--out", "plan", "--prompt", prompt]);
        run(&mut cmd)
    };
    // A bare name that is no file here is the named prompt beside the registry.
    let output = dry_run("psychiatrist");
    assert!(output.status.success(), "{}", stderr(&output));
    let named = crate::common::repo_root().join("datasets/prompts/nosuch.toml");
    let output = dry_run("nosuch");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        format!(
            "mhbench: error: reading the prompt: --prompt nosuch: no file `nosuch` in the current directory and no named prompt {}; \
             give the path of a prompt .toml file or the name of one in {}\n",
            named.display(),
            named.parent().unwrap().display()
        )
    );
    // A path is only ever a path: not joined onto the prompts folder.
    let output = dry_run("datasets/prompts/psychiatrist.toml");
    assert_eq!(
        stderr(&output),
        "mhbench: error: reading the prompt: --prompt datasets/prompts/psychiatrist.toml: no such file (a path is taken from the current directory)\n"
    );
}

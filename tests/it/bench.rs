//! `mhbench bench`: real runs of the default model at tiny sizes, checking that every output
//! format parses and carries the samples, the environment and the memory readings, that prompt
//! ids from a file reach the model (greedy tokens equal llama.cpp's), and that the dataset mode
//! goes through `generate`'s path. Speeds are never asserted.

use std::path::Path;

use mhbench::bench::record::{BenchReport, JsonlLine, TestKind};

use crate::common::{default_model, mhbench, repo_root, run, stderr, stdout};

/// The default model's registry sha256.
const SHA256: &str = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";
/// Gemma 3 270M's KV bytes per column per row: 18 blocks × (k, v) × 1 head × 256 dims × f32.
const KV_BYTES_PER_COLUMN: u64 = 18 * 2 * 256 * 4;

macro_rules! require_model {
    () => {
        if default_model().is_none() {
            eprintln!("skipped: models/gemma-3-270m-q4_k_m.gguf absent; run scripts/fetch-default-model.sh");
            return;
        }
    };
}

fn bench(args: &[&str]) -> String {
    let output = run(mhbench().args(["bench", "--threads", "2", "--repetitions", "1", "--warmup", "0"]).args(args));
    assert!(output.status.success(), "exit {:?}\n{}", output.status, stderr(&output));
    stdout(&output)
}

#[test]
fn json_sweep_carries_samples_env_memory_and_model() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.json");
    let printed = bench(&[
        "--pp", "16", "--tg", "4", "--batch", "1,2", "--depth", "0,16", "--greedy-tokens", "3", "--output", "json",
        "--out", out.to_str().unwrap(),
    ]);
    assert_eq!(printed.trim(), out.display().to_string());
    let report: BenchReport = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report.env.threads, 2);
    assert!(!report.env.cpu_model.is_empty() && !report.env.git_commit.is_empty());
    assert_eq!(report.env.device, "cpu");
    assert_eq!(report.model.sha256, SHA256);
    assert!(report.model.file_bytes > 200_000_000);
    assert!(report.model.tensor_types.get("Q4K").is_some_and(|&n| n > 0), "{:?}", report.model.tensor_types);
    let names: Vec<(String, usize)> = report.records.iter().map(|r| (r.name(), r.batch)).collect();
    let expected = [
        ("pp16", 1), ("tg4", 1), ("pp16", 2), ("tg4", 2),
        ("pp16 @ d16", 1), ("tg4 @ d16", 1), ("pp16 @ d16", 2), ("tg4 @ d16", 2),
    ];
    assert_eq!(names, expected.map(|(n, b)| (n.to_owned(), b)));
    for r in &report.records {
        assert_eq!(r.samples_tok_per_s.len(), 1, "{}", r.name());
        assert!(r.samples_tok_per_s[0] > 0.0 && r.samples_tok_per_s[0].is_finite());
        assert_eq!(r.tok_per_s.mean, r.samples_tok_per_s[0]);
        assert!((r.per_sequence_tok_per_s * r.batch as f64 - r.tok_per_s.mean).abs() < 1e-9);
        let columns = (r.depth + r.n_prompt + r.n_gen) as u64;
        assert_eq!(r.memory.kv_cache_bytes, KV_BYTES_PER_COLUMN * columns * r.batch as u64, "{}", r.name());
        let after_load = r.memory.after_load_rss_bytes.expect("Linux reports VmRSS");
        assert!(after_load > 100 << 20, "{after_load}");
        // Issue #3: nothing vocabulary- or context-sized is materialised twice at load, so the
        // resident size after load stays within 1.5x of the weights' file.
        assert!(after_load * 2 <= report.model.file_bytes * 3,
            "resident after load {after_load} > 1.5 x file {}", report.model.file_bytes);
        assert!(r.memory.prefill_peak_rss_bytes.is_some());
        assert_eq!(r.memory.decode_peak_rss_bytes.is_some(), r.test == TestKind::Tg, "{}", r.name());
        // The memory-bandwidth bound: tg only; at least the file's tensors less the embedding
        // table (tied: all of it) are read per step, shared by the batch.
        assert_eq!(r.bound_tok_per_s.is_some(), r.test == TestKind::Tg, "{}", r.name());
        if let Some(bytes) = r.decode_bytes_per_token {
            assert!(bytes * r.batch as f64 > report.model.file_bytes as f64 * 0.9, "{}: {bytes}", r.name());
        }
    }
    let bandwidth = report.read_bandwidth.expect("CPU sweeps measure the read bandwidth");
    assert_eq!(bandwidth.threads, 2);
    for r in report.records.iter().filter(|r| r.test == TestKind::Tg) {
        let expected = bandwidth.bytes_per_s / r.decode_bytes_per_token.unwrap();
        assert!((r.bound_tok_per_s.unwrap() - expected).abs() < 1e-9 * expected, "{}", r.name());
    }
    let greedy = report.greedy.expect("--greedy-tokens 3 reports tokens");
    assert_eq!((greedy.prompt.len(), greedy.tokens.len()), (16, 3));
}

#[test]
fn jsonl_csv_and_table_outputs_parse() {
    require_model!();
    let sizes = ["--pp", "8", "--tg", "2", "--batch", "1", "--depth", "0"];
    let jsonl = bench(&[&sizes[..], &["--output", "jsonl"]].concat());
    let lines: Vec<JsonlLine> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect();
    assert_eq!(lines.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["pp8", "tg2"]);
    assert!(lines.iter().all(|l| l.env.threads == 2 && l.model.sha256 == SHA256 && l.record.samples_tok_per_s.len() == 1));

    let csv_text = bench(&[&sizes[..], &["--output", "csv"]].concat());
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    for name in ["samples", "after_load_rss_bytes", "kv_cache_bytes", "cpu_model", "sha256", "tensor_types"] {
        let i = headers.iter().position(|h| h == name).unwrap_or_else(|| panic!("no {name} column"));
        assert!(rows.iter().all(|r| !r[i].is_empty()), "empty {name}");
    }

    let table = bench(&[&sizes[..], &["--output", "table"]].concat());
    assert!(table.contains("| test | batch |") && table.contains("| pp8 | 1 |") && table.contains("| tg2 | 1 |"), "{table}");
    assert!(table.contains(SHA256) && table.contains("threads: 2"), "{table}");
}

#[derive(serde::Deserialize)]
struct GreedyFixture {
    cases: Vec<GreedyCase>,
}

#[derive(serde::Deserialize)]
struct GreedyCase {
    prompt_ids: Vec<u32>,
    greedy: Vec<u32>,
    top2_margin: Vec<f32>,
}

/// The ids of `--prompt-tokens` reach the model: greedy tokens equal llama.cpp's (the fixture of
/// scripts/reference_llamacpp.py) up to llama.cpp's first near-tie (top-2 margin < 0.2 logits).
#[test]
fn prompt_token_file_feeds_the_greedy_check() {
    require_model!();
    let fixture_path = repo_root().join("tests/fixtures/engine/gemma3_greedy.json");
    let fixture: GreedyFixture = serde_json::from_str(&std::fs::read_to_string(&fixture_path).unwrap()).unwrap();
    let case = &fixture.cases[0];
    let dir = tempfile::tempdir().unwrap();
    let ids = dir.path().join("ids.json");
    std::fs::write(&ids, serde_json::to_string(&case.prompt_ids).unwrap()).unwrap();
    let must_agree = case.top2_margin.iter().position(|&m| m < 0.2).unwrap_or(case.greedy.len());
    assert!(must_agree >= 3, "the fixture's first case should have a clear start");
    let text = bench(&[
        "--pp", "4", "--tg", "0", "--batch", "1", "--depth", "0", "--prompt-tokens", ids.to_str().unwrap(),
        "--greedy-tokens", &must_agree.to_string(), "--output", "json",
    ]);
    let report: BenchReport = serde_json::from_str(&text).unwrap();
    let greedy = report.greedy.unwrap();
    assert_eq!(greedy.prompt, case.prompt_ids);
    assert_eq!(greedy.tokens, case.greedy[..must_agree]);
    assert_eq!(report.settings.prompt_tokens, ids.display().to_string());
}

#[test]
fn bad_sizes_and_short_prompt_files_are_named() {
    require_model!();
    let output = run(mhbench().args(["bench", "--batch", "1,0"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--batch: sizes must be at least 1"), "{}", stderr(&output));

    let dir = tempfile::tempdir().unwrap();
    let ids = dir.path().join("short.json");
    std::fs::write(&ids, "[2, 818, 5279]").unwrap();
    let output = run(mhbench().args(["bench", "--pp", "8", "--tg", "0", "--batch", "1", "--depth", "0", "--prompt-tokens"]).arg(&ids));
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("short.json") && message.contains("holds 3 ids but the bench needs 8"), "{message}");
}

/// A binary without the `cuda` feature asked for the GPU stops with the rebuild command and
/// writes nothing; it never measures the CPU under the GPU's name.
#[cfg(not(feature = "cuda"))]
#[test]
fn device_cuda_in_a_cpu_build_stops_and_names_the_feature() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.json");
    let output = run(mhbench()
        .args(["bench", "--device", "cuda", "--pp", "8", "--tg", "0", "--batch", "1", "--depth", "0", "--output", "json", "--out"])
        .arg(&out));
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("--device cuda: this mhbench binary was built without the `cuda` feature"), "{message}");
    assert!(!out.exists(), "no results may be written when the device is missing");
}

#[test]
fn an_unknown_mhbench_kernel_stops_the_load_by_name() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.json");
    let output = run(mhbench()
        .env("MHBENCH_KERNEL", "sse9")
        .args(["bench", "--pp", "8", "--tg", "0", "--batch", "1", "--depth", "0", "--output", "json", "--out"])
        .arg(&out));
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("MHBENCH_KERNEL=sse9: expected portable, avx2 or avx512vnni"), "{message}");
    assert!(!out.exists(), "no results may be written with an unknown kernel");
}

#[test]
fn dataset_mode_times_generate_end_to_end() {
    require_model!();
    let dataset = Path::new("datasets/sample.jsonl");
    let text = bench(&[
        "--dataset", dataset.to_str().unwrap(), "--max-new-tokens", "3", "--batch", "6", "--output", "json",
    ]);
    let report: BenchReport = serde_json::from_str(&text).unwrap();
    assert_eq!(report.settings.dataset.as_deref(), Some("datasets/sample.jsonl"));
    let [record] = report.records.as_slice() else { panic!("one record per batch size: {:?}", report.records) };
    assert_eq!((record.test, record.batch), (TestKind::Dataset, 6));
    // 12 conversations, at most 3 tokens each (an EOS may end one early).
    assert!(record.n_gen > 0 && record.n_gen <= 36, "{}", record.n_gen);
    assert!(record.n_prompt > 20, "the psychiatrist prompt wraps each context: {}", record.n_prompt);
    let ttft = record.ttft_ms.expect("TTFT per reply");
    assert_eq!(ttft.n, 12);
    assert!(ttft.p50 > 0.0 && ttft.p99 >= ttft.p50);
    assert!(record.token_latency_ms.is_some_and(|l| l.n > 0 && l.mean > 0.0));
    assert!(record.memory.decode_peak_rss_bytes.is_some() && record.memory.kv_cache_bytes > 0);
}

#[test]
fn a_gguf_whose_hash_differs_from_the_registry_is_refused_before_measuring() {
    require_model!();
    let dir = tempfile::tempdir().unwrap();
    let registry = std::fs::read_to_string(repo_root().join("models.toml")).unwrap();
    assert!(registry.contains(SHA256), "the shipped registry lists the default model's hash");
    let wrong = "0".repeat(64);
    let path = dir.path().join("models.toml");
    std::fs::write(&path, registry.replace(SHA256, &wrong)).unwrap();
    // A registry elsewhere keeps its weights beside it; name the checkout's.
    let models = repo_root().join("models");
    let output = run(mhbench().arg("--registry").arg(&path).args(["bench", "--model", "gemma-3-270m", "--pp", "4", "--tg", "1", "--models-dir"]).arg(&models));
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains(&format!("sha256 {SHA256} differs from models.toml's {wrong} for gemma-3-270m")), "{err}");
}

//! `scripts/synthetic-gguf.py`: study-shaped random-weight GGUF files. For all five study models
//! the tensor plan follows llama.cpp's Q4_K_M recipe (checked against an own statement of the
//! rule and of each model's config.json); for one Llama and one Qwen shape a two-block file is
//! written, its tensors read back with their types, shapes and sane dequantised values, then
//! benched (pp, tg and greedy decode steps) and answered through `generate` with its own
//! tokenizer and chat template.
//!
//! Needs python3 with the `gguf` and `numpy` packages (`pip install gguf numpy`; .ci/run installs
//! them); without them each test prints `skipped: ...`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use candle_core::quantized::GgmlDType;
use mhbench::bench::record::{BenchReport, TestKind};
use mhbench::engine::gguf::Gguf;
use mhbench::schema::{ModelId, ResponseRecord, RunManifest};

use crate::common::{mhbench, repo_root, run, stderr, stdout};

const SCRIPT: &str = "scripts/synthetic-gguf.py";

/// Why the script cannot run here, if it cannot.
fn missing_python() -> Option<String> {
    let probe = Command::new("python3").args(["-c", "import gguf, numpy"]).output();
    match probe {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!("python3 cannot import gguf/numpy ({}); pip install gguf numpy", stderr(&out).trim())),
        Err(e) => Some(format!("python3 not found ({e})")),
    }
}

macro_rules! require_python {
    () => {
        if let Some(why) = missing_python() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

fn script(args: &[&str]) -> String {
    let output = run(Command::new("python3").arg(repo_root().join(SCRIPT)).args(args).current_dir(repo_root()));
    assert!(output.status.success(), "{SCRIPT} {args:?}: {}", stderr(&output));
    stdout(&output)
}

/// A study model's shape as its config.json gives it.
struct Shape {
    id: &'static str,
    hidden: usize,
    blocks: usize,
    heads: usize,
    kv_heads: usize,
    ffn: usize,
    vocab: usize,
    /// Qwen2's q/k/v biases.
    biases: bool,
    /// Qwen3's q/k norms and tied embedding.
    qwen3: bool,
    /// Llama 3.1's rope_freqs.
    rope_freqs: bool,
}

const LLAMA: Shape = Shape { id: "llama-3.1-8b-instruct", hidden: 4096, blocks: 32, heads: 32, kv_heads: 8, ffn: 14336, vocab: 128_256, biases: false, qwen3: false, rope_freqs: true };
const QWEN3: Shape = Shape { id: "qwen3-4b", hidden: 2560, blocks: 36, heads: 32, kv_heads: 8, ffn: 9728, vocab: 151_936, biases: false, qwen3: true, rope_freqs: false };
const SHAPES: [Shape; 5] = [
    LLAMA,
    Shape { id: "deepseek-r1-distill-llama-8b", ..LLAMA },
    Shape { id: "qwen2.5-7b-instruct", hidden: 3584, blocks: 28, heads: 28, kv_heads: 4, ffn: 18944, vocab: 152_064, biases: true, qwen3: false, rope_freqs: false },
    Shape { id: "deepseek-r1-distill-qwen-7b", hidden: 3584, blocks: 28, heads: 28, kv_heads: 4, ffn: 18944, vocab: 152_064, biases: true, qwen3: false, rope_freqs: false },
    QWEN3,
];

/// llama.cpp's Q4_K_M choice of the blocks whose attn_v and ffn_down get Q6_K.
fn use_more_bits(i: usize, n: usize) -> bool {
    i < n / 8 || i >= 7 * n / 8 || (i as isize - (n / 8) as isize).rem_euclid(3) == 2
}

/// Every tensor of the first `blocks` blocks of `shape`'s Q4_K_M file: name -> (dims outermost
/// first, type name as gguf-py spells it).
fn expected_tensors(shape: &Shape, blocks: usize) -> BTreeMap<String, (Vec<usize>, &'static str)> {
    let (h, hd) = (shape.hidden, 128);
    let (q, kv) = (shape.heads * hd, shape.kv_heads * hd);
    let mut t = BTreeMap::new();
    let mut add = |name: String, dims: Vec<usize>, kind: &'static str| {
        t.insert(name, (dims, kind));
    };
    // Tied embedding: token_embd is the output projection and takes output.weight's Q6_K.
    add("token_embd.weight".into(), vec![shape.vocab, h], if shape.qwen3 { "Q6_K" } else { "Q4_K" });
    if !shape.qwen3 {
        add("output.weight".into(), vec![shape.vocab, h], "Q6_K");
    }
    add("output_norm.weight".into(), vec![h], "F32");
    if shape.rope_freqs {
        add("rope_freqs.weight".into(), vec![hd / 2], "F32");
    }
    for i in 0..blocks {
        let more = if use_more_bits(i, shape.blocks) { "Q6_K" } else { "Q4_K" };
        let p = |name: &str| format!("blk.{i}.{name}");
        for (name, dims, kind) in [
            ("attn_norm.weight", vec![h], "F32"),
            ("ffn_norm.weight", vec![h], "F32"),
            ("attn_q.weight", vec![q, h], "Q4_K"),
            ("attn_k.weight", vec![kv, h], "Q4_K"),
            ("attn_v.weight", vec![kv, h], more),
            ("attn_output.weight", vec![h, q], "Q4_K"),
            ("ffn_gate.weight", vec![shape.ffn, h], "Q4_K"),
            ("ffn_up.weight", vec![shape.ffn, h], "Q4_K"),
            ("ffn_down.weight", vec![h, shape.ffn], more),
        ] {
            add(p(name), dims, kind);
        }
        if shape.biases {
            add(p("attn_q.bias"), vec![q], "F32");
            add(p("attn_k.bias"), vec![kv], "F32");
            add(p("attn_v.bias"), vec![kv], "F32");
        }
        if shape.qwen3 {
            add(p("attn_q_norm.weight"), vec![hd], "F32");
            add(p("attn_k_norm.weight"), vec![hd], "F32");
        }
    }
    t
}

#[test]
fn every_study_model_plan_follows_the_q4_k_m_recipe() {
    require_python!();
    for shape in &SHAPES {
        let plan: serde_json::Value = serde_json::from_str(&script(&["--model", shape.id, "--plan"])).unwrap();
        let planned: BTreeMap<String, (Vec<usize>, String)> = plan["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let dims = t["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
                (t["name"].as_str().unwrap().to_owned(), (dims, t["type"].as_str().unwrap().to_owned()))
            })
            .collect();
        let expected: BTreeMap<String, (Vec<usize>, String)> =
            expected_tensors(shape, shape.blocks).into_iter().map(|(k, (d, t))| (k, (d, t.to_owned()))).collect();
        assert_eq!(planned, expected, "{}", shape.id);
    }
    // Llama 3.1 8B: 32 blocks, Q6_K attn_v/ffn_down in blocks 0-3, 28-31 and every third from 6.
    let q6: Vec<usize> = (0..32).filter(|&i| use_more_bits(i, 32)).collect();
    assert_eq!(q6, [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]);
}

/// The dtype name of a tensor as candle reads it, in gguf-py's spelling.
fn type_name(dtype: GgmlDType) -> String {
    match dtype {
        GgmlDType::Q4K => "Q4_K".into(),
        GgmlDType::Q6K => "Q6_K".into(),
        GgmlDType::F32 => "F32".into(),
        other => format!("{other:?}"),
    }
}

/// Writes a two-block file of `shape` and checks its tensors, values, tokenizer and decode.
fn check_two_block_file(shape: &Shape, dir: &Path) {
    let path = dir.join(format!("{}.gguf", shape.id));
    let printed = script(&["--model", shape.id, "--layers", "2", "--seed", "7", "--out", path.to_str().unwrap()]);
    assert_eq!(printed.trim(), path.display().to_string());

    let gguf = Gguf::open(&path).unwrap();
    let found: BTreeMap<String, (Vec<usize>, String)> = gguf
        .content()
        .tensor_infos
        .iter()
        .map(|(name, info)| (name.clone(), (info.shape.dims().to_vec(), type_name(info.ggml_dtype))))
        .collect();
    let expected: BTreeMap<String, (Vec<usize>, String)> =
        expected_tensors(shape, 2).into_iter().map(|(k, (d, t))| (k, (d, t.to_owned()))).collect();
    assert_eq!(found, expected, "{}", shape.id);
    // Random quants with small f16 scales: finite weights of mean |w| about 0.02.
    let mut reader = gguf.reader().unwrap();
    for name in ["blk.0.attn_q.weight", "blk.1.ffn_down.weight"] {
        let tensor = gguf.content().tensor(&mut reader, name, &candle_core::Device::Cpu).unwrap();
        let values: Vec<f32> = tensor.dequantize(&candle_core::Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert!(values.iter().all(|v| v.is_finite()), "{name}");
        let mean_abs = values.iter().map(|v| f64::from(v.abs())).sum::<f64>() / values.len() as f64;
        assert!((0.01..0.04).contains(&mean_abs), "{name}: mean |w| {mean_abs}");
    }

    // The engine loads and decodes it: pp, tg (with its bandwidth bound) and greedy steps.
    let output = run(mhbench().args(["bench", "--threads", "2", "--repetitions", "1", "--warmup", "0", "--pp", "8", "--tg", "3",
        "--batch", "1", "--depth", "0", "--greedy-tokens", "3", "--output", "json", "--model"]).arg(&path));
    assert!(output.status.success(), "{}", stderr(&output));
    let report: BenchReport = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report.model.tensor_types.values().sum::<usize>(), expected.len());
    let tg = report.records.iter().find(|r| r.test == TestKind::Tg).unwrap();
    assert!(tg.tok_per_s.mean > 0.0 && tg.bound_tok_per_s.is_some_and(|b| b > 0.0), "{tg:?}");
    let greedy = report.greedy.unwrap();
    assert_eq!(greedy.tokens.len(), 3);
    assert!(greedy.tokens.iter().all(|&t| (t as usize) < shape.vocab), "{:?}", greedy.tokens);

    generate_with_own_tokenizer_and_template(shape, &path, dir);
}

/// `generate` answers one conversation with the file registered as a local model: the synthetic
/// vocabulary tokenises the prompt, the model's own chat template renders it.
fn generate_with_own_tokenizer_and_template(shape: &Shape, path: &Path, dir: &Path) {
    let arch = if shape.qwen3 { "qwen3" } else { "llama" };
    let registry = dir.join("models.toml");
    if !dir.join("datasets").exists() {
        crate::common::link_datasets(dir);
    }
    std::fs::write(&registry, format!(
        "[defaults]\nprompt = \"psychiatrist\"\nmax_new_tokens = 4\ntemperature = 0.0\nseed = 1\n\n[[models]]\nid = \"synthetic\"\n\
         vendor = \"test\"\nkind = \"local\"\nfamily = \"synthetic\"\nparams_b = 0.5\narchitecture = \"{arch}\"\n\
         weights = {{ format = \"gguf\", repo = \"none\", revision = \"none\", file = \"x.gguf\", quantization = \"Q4_K_M\" }}\n\
         path = \"{}\"\ntokenizer = {{ source = \"gguf\" }}\nchat_template = {{ source = \"gguf\" }}\n",
        path.display()
    )).unwrap();
    let dataset = dir.join("one.jsonl");
    let sample = std::fs::read_to_string(repo_root().join("datasets/sample.jsonl")).unwrap();
    std::fs::write(&dataset, sample.lines().next().unwrap().to_owned() + "\n").unwrap();
    let out = dir.join(format!("run-{}", shape.id));
    let output = run(mhbench().arg("--registry").arg(&registry).args(["generate", "--models", "synthetic", "--max-new-tokens", "4", "--dataset"])
        .arg(&dataset).arg("--out").arg(&out));
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(out.join("responses/synthetic.jsonl")).unwrap();
    let record: ResponseRecord = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert!(record.error.is_none(), "{record:?}");
    let usage = record.usage.unwrap();
    // The psychiatrist prompt and the conversation, in the chat template's markers.
    assert!(usage.prompt_tokens > 40 && (1..=4).contains(&usage.completion_tokens), "{usage:?}");
    let manifest: RunManifest = serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let info = &manifest.models[&ModelId::from("synthetic")];
    assert!(info.provenance["chat_template"].ends_with("tokenizer.chat_template"), "{:?}", info.provenance);
    assert!(info.peak_rss_bytes.is_some_and(|p| p > std::fs::metadata(path).unwrap().len() / 2), "{info:?}");
}

/// One test for both files, so the two (0.5 and 1 GB) are not written and loaded at once.
#[test]
fn two_block_llama_and_qwen3_files_load_decode_and_generate() {
    require_python!();
    let dir = tempfile::tempdir().unwrap();
    for shape in [&LLAMA, &QWEN3] {
        check_two_block_file(shape, dir.path());
        std::fs::remove_file(dir.path().join(format!("{}.gguf", shape.id))).unwrap();
    }
}

//! Criterion benches of the engine's hot pieces, at the default model's (Gemma 3 270M) shapes:
//! - `matmul/<type>/<n>x<k>/m<m>`: one linear layer `[m, k] x [n, k]ᵀ` per GGML storage type
//!   (Q4_0, Q5_0, Q8_0, Q4K, Q6K, F32) at m = 1 (decode) and m = 128 (prefill), for the FFN up
//!   (2048x640) and down (640x2048) shapes, plus the Q8_0 output projection over the 262,144-token
//!   vocabulary at m = 1. Throughput is reported in FLOP (2·m·n·k) per second. k-quants need
//!   k % 256 == 0, so Q4K/Q6K skip k = 640 (why this GGUF stores those rows in Q5_0).
//! - `kernels/<kernel>/<type>/<n>x<k>/m<m>`: each compiled kernel alone, at those shapes and at
//!   1024 rows of Llama-3.1-8B's k = 4096 (Q4K) and k = 14336 (Q6K), m = 1, 16 and 128.
//! - `attention/*`: one Gemma 3 attention layer (4 query heads, 1 kv head of 256, Q8_0
//!   projections) prefilling 512 columns, and one decode step over 512 cached columns.
//! - `sampling/*`: one token from 262,144 logits, greedy and top-k 40 + top-p 0.95 at T 0.7.
//! - `tokenize/*`: the default model's tokenizer encoding the repository's sample conversations
//!   (about the size of a CounselChat question and answer); skipped when the GGUF is absent.
//!
//! Random weights come from a fixed seed; speeds are measured here, never asserted in tests.
//! Run: `cargo bench --bench engine` (add `-- matmul` to filter).

use std::path::Path;

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mhbench::engine::gguf::Gguf;
use mhbench::engine::host_attention::RowSpan;
use mhbench::engine::kernels::{Kernel, PackedMatrix};
use mhbench::engine::layers::{positions, Attention, AttentionParts, AttentionShape, Linear, RopeStyle, Rotary, StepInputs};
use mhbench::engine::weights::Matrix;
use mhbench::engine::sampler::{Sampler, SamplingParams};
use mhbench::engine::tokenizer::{EncodeOptions, Tokenizer};
use rand::{Rng, SeedableRng};

const HIDDEN: usize = 640;
const FFN: usize = 2048;
const VOCAB: usize = 262_144;
const N_HEAD: usize = 4;
const N_KV_HEAD: usize = 1;
const HEAD_DIM: usize = 256;
const CONTEXT: usize = 512;

/// Uniform values in ±1/sqrt(columns) from a seeded stream (candle's CPU RNG takes no seed).
fn random(shape: (usize, usize), seed: u64) -> Tensor {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let scale = 1.0 / (shape.1 as f32).sqrt();
    let values: Vec<f32> = (0..shape.0 * shape.1).map(|_| rng.random_range(-scale..scale)).collect();
    Tensor::from_vec(values, shape, &Device::Cpu).expect("invariant: the length matches the shape")
}

fn linear(n: usize, k: usize, dtype: GgmlDType, seed: u64) -> Linear {
    let weight = random((n, k), seed);
    let q = QTensor::quantize(&weight, dtype).expect("invariant: the shape suits the type");
    // The engine's CPU path: quantised types through mhbench's kernels, F32 through candle.
    match PackedMatrix::from_qtensor(&q).expect("invariant: a matrix") {
        Some(packed) => Linear::from_weight(Matrix::Packed(Arc::new(packed))),
        None => Linear::from_weight(Matrix::Candle(QMatMul::from_qtensor(q).expect("invariant: QMatMul from a QTensor"))),
    }
}

fn matmul(c: &mut Criterion) {
    let mut group = c.benchmark_group("matmul");
    group.sample_size(20);
    let types = [GgmlDType::Q4_0, GgmlDType::Q5_0, GgmlDType::Q8_0, GgmlDType::Q4K, GgmlDType::Q6K, GgmlDType::F32];
    for dtype in types {
        for (n, k) in [(FFN, HIDDEN), (HIDDEN, FFN)] {
            if k % dtype.block_size() != 0 {
                eprintln!("skipped: matmul/{dtype:?}/{n}x{k}: k is not a multiple of the {} block", dtype.block_size());
                continue;
            }
            let layer = linear(n, k, dtype, 1);
            for m in [1, 128] {
                let x = random((m, k), 2);
                group.throughput(Throughput::Elements((2 * m * n * k) as u64));
                group.bench_function(format!("{dtype:?}/{n}x{k}/m{m}"), |b| {
                    b.iter(|| layer.forward(&x).expect("invariant: shapes match"))
                });
            }
        }
    }
    let output = linear(VOCAB, HIDDEN, GgmlDType::Q8_0, 3);
    let x = random((1, HIDDEN), 4);
    group.throughput(Throughput::Elements((2 * VOCAB * HIDDEN) as u64));
    group.bench_function(format!("Q8_0/{VOCAB}x{HIDDEN}/m1 (output projection)"), |b| {
        b.iter(|| output.forward(&x).expect("invariant: shapes match"))
    });
    group.finish();
}

/// Each compiled kernel of mhbench's own on one packed matrix, without candle's tensor wrapping:
/// `kernels/<kernel>/<type>/<n>x<k>/m<m>`, in multiply-adds per second.
fn kernels(c: &mut Criterion) {
    let mut group = c.benchmark_group("kernels");
    group.sample_size(20);
    // The last two: 1024 rows of Llama-3.1-8B's k = 4096 (attention, gate, up) and k = 14336 (down).
    let shapes = [(GgmlDType::Q8_0, FFN, HIDDEN), (GgmlDType::Q4K, HIDDEN, FFN), (GgmlDType::Q6K, HIDDEN, FFN),
        (GgmlDType::Q4K, 1024, 4096), (GgmlDType::Q6K, 1024, 14336)];
    for (dtype, n, k) in shapes {
        let weight = QTensor::quantize(&random((n, k), 1), dtype).expect("invariant: the shape suits the type");
        let packed = PackedMatrix::from_qtensor(&weight).expect("invariant: a matrix").expect("invariant: a kernel type");
        for kernel in Kernel::available() {
            for m in [1, 16, 128] {
                let x: Vec<f32> = random((m, k), 2).flatten_all().and_then(|t| t.to_vec1()).expect("invariant: f32");
                group.throughput(Throughput::Elements((m * n * k) as u64));
                group.bench_function(format!("{}/{dtype:?}/{n}x{k}/m{m}", kernel.name()), |b| {
                    b.iter(|| packed.matmul_with(&x, kernel))
                });
            }
        }
    }
    group.finish();
}

fn attention_layer() -> Attention {
    let dev = Device::Cpu;
    let q_dim = N_HEAD * HEAD_DIM;
    let kv_dim = N_KV_HEAD * HEAD_DIM;
    let rope = Rotary::new(HEAD_DIM, 1_000_000.0, None, RopeStyle::Neox, &dev).expect("invariant: rope");
    let parts = AttentionParts {
        q: linear(q_dim, HIDDEN, GgmlDType::Q8_0, 10),
        k: linear(kv_dim, HIDDEN, GgmlDType::Q8_0, 11),
        v: linear(kv_dim, HIDDEN, GgmlDType::Q8_0, 12),
        o: linear(HIDDEN, q_dim, GgmlDType::Q8_0, 13),
        q_norm: None,
        k_norm: None,
        rope: (rope, 0),
        mask_index: 0,
        window: None,
    };
    let shape = AttentionShape { n_head: N_HEAD, n_kv_head: N_KV_HEAD, head_dim: HEAD_DIM, scale: 1.0 / (HEAD_DIM as f64).sqrt() };
    Attention::new(parts, shape)
}

fn step_inputs(offset: usize, columns: usize) -> StepInputs {
    let dev = Device::Cpu;
    let rows = vec![RowSpan { slot: 0, past: offset, pad: 0 }];
    let rope = Rotary::new(HEAD_DIM, 1_000_000.0, None, RopeStyle::Neox, &dev).expect("invariant: rope");
    let positions = positions(&rows, columns, &dev).expect("invariant: positions");
    StepInputs { rope: vec![rope.tables(&positions).expect("invariant: tables")], masks: Vec::new(), rows }
}

fn attention(c: &mut Criterion) {
    let mut group = c.benchmark_group("attention");
    group.sample_size(20);
    let prompt = random((CONTEXT, HIDDEN), 20).unsqueeze(0).expect("invariant: [1, s, h]");
    let prefill_step = step_inputs(0, CONTEXT);
    group.throughput(Throughput::Elements(CONTEXT as u64));
    group.bench_function(format!("prefill {CONTEXT}"), |b| {
        b.iter_batched_ref(
            attention_layer,
            |layer| layer.forward(&prompt, &prefill_step).expect("invariant: shapes match"),
            BatchSize::PerIteration,
        )
    });
    let token = random((1, HIDDEN), 21).unsqueeze(0).expect("invariant: [1, 1, h]");
    let decode_step = step_inputs(CONTEXT, 1);
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("decode at {CONTEXT}"), |b| {
        b.iter_batched_ref(
            || {
                let mut layer = attention_layer();
                layer.forward(&prompt, &prefill_step).expect("invariant: shapes match");
                layer
            },
            |layer| layer.forward(&token, &decode_step).expect("invariant: shapes match"),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn sampling(c: &mut Criterion) {
    let mut group = c.benchmark_group("sampling");
    let logits = random((1, VOCAB), 30).squeeze(0).expect("invariant: [vocab]");
    let logits = (logits * 100.0).expect("invariant: scaling"); // spread like real logits
    let settings = [
        ("greedy", SamplingParams::greedy()),
        (
            "top-k 40 top-p 0.95 T 0.7",
            SamplingParams { temperature: 0.7, top_p: Some(0.95), top_k: Some(40), repetition_penalty: None },
        ),
        (
            "top-p 0.95 T 0.7",
            SamplingParams { temperature: 0.7, top_p: Some(0.95), top_k: None, repetition_penalty: None },
        ),
    ];
    for (name, params) in settings {
        let mut sampler = Sampler::new(params, 7);
        group.bench_function(name, |b| b.iter(|| sampler.sample(&logits, &[]).expect("invariant: finite logits")));
    }
    group.finish();
}

fn sample_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/sample.jsonl");
    let text = std::fs::read_to_string(&path).expect("invariant: datasets/sample.jsonl is in the repository");
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|v| v.get("context").and_then(|c| c.as_str()).map(str::to_owned))
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn tokenize(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/gemma-3-270m-q4_k_m.gguf");
    if !path.is_file() {
        eprintln!("skipped: tokenize: {} absent; run scripts/fetch-default-model.sh", path.display());
        return;
    }
    let gguf = Gguf::open(&path).expect("invariant: the default GGUF opens");
    let tokenizer = Tokenizer::from_gguf(&gguf).expect("invariant: the default tokenizer builds");
    let text = sample_text();
    let mut group = c.benchmark_group("tokenize");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function(format!("encode {} bytes", text.len()), |b| {
        b.iter(|| tokenizer.encode(&text, EncodeOptions::PROMPT).expect("invariant: encodes"))
    });
    let ids = tokenizer.encode(&text, EncodeOptions::PROMPT).expect("invariant: encodes");
    group.bench_function(format!("decode {} ids", ids.len()), |b| {
        b.iter(|| tokenizer.decode(&ids, true).expect("invariant: decodes"))
    });
    group.finish();
}

criterion_group!(benches, matmul, kernels, attention, sampling, tokenize);
criterion_main!(benches);

//! Logits parity of the GPU path against the CPU path, run by `scripts/gpu-check.sh` on a machine
//! with a GPU (`cargo test --release --features cuda --test cuda_parity -- --nocapture`). The
//! device is `MHBENCH_PARITY_DEVICE` (default `cuda`). Without the `cuda` or `metal` feature this
//! file compiles to nothing; `.ci/run` type-checks it with `cargo check --features cuda`.
//!
//! Each model gets a left-padded batch of three prompts of different lengths: the prefill logits
//! of every real column, then 16 greedy decode steps that feed both devices the CPU's choice,
//! are compared. Tolerance: 1e-2 absolute on every logit. Greedy agreement: the devices' argmax
//! must be equal wherever the CPU's top-2 margin exceeds twice the tolerance (closer is a
//! near-tie, counted and reported). Each model prints one `PARITY {json}` line for the report.
#![cfg(any(feature = "cuda", feature = "metal"))]

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor, D};
use mhbench::engine::decoder::Model;
use mhbench::engine::layers::RowPadding;
use mhbench::engine::local::parse_device;
use mhbench::engine::models::{load_gguf, load_safetensors};

/// Largest allowed |logit(device) - logit(cpu)|.
const TOLERANCE: f32 = 1e-2;
/// Greedy decode steps after the prefill.
const DECODE_STEPS: usize = 16;
/// Prompt lengths of the batch's rows (so rows 1 and 2 are left-padded).
const PROMPT_LENGTHS: [usize; 3] = [12, 7, 3];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn device() -> Device {
    let name = std::env::var("MHBENCH_PARITY_DEVICE").unwrap_or_else(|_| "cuda".to_owned());
    parse_device(&name).unwrap_or_else(|e| panic!("{e}"))
}

/// What one model's comparison found.
#[derive(Default)]
struct Parity {
    max_abs_diff: f32,
    max_abs_logit: f32,
    compared_columns: usize,
    greedy_agree: usize,
    near_ties: usize,
    greedy_disagree: usize,
}

impl Parity {
    fn compare(&mut self, cpu: &[f32], dev: &[f32]) {
        assert_eq!(cpu.len(), dev.len());
        let diff = cpu.iter().zip(dev).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        self.max_abs_diff = self.max_abs_diff.max(diff);
        self.max_abs_logit = cpu.iter().map(|x| x.abs()).fold(self.max_abs_logit, f32::max);
        self.compared_columns += 1;
        let (cpu_best, margin) = best_and_margin(cpu);
        if cpu_best == best_and_margin(dev).0 {
            self.greedy_agree += 1;
        } else if margin <= 2.0 * TOLERANCE {
            self.near_ties += 1;
        } else {
            self.greedy_disagree += 1;
        }
    }

    fn line(&self, name: &str, device: &str) -> String {
        serde_json::json!({
            "model": name,
            "device": device,
            "tolerance": TOLERANCE,
            "max_abs_diff": self.max_abs_diff,
            "max_abs_logit": self.max_abs_logit,
            "compared_columns": self.compared_columns,
            "greedy_agree": self.greedy_agree,
            "near_ties": self.near_ties,
            "greedy_disagree": self.greedy_disagree,
            "pass": self.max_abs_diff <= TOLERANCE && self.greedy_disagree == 0,
        })
        .to_string()
    }
}

/// The argmax and the gap between the two largest logits.
fn best_and_margin(logits: &[f32]) -> (usize, f32) {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    (order[0], logits[order[0]] - logits[order[1]])
}

/// A left-padded `[rows, width]` grid of deterministic ids below `vocab`, and its padding.
fn batch(vocab: usize) -> (Vec<Vec<u32>>, RowPadding) {
    let width = PROMPT_LENGTHS.iter().copied().max().unwrap_or(1);
    let rows = PROMPT_LENGTHS
        .iter()
        .enumerate()
        .map(|(r, &len)| {
            let mut ids = vec![0u32; width - len];
            ids.extend((0..len).map(|c| ((r * 7919 + c * 104_729 + 17) % (vocab - 4) + 4) as u32));
            ids
        })
        .collect();
    (rows, RowPadding { pads: PROMPT_LENGTHS.iter().map(|&l| width - l).collect() })
}

fn ids_tensor(rows: &[Vec<u32>], dev: &Device) -> Tensor {
    let width = rows[0].len();
    Tensor::from_vec(rows.concat(), (rows.len(), width), dev).unwrap()
}

/// Runs the batch through both models and compares every real column.
fn check(name: &str, cpu: &mut Model, dev: &mut Model) -> Parity {
    let (grid, padding) = batch(cpu.config().vocab_size);
    let mut parity = Parity::default();
    let host: Vec<Vec<Vec<f32>>> = cpu.forward_all(&ids_tensor(&grid, &Device::Cpu), &padding).unwrap().to_vec3().unwrap();
    let gpu: Vec<Vec<Vec<f32>>> =
        dev.forward_all(&ids_tensor(&grid, dev.device()), &padding).unwrap().to_device(&Device::Cpu).unwrap().to_vec3().unwrap();
    for (r, &pad) in padding.pads.iter().enumerate() {
        for c in pad..grid[0].len() {
            parity.compare(&host[r][c], &gpu[r][c]);
        }
    }
    let mut last: Vec<Vec<f32>> = host.iter().map(|row| row[row.len() - 1].clone()).collect();
    for _ in 0..DECODE_STEPS {
        let next: Vec<Vec<u32>> = last.iter().map(|l| vec![best_and_margin(l).0 as u32]).collect();
        let host: Vec<Vec<f32>> = cpu.forward(&ids_tensor(&next, &Device::Cpu), &padding).unwrap().to_vec2().unwrap();
        let gpu: Vec<Vec<f32>> =
            dev.forward(&ids_tensor(&next, dev.device()), &padding).unwrap().to_device(&Device::Cpu).unwrap().to_vec2().unwrap();
        for (h, g) in host.iter().zip(&gpu) {
            parity.compare(h, g);
        }
        last = host;
    }
    cpu.clear_kv_cache();
    dev.clear_kv_cache();
    println!("PARITY {}", parity.line(name, &format!("{:?}", dev.device().location())));
    parity
}

fn assert_parity(name: &str, parity: &Parity) {
    assert!(parity.max_abs_diff <= TOLERANCE, "{name}: max |logit difference| {} > {TOLERANCE}", parity.max_abs_diff);
    assert_eq!(parity.greedy_disagree, 0, "{name}: greedy choices differ away from near-ties");
}

fn gguf_pair(path: &Path) -> (Model, Model) {
    (load_gguf(path, &Device::Cpu).unwrap(), load_gguf(path, &device()).unwrap())
}

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/engine").join(name)
}

#[test]
fn tiny_gguf_models_match_the_cpu() {
    for name in ["tiny_llama.gguf", "tiny_qwen2.gguf", "tiny_qwen3.gguf"] {
        let (mut cpu, mut dev) = gguf_pair(&fixture(name));
        assert_parity(name, &check(name, &mut cpu, &mut dev));
    }
}

#[test]
fn tiny_safetensors_model_matches_the_cpu() {
    let dir = fixture("tiny_qwen2");
    let mut cpu = load_safetensors(&dir, &Device::Cpu).unwrap();
    let mut dev = load_safetensors(&dir, &device()).unwrap();
    assert_parity("tiny_qwen2 (safetensors)", &check("tiny_qwen2 (safetensors)", &mut cpu, &mut dev));
}

#[test]
fn gemma3_270m_matches_the_cpu() {
    let path = repo().join("models/gemma-3-270m-q4_k_m.gguf");
    if !path.is_file() {
        eprintln!("skipped: {} absent; run scripts/fetch-default-model.sh", path.display());
        println!("PARITY {}", serde_json::json!({"model": "gemma-3-270m", "skipped": "model file absent"}));
        return;
    }
    let (mut cpu, mut dev) = gguf_pair(&path);
    let parity = check("gemma-3-270m", &mut cpu, &mut dev);
    assert_parity("gemma-3-270m", &parity);
}

/// The device's argmax over a batch (what `generate` uses for greedy rows) equals the host's.
#[test]
fn device_argmax_matches_host_argmax() {
    let dev = device();
    let values: Vec<f32> = (0..4 * 1000).map(|i| ((i * 37 % 1000) as f32).sin()).collect();
    let host = Tensor::from_vec(values, (4, 1000), &Device::Cpu).unwrap();
    let want: Vec<u32> = host.argmax(D::Minus1).unwrap().to_vec1().unwrap();
    let got: Vec<u32> = host.to_device(&dev).unwrap().argmax(D::Minus1).unwrap().to_vec1().unwrap();
    assert_eq!(got, want);
}

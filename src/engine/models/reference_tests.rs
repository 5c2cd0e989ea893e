//! Checks of every architecture against llama.cpp, from the fixtures that
//! `scripts/reference_llamacpp.py` writes under tests/fixtures/engine/ (llama-cpp-python 0.3.36,
//! 2 threads): tiny random-weight Llama 3.1 / Qwen2.5 / Qwen3 GGUF files and a safetensors twin
//! with llama.cpp's logits, and the real Gemma 3 270M model's greedy tokens and top-2 margins.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::Deserialize;

use super::{load_gguf, load_safetensors};
use crate::engine::decoder::Model;
use crate::engine::generate::{generate, generate_each, GenerateOptions, GenerationInput, GenerationOutput};
use crate::engine::layers::RowPadding;
use crate::engine::sampler::SamplingParams;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/engine")
}

#[derive(Deserialize)]
struct TinyLogits {
    ids: Vec<u32>,
    logits: Vec<Vec<f32>>,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> T {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn one_row(ids: &[u32]) -> (Tensor, RowPadding) {
    (Tensor::new(ids, &Device::Cpu).unwrap().unsqueeze(0).unwrap(), RowPadding { pads: vec![0] })
}

/// Logits of every position, once in one pass and once token by token (decode path).
fn all_logits(model: &mut Model, ids: &[u32]) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    model.clear_kv_cache();
    let (t, rows) = one_row(ids);
    let one_shot: Vec<Vec<f32>> = model.forward_all(&t, &rows).unwrap().squeeze(0).unwrap().to_vec2().unwrap();
    model.clear_kv_cache();
    let stepped = ids
        .iter()
        .map(|&id| {
            let (t, rows) = one_row(&[id]);
            model.forward(&t, &rows).unwrap().squeeze(0).unwrap().to_vec1().unwrap()
        })
        .collect();
    (one_shot, stepped)
}

/// Compares with llama.cpp (f32 KV cache); returns the largest difference.
fn check_tiny(model: &mut Model, name: &str, tolerance: f32) -> f32 {
    let reference: TinyLogits = read_json(&fixtures().join(format!("tiny_{name}.logits.json")));
    let (one_shot, stepped) = all_logits(model, &reference.ids);
    let mut worst = 0f32;
    for (pos, want) in reference.logits.iter().enumerate() {
        worst = worst.max(max_abs_diff(&one_shot[pos], want));
        assert!(max_abs_diff(&stepped[pos], &one_shot[pos]) < 1e-4, "{name}: decode vs prefill at {pos}");
    }
    println!("tiny {name}: max |logit - llama.cpp| = {worst:.2e} over {} positions (tolerance {tolerance})",
        reference.ids.len());
    assert!(worst < tolerance, "{name}: max logit difference {worst} >= {tolerance}");
    worst
}

// Tolerance 1e-3 on logits of size O(1-5): llama.cpp quantises activations to Q8_0 for Q8_0
// weights exactly as candle does and keeps an f32 KV cache here, so only summation order and
// rotary-angle rounding differ (measured: 0 to 2e-6). Llama's Q4_0 FFN is re-quantised to Q8_0 at
// load (see `weights`), measured 5e-2, so it gets 0.1.
#[test]
fn tiny_llama31_gguf_matches_llamacpp_logits() {
    let mut m = load_gguf(&fixtures().join("tiny_llama.gguf"), &Device::Cpu).unwrap();
    check_tiny(&mut m, "llama", 0.1);
}

#[test]
fn tiny_qwen25_gguf_matches_llamacpp_logits() {
    let mut m = load_gguf(&fixtures().join("tiny_qwen2.gguf"), &Device::Cpu).unwrap();
    check_tiny(&mut m, "qwen2", 1e-3);
}

#[test]
fn tiny_qwen3_gguf_matches_llamacpp_logits() {
    let mut m = load_gguf(&fixtures().join("tiny_qwen3.gguf"), &Device::Cpu).unwrap();
    check_tiny(&mut m, "qwen3", 1e-3);
}

#[test]
fn tiny_qwen25_safetensors_twin_matches_llamacpp_and_gguf() {
    let mut st = load_safetensors(&fixtures().join("tiny_qwen2"), &Device::Cpu).unwrap();
    check_tiny(&mut st, "qwen2", 1e-3);
    let mut gg = load_gguf(&fixtures().join("tiny_qwen2.gguf"), &Device::Cpu).unwrap();
    let ids = [5u32, 9, 300, 2, 77];
    let (a, _) = all_logits(&mut st, &ids);
    let (b, _) = all_logits(&mut gg, &ids);
    let worst = a.iter().zip(&b).map(|(x, y)| max_abs_diff(x, y)).fold(0.0, f32::max);
    println!("tiny qwen2: safetensors vs GGUF max |diff| = {worst:.2e}");
    assert!(worst < 1e-5);
}

#[test]
fn missing_metadata_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.gguf");
    let src = std::fs::read(fixtures().join("tiny_qwen3.gguf")).unwrap();
    // Rename the key in place (same length) so the file stays valid GGUF.
    let needle = b"qwen3.attention.head_count_kv";
    let at = src.windows(needle.len()).position(|w| w == needle).unwrap();
    let mut broken = src.clone();
    broken[at..at + needle.len()].copy_from_slice(b"qwen3.attention.head_count_xx");
    let needle = b"qwen3.block_count";
    let at = broken.windows(needle.len()).position(|w| w == needle).unwrap();
    broken[at..at + needle.len()].copy_from_slice(b"qwen3.block_cnt__");
    std::fs::write(&path, broken).unwrap();
    let err = load_gguf(&path, &Device::Cpu).err().unwrap().to_string();
    assert!(err.contains("broken.gguf: metadata key `qwen3.block_count` is missing"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Gemma 3 270M (the real default model)

#[derive(Deserialize)]
struct GemmaCase {
    prompt_ids: Vec<u32>,
    greedy: Vec<u32>,
    top2_margin: Vec<f32>,
    first_step_top20: Vec<(u32, f32)>,
}

#[derive(Deserialize)]
struct GemmaFixture {
    cases: Vec<GemmaCase>,
}

fn gemma() -> Option<Model> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/gemma-3-270m-q4_k_m.gguf");
    if !path.exists() {
        println!("skipped: {} absent; run scripts/fetch-default-model.sh", path.display());
        return None;
    }
    Some(load_gguf(&path, &Device::Cpu).unwrap())
}

fn gemma_cases() -> Vec<GemmaCase> {
    read_json::<GemmaFixture>(&fixtures().join("gemma3_greedy.json")).cases
}

/// Greedy decoding must equal llama.cpp's up to its first near-tie: a top-2 margin under
/// [`NEAR_TIE`] logits, where rounding may legitimately flip the choice. Measured on these
/// prompts, first-step top-20 logits differ from llama.cpp's by up to 0.67 with candle's kernels
/// and 0.75 with mhbench's own (llama.cpp itself moves by 0.77 between f16 and f32 KV caches);
/// both paths have diverged at margins of 0.22-0.25, so 0.3 is the honest line, not 0.2.
const NEAR_TIE: f32 = 0.3;

#[test]
fn gemma3_greedy_tokens_match_llamacpp_until_a_near_tie() {
    let Some(mut model) = gemma() else { return };
    let options = GenerateOptions {
        sampling: SamplingParams::greedy(),
        run_seed: 0,
        eos_ids: vec![],
        prefill_chunk: 512,
    };
    for (i, case) in gemma_cases().iter().enumerate() {
        let input = GenerationInput {
            conversation_id: format!("case{i}"),
            prompt: case.prompt_ids.clone(),
            max_new_tokens: case.greedy.len(),
        };
        let out = generate(&mut model, &[input], &options, &mut |_, _| false).unwrap().remove(0);
        let must_agree = case.top2_margin.iter().position(|&m| m < NEAR_TIE).unwrap_or(case.greedy.len());
        let agreed = out.tokens.iter().zip(&case.greedy).take_while(|(a, b)| a == b).count();
        println!("gemma3 prompt {i} ({} tokens): agreed {agreed}/{} greedy tokens; llama.cpp's first near-tie at step {must_agree}",
            case.prompt_ids.len(), case.greedy.len());
        assert!(agreed >= must_agree, "prompt {i}: diverged at {agreed} before the near-tie at {must_agree}");
    }
}

#[test]
fn gemma3_first_step_logits_are_close_to_llamacpp() {
    let Some(mut model) = gemma() else { return };
    let mut worst = 0f32;
    for case in gemma_cases() {
        let (t, rows) = one_row(&case.prompt_ids);
        model.clear_kv_cache();
        let logits: Vec<f32> = model.forward(&t, &rows).unwrap().squeeze(0).unwrap().to_vec1().unwrap();
        for (id, want) in &case.first_step_top20 {
            worst = worst.max((logits[*id as usize] - want).abs());
        }
    }
    println!("gemma3: max |logit - llama.cpp| over each prompt's top-20 first-step logits = {worst:.3}");
    // Gemma 3 amplifies rounding: llama.cpp's own logits move by up to 0.77 when only its KV cache
    // type changes (f16 vs f32, measured on these prompts). 1.5 still catches a wrong mask, rope
    // base or activation, each of which moves these logits by several units.
    assert!(worst < 1.5, "{worst}");
}

fn prompts_of_mixed_length() -> Vec<Vec<u32>> {
    let cases = gemma_cases();
    let long = &cases[5].prompt_ids;
    let mut prompts: Vec<Vec<u32>> = cases.iter().take(4).map(|c| c.prompt_ids.clone()).collect();
    prompts.push(long[..600].to_vec()); // crosses the 512-token window
    prompts.push(long[..130].to_vec());
    prompts.push(cases[4].prompt_ids[..40].to_vec());
    prompts.push(vec![2]); // BOS alone
    prompts
}

fn padded_grid(prompts: &[Vec<u32>]) -> (Tensor, RowPadding) {
    let width = prompts.iter().map(Vec::len).max().unwrap();
    let pads: Vec<usize> = prompts.iter().map(|p| width - p.len()).collect();
    let mut grid = Vec::new();
    for (p, &pad) in prompts.iter().zip(&pads) {
        grid.extend(std::iter::repeat_n(0u32, pad));
        grid.extend_from_slice(p);
    }
    (Tensor::from_vec(grid, (prompts.len(), width), &Device::Cpu).unwrap(), RowPadding { pads })
}

/// Largest difference between each row's last logits in a padded batch and the prompt alone.
fn batch_vs_alone(model: &mut Model, prompts: &[Vec<u32>]) -> f32 {
    let (grid, rows) = padded_grid(prompts);
    model.clear_kv_cache();
    let batched: Vec<Vec<f32>> = model.forward(&grid, &rows).unwrap().to_vec2().unwrap();
    let mut worst = 0f32;
    for (p, row) in prompts.iter().zip(&batched) {
        model.clear_kv_cache();
        let (t, rows) = one_row(p);
        let alone: Vec<f32> = model.forward(&t, &rows).unwrap().squeeze(0).unwrap().to_vec1().unwrap();
        worst = worst.max(max_abs_diff(row, &alone));
    }
    worst
}

/// Largest difference between one-pass and chunked prefill logits of `prompt`.
fn chunked_vs_one_shot(model: &mut Model, prompt: &[u32], chunk: usize) -> f32 {
    let (t, rows) = one_row(prompt);
    model.clear_kv_cache();
    let one_shot: Vec<f32> = model.forward(&t, &rows).unwrap().squeeze(0).unwrap().to_vec1().unwrap();
    model.clear_kv_cache();
    let mut chunked = None;
    for c0 in (0..prompt.len()).step_by(chunk) {
        let n = chunk.min(prompt.len() - c0);
        chunked = Some(model.forward(&t.narrow(1, c0, n).unwrap().contiguous().unwrap(), &rows).unwrap());
    }
    max_abs_diff(&chunked.unwrap().squeeze(0).unwrap().to_vec1::<f32>().unwrap(), &one_shot)
}

fn tiny_prompts() -> Vec<Vec<u32>> {
    [1usize, 5, 40, 130, 300, 17, 2, 64]
        .iter()
        .map(|&n| (0..n as u32).map(|i| (i * 37 + n as u32) % 300).collect())
        .collect()
}

// The shared decoder's batching and chunking are exact up to float rounding (1e-4, as the issue
// asks) on every architecture.
#[test]
fn tiny_models_left_padded_batch_of_8_and_chunked_prefill_match_single_pass() {
    for name in ["llama", "qwen2", "qwen3"] {
        let mut m = load_gguf(&fixtures().join(format!("tiny_{name}.gguf")), &Device::Cpu).unwrap();
        let batch = batch_vs_alone(&mut m, &tiny_prompts());
        let chunked = [7, 64, 200].iter().map(|&c| chunked_vs_one_shot(&mut m, &tiny_prompts()[4], c)).fold(0f32, f32::max);
        println!("tiny {name}: batch of 8 vs alone {batch:.1e}; chunked vs one pass {chunked:.1e}");
        assert!(batch < 1e-4 && chunked < 1e-4, "{name}: {batch} {chunked}");
    }
}

/// Sampling with a per-conversation seed: neither the batch nor the scheduler may change any
/// reply. Budgets differ per row, the hook stops a row that emits token 5 and token 7 is an EOS,
/// so rows finish at different steps; with all 8 in flight they leave a shrinking batch, through
/// 3 slots each freed slot is refilled with the next prompt (lengths 1 to 300) mid-run.
#[test]
fn tiny_sampled_generation_all_in_flight_and_through_3_slots_equals_one_at_a_time() {
    let mut model = load_gguf(&fixtures().join("tiny_qwen3.gguf"), &Device::Cpu).unwrap();
    let inputs: Vec<GenerationInput> = tiny_prompts()
        .into_iter()
        .enumerate()
        .map(|(i, p)| GenerationInput { conversation_id: format!("c{i}"), prompt: p, max_new_tokens: 3 + 2 * i })
        .collect();
    let options = GenerateOptions {
        sampling: SamplingParams { temperature: 0.9, top_p: Some(0.95), top_k: Some(40), repetition_penalty: Some(1.1) },
        run_seed: 7,
        eos_ids: vec![7],
        prefill_chunk: 50,
    };
    let mut hook = |_: usize, t: &[u32]| t.last() == Some(&5);
    let alone: Vec<GenerationOutput> = inputs
        .iter()
        .map(|input| generate(&mut model, std::slice::from_ref(input), &options, &mut hook).unwrap().remove(0))
        .collect();
    let batched = generate(&mut model, &inputs, &options, &mut hook).unwrap();
    let mut streamed = vec![None; inputs.len()];
    let mut order = Vec::new();
    generate_each(&mut model, &inputs, &options, 3, &mut hook, &mut |i, out| {
        order.push(i);
        streamed[i] = Some(out);
        ControlFlow::Continue(())
    })
    .unwrap();
    for ((input, one), (b, s)) in inputs.iter().zip(&alone).zip(batched.iter().zip(&streamed)) {
        let s = s.as_ref().expect("every conversation answered");
        for out in [b, s] {
            assert_eq!((&out.tokens, out.stop), (&one.tokens, one.stop), "{}", input.conversation_id);
            assert_eq!(out.prompt_tokens, input.prompt.len());
            assert!(out.tokens.len() <= input.max_new_tokens);
            assert!(out.ttft_ms >= out.prefill_ms && out.prefill_ms > 0.0 && out.decode_ms >= 0.0);
        }
        assert!(s.batch <= 3, "{}: {} rows in a decode step of 3 slots", input.conversation_id, s.batch);
    }
    assert_ne!(order, (0..inputs.len()).collect::<Vec<_>>(), "rows should finish out of order");
    assert!(streamed.iter().flatten().any(|s| s.batch == 3), "the 3 slots were never full at once");
    println!("tiny qwen3: replies {:?}; finished in order {order:?}",
        alone.iter().map(|b| (b.tokens.len(), b.stop)).collect::<Vec<_>>());
}

/// Logits of each conversation at every step (its prefill's last column, then each decode step),
/// greedy, with `slots` KV-cache slots: a conversation joins as soon as a slot is free, feeds
/// its prompt in chunks of `chunk` (one chunk per step, between the others' decode steps) and
/// decodes `budget` tokens. With one prompt and one slot this is that conversation alone.
fn logits_through_slots(model: &mut Model, prompts: &[Vec<u32>], budget: &[usize], slots: usize, chunk: usize)
    -> Vec<Vec<Vec<f32>>> {
    struct Conv { index: usize, slot: usize, fed: usize, history: Vec<u32> }
    let mut logits = vec![Vec::new(); prompts.len()];
    let mut waiting = 0..prompts.len();
    let mut free: Vec<usize> = (0..slots).rev().collect();
    let mut live: Vec<Conv> = Vec::new();
    model.clear_kv_cache();
    while !live.is_empty() || !waiting.is_empty() {
        while !free.is_empty() && !waiting.is_empty() {
            let index = waiting.next().unwrap();
            live.push(Conv { index, slot: free.pop().unwrap(), fed: 0, history: prompts[index].clone() });
        }
        for c in live.iter_mut().filter(|c| c.fed < prompts[c.index].len()) {
            let n = chunk.min(prompts[c.index].len() - c.fed);
            let ids = Tensor::new(&c.history[c.fed..c.fed + n], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
            let out: Vec<f32> = model.forward_slots(&ids, &[c.slot]).unwrap().squeeze(0).unwrap().to_vec1().unwrap();
            c.fed += n;
            if c.fed == prompts[c.index].len() {
                c.history.push(argmax(&out));
                logits[c.index].push(out);
            }
        }
        let decoding: Vec<usize> = (0..live.len()).filter(|&i| {
            let c = &live[i];
            c.fed == prompts[c.index].len() && logits[c.index].len() <= budget[c.index]
        }).collect();
        if !decoding.is_empty() {
            let last: Vec<u32> = decoding.iter().map(|&i| *live[i].history.last().unwrap()).collect();
            let slots: Vec<usize> = decoding.iter().map(|&i| live[i].slot).collect();
            let ids = Tensor::from_vec(last, (decoding.len(), 1), &Device::Cpu).unwrap();
            let out: Vec<Vec<f32>> = model.forward_slots(&ids, &slots).unwrap().to_vec2().unwrap();
            for (&i, row) in decoding.iter().zip(out) {
                live[i].history.push(argmax(&row));
                logits[live[i].index].push(row);
            }
        }
        live.retain(|c| {
            let done = logits[c.index].len() > budget[c.index];
            if done {
                model.release_slot(c.slot);
                free.push(c.slot);
            }
            !done
        });
    }
    model.clear_kv_cache();
    logits
}

fn argmax(logits: &[f32]) -> u32 {
    logits.iter().enumerate().fold((0, f32::MIN), |best, (i, &x)| if x > best.1 { (i, x) } else { best }).0 as u32
}

/// Largest logit difference between conversations streamed through 4 slots (joining mid-run at
/// their own lengths) and each alone; asserts the greedy tokens agree.
fn slots_vs_alone(model: &mut Model, prompts: &[Vec<u32>], budget: &[usize], chunk: usize) -> f32 {
    let streamed = logits_through_slots(model, prompts, budget, 4, chunk);
    let mut worst = 0f32;
    for (i, steps) in streamed.iter().enumerate() {
        let alone = logits_through_slots(model, &prompts[i..=i], &budget[i..=i], 1, chunk).remove(0);
        assert_eq!(steps.len(), alone.len(), "conversation {i}: step count");
        for (k, (a, b)) in steps.iter().zip(&alone).enumerate() {
            assert_eq!(argmax(a), argmax(b), "conversation {i}, step {k}: greedy token differs");
            worst = worst.max(max_abs_diff(a, b));
        }
    }
    worst
}

#[test]
fn tiny_models_conversations_joining_4_slots_match_each_alone() {
    let prompts = tiny_prompts();
    let budget = [9, 2, 14, 5, 3, 11, 7, 4];
    for name in ["llama", "qwen2", "qwen3"] {
        let mut m = load_gguf(&fixtures().join(format!("tiny_{name}.gguf")), &Device::Cpu).unwrap();
        let worst = slots_vs_alone(&mut m, &prompts, &budget, 64);
        println!("tiny {name}: 8 conversations (lengths 1..300) through 4 slots vs alone: max |diff| = {worst:.1e}");
        assert!(worst < 1e-4, "{name}: {worst}");
    }
}

// Gemma 3 amplifies float rounding (a ~1e-7 difference grows to ~1 logit through its post-MLP
// RMSNorm of near-zero outputs), so these two checks hold only because every row's arithmetic is
// independent of its neighbours and of the chunking: the CPU attention kernel visits exactly a
// query's visible keys in column order, and one-row Q6K matmuls take the tiled kernel too.
#[test]
fn gemma3_left_padded_batch_of_8_matches_each_prompt_alone() {
    let Some(mut model) = gemma() else { return };
    let prompts = prompts_of_mixed_length();
    let worst = batch_vs_alone(&mut model, &prompts);
    println!("gemma3: batch of 8 (lengths {:?}) vs alone: max |diff| = {worst:.2e}",
        prompts.iter().map(Vec::len).collect::<Vec<_>>());
    assert!(worst < 1e-4, "{worst}");
}

#[test]
fn gemma3_chunked_prefill_matches_one_shot() {
    let Some(mut model) = gemma() else { return };
    let prompt = &gemma_cases()[4].prompt_ids;
    let short = chunked_vs_one_shot(&mut model, &gemma_cases()[2].prompt_ids, 7);
    let long = chunked_vs_one_shot(&mut model, prompt, 200);
    println!("gemma3: 20-token prompt in chunks of 7: max |diff| = {short:.2e}; {}-token prompt in chunks of 200: {long:.2e}", prompt.len());
    assert!(short < 1e-4 && long < 1e-4, "{short} {long}");
}

/// Conversations of very different lengths (1 to 600 tokens, across the 512-token window)
/// streamed through 4 slots, joining mid-run in 200-token chunks, get each conversation's
/// logits alone at every step of prefill and decode.
#[test]
fn gemma3_conversations_joining_4_slots_match_each_alone() {
    let Some(mut model) = gemma() else { return };
    let prompts = prompts_of_mixed_length();
    let budget = [6, 2, 9, 4, 3, 8, 5, 7];
    let worst = slots_vs_alone(&mut model, &prompts, &budget, 200);
    println!("gemma3: 8 conversations (lengths {:?}) through 4 slots vs alone: max |diff| = {worst:.2e}",
        prompts.iter().map(Vec::len).collect::<Vec<_>>());
    assert!(worst < 1e-4, "{worst}");
}

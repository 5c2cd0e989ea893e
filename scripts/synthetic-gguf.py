#!/usr/bin/env python3
"""Write a random-weight GGUF shaped exactly like a study model's Q4_K_M file.

The study's open models are 4-9 GB downloads; a file with the same architecture metadata, tensor
names, shapes and per-tensor quantisation types runs at the same speed (the kernels never look at
the values), so throughput on the real shapes can be measured offline: `mhbench bench --model
FILE.gguf`, `scripts/compare-llamacpp.py --model FILE.gguf`. The replies are noise.

Models (hyper-parameters from each model's config.json):

| --model | arch | width | blocks | heads (kv) | FFN | vocab | file at full depth |
|---|---|---:|---:|---|---:|---:|---:|
| llama-3.1-8b-instruct | llama | 4096 | 32 | 32 (8) | 14336 | 128256 | ~4.9 GB |
| deepseek-r1-distill-llama-8b | llama | 4096 | 32 | 32 (8) | 14336 | 128256 | ~4.9 GB |
| qwen2.5-7b-instruct | qwen2 (q/k/v biases) | 3584 | 28 | 28 (4) | 18944 | 152064 | ~4.7 GB |
| deepseek-r1-distill-qwen-7b | qwen2 (q/k/v biases) | 3584 | 28 | 28 (4) | 18944 | 152064 | ~4.7 GB |
| qwen3-4b | qwen3 (q/k norms, tied embedding) | 2560 | 36 | 32 (8) | 9728 | 151936 | ~2.5 GB |

Quantisation types: llama.cpp's Q4_K_M recipe (`llama_tensor_get_type` in src/llama-quant.cpp,
ftype LLAMA_FTYPE_MOSTLY_Q4_K_M), reduced to the branches these dense models reach:
- 1-D tensors (norms, biases, rope_freqs) stay F32;
- `output.weight` is Q6_K; without one (tied embeddings, Qwen3-4B) `token_embd.weight` takes
  its place and is Q6_K; otherwise `token_embd.weight` is Q4_K;
- `attn_v.weight` and `ffn_down.weight` of block i of n are Q6_K when use_more_bits(i, n):
  i < n/8 or i >= 7n/8 or (i - n/8) % 3 == 2 (integer division), else Q4_K;
- every other matrix is Q4_K;
- a matrix whose row width is not a multiple of 256 would fall back (Q4_K -> Q5_0,
  Q6_K -> Q8_0); no matrix of these five models needs it, and the script refuses such a shape.
`--layers N` writes the first N blocks of the full model, each with the type it has in the full
file (the rule uses the real block count), so block_count says N and everything else is real.

Tensor data: random bytes, with every f16 scale field overwritten by small finite values
(Q4_K d and dmin, Q6_K d), so dequantised weights have mean |w| of about 0.02, centred on zero,
and no NaN or inf. Norm weights are 1, biases small random, rope_freqs Llama 3.1's real
frequency divisors. Each tensor is generated and written on its own: memory stays at the largest
tensor (under 0.5 GB), never the file.

Tokenizer: a gpt2-type byte-level BPE of the real size and special tokens: the 256 byte symbols,
then synthetic tokens built by merging (letters first), the merges that build them, and at the
real ids the model's special tokens (control for the special ones, user-defined for the others,
as llama.cpp's converter marks them), padding to the embedding rows as `[PADn]` (unused). The
pre-tokeniser name (llama-bpe, qwen2, deepseek-r1-qwen), BOS/EOS ids and add_bos flag are the
real file's; the chat template is the model's own (tests/fixtures/engine/chat_templates). Text
tokenises into real-looking ids, never the real model's ids.

Usage (pip install gguf numpy; gguf is llama.cpp's own gguf-py writer):
    python3 scripts/synthetic-gguf.py --model llama-3.1-8b-instruct --out models/synth-llama.gguf
    python3 scripts/synthetic-gguf.py --model qwen3-4b --layers 2 --out /tmp/q3.gguf --seed 7
    python3 scripts/synthetic-gguf.py --model qwen2.5-7b-instruct --plan   # tensor plan as JSON
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

try:
    import gguf
except ImportError:
    sys.exit("synthetic-gguf: the Python package `gguf` is missing; install it with: pip install gguf numpy")

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, SCRIPTS)
sys.dont_write_bytecode = True  # no scripts/__pycache__ in the checkout
from gguf_helpers import byte_symbols, llama3_rope_factors  # noqa: E402

TEMPLATES = os.path.join(os.path.dirname(SCRIPTS), "tests", "fixtures", "engine", "chat_templates")
Q = gguf.GGMLQuantizationType
QK_K = 256
# Scale of each type's f16 `d`, chosen so that mean |w| ~ 0.02 for random quants (see fill_*).
Q4K_D = 1.0e-4
Q6K_D = 2.0e-5

LLAMA31_ROPE = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original": 8192}


def llama3_specials(renamed):
    """Llama 3.1's 256 special ids from 128000, with `renamed` {id: text} replacing names."""
    names = {128000: "<|begin_of_text|>", 128001: "<|end_of_text|>", 128002: "<|reserved_special_token_0|>",
             128003: "<|reserved_special_token_1|>", 128004: "<|finetune_right_pad_id|>",
             128005: "<|reserved_special_token_2|>", 128006: "<|start_header_id|>", 128007: "<|end_header_id|>",
             128008: "<|eom_id|>", 128009: "<|eot_id|>", 128010: "<|python_tag|>"}
    for i in range(128011, 128256):
        names[i] = f"<|reserved_special_token_{i - 128008}|>"
    names.update(renamed)
    return [(i, names[i], True) for i in range(128000, 128256)]


# Qwen2.5's added tokens (tokenizer_config.json added_tokens_decoder): (text, special).
QWEN_ADDED = [("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
              ("<|object_ref_start|>", True), ("<|object_ref_end|>", True), ("<|box_start|>", True),
              ("<|box_end|>", True), ("<|quad_start|>", True), ("<|quad_end|>", True), ("<|vision_start|>", True),
              ("<|vision_end|>", True), ("<|vision_pad|>", True), ("<|image_pad|>", True), ("<|video_pad|>", True),
              ("<tool_call>", False), ("</tool_call>", False), ("<|fim_prefix|>", False), ("<|fim_middle|>", False),
              ("<|fim_suffix|>", False), ("<|fim_pad|>", False), ("<|repo_name|>", False), ("<|file_sep|>", False)]
QWEN3_ADDED = QWEN_ADDED + [("<tool_response>", False), ("</tool_response>", False), ("<think>", False),
                            ("</think>", False)]
R1_QWEN_ADDED = [("<｜end▁of▁sentence｜>", True), ("<｜User｜>", False), ("<｜Assistant｜>", False),
                 ("<｜begin▁of▁sentence｜>", True), ("<|EOT|>", True), ("<think>", False), ("</think>", False)] \
    + QWEN_ADDED[7:]


def numbered(first_id, added):
    return [(first_id + k, text, special) for k, (text, special) in enumerate(added)]


LLAMA_8B = dict(arch="llama", hidden=4096, layers=32, heads=32, kv_heads=8, head_dim=128, ffn=14336, vocab=128256,
                rope_base=500000.0, eps=1e-5, context=131072, tied=False, qkv_bias=False, qk_norm=False,
                rope_scaling=LLAMA31_ROPE, n_normal=128000, pre="llama-bpe", add_bos=True)
QWEN25_7B = dict(arch="qwen2", hidden=3584, layers=28, heads=28, kv_heads=4, head_dim=128, ffn=18944, vocab=152064,
                 eps=1e-6, tied=False, qkv_bias=True, qk_norm=False, rope_scaling=None, n_normal=151643, pad=151643)
MODELS = {
    "llama-3.1-8b-instruct": dict(
        LLAMA_8B, name="Meta Llama 3.1 8B Instruct (synthetic weights)", template="llama3.1.jinja",
        specials=llama3_specials({}), bos=128000, eos=128009),
    "deepseek-r1-distill-llama-8b": dict(
        LLAMA_8B, name="DeepSeek R1 Distill Llama 8B (synthetic weights)", template="deepseek-r1-distill.jinja",
        specials=llama3_specials({128000: "<｜begin▁of▁sentence｜>", 128001: "<｜end▁of▁sentence｜>",
                                  128011: "<｜User｜>", 128012: "<｜Assistant｜>", 128013: "<think>",
                                  128014: "</think>", 128015: "<｜▁pad▁｜>"}),
        bos=128000, eos=128001),
    "qwen2.5-7b-instruct": dict(
        QWEN25_7B, name="Qwen2.5 7B Instruct (synthetic weights)", template="qwen2.5.jinja", rope_base=1000000.0,
        context=32768, pre="qwen2", specials=numbered(151643, QWEN_ADDED), bos=151643, eos=151645, add_bos=False),
    "deepseek-r1-distill-qwen-7b": dict(
        QWEN25_7B, name="DeepSeek R1 Distill Qwen 7B (synthetic weights)", template="deepseek-r1-distill.jinja",
        rope_base=10000.0, context=131072, pre="deepseek-r1-qwen", specials=numbered(151643, R1_QWEN_ADDED),
        bos=151646, eos=151643, add_bos=True),
    "qwen3-4b": dict(
        arch="qwen3", name="Qwen3 4B (synthetic weights)", template="qwen3.jinja", hidden=2560, layers=36, heads=32,
        kv_heads=8, head_dim=128, ffn=9728, vocab=151936, rope_base=1000000.0, eps=1e-6, context=40960, tied=True,
        qkv_bias=False, qk_norm=True, rope_scaling=None, n_normal=151643, pad=151643, pre="qwen2",
        specials=numbered(151643, QWEN3_ADDED), bos=151643, eos=151645, add_bos=False),
}


# ---- the Q4_K_M recipe -------------------------------------------------------------------------

def use_more_bits(i_layer, n_layers):
    """llama.cpp's choice of the blocks whose attn_v / ffn_down get Q6_K in Q4_K_M."""
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


def q4_k_m_type(name, shape, block, n_layers, tied):
    """The GGML type llama.cpp's Q4_K_M gives tensor `name` of `shape` (outermost first)."""
    if len(shape) == 1:
        return Q.F32
    if name == "output.weight" or (tied and name == "token_embd.weight"):
        kind = Q.Q6_K
    elif name.endswith(("attn_v.weight", "ffn_down.weight")) and use_more_bits(block, n_layers):
        kind = Q.Q6_K
    else:
        kind = Q.Q4_K
    if shape[-1] % QK_K:
        sys.exit(f"synthetic-gguf: {name} {shape}: rows of {shape[-1]} values need llama.cpp's fallback "
                 f"types (Q5_0/Q8_0), which this script does not write")
    return kind


def tensor_plan(spec, layers):
    """(name, shape outermost first, GGML type) of every tensor, in file order."""
    h, hd, n = spec["hidden"], spec["head_dim"], spec["layers"]
    q_rows, kv_rows = spec["heads"] * hd, spec["kv_heads"] * hd
    plan = []
    if spec["rope_scaling"]:
        plan.append(("rope_freqs.weight", (hd // 2,)))
    plan.append(("token_embd.weight", (spec["vocab"], h)))
    for i in range(layers):
        p = f"blk.{i}."
        block = [("attn_norm.weight", (h,)), ("attn_q.weight", (q_rows, h)), ("attn_k.weight", (kv_rows, h)),
                 ("attn_v.weight", (kv_rows, h)), ("attn_output.weight", (h, q_rows))]
        if spec["qkv_bias"]:
            block += [("attn_q.bias", (q_rows,)), ("attn_k.bias", (kv_rows,)), ("attn_v.bias", (kv_rows,))]
        if spec["qk_norm"]:
            block += [("attn_q_norm.weight", (hd,)), ("attn_k_norm.weight", (hd,))]
        block += [("ffn_norm.weight", (h,)), ("ffn_gate.weight", (spec["ffn"], h)),
                  ("ffn_up.weight", (spec["ffn"], h)), ("ffn_down.weight", (h, spec["ffn"]))]
        plan += [(p + name, shape) for name, shape in block]
    plan.append(("output_norm.weight", (h,)))
    if not spec["tied"]:
        plan.append(("output.weight", (spec["vocab"], h)))
    typed = []
    for name, shape in plan:
        block = int(name.split(".")[1]) if name.startswith("blk.") else -1
        typed.append((name, shape, q4_k_m_type(name, shape, block, n, spec["tied"])))
    return typed


def nbytes(shape, kind):
    block, size = gguf.GGML_QUANT_SIZES[kind]
    return math.prod(shape) // block * size


# ---- tensor data -------------------------------------------------------------------------------

def random_blocks(rng, n_blocks, block_bytes):
    """n_blocks x block_bytes random bytes (64-bit raw draws, the fastest numpy source)."""
    total = n_blocks * block_bytes
    raw = rng.bit_generator.random_raw((total + 7) // 8).view(np.uint8)[:total]
    return raw.reshape(n_blocks, block_bytes)


def f16_column(rng, n, scale):
    """n f16 scales in [0.5, 1.5) x scale, as (n, 2) bytes to drop into a block column."""
    values = (rng.random(n, dtype=np.float32) + 0.5) * scale
    return values.astype(np.float16).view(np.uint8).reshape(n, 2)


def fill_q4_k(rng, n_blocks):
    """Q4_K blocks (d, dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles):
    w = d*sc*q - dmin*m; dmin = 7.5 d centres w, since E[sc*q] = 7.5 E[m]."""
    blocks = random_blocks(rng, n_blocks, 144)
    d = (rng.random(n_blocks, dtype=np.float32) + 0.5) * Q4K_D
    blocks[:, 0:2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    blocks[:, 2:4] = (d * 7.5).astype(np.float16).view(np.uint8).reshape(-1, 2)
    return blocks


def fill_q6_k(rng, n_blocks):
    """Q6_K blocks (128 + 64 bytes of 6-bit quants, 16 int8 scales, d at the end):
    w = d * scale * (q - 32)."""
    blocks = random_blocks(rng, n_blocks, 210)
    blocks[:, 208:210] = f16_column(rng, n_blocks, Q6K_D)
    return blocks


def tensor_data(spec, name, shape, kind, rng):
    if kind == Q.Q4_K:
        return fill_q4_k(rng, math.prod(shape) // QK_K)
    if kind == Q.Q6_K:
        return fill_q6_k(rng, math.prod(shape) // QK_K)
    if name == "rope_freqs.weight":
        r = spec["rope_scaling"]
        return llama3_rope_factors(spec["head_dim"], spec["rope_base"], r["factor"], r["low_freq_factor"],
                                   r["high_freq_factor"], r["original"])
    if name.endswith(".bias"):
        return (rng.standard_normal(shape[0], dtype=np.float32) * 0.02).astype(np.float32)
    return np.ones(shape, dtype=np.float32)  # norm weights


# ---- tokenizer ---------------------------------------------------------------------------------

def synthetic_vocab(n_normal):
    """n_normal byte-level tokens and the merges that build them: the 256 byte symbols, then
    every pair of symbols, then pairs extended by one symbol, ... (lower-case letters and the
    space symbol first, so common text merges early)."""
    symbols = byte_symbols()
    first = [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["Ġ"]
    order = first + [s for s in symbols if s not in first]
    tokens, merges, level = list(symbols), [], order
    while len(tokens) < n_normal:
        longer = []
        for left in level:
            for right in order:
                if len(tokens) == n_normal:
                    break
                tokens.append(left + right)
                merges.append(f"{left} {right}")
                longer.append(left + right)
        level = longer
    return tokens, merges


def add_tokenizer(writer, spec):
    tokens, merges = synthetic_vocab(spec["n_normal"])
    types = [gguf.TokenType.NORMAL] * len(tokens)
    for token_id, text, special in spec["specials"]:
        assert token_id == len(tokens), (token_id, len(tokens))
        tokens.append(text)
        types.append(gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED)
    while len(tokens) < spec["vocab"]:
        tokens.append(f"[PAD{len(tokens)}]")
        types.append(gguf.TokenType.UNUSED)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(spec["pre"])
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(spec["bos"])
    writer.add_eos_token_id(spec["eos"])
    if "pad" in spec:
        writer.add_pad_token_id(spec["pad"])
    writer.add_add_bos_token(spec["add_bos"])
    with open(os.path.join(TEMPLATES, spec["template"]), encoding="utf-8") as f:
        writer.add_chat_template(f.read())


def add_hyperparameters(writer, spec, layers):
    writer.add_name(spec["name"])
    writer.add_context_length(spec["context"])
    writer.add_embedding_length(spec["hidden"])
    writer.add_block_count(layers)
    writer.add_feed_forward_length(spec["ffn"])
    writer.add_head_count(spec["heads"])
    writer.add_head_count_kv(spec["kv_heads"])
    writer.add_rope_freq_base(spec["rope_base"])
    writer.add_layer_norm_rms_eps(spec["eps"])
    writer.add_rope_dimension_count(spec["head_dim"])
    if spec["arch"] == "qwen3":
        writer.add_key_length(spec["head_dim"])
        writer.add_value_length(spec["head_dim"])
    if spec["arch"] == "llama":
        writer.add_vocab_size(spec["vocab"])
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


# ---- main --------------------------------------------------------------------------------------

def write(spec, plan, layers, out, seed):
    writer = gguf.GGUFWriter(out, spec["arch"])
    add_hyperparameters(writer, spec, layers)
    add_tokenizer(writer, spec)
    for name, shape, kind in plan:
        if kind == Q.F32:
            writer.add_tensor_info(name, shape, np.dtype(np.float32), nbytes(shape, kind))
        else:
            byte_shape = (*shape[:-1], shape[-1] // gguf.GGML_QUANT_SIZES[kind][0] * gguf.GGML_QUANT_SIZES[kind][1])
            writer.add_tensor_info(name, byte_shape, np.dtype(np.uint8), nbytes(shape, kind), raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for index, (name, shape, kind) in enumerate(plan):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, index])))
        writer.write_tensor_data(tensor_data(spec, name, shape, kind, rng))
    writer.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, choices=sorted(MODELS), help="study model whose Q4_K_M file to imitate")
    ap.add_argument("--out", help="GGUF path to write (default: models/synthetic-MODEL-q4_k_m.gguf)")
    ap.add_argument("--layers", type=int, help="transformer blocks to write (default: the model's own count)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    ap.add_argument("--plan", action="store_true", help="print the tensor plan as JSON and write nothing")
    args = ap.parse_args()
    spec = MODELS[args.model]
    layers = spec["layers"] if args.layers is None else args.layers
    if not 1 <= layers <= spec["layers"]:
        ap.error(f"--layers {layers}: {args.model} has 1 to {spec['layers']} blocks")
    plan = tensor_plan(spec, layers)
    total = sum(nbytes(shape, kind) for _, shape, kind in plan)
    if args.plan:
        json.dump({"model": args.model, "arch": spec["arch"], "layers": layers, "tensor_bytes": total,
                   "tensors": [{"name": n, "shape": list(s), "type": k.name, "bytes": nbytes(s, k)}
                               for n, s, k in plan]}, sys.stdout, indent=1)
        print()
        return
    out = args.out or os.path.join(os.path.dirname(SCRIPTS), "models", f"synthetic-{args.model}-q4_k_m.gguf")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    started = time.perf_counter()
    write(spec, plan, layers, out, args.seed)
    seconds = time.perf_counter() - started
    print(f"{out}: {args.model}, {layers} blocks, {len(plan)} tensors, {os.path.getsize(out)} bytes "
          f"in {seconds:.1f} s", file=sys.stderr)
    print(out)


if __name__ == "__main__":
    main()

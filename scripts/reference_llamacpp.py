#!/usr/bin/env python3
"""Write the engine's llama.cpp reference fixtures under tests/fixtures/engine/.

Two kinds of fixture, both consumed by `cargo test --lib engine`:

1. `gemma3_greedy.json`: for six fixed prompts (two longer than Gemma 3's 512-token sliding
   window), the prompt token ids from llama.cpp's own tokenizer, llama.cpp's greedy tokens and its
   top-two logit margin at every generated step, plus the top-20 logits of the first step.
   Needs the default model (scripts/fetch-default-model.sh).
2. `tiny_<arch>.gguf` + `tiny_<arch>.logits.json`: tiny random-weight models with the metadata
   layout of Llama 3.1 (llama), Qwen2.5 (qwen2) and Qwen3 (qwen3), and llama.cpp's logits at
   every position of a fixed token sequence (fed as ids; the tiny vocabularies are never used to
   tokenise). `tiny_qwen2/` is a config.json + model.safetensors twin of `tiny_qwen2.gguf`
   (same f32 weights, Hugging Face names) for the safetensors path.

Reference: llama-cpp-python (pip, built from source), n_threads=2, greedy, one sequence.
Run: python3 scripts/reference_llamacpp.py [--skip-gemma]
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import gguf
import llama_cpp
from llama_cpp import Llama

from gguf_helpers import llama3_rope_factors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "engine")
GEMMA = os.path.join(ROOT, "models", "gemma-3-270m-q4_k_m.gguf")
N_NEW = 32


def gemma_prompts():
    """Six fixed prompts of varied length; the last two exceed the 512-token window."""
    import this as _zen  # noqa: F401  (prints the Zen of Python on import; harmless)
    zen = "".join(_zen.d.get(c, c) for c in _zen.s)
    import collections, json as _json, argparse as _argparse, string, textwrap, heapq, bisect
    docs = "\n\n".join(m.__doc__ for m in (_json, _argparse, collections, heapq, bisect))
    return [
        "The capital of France is",
        "Question: How can I cope with feeling anxious before exams?\nAnswer:",
        "Once upon a time, in a small village by the sea, there lived an old fisherman who",
        "A list of healthy habits for better sleep:\n1.",
        zen + "\n\n" + docs[:1500] + "\n\nIn summary, the text above says that",
        docs[2000:5000] + "\n\nThe main point of all of this documentation is",
    ]


def top2_margin(row):
    top = np.partition(row, -2)[-2:]
    return float(abs(top[1] - top[0]))


def greedy_with_margins(llm, ids, n_new):
    llm.reset()
    llm.eval(ids)
    tokens, margins, first_top = [], [], None
    for step in range(n_new):
        row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        if step == 0:
            order = np.argsort(-row)[:20]
            first_top = [[int(i), float(row[i])] for i in order]
        tok = int(np.argmax(row))
        tokens.append(tok)
        margins.append(top2_margin(row))
        llm.eval([tok])
    return tokens, margins, first_top


def write_gemma_fixture():
    # f32 KV cache, as mhbench keeps it: llama.cpp's default f16 cache alone moves this model's
    # logits by up to ~0.8 (measured), which would swamp the comparison.
    llm = Llama(model_path=GEMMA, n_ctx=1024, n_threads=2, logits_all=True, verbose=False,
                type_k=0, type_v=0)
    cases = []
    for text in gemma_prompts():
        ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        tokens, margins, first_top = greedy_with_margins(llm, ids, N_NEW)
        cases.append({"prompt_ids": ids, "greedy": tokens, "top2_margin": margins,
                      "first_step_top20": first_top})
        print(f"gemma3: prompt {len(ids)} tokens, min margin {min(margins):.3f}", file=sys.stderr)
    doc = {"model": "gemma-3-270m-q4_k_m.gguf", "llama_cpp_python": llama_cpp.__version__,
           "n_threads": 2, "kv_cache": "f32", "n_new": N_NEW, "cases": cases}
    with open(os.path.join(OUT, "gemma3_greedy.json"), "w") as f:
        json.dump(doc, f)


# ---------------------------------------------------------------------------------------------
# Tiny random-weight models

TINY = dict(vocab=320, hidden=64, layers=2, heads=4, kv_heads=2, head_dim=16, ff=128)
TINY_IDS = [1, 17, 200, 45, 45, 3, 310, 99, 64, 128, 7, 250]


def byte_vocab(n):
    """A byte-level BPE vocabulary: 256 byte symbols, merged pairs, then special tokens."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    k = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + k)
            k += 1
    symbols = [chr(c) for c in cs]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    merges, tokens = [], list(symbols)
    for a in letters:
        for b in letters:
            if len(tokens) >= n - 4:
                break
            merges.append(f"{a} {b}")
            tokens.append(a + b)
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"]
    tokens += specials
    types = [1] * (len(tokens) - len(specials)) + [3] * len(specials)
    return tokens, types, merges


def rng_tensor(rng, *shape, scale=None):
    scale = scale if scale is not None else 1.0 / np.sqrt(shape[-1])
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def tiny_weights(arch, seed):
    """Random weights under GGUF names; returned as {name: f32 array [out, in]}."""
    rng = np.random.default_rng(seed)
    t = TINY
    w = {"token_embd.weight": rng_tensor(rng, t["vocab"], t["hidden"], scale=1.0),
         "output_norm.weight": 1.0 + 0.1 * rng_tensor(rng, t["hidden"], scale=1.0)}
    if arch != "qwen3":
        w["output.weight"] = rng_tensor(rng, t["vocab"], t["hidden"])
    q_dim, kv_dim = t["heads"] * t["head_dim"], t["kv_heads"] * t["head_dim"]
    for i in range(t["layers"]):
        p = f"blk.{i}."
        w[p + "attn_norm.weight"] = 1.0 + 0.1 * rng_tensor(rng, t["hidden"], scale=1.0)
        w[p + "ffn_norm.weight"] = 1.0 + 0.1 * rng_tensor(rng, t["hidden"], scale=1.0)
        w[p + "attn_q.weight"] = rng_tensor(rng, q_dim, t["hidden"])
        w[p + "attn_k.weight"] = rng_tensor(rng, kv_dim, t["hidden"])
        w[p + "attn_v.weight"] = rng_tensor(rng, kv_dim, t["hidden"])
        w[p + "attn_output.weight"] = rng_tensor(rng, t["hidden"], q_dim)
        w[p + "ffn_gate.weight"] = rng_tensor(rng, t["ff"], t["hidden"])
        w[p + "ffn_up.weight"] = rng_tensor(rng, t["ff"], t["hidden"])
        w[p + "ffn_down.weight"] = rng_tensor(rng, t["hidden"], t["ff"])
        if arch == "qwen2":
            for n, d in (("q", q_dim), ("k", kv_dim), ("v", kv_dim)):
                w[p + f"attn_{n}.bias"] = 0.1 * rng_tensor(rng, d, scale=1.0)
        if arch == "qwen3":
            w[p + "attn_q_norm.weight"] = 1.0 + 0.1 * rng_tensor(rng, t["head_dim"], scale=1.0)
            w[p + "attn_k_norm.weight"] = 1.0 + 0.1 * rng_tensor(rng, t["head_dim"], scale=1.0)
    return w


# Storage type per tensor: llama exercises Q8_0 and Q4_0, qwen3 Q8_0, qwen2 stays F32 so its
# safetensors twin carries the very same numbers. (F16 weights are avoided: llama.cpp rounds
# activations to f16 for them, which moves these random models' logits by ~0.25.)
def storage_type(arch, name, shape):
    Q = gguf.GGMLQuantizationType
    if len(shape) == 1 or name == "rope_freqs.weight":
        return Q.F32
    if arch == "llama":
        return Q.Q4_0 if "ffn_up" in name or "ffn_gate" in name else Q.Q8_0
    if arch == "qwen3":
        return Q.Q8_0
    return Q.F32


def write_tiny_gguf(arch, path, weights):
    t = TINY
    wr = gguf.GGUFWriter(path, arch)
    wr.add_type(gguf.GGUFType.MODEL)
    wr.add_name(f"tiny-{arch}")
    wr.add_context_length({"llama": 131072, "qwen2": 32768, "qwen3": 40960}[arch])
    wr.add_embedding_length(t["hidden"])
    wr.add_block_count(t["layers"])
    wr.add_feed_forward_length(t["ff"])
    wr.add_head_count(t["heads"])
    wr.add_head_count_kv(t["kv_heads"])
    wr.add_layer_norm_rms_eps({"llama": 1e-5, "qwen2": 1e-6, "qwen3": 1e-6}[arch])
    wr.add_rope_freq_base({"llama": 500000.0, "qwen2": 1000000.0, "qwen3": 1000000.0}[arch])
    if arch == "llama":
        wr.add_rope_dimension_count(t["head_dim"])
        wr.add_vocab_size(t["vocab"])
    if arch == "qwen3":
        wr.add_key_length(t["head_dim"])
        wr.add_value_length(t["head_dim"])
    wr.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if arch != "qwen2" else gguf.LlamaFileType.ALL_F32)
    tokens, types, merges = byte_vocab(t["vocab"])
    wr.add_tokenizer_model("gpt2")
    wr.add_tokenizer_pre({"llama": "llama-bpe", "qwen2": "qwen2", "qwen3": "qwen2"}[arch])
    wr.add_token_list(tokens)
    wr.add_token_types(types)
    wr.add_token_merges(merges)
    if arch == "llama":
        wr.add_bos_token_id(t["vocab"] - 4)
        wr.add_eos_token_id(t["vocab"] - 3)
    else:
        wr.add_bos_token_id(t["vocab"] - 3)
        wr.add_eos_token_id(t["vocab"] - 1)
        wr.add_add_bos_token(False)
    wr.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for name, arr in weights.items():
        kind = storage_type(arch, name, arr.shape)
        if kind == gguf.GGMLQuantizationType.F32:
            wr.add_tensor(name, arr)
        elif kind == gguf.GGMLQuantizationType.F16:
            wr.add_tensor(name, arr.astype(np.float16))
        else:
            wr.add_tensor(name, gguf.quants.quantize(arr, kind), raw_dtype=kind)
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()


def all_logits(path, ids):
    # f32 KV cache so the reference carries no f16 rounding of its own.
    llm = Llama(model_path=path, n_ctx=64, n_threads=2, logits_all=True, verbose=False,
                type_k=0, type_v=0)
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


HF_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight", "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight", "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight", "attn_v.weight": "self_attn.v_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias", "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.bias": "self_attn.v_proj.bias", "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}


def hf_name(name):
    if name in HF_NAMES:
        return HF_NAMES[name]
    _, layer, rest = name.split(".", 2)
    return f"model.layers.{layer}.{HF_NAMES[rest]}"


def write_safetensors(path, tensors):
    """The safetensors format by hand: u64 header length, JSON header, raw little-endian data."""
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


def write_qwen2_safetensors_twin(weights):
    t = TINY
    d = os.path.join(OUT, "tiny_qwen2")
    os.makedirs(d, exist_ok=True)
    write_safetensors(os.path.join(d, "model.safetensors"),
                      {hf_name(n): a for n, a in weights.items()})
    config = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
              "vocab_size": t["vocab"], "hidden_size": t["hidden"],
              "intermediate_size": t["ff"], "num_hidden_layers": t["layers"],
              "num_attention_heads": t["heads"], "num_key_value_heads": t["kv_heads"],
              "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
              "tie_word_embeddings": False, "torch_dtype": "float32",
              "bos_token_id": t["vocab"] - 3, "eos_token_id": t["vocab"] - 1}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


def write_tiny_fixtures():
    for seed, arch in enumerate(("llama", "qwen2", "qwen3")):
        weights = tiny_weights(arch, seed)
        if arch == "llama":
            weights["rope_freqs.weight"] = llama3_rope_factors(TINY["head_dim"], 500000.0)
        path = os.path.join(OUT, f"tiny_{arch}.gguf")
        write_tiny_gguf(arch, path, weights)
        logits = all_logits(path, TINY_IDS)
        doc = {"model": f"tiny_{arch}.gguf", "llama_cpp_python": llama_cpp.__version__,
               "kv_cache": "f32", "ids": TINY_IDS, "logits": logits.tolist()}
        with open(os.path.join(OUT, f"tiny_{arch}.logits.json"), "w") as f:
            json.dump(doc, f)
        print(f"{arch}: {os.path.getsize(path)} bytes, logits {logits.shape}", file=sys.stderr)
        if arch == "qwen2":
            write_qwen2_safetensors_twin(weights)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-gemma", action="store_true", help="only the tiny models")
    ap.add_argument("--skip-tiny", action="store_true", help="only the Gemma 3 fixture")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    if not args.skip_tiny:
        write_tiny_fixtures()
    if not args.skip_gemma:
        write_gemma_fixture()


if __name__ == "__main__":
    main()

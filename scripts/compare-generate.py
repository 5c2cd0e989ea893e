#!/usr/bin/env python3
"""End to end: a response set from `mhbench generate` (continuous batching) against the same prompts
answered one after another by llama.cpp (through llama-cpp-python), as the study's own script did.

Steps:
1. `mhbench curate` draws --conversations CounselChat conversations from ../shared/data (or
   --dataset gives a data set);
2. `mhbench generate` answers them with --model at --batch-size, greedy, --max-new-tokens, --threads
   (wall time measured here, model load included);
3. llama.cpp loads the same GGUF with the same threads and answers each conversation in turn, greedy,
   from the exact prompt mhbench sent (each record's `prompt.messages`), rendered with the plain
   template mhbench uses for base models (BOS, the messages joined by a blank line, a blank line);
4. prints replies per hour, completion tokens, tokens per second of wall time and the speed-up, and
   checks that both engines saw prompts of the same token counts.

Needs: pip install llama-cpp-python; the mhbench release binary (cargo build --release); the
default model (scripts/fetch-default-model.sh). Numbers are only as quiet as the machine.
Run: python3 scripts/compare-generate.py [--conversations 48] [--batch-size 16] [--json out.json]
"""
import argparse
import glob
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MHBENCH = os.path.join(ROOT, "target", "release", "mhbench")

try:
    from llama_cpp import Llama
except ImportError:
    sys.exit("compare-generate: llama_cpp is missing; install the reference engine with:\n"
             "  pip install llama-cpp-python   (builds llama.cpp from source; allow a few minutes)")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gemma-3-270m", help="registry id of a local model with the plain template (default: %(default)s)")
    ap.add_argument("--gguf", default=os.path.join(ROOT, "models", "gemma-3-270m-q4_k_m.gguf"), help="its GGUF file, for llama.cpp (default: %(default)s)")
    ap.add_argument("--mhbench", default=DEFAULT_MHBENCH, help="mhbench binary (default: %(default)s)")
    ap.add_argument("--dataset", help="data set JSONL to answer (default: curate --conversations from CounselChat)")
    ap.add_argument("--data-dir", default=os.path.join(ROOT, "..", "shared", "data"), help="sources for curate (default: %(default)s)")
    ap.add_argument("--conversations", type=int, default=48, help="conversations to curate (default: %(default)s)")
    ap.add_argument("--max-new-tokens", type=int, default=128, help="(default: %(default)s)")
    ap.add_argument("--batch-size", type=int, default=16, help="mhbench conversations in flight (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=2, help="threads for both engines (default: %(default)s)")
    ap.add_argument("--json", metavar="OUT", help="also write the figures and per-reply token counts here")
    args = ap.parse_args()
    for path, what in ((args.gguf, "--gguf"), (args.mhbench, "--mhbench")):
        if not os.path.isfile(path):
            ap.error(f"{what} {path}: no such file")
    return args


def mhbench(args, *argv):
    cmd = [args.mhbench, "-q", "--no-progress", *argv]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"compare-generate: {' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def curate(args, work):
    if not os.path.isdir(args.data_dir):
        sys.exit(f"compare-generate: {args.data_dir}: no such folder; give --dataset or --data-dir")
    out = mhbench(args, "curate", "--data-dir", args.data_dir, "--source", "counselchat",
                  "-n", str(args.conversations), "--name", "e2e", "--out-dir", work)
    sets = [line for line in out.splitlines() if line.endswith(".jsonl")]
    if len(sets) != 1:
        sys.exit(f"compare-generate: curate printed no single data set:\n{out}")
    return sets[0]


def run_mhbench(args, dataset, work):
    out_dir = os.path.join(work, "run")
    start = time.perf_counter()
    mhbench(args, "generate", "--dataset", dataset, "--models", args.model, "--out", out_dir,
            "--max-new-tokens", str(args.max_new_tokens), "--batch-size", str(args.batch_size),
            "--temperature", "0", "--threads", str(args.threads))
    wall = time.perf_counter() - start
    records = []
    for path in sorted(glob.glob(os.path.join(out_dir, "responses", "*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            records += [json.loads(line) for line in f if line.strip()]
    failed = [r["conversation_id"] for r in records if r["finish_reason"] not in ("stop", "length")]
    if failed or not records:
        sys.exit(f"compare-generate: mhbench gave {len(records)} records, failed: {failed}")
    return wall, records


def plain_prompt(messages):
    """The text after BOS of mhbench's plain template (src/engine/chat_template.rs)."""
    return "\n\n".join(m["content"] for m in messages) + "\n\n"


def run_llamacpp(args, records):
    start = time.perf_counter()
    llm = Llama(model_path=args.gguf, n_ctx=4096, n_batch=512, n_threads=args.threads,
                n_threads_batch=args.threads, verbose=False)
    load = time.perf_counter() - start
    replies = []
    for r in records:
        ids = llm.tokenize(plain_prompt(r["prompt"]["messages"]).encode(), add_bos=True, special=False)
        out = llm.create_completion(prompt=ids, max_tokens=args.max_new_tokens, temperature=0.0, top_p=1.0)
        replies.append({"conversation_id": r["conversation_id"], "prompt_tokens": len(ids),
                        "completion_tokens": out["usage"]["completion_tokens"]})
    return time.perf_counter() - start, load, replies


def per_hour(count, seconds):
    return count / seconds * 3600.0


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="mhbench-e2e-") as work:
        dataset = args.dataset or curate(args, work)
        print(f"data set: {dataset}", flush=True)
        m_wall, records = run_mhbench(args, dataset, work)
        print(f"mhbench: {len(records)} replies in {m_wall:.1f} s", flush=True)
        l_wall, l_load, replies = run_llamacpp(args, records)
        print(f"llama.cpp: {len(replies)} replies in {l_wall:.1f} s (load {l_load:.1f} s)", flush=True)
    m_tokens = sum(r["usage"]["completion_tokens"] for r in records)
    l_tokens = sum(r["completion_tokens"] for r in replies)
    mismatched = [r["conversation_id"] for r, l in zip(records, replies)
                  if r["usage"]["prompt_tokens"] != l["prompt_tokens"]]
    rows = [
        ("mhbench generate", f"continuous, batch {args.batch_size}", len(records), m_wall, m_tokens),
        ("llama.cpp", "one after another", len(replies), l_wall, l_tokens),
    ]
    print(f"\n{len(records)} conversations, greedy, max {args.max_new_tokens} new tokens, {args.threads} threads, "
          f"{platform.processor() or platform.machine()}; wall time includes loading the model\n")
    print("| engine | how | replies | wall s | replies/hour | completion tokens | tok/s (wall) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, how, n, wall, tokens in rows:
        print(f"| {name} | {how} | {n} | {wall:.1f} | {per_hour(n, wall):,.0f} | {tokens} | {tokens / wall:.1f} |")
    speedup = per_hour(len(records), m_wall) / per_hour(len(replies), l_wall)
    print(f"\nmhbench / llama.cpp replies per hour: {speedup:.2f}x")
    print(f"prompt token counts: {len(records) - len(mismatched)} of {len(records)} equal"
          + (f" (differ: {', '.join(mismatched[:5])})" if mismatched else ""))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"settings": vars(args), "mhbench": {"wall_s": m_wall, "completion_tokens": m_tokens,
                       "replies": len(records)}, "llamacpp": {"wall_s": l_wall, "load_s": l_load,
                       "completion_tokens": l_tokens, "replies": replies}, "speedup": speedup,
                       "prompt_token_mismatches": mismatched}, f, indent=2)


if __name__ == "__main__":
    main()

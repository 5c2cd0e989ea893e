#!/usr/bin/env python3
"""Side by side: llama.cpp (through llama-cpp-python) and `mhbench bench` on the same GGUF.

Both engines get the same prompt ids (tokenised by llama.cpp, written to a JSON file and passed
to mhbench with --prompt-tokens) and the same thread count, and runs alternate: llama.cpp, then
mhbench, then llama.cpp again, ... Each repetition does, for both engines:
- single stream: pp (prefill of --pp ids from an empty cache) and tg (--tg greedy single-token
  steps from an empty cache, EOS ignored);
- batched decode: --prompt-len ids prefilled (untimed) into every sequence, then --tg steps that
  decode one token for every sequence in one call (llama.cpp's low-level batch API: one
  llama_decode per step with n_seq ids; mhbench: `--depth PROMPT_LEN --batch B`).
Then a greedy agreement check at batch 1 (llama.cpp's own batched logits differ from its
single-sequence logits at batch >= 4): the first --greedy-tokens greedy ids of both engines
after the same prompt, with llama.cpp's f32 KV cache as mhbench keeps it, reported as the agreed
prefix beside llama.cpp's first near-tie (top-2 logit margin < 0.3).

The table gives the median tokens/s of each engine over the repetitions, their ratio
(mhbench / llama.cpp) and a verdict against issue #13's targets: single-stream decode >= 0.95x,
prompt processing >= 1.0x, batched decode at batch 8 and 16 >= 1.5x. llama.cpp runs with its
default f16 KV cache for speed, as users run it. Numbers are only as quiet as the machine.
Beside each tg row it prints mhbench's memory-bandwidth bound (`bound_tok_per_s` of its JSON
report: measured read bandwidth / bytes a decoded token reads) and mhbench's share of it.

--model takes any GGUF, including the study-shaped random-weight files of
scripts/synthetic-gguf.py (e.g. --model models/synthetic-llama-3.1-8b-instruct-q4_k_m.gguf).

Needs: pip install llama-cpp-python numpy gguf; the mhbench release binary
(cargo build --release). Reuses scripts/reference_llamacpp.py's prompts and greedy loop.
Run: python3 scripts/compare-llamacpp.py [--threads 2] [--repetitions 3] [--json out.json]
"""
import argparse
import contextlib
import ctypes
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(ROOT, "models", "gemma-3-270m-q4_k_m.gguf")
DEFAULT_MHBENCH = os.path.join(ROOT, "target", "release", "mhbench")
NEAR_TIE = 0.3
TARGETS = {"pp": 1.0, "tg": 0.95, "batched": 1.5}
BATCH_TARGET_SIZES = (8, 16)

try:
    import numpy as np
    import llama_cpp
    from llama_cpp import Llama
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.dont_write_bytecode = True  # no scripts/__pycache__ in the checkout
    import reference_llamacpp as reference
except ImportError as missing:
    sys.exit(f"compare-llamacpp: {missing.name} is missing; install the reference engine with:\n"
             f"  pip install llama-cpp-python numpy gguf\n"
             f"(llama-cpp-python builds llama.cpp from source; allow a few minutes)")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL, help="GGUF file (default: %(default)s)")
    ap.add_argument("--mhbench", default=DEFAULT_MHBENCH, help="mhbench binary (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=2, help="threads for both engines (default: 2)")
    ap.add_argument("--repetitions", type=int, default=3, help="alternating rounds (default: 3)")
    ap.add_argument("--batches", default="1,4,8,16", help="batched-decode sizes (default: %(default)s)")
    ap.add_argument("--pp", type=int, default=512, help="prompt ids for pp (default: 512)")
    ap.add_argument("--tg", type=int, default=128, help="decode steps for tg and batched (default: 128)")
    ap.add_argument("--prompt-len", type=int, default=128, help="prompt per sequence, batched (default: 128)")
    ap.add_argument("--greedy-tokens", type=int, default=32, help="greedy ids compared (default: 32)")
    ap.add_argument("--json", metavar="OUT", help="also write every sample and setting to this file")
    args = ap.parse_args()
    try:
        args.batches = sorted({int(b) for b in args.batches.split(",")})
    except ValueError:
        ap.error(f"--batches {args.batches!r}: expected comma-separated integers such as 1,8,16")
    if min(args.batches) < 1 or min(args.threads, args.repetitions, args.pp, args.tg, args.prompt_len) < 1:
        ap.error("--batches, --threads, --repetitions, --pp, --tg and --prompt-len must be at least 1")
    # mhbench runs from the repository root (it reads models.toml there), so paths become absolute.
    args.model, args.mhbench = os.path.abspath(args.model), os.path.abspath(args.mhbench)
    for path, what in ((args.model, "--model"), (args.mhbench, "--mhbench")):
        if not os.path.isfile(path):
            hint = "run scripts/fetch-default-model.sh" if what == "--model" else "run cargo build --release"
            ap.error(f"{what} {path}: no such file; {hint}")
    return args


class LlamaCppBench:
    """llama.cpp through the low-level API: one context with a sequence per batch row."""

    def __init__(self, model, threads, n_ctx, n_batch, n_seq_max):
        llama_cpp.llama_backend_init()
        self.model = llama_cpp.llama_model_load_from_file(model.encode(), llama_cpp.llama_model_default_params())
        if not self.model:
            sys.exit(f"compare-llamacpp: llama.cpp could not load {model}")
        params = llama_cpp.llama_context_default_params()
        params.n_ctx, params.n_batch, params.n_ubatch = n_ctx, n_batch, min(n_batch, 512)
        params.n_seq_max, params.kv_unified, params.no_perf = n_seq_max, True, True
        params.n_threads = params.n_threads_batch = threads
        self.ctx = llama_cpp.llama_init_from_model(self.model, params)
        if not self.ctx:
            sys.exit("compare-llamacpp: llama.cpp could not create a context")
        self.n_batch = n_batch
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(self.model))
        self.batch = llama_cpp.llama_batch_init(n_batch, 0, n_seq_max)

    def close(self):
        llama_cpp.llama_batch_free(self.batch)
        llama_cpp.llama_free(self.ctx)
        llama_cpp.llama_model_free(self.model)

    def clear(self):
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self.ctx), True)

    def decode(self, entries):
        """entries: (token, position, sequence, wants_logits) in batch order."""
        b = self.batch
        b.n_tokens = len(entries)
        for i, (token, pos, seq, logits) in enumerate(entries):
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = token, pos, 1, logits
            b.seq_id[i][0] = seq
        rc = llama_cpp.llama_decode(self.ctx, b)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")

    def argmax(self, i):
        row = llama_cpp.llama_get_logits_ith(self.ctx, i)
        return int(np.argmax(np.ctypeslib.as_array(ctypes.cast(row, ctypes.POINTER(ctypes.c_float)), (self.n_vocab,))))

    def prefill(self, ids, sequences):
        """Feeds ids to every sequence (positions from 0); the last id of each wants logits."""
        entries = [(t, p, s, p == len(ids) - 1) for s in sequences for p, t in enumerate(ids)]
        for start in range(0, len(entries), self.n_batch):
            self.decode(entries[start:start + self.n_batch])

    def pp(self, ids):
        self.clear()
        started = time.perf_counter()
        self.prefill(ids, [0])
        self.argmax(-1)
        return len(ids) / (time.perf_counter() - started)

    def tg(self, context, first, steps, batch):
        """Pre-fill `context` (untimed) into `batch` sequences, then time `steps` greedy steps."""
        self.clear()
        if context:
            self.prefill(context, range(batch))
        tokens, pos = [first] * batch, len(context)
        started = time.perf_counter()
        for _ in range(steps):
            self.decode([(tokens[s], pos, s, True) for s in range(batch)])
            tokens = [self.argmax(s) for s in range(batch)]
            pos += 1
        return batch * steps / (time.perf_counter() - started)


def mhbench(args, ids_file, extra):
    """One mhbench bench run (one warm-up, one timed repetition); its JSON report."""
    cmd = [args.mhbench, "-q", "--no-progress", "bench", "--model", args.model, "--threads", str(args.threads),
           "--prompt-tokens", ids_file, "--repetitions", "1", "--warmup", "1", "--output", "json", *extra]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"compare-llamacpp: {' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout)


def find_record(report, name, batch):
    for r in report["records"]:
        label = f"{r['test']}{r['n_prompt'] if r['test'] == 'pp' else r['n_gen']}"
        label += f" @ d{r['depth']}" if r["depth"] else ""
        if label == name and r["batch"] == batch:
            return r
    raise KeyError(f"mhbench reported no {name} at batch {batch}")


def tok_per_s(report, name, batch):
    return find_record(report, name, batch)["samples_tok_per_s"][0]


def bound_tok_per_s(report, name, batch):
    """mhbench's memory-bandwidth bound of a tg test (None for pp): its measured read bandwidth
    over the bytes a decoded token reads (src/bench/bound.rs)."""
    return find_record(report, name, batch).get("bound_tok_per_s")


def prompt_ids(llm, count):
    """`count` ids of the reference prompts, repeated as needed, BOS first."""
    with contextlib.redirect_stdout(io.StringIO()):  # gemma_prompts imports `this`, which prints
        text = "\n\n".join(reference.gemma_prompts())
    ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
    while len(ids) < count:
        ids += llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    return ids[:count]


def greedy_check(args, llm, ids_dir):
    with contextlib.redirect_stdout(io.StringIO()):
        text = reference.gemma_prompts()[1]
    ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
    ours, margins, _ = reference.greedy_with_margins(llm, ids, args.greedy_tokens)
    path = os.path.join(ids_dir, "greedy_ids.json")
    with open(path, "w") as f:
        json.dump(ids, f)
    report = mhbench(args, path, ["--pp", "1", "--tg", "0", "--batch", "1", "--depth", "0",
                                  "--greedy-tokens", str(args.greedy_tokens)])
    theirs = report["greedy"]["tokens"]
    agreed = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
    near_tie = next((i for i, m in enumerate(margins) if m < NEAR_TIE), len(margins))
    return {"prompt": text, "prompt_ids": ids, "llama_cpp": ours, "mhbench": theirs,
            "agreed_prefix": agreed, "llama_cpp_first_near_tie": near_tie, "top2_margins": margins}


def verdict(ratio, target):
    if target is None:
        return "no target"
    if ratio >= target:
        return f"meets >= {target:g}x"
    return f"short of >= {target:g}x by {(target / ratio - 1) * 100:.0f}% (needs {target / ratio:.2f}x faster)"


def main():
    args = parse_args()
    max_batch = max(args.batches)
    need_ids = max(args.pp, args.prompt_len + 1)
    n_ctx = max(args.pp + args.tg, max_batch * (args.prompt_len + args.tg)) + 16
    n_batch = max(args.pp, max_batch * args.prompt_len, 512)
    # f32 KV cache for the greedy check, as mhbench keeps it (reference_llamacpp.py explains why).
    greedy_llm = Llama(model_path=args.model, n_ctx=1024, n_threads=args.threads, logits_all=True,
                       verbose=False, type_k=0, type_v=0)
    speed = LlamaCppBench(args.model, args.threads, n_ctx, n_batch, max_batch)
    samples = {}  # (test, batch) -> {"llama.cpp": [...], "mhbench": [...], "bound": [...]}

    def add(test, batch, engine, value):
        samples.setdefault((test, batch), {"llama.cpp": [], "mhbench": [], "bound": []})[engine].append(value)

    def add_mhbench(report, test, batch):
        add(test, batch, "mhbench", tok_per_s(report, test, batch))
        bound = bound_tok_per_s(report, test, batch)
        if bound is not None:
            add(test, batch, "bound", bound)

    tg_name, batched_name = f"tg{args.tg}", f"tg{args.tg} @ d{args.prompt_len}"
    env = None
    with tempfile.TemporaryDirectory() as tmp:
        ids = prompt_ids(greedy_llm, need_ids)
        ids_file = os.path.join(tmp, "prompt_ids.json")
        with open(ids_file, "w") as f:
            json.dump(ids, f)
        for rep in range(args.repetitions):
            print(f"round {rep + 1}/{args.repetitions}: llama.cpp", file=sys.stderr)
            speed.pp(ids[:args.pp])  # warm-up, as mhbench's --warmup 1
            add(f"pp{args.pp}", 1, "llama.cpp", speed.pp(ids[:args.pp]))
            speed.tg([], ids[0], args.tg, 1)
            add(tg_name, 1, "llama.cpp", speed.tg([], ids[0], args.tg, 1))
            for b in args.batches:
                speed.tg(ids[:args.prompt_len], ids[args.prompt_len], args.tg, b)
                add(batched_name, b, "llama.cpp", speed.tg(ids[:args.prompt_len], ids[args.prompt_len], args.tg, b))
            print(f"round {rep + 1}/{args.repetitions}: mhbench", file=sys.stderr)
            single = mhbench(args, ids_file, ["--pp", str(args.pp), "--tg", str(args.tg), "--depth", "0", "--batch", "1"])
            add_mhbench(single, f"pp{args.pp}", 1)
            add_mhbench(single, tg_name, 1)
            batched = mhbench(args, ids_file, ["--pp", "0", "--tg", str(args.tg), "--depth", str(args.prompt_len),
                                               "--batch", ",".join(map(str, args.batches))])
            for b in args.batches:
                add_mhbench(batched, batched_name, b)
            env = single["env"]
        print("greedy agreement check", file=sys.stderr)
        greedy = greedy_check(args, greedy_llm, tmp)
    speed.close()

    rows = []
    for (test, batch), by_engine in samples.items():
        ours, theirs = statistics.median(by_engine["llama.cpp"]), statistics.median(by_engine["mhbench"])
        if test.startswith("pp"):
            target = TARGETS["pp"]
        elif batch == 1 and test == tg_name:
            target = TARGETS["tg"]
        else:
            target = TARGETS["batched"] if batch in BATCH_TARGET_SIZES else None
        ratio = theirs / ours
        bound = statistics.median(by_engine["bound"]) if by_engine["bound"] else None
        rows.append({"test": test, "batch": batch, "llama_cpp_tok_per_s": ours, "mhbench_tok_per_s": theirs,
                     "ratio": ratio, "target": target, "verdict": verdict(ratio, target),
                     "bound_tok_per_s": bound, "mhbench_share_of_bound": theirs / bound if bound else None,
                     "samples": by_engine})

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    print(f"machine: {cpu}, {os.cpu_count()} logical CPUs | threads: {args.threads} | model: {args.model}")
    print(f"llama-cpp-python {llama_cpp.__version__} (KV f16, its default) | mhbench {env['mhbench_version']} "
          f"({env['git_commit']}, {env['profile']}, KV f32) | {args.repetitions} alternating rounds, medians; "
          f"batched: {args.prompt_len}-id prompts, one decode call per step")
    print()
    print("| test | batch | llama.cpp tok/s | mhbench tok/s | ratio | verdict | bound tok/s | mhbench / bound |")
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    for r in rows:
        bound = "-" if r["bound_tok_per_s"] is None else f"{r['bound_tok_per_s']:.1f}"
        share = "-" if r["mhbench_share_of_bound"] is None else f"{r['mhbench_share_of_bound'] * 100:.0f}%"
        print(f"| {r['test']} | {r['batch']} | {r['llama_cpp_tok_per_s']:.1f} | {r['mhbench_tok_per_s']:.1f} | "
              f"{r['ratio']:.2f}x | {r['verdict']} | {bound} | {share} |")
    print("\nbound tok/s: mhbench's memory-bandwidth bound (its measured read bandwidth over the bytes a decoded "
          "token reads, f32 KV cache; see src/bench/bound.rs)")
    g = greedy
    agree_verdict = ("agree up to llama.cpp's first near-tie" if g["agreed_prefix"] >= g["llama_cpp_first_near_tie"]
                     else "DIFFER before any near-tie")
    print(f"\ngreedy (batch 1, f32 KV, {len(g['prompt_ids'])}-id prompt): {g['agreed_prefix']}/{args.greedy_tokens} "
          f"tokens agree; llama.cpp's first near-tie (top-2 margin < {NEAR_TIE}) at step "
          f"{g['llama_cpp_first_near_tie']}: {agree_verdict}")
    if args.json:
        doc = {"machine": cpu, "threads": args.threads, "model": args.model,
               "llama_cpp_python": llama_cpp.__version__, "mhbench_env": env,
               "settings": {k: getattr(args, k) for k in ("pp", "tg", "prompt_len", "batches", "repetitions",
                                                          "greedy_tokens")},
               "rows": rows, "greedy": greedy}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
        print(args.json)


if __name__ == "__main__":
    main()

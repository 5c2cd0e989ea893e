#!/usr/bin/env python3
"""Turn the outputs of scripts/gpu-check.sh into one JSON file and one Markdown table, with the
verdicts of issue 17's GPU targets.

Inputs (all written by gpu-check.sh into its work folder):
  --parity FILE        the output of `cargo test --test cuda_parity -- --nocapture` (PARITY lines)
  --parity-rc N        that command's exit status
  --bench NAME=FILE    `mhbench bench --output json` for one model (repeatable)
  --skip NAME=REASON   a model row that was not measured, and why (repeatable)
  --peak NAME=MIB      peak device memory sampled by nvidia-smi during NAME's bench (repeatable)
  --gguf NAME=FILE     the model file, for the bytes one batch-1 decode step must read
  --gpu NAME           the card, as nvidia-smi names it
  --bandwidth-gbs X    the card's memory bandwidth (default: from the spec-sheet table below)
  --dry-run            no device was used: bench files (if any) are CPU runs; models without one get
                       invented rows; every row and verdict is marked as a dry run
Outputs: OUT/gpu-check.json and OUT/gpu-check.md; prints both paths.

Bandwidth bound of batch-1 decode: every weight matrix is read once per token, so tokens/s <=
bandwidth / bytes, where bytes are the GGUF's tensor data less the token embedding when the
model has a separate output matrix (a lookup reads one row of it). The KV cache read at the
bench's depths is below 1% of that and left out.

Targets (issue 17): batch-1 decode of the synthetic Llama 3.1 8B Q4_K_M within 1.5x of the
bandwidth bound; aggregate decode at batch 64 at least 10x batch 1; parity 1e-2 on logits with
greedy agreement up to near-ties.
"""
import argparse
import json
import os
import struct
import sys
from datetime import datetime, timezone

# Memory bandwidth in GB/s from NVIDIA's data sheets, matched against nvidia-smi's name (first
# match wins, so the more specific names come first).
BANDWIDTH_GBS = [
    ("H200", 4800.0),
    ("H100 NVL", 3900.0),
    ("H100 PCIe", 2000.0),
    ("H100", 3350.0),
    ("GH200", 4000.0),
    ("A100-SXM4-80GB", 2039.0),
    ("A100 80GB PCIe", 1935.0),
    ("A100-PCIE-40GB", 1555.0),
    ("A100-SXM4-40GB", 1555.0),
    ("L40S", 864.0),
    ("L4", 300.0),
    ("A10", 600.0),
    ("RTX 4090", 1008.0),
    ("V100", 900.0),
]
TARGET_BOUND_RATIO = 1.5
TARGET_BATCH_SCALING = 10.0
BATCHES = [1, 8, 32, 64]
SYNTHETIC_8B = "synthetic-llama-3.1-8b-q4_k_m"


def bandwidth_for(gpu):
    """The data-sheet bandwidth of a card named `gpu`, or None."""
    for key, gbs in BANDWIDTH_GBS:
        if gpu and key.lower() in gpu.lower():
            return gbs
    return None


def _read_str(f):
    (n,) = struct.unpack("<Q", f.read(8))
    return f.read(n).decode("utf-8", "replace")


_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def _skip_value(f, vtype):
    if vtype in _SCALAR:
        f.seek(_SCALAR[vtype], 1)
    elif vtype == 8:
        _read_str(f)
    elif vtype == 9:
        item, n = struct.unpack("<IQ", f.read(12))
        if item in _SCALAR:
            f.seek(_SCALAR[item] * n, 1)
        else:
            for _ in range(n):
                _skip_value(f, item)
    else:
        raise ValueError(f"unknown GGUF value type {vtype}")


def gguf_tensor_bytes(path):
    """{tensor name: bytes} of a GGUF file, from the offsets of its tensor infos."""
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        _version, n_tensors, n_kv = struct.unpack("<IQQ", f.read(20))
        alignment = 32
        for _ in range(n_kv):
            key = _read_str(f)
            (vtype,) = struct.unpack("<I", f.read(4))
            if key == "general.alignment" and vtype == 4:
                (alignment,) = struct.unpack("<I", f.read(4))
            else:
                _skip_value(f, vtype)
        infos = []
        for _ in range(n_tensors):
            name = _read_str(f)
            (n_dims,) = struct.unpack("<I", f.read(4))
            f.seek(8 * n_dims + 4, 1)
            (offset,) = struct.unpack("<Q", f.read(8))
            infos.append((offset, name))
        data_start = -(-f.tell() // alignment) * alignment
    end = os.path.getsize(path) - data_start
    infos.sort()
    return {name: (infos[i + 1][0] if i + 1 < len(infos) else end) - off for i, (off, name) in enumerate(infos)}


def decode_bytes_per_token(path):
    """Bytes a batch-1 decode step reads: all tensors, less the embedding when it is not tied."""
    sizes = gguf_tensor_bytes(path)
    total = sum(sizes.values())
    if "output.weight" in sizes:
        total -= sizes.get("token_embd.weight", 0)
    return total


def pairs(items):
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"gpu_report.py: expected NAME=VALUE, got {item!r}")
        out[key] = value
    return out


def parity_rows(path):
    rows = []
    if path and os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("PARITY "):
                    rows.append(json.loads(line[len("PARITY "):]))
    return rows


def bench_rows(name, report, peak_mib, bytes_per_token, bandwidth):
    """One row per (test, batch) of a bench report."""
    rows = []
    bound = bandwidth * 1e9 / bytes_per_token if bandwidth and bytes_per_token else None
    for rec in report["records"]:
        rows.append({
            "model": name,
            "test": f"{rec['test']}{rec['n_prompt'] or rec['n_gen']}",
            "kind": rec["test"],
            "batch": rec["batch"],
            "depth": rec["depth"],
            "tok_per_s": rec["tok_per_s"]["mean"],
            "tok_per_s_sd": rec["tok_per_s"]["sd"],
            "per_sequence_tok_per_s": rec["per_sequence_tok_per_s"],
            "device_bytes_after": rec["memory"].get("device_bytes"),
            "peak_device_mib": peak_mib,
            "kv_cache_bytes": rec["memory"]["kv_cache_bytes"],
            "bandwidth_bound_tok_per_s": bound if rec["test"] == "tg" and rec["batch"] == 1 else None,
        })
    return rows


def fake_rows(name):
    """Rows with invented numbers for the dry run; every one says so."""
    rows = []
    for batch in BATCHES:
        for kind, n in (("pp", 512), ("tg", 128)):
            rows.append({
                "model": name, "test": f"{kind}{n}", "kind": kind, "batch": batch, "depth": 0,
                "tok_per_s": 100.0 * batch, "tok_per_s_sd": 0.0, "per_sequence_tok_per_s": 100.0,
                "device_bytes_after": None, "peak_device_mib": None, "kv_cache_bytes": 0,
                "bandwidth_bound_tok_per_s": 1000.0 if kind == "tg" and batch == 1 else None,
                "fake": True,
            })
    return rows


def tg(rows, model, batch):
    for row in rows:
        if row["model"] == model and row["kind"] == "tg" and row["batch"] == batch:
            return row
    return None


def verdicts(rows, parity, parity_rc):
    out = []
    one = tg(rows, SYNTHETIC_8B, 1)
    if one is None or one["bandwidth_bound_tok_per_s"] is None:
        why = "synthetic 8B not measured" if one is None else "card's bandwidth unknown"
        out.append({"target": "8B batch-1 decode within 1.5x of the bandwidth bound", "verdict": "not measured", "detail": why})
    else:
        ratio = one["bandwidth_bound_tok_per_s"] / one["tok_per_s"]
        out.append({"target": "8B batch-1 decode within 1.5x of the bandwidth bound",
                    "verdict": "met" if ratio <= TARGET_BOUND_RATIO else "missed",
                    "detail": f"{one['tok_per_s']:.1f} tok/s vs bound {one['bandwidth_bound_tok_per_s']:.1f} ({ratio:.2f}x)"})
    sixty_four = tg(rows, SYNTHETIC_8B, 64)
    if one is None or sixty_four is None:
        out.append({"target": "8B aggregate decode at batch 64 >= 10x batch 1", "verdict": "not measured",
                    "detail": "synthetic 8B batch 1 or 64 not measured"})
    else:
        scale = sixty_four["tok_per_s"] / one["tok_per_s"]
        out.append({"target": "8B aggregate decode at batch 64 >= 10x batch 1",
                    "verdict": "met" if scale >= TARGET_BATCH_SCALING else "missed",
                    "detail": f"{sixty_four['tok_per_s']:.1f} vs {one['tok_per_s']:.1f} tok/s ({scale:.1f}x)"})
    measured = [p for p in parity if "skipped" not in p]
    if not measured:
        out.append({"target": "parity 1e-2 on logits, greedy agreement up to near-ties", "verdict": "not measured",
                    "detail": "no PARITY lines"})
    else:
        ok = parity_rc == 0 and all(p.get("pass") for p in measured)
        worst = max(p["max_abs_diff"] for p in measured)
        out.append({"target": "parity 1e-2 on logits, greedy agreement up to near-ties",
                    "verdict": "met" if ok else "missed",
                    "detail": f"{len(measured)} models, worst abs diff {worst:.2e}, test exit {parity_rc}"})
    return out


def fmt(x, digits=1):
    return "-" if x is None else f"{x:.{digits}f}"


def markdown(doc):
    lines = []
    if doc["dry_run"]:
        lines += ["**DRY RUN: no device was used. Rows marked (dry run) are tiny CPU runs or invented numbers "
                  "that test the writer; none is a GPU measurement.**", ""]
    lines += [f"GPU check, {doc['created']}: {doc['gpu'] or 'no GPU'}; bandwidth "
              f"{fmt(doc['bandwidth_gbs'], 0)} GB/s ({doc['bandwidth_source']}); commit {doc['git_commit']}.", ""]
    lines += ["| model | test | batch | tok/s | per seq tok/s | bandwidth bound tok/s | peak device MiB |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for r in doc["rows"]:
        mark = " (dry run)" if r.get("fake") else ""
        lines.append(f"| {r['model']}{mark} | {r['test']} | {r['batch']} | {fmt(r['tok_per_s'])} ± {fmt(r['tok_per_s_sd'])} | "
                     f"{fmt(r['per_sequence_tok_per_s'])} | {fmt(r['bandwidth_bound_tok_per_s'])} | {fmt(r['peak_device_mib'], 0)} |")
    for name, why in doc["skipped"].items():
        lines.append(f"| {name} | skipped: {why} | | | | | |")
    lines += ["", "| parity model | max abs diff | max abs logit | columns | greedy agree | near-ties | disagree | pass |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
    for p in doc["parity"]:
        if "skipped" in p:
            lines.append(f"| {p['model']} | skipped: {p['skipped']} | | | | | | |")
        else:
            lines.append(f"| {p['model']} | {p['max_abs_diff']:.2e} | {p['max_abs_logit']:.2f} | {p['compared_columns']} | "
                         f"{p['greedy_agree']} | {p['near_ties']} | {p['greedy_disagree']} | {p['pass']} |")
    lines += ["", "| target | verdict | detail |", "|---|---|---|"]
    lines += [f"| {v['target']} | {v['verdict']} | {v['detail']} |" for v in doc["verdicts"]]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--parity")
    ap.add_argument("--parity-rc", type=int, default=None)
    ap.add_argument("--bench", action="append")
    ap.add_argument("--skip", action="append")
    ap.add_argument("--peak", action="append")
    ap.add_argument("--gguf", action="append")
    ap.add_argument("--gpu", default="")
    ap.add_argument("--bandwidth-gbs", type=float)
    ap.add_argument("--git-commit", default="unknown")
    args = ap.parse_args()

    bandwidth, source = args.bandwidth_gbs, "given"
    if bandwidth is None:
        bandwidth = bandwidth_for(args.gpu)
        source = "data sheet" if bandwidth else "unknown card"
    ggufs, peaks = pairs(args.gguf), pairs(args.peak)
    parity, parity_rc = parity_rows(args.parity), args.parity_rc
    rows = []
    for name, path in pairs(args.bench).items():
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
        per_token = decode_bytes_per_token(ggufs[name]) if name in ggufs else None
        peak = float(peaks[name]) if peaks.get(name) else None
        rows += bench_rows(name, report, peak, per_token, bandwidth)
    if args.dry_run:
        # Real bench files given to a dry run come from the CPU; the missing models get invented
        # rows. Either way nothing here is a GPU number, and every row says so.
        for name in ("gemma-3-270m", SYNTHETIC_8B):
            if not any(r["model"] == name for r in rows):
                rows += fake_rows(name)
        for row in rows:
            row["fake"] = True
        if not parity:
            parity = [{"model": "tiny_llama.gguf", "tolerance": 1e-2, "max_abs_diff": 0.0, "max_abs_logit": 0.0,
                       "compared_columns": 0, "greedy_agree": 0, "near_ties": 0, "greedy_disagree": 0,
                       "pass": False, "fake": True}]
    doc = {
        "dry_run": args.dry_run,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "gpu": args.gpu,
        "bandwidth_gbs": bandwidth,
        "bandwidth_source": source,
        "git_commit": args.git_commit,
        "targets": {"bound_ratio_max": TARGET_BOUND_RATIO, "batch64_over_batch1_min": TARGET_BATCH_SCALING,
                    "parity_logit_tolerance": 1e-2},
        "rows": rows,
        "skipped": pairs(args.skip),
        "parity": parity,
        "parity_exit": parity_rc,
        "verdicts": [dict(v, verdict=f"dry run: {v['verdict']}") if args.dry_run else v
                     for v in verdicts(rows, parity, parity_rc)],
    }
    os.makedirs(args.out, exist_ok=True)
    json_path, md_path = os.path.join(args.out, "gpu-check.json"), os.path.join(args.out, "gpu-check.md")
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(markdown(doc))
    print(json_path)
    print(md_path)


if __name__ == "__main__":
    main()

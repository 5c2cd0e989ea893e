#!/usr/bin/env python3
"""Independent reference for `mhbench analyze --mentalbench --protocol published`.

Reads the ORIGINAL MentalAlign-70k workbooks (Human_judge.xlsx and the four
*_llm_judge.xlsx, as released by the authors), never mhbench's derived ratings.csv, and
computes the published MentalAlign analysis from its formulas with pandas and numpy:

- Each cell is a JSON object; a ```json fence is stripped, then json.loads. A cell that is
  empty or does not parse gives no value for any attribute; a value that is empty or not a
  number gives none for that attribute. Every other value is kept as it is, 0 and 6 included
  (the published reading).
- The human sheet and each judge sheet are joined on ConvID as they are.
- A judge is not scored on its own model only: Claude-3.7-Sonnet without claude, GPT-4o
  without gpt4o, Gemini-2.5-Flash without gemini, o4-mini without gpt4omini.
- Per remaining source: the (human, judge) pairs where both have a value; the source row is
  (mean human, mean judge). ICC(C,1) = (MSR - MSE) / (MSR + (k-1) MSE) and
  ICC(A,1) = (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n) from the two-way ANOVA mean
  squares of the n x 2 table of source rows (McGraw & Wong 1996).
- Bias = mean(judge - human) and MSE = mean((judge - human)^2) over the item pairs of the same
  sources.
- With --draws FILE (JSON: a list of resamples, each a list of source indices into the
  sorted source list of the judge), the percentile 95% CI of both ICCs over those resamples,
  keeping resampled ICCs in [0, 1] and giving a CI only when at least 10 remain
  (numpy's default linear percentile), and the reliability label of the ICC(C,1) CI width
  (good <= 0.355 < moderate <= 0.560 < poor).
- With --authors-rng, the same CIs from the authors' own random scheme (numpy seed 42, one
  seed per resample, sources in their script's order), to compare with their table.

Sources are in sorted order, judges are named as in mhbench's ratings.csv. Output: JSON on
stdout (or --out FILE).

Run:  python3 scripts/reference_mentalalign.py [--data DIR] [--draws FILE] [--out FILE]
Needs: numpy, pandas, openpyxl (pip).
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import pandas as pd

ATTRIBUTES = ["Guidance", "Informativeness", "Relevance", "Safety", "Empathy", "Helpfulness", "Understanding"]
# Workbook -> (judge name in ratings.csv, the rated source the authors count as the judge itself).
JUDGES = {
    "claude_llm_judge.xlsx": ("claude-3-7-sonnet-20250219", "claude"),
    "gemini_llm_judge.xlsx": ("gemini-2.5-flash-preview-04-17", "gemini"),
    "gpt-4o_llm_judge.xlsx": ("gpt-4o", "gpt4o"),
    "o4-mini_llm_judge.xlsx": ("o4-mini", "gpt4omini"),
}
# The authors' source order (their MODEL_NAME_TO_KEY, the human reference last).
AUTHORS_ORDER = ["claude", "ds_llama", "ds_qwen", "gemini", "gpt4o", "gpt4omini", "llama_3", "qwen_2", "qwen_3", "original"]


def cell_values(text):
    """The seven attribute values of one cell (NaN where absent), by the published rule."""
    nan = [math.nan] * len(ATTRIBUTES)
    if text is None or (isinstance(text, float) and math.isnan(text)) or str(text).strip() == "":
        return nan
    s = str(text).strip()
    if s.startswith("```json"):
        s = s.replace("```json", "").replace("```", "").strip()
    try:
        obj = json.loads(s)
    except ValueError:
        return nan
    if not isinstance(obj, dict):
        return nan
    out = []
    for a in ATTRIBUTES:
        v = obj.get(a)
        try:
            out.append(math.nan if v is None or v == "" else float(v))
        except (TypeError, ValueError):
            out.append(math.nan)
    return out


def read_sheet(path, prefix):
    """{source: DataFrame indexed by ConvID with one column per attribute}."""
    df = pd.read_excel(path, sheet_name=0)
    df.columns = [str(c).strip() for c in df.columns]
    if df["ConvID"].duplicated().any():
        sys.exit(f"{path}: duplicated ConvID")
    out = {}
    for col in df.columns:
        if not col.startswith(prefix):
            continue
        source = col[len(prefix):]
        values = pd.DataFrame([cell_values(t) for t in df[col]], columns=ATTRIBUTES, index=df["ConvID"].astype(int))
        out[source] = values
    return out


def mean_squares(rows):
    y = np.asarray(rows, dtype=float)
    n, k = y.shape
    grand = y.mean()
    ss_rows = k * ((y.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((y.mean(axis=0) - grand) ** 2).sum()
    ss_error = ((y - grand) ** 2).sum() - ss_rows - ss_cols
    return ss_rows / (n - 1), ss_cols / (k - 1), ss_error / ((n - 1) * (k - 1)), n, k


def iccs(rows):
    """(ICC(C,1), ICC(A,1)); None for a form whose denominator is 0 or below 2 rows."""
    if len(rows) < 2:
        return None, None
    msr, msc, mse, n, k = mean_squares(rows)
    dc = msr + (k - 1) * mse
    da = msr + (k - 1) * mse + k * (msc - mse) / n
    c1 = (msr - mse) / dc if dc != 0 else None
    a1 = (msr - mse) / da if da != 0 else None
    return c1, a1


def percentile_ci(values):
    if len(values) < 10:
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return {"low": float(low), "high": float(high), "kept": len(values), "width": float(high - low)}


def bootstrap(rows, draws):
    c1s, a1s = [], []
    for drawn in draws:
        c1, a1 = iccs([rows[i] for i in drawn])
        for value, series in ((c1, c1s), (a1, a1s)):
            if value is not None and np.isfinite(value) and 0 <= value <= 1:
                series.append(value)
    return percentile_ci(c1s), percentile_ci(a1s)


def authors_draws(n, resamples=1000):
    np.random.seed(42)
    seeds = np.random.randint(0, 100000, resamples)
    out = []
    for seed in seeds:
        np.random.seed(seed)
        out.append(list(np.random.choice(n, size=n, replace=True)))
    return out


def label(ci):
    if ci is None:
        return None
    return "good" if ci["width"] <= 0.355 else "moderate" if ci["width"] <= 0.560 else "poor"


def analyse(data, draws, authors_rng):
    human = read_sheet(os.path.join(data, "Human_judge.xlsx"), "human_response_")
    results = []
    for book, (judge, own) in sorted(JUDGES.items(), key=lambda kv: kv[1][0]):
        sheet = read_sheet(os.path.join(data, book), "judge_response_")
        sources = sorted(s for s in sheet if s in human and s != own)
        for a in ATTRIBUTES:
            means, diffs = [], []
            for source in sources:
                joined = pd.merge(human[source][[a]], sheet[source][[a]], left_index=True, right_index=True, how="inner", suffixes=("_h", "_j")).dropna()
                if joined.empty:
                    continue
                h, j = joined[a + "_h"].to_numpy(), joined[a + "_j"].to_numpy()
                means.append({"source": source, "n": int(len(h)), "human": float(h.mean()), "judge": float(j.mean())})
                diffs.append(j - h)
            rows = [[m["human"], m["judge"]] for m in means]
            c1, a1 = iccs(rows)
            d = np.concatenate(diffs) if diffs else np.array([])
            entry = {
                "judge": judge,
                "attribute": a.lower(),
                "excluded_sources": [own],
                "sources": means,
                "icc_c1": c1,
                "icc_a1": a1,
                "n_pairs": int(len(d)),
                "bias": float(d.mean()) if len(d) else None,
                "mse": float((d ** 2).mean()) if len(d) else None,
            }
            if draws is not None:
                entry["icc_c1_ci"], entry["icc_a1_ci"] = bootstrap(rows, draws)
                entry["reliability"] = label(entry["icc_c1_ci"])
            if authors_rng:
                order = [s for s in AUTHORS_ORDER if s in {m["source"] for m in means}]
                by_source = {m["source"]: [m["human"], m["judge"]] for m in means}
                ordered = [by_source[s] for s in order]
                c1ci, a1ci = bootstrap(ordered, authors_draws(len(ordered)))
                entry["authors_rng"] = {"icc_c1_ci": c1ci, "icc_a1_ci": a1ci, "reliability": label(c1ci)}
            results.append(entry)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=os.path.join("..", "shared", "data", "mentalbench", "original"))
    parser.add_argument("--draws", help="JSON list of resamples (lists of source indices)")
    parser.add_argument("--authors-rng", action="store_true", help="also the CIs from the authors' random scheme")
    parser.add_argument("--out", help="write here instead of stdout")
    args = parser.parse_args()
    draws = None
    if args.draws:
        with open(args.draws) as f:
            draws = json.load(f)
    versions = {"numpy": np.__version__, "pandas": pd.__version__}
    text = json.dumps({"versions": versions, "results": analyse(args.data, draws, args.authors_rng)}, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()

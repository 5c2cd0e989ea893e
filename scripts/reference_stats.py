#!/usr/bin/env python3
"""Reference values for mhbench's statistics, from established Python packages.

Builds small fixed data sets deterministically (numpy RandomState with fixed seeds) into
tests/fixtures/stats/*.csv, computes every statistic src/analysis/ implements with the
reference tool named beside it, and writes tests/fixtures/stats/reference.json with the tool
versions. tests/it/analyze.rs compares mhbench's values with these.

Run from the repository root:  python3 scripts/reference_stats.py
Needs: numpy, pandas, scipy, statsmodels, pingouin, krippendorff (pip).
"""

import importlib.metadata
import json
import os
import sys

import krippendorff
import numpy as np
import pandas as pd
import pingouin as pg
import scipy
import scipy.stats as st
import statsmodels
from statsmodels.stats.inter_rater import cohens_kappa, fleiss_kappa
from statsmodels.stats.multitest import multipletests

OUT = os.path.join("tests", "fixtures", "stats")
pg.options["round"] = None
pg.options["round.column.CI95"] = None  # pingouin rounds CI95 to 2 decimals by default


def clip(x):
    return np.clip(np.rint(x), 1, 5).astype(int)


def build_datasets():
    rs = np.random.RandomState(20260101)
    # Two raters, 60 replies: a shared latent quality plus rater noise; rater b is harsher.
    t = rs.randint(1, 6, 60)
    two = pd.DataFrame({"unit": range(60), "a": clip(t + rs.normal(0, 0.7, 60)),
                        "b": clip(t - 0.4 + rs.normal(0, 0.8, 60))})
    # Four raters, 40 replies, complete.
    t = rs.randint(1, 6, 40)
    four = pd.DataFrame({"unit": range(40)})
    for r, shift in zip(["r1", "r2", "r3", "r4"], [0.0, 0.3, -0.3, 0.0]):
        four[r] = clip(t + shift + rs.normal(0, 0.9, 40))
    # Three raters, 30 replies, about 20% of cells missing (empty in the CSV).
    t = rs.randint(1, 6, 30)
    miss = pd.DataFrame({"unit": range(30)})
    for r in ["r1", "r2", "r3"]:
        v = clip(t + rs.normal(0, 1.0, 30)).astype(float)
        v[rs.rand(30) < 0.2] = np.nan
        miss[r] = v
    # Paired human panel means (half points: two raters) and judge scores, 80 replies.
    h = (clip(rs.normal(3.6, 1.0, 80)) + clip(rs.normal(3.6, 1.0, 80))) / 2.0
    j = clip(h + 0.3 + rs.normal(0, 0.7, 80)).astype(float)
    paired = pd.DataFrame({"unit": range(80), "human": h, "judge": j})
    # 50 conversations x 4 models, integer scores (many ties), models differ in level.
    blocks = pd.DataFrame({"conversation": range(50)})
    base = rs.normal(0, 0.8, 50)
    for m, level in zip(["m0", "m1", "m2", "m3"], [3.2, 3.6, 3.7, 4.3]):
        blocks[m] = clip(level + base + rs.normal(0, 0.9, 50))
    return {"two_raters": two, "four_raters": four, "alpha_missing": miss, "paired": paired,
            "blocks": blocks}


def kappa_all(a, b):
    table = np.zeros((5, 5))
    for x, y in zip(a, b):
        table[x - 1, y - 1] += 1
    out = {}
    for name, wt in [("unweighted", None), ("linear", "linear"), ("quadratic", "quadratic")]:
        r = cohens_kappa(table, wt=wt) if wt is None else cohens_kappa(table, weights=np.arange(5), wt=wt)
        out[name] = {"kappa": float(r["kappa"]), "se": float(r["std_kappa"]),
                     "se_null": float(r["std_kappa0"]), "ci_low": float(r["kappa_low"]),
                     "ci_high": float(r["kappa_upp"]), "z": float(r["z_value"]),
                     "p_value": float(r["pvalue_two_sided"])}
    return out


def icc_all(wide):
    long = wide.reset_index().melt(id_vars="index", var_name="rater", value_name="score")
    res = pg.intraclass_corr(data=long, targets="index", raters="rater", ratings="score")
    out = {}
    for _, row in res.iterrows():
        out[row["Type"]] = {"icc": float(row["ICC"]), "f": float(row["F"]), "df1": float(row["df1"]),
                            "df2": float(row["df2"]), "p_value": float(row["pval"]),
                            "ci_low": float(row["CI95"][0]), "ci_high": float(row["CI95"][1])}
    return out


def alpha_all(wide):
    data = wide.to_numpy(dtype=float).T  # raters x units, NaN = missing
    return {level: float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))
            for level in ["nominal", "ordinal", "interval"]}


def wilcoxon_ref(d):
    d = np.asarray(d, float)
    res = st.wilcoxon(d, zero_method="wilcox", correction=False, method="approx")
    pgres = pg.wilcoxon(d, alternative="two-sided")
    nz = d[d != 0]
    ranks = st.rankdata(np.abs(nz))
    return {"n": int(len(nz)), "statistic": float(res.statistic), "p_value": float(res.pvalue),
            "w_plus": float(ranks[nz > 0].sum()), "w_minus": float(ranks[nz < 0].sum()),
            "rank_biserial": float(pgres["RBC"].iloc[0])}


def main():
    os.makedirs(OUT, exist_ok=True)
    data = build_datasets()
    for name, df in data.items():
        df.to_csv(os.path.join(OUT, f"{name}.csv"), index=False, float_format="%.1f"
                  if name in ("alpha_missing", "paired") else None)
    # Re-read what was written so the references see exactly the committed bytes.
    data = {name: pd.read_csv(os.path.join(OUT, f"{name}.csv")) for name in data}

    two = data["two_raters"][["a", "b"]]
    four = data["four_raters"][["r1", "r2", "r3", "r4"]]
    miss = data["alpha_missing"][["r1", "r2", "r3"]]
    paired = data["paired"]
    blocks = data["blocks"][["m0", "m1", "m2", "m3"]]

    ref = {"tools": {"python": sys.version.split()[0], "numpy": np.__version__,
                     "pandas": pd.__version__, "scipy": scipy.__version__,
                     "statsmodels": statsmodels.__version__, "pingouin": pg.__version__,
                     "krippendorff": importlib.metadata.version("krippendorff")}}

    a, b = two["a"].to_numpy(), two["b"].to_numpy()
    ref["two_raters"] = {
        "exact": float(np.mean(a == b)),                           # numpy
        "within_one": float(np.mean(np.abs(a - b) <= 1)),          # numpy
        "cohen_kappa": kappa_all(a, b),                            # statsmodels
        "icc": icc_all(two),                                       # pingouin
        "alpha": alpha_all(two),                                   # krippendorff
    }
    counts = np.array([[np.sum(row == c) for c in range(1, 6)] for row in four.to_numpy()])
    fv = four.to_numpy()
    ref["four_raters"] = {
        "exact": float(np.mean(fv.max(1) == fv.min(1))),
        "within_one": float(np.mean(fv.max(1) - fv.min(1) <= 1)),
        "icc": icc_all(four),                                      # pingouin
        "alpha": alpha_all(four),                                  # krippendorff
        "fleiss_kappa": float(fleiss_kappa(counts, method="fleiss")),  # statsmodels
    }
    ref["alpha_missing"] = {"alpha": alpha_all(miss)}              # krippendorff

    h, j = paired["human"].to_numpy(), paired["judge"].to_numpy()
    d = j - h
    pr = st.pearsonr(h, j)
    sr = st.spearmanr(h, j)
    mx, my = h.mean(), j.mean()
    ccc = 2 * np.mean((h - mx) * (j - my)) / (h.var() + j.var() + (mx - my) ** 2)  # Lin 1989
    sd = d.std(ddof=1)
    ref["paired"] = {
        "n": int(len(h)), "human_mean": float(mx), "judge_mean": float(my),
        "bias": float(d.mean()), "mae": float(np.abs(d).mean()), "mse": float((d ** 2).mean()),
        "rmse": float(np.sqrt((d ** 2).mean())),
        "pearson_r": float(pr.statistic), "pearson_p": float(pr.pvalue),       # scipy
        "spearman_rho": float(sr.statistic), "spearman_p": float(sr.pvalue),   # scipy
        "ccc": float(ccc),                                                     # numpy formula
        "ba_bias": float(d.mean()), "ba_sd": float(sd),
        "ba_lower": float(d.mean() - 1.96 * sd), "ba_upper": float(d.mean() + 1.96 * sd),
        "wilcoxon": wilcoxon_ref(d),                                            # scipy, pingouin
        "icc": icc_all(paired[["human", "judge"]]),                             # pingouin
    }

    fr = st.friedmanchisquare(*[blocks[c].to_numpy() for c in blocks.columns])
    long = data["blocks"].melt(id_vars="conversation", var_name="model", value_name="score")
    pf = pg.friedman(data=long, dv="score", within="model", subject="conversation")
    pairs = []
    names = list(blocks.columns)
    for x in range(len(names)):
        for y in range(x + 1, len(names)):
            dd = blocks[names[x]].to_numpy() - blocks[names[y]].to_numpy()
            w = wilcoxon_ref(dd)
            w.update({"model_a": names[x], "model_b": names[y], "mean_difference": float(dd.mean())})
            pairs.append(w)
    holm = multipletests([p["p_value"] for p in pairs], method="holm")[1]  # statsmodels
    for p, adj in zip(pairs, holm):
        p["p_holm"] = float(adj)
    m0 = blocks["m0"].to_numpy().astype(float)
    ref["blocks"] = {
        "friedman_q": float(fr.statistic), "friedman_p": float(fr.pvalue),  # scipy
        "kendall_w": float(pf["W"].iloc[0]),                                # pingouin
        "pairwise": pairs,
        "m0_summary": {"mean": float(m0.mean()), "sd": float(m0.std(ddof=1)),   # numpy
                       "median": float(np.median(m0)), "q1": float(np.percentile(m0, 25)),
                       "q3": float(np.percentile(m0, 75))},
    }
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1, sort_keys=True)
        f.write("\n")
    print(os.path.join(OUT, "reference.json"))


if __name__ == "__main__":
    main()

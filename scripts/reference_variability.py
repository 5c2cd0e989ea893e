#!/usr/bin/env python3
"""Reference values for src/analysis/variability.rs, from numpy and scipy.

Prints the SD, CV and IQR of the data in the Rust tests (X, Y), the difference of their SDs and
the Pitman-Morgan test of equal paired variances as scipy.stats.pearsonr of the pair sums and
differences (Pitman 1939), which gives r and the t-test p on n - 2 df. The printed constants are
pasted into the tests of variability.rs.

Run from the repository root:  python3 scripts/reference_variability.py   (needs numpy, scipy)
"""

import numpy as np
import scipy
import scipy.stats as st

X = np.array([4.0, 3.6667, 4.3333, 5.0, 3.0, 4.0, 4.6667, 3.3333, 4.0, 4.3333, 3.6667, 5.0])
Y = np.array([3.0, 4.6667, 2.3333, 5.0, 1.6667, 3.3333, 4.0, 2.0, 4.3333, 3.0, 2.6667, 4.6667])


def iqr(v):
    q3, q1 = np.percentile(v, [75, 25])  # linear interpolation (type 7)
    return q3 - q1


r, p = st.pearsonr(X + Y, Y - X)
n = len(X)
t = r * np.sqrt((n - 2) / (1 - r * r))
print(f"// numpy {np.__version__}, scipy {scipy.__version__}")
for name, value in [
    ("REF_SD_X", X.std(ddof=1)),
    ("REF_CV_X", X.std(ddof=1) / X.mean()),
    ("REF_IQR_X", iqr(X)),
    ("REF_SD_Y", Y.std(ddof=1)),
    ("REF_VAR_RATIO", Y.var(ddof=1) / X.var(ddof=1)),
    ("REF_PM_R", r),
    ("REF_PM_T", t),
    ("REF_PM_P", p),
]:
    print(f"const {name}: f64 = {float(value)!r};")

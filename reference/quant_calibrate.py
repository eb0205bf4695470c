"""ONNX Runtime's calibrators in numpy, on known data: quantize/testdata/calibrate.json.

    /usr/bin/python3 reference/quant_calibrate.py [--out FILE]

lenetkit's package quantize computes the ranges of ONNX Runtime's
calibrators (onnxruntime.quantization.calibrate, 1.30: MinMaxCalibrater,
PercentileCalibrater, EntropyCalibrater with their defaults) in Go. This
script is the same arithmetic written from ONNX Runtime's algorithm in
numpy alone (scipy.stats.entropy is replaced by its formula, in float64),
run on data both languages generate bit for bit (a 32-bit xorshift and
integer arithmetic, every value exact in float32), and it writes each
range so that quantize's tests compare with it:

- MinMax: (min, max) of all the data.
- Percentile (symmetric, as its default): np.histogram of |x| in `bins`
  bins over [min |x|, max |x|]; the first edge where the cumulative share
  reaches percentile / 100 is t; the range is (-t, t) cut to [min, max].
- Entropy: np.histogram of x in `bins` bins over (-m, m), m = max |x|;
  for i from quantized_bins // 2 to bins // 2, the slice of 2i + 1 bins
  around the middle (outliers added to its end bins) is p, the slice
  merged into quantized_bins bins and spread back over each merged bin's
  nonzero places of p (written into an int64 array: truncated) is q; both
  smoothed (smooth_distribution, eps 0.0001) and normalised; the slice of
  least KL(p || q) gives the range (edges of its ends), cut to [min, max].

The data is the whole histogram at once, as ONNX Runtime's collector sees
the merged outputs of every calibration batch.
"""
import argparse
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
N = 20000


def xorshift(seed, n):
    """n values of a 32-bit xorshift (13, 17, 5) from seed."""
    s = seed
    out = []
    for _ in range(n):
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        out.append(s)
    return out


def datasets():
    """The known distributions, float32, each value exact."""
    r = xorshift(2463534242, 4 * N)
    d = {}
    # A ReLU's output: a sum of four uniforms on [-2, 2], negatives made 0.
    v = []
    for i in range(N):
        k = sum((r[4 * i + j] >> 20) for j in range(4)) - 2 * 4095
        v.append(max(k, 0) / 1024.0)
    d["relu"] = np.array(v, np.float32)
    # Heavy tails, both signs: (k / 16)^3 for k in 0..255.
    v = []
    for i in range(N):
        k = (r[i] >> 24) & 0xFF
        s = -1.0 if r[i] & 1 else 1.0
        v.append(s * k * k * k / 4096.0)
    d["heavy"] = np.array(v, np.float32)
    # All positive, away from 0: 0.5 + 3 * uniform.
    d["shifted"] = np.array([0.5 + 3 * (x >> 20) / 4096.0 for x in r[:N]], np.float32)
    # Small values and a few large outliers (1 in 500).
    v = []
    for i in range(N):
        k = (r[N + i] >> 20) - 2048
        if r[2 * N + i] % 500 == 0:
            v.append(k / 8.0)
        else:
            v.append(k / 4096.0)
    d["outliers"] = np.array(v, np.float32)
    d["zeros"] = np.zeros(1000, np.float32)
    return d


def minmax(x):
    return float(x.min()), float(x.max())


def percentile(x, bins, pct):
    lo, hi = x.min(), x.max()
    a = np.abs(x)
    hist, edges = np.histogram(a, bins=bins)
    edges = edges.astype(a.dtype)
    cdf = np.cumsum(hist / hist.sum())
    idx = np.searchsorted(cdf, pct / 100.0)
    t = edges[idx]
    r = [-t, t]
    if r[0] < lo:
        r[0] = lo
    if r[1] > hi:
        r[1] = hi
    return float(r[0]), float(r[1])


def smooth(p, eps=0.0001):
    is_zeros = (p == 0).astype(np.float32)
    is_nonzeros = (p != 0).astype(np.float32)
    n_zeros = is_zeros.sum()
    n_nonzeros = p.size - n_zeros
    if not n_nonzeros:
        return None
    eps1 = eps * float(n_zeros) / float(n_nonzeros)
    hist = p.astype(np.float32)
    hist += eps * is_zeros + (-eps1) * is_nonzeros
    return hist


def kl(p, q):
    p = p.astype(np.float64)
    q = q.astype(np.float64)
    p = p / p.sum()
    q = q / q.sum()
    m = p > 0
    return float(np.sum(p[m] * np.log(p[m] / q[m])))


def entropy(x, bins, quantized):
    lo, hi = x.min(), x.max()
    t = max(abs(lo), abs(hi))
    hist, edges = np.histogram(x, bins, range=(-t, t))
    nb = hist.size
    zero = nb // 2
    half = quantized // 2
    divs = np.zeros(zero - half + 1)
    thresholds = [(0, 0)] * divs.size
    for i in range(half, zero + 1):
        start = zero - i
        end = min(zero + i + 1, nb)
        thresholds[i - half] = (float(edges[start]), float(edges[end]))
        sliced = hist[start:end].copy()
        p = sliced.copy()
        p[0] += hist[:start].sum()
        p[-1] += hist[end:].sum()
        nonzeros = (p != 0).astype(np.int64)
        qb = np.zeros(quantized, dtype=np.int64)
        merged = sliced.size // quantized
        for k in range(quantized):
            qb[k] = sliced[k * merged:(k + 1) * merged].sum()
        qb[-1] += sliced[quantized * merged:].sum()
        q = np.zeros(p.size, dtype=np.int64)
        for k in range(quantized):
            s, e = k * merged, (k + 1) * merged
            norm = nonzeros[s:e].sum()
            if norm != 0:
                q[s:e] = float(qb[k]) / float(norm)
        p = smooth(p)
        q = smooth(q)
        divs[i - half] = kl(p, q) if p is not None and q is not None else float("inf")
    best = thresholds[int(np.argmin(divs))]
    r = [best[0], best[1]]
    if r[0] < lo:
        r[0] = float(lo)
    if r[1] > hi:
        r[1] = float(hi)
    return float(np.float32(r[0])), float(np.float32(r[1]))


CONFIGS = [
    {"method": "minmax"},
    {"method": "percentile", "bins": 2048, "percentile": 99.999},
    {"method": "percentile", "bins": 2048, "percentile": 99.9},
    {"method": "percentile", "bins": 64, "percentile": 90},
    {"method": "entropy", "bins": 128, "quantized_bins": 128},
    {"method": "entropy", "bins": 2048, "quantized_bins": 128},
    {"method": "entropy", "bins": 512, "quantized_bins": 64},
]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(HERE, "..", "quantize", "testdata", "calibrate.json"))
    a = p.parse_args()
    out = {"generator": "xorshift32 (13, 17, 5) from 2463534242; see reference/quant_calibrate.py", "n": N,
           "numpy": np.__version__, "cases": []}
    for name, x in datasets().items():
        for c in CONFIGS:
            m = c["method"]
            if m == "minmax":
                r = minmax(x)
            elif m == "percentile":
                r = percentile(x, c["bins"], c["percentile"])
            else:
                r = entropy(x, c["bins"], c["quantized_bins"])
            out["cases"].append(dict(c, data=name, range=[r[0], r[1]]))
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    os.replace(tmp, a.out)
    print(os.path.relpath(a.out))


if __name__ == "__main__":
    main()

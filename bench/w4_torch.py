"""W4's NTK written by hand for this one architecture: the baseline of `npm run bench -- --w4`.

The model (bench.ts's W4_SOURCE): h(x) = a · tanh(W2 z1(x)) / sqrt(m), z1(x) = tanh(W1 x) / sqrt(m),
on the rows x of X. Per layer its gradients are outer products, so the NTK is, with the
adjoints d2 = dh/d(W2 z1) and d1 = dh/d(W1 x) of every row stacked (n × m),

    K = (d1 d1^T) o (X X^T) + (d2 d2^T) o (Z1 Z1^T) + Z2 Z2^T

(o the elementwise product): full GEMMs, no Jacobian. PyTorch (float64) when it imports, else
NumPy with the same products (the JSON line says which ran); torch on every core (it starts with
one thread here). The weights and data are ntk's own,
read from X.npy, W1.npy, W2.npy and a.npy in the directory given; K is written with numpy.save.

    python3 bench/w4_torch.py DIR OUT.npy      # prints {"baseline": "torch"|"numpy", "seconds": …}
"""
import json
import os
import sys
import time

t0 = time.perf_counter()
import numpy as np

try:
    import torch

    # every core: Debian's torch starts with one thread here (its OpenMP's default)
    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    baseline = "torch"
except ImportError:
    torch = None
    baseline = "numpy"


def main():
    src, out = sys.argv[1], sys.argv[2]
    X, W1, W2, a = (np.load(f"{src}/{name}.npy") for name in ("X", "W1", "W2", "a"))
    m = W2.shape[0]
    s = 1.0 / np.sqrt(m)
    if torch is not None:
        X, W1, W2, a = (torch.from_numpy(v) for v in (X, W1, W2, a))
        t1 = torch.tanh(X @ W1.T)
        z1 = t1 * s
        t2 = torch.tanh(z1 @ W2.T)
        z2 = t2 * s
        d2 = (1 - t2 * t2) * (s * a)
        d1 = (d2 @ W2) * (1 - t1 * t1) * s
        K = (d1 @ d1.T) * (X @ X.T)
        K += (d2 @ d2.T) * (z1 @ z1.T)
        K += z2 @ z2.T
        np.save(out, K.numpy())
    else:
        t1 = np.tanh(X @ W1.T)
        z1 = t1 * s
        t2 = np.tanh(z1 @ W2.T)
        z2 = t2 * s
        d2 = (1 - t2 * t2) * (s * a)
        d1 = (d2 @ W2) * (1 - t1 * t1) * s
        K = (d1 @ d1.T) * (X @ X.T)
        K += (d2 @ d2.T) * (z1 @ z1.T)
        K += z2 @ z2.T
        np.save(out, K)
    threads = torch.get_num_threads() if torch is not None else None
    print(json.dumps({"baseline": baseline, "threads": threads, "seconds": time.perf_counter() - t0}))


main()

"""The NNGP/NTK recursion of bench's `limit` rows in plain NumPy (Lee et al. eq. 1 and
MATH.md §5): depth 3, n inputs of dimension 8, relu by the arc-cosine closed forms, or tanh by a
fixed 2-D Gauss-Hermite rule (order 32, not adaptive). Prints the seconds of the recursion."""
import sys, time
import numpy as np

def relu_pair(S):
    d = np.sqrt(np.diag(S)); P = np.outer(d, d)
    rho = np.clip(S / P, -1, 1); th = np.arccos(rho)
    E = P * (np.sin(th) + (np.pi - th) * np.cos(th)) / (2 * np.pi)
    Ed = (np.pi - th) / (2 * np.pi)
    return E, Ed

def gh_pair(S, f, fd, q=32):
    x, w = np.polynomial.hermite_e.hermegauss(q); w = w / np.sqrt(2 * np.pi)
    d = np.diag(S); n = len(d)
    E = np.empty_like(S); Ed = np.empty_like(S)
    for a in range(n):
        s11 = d[a]; s12 = S[a]; s22 = d
        u = np.sqrt(s11) * x                                 # (q,)
        al = s12 / np.sqrt(s11); be = np.sqrt(np.maximum(s22 - al * al, 0))
        v = al[:, None, None] * x[None, :, None] + be[:, None, None] * x[None, None, :]   # (n, q, q)
        W = w[:, None] * w[None, :]
        E[a] = np.einsum('ij,i,bij->b', W, f(u), f(v))
        Ed[a] = np.einsum('ij,i,bij->b', W, fd(u), fd(v))
    return E, Ed

def main():
    n, act = int(sys.argv[1]), sys.argv[2]
    rng = np.random.default_rng(1); X = rng.standard_normal((n, 8))
    t0 = time.perf_counter()
    S = X @ X.T / 8 + 0.01; T = S.copy()
    for _ in range(3):
        if act == 'relu': E, Ed = relu_pair(S)
        else: E, Ed = gh_pair(S, np.tanh, lambda z: 1 - np.tanh(z) ** 2)
        T = E + Ed * T; S = E
    print(time.perf_counter() - t0)

main()

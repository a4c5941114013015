/**
 * Gaussian quadrature rules from their three-term recurrences (Golub–Welsch): the nodes are the
 * eigenvalues of the symmetric tridiagonal Jacobi matrix J (diagonal a_k, off-diagonal √b_k) and
 * the weights μ0·v_0² (v_0 the first component of each unit eigenvector).
 *
 *  - `gaussHermite(q)`: ∫ f(z) φ(z) dz with φ the standard normal density (probabilists'
 *    Hermite: a_k = 0, b_k = k); exact for polynomials of degree ≤ 2q − 1.
 *  - `gaussLegendre(q)`: ∫_{−1}^{1} f(x) dx (a_k = 0, b_k = k²/(4k² − 1)).
 *  - `halfGauss(q, power)`: ∫_0^∞ f(r) r^power e^{−r²/2} dr / Z for power 0 (half-line normal)
 *    or 1 (the radial weight of polar coordinates), whose recurrences have no closed form: they
 *    come from the discretized Stieltjes procedure on a fine composite Gauss–Legendre
 *    discretization of [0, 40] (the weight beyond 40 is below e^{−800}).
 *
 * Rules are cached by order. Scalar numerics only (no graph, no runtime): `src/math` is the
 * bottom layer.
 */

export interface Rule {
  nodes: Float64Array;
  weights: Float64Array;
}

/**
 * Eigenvalues and first eigenvector components of the symmetric tridiagonal matrix with
 * diagonal `d` and off-diagonal `e` (e[i] couples i and i+1), by the implicit QL method with
 * Wilkinson shifts (tql2, rotating only the first row of the eigenvector matrix).
 */
export function tridiagonalEigen(d0: Float64Array, e0: Float64Array): { values: Float64Array; first: Float64Array } {
  const n = d0.length;
  const d = Float64Array.from(d0);
  const e = new Float64Array(n);
  e.set(e0.subarray(0, n - 1));
  const z = new Float64Array(n); // first row of the eigenvector matrix
  z[0] = 1;
  for (let l = 0; l < n; l++) {
    let iter = 0;
    for (;;) {
      let m = l;
      for (; m < n - 1; m++) {
        const dd = Math.abs(d[m]!) + Math.abs(d[m + 1]!);
        if (Math.abs(e[m]!) <= 1e-17 * dd) break;
      }
      if (m === l) break;
      if (++iter > 60) throw new Error('internal: tridiagonal eigensolver did not converge');
      let g = (d[l + 1]! - d[l]!) / (2 * e[l]!);
      let r = Math.hypot(g, 1);
      g = d[m]! - d[l]! + e[l]! / (g + (g >= 0 ? r : -r));
      let s = 1, c = 1, p = 0;
      let i = m - 1;
      for (; i >= l; i--) {
        let f = s * e[i]!;
        const b = c * e[i]!;
        r = Math.hypot(f, g);
        e[i + 1] = r;
        if (r === 0) {
          d[i + 1]! -= p;
          e[m] = 0;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1]! - p;
        r = (d[i]! - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        f = z[i + 1]!;
        z[i + 1] = s * z[i]! + c * f;
        z[i] = c * z[i]! - s * f;
      }
      if (r === 0 && i >= l) continue;
      d[l]! -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
  return { values: d, first: z };
}

function golubWelsch(a: Float64Array, b: Float64Array, mu0: number): Rule {
  const q = a.length;
  const off = new Float64Array(q);
  for (let k = 0; k < q - 1; k++) off[k] = Math.sqrt(b[k + 1]!);
  const { values, first } = tridiagonalEigen(a, off);
  const order = Array.from({ length: q }, (_, i) => i).sort((i, j) => values[i]! - values[j]!);
  const nodes = new Float64Array(q), weights = new Float64Array(q);
  order.forEach((o, k) => {
    nodes[k] = values[o]!;
    weights[k] = mu0 * first[o]! * first[o]!;
  });
  return { nodes, weights };
}

const hermiteCache = new Map<number, Rule>();
/** q-point Gauss–Hermite rule for the standard normal measure (weights sum to 1). */
export function gaussHermite(q: number): Rule {
  let r = hermiteCache.get(q);
  if (!r) {
    const a = new Float64Array(q), b = new Float64Array(q);
    for (let k = 1; k < q; k++) b[k] = k;
    r = golubWelsch(a, b, 1);
    // Symmetrize: the rule is exactly symmetric; rounding of the eigensolver is not.
    for (let i = 0, j = q - 1; i < j; i++, j--) {
      const x = (r.nodes[j]! - r.nodes[i]!) / 2, w = (r.weights[i]! + r.weights[j]!) / 2;
      r.nodes[i] = -x; r.nodes[j] = x; r.weights[i] = w; r.weights[j] = w;
    }
    if (q % 2) r.nodes[(q - 1) / 2] = 0;
    hermiteCache.set(q, r);
  }
  return r;
}

const legendreCache = new Map<number, Rule>();
/**
 * q-point Gauss–Legendre rule on [−1, 1] (weights sum to 2): the nodes by Newton's method on
 * P_q from x ≈ cos(π(i + 3/4)/(q + 1/2)), P_q and P_q′ by the three-term recurrence, and
 * w_i = 2/((1 − x_i²)·P_q′(x_i)²) — nodes and weights to a few ulp, where the Golub–Welsch
 * eigenvectors lose a few digits in the weights (the exponential integrator's φ_k need the ulp).
 * @example const r = gaussLegendre(3); r.nodes // [−√(3/5), 0, √(3/5)]; r.weights // [5/9, 8/9, 5/9]
 */
export function gaussLegendre(q: number): Rule {
  let r = legendreCache.get(q);
  if (!r) {
    const nodes = new Float64Array(q), weights = new Float64Array(q);
    for (let i = 0; i < q; i++) {
      let t = Math.cos((Math.PI * (i + 0.75)) / (q + 0.5)), dp = 1;
      for (let it = 0; it < 100; it++) {
        let p0 = 1, p1 = t;
        for (let k = 2; k <= q; k++) {
          const p2 = ((2 * k - 1) * t * p1 - (k - 1) * p0) / k;
          p0 = p1;
          p1 = p2;
        }
        dp = (q * (t * p1 - p0)) / (t * t - 1);
        const dt = p1 / dp;
        t -= dt;
        if (Math.abs(dt) < 1e-16) break;
      }
      // ascending order, exactly symmetric
      nodes[q - 1 - i] = t;
      weights[q - 1 - i] = 2 / ((1 - t * t) * dp * dp);
    }
    for (let i = 0, j = q - 1; i < j; i++, j--) {
      const x = (nodes[j]! - nodes[i]!) / 2, w = (weights[i]! + weights[j]!) / 2;
      nodes[i] = -x; nodes[j] = x; weights[i] = w; weights[j] = w;
    }
    if (q % 2) nodes[(q - 1) / 2] = 0;
    r = { nodes, weights };
    legendreCache.set(q, r);
  }
  return r;
}

/** The discretization of r^power e^{−r²/2} dr on [0, 40] used by the Stieltjes procedure. */
function discreteHalfMeasure(power: number): Rule {
  const panels = 40, per = 64, width = 1;
  const gl = gaussLegendre(per);
  const nodes = new Float64Array(panels * per), weights = new Float64Array(panels * per);
  for (let p = 0; p < panels; p++)
    for (let i = 0; i < per; i++) {
      const x = p * width + (gl.nodes[i]! + 1) * width / 2;
      nodes[p * per + i] = x;
      weights[p * per + i] = (gl.weights[i]! * width / 2) * x ** power * Math.exp(-x * x / 2);
    }
  return { nodes, weights };
}

const halfCache = new Map<string, Rule>();
/**
 * q-point Gauss rule for the weight r^power·e^{−r²/2} on [0, ∞), normalized to total mass 1
 * (power 0: the half-normal; power 1: the Rayleigh density, the radius of a 2-D standard normal).
 */
export function halfGauss(q: number, power: 0 | 1): Rule {
  const key = `${q}:${power}`;
  let r = halfCache.get(key);
  if (r) return r;
  const dm = discreteHalfMeasure(power);
  const N = dm.nodes.length;
  // Discretized Stieltjes: orthonormal polynomials evaluated on the discrete nodes.
  const a = new Float64Array(q), b = new Float64Array(q);
  let pPrev = new Float64Array(N), p = new Float64Array(N).fill(1);
  let norm2 = 0;
  for (let i = 0; i < N; i++) norm2 += dm.weights[i]!;
  const mu0 = norm2;
  let nrm = Math.sqrt(norm2);
  for (let i = 0; i < N; i++) p[i] = 1 / nrm;
  for (let k = 0; k < q; k++) {
    let ak = 0;
    for (let i = 0; i < N; i++) ak += dm.weights[i]! * dm.nodes[i]! * p[i]! * p[i]!;
    a[k] = ak;
    const next = new Float64Array(N);
    const bk = k === 0 ? 0 : Math.sqrt(b[k]!);
    for (let i = 0; i < N; i++) next[i] = (dm.nodes[i]! - ak) * p[i]! - bk * pPrev[i]!;
    let s = 0;
    for (let i = 0; i < N; i++) s += dm.weights[i]! * next[i]! * next[i]!;
    nrm = Math.sqrt(s);
    if (k + 1 < q) b[k + 1] = s;
    for (let i = 0; i < N; i++) next[i]! /= nrm;
    pPrev = p;
    p = next;
  }
  r = golubWelsch(a, b, 1);
  void mu0;
  halfCache.set(key, r);
  return r;
}

const panelCache = new Map<string, Rule>();
/**
 * Composite Gauss–Legendre with `panels` panels of `per` points on [lo, hi], the weight
 * `density(x)` folded into the weights: for integrands with poles near the real axis (tanh,
 * sigmoid), where Gauss–Hermite converges only like e^{−c√q}, this converges geometrically.
 */
export function panelRule(lo: number, hi: number, panels: number, per: number, density: (x: number) => number, key: string): Rule {
  const k = `${key}:${lo}:${hi}:${panels}:${per}`;
  let r = panelCache.get(k);
  if (r) return r;
  const nodes = new Float64Array(panels * per), weights = new Float64Array(panels * per);
  panelNodes(lo, hi, panels, per, density, nodes, weights, 0);
  r = { nodes, weights };
  panelCache.set(k, r);
  return r;
}

/**
 * The points of `panelRule`, uncached, written at `at` into (nodes, weights); returns the index
 * after the last one (at + panels·per). For rules whose ends move with each call (the pieces
 * between kinks), which a cache would only fill.
 * @example const x = new Float64Array(8), w = new Float64Array(8); panelNodes(0, 1, 2, 4, () => 1, x, w, 0) // 8
 */
export function panelNodes(
  lo: number, hi: number, panels: number, per: number, density: (x: number) => number,
  nodes: Float64Array, weights: Float64Array, at: number,
): number {
  const gl = gaussLegendre(per);
  const w = (hi - lo) / panels;
  for (let p = 0; p < panels; p++)
    for (let i = 0; i < per; i++, at++) {
      const x = lo + p * w + ((gl.nodes[i]! + 1) * w) / 2;
      nodes[at] = x;
      weights[at] = ((gl.weights[i]! * w) / 2) * density(x);
    }
  return at;
}

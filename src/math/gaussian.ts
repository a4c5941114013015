/**
 * Gaussian expectations of scalar functions, vectorized over Float64Arrays: the pair
 * expectations E[φ(u)ψ(v)] with (u, v) ~ N(0, [[s11, s12], [s12, s22]]) that infinite-width
 * limits are made of (MATH.md §5), and the 1-D expectations E[p(g)φ(g)], g ~ N(0, s) of the
 * early-time constants (MATH.md §4: E[φ(g)], E[gφ′(g)], …).
 *
 * A function is given as a `GaussFn`: a vectorized evaluator, whether it has kinks (only at 0
 * are supported: a kink elsewhere must be reported by the caller) and, when it is a linear
 * combination Σ c_i·A_i(β_i·x) of the closed-form atoms below, that decomposition. Pairs of atoms
 * use the closed forms (ρ = s12/√(s11 s22)):
 *
 *   id·id      s12                       sign·sign  (2/π) arcsin ρ
 *   cube·cube  9 s11 s22 s12 + 6 s12³   (cube(x) = x³: cubics; Isserlis)
 *   abs·abs    (2/π)√(s11 s22)(√(1−ρ²) + ρ arcsin ρ)        (relu = (id + abs)/2, step = (1 + sign)/2)
 *   erf·erf    (2/π) arcsin(2 s12/√((1+2 s11)(1+2 s22)))
 *   gauss·gauss (gauss(x) = e^{−x²}, erf′ = (2/√π)·gauss)   1/√((1+2 s11)(1+2 s22) − 4 s12²)
 *   sin·sin    e^{−(s11+s22)/2} sinh s12        cos·cos  e^{−(s11+s22)/2} cosh s12
 *   exp·exp    e^{(s11+s22)/2 + s12}
 *   sq·sq      s11 s22 + 2 s12²  (sq(x) = x²: quadratics; Isserlis)
 *
 * and the cross pairs: with the constant (1-D means), with id (Stein: E[u f(v)] = s12 E[f′(v)]),
 * odd × even = 0, sin·exp, cos·exp, sign·erf (erf(x) = E[sign(x + ξ)], ξ ~ N(0, ½)), gauss·cos,
 * gauss·exp, and u² against abs, gauss, cos, exp (conditioning on v). Any other pair is
 * integrated numerically: 2-D Gauss–Hermite on
 * u = √s11·z1, v = (s12/√s11)·z1 + √(s22 − s12²/s11)·z2 for smooth functions, and for functions
 * with kinks at 0 polar coordinates split at the kink rays (Gauss–Legendre in the angle on each
 * sector, the Rayleigh-weight Gauss rule in the radius), so no rule ever straddles a kink. The
 * order rises (10, 16, 24, …, 128) per pair until two successive orders agree to `tol` (1e-12)
 * relative to the Cauchy–Schwarz scale √(E[φ(u)²]E[ψ(v)²]); the accuracy reported is the largest
 * last difference, never below a few ulps of the scale.
 *
 * @example
 *   const relu = atomFn('relu');
 *   const r = pairExpectation(relu, relu, Float64Array.of(1), Float64Array.of(0.5), Float64Array.of(1));
 *   r.value[0]; // (sin θ + (π − θ) cos θ)/(2π) with θ = arccos ½, r.method === 'closed'
 */
import { erf } from './erf.ts';
import { gaussHermite, gaussLegendre, halfGauss, panelNodes, panelRule, type Rule } from './quadrature.ts';
import { distinct, hermiteTable, MehlerSeries, type Gemm, type HermiteTable } from './mehler.ts';

export type { Gemm } from './mehler.ts';

/**
 * The scalar functions A whose pairs E[A(u)B(v)], (u, v) Gaussian, have closed forms: 1, x, |x|,
 * sign x, erf x, e^{−x²}, sin x, cos x, e^x, x², x³.
 */
export type Atom = 'one' | 'id' | 'abs' | 'sign' | 'erf' | 'gauss' | 'sin' | 'cos' | 'exp' | 'sq' | 'cube';

/** One term c·A(β·x) of a closed-form decomposition. */
export interface AtomTerm {
  atom: Atom;
  coef: number;
  scale: number;
}

/** A scalar function for Gaussian expectations. */
export interface GaussFn {
  /** A readable name (for `method` reports and errors). */
  name: string;
  /** out[i] = f(x[i]); must be vectorized (no per-element callbacks). */
  eval: (x: Float64Array, out: Float64Array) => void;
  /** True when f has kinks (or jumps), all at 0; smooth elsewhere. */
  kinkAtZero: boolean;
  /**
   * Where f has kinks or jumps when some are away from 0 (relu(x − 1): [1]), sorted; f is smooth
   * between them. Expectations then integrate piece by piece between them (`expect1` with these
   * as breaks, `piecewisePairs`), never across one. Absent when every kink is at 0 (`kinkAtZero`).
   */
  kinks?: number[];
  /** f = Σ coef·atom(scale·x), when f is such a combination. */
  terms?: AtomTerm[];
}

const ATOM_EVAL: Record<Atom, (x: number) => number> = {
  one: () => 1,
  id: (x) => x,
  cube: (x) => x * x * x,
  abs: Math.abs,
  sign: Math.sign,
  erf,
  gauss: (x) => Math.exp(-x * x),
  sin: Math.sin,
  cos: Math.cos,
  exp: Math.exp,
  sq: (x) => x * x,
};
const KINKED: ReadonlySet<Atom> = new Set<Atom>(['abs', 'sign']);

/** The `GaussFn` of a linear combination of atoms. */
export function termsFn(name: string, terms: AtomTerm[]): GaussFn {
  return {
    name,
    terms,
    kinkAtZero: terms.some((t) => KINKED.has(t.atom)),
    eval: (x, out) => {
      out.fill(0);
      for (const t of terms) {
        const f = ATOM_EVAL[t.atom];
        for (let i = 0; i < x.length; i++) out[i]! += t.coef * f(t.scale * x[i]!);
      }
    },
  };
}

/**
 * Named functions with closed forms: the atoms and relu = ½(x + |x|), step = relu′ = ½(1 +
 * sign x), erf′(x) = (2/√π)·e^{−x²}, each as a sum of atoms Σ c·A(β·x), so that a pair of them
 * has E[f(u)g(v)] in closed form (`pairExpectation`).
 * @example const out = new Float64Array(2); atomFn('relu').eval(Float64Array.of(-1, 2), out); out // [0, 2]

 */
export function atomFn(name: Atom | 'relu' | 'step' | 'erfprime'): GaussFn {
  switch (name) {
    case 'relu': return termsFn('relu', [{ atom: 'id', coef: 0.5, scale: 1 }, { atom: 'abs', coef: 0.5, scale: 1 }]);
    case 'step': return termsFn('step', [{ atom: 'one', coef: 0.5, scale: 1 }, { atom: 'sign', coef: 0.5, scale: 1 }]);
    case 'erfprime': return termsFn('erfprime', [{ atom: 'gauss', coef: 2 / Math.sqrt(Math.PI), scale: 1 }]);
    default: return termsFn(name, [{ atom: name, coef: 1, scale: 1 }]);
  }
}

const PARITY: Record<Atom, 1 | -1 | 0> = { one: 1, id: -1, abs: 1, sign: -1, erf: -1, gauss: 1, sin: -1, cos: 1, exp: 0, sq: 1, cube: -1 };
const TWO_PI = 2 / Math.PI;
const SQRT_2_PI = Math.sqrt(2 / Math.PI);

/** E[A(u)] for u ~ N(0, q). */
function mean(a: Atom, q: number): number | null {
  switch (a) {
    case 'one': return 1;
    case 'abs': return Math.sqrt(q) * SQRT_2_PI;
    case 'gauss': return 1 / Math.sqrt(1 + 2 * q);
    case 'cos': return Math.exp(-q / 2);
    case 'exp': return Math.exp(q / 2);
    case 'sq': return q;
    default: return PARITY[a] === -1 ? 0 : null;
  }
}

/** E[A′(v)] for v ~ N(0, q) (A′ in the distributional sense: sign′ = 2δ). */
function meanDerivative(a: Atom, q: number): number | null {
  switch (a) {
    case 'one': return 0;
    case 'id': return 1;
    case 'cube': return 3 * q;
    case 'abs': return 0;
    case 'sign': return q > 0 ? 2 / Math.sqrt(2 * Math.PI * q) : null;
    case 'erf': return (2 / Math.sqrt(Math.PI)) / Math.sqrt(1 + 2 * q);
    case 'gauss': return 0;
    case 'sin': return Math.exp(-q / 2);
    case 'cos': return 0;
    case 'exp': return Math.exp(q / 2);
    case 'sq': return 0;
  }
}

const clampRho = (r: number) => (r > 1 ? 1 : r < -1 ? -1 : r);

/**
 * E[A(u)B(v)] in closed form for one (p, c, q) = (s11, s12, s22), or null when this pair has
 * none. Exported for tests.
 */
export function atomPair(A: Atom, B: Atom, p: number, c: number, q: number): number | null {
  if (A === 'one') return mean(B, q);
  if (B === 'one') return mean(A, p);
  if (A === 'id') { const d = meanDerivative(B, q); return d === null ? (c === 0 ? 0 : null) : c * d; }
  if (B === 'id') { const d = meanDerivative(A, p); return d === null ? (c === 0 ? 0 : null) : c * d; }
  if (PARITY[A] * PARITY[B] === -1) return 0;
  const pq = p * q;
  const rho = pq > 0 ? clampRho(c / Math.sqrt(pq)) : 0;
  if (A === B) {
    switch (A) {
      case 'abs': return TWO_PI * Math.sqrt(pq) * (Math.sqrt(Math.max(0, 1 - rho * rho)) + rho * Math.asin(rho));
      case 'cube': return 9 * pq * c + 6 * c * c * c; // E[u³v³]
      case 'sign': return TWO_PI * Math.asin(rho);
      case 'erf': return TWO_PI * Math.asin(clampRho((2 * c) / Math.sqrt((1 + 2 * p) * (1 + 2 * q))));
      case 'gauss': return 1 / Math.sqrt((1 + 2 * p) * (1 + 2 * q) - 4 * c * c);
      case 'sq': return p * q + 2 * c * c; // Isserlis
      case 'sin': return Math.exp(-(p + q) / 2) * Math.sinh(c);
      case 'cos': return Math.exp(-(p + q) / 2) * Math.cosh(c);
      case 'exp': return Math.exp((p + q) / 2 + c);
    }
  }
  const key = A < B ? `${A}|${B}` : `${B}|${A}`;
  // Oriented so that the first atom of the key sits on the variable with variance P.
  const [P, Q] = A < B ? [p, q] : [q, p];
  switch (key) {
    case 'exp|sin': return Math.exp((P - Q) / 2) * Math.sin(c); // E[e^u sin v] = e^{(s_u − s_v)/2} sin c
    case 'cos|exp': return Math.exp((Q - P) / 2) * Math.cos(c); // E[cos u e^v]
    case 'erf|sign': return TWO_PI * Math.asin(clampRho(c / Math.sqrt((P + 0.5) * Q))) * (Q > 0 ? 1 : 0);
    case 'cos|gauss': return Math.exp(-(P - (2 * c * c) / (1 + 2 * Q)) / 2) / Math.sqrt(1 + 2 * Q);
    // u² against A(v): E[u² | v] = (c/Q_A)²v² + P_u − c²/Q_A, then 1-D moments of A
    case 'abs|sq': return P > 0 ? SQRT_2_PI * (Q * Math.sqrt(P) + (c * c) / Math.sqrt(P)) : 0;
    case 'gauss|sq': return (Q * (1 + 2 * P) - 2 * c * c) / (1 + 2 * P) ** 1.5;
    case 'cos|sq': return Math.exp(-P / 2) * (Q - c * c);
    case 'exp|sq': return Math.exp(P / 2) * (Q + c * c);
    case 'exp|gauss': return Math.exp((P - (2 * c * c) / (1 + 2 * Q)) / 2) / Math.sqrt(1 + 2 * Q);
    default: return null;
  }
}

/**
 * The closed form of one atom pair as a specialized function of (s11, s12, s22), or null; the
 * loops over many pairs call it monomorphically (no per-entry dispatch on the atoms).
 */
export function atomPairFn(A: Atom, B: Atom): ((p: number, c: number, q: number) => number) | null {
  if (atomPair(A, B, 1, 0.3, 1.2) === null) return null;
  if (A === 'id' && B === 'id') return (_p, c) => c;
  if (A === B && A === 'abs') return (p, c, q) => {
    const pq = p * q;
    if (!(pq > 0)) return 0;
    const rho = clampRho(c / Math.sqrt(pq));
    return TWO_PI * Math.sqrt(pq) * (Math.sqrt(Math.max(0, 1 - rho * rho)) + rho * Math.asin(rho));
  };
  if (A === B && A === 'sign') return (p, c, q) => { const pq = p * q; return pq > 0 ? TWO_PI * Math.asin(clampRho(c / Math.sqrt(pq))) : 0; };
  if (A === B && A === 'erf') return (p, c, q) => TWO_PI * Math.asin(clampRho((2 * c) / Math.sqrt((1 + 2 * p) * (1 + 2 * q))));
  if (A === B && A === 'gauss') return (p, c, q) => 1 / Math.sqrt((1 + 2 * p) * (1 + 2 * q) - 4 * c * c);
  if (PARITY[A] * PARITY[B] === -1) return () => 0;
  return (p, c, q) => atomPair(A, B, p, c, q)!;
}

/**
 * Work shared between the pair grids of one covariance (v1, v2, S12): the arcsine of the
 * correlation (the relu, abs and sign closed forms of E[φφ] and of E[φ′φ′] all use it) and the
 * Hermite tables of the Mehler expansion. The caller promises that every call given one cache
 * has the same v1, v2 and S12.
 */
export class PairGridCache {
  asin: Float64Array | null = null;
  asinFull = false;
  readonly tables = new Map<string, { t: HermiteTable; row: Int32Array }>();
}

export interface GridOptions extends PairOptions {
  /** f = g, v1 = v2, S12 symmetric: the upper triangle only is computed. */
  symmetric?: boolean;
  /**
   * S12 is symmetric and only its upper triangle (i ≤ j) is valid; the result of a symmetric
   * grid is then left upper-only too (no mirroring): the caller reads (min, max).
   */
  upper?: boolean;
  /** Shared work between grids of the same covariance. */
  cache?: PairGridCache;
  /** The matrix product for the Mehler coefficients (the backend's gemm). */
  gemm?: Gemm;
  /** Allocates the N1×N2 grids (zeroed): the runtime's huge-page allocator; `new Float64Array` by default. */
  alloc?: (n: number) => Float64Array;
  /**
   * Told how far the grid is, in thousandths (non-decreasing; the caller's work after it is its
   * own): for smooth functions the Mehler series' rows take the first half, the adaptive
   * quadrature of the pairs it left the second (its levels, each by its batches of pairs);
   * otherwise the quadrature all of it (kinks away from 0: the piecewise rule pair by pair).
   */
  onProgress?: (done: number, total: number) => void;
}

/**
 * E[f(u) g(v)] on a grid of pairs: u has variance v1[i], v has variance v2[j], and their
 * covariance is S12[i·N2 + j]. `symmetric` (f = g, v1 = v2, S12 symmetric) computes the upper
 * triangle only. Closed forms run one loop per atom pair (pairs that vanish identically skipped;
 * abs·abs and sign·sign from one shared arcsine of ρ); smooth functions without one use the
 * Mehler series over all pairs at once (`mehler.ts`), the pairs it cannot certify go to the
 * adaptive 2-D quadrature; functions with kinks go to the polar quadrature.
 * @example pairGrid(relu, relu, diag, diag, K, { symmetric: true }).value  // the next layer's E[relu relu]
 */
export function pairGrid(
  f: GaussFn, g: GaussFn, v1: Float64Array, v2: Float64Array, S12: Float64Array, opts: GridOptions = {},
): PairResult {
  const N1 = v1.length, N2 = v2.length, sym = opts.symmetric === true, up = opts.upper === true;
  if (up && N1 !== N2) throw new Error('internal: an upper-triangular covariance needs a square grid');
  const alloc = opts.alloc ?? ((n: number) => new Float64Array(n));
  const out = alloc(N1 * N2);
  const mirror = (r: PairResult): PairResult => {
    if (sym && !up) for (let i = 0; i < N1; i++) for (let j = 0; j < i; j++) out[i * N2 + j] = out[j * N2 + i]!;
    return r;
  };
  if (f.kinks || g.kinks) {
    // kinks away from 0: no closed form, series or polar rule applies; the iterated piecewise rule
    const idx: number[] = [];
    for (let i = 0; i < N1; i++) for (let j = sym ? i : 0; j < N2; j++) idx.push(i * N2 + j);
    const P = idx.length, s11 = new Float64Array(P), s12 = new Float64Array(P), s22 = new Float64Array(P);
    idx.forEach((ij, k) => {
      const i = Math.floor(ij / N2), j = ij - i * N2;
      s11[k] = v1[i]!; s22[k] = v2[j]!;
      s12[k] = up && j < i ? S12[j * N2 + i]! : S12[ij]!;
    });
    const tell = opts.onProgress && ((d: number, t: number) => opts.onProgress!(Math.floor((1000 * d) / t), 1000));
    const r = degeneratePairs(f, g, s11, s12, s22, opts.tol ?? 1e-12, (a, b, c, t) => piecewisePairs(f, g, a, b, c, t, tell));
    idx.forEach((ij, k) => (out[ij] = r.value[k]!));
    return mirror({ value: out, method: 'quadrature', order: r.order, accuracy: r.accuracy });
  }
  if (!opts.quadrature && hasClosedForm(f, g)) {
    closedGrid(f, g, v1, v2, S12, out, sym, up, opts.cache ?? new PairGridCache(), alloc);
    let scale = 0;
    for (let i = 0; i < N1; i++) for (let j = sym ? i : 0; j < N2; j++) scale = Math.max(scale, Math.abs(out[i * N2 + j]!));
    return mirror({ value: out, method: 'closed', order: 0, accuracy: closedAccuracy(scale) });
  }
  const tol = opts.tol ?? 1e-12;
  const rejected: number[] = [];
  let accuracy = 0, order = 0;
  const smooth = !f.kinkAtZero && !g.kinkAtZero && !opts.scheme;
  const tell = opts.onProgress, rowsShare = smooth ? 0.5 : 0;
  if (smooth) {
    const cache = opts.cache ?? new PairGridCache();
    const table = (fn: GaussFn, v: Float64Array, side: string) => {
      const key = `${side}:${fn.name}`;
      let e = cache.tables.get(key);
      if (!e) {
        const d = distinct(v);
        e = { t: hermiteTable(fn, d.vars, tol, opts.gemm), row: d.row };
        cache.tables.set(key, e);
      }
      return e;
    };
    const ta = table(f, v1, 'a'), tb = sym ? ta : table(g, v2, 'b');
    const series = new MehlerSeries(ta.t, tb.t, tol);
    const ra = ta.row, rb = tb.row;
    for (let i = 0; i < N1; i++) {
      if (tell && (i & 15) === 0) tell(Math.floor((1000 * rowsShare * i) / N1), 1000);
      const p = v1[i]!, ia = ra[i]!;
      for (let j = sym ? i : 0; j < N2; j++) {
        const q = v2[j]!, c = up && j < i ? S12[j * N2 + i]! : S12[i * N2 + j]!;
        const pq = p * q;
        let val = NaN;
        if (pq > 0) {
          let rho = c / Math.sqrt(pq);
          rho = rho > 1 ? 1 : rho < -1 ? -1 : rho;
          val = series.value(ia, rb[j]!, rho);
        }
        if (Number.isNaN(val)) rejected.push(i * N2 + j);
        else out[i * N2 + j] = val;
      }
    }
    accuracy = series.accuracy;
    order = Math.max(ta.t.order, tb.t.order);
  } else {
    for (let i = 0; i < N1; i++) for (let j = sym ? i : 0; j < N2; j++) rejected.push(i * N2 + j);
  }
  if (rejected.length) {
    const P = rejected.length;
    const s11 = new Float64Array(P), s12 = new Float64Array(P), s22 = new Float64Array(P);
    rejected.forEach((ij, k) => {
      const i = Math.floor(ij / N2), j = ij - i * N2;
      s11[k] = v1[i]!; s22[k] = v2[j]!;
      s12[k] = up && j < i ? S12[j * N2 + i]! : S12[ij]!;
    });
    const scheme = opts.scheme ?? (f.kinkAtZero || g.kinkAtZero ? 'polar' : 'hermite');
    const quad = tell && ((d: number, t: number) => tell(Math.floor(1000 * (rowsShare + ((1 - rowsShare) * d) / t)), 1000));
    const r = degeneratePairs(f, g, s11, s12, s22, tol, (a, b, c, t) => adaptivePair(f, g, a, b, c, t, scheme, quad));
    rejected.forEach((ij, k) => (out[ij] = r.value[k]!));
    accuracy = Math.max(accuracy, r.accuracy);
    order = Math.max(order, r.order);
  }
  return mirror({ value: out, method: 'quadrature', order, accuracy });
}

/**
 * The closed forms over a grid (see pairGrid), accumulated into `out`. Each pair of atoms runs
 * its own loop (small top-level functions, so that each stays monomorphic and optimized); the
 * arcsine of ρ is computed once per covariance (cache).
 */
function closedGrid(
  f: GaussFn, g: GaussFn, v1: Float64Array, v2: Float64Array, S12: Float64Array, out: Float64Array,
  sym: boolean, up: boolean, cache: PairGridCache, alloc: (n: number) => Float64Array,
) {
  // a symmetric grid reads the upper triangle only, which is stored: a plain (i, j) index
  const S = up && !sym ? fullOf(S12, v1.length, alloc) : S12;
  const asinRho = (): Float64Array => {
    if (cache.asin && (cache.asinFull || sym)) return cache.asin;
    cache.asin = asinGrid(v1, v2, S, sym, cache.asin ?? alloc(v1.length * v2.length));
    cache.asinFull = !sym;
    return cache.asin;
  };
  for (const a of f.terms!) for (const b of g.terms!) {
    const A = a.atom, B = b.atom;
    // identically zero (odd × even, E[u·A′] with A′ of mean 0, E[odd]): nothing to add
    if (atomPair(A, B, 1, 0.3, 1.2) === 0 && atomPair(A, B, 2.1, -0.7, 0.8) === 0 && atomPair(A, B, 0.4, 0.1, 1.7) === 0) continue;
    const k = a.coef * b.coef, sa = a.scale, sb = b.scale;
    if (A === 'one' || B === 'one') {
      // a product of 1-D means: E[A(sa u)]·E[B(sb v)]
      const m1 = Float64Array.from(v1, (p) => (A === 'one' ? 1 : atomPair(A, 'one', sa * sa * p, 0, 1)!));
      const m2 = Float64Array.from(v2, (q) => (B === 'one' ? 1 : atomPair('one', B, 1, 0, sb * sb * q)!));
      addOuter(out, k, m1, m2, sym);
    } else if (A === 'id' && B === 'id') addScaled(out, k * sa * sb, S, v1.length, v2.length, sym);
    else if (A === 'abs' && B === 'abs') addAbsAbs(out, k * TWO_PI * Math.abs(sa * sb), v1, v2, S, asinRho(), sym);
    else if (A === 'sign' && B === 'sign') addScaled(out, k * TWO_PI * Math.sign(sa * sb), asinRho(), v1.length, v2.length, sym);
    else addAtomPair(out, k, atomPairFn(A, B)!, sa, sb, v1, v2, S, sym);
  }
}

/** The full matrix of a symmetric one stored as its upper triangle. */
function fullOf(U: Float64Array, N: number, alloc: (n: number) => Float64Array): Float64Array {
  const M = alloc(N * N);
  for (let i = 0; i < N; i++) for (let j = i; j < N; j++) M[i * N + j] = M[j * N + i] = U[i * N + j]!;
  return M;
}

function asinGrid(v1: Float64Array, v2: Float64Array, S: Float64Array, sym: boolean, a: Float64Array): Float64Array {
  const N1 = v1.length, N2 = v2.length;
  for (let i = 0; i < N1; i++) {
    const p = v1[i]!;
    for (let j = sym ? i : 0, o = i * N2 + j; j < N2; j++, o++) {
      const pq = p * v2[j]!;
      if (pq > 0) {
        const r = S[o]! / Math.sqrt(pq);
        a[o] = Math.asin(r > 1 ? 1 : r < -1 ? -1 : r);
      } else a[o] = 0;
    }
  }
  return a;
}
function addOuter(out: Float64Array, k: number, m1: Float64Array, m2: Float64Array, sym: boolean) {
  const N1 = m1.length, N2 = m2.length;
  for (let i = 0; i < N1; i++) {
    const x = k * m1[i]!;
    for (let j = sym ? i : 0, o = i * N2 + j; j < N2; j++, o++) out[o]! += x * m2[j]!;
  }
}
function addScaled(out: Float64Array, x: number, S: Float64Array, N1: number, N2: number, sym: boolean) {
  for (let i = 0; i < N1; i++) for (let j = sym ? i : 0, o = i * N2 + j; j < N2; j++, o++) out[o]! += x * S[o]!;
}
/** (2/π)|sa sb|(√(pq − c²) + c·arcsin ρ): ρ·arcsin ρ is even, so the scales' signs drop out. */
function addAbsAbs(out: Float64Array, x: number, v1: Float64Array, v2: Float64Array, S: Float64Array, as: Float64Array, sym: boolean) {
  const N1 = v1.length, N2 = v2.length;
  for (let i = 0; i < N1; i++) {
    const p = v1[i]!;
    for (let j = sym ? i : 0, o = i * N2 + j; j < N2; j++, o++) {
      const c = S[o]!, d = p * v2[j]! - c * c;
      out[o]! += x * ((d > 0 ? Math.sqrt(d) : 0) + c * as[o]!);
    }
  }
}
function addAtomPair(
  out: Float64Array, k: number, fn: (p: number, c: number, q: number) => number, sa: number, sb: number,
  v1: Float64Array, v2: Float64Array, S: Float64Array, sym: boolean,
) {
  const N1 = v1.length, N2 = v2.length, sa2 = sa * sa, sab = sa * sb, sb2 = sb * sb;
  for (let i = 0; i < N1; i++) {
    const p = sa2 * v1[i]!;
    for (let j = sym ? i : 0, o = i * N2 + j; j < N2; j++, o++) out[o]! += k * fn(p, sab * S[o]!, sb2 * v2[j]!);
  }
}

/** Whether every pair of terms of f and g has a closed form (checked symbolically). */
export function hasClosedForm(f: GaussFn, g: GaussFn): boolean {
  if (!f.terms || !g.terms) return false;
  for (const a of f.terms) for (const b of g.terms) if (atomPair(a.atom, b.atom, 1, 0.3, 1.2) === null) return false;
  return true;
}

/**
 * E[f(u)g(v)] for (u, v) ~ N(0, [[s11, s12], [s12, s22]]), entry by entry, with how it was
 * computed (a closed form, or Gauss–Hermite quadrature of that order) and its error bound.
 */
export interface PairResult {

  value: Float64Array;
  method: 'closed' | 'quadrature';
  /** Largest Gauss–Hermite (or polar) order used; 0 for closed forms. */
  order: number;
  /** Estimated absolute error bound on every entry (relative to the Cauchy–Schwarz scale for quadrature). */
  accuracy: number;
}

/** How `pairExpectation` and `pairGrid` compute: the quadrature's tolerance, or quadrature forced. */
export interface PairOptions {
  /** Relative tolerance of the adaptive quadrature (default 1e-12). */
  tol?: number;
  /** Force quadrature even where a closed form exists (tests). */
  quadrature?: boolean;
  /** Force the quadrature scheme: 'hermite' (smooth) or 'polar' (split at kinks). */
  scheme?: 'hermite' | 'polar';
}

/**
 * The quadrature levels tried in turn: Gauss–Hermite (resp. the Rayleigh-weight Gauss rule in
 * the radius) of rising order, then composite Gauss–Legendre panels on the truncated line
 * [−9, 9] (resp. [0, 9]; the mass beyond is < 1e-17), which converge geometrically where
 * Gauss–Hermite does not (poles near the real axis: tanh, sigmoid).
 */
interface Level {
  order: number;
  line: () => Rule;
  radius: () => Rule;
  angle: () => Rule;
}
const CUT = 9;
const NORMAL_DENSITY = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
const RAYLEIGH_DENSITY = (r: number) => r * Math.exp(-0.5 * r * r);
const gh = (q: number): Level => ({ order: q, line: () => gaussHermite(q), radius: () => halfGauss(q, 1), angle: () => gaussLegendre(q) });
const panels = (np: number, per: number): Level => ({
  order: np * per,
  line: () => panelRule(-CUT, CUT, 2 * np, per, NORMAL_DENSITY, 'normal'),
  radius: () => panelRule(0, CUT, np, per, RAYLEIGH_DENSITY, 'rayleigh'),
  angle: () => gaussLegendre(Math.min(64, 2 * per + 8)),
});
const LEVELS: Level[] = [gh(10), gh(16), gh(24), panels(6, 8), panels(9, 8), panels(12, 10), panels(18, 12), panels(27, 12)];

/**
 * The levels of the 1-D expectations (`expect1`): Gauss–Hermite (the half-line rules for a kinked
 * function), then composite Gauss–Legendre panels on [−14, 14] (resp. [0, 14]). The wider cut than
 * the pairs' 9 matters in 1-D, where the integrand may grow: x^k·e^{βx} at s = 2.5 still holds
 * ~1e-12 of its mass beyond 9 standard deviations, which two levels with the same cut would
 * agree on missing; beyond 14 the normal weight is below e^{−98}.
 */
interface Level1 { order: number; line: () => Rule; half: () => Rule }
const CUT1 = 14;
const gh1 = (q: number): Level1 => ({
  order: q,
  line: () => gaussHermite(q),
  half: () => { const h = halfGauss(q, 0); return { nodes: h.nodes, weights: h.weights.map((w) => w / 2) }; },
});
const panels1 = (np: number, per: number): Level1 => ({
  order: 2 * np * per,
  line: () => panelRule(-CUT1, CUT1, 2 * np, per, NORMAL_DENSITY, 'normal'),
  half: () => panelRule(0, CUT1, np, per, NORMAL_DENSITY, 'half'),
});
/**
 * What the 1-D rules leave out beyond ±14σ, estimated from the integrand there: |x^k f(x)|·p(z)
 * at z = ±14 times a decay length of 14 (generous: for f bounded by a polynomial the weight there is
 * below e^{−98}; for f growing like e^{a x²} it is what two levels with the same cut would both miss).
 */
function tailEstimate(f: GaussFn, sd: number, power: number): number {
  const x = Float64Array.of(-CUT1 * sd, CUT1 * sd), y = new Float64Array(2);
  f.eval(x, y);
  const w = NORMAL_DENSITY(CUT1) * CUT1;
  const t = w * (Math.abs(x[0]! ** power * y[0]!) + Math.abs(x[1]! ** power * y[1]!));
  return Number.isFinite(t) ? t : Infinity;
}
const LEVELS1: Level1[] = [gh1(10), gh1(16), gh1(24), panels1(10, 8), panels1(14, 8), panels1(20, 10), panels1(28, 12), panels1(42, 12)];


/**
 * E[f(u) g(v)], (u, v) ~ N(0, [[s11, s12], [s12, s22]]) for every index i of the three arrays.
 * Closed forms when both functions decompose into atoms whose pairs all have one; otherwise
 * adaptive quadrature (see the module comment).
 * @example
 *   pairExpectation(atomFn('erf'), atomFn('erf'), s11, s12, s22).value
 */
export function pairExpectation(
  f: GaussFn, g: GaussFn, s11: Float64Array, s12: Float64Array, s22: Float64Array, opts: PairOptions = {},
): PairResult {
  const P = s11.length;
  if (!opts.quadrature && hasClosedForm(f, g)) {
    const out = new Float64Array(P);
    let scale = 0;
    for (const a of f.terms!) for (const b of g.terms!) {
      const k = a.coef * b.coef, sa = a.scale, sb = b.scale, fn = atomPairFn(a.atom, b.atom)!;
      for (let i = 0; i < P; i++) out[i]! += k * fn(sa * sa * s11[i]!, sa * sb * s12[i]!, sb * sb * s22[i]!);
    }
    for (let i = 0; i < P; i++) scale = Math.max(scale, Math.abs(out[i]!));
    return { value: out, method: 'closed', order: 0, accuracy: closedAccuracy(scale) };
  }
  const tol = opts.tol ?? 1e-12;
  if (f.kinks || g.kinks) return degeneratePairs(f, g, s11, s12, s22, tol, (a, b, c, t) => piecewisePairs(f, g, a, b, c, t));
  const scheme = opts.scheme ?? (f.kinkAtZero || g.kinkAtZero ? 'polar' : 'hermite');
  if (scheme === 'hermite' && !opts.scheme) return mehlerPair(f, g, s11, s12, s22, tol);
  return adaptivePair(f, g, s11, s12, s22, tol, scheme);
}

/**
 * The pairs with |ρ| = 1 (to rounding: the diagonal of a kernel, identical inputs) are 1-D:
 * v = ±√(q/p)·u, so E[f(u) g(v)] = E[f(u) g(±√(q/p) u)] by `expect1`; the others go to `rest`
 * (the 2-D quadrature). Returns the values in the order of the pairs.
 */
function degeneratePairs(
  f: GaussFn, g: GaussFn, s11: Float64Array, s12: Float64Array, s22: Float64Array, tol: number,
  rest: (s11: Float64Array, s12: Float64Array, s22: Float64Array, tol: number) => PairResult,
): PairResult {
  const P = s11.length, value = new Float64Array(P);
  const one: number[] = [], two: number[] = [];
  for (let i = 0; i < P; i++) {
    const pq = s11[i]! * s22[i]!;
    (pq > 0 && Math.abs(s12[i]!) >= (1 - 1e-14) * Math.sqrt(pq) ? one : two).push(i);
  }
  let accuracy = 0, order = 0;
  for (const i of one) {
    const k = Math.sign(s12[i]!) * Math.sqrt(s22[i]! / s11[i]!);
    const prod: GaussFn = {
      name: `${f.name}·${g.name}`, kinkAtZero: f.kinkAtZero || g.kinkAtZero,
      eval: (x, out) => {
        const y = new Float64Array(x.length), gx = new Float64Array(x.length);
        for (let j = 0; j < x.length; j++) y[j] = k * x[j]!;
        f.eval(x, out);
        g.eval(y, gx);
        for (let j = 0; j < x.length; j++) out[j]! *= gx[j]!;
      },
    };
    // the product's kinks: f's, and g's pulled back through v = k·u
    const breaks = f.kinks || g.kinks ? [...(f.kinks ?? [0]), ...(g.kinks ?? [0]).map((c) => c / k)].sort((x, y) => x - y) : undefined;
    const r = expect1(prod, Float64Array.of(s11[i]!), 0, tol, breaks ? { breaks } : {});
    value[i] = r.value[0]!;
    accuracy = Math.max(accuracy, r.accuracy);
    order = Math.max(order, r.order);
  }
  if (two.length) {
    const idx = Int32Array.from(two);
    const pick = (x: Float64Array) => Float64Array.from(idx, (i) => x[i]!);
    const r = rest(pick(s11), pick(s12), pick(s22), tol);
    idx.forEach((i, j) => (value[i] = r.value[j]!));
    accuracy = Math.max(accuracy, r.accuracy);
    order = Math.max(order, r.order);
  }
  return { value, method: 'quadrature', order, accuracy };
}

/**
 * The fast path for many pairs of smooth functions: Mehler's expansion
 * E[f(u)g(v)] = Σ_k ρ^k c_k(f, s11) c_k(g, s22), ρ = s12/√(s11 s22) (`mehler.ts`), whose
 * coefficients depend on one variance each (computed once per distinct variance), each pair
 * stopping where the rigorous tail bound reaches tol·√(E[f²]E[g²]); the pairs it never reaches
 * (|ρ| near 1 with slowly decaying coefficients) go to the adaptive 2-D quadrature, the
 * reference path.
 */
function mehlerPair(f: GaussFn, g: GaussFn, s11: Float64Array, s12: Float64Array, s22: Float64Array, tol: number): PairResult {
  const P = s11.length;
  const da = distinct(s11), db = distinct(s22);
  const ta = hermiteTable(f, da.vars, tol), tb = hermiteTable(g, db.vars, tol);
  const series = new MehlerSeries(ta, tb, tol);
  const value = new Float64Array(P);
  const rejected: number[] = [];
  for (let i = 0; i < P; i++) {
    const pq = s11[i]! * s22[i]!;
    let v = NaN;
    if (pq > 0) {
      const rho = s12[i]! / Math.sqrt(pq);
      v = series.value(da.row[i]!, db.row[i]!, rho > 1 ? 1 : rho < -1 ? -1 : rho);
    }
    if (Number.isNaN(v)) rejected.push(i);
    else value[i] = v;
  }
  let accuracy = series.accuracy, order = Math.max(ta.order, tb.order);
  if (rejected.length) {
    const idx = Int32Array.from(rejected);
    const pick = (x: Float64Array) => Float64Array.from(idx, (i) => x[i]!);
    const r = degeneratePairs(f, g, pick(s11), pick(s12), pick(s22), tol, (a, b, c, t) => adaptivePair(f, g, a, b, c, t, 'hermite'));
    idx.forEach((i, j) => (value[i] = r.value[j]!));
    accuracy = Math.max(accuracy, r.accuracy);
    order = Math.max(order, r.order);
  }
  return { value, method: 'quadrature', order, accuracy };
}

/** Panels per unit and points per panel of the piecewise rules' levels (`expect1Pieces`, `piecewisePairs`). */
const PIECE_LEVELS: [number, number][] = [[0.25, 8], [0.5, 8], [0.75, 10], [1, 12], [1.5, 12], [2.5, 12], [4, 12]];

/**
 * Writes at `at` into (nodes, weights) the composite Gauss–Legendre rule of the normal density
 * on [−14, 14] cut at `cuts` (sorted; those outside are dropped): `perUnit` panels per unit,
 * `per` points each, so that no panel straddles a cut; returns the index after the last point.
 * At most `per·(⌈28·perUnit⌉ + cuts + 1)` points. Not cached (the inner cuts move with z1).
 */
function pieceRule(cuts: readonly number[], perUnit: number, per: number, nodes: Float64Array, weights: Float64Array, at: number): number {
  let lo = -CUT1;
  for (let k = 0; k <= cuts.length; k++) {
    const hi = k < cuts.length ? cuts[k]! : CUT1;
    if (!(hi > lo)) continue;
    if (hi >= CUT1 && k < cuts.length) continue; // a cut beyond the range: the last piece ends at 14
    at = panelNodes(lo, hi, Math.max(1, Math.ceil((hi - lo) * perUnit)), per, NORMAL_DENSITY, nodes, weights, at);
    lo = hi;
  }
  return at;
}

/** Points `pieceRule` writes at most: `per·(⌈28·perUnit⌉ + cuts + 1)`. */
const pieceBound = (cuts: number, perUnit: number, per: number) => per * (Math.ceil(2 * CUT1 * perUnit) + cuts + 1);

/**
 * E[f(u) g(v)] for pairs whose f or g has kinks away from 0 (`GaussFn.kinks`), as an iterated
 * integral in the whitened coordinates u = √p·z1, v = a·z1 + b·z2 (a = c/√p, b = √(s − a²); z1,
 * z2 independent standard normals): the outer integral over z1 is cut where f has a kink
 * (z1 = κ/√p) and where g's would be on the line b = 0 (z1 = κ′/a), the inner one over z2, for
 * each z1, where g has one (z2 = (κ′ − a·z1)/b) — composite Gauss–Legendre with the normal
 * density in the weights on [−14, 14] (beyond, less than e^{−98} of the mass), never across a
 * kink. The panels per unit rise until two levels agree to `tol` relative to Σ|terms|; the
 * accuracy is that difference, at least 8ε·Σ|terms|. Pairs with |ρ| = 1 go to `degeneratePairs`
 * first. Slow by design (10⁴–10⁵ points a pair): the reference for functions no faster rule fits.
 * @example piecewisePairs(reluShifted, reluShifted, [1], [0.5], [1], 1e-12)  // E[relu(u − ½) relu(v − ½)], ρ = ½
 */
function piecewisePairs(
  f: GaussFn, g: GaussFn, s11: Float64Array, s12: Float64Array, s22: Float64Array, tol: number, onProgress?: (done: number, total: number) => void,
): PairResult {
  const P = s11.length, value = new Float64Array(P);
  const kf = f.kinks ?? (f.kinkAtZero ? [0] : []), kg = g.kinks ?? (g.kinkAtZero ? [0] : []);
  let accuracy = 0, order = 0;
  for (let i = 0; i < P; i++) {
    if (onProgress && (i & 63) === 0) onProgress(i, P);
    const sp = Math.sqrt(Math.max(s11[i]!, 0));
    const a = sp > 0 ? s12[i]! / sp : 0;
    const b = Math.sqrt(Math.max(s22[i]! - a * a, 0));
    const outerCuts = [...(sp > 0 ? kf.map((c) => c / sp) : []), ...(a !== 0 ? kg.map((c) => c / a) : [])].sort((x, y) => x - y);
    let prev = NaN;
    for (let o = 0; o < PIECE_LEVELS.length; o++) {
      const [perUnit, per] = PIECE_LEVELS[o]!;
      const z1 = new Float64Array(pieceBound(outerCuts.length, perUnit, per)), w1 = new Float64Array(z1.length);
      const n1 = pieceRule(outerCuts, perUnit, per, z1, w1, 0);
      const U = new Float64Array(n1), fu = new Float64Array(n1);
      for (let k = 0; k < n1; k++) U[k] = sp * z1[k]!;
      f.eval(U, fu);
      // every inner point of every outer node, then g on them at once
      const inner = pieceBound(kg.length, perUnit, per), V = new Float64Array(n1 * inner), W = new Float64Array(n1 * inner), Z = new Float64Array(inner);
      const start = new Int32Array(n1 + 1), cuts2 = new Array<number>(kg.length);
      let len = 0;
      for (let k = 0; k < n1; k++) {
        start[k] = len;
        if (fu[k] === 0) continue; // contributes nothing (relu's flat side)
        const zk = z1[k]!;
        if (b > 0) for (let l = 0; l < kg.length; l++) cuts2[l] = (kg[l]! - a * zk) / b;
        const end = pieceRule(b > 0 ? cuts2.sort((x, y) => x - y) : [], perUnit, per, Z, W.subarray(len, len + inner), 0);
        for (let j = 0; j < end; j++) V[len + j] = a * zk + b * Z[j]!;
        len += end;
      }
      start[n1] = len;
      const gv = new Float64Array(len);
      g.eval(V.subarray(0, len), gv);
      let v = 0, sc = 0;
      for (let k = 0; k < n1; k++) {
        let inn = 0, innAbs = 0;
        for (let j = start[k]!; j < start[k + 1]!; j++) {
          const t = W[j]! * gv[j]!;
          inn += t;
          innAbs += Math.abs(t);
        }
        v += w1[k]! * fu[k]! * inn;
        sc += Math.abs(w1[k]! * fu[k]!) * innAbs;
      }
      order = Math.max(order, n1);
      const d = Math.abs(v - prev);
      value[i] = v;
      if (d <= tol * Math.max(sc, Number.MIN_VALUE) || o === PIECE_LEVELS.length - 1) {
        accuracy = Math.max(accuracy, Number.isFinite(d) ? Math.max(d, 8 * Number.EPSILON * sc) : Infinity);
        break;
      }
      prev = v;
    }
  }
  return { value, method: 'quadrature', order, accuracy };
}

/** Rounding of the closed forms: a few hundred ulps of the magnitude (arcsin near ±1, sums of terms). */
function closedAccuracy(scale: number): number {
  return Math.max(scale * 1e-13, 1e-16);
}

interface Quad {
  value: Float64Array;
  scale: Float64Array;
}

/** One pass of the rule of `level` on the pairs `idx`. */
function quadPass(
  f: GaussFn, g: GaussFn, s11: Float64Array, s12: Float64Array, s22: Float64Array,
  idx: Int32Array, level: Level, scheme: 'hermite' | 'polar', tick?: (fraction: number) => void,
): Quad {
  const n = idx.length;
  const value = new Float64Array(n), scale = new Float64Array(n);
  const line = level.line();
  const radius = scheme === 'polar' ? level.radius() : line, angle = scheme === 'polar' ? level.angle() : line;
  const perPair = scheme === 'hermite' ? line.nodes.length ** 2 : 4 * angle.nodes.length * radius.nodes.length;
  // Pairs per batch: about 2^18 points, so that f and g are called on long arrays.
  const batch = Math.max(1, Math.floor(262144 / perPair));
  const U = new Float64Array(batch * perPair), V = new Float64Array(batch * perPair), W = new Float64Array(batch * perPair);
  const fu = new Float64Array(batch * perPair), gv = new Float64Array(batch * perPair);
  const q = line.nodes.length;
  for (let start = 0; start < n; start += batch) {
    tick?.(start / n);
    const cnt = Math.min(batch, n - start);
    for (let j = 0; j < cnt; j++) {
      const i = idx[start + j]!;
      const off = j * perPair;
      if (scheme === 'hermite') cartesianPoints(line, s11[i]!, s12[i]!, s22[i]!, U, V, W, off);
      else polarPoints(angle, radius, s11[i]!, s12[i]!, s22[i]!, f.kinkAtZero, g.kinkAtZero, U, V, W, off);
    }
    const len = cnt * perPair;
    g.eval(V.subarray(0, len), gv.subarray(0, len));
    if (scheme === 'hermite') {
      // u depends on the first node only: f on q points per pair, g on q²
      for (let j = 0; j < cnt; j++) for (let a = 0; a < q; a++) U[j * q + a] = U[j * perPair + a * q]!;
      f.eval(U.subarray(0, cnt * q), fu.subarray(0, cnt * q));
      for (let j = 0; j < cnt; j++) {
        let s = 0, a2 = 0, b2 = 0;
        const off = j * perPair;
        for (let a = 0; a < q; a++) {
          const fa = fu[j * q + a]!, wa = line.weights[a]!;
          let inner = 0, inner2 = 0;
          for (let b = 0; b < q; b++) {
            const y = gv[off + a * q + b]!, wb = line.weights[b]!;
            inner += wb * y;
            inner2 += wb * y * y;
          }
          s += wa * fa * inner;
          a2 += wa * fa * fa;
          b2 += wa * inner2;
        }
        value[start + j] = s;
        scale[start + j] = Math.sqrt(a2 * b2);
      }
      continue;
    }
    f.eval(U.subarray(0, len), fu.subarray(0, len));
    for (let j = 0; j < cnt; j++) {
      let s = 0, a = 0, b = 0;
      const off = j * perPair;
      for (let k = off; k < off + perPair; k++) {
        const w = W[k]!, x = fu[k]!, y = gv[k]!;
        s += w * x * y;
        a += w * x * x;
        b += w * y * y;
      }
      value[start + j] = s;
      scale[start + j] = Math.sqrt(a * b);
    }
  }
  return { value, scale };
}

/** Tensor-product points of one pair in the whitened coordinates (z1, z2). */
function cartesianPoints(line: Rule, p: number, c: number, s: number, U: Float64Array, V: Float64Array, W: Float64Array, off: number) {
  const { nodes, weights } = line;
  const q = nodes.length;
  const sp = Math.sqrt(Math.max(p, 0));
  const a = sp > 0 ? c / sp : 0;
  const b = Math.sqrt(Math.max(s - a * a, 0));
  let k = off;
  for (let i = 0; i < q; i++) {
    const x = nodes[i]!, wx = weights[i]!;
    for (let j = 0; j < q; j++, k++) {
      U[k] = sp * x;
      V[k] = a * x + b * nodes[j]!;
      W[k] = wx * weights[j]!;
    }
  }
}

/**
 * Polar points of one pair: (z1, z2) = r(cos α, sin α) standard normal, u = √p·z1,
 * v = a·z1 + b·z2. The rays where u = 0 (α = ±π/2) when f is kinked and v = 0 when g is
 * split [0, 2π) into sectors; Gauss–Legendre in α on each (always four: the widest is halved
 * until there are), the radial rule in r.
 */
function polarPoints(
  angle: Rule, radius: Rule, p: number, c: number, s: number, fk: boolean, gk: boolean,
  U: Float64Array, V: Float64Array, W: Float64Array, off: number,
) {
  const sp = Math.sqrt(Math.max(p, 0));
  const a = sp > 0 ? c / sp : 0;
  const b = Math.sqrt(Math.max(s - a * a, 0));
  const norm = (t: number) => ((t % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI);
  const kinks: number[] = [];
  if (fk) kinks.push(Math.PI / 2, 1.5 * Math.PI);
  if (gk) {
    const t = Math.atan2(-a, b); // a cos α + b sin α = 0
    kinks.push(norm(t), norm(t + Math.PI));
  }
  const sorted = [...new Set(kinks)].sort((x, y) => x - y);
  const sectors: [number, number][] = [];
  if (sorted.length === 0) sectors.push([0, 2 * Math.PI]);
  for (let i = 0; i < sorted.length; i++) {
    const lo = sorted[i]!, hi = i + 1 < sorted.length ? sorted[i + 1]! : sorted[0]! + 2 * Math.PI;
    if (hi - lo > 1e-15) sectors.push([lo, hi]);
  }
  while (sectors.length < 4) {
    let wi = 0;
    for (let i = 1; i < sectors.length; i++) if (sectors[i]![1] - sectors[i]![0] > sectors[wi]![1] - sectors[wi]![0]) wi = i;
    const [lo, hi] = sectors[wi]!;
    sectors.splice(wi, 1, [lo, (lo + hi) / 2], [(lo + hi) / 2, hi]);
  }
  const qa = angle.nodes.length, qr = radius.nodes.length;
  let k = off;
  for (const [lo, hi] of sectors) {
    const h = (hi - lo) / 2, mid = (hi + lo) / 2;
    for (let i = 0; i < qa; i++) {
      const al = mid + h * angle.nodes[i]!;
      const wa = (angle.weights[i]! * h) / (2 * Math.PI);
      const ca = Math.cos(al), sa = Math.sin(al);
      for (let j = 0; j < qr; j++, k++) {
        const r = radius.nodes[j]!;
        const z1 = r * ca, z2 = r * sa;
        U[k] = sp * z1;
        V[k] = a * z1 + b * z2;
        W[k] = wa * radius.weights[j]!;
      }
    }
  }
}

function adaptivePair(
  f: GaussFn, g: GaussFn, s11: Float64Array, s12: Float64Array, s22: Float64Array, tol: number, scheme: 'hermite' | 'polar',
  onProgress?: (done: number, total: number) => void,
): PairResult {
  const P = s11.length;
  const value = new Float64Array(P);
  let active = Int32Array.from({ length: P }, (_, i) => i);
  // progress in thousandths of the levels, each level by its batches of pairs
  const at = (o: number) => (onProgress ? (f: number) => onProgress(Math.floor((1000 * (o + f)) / LEVELS.length), 1000) : undefined);
  let prev = quadPass(f, g, s11, s12, s22, active, LEVELS[0]!, scheme, at(0));
  let accuracy = 0, used = LEVELS[0]!.order;
  for (let o = 1; o < LEVELS.length && active.length > 0; o++) {
    const level = LEVELS[o]!;
    used = level.order;
    const cur = quadPass(f, g, s11, s12, s22, active, level, scheme, at(o));
    const keep: number[] = [], pv: number[] = [], ps: number[] = [];
    for (let j = 0; j < active.length; j++) {
      const i = active[j]!;
      const d = Math.abs(cur.value[j]! - prev.value[j]!);
      const sc = Math.max(cur.scale[j]!, Number.MIN_VALUE);
      value[i] = cur.value[j]!;
      if (d <= tol * sc || o === LEVELS.length - 1 || !Number.isFinite(d)) {
        accuracy = Math.max(accuracy, Number.isFinite(d) ? Math.max(d, 8 * Number.EPSILON * sc) : Infinity);
      } else {
        keep.push(i);
        pv.push(cur.value[j]!);
        ps.push(cur.scale[j]!);
      }
    }
    active = Int32Array.from(keep);
    prev = { value: Float64Array.from(pv), scale: Float64Array.from(ps) };
  }
  return { value, method: 'quadrature', order: used, accuracy };
}

/**
 * E[A^{(j)}(v)] for v ~ N(0, q) and j ≤ 3, derivatives in the distributional sense (abs″ = sign′ =
 * 2δ, whose mean is twice the density at 0, p0 = 1/√(2πq); E[δ′(v)] = −p′(0) = 0,
 * E[δ″(v)] = p″(0) = −p0/q). Null when a kinked atom meets q = 0 (the δ has no finite mean).
 *
 *   one  1, 0, 0, 0                 id    0, 1, 0, 0
 *   sq   q, 0, 2, 0                 cube  0, 3q, 0, 6          (x², x³)
 *   abs  √(2q/π), 0, 2p0, 0         sign  0, 2p0, 0, −2p0/q
 *   erf  0, c/s, 0, −2c/s³          gauss 1/s, 0, −2/s³, 0      (c = 2/√π, s = √(1 + 2q))
 *   sin  0, e, 0, −e                cos   e, 0, −e, 0           (e = e^{−q/2})
 *   exp  e^{q/2} for every j
 */
function atomDerivativeMean(a: Atom, j: number, q: number): number | null {
  const s = Math.sqrt(1 + 2 * q), e = Math.exp(-q / 2), c = 2 / Math.sqrt(Math.PI);
  const p0 = q > 0 ? 1 / Math.sqrt(2 * Math.PI * q) : NaN;
  let v: number;
  switch (a) {
    case 'one': v = j === 0 ? 1 : 0; break;
    case 'id': v = j === 1 ? 1 : 0; break;
    case 'cube': v = [0, 3 * q, 0, 6][j]!; break;
    case 'abs': v = [Math.sqrt(q) * SQRT_2_PI, 0, 2 * p0, 0][j]!; break;
    case 'sign': v = [0, 2 * p0, 0, (-2 * p0) / q][j]!; break;
    case 'erf': v = [0, c / s, 0, (-2 * c) / s ** 3][j]!; break;
    case 'gauss': v = [1 / s, 0, -2 / s ** 3, 0][j]!; break;
    case 'sin': v = [0, e, 0, -e][j]!; break;
    case 'cos': v = [e, 0, -e, 0][j]!; break;
    case 'exp': v = Math.exp(q / 2); break;
    case 'sq': v = [q, 0, 2, 0][j]!; break;
  }
  return Number.isFinite(v) ? v : null;
}

/**
 * E[x^k A(βx)] for x ~ N(0, s) and k ≤ 3 in closed form, or null. With x = √s·z and α = β√s it is
 * s^{k/2}·E[z^k F(z)], F(z) = A(αz), and Stein's identity E[z G(z)] = E[G′(z)] reduces the powers
 * of z to derivatives of F (F^{(j)}(z) = α^j A^{(j)}(αz)):
 *   E[F], E[zF] = E[F′], E[z²F] = E[F] + E[F″], E[z³F] = 3E[F′] + E[F‴].
 * @example atomMoment('sign', 1, 1, 1)   // E[x·sign x] = E|x| = √(2/π)
 */
export function atomMoment(a: Atom, beta: number, k: number, s: number): number | null {
  if (!(k >= 0 && k <= 3 && Number.isInteger(k)) || !(s >= 0)) return null;
  const al = beta * Math.sqrt(s), q = al * al;
  const zk = [1, 0, 1, 0][k]!; // E[z^k]
  let m: number | null;
  if (q === 0) m = zk * ATOM_EVAL[a](0);
  else {
    const D = (j: number) => atomDerivativeMean(a, j, q);
    const d = [0, 1, 2, 3].map(D);
    if (d.some((x) => x === null)) return null;
    const [d0, d1, d2, d3] = d as number[];
    m = k === 0 ? d0! : k === 1 ? al * d1! : k === 2 ? d0! + q * d2! : 3 * al * d1! + al * q * d3!;
  }
  return m * s ** (k / 2);
}

/** The result of a 1-D Gaussian expectation: how it was computed, and its accuracy. */
export interface Expect1Result {
  value: Float64Array;
  method: 'closed' | 'quadrature';
  /** The largest quadrature order used (0 for the closed forms). */
  order: number;
  /** Estimated absolute error bound (closed forms: rounding; never 0). */
  accuracy: number;
}

/**
 * E[w(g)·f(g)] for g ~ N(0, s[i]) at each i, with w(x) = x^power (default 0): the 1-D
 * expectations of the early-time constants (E[φ(g)], E[g φ′(g)], E[(g³/2 − g) φ′(g)] by linear
 * combination). When f is a combination Σ c·A(β·x) of the atoms and power ≤ 3, the closed form
 * Σ c·E[x^power A(βx)] (`atomMoment`, from the same atom table as the pair expectations);
 * otherwise (or with `opts.quadrature`) the same levels as the pair expectations (Gauss–Hermite,
 * then panels), a kinked f integrated on each half-line separately (never across the kink at 0);
 * the level rises until two agree to `tol` relative to Σ|terms|. `opts.breaks`: the points (in x)
 * where f has kinks anywhere, not only at 0 (`kinkPoints` of `src/nth/limit-scalar.ts`); the line is
 * then integrated piece by piece between them (`expect1Pieces`), never across one.
 * @example expect1(atomFn('relu'), Float64Array.of(1)).value[0]  // 1/√(2π), method 'closed'
 */
export function expect1(f: GaussFn, s: Float64Array, power = 0, tol = 1e-12, opts: { quadrature?: boolean; breaks?: number[] } = {}): Expect1Result {
  const breaks = opts.breaks ?? f.kinks;
  if (breaks && breaks.some((b) => b !== 0)) return expect1Pieces(f, s, power, tol, breaks);
  if (!opts.quadrature && f.terms) {
    const out = new Float64Array(s.length);
    let ok = true, scale = 0;
    for (let i = 0; i < s.length && ok; i++) {
      let v = 0, sc = 0;
      for (const t of f.terms) {
        const m = atomMoment(t.atom, t.scale, power, s[i]!);
        if (m === null) { ok = false; break; }
        v += t.coef * m;
        sc += Math.abs(t.coef * m);
      }
      out[i] = v;
      scale = Math.max(scale, sc);
    }
    if (ok) return { value: out, method: 'closed', order: 0, accuracy: closedAccuracy(scale) };
  }
  const out = new Float64Array(s.length);
  let accuracy = 0, order = 0;
  for (let i = 0; i < s.length; i++) {
    const sd = Math.sqrt(Math.max(s[i]!, 0));
    let prev = NaN;
    for (let o = 0; o < LEVELS1.length; o++) {
      const level = LEVELS1[o]!;
      let pts: Float64Array, wts: Float64Array;
      if (f.kinkAtZero) {
        // each half-line on its own (the rule never straddles the kink at 0), mirrored
        const h = level.half();
        pts = new Float64Array(2 * h.nodes.length);
        wts = new Float64Array(2 * h.nodes.length);
        for (let k = 0; k < h.nodes.length; k++) {
          pts[2 * k] = h.nodes[k]!; pts[2 * k + 1] = -h.nodes[k]!;
          wts[2 * k] = wts[2 * k + 1] = h.weights[k]!;
        }
      } else {
        ({ nodes: pts, weights: wts } = level.line());
      }
      const x = pts.map((z) => sd * z), y = new Float64Array(x.length);
      f.eval(x, y);
      let v = 0, sc = 0;
      for (let k = 0; k < x.length; k++) {
        const t = wts[k]! * x[k]! ** power * y[k]!;
        v += t;
        sc += Math.abs(t);
      }
      order = Math.max(order, level.order);
      const d = Math.abs(v - prev);
      out[i] = v;
      if (d <= tol * Math.max(sc, Number.MIN_VALUE) || o === LEVELS1.length - 1) {
        const tail = o >= 3 ? tailEstimate(f, sd, power) : 0; // the panel levels stop at ±14σ
        accuracy = Math.max(accuracy, Number.isFinite(d) ? Math.max(d, 8 * Number.EPSILON * sc) + tail : Infinity);
        break;
      }
      prev = v;
    }
  }
  return { value: out, method: 'quadrature', order, accuracy };
}

/**
 * E[x^power f(x)], x ~ N(0, s[i]), for f smooth between the kinks `breaks` (in x): composite
 * Gauss–Legendre on each piece of [−14σ, 14σ] between them (the normal density folded into the
 * weights; kinks beyond ±14σ carry less than e^{−98} of the weight and are ignored), the panels per
 * unit rising until two levels agree to `tol` relative to Σ|terms|.
 * @example expect1(reluShifted, Float64Array.of(1), 0, 1e-13, { breaks: [1] })   // E[relu(g − 1)]
 */
function expect1Pieces(f: GaussFn, s: Float64Array, power: number, tol: number, breaks: number[]): Expect1Result {
  const out = new Float64Array(s.length);
  let accuracy = 0, order = 0;
  const levels = PIECE_LEVELS;
  for (let i = 0; i < s.length; i++) {
    const sd = Math.sqrt(Math.max(s[i]!, 0));
    if (sd === 0) {
      const y = new Float64Array(1);
      f.eval(Float64Array.of(0), y);
      out[i] = power === 0 ? y[0]! : 0;
      accuracy = Math.max(accuracy, 8 * Number.EPSILON * Math.abs(y[0]!));
      continue;
    }
    const cuts = breaks.map((b) => b / sd).sort((a, b) => a - b);
    let prev = NaN;
    for (let o = 0; o < levels.length; o++) {
      const [perUnit, per] = levels[o]!;
      const z = new Float64Array(pieceBound(cuts.length, perUnit, per)), wz = new Float64Array(z.length);
      const nodes = pieceRule(cuts, perUnit, per, z, wz, 0);
      const x = new Float64Array(nodes), y = new Float64Array(nodes);
      for (let j = 0; j < nodes; j++) x[j] = sd * z[j]!;
      f.eval(x, y);
      let v = 0, sc = 0;
      for (let j = 0; j < nodes; j++) {
        const t = wz[j]! * x[j]! ** power * y[j]!;
        v += t;
        sc += Math.abs(t);
      }
      order = Math.max(order, nodes);
      const d = Math.abs(v - prev);
      out[i] = v;
      if (d <= tol * Math.max(sc, Number.MIN_VALUE) || o === levels.length - 1) {
        accuracy = Math.max(accuracy, Number.isFinite(d) ? Math.max(d, 8 * Number.EPSILON * sc) + tailEstimate(f, sd, power) : Infinity);
        break;
      }
      prev = v;
    }
  }
  return { value: out, method: 'quadrature', order, accuracy };
}

/**
 * Lower bounds (attained values) of Lip(h) = sup_{w∈B} ‖Dh(w)‖ and Lip(Dh) = sup_{w∈B} ‖D²h(w)‖
 * on the ball B = B(w0, ρ), with ‖D²h(w)‖ = sup_{‖u‖=‖v‖=1} ‖D²h(w)[u, v]‖ (docs/math.md §1).
 *
 * Every number returned here is a value actually attained at a reported point w ∈ B (up to
 * floating-point rounding), hence a lower bound of the sup; the iterations only decide how close
 * to the sup it gets.
 *
 *  - ‖Dh(w)‖: the top singular value, from the eigendecomposition of the smaller Gram matrix of
 *    the Jacobian when it is small, else by Lanczos on Dhᵀ·Dh with JVPs and VJPs.
 *  - ‖D²h(w)‖: D²h(w) is symmetric in (u, v), so (Banach's theorem on symmetric multilinear
 *    forms in Hilbert space) ‖D²h(w)‖ = sup_{‖z‖=‖u‖=1} ⟨z, D²h(w)[u, u]⟩ = sup_z ‖H_z‖ with
 *    H_z = Σ_a z_a ∇²h_a(w) (p×p, symmetric). An alternating (higher-order) power iteration:
 *    z ← D²h[u,u]/‖D²h[u,u]‖, then u ← the extreme eigenvector of H_z (Lanczos on
 *    Hessian-vector products v ↦ H_z v, i.e. the JVP of the VJP graph u ↦ Dhᵀz). Each step
 *    cannot decrease ⟨z, D²h[u,u]⟩ (λ_max(H_z) ≥ uᵀH_z u), so the iteration is monotone.
 *  - the sup over the ball: projected gradient ascent from several seeded starts. The
 *    gradients are exact where the top singular value / tensor eigenvalue is simple:
 *    ∇_w ‖Dh(w)‖ = H_z(w)·v for the top singular pair (z, v), and
 *    ∇_w ‖D²h(w)‖ = D³h(w)[u, u, ·]ᵀ z (the VJP of the directional graph D²h[u,u]).
 */
import { directional, flatOutput, joinFlat, jvpFlat, vjpFlat } from '../ad/derivatives.ts';
import { vjp as vjpGraph } from '../ad/transpose.ts';
import { symmetricEigen } from '../linalg/dense.ts';
import { mirrorTriangle } from '../runtime/kernels-js.ts';
import type { NodeId } from '../ir/graph.ts';
import type { Model } from '../ir/model.ts';
import { Rng } from '../io/rng.ts';
import { Thousandths } from '../io/progress.ts';
import type { Evaluator } from '../evaluator/evaluator.ts';

const dot = (a: Float64Array, b: Float64Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};
/**
 * ‖a‖₂, without overflow or underflow of the squares: where Σa² leaves the normal range, the sum
 * is taken over a/max|a| (values up to 1e308 have finite norms, and the ascent reaches them).
 */
const nrm = (a: Float64Array) => {
  const s = dot(a, a);
  if (s < Infinity && s > 1e-290) return Math.sqrt(s);
  let mx = 0;
  for (let i = 0; i < a.length; i++) mx = Math.max(mx, Math.abs(a[i]!));
  if (!(mx > 0) || mx === Infinity) return mx; // 0, ∞ or NaN
  let t = 0;
  for (let i = 0; i < a.length; i++) t += (a[i]! / mx) ** 2;
  return mx * Math.sqrt(t);
};
function scaled(a: Float64Array, c: number): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! * c;
  return out;
}

/** A point of the ball where a value was attained, with the maximizing directions. */
export interface Attained {
  value: number;
  w: Float64Array;
  /** Output direction z (unit, R^k). */
  z: Float64Array;
  /** Weight direction (unit, R^p): v for ‖Dh‖, u (= v) for ‖D²h‖. */
  u: Float64Array;
  /** Whether the inner iteration met its tolerance. */
  converged: boolean;
}

/**
 * The graphs the lower bounds need, compiled once per model: Hessian-vector products of ⟨z, h⟩
 * and the gradient of ⟨z, D²h[u, u]⟩ with respect to w.
 */
export class Probe {
  readonly k: number;
  readonly p: number;
  /** Evaluations of each kind (for reports and budgets). */
  readonly counts = { jacobian: 0, hvp: 0, d2: 0, d3: 0 };
  private readonly hvpG: { z: NodeId; v: NodeId; out: NodeId };
  private d3G: { z: NodeId; u: NodeId; out: NodeId } | null = null;

  constructor(readonly model: Model, readonly ev: Evaluator) {
    this.k = ev.k;
    this.p = ev.p;
    // H_z v = D(Dhᵀz)·v: forward over reverse.
    const r = vjpFlat(model);
    const f = jvpFlat(model, r.out);
    this.hvpG = { z: r.u, v: f.v, out: f.out };
  }

  /** H_z(w)·v = Σ_a z_a ∇²h_a(w) v. */
  hvp(w: Float64Array, z: Float64Array, v: Float64Array): Float64Array {
    this.counts.hvp++;
    const { z: zn, v: vn, out } = this.hvpG;
    return this.ev.plan('lip-hvp', [out], [zn, vn]).run(this.ev.bindings(w, [[zn, z], [vn, v]]))[0]!;
  }

  /** D²h(w)[u, u] ∈ R^k. */
  d2(w: Float64Array, u: Float64Array): Float64Array {
    this.counts.d2++;
    return this.ev.directional(w, [u, u]);
  }

  /** ∇_w ⟨z, D²h(w)[u, u]⟩ = D³h(w)[u, u, ·]ᵀ z ∈ R^p. */
  d3(w: Float64Array, z: Float64Array, u: Float64Array): Float64Array {
    this.counts.d3++;
    if (!this.d3G) {
      const m = this.model, g = m.graph;
      const { vs, out } = directional(m, 2, flatOutput(m));
      // Bind both tangents to one input u: D²h[u, u].
      const u = g.fresh('tangent', [this.p], 'lu');
      const [substitute] = g.rewrite([out], new Map(vs.map((v) => [v, u])));
      const zc = g.fresh('cotangent', [this.k], 'lz');
      const grads = vjpGraph(g, [substitute], [zc], m.params.map((q) => q.node));
      this.d3G = { z: zc, u, out: joinFlat(g, grads) };
    }
    const { z: zn, u: un, out } = this.d3G;
    return this.ev.plan('lip-d3', [out], [zn, un]).run(this.ev.bindings(w, [[zn, z], [un, u]]))[0]!;
  }

  /** The Jacobian Dh(w), k×p row-major. */
  jacobian(w: Float64Array): Float64Array {
    this.counts.jacobian++;
    return this.ev.jacobian(w);
  }
}

// ------------------------------------------------------------------ Lanczos

export interface Extreme {
  /** The eigenvalue of largest magnitude found, and the other end of the spectrum. */
  value: number;
  vector: Float64Array;
  converged: boolean;
  steps: number;
}

/**
 * The eigenvalue of largest |λ| of a symmetric operator A on R^n (matrix-free), by Lanczos with
 * full reorthogonalization, restarted from the Ritz vector until ‖Ax − λx‖ ≤ tol·|λ|.
 * @example lanczosExtreme((x) => x.map((v, i) => (i + 1) * v), 3, Float64Array.of(1, 1, 1)).value // 3
 */
export function lanczosExtreme(
  apply: (x: Float64Array) => Float64Array,
  n: number,
  start: Float64Array,
  opts: { steps?: number; restarts?: number; tol?: number } = {},
): Extreme {
  const maxSteps = Math.min(n, opts.steps ?? 40);
  const tol = opts.tol ?? 1e-10;
  let x = scaled(start, 1 / (nrm(start) || 1));
  if (!(nrm(x) > 0)) x = Float64Array.from({ length: n }, (_, i) => (i === 0 ? 1 : 0));
  let best: Extreme = { value: 0, vector: x, converged: false, steps: 0 };
  let steps = 0;
  for (let restart = 0; restart <= (opts.restarts ?? 6); restart++) {
    const Q: Float64Array[] = [x];
    const alpha: number[] = [];
    const beta: number[] = [];
    for (let j = 0; j < maxSteps; j++) {
      const w = apply(Q[j]!);
      steps++;
      if (!w.every(Number.isFinite)) return { value: NaN, vector: Q[j]!, converged: false, steps };
      const a = dot(w, Q[j]!);
      // Finite vectors whose products overflow: no tridiagonal matrix to decompose (the
      // eigensolver must never see a NaN or ∞), so no value either.
      if (!Number.isFinite(a)) return { value: NaN, vector: Q[j]!, converged: false, steps };
      alpha.push(a);
      // Full reorthogonalization (twice) against every Lanczos vector.
      for (let pass = 0; pass < 2; pass++)
        for (const q of Q) {
          const c = dot(w, q);
          for (let i = 0; i < n; i++) w[i] -= c * q[i]!;
        }
      const b = nrm(w);
      if (!Number.isFinite(b)) return { value: NaN, vector: Q[j]!, converged: false, steps };
      if (j === maxSteps - 1 || b <= 1e-13 * (Math.abs(a) + (beta[j - 1] ?? 0) + 1e-300)) break;
      beta.push(b);
      Q.push(scaled(w, 1 / b));
    }
    const m = alpha.length;
    const T = new Float64Array(m * m);
    for (let i = 0; i < m; i++) {
      T[i * m + i] = alpha[i]!;
      if (i + 1 < m) T[i * m + i + 1] = T[(i + 1) * m + i] = beta[i]!;
    }
    const { values, vectors } = symmetricEigen(T, m);
    const idx = Math.abs(values[0]!) > Math.abs(values[m - 1]!) ? 0 : m - 1;
    const lambda = values[idx]!;
    const y = new Float64Array(n);
    for (let j = 0; j < m; j++) {
      const c = vectors[j * m + idx]!;
      for (let i = 0; i < n; i++) y[i] += c * Q[j]![i]!;
    }
    const ny = nrm(y);
    for (let i = 0; i < n; i++) y[i] /= ny;
    const Ay = apply(y);
    steps++;
    let res = 0;
    for (let i = 0; i < n; i++) res += (Ay[i]! - lambda * y[i]!) ** 2;
    res = Math.sqrt(res);
    const converged = res <= tol * Math.abs(lambda) || (lambda === 0 && nrm(Ay) === 0) || m === n;
    // The Rayleigh quotient of y is attained exactly; prefer it to the Ritz value.
    const rq = dot(y, Ay);
    best = { value: Math.abs(rq) >= Math.abs(lambda) * (1 - 1e-12) ? rq : lambda, vector: y, converged, steps };
    if (converged) break;
    x = y;
  }
  best.steps = steps;
  return best;
}

// ------------------------------------------------------------------ norms at a point

/** ‖Dh(w)‖ with its top singular pair (z ∈ R^k, v ∈ R^p). */
export function jacobianNorm(probe: Probe, w: Float64Array, warm?: Float64Array, mode: 'auto' | 'matrix-free' = 'auto'): Attained {
  const { k, p } = probe;
  if (mode === 'auto' && k * p <= 4e6 && Math.min(k, p) <= 1200) {
    const J0 = probe.jacobian(w);
    if (!J0.every(Number.isFinite)) return { value: NaN, w: w.slice(), z: unit(k, 0), u: unit(p, 0), converged: false };
    // The Gram matrix squares J: scaled by a power of two (exact) so that it cannot overflow.
    // The directions do not depend on the scale; the value is recomputed from J0 below.
    let mx = 0;
    for (const x of J0) mx = Math.max(mx, Math.abs(x));
    const scale = mx > 0 ? 2 ** -Math.ceil(Math.log2(mx)) : 1;
    const J = scale === 1 ? J0 : J0.map((x) => x * scale);
    const small = Math.min(k, p);
    // Gram matrix of the smaller side: JJᵀ (k×k) or JᵀJ (p×p).
    // one symmetric rank-k update (dsyrk where the native backend is built), mirrored
    const G = new Float64Array(small * small);
    if (k <= p) probe.ev.backend.syrk('upper', false, k, p, 1, J, 0, p, 0, G, 0, k);
    else probe.ev.backend.syrk('upper', true, p, k, 1, J, 0, p, 0, G, 0, p);
    mirrorTriangle('upper', small, G, 0, small);
    // The Gram matrix squares the entries: it can overflow where J does not.
    if (!G.every(Number.isFinite)) return { value: NaN, w: w.slice(), z: unit(k, 0), u: unit(p, 0), converged: false };
    const { values, vectors } = symmetricEigen(G, small, probe.ev.backend);
    const top = new Float64Array(small);
    for (let i = 0; i < small; i++) top[i] = vectors[i * small + small - 1]!;
    // The other singular vector, and the value recomputed as ‖J v‖ (attained).
    const z = new Float64Array(k), v = new Float64Array(p);
    if (k <= p) {
      z.set(top);
      for (let a = 0; a < k; a++) for (let j = 0; j < p; j++) v[j] += J[a * p + j]! * z[a]!;
    } else {
      v.set(top);
      for (let a = 0; a < k; a++) for (let j = 0; j < p; j++) z[a] += J[a * p + j]! * v[j]!;
    }
    const nv = nrm(v), nz = nrm(z);
    if (!(values[small - 1]! > 0) || nv === 0 || nz === 0)
      return { value: 0, w: w.slice(), z: unit(k, 0), u: unit(p, 0), converged: true };
    const vv = scaled(v, 1 / nv);
    const Jv = new Float64Array(k);
    for (let a = 0; a < k; a++) for (let j = 0; j < p; j++) Jv[a] += J0[a * p + j]! * vv[j]!;
    const value = nrm(Jv);
    return { value, w: w.slice(), z: scaled(Jv, 1 / value), u: vv, converged: true };
  }
  // Matrix-free: Lanczos on JᵀJ.
  const ev = probe.ev;
  const start = warm ?? seededUnit(p, 17);
  const e = lanczosExtreme((x) => ev.vjp(w, ev.jvp(w, x)), p, start, { steps: 30, restarts: 8, tol: 1e-9 });
  const Jv = ev.jvp(w, e.vector);
  const value = nrm(Jv);
  return { value, w: w.slice(), z: value > 0 ? scaled(Jv, 1 / value) : unit(k, 0), u: e.vector, converged: e.converged };
}

/**
 * ‖D²h(w)‖ = sup_{z,u} ⟨z, D²h(w)[u,u]⟩ by the alternating power iteration (see the file
 * comment), started from `u0` (and z0 when given). The value is ‖D²h(w)[u,u]‖ at the final u:
 * attained.
 */
export function hessianNorm(
  probe: Probe,
  w: Float64Array,
  u0: Float64Array,
  z0?: Float64Array,
  opts: { maxIter?: number; tol?: number; deadline?: number } = {},
): Attained {
  const { k, p } = probe;
  const maxIter = opts.maxIter ?? 60;
  const deadline = opts.deadline ?? Infinity;
  const tol = opts.tol ?? 1e-10;
  let u = scaled(u0, 1 / (nrm(u0) || 1));
  let y = probe.d2(w, u);
  let value = nrm(y);
  if (!Number.isFinite(value)) return { value: NaN, w: w.slice(), z: unit(k, 0), u, converged: false };
  let z = value > 0 ? scaled(y, 1 / value) : z0 ? scaled(z0, 1 / nrm(z0)) : seededUnit(k, 5);
  let converged = false;
  for (let it = 0; it < maxIter; it++) {
    if (Date.now() > deadline) break; // converged stays false
    const e = lanczosExtreme((x) => probe.hvp(w, z, x), p, u, { steps: Math.min(p, 24), restarts: 4, tol: 1e-11 });
    if (!Number.isFinite(e.value)) break;
    if (e.value === 0) {
      converged = value === 0 ? true : converged;
      break;
    }
    const uNew = e.vector;
    const yNew = probe.d2(w, uNew);
    const vNew = nrm(yNew);
    if (vNew > value) {
      const gain = vNew - value;
      u = uNew;
      y = yNew;
      value = vNew;
      z = scaled(y, 1 / value);
      if (gain <= tol * value) {
        converged = e.converged;
        break;
      }
    } else {
      // No increase: (z, u) is a fixed point of the iteration.
      converged = e.converged || vNew >= value * (1 - 1e-12);
      break;
    }
  }
  return { value, w: w.slice(), z, u, converged };
}

function unit(n: number, i: number): Float64Array {
  const e = new Float64Array(n);
  if (n > 0) e[i] = 1;
  return e;
}

/** A deterministic pseudo-random unit vector. */
export function seededUnit(n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const x = new Float64Array(n);
  rng.fillNormal(x, 0, 1);
  const s = nrm(x) || 1;
  for (let i = 0; i < n; i++) x[i] /= s;
  return x;
}

// ------------------------------------------------------------------ ascent over the ball

export interface AscentOptions {
  radius: number;
  /**
   * Most restarts of the search (default max(LIP_DH_MAX_STARTS, 2·(restarts inside the Hessian's
   * blocks) + 2·LIP_SEARCH_PATIENCE)); a search cut by this cap reports converged: false.
   */
  starts?: number;
  /** Ascent steps per restart (the polish of the best point takes up to 4× as many). */
  maxSteps?: number;
  seed?: number;
  /** Stop when the total time exceeds this many milliseconds (converged: false). */
  timeBudgetMs?: number;
  /**
   * Told how far the search is, in thousandths: done = ⌊1000·max(restarts / cap, time / budget)⌋,
   * non-decreasing, from (0, 1000) when it starts to (1000, 1000) when it returns (the search
   * may stop before its cap: the stopping rule held).
   */
  onProgress?: (done: number, total: number) => void;
}

export interface AscentResult extends Attained {
  /** Whether every inner iteration converged at the maximizer and the ascent met its tolerance. */
  converged: boolean;
  /** Why it did not converge, if it did not. */
  note: string | null;
  starts: number;
  steps: number;
}

/** Project w onto the closed ball B(w0, ρ). */
export function projectBall(w: Float64Array, w0: Float64Array, rho: number): Float64Array {
  let s = 0;
  for (let i = 0; i < w.length; i++) s += (w[i]! - w0[i]!) ** 2;
  const d = Math.sqrt(s);
  if (d <= rho) return w;
  const c = rho / d;
  const out = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) out[i] = w0[i]! + (w[i]! - w0[i]!) * c;
  return out;
}

// ------------------------------------------------------------------ the search for the sup (both constants)

/**
 * Relative improvement of the best value below which a restart does not count as an improvement
 * (the restart rule of `converged`).
 */
export const LIP_SEARCH_RTOL = 1e-3;
/** Consecutive restarts without an improvement above LIP_SEARCH_RTOL after which the search stops. */
export const LIP_SEARCH_PATIENCE = 20;
/** Default cap on the number of restarts of each search, Lip(h) and Lip(Dh) (`--starts`). */
export const LIP_DH_MAX_STARTS = 40;
/**
 * Stationarity tolerance of the local ascent: ‖projected gradient of f‖ ≤ tol·f in the scaled
 * coordinates (w − w0)/ρ and u (both components then have the units of f).
 */
export const LIP_STATIONARITY_TOL = 1e-6;
/** The same for the restarts' own ascents (the best point is then polished to the tolerance above). */
export const LIP_EXPLORE_TOL = 1e-3;
/**
 * The search stops only after every block of the Hessian had a restart, twice each for up to 16
 * blocks, once each for up to this many; beyond, the blocks are visited in turn without that rule.
 */
export const LIP_BLOCK_SWEEP_MAX = 32;

/**
 * A point of the search's domain B(w0, ρ) × S^{p−1} and the value f(w, u) attained there. For
 * Lip(Dh), f(w, u) = ‖D²h(w)[u, u]‖; for Lip(h), f(w, ·) = ‖Dh(w)‖ with u its top right singular
 * vector (recomputed at each w, so ∇_u f = 0 and the search is over the ball alone).
 */
interface SearchPoint {
  w: Float64Array;
  u: Float64Array;
  value: number;
}

/**
 * What `supSearch` maximizes: f at a point, its gradient, and the inner iteration at a fixed w
 * (the power iteration of ‖D²h(w)‖, the singular value problem of ‖Dh(w)‖).
 */
interface Objective<P extends SearchPoint> {
  /** f at (w, u) (u the direction, or a warm start of the inner iteration); value NaN where not finite. */
  at(w: Float64Array, u: Float64Array): P;
  /** ∇_w f and ∇_u f, the latter already on the sphere's tangent space (zeros where f does not depend on u). */
  grad(a: P): { gw: Float64Array; gu: Float64Array };
  /** The inner iteration at a.w from a's directions: the value it attains, that point, and whether it met its tolerance. */
  inner(a: P, deadline: number): { value: number; point: P; converged: boolean };
  /** The unit output direction z of a point (R^k). */
  z(a: P): Float64Array;
}

/** A point (w, u) of B × S^{p−1} with y = D²h(w)[u, u] and f = ‖y‖. */
interface JointPoint extends SearchPoint {
  y: Float64Array;
}

function jointAt(probe: Probe, w: Float64Array, u: Float64Array): JointPoint {
  const y = probe.d2(w, u);
  const v = nrm(y);
  return { w, u, y, value: Number.isFinite(v) ? v : NaN };
}

/**
 * f(w, u) = ‖D²h(w)[u, u]‖ (the search for Lip(Dh)); its gradient at a point with f > 0, z = y/f:
 *   ∇_w f = D³h(w)[u, u, ·]ᵀ z            (the VJP of the directional graph, `Probe.d3`)
 *   ∇_u f = 2 (H_z u − (uᵀH_z u) u)       (H_z = Σ z_a ∇²h_a, projected on the sphere's tangent)
 * and the inner iteration the alternating power iteration `hessianNorm` at w.
 */
function hessianObjective(probe: Probe): Objective<JointPoint> {
  return {
    at: (w, u) => jointAt(probe, w, u),
    grad(a) {
      const p = a.w.length;
      // Where D²h(w)[u, u] = 0 (the centre of an odd activation, say) f has no gradient: ascend
      // ⟨z, D²h(w)[u, u]⟩ for a fixed seeded z instead, whose increase makes f > 0.
      const z = a.value > 0 ? scaled(a.y, 1 / a.value) : seededUnit(probe.k, 3);
      const gw = probe.d3(a.w, z, a.u);
      const hu = probe.hvp(a.w, z, a.u);
      const c = dot(hu, a.u);
      const gu = new Float64Array(p);
      for (let i = 0; i < p; i++) gu[i] = 2 * (hu[i]! - c * a.u[i]!);
      return { gw, gu };
    },
    inner(a, deadline) {
      const e = hessianNorm(probe, a.w, a.u, a.value > 0 ? scaled(a.y, 1 / a.value) : undefined, { deadline });
      return { value: e.value, point: jointAt(probe, a.w, e.u), converged: e.converged };
    },
    z: (a) => (a.value > 0 ? scaled(a.y, 1 / a.value) : unit(probe.k, 0)),
  };
}

/**
 * f(w) = ‖Dh(w)‖ (the search for Lip(h)), with (z, u) its top singular pair at w (`jacobianNorm`,
 * warm-started from the point's u): ∇_w f = H_z(w)·u where the top singular value is simple (the
 * derivative of ⟨z, Dh(w) u⟩ at the fixed pair), ∇_u f = 0; the inner iteration is the singular
 * value problem at w from a fresh start.
 */
function jacobianObjective(probe: Probe): Objective<Attained> {
  const p = probe.p;
  const finite = (a: Attained): Attained => (Number.isFinite(a.value) ? a : { ...a, value: NaN });
  return {
    at: (w, u) => finite(jacobianNorm(probe, w, u)),
    grad: (a) => ({ gw: probe.hvp(a.w, a.z, a.u), gu: new Float64Array(p) }),
    inner(a) {
      const e = finite(jacobianNorm(probe, a.w));
      return { value: e.value, point: e, converged: e.converged };
    },
    z: (a) => a.z,
  };
}

/**
 * The gradient of f on B × S^{p−1} in the scaled coordinates ((w − w0)/ρ, u), and the
 * stationarity measure ‖(ρ∇_w f projected on the ball's tangent cone, ∇_u f)‖ / f (both
 * components then have the units of f): the measure of LIP_STATIONARITY_TOL for both searches.
 */
function jointGradient<P extends SearchPoint>(obj: Objective<P>, a: P, w0: Float64Array, rho: number) {
  const p = a.w.length;
  const { gw, gu } = obj.grad(a);
  const sw = scaled(gw, rho);
  // On the sphere ‖w − w0‖ = ρ, an outward component of the gradient is no ascent direction.
  const d = new Float64Array(p);
  for (let i = 0; i < p; i++) d[i] = a.w[i]! - w0[i]!;
  const dn = nrm(d);
  let tangent = sw;
  if (dn >= rho * (1 - 1e-9)) {
    const out = dot(sw, d) / dn;
    if (out > 0) tangent = sw.map((x, i) => x - (out * d[i]!) / dn);
  }
  const full = Math.hypot(nrm(sw), nrm(gu));
  const stat = a.value > 0 ? Math.hypot(nrm(tangent), nrm(gu)) / a.value : full > 0 ? Infinity : 0;
  return { sw, gu, full, stat };
}

interface Climb<P extends SearchPoint> {
  point: P;
  steps: number;
  /** The stationarity measure at the end (Infinity if not computed). */
  stat: number;
  /** Why it stopped: stationary (stat ≤ tol), steps (cap), stalled (no ascent along the gradient), time. */
  stop: 'stationary' | 'steps' | 'stalled' | 'time';
}

/**
 * Projected gradient ascent of f(w, u) (‖D²h(w)[u, u]‖, or ‖Dh(w)‖) jointly in w ∈ B(w0, ρ) and u ∈ S^{p−1},
 * in the scaled coordinates x = ((w − w0)/ρ, u): the move is (λ_w ∇_x f, λ_u ∇_u f), projected
 * on the ball and normalized on the sphere, with one Barzilai–Borwein step per factor
 * λ = ‖Δx‖² / (−⟨Δx, Δg⟩) (the curvatures of f in w and in u differ by orders of magnitude),
 * both divided by 4 until f increases (a monotone ascent). It stops when the stationarity measure
 * of `jointGradient` is ≤ tol, after maxSteps moves, when no move along the gradient increases f
 * at a relative length of 1e-13 (stalled), or at the deadline. For Lip(Dh) each move costs one D³
 * VJP, one Hessian-vector product and one D² evaluation per trial; for Lip(h) one
 * Hessian-vector product and one Jacobian norm per trial. `tick(steps)` is called after each move.
 */
function climb<P extends SearchPoint>(
  obj: Objective<P>, start: P, w0: Float64Array, rho: number, maxSteps: number, tol: number, deadline: number, tick?: (steps: number) => void,
): Climb<P> {
  const p = start.w.length;
  let cur = start;
  let steps = 0;
  let lw = NaN, lu = NaN;
  let prev: { w: Float64Array; u: Float64Array; sw: Float64Array; gu: Float64Array } | null = null;
  for (;;) {
    if (!(cur.value >= 0)) return { point: cur, steps, stat: Infinity, stop: 'stalled' };
    const g = jointGradient(obj, cur, w0, rho);
    const stat = g.stat;
    if (!Number.isFinite(g.full) || Number.isNaN(stat)) return { point: cur, steps, stat: Infinity, stop: 'stalled' };
    if (stat <= tol) return { point: cur, steps, stat, stop: 'stationary' };
    if (steps >= maxSteps) return { point: cur, steps, stat, stop: 'steps' };
    if (Date.now() > deadline) return { point: cur, steps, stat, stop: 'time' };
    steps++;
    // BB steps from the last move; without curvature information of the right sign, twice the
    // last step, starting at a move of 1/4.
    let bw = NaN, bu = NaN;
    if (prev) {
      let sw = 0, yw = 0, su = 0, yu = 0;
      for (let i = 0; i < p; i++) {
        const dw = (cur.w[i]! - prev.w[i]!) / rho, du = cur.u[i]! - prev.u[i]!;
        sw += dw * dw;
        yw += dw * (g.sw[i]! - prev.sw[i]!);
        su += du * du;
        yu += du * (g.gu[i]! - prev.gu[i]!);
      }
      if (yw < 0 && sw > 0) bw = sw / -yw;
      if (yu < 0 && su > 0) bu = su / -yu;
    }
    // Never a move beyond 4 in either factor (the ball has diameter 2, the sphere 2).
    lw = Math.min(Number.isFinite(bw) ? bw : Number.isFinite(lw) ? 2 * lw : 0.25 / g.full, 4 / (nrm(g.sw) || 1));
    lu = Math.min(Number.isFinite(bu) ? bu : Number.isFinite(lu) ? 2 * lu : 0.25 / g.full, 4 / (nrm(g.gu) || 1));
    prev = { w: cur.w, u: cur.u, sw: g.sw, gu: g.gu };
    let moved = false;
    for (let c = 1; c >= 1e-13; c /= 4) {
      const w = projectBall(cur.w.map((x, i) => x + c * lw * rho * g.sw[i]!), w0, rho);
      const u = new Float64Array(p);
      for (let i = 0; i < p; i++) u[i] = cur.u[i]! + c * lu * g.gu[i]!;
      const un = nrm(u);
      for (let i = 0; i < p; i++) u[i] /= un;
      const next = obj.at(w, u);
      if (next.value > cur.value) {
        cur = next;
        moved = true;
        if (c < 1) {
          lw *= c;
          lu *= c;
        }
        break;
      }
    }
    if (!moved) return { point: cur, steps, stat, stop: 'stalled' };
    tick?.(steps);
  }
}

/**
 * The blocks of weights that the Hessian couples: the connected components of the graph on
 * {0..p−1} whose edges are the (i, j) with (H_z)_ij ≠ 0, from the columns H_z e_j at a generic
 * point w of the ball and a random z (an entry that vanishes there vanishes structurally, up to a
 * null set). Components with no nonzero entry are left out. For h = Σ_c g_c(w_c) with the
 * blocks c disjoint (a 2-layer network: its neurons), D²h(w)[u, u] = Σ_c D²g_c(w_c)[u_c, u_c]
 * is a combination of the blocks' values with weights ‖u_c‖² summing to 1, so the sup is reached
 * with u and w − w0 inside one block: the search starts there. Null when p > LIP_BLOCK_PROBE_MAX
 * (p products would cost too much), when there is a single block, or past the deadline.
 */
function hessianBlocks(probe: Probe, w0: Float64Array, rho: number, rng: Rng, deadline: number, tick?: () => void): number[][] | null {
  const { p, k } = probe;
  if (p < 3 || p > LIP_BLOCK_PROBE_MAX) return null;
  const w = new Float64Array(p), z = new Float64Array(k);
  rng.fillNormal(w, 0, 1);
  rng.fillNormal(z, 0, 1);
  const r = (0.5 * rho) / (nrm(w) || 1);
  for (let i = 0; i < p; i++) w[i] = w0[i]! + r * w[i]!;
  const parent = Int32Array.from({ length: p }, (_, i) => i);
  const find = (x: number): number => {
    while (parent[x] !== x) x = parent[x] = parent[parent[x]!]!;
    return x;
  };
  const touched = new Uint8Array(p);
  const e = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    if (Date.now() > deadline) return null;
    if ((j & 15) === 0) tick?.();
    e[j] = 1;
    const col = probe.hvp(w, z, e);
    e[j] = 0;
    for (let i = 0; i < p; i++)
      if (col[i] !== 0) {
        touched[i] = touched[j] = 1;
        const a = find(i), b = find(j);
        if (a !== b) parent[a] = b;
      }
  }
  const comps = new Map<number, number[]>();
  for (let i = 0; i < p; i++) if (touched[i]) {
    const c = find(i);
    let list = comps.get(c);
    if (!list) comps.set(c, (list = []));
    list.push(i);
  }
  return comps.size > 1 ? [...comps.values()] : null;
}

/** Largest p for which the search probes the Hessian's block structure (p Hessian-vector products). */
export const LIP_BLOCK_PROBE_MAX = 2048;

/**
 * The starting points of the search, deterministic for a seed: (w, u) for restart number s ≥ 1.
 * p = 1: the ends of the interval, its midpoint, quarters, eighths, … Otherwise, with blocks (see
 * `hessianBlocks`), odd restarts move w and u inside one block (the blocks in a seeded order,
 * cycling; w on the block's sphere or uniform in its ball, alternately), and the others are free:
 * w alternately on the sphere ‖w − w0‖ = ρ and uniform in the ball, u uniform on the unit sphere.
 */
class Starts {
  private block = 0;
  private free = 0;
  /** Block restarts before the search may stop: two per block, or one, or none (see LIP_BLOCK_SWEEP_MAX). */
  readonly sweep: number;
  constructor(private readonly w0: Float64Array, private readonly rho: number, private readonly rng: Rng, readonly blocks: number[][] | null) {
    const nb = blocks?.length ?? 0;
    this.sweep = nb * (nb <= LIP_BLOCK_SWEEP_MAX / 2 ? 2 : nb <= LIP_BLOCK_SWEEP_MAX ? 1 : 0);
  }
  /** Whether the sweep over the blocks is done. */
  get swept(): boolean {
    return this.block >= this.sweep;
  }
  next(s: number): [Float64Array, Float64Array] {
    const { w0, rho, rng, blocks } = this;
    const p = w0.length;
    const u = new Float64Array(p);
    const w = new Float64Array(p);
    if (p === 1) {
      const k = s - 3, level = Math.floor(Math.log2(k + 1)), pos = k + 1 - 2 ** level;
      w[0] = w0[0]! + rho * (s === 1 ? -1 : s === 2 ? 1 : -1 + (2 * pos + 1) / 2 ** level);
      u[0] = 1;
      return [w, u];
    }
    const inBlock = blocks !== null && s % 2 === 1;
    if (inBlock) {
      const nb = blocks.length, idx = this.block % nb, pass = Math.floor(this.block / nb);
      this.block++;
      const block = blocks[idx]!;
      const a = new Float64Array(block.length), b = new Float64Array(block.length);
      rng.fillNormal(a, 0, 1);
      rng.fillNormal(b, 0, 1);
      // On the block's sphere or uniform in its ball, alternately along the order and between passes.
      const ra = ((idx + pass) % 2 === 0 ? 1 : Math.pow(rng.nextDouble(), 1 / block.length)) * rho / (nrm(a) || 1), rb = 1 / (nrm(b) || 1);
      w.set(w0);
      block.forEach((i, t) => {
        w[i] += ra * a[t]!;
        u[i] = rb * b[t]!;
      });
      return [w, u];
    }
    rng.fillNormal(u, 0, 1);
    const un = nrm(u) || 1;
    for (let i = 0; i < p; i++) u[i] /= un;
    rng.fillNormal(w, 0, 1);
    const r = (this.free++ % 2 === 0 ? 1 : Math.pow(rng.nextDouble(), 1 / p)) * rho / (nrm(w) || 1);
    for (let i = 0; i < p; i++) w[i] = w0[i]! + r * w[i]!;
    return [w, u];
  }
}

/**
 * The search for sup f over B(w0, ρ) × S^{p−1}, one definition for Lip(h) and Lip(Dh): restart 0
 * at `first` (w0 with the best direction found there), then the seeded points of `starts` (free
 * ones, and for Lip(Dh) ones inside the Hessian's blocks), each climbed (`climb`) to
 * LIP_EXPLORE_TOL or `maxSteps` steps. The best point is polished: the inner iteration at its w
 * (the power iteration of ‖D²h(w)‖, the singular value problem of ‖Dh(w)‖), then the ascent again
 * to LIP_STATIONARITY_TOL (at most 4·maxSteps steps), until neither improves it.
 *
 * The search stops after `starts` restarts (default max(LIP_DH_MAX_STARTS, 2·sweep +
 * 2·LIP_SEARCH_PATIENCE)), at the time budget, or as soon as the stopping rule (1) holds.
 * `converged` is true exactly when
 *   (1) the best value improved by no more than LIP_SEARCH_RTOL (relative) over the last
 *       LIP_SEARCH_PATIENCE restarts (so at least that many + 1 restarts ran), and every block
 *       had its restarts (twice each for up to LIP_BLOCK_SWEEP_MAX/2 blocks, once each for up
 *       to LIP_BLOCK_SWEEP_MAX; Lip(h) has no blocks), and
 *   (2) at the reported point the ascent met its stationarity tolerance LIP_STATIONARITY_TOL and
 *       the inner iteration at its w met its tolerance without improving the value, and
 *   (3) neither the time budget nor the cap on restarts (`starts`) stopped the search.
 * It is a statement about the search, not a certificate of the global sup: the certified upper
 * bound is the only guarantee from above. Every restart is a deterministic function of the
 * seed; the time budget only cuts it short.
 */
function supSearch<P extends SearchPoint>(
  obj: Objective<P>, first: P, starts: Starts, w0: Float64Array, opts: AscentOptions, t0: number, progress: Thousandths, what: string,
): AscentResult {
  const rho = opts.radius;
  const maxSteps = opts.maxSteps ?? 60;
  const budget = opts.timeBudgetMs ?? Infinity;
  const deadline = t0 + budget;
  // The cap: by default room for the sweep over the blocks and the patience after it.
  const maxStarts = opts.starts ?? Math.max(LIP_DH_MAX_STARTS, 2 * starts.sweep + 2 * LIP_SEARCH_PATIENCE);
  // Progress: the larger of the restarts' share of the cap and the time's share of the budget
  // (each non-decreasing), the restart under way counted by its steps.
  const report = (restarts: number) => {
    if (progress.on) progress.at(Math.max(restarts / maxStarts, (Date.now() - t0) / budget));
  };
  let best: P | null = null;
  let bestClimb: Climb<P> | null = null;
  let since = 0; // restarts since the last improvement above LIP_SEARCH_RTOL
  let used = 0;
  let steps = 0;
  let timeUp = false;
  while (used < maxStarts && (since < LIP_SEARCH_PATIENCE || !starts.swept)) {
    // Restart 0 always runs (its ascent stops at once past the deadline): a value at w0 at least.
    if (used > 0 && Date.now() > deadline) {
      timeUp = true;
      break;
    }
    const start = used === 0 ? first : obj.at(...starts.next(used));
    used++;
    report(used - 1);
    if (!(start.value >= 0)) {
      since++;
      continue; // outside the model's domain or overflowing: never a bound
    }
    const c = climb(obj, start, w0, rho, maxSteps, LIP_EXPLORE_TOL, deadline, (n) => report(used - 1 + Math.min(n / maxSteps, 1)));
    steps += c.steps;
    if (c.stop === 'time') timeUp = true;
    const v = c.point.value;
    if (!best || v > best.value * (1 + LIP_SEARCH_RTOL)) since = 0;
    else since++;
    if (!best || v > best.value) {
      best = c.point;
      bestClimb = c;
    }
    if (timeUp) break;
  }
  if (!best) {
    progress.end();
    return { ...first, value: NaN, z: obj.z(first), converged: false, note: `no point of the ball has a finite ${what}`, starts: used, steps };
  }
  // Polish: the inner iteration at w (for Lip(Dh), u the extreme eigenvector of H_z: a fixed
  // point in (z, u)), then the ascent to stationarity; repeat while either improves the value.
  // (f ≡ 0 on every point visited: nothing to polish, the value 0 is exact there.)
  let top: P = best;
  let innerOk = top.value === 0;
  let stat = bestClimb!.stat;
  let stop = bestClimb!.stop;
  for (let round = 0; round < 4 && !timeUp && top.value > 0; round++) {
    const inner = obj.inner(top, deadline);
    let improved = false;
    if (Number.isFinite(inner.value) && inner.value > top.value) {
      improved = inner.value > top.value * (1 + 1e-12);
      if (inner.point.value >= top.value) top = inner.point;
    }
    innerOk = inner.converged && !improved;
    const c: Climb<P> = climb(obj, top, w0, rho, 4 * maxSteps, LIP_STATIONARITY_TOL, deadline);
    steps += c.steps;
    stat = c.stat;
    stop = c.stop;
    if (c.stop === 'time') timeUp = true;
    const gained = c.point.value > top.value * (1 + 1e-12);
    top = c.point;
    if (!improved && !gained) break;
    innerOk = false; // moved: the inner check is repeated at the new point
  }
  if (Date.now() > deadline) timeUp = true;
  const notes: string[] = [];
  if (timeUp) notes.push(`time budget of ${opts.timeBudgetMs} ms reached after ${used} restarts`);
  else if (since < LIP_SEARCH_PATIENCE || !starts.swept)
    notes.push(`the restart budget ran out (${used} restarts, --starts) before the stopping rule held (no improvement above ${LIP_SEARCH_RTOL} relative over ${LIP_SEARCH_PATIENCE} restarts${starts.sweep > 0 ? `, ${starts.sweep} restarts inside the Hessian's blocks` : ''})`);
  if (!timeUp && stop !== 'stationary')
    notes.push(`the ascent at the maximizer ${stop === 'steps' ? `used its budget of ${4 * maxSteps} steps` : 'stalled'} without meeting its stationarity tolerance (‖grad‖/f = ${stat.toExponential(2)} > ${LIP_STATIONARITY_TOL})`);
  if (!timeUp && !innerOk) notes.push(`the ${what === '‖Dh‖' ? 'singular value iteration' : 'power iteration'} at the maximizer did not meet its tolerance`);
  progress.end();
  return { value: top.value, w: top.w, z: obj.z(top), u: top.u, converged: notes.length === 0, note: notes.length ? notes.join('; ') : null, starts: used, steps };
}

/**
 * A lower bound of Lip(h) = sup_{w∈B} ‖Dh(w)‖, attained at the returned point: `supSearch` of
 * f(w) = ‖Dh(w)‖ (gradient H_z(w)·v at the top singular pair (z, v)), restart 0 at w0, then
 * seeded points of the ball (the interval's ends and dyadic points in 1-D); `converged` by the
 * same rule as Lip(Dh)'s (see `supSearch`).
 * @example
 *   // h(w) = sin(w), w0 = 0.3, ρ = 0.2: sup |cos| on [0.1, 0.5] = cos(0.1), at w = 0.1.
 *   lipHLower(new Probe(m, new Evaluator(m)), m.w0, { radius: 0.2 }).value // 0.995004165278026
 */
export function lipHLower(probe: Probe, w0: Float64Array, opts: AscentOptions, seed = opts.seed ?? 0): AscentResult {
  const t0 = Date.now();
  const progress = new Thousandths(opts.onProgress);
  progress.start();
  const obj = jacobianObjective(probe);
  const first = obj.at(w0.slice(), seededUnit(probe.p, seed * 7919 + 3));
  return supSearch(obj, first, new Starts(w0, opts.radius, new Rng(seed * 7919 + 2), null), w0, opts, t0, progress, '‖Dh‖');
}

/**
 * A lower bound of Lip(Dh) = sup_{w∈B} ‖D²h(w)‖, attained at the returned point.
 *
 * Since D²h(w) is a symmetric bilinear map, ‖D²h(w)‖ = sup_{‖u‖=1} ‖D²h(w)[u, u]‖ (Banach's
 * theorem on symmetric forms in Hilbert space), so the search maximizes the smooth function
 * f(w, u) = ‖D²h(w)[u, u]‖ over B(w0, ρ) × S^{p−1} by `supSearch` (∇_w f = D³h(w)[u, u, ·]ᵀz by
 * one more VJP, ∇_u f = 2 H_z u by a Hessian-vector product): restart 0 at w0 with the
 * alternating power iteration's direction, then seeded points of the ball (`Starts`: free ones,
 * and ones inside the blocks of weights that the Hessian couples, `hessianBlocks`). `converged`
 * is the stopping rule stated at `supSearch`, the same as Lip(h)'s.
 * @example
 *   // h(w) = sin(w), w0 = 0.3, ρ = 0.2: sup |sin| on [0.1, 0.5] = sin(0.5), at w = 0.5.
 *   lipDhLower(new Probe(m, new Evaluator(m)), m.w0, { radius: 0.2 }).value // 0.479425538604203
 */
export function lipDhLower(probe: Probe, w0: Float64Array, opts: AscentOptions, seed = 0): AscentResult {
  const p = probe.p;
  const rho = opts.radius;
  const t0 = Date.now();
  const progress = new Thousandths(opts.onProgress);
  progress.start();
  const deadline = t0 + (opts.timeBudgetMs ?? Infinity);
  const rng = new Rng(seed * 7919 + 1);
  // Restart 0: w0 with the best of the alternating power iteration from the top singular vector
  // of Dh(w0) and two seeded directions (the previous method's start, kept).
  let first: Attained | null = null;
  for (const u of [jacobianNorm(probe, w0).u, seededUnit(p, seed * 7919 + 1), seededUnit(p, seed * 7919 + 2)]) {
    const a = hessianNorm(probe, w0, u, undefined, { deadline });
    if (!first || a.value > first.value || !Number.isFinite(first.value)) first = a;
  }
  // The block probe (p Hessian-vector products) counts towards the progress by its time.
  const budget = opts.timeBudgetMs ?? Infinity;
  const blocks = hessianBlocks(probe, w0, rho, rng, deadline, () => progress.at((Date.now() - t0) / budget));
  if (blocks) for (let i = blocks.length - 1; i > 0; i--) {
    const j = Math.floor(rng.nextDouble() * (i + 1));
    [blocks[i], blocks[j]] = [blocks[j]!, blocks[i]!];
  }
  const obj = hessianObjective(probe);
  return supSearch(obj, obj.at(w0.slice(), first!.u), new Starts(w0, rho, rng, blocks), w0, opts, t0, progress, '‖D²h‖');
}

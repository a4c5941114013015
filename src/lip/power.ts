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
import type { NodeId } from '../ir/graph.ts';
import type { Model } from '../ir/model.ts';
import { Rng } from '../io/rng.ts';
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
    const G = new Float64Array(small * small);
    if (k <= p) {
      for (let a = 0; a < k; a++)
        for (let b = a; b < k; b++) {
          let s = 0;
          for (let j = 0; j < p; j++) s += J[a * p + j]! * J[b * p + j]!;
          G[a * k + b] = G[b * k + a] = s;
        }
    } else {
      for (let i = 0; i < p; i++)
        for (let j = i; j < p; j++) {
          let s = 0;
          for (let a = 0; a < k; a++) s += J[a * p + i]! * J[a * p + j]!;
          G[i * p + j] = G[j * p + i] = s;
        }
    }
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
  /** Number of starting points (w0, the gradient direction, then seeded random points). */
  starts?: number;
  /** Ascent steps per start. */
  maxSteps?: number;
  seed?: number;
  /** Stop when the total time exceeds this many milliseconds (converged: false). */
  timeBudgetMs?: number;
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

/** Starting points: w0, then points spread over the ball (a grid in 1-D, the circle in 2-D). */
function startPoints(w0: Float64Array, rho: number, n: number, seed: number): Float64Array[] {
  const p = w0.length;
  const pts: Float64Array[] = [w0.slice()];
  if (p === 1) {
    const grid = Math.max(n, 9);
    for (let i = 0; i < grid; i++) pts.push(Float64Array.of(w0[0]! - rho + (2 * rho * i) / (grid - 1)));
    return pts;
  }
  const rng = new Rng(seed);
  for (let s = 1; s < n; s++) {
    const x = new Float64Array(p);
    if (p === 2) {
      const t = (2 * Math.PI * (s - 1)) / (n - 1);
      x[0] = Math.cos(t);
      x[1] = Math.sin(t);
    } else rng.fillNormal(x, 0, 1);
    const r = (s % 2 === 1 ? 1 : Math.pow(rng.nextDouble(), 1 / p)) * rho / (nrm(x) || 1);
    for (let i = 0; i < p; i++) x[i] = w0[i]! + r * x[i]!;
    pts.push(x);
  }
  return pts;
}

/**
 * sup over the ball of a value f(w) (with its gradient), by projected gradient ascent with an
 * adaptive step from each start; the best attained value wins.
 */
function ascend(
  w0: Float64Array,
  opts: AscentOptions,
  evalAt: (w: Float64Array, warm: Attained | null) => Attained,
  gradAt: (a: Attained) => Float64Array,
  extraStart: ((a: Attained) => Float64Array | null) | null,
): AscentResult {
  const rho = opts.radius;
  const maxSteps = opts.maxSteps ?? 60;
  const t0 = Date.now();
  const budget = opts.timeBudgetMs ?? Infinity;
  const starts = startPoints(w0, rho, opts.starts ?? 6, opts.seed ?? 0);
  // A point where the value is not finite (outside the model's domain) never wins.
  const raw = evalAt;
  evalAt = (w, warm) => {
    const a = raw(w, warm);
    return Number.isFinite(a.value) ? a : { ...a, value: -Infinity, converged: false };
  };
  let best: Attained | null = null;
  let bestConverged = false;
  let steps = 0;
  let note: string | null = null;
  let used = 0;
  for (let si = 0; si < starts.length; si++) {
    if (Date.now() - t0 > budget) {
      note = `time budget of ${budget} ms reached after ${used} of ${starts.length} starts`;
      break;
    }
    used++;
    let cur = evalAt(starts[si]!, best && Number.isFinite(best.value) ? best : null);
    if (!Number.isFinite(cur.value)) {
      if (!best) best = cur;
      continue;
    }
    if (si === 0 && extraStart) {
      const s = extraStart(cur);
      if (s) starts.splice(1, 0, s);
    }
    let step = rho;
    let ascentConverged = false;
    for (let it = 0; it < maxSteps; it++) {
      steps++;
      const g = gradAt(cur);
      const gn = nrm(g);
      if (!(gn > 0)) {
        ascentConverged = true;
        break;
      }
      let moved = false;
      while (step >= 1e-8 * rho) {
        const trial = projectBall(cur.w.map((x, i) => x + (step * g[i]!) / gn), w0, rho);
        const next = evalAt(trial, Number.isFinite(cur.value) ? cur : null);
        if (next.value > cur.value * (1 + 1e-15)) {
          cur = next;
          step = Math.min(2 * step, 2 * rho);
          moved = true;
          break;
        }
        step /= 8;
      }
      if (!moved) {
        ascentConverged = true;
        break;
      }
      if (Date.now() - t0 > budget) break;
    }
    if (!best || cur.value > best.value) {
      best = cur;
      bestConverged = ascentConverged && cur.converged;
    }
  }
  if (!bestConverged && note === null)
    note = best && !best.converged ? 'the inner power iteration did not meet its tolerance at the maximizer' : `the ascent used its budget of ${maxSteps} steps without meeting its tolerance`;
  return { ...best!, converged: bestConverged && note === null, note, starts: used, steps };
}

/** A lower bound of Lip(h) = sup_{w∈B} ‖Dh(w)‖, attained at the returned point. */
export function lipHLower(probe: Probe, w0: Float64Array, opts: AscentOptions): AscentResult {
  return ascend(
    w0,
    opts,
    (w, warm) => jacobianNorm(probe, w, warm?.u),
    // ∇‖Dh(w)‖ = ∇⟨z, Dh(w) v⟩ = H_z(w) v at the top singular pair.
    (a) => probe.hvp(a.w, a.z, a.u),
    (a) => {
      const g = probe.hvp(a.w, a.z, a.u);
      const gn = nrm(g);
      return gn > 0 ? projectBall(a.w.map((x, i) => x + (2 * opts.radius * g[i]!) / gn), w0, opts.radius) : null;
    },
  );
}

/** A lower bound of Lip(Dh) = sup_{w∈B} ‖D²h(w)‖, attained at the returned point. */
export function lipDhLower(probe: Probe, w0: Float64Array, opts: AscentOptions, seed = 0): AscentResult {
  const p = probe.p;
  const deadline = Date.now() + (opts.timeBudgetMs ?? Infinity);
  const evalAt = (w: Float64Array, warm: Attained | null): Attained => {
    if (warm) return hessianNorm(probe, w, warm.u, warm.z, { deadline });
    // Cold start: a few seeded directions plus the top right singular vector of Dh.
    let best: Attained | null = null;
    const tries = [jacobianNorm(probe, w).u, seededUnit(p, seed * 7919 + 1), seededUnit(p, seed * 7919 + 2)];
    for (const u of tries) {
      const a = hessianNorm(probe, w, u, undefined, { deadline });
      if (!best || a.value > best.value) best = a;
    }
    return best!;
  };
  return ascend(
    w0,
    opts,
    evalAt,
    (a) => probe.d3(a.w, a.z, a.u),
    (a) => {
      const g = probe.d3(a.w, a.z, a.u);
      const gn = nrm(g);
      return gn > 0 ? projectBall(a.w.map((x, i) => x + (2 * opts.radius * g[i]!) / gn), w0, opts.radius) : null;
    },
  );
}

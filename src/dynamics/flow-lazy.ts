/**
 * The flow in lazy variables: E(T) to full relative accuracy however large α, however small T.
 *
 * The deviation solve of `flow.ts` integrates δ = w − w̄ with the right-hand side
 * dδ/dt = (1/α)(Dh(w)ᵀ r − J0ᵀ r̄), a difference of two terms about α/E times larger than itself
 * (the residuals r = y* − α·h(w), r̄ = y* − α·h̄(w̄), J0 = Dh(w0)). Its relative rounding grows
 * like ε·α: 7e-6 at α = 1e12 on Theorem 1.3's example, and past α ≈ 1e16 the weights w0 + Δ
 * round to w0 and E(T) is noise (0.63 at α = 1e300 against a bound of 6e-298). The same happens
 * at tiny horizons (T = 1e-12 gave E = 2e-15 where the truth is 1e-24).
 *
 * In lazy variables nothing of size 1/α is ever subtracted from something of size 1. With
 * ū = α(w̄ − w0) (closed form, independent of α but for r0), u = α(w − w0) = ū + ẽ/α and the
 * scaled deviation ẽ = α²δ, Taylor's theorem with integral remainder along Δ = u/α gives
 *
 *   q(u)   = α²·[h(w0 + Δ) − h(w0) − J0 Δ] = ∫₀¹ (1 − s) D²h(w0 + sΔ)[u, u] ds,
 *   m(u,r) = α·(Dh(w0 + Δ) − J0)ᵀ r       = ∫₀¹ D²h(w0 + sΔ)[u, ·]ᵀ r ds,
 *   α·(h(w) − h̄(w̄)) = (J0 ẽ + q(u))/α,   so   E(t) = ‖J0 ẽ + q(u)‖ / α,
 *   r = r̄ − (J0 ẽ + q(u))/α,
 *   dẽ/dt = m(u, r) − J0ᵀ (J0 ẽ + q(u)),   ẽ(0) = 0,
 *
 * every term of size one. The integrals are Gauss–Legendre sums with 4 nodes, exact when D²h is a
 * polynomial of degree ≤ 5 along the segment (Theorem 1.3's example: D²h is constant); otherwise
 * their error falls like ‖Δ‖⁸, and the 3-node sum next to it estimates it (`at`'s `quadrature`,
 * part of E's stated accuracy). `flow.ts` chooses these variables only where the direct solve
 * would lose accuracy to rounding and the quadrature is accurate at the horizon's Δ
 * (`quadratureError`), and never for a non-smooth model, whose D²h is a sum of point masses at
 * the kinks that no quadrature sees. The Jacobian of the right-hand side in ẽ is that of the δ
 * solve, −(1/α²)∇²L(w) = −Dh(w)ᵀDh(w) + (1/α) D²h(w)[·, ·]ᵀ r, so the exponential methods'
 * Gauss–Newton part and the Rosenbrock product carry over.
 */
import type { Evaluator } from '../evaluator/evaluator.ts';
import type { LinearizedFlow } from './linearized.ts';

/** A quadrature rule on [0, 1]: nodes and weights. */
interface Rule { nodes: number[]; weights: number[] }
/** Gauss–Legendre on [0, 1] with 3 nodes (exact to degree 5): the error estimate's lower rule. */
const GL3: Rule = { nodes: [0.5 - 0.5 * Math.sqrt(0.6), 0.5, 0.5 + 0.5 * Math.sqrt(0.6)], weights: [5 / 18, 8 / 18, 5 / 18] };
/** Gauss–Legendre on [0, 1] with 4 nodes (exact to degree 7): the rule integrated with. */
const GL4: Rule = (() => {
  const a = Math.sqrt(3 / 7 - (2 / 7) * Math.sqrt(6 / 5)), b = Math.sqrt(3 / 7 + (2 / 7) * Math.sqrt(6 / 5));
  const wa = (18 + Math.sqrt(30)) / 36, wb = (18 - Math.sqrt(30)) / 36;
  return { nodes: [(1 - b) / 2, (1 - a) / 2, (1 + a) / 2, (1 + b) / 2], weights: [wb / 2, wa / 2, wa / 2, wb / 2] };
})();

/** The right-hand side of the lazy variables, their Jacobian product, and a state's readings. */
export interface LazyVariables {
  /** dẽ/dt at (t, ẽ). */
  rhs(t: number, e: Float64Array, de: Float64Array): void;
  /** ∂(dẽ/dt)/∂ẽ · v = −(1/α²)∇²L(w)·v (Rosenbrock). */
  jvp(t: number, e: Float64Array, v: Float64Array, out: Float64Array): void;
  /** w = w0 + u/α (a buffer of its own, overwritten by the next call). */
  weightsAt(t: number, e: Float64Array): Float64Array;
  /** ‖w(t) − w0‖ = ‖u‖/α. */
  weightChange(t: number, e: Float64Array): number;
  /**
   * At (t, ẽ): d = J0 ẽ + q(u), so that α·(h(w) − h̄(w̄)) = d/α (fresh arrays), u and ū, the
   * sizes of the two terms of d (their sum bounds the rounding of d), and the quadrature's
   * estimated relative error: the larger of ‖q₄ − q₃‖/‖d‖ and ‖m₄ − m₃‖/‖m₄‖ (4 against 3 nodes).
   */
  at(t: number, e: Float64Array): { d: Float64Array; u: Float64Array; ubar: Float64Array; scale: number; quadrature: number };
}

/**
 * The lazy variables of the flow of α·h under the square loss.
 * @param ubarAt t ↦ [ū(t), dū/dt] (2p values): the linearized flow's weights scaled by α
 *   (`linearizedProducts`' `unscaledAt`).
 * @example
 *   const lazy = lazyVariables(ev, model.w0, J0, 1e300, lin, linearizedProducts(ev, J0, spectrum, q, 1e300, T).unscaledAt!);
 *   solve('dop853', lazy.rhs, 0, new Float64Array(p), T); // ẽ(T); E(T) = ‖lazy.at(T, ẽ).d‖/α
 */
export function lazyVariables(ev: Evaluator, w0: Float64Array, J0: Float64Array, alpha: number, lin: LinearizedFlow,
  ubarAt: (t: number, y: Float64Array) => Float64Array): LazyVariables {
  const k = ev.k, p = ev.p;
  const gemm = ev.backend.gemm;
  const u = new Float64Array(p), w = new Float64Array(p), ws = new Float64Array(p), m = new Float64Array(p);
  const q = new Float64Array(k), d = new Float64Array(k), rbar = new Float64Array(k), r = new Float64Array(k), J0e = new Float64Array(k);
  /** u = ū(t) + ẽ/α; returns [ū, dū/dt]. */
  const setU = (t: number, e: Float64Array) => {
    const L = ubarAt(t, e);
    for (let i = 0; i < p; i++) u[i] = L[i]! + e[i]! / alpha;
    return L;
  };
  /** w0 + s·u/α into ws. */
  const node = (s: number) => {
    for (let i = 0; i < p; i++) ws[i] = w0[i]! + (s * u[i]!) / alpha;
    return ws;
  };
  /** q(u) by `rule` into `out` (u set). */
  const remainder = (rule: Rule, out: Float64Array) => {
    out.fill(0);
    for (let j = 0; j < rule.nodes.length; j++) {
      const s = rule.nodes[j]!, c = rule.weights[j]! * (1 - s);
      const dd = ev.directional(node(s), [u, u]);
      for (let i = 0; i < k; i++) out[i] += c * dd[i]!;
    }
  };
  /** m(u, r) by `rule` into `out` (u, r set). */
  const pullback = (rule: Rule, out: Float64Array) => {
    out.fill(0);
    for (let j = 0; j < rule.nodes.length; j++) {
      const pull = ev.outputHvp(node(rule.nodes[j]!), u, r);
      for (let i = 0; i < p; i++) out[i] += rule.weights[j]! * pull[i]!;
    }
  };
  /** d = J0 ẽ + q(u) and r = r̄ − d/α (u set); J0e and q kept. */
  const gap = (t: number, e: Float64Array) => {
    remainder(GL4, q);
    gemm(false, false, k, 1, p, 1, J0, 0, p, e, 0, 1, 0, J0e, 0, 1);
    for (let i = 0; i < k; i++) d[i] = J0e[i]! + q[i]!;
    lin.residual(t, rbar);
    for (let i = 0; i < k; i++) r[i] = rbar[i]! - d[i]! / alpha;
  };
  const rhs = (t: number, e: Float64Array, de: Float64Array) => {
    setU(t, e);
    gap(t, e);
    pullback(GL4, m);
    // dẽ/dt = m − J0ᵀ d
    de.set(m);
    gemm(true, false, p, 1, k, -1, J0, 0, p, d, 0, 1, 1, de, 0, 1);
  };
  const weightsAt = (t: number, e: Float64Array) => {
    setU(t, e);
    for (let i = 0; i < p; i++) w[i] = w0[i]! + u[i]! / alpha;
    return w;
  };
  const jvp = (t: number, e: Float64Array, v: Float64Array, out: Float64Array) => {
    setU(t, e);
    gap(t, e);
    for (let i = 0; i < p; i++) w[i] = w0[i]! + u[i]! / alpha;
    // −Dh(w)ᵀDh(w)v + (1/α) D²h(w)[v, ·]ᵀ r
    const jv = ev.jvp(w, v);
    const jtjv = ev.vjp(w, jv);
    const hv = ev.outputHvp(w, v, r);
    for (let i = 0; i < p; i++) out[i] = -jtjv[i]! + hv[i]! / alpha;
  };
  const norm = (a: Float64Array) => {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
    return Math.sqrt(s);
  };
  return {
    rhs, jvp, weightsAt,
    weightChange: (t, e) => (setU(t, e), norm(u) / alpha),
    at: (t, e) => {
      const L = setU(t, e);
      const ubar = L.slice(0, p);
      gap(t, e);
      const q3 = new Float64Array(k), m3 = new Float64Array(p);
      remainder(GL3, q3);
      pullback(GL4, m);
      pullback(GL3, m3);
      let dq = 0, dm = 0;
      for (let i = 0; i < k; i++) dq += (q[i]! - q3[i]!) ** 2;
      for (let i = 0; i < p; i++) dm += (m[i]! - m3[i]!) ** 2;
      const nd = norm(d), nm = norm(m);
      const quadrature = Math.max(nd > 0 ? Math.sqrt(dq) / nd : 0, nm > 0 ? Math.sqrt(dm) / nm : 0);
      return { d: d.slice(), u: u.slice(), ubar, scale: norm(J0e) + norm(q), quadrature };
    },
  };
}

/**
 * The quadrature's relative error on q(u) at the weights w0 + u/α, 4 nodes against 3: whether
 * the lazy variables integrate accurately over a displacement u/α (`flow.ts` probes it with the
 * linearized flow's ū(T) before choosing them). 0 when q vanishes.
 * @example quadratureError(ev, model.w0, ubarT, alpha) < 1e-12 // the Taylor remainder is resolved
 */
export function quadratureError(ev: Evaluator, w0: Float64Array, u: Float64Array, alpha: number): number {
  const sum = (rule: Rule) => {
    const out = new Float64Array(ev.k), ws = new Float64Array(ev.p);
    for (let j = 0; j < rule.nodes.length; j++) {
      const s = rule.nodes[j]!;
      for (let i = 0; i < ws.length; i++) ws[i] = w0[i]! + (s * u[i]!) / alpha;
      const dd = ev.directional(ws, [u, u]);
      for (let i = 0; i < out.length; i++) out[i] += rule.weights[j]! * (1 - s) * dd[i]!;
    }
    return out;
  };
  const q4 = sum(GL4), q3 = sum(GL3);
  let num = 0, den = 0;
  for (let i = 0; i < q4.length; i++) {
    num += (q4[i]! - q3[i]!) ** 2;
    den += q4[i]! ** 2;
  }
  return den > 0 ? Math.sqrt(num / den) : 0;
}

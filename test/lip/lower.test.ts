/**
 * The attained lower bound of Lip(Dh) against much longer searches written here (issue 21,
 * item 9): on random 2-layer networks (tanh, gelu, softplus, sin) a plain projected ascent of
 * ‖D²h(w)[u, u]‖ over (w, u) ∈ B(w0, ρ) × S^{p−1} with many more restarts finds R, and the tool's
 * lower bound must be ≥ R/1.1, attained (re-evaluated through the public directional
 * derivative) and below the certified upper bound. On a 2-parameter model a dense grid of the disk
 * and of the directions is the reference. And `converged` is false whenever a budget cut the search.
 *
 * On these models the previous search (6 starts of an ascent in w with the power iteration inside)
 * reported 3.01, 6.51 (with converged: true), 9.00, 3.66 (converged: true), 17.2 and 20.4 where
 * the references find 6.06, 12.75, 12.12, 5.19, 20.2 and 26.5.
 */
import { describe, expect, it } from 'vitest';
import { compile, directionalDerivative, type Model } from '../../src/index.ts';
import { lipschitz } from '../../src/lip/index.ts';
import { Probe, projectBall } from '../../src/lip/power.ts';
import { Evaluator } from '../../src/evaluator/evaluator.ts';
import { lcg, norm } from '../helpers.ts';

/** A 2-layer network h(X) = Σ_j a_j σ(U_j · x) on n random inputs x ∈ R^d, width m, seeded. */
function net(act: string, seed: number, n: number, d: number, m: number): Model {
  const src = [
    `dim n = ${n}, d = ${d}, m = ${m}`,
    `data X : [n, d] = normal(0, 1, seed = ${seed})`,
    'param a : [m] ~ normal(0, 1)',
    'param U : [m, d] ~ normal(0, 1)',
    `def f(x : [d]) = sum(a * ${act}(U @ x))`,
    'model h = f(X)',
  ].join('\n');
  return compile(src, `${act}${seed}.ntk`, { seed });
}

const gauss = (r: () => number) => Math.sqrt(-2 * Math.log(r() + 1e-300)) * Math.cos(2 * Math.PI * r());

/**
 * The long reference search: `starts` restarts (a third on the sphere ‖w − w0‖ = ρ, the rest
 * uniform in the ball, u uniform) of plain projected gradient ascent of f(w, u) = ‖D²h(w)[u, u]‖
 * with a normalized step that grows by 1.5 on success and halves on failure, up to `steps` steps
 * each. The best value found: attained, so itself a lower bound of Lip(Dh).
 */
function reference(model: Model, rho: number, starts: number, steps: number, seed = 12345): number {
  const probe = new Probe(model, new Evaluator(model));
  const p = probe.p, w0 = model.w0;
  const r = lcg(seed);
  const f = (w: Float64Array, u: Float64Array) => norm(probe.d2(w, u));
  let best = 0;
  for (let s = 0; s < starts; s++) {
    let w: Float64Array = new Float64Array(p), u: Float64Array = new Float64Array(p);
    for (let i = 0; i < p; i++) { w[i] = gauss(r); u[i] = gauss(r); }
    const wn = norm(w), un = norm(u);
    const rad = (s % 3 === 0 ? 1 : Math.pow(r(), 1 / p)) * rho / wn;
    w = w.map((x, i) => w0[i]! + rad * x);
    u = u.map((x) => x / un);
    let v = f(w, u);
    let t = 0.1;
    for (let it = 0; it < steps && v > 0; it++) {
      const z = probe.d2(w, u).map((x) => x / v);
      const gw = probe.d3(w, z, u);
      const gu = probe.hvp(w, z, u).map((x) => 2 * x);
      const c = gu.reduce((acc, x, i) => acc + x * u[i]!, 0);
      for (let i = 0; i < p; i++) gu[i] -= c * u[i]!;
      const gn = Math.hypot(norm(gw), norm(gu));
      if (!(gn > 1e-14 * v)) break;
      let moved = false;
      while (t > 1e-10) {
        const w2 = projectBall(w.map((x, i) => x + (t * rho * gw[i]!) / gn), w0, rho);
        const u2 = u.map((x, i) => x + (t * gu[i]!) / gn);
        const n2 = norm(u2);
        for (let i = 0; i < p; i++) u2[i] /= n2;
        const v2 = f(w2, u2);
        if (v2 > v) { w = w2; u = u2; v = v2; t = Math.min(1.5 * t, 1); moved = true; break; }
        t /= 2;
      }
      if (!moved) break;
    }
    best = Math.max(best, v);
  }
  return best;
}

/** ‖D²h(w)[u, u]‖ through the public API (not the search's own graphs). */
const attained = (model: Model, w: Float64Array, u: Float64Array) => norm(directionalDerivative(model, [u, u], w));

describe('Lip(Dh): the lower bound against a long search (random 2-layer networks)', () => {
  // [activation, seed, inputs n, input dim d, width m, radius ρ]
  const table: [string, number, number, number, number, number][] = [
    ['gelu', 3, 3, 2, 4, 1],
    ['gelu', 2, 4, 3, 8, 1],
    ['tanh', 4, 3, 2, 4, 1],
    ['tanh', 4, 2, 2, 6, 2],
    ['softplus', 4, 4, 3, 8, 1],
    ['sin', 2, 2, 2, 6, 2],
  ];
  it.each(table)('%s seed %i (n %i, d %i, m %i, ρ %f): lower ≥ R/1.1, attained, ≤ upper, converged', (act, seed, n, d, m, rho) => {
    const model = net(act, seed, n, d, m);
    const r = lipschitz(model, { radius: rho });
    const R = reference(model, rho, 60, 150);
    const e = r.lipDh;
    const ctx = `${act} seed ${seed}: lower ${e.lower}, reference ${R}, upper ${e.upper}, ratio ${R / e.lower}`;
    console.log(ctx);
    expect(e.lower, ctx).toBeGreaterThanOrEqual(R / 1.1);
    expect(e.upper, ctx).not.toBeNull();
    expect(e.lower, ctx).toBeLessThanOrEqual(e.upper!);
    // attained at a point of the ball, in a unit direction
    expect(norm(e.argmax.w.map((x, i) => x - model.w0[i]!))).toBeLessThanOrEqual(rho * (1 + 1e-12));
    expect(norm(e.argmax.u)).toBeCloseTo(1, 12);
    expect(Math.abs(attained(model, e.argmax.w, e.argmax.u) - e.lower) / e.lower).toBeLessThan(1e-10);
    expect(e.converged, `${ctx}\n${e.note}`).toBe(true);
  }, 120000);
});

describe('Lip(Dh) of a 2-parameter model against a dense grid', () => {
  // h_i(a, b) = a·tanh(b·x_i): ∂²h_i/∂a² = 0, ∂²h_i/∂a∂b = x_i tanh'(b x_i), ∂²h_i/∂b² = a x_i² tanh''(b x_i).
  const xs = [0.5, -1.3, 2.1];
  const model = compile(`param a = 0.8\nparam b = 0.6\ndata x : [3] = [${xs.join(', ')}]\nmodel h = a * tanh(b * x)`, 'ab.ntk');
  it('ρ = 1: lower ≥ the grid maximum (1 − 1e-6), ≤ the certified upper bound', () => {
    const rho = 1;
    const r = lipschitz(model, { radius: rho });
    const angles = 720;
    const cs = Float64Array.from({ length: angles }, (_, j) => Math.cos((Math.PI * j) / angles));
    const sn = Float64Array.from({ length: angles }, (_, j) => Math.sin((Math.PI * j) / angles));
    let grid = 0;
    const N = 120;
    for (let i = -N; i <= N; i++)
      for (let j = -N; j <= N; j++) {
        const da = (rho * i) / N, db = (rho * j) / N;
        if (da * da + db * db > rho * rho) continue;
        const a = 0.8 + da, b = 0.6 + db;
        const hab = xs.map((x) => x * (1 - Math.tanh(b * x) ** 2));
        const hbb = xs.map((x) => { const t = Math.tanh(b * x); return a * x * x * -2 * t * (1 - t * t); });
        for (let q = 0; q < angles; q++) {
          const ua = cs[q]!, ub = sn[q]!;
          let s = 0;
          for (let k = 0; k < 3; k++) s += (2 * ua * ub * hab[k]! + ub * ub * hbb[k]!) ** 2;
          grid = Math.max(grid, Math.sqrt(s));
        }
      }
    const e = r.lipDh;
    expect(e.lower).toBeGreaterThanOrEqual(grid * (1 - 1e-6));
    expect(e.lower).toBeLessThanOrEqual(grid * 1.01); // the grid is fine: it is close to the sup
    expect(e.upper!).toBeGreaterThanOrEqual(e.lower);
    expect(e.converged).toBe(true);
  }, 60000);
});

describe('converged means what it says', () => {
  const model = net('gelu', 2, 4, 3, 8);
  it('a time budget that cuts the search: converged false, a note, still an attained value ≤ upper', () => {
    const r = lipschitz(model, { radius: 1, timeBudgetMs: 1 });
    expect(r.lipDh.converged).toBe(false);
    expect(r.lipDh.note).toMatch(/time budget/);
    expect(r.lipDh.lower).toBeGreaterThan(0);
    expect(r.lipDh.lower).toBeLessThanOrEqual(r.lipDh.upper!);
    expect(Math.abs(attained(model, r.lipDh.argmax.w, r.lipDh.argmax.u) - r.lipDh.lower) / r.lipDh.lower).toBeLessThan(1e-10);
  });
  it('a cap on restarts below the patience rule: converged false, the note says why', () => {
    const r = lipschitz(model, { radius: 1, starts: 5, lowerOnly: true });
    expect(r.lipDh.converged).toBe(false);
    expect(r.lipDh.note).toMatch(/restart budget ran out \(5 restarts/);
  });
  it('a step cap that stops the ascent short of stationarity: converged false', () => {
    const r = lipschitz(model, { radius: 1, maxSteps: 2, lowerOnly: true });
    expect(r.lipDh.converged).toBe(false);
    expect(r.lipDh.note).toMatch(/stationarity/);
  });
  it('deterministic for a seed', () => {
    const a = lipschitz(model, { radius: 1, seed: 7, lowerOnly: true });
    const b = lipschitz(model, { radius: 1, seed: 7, lowerOnly: true });
    expect(a.lipDh.lower).toBe(b.lipDh.lower);
    expect(Array.from(a.lipDh.argmax.w)).toEqual(Array.from(b.lipDh.argmax.w));
    expect(a.evaluations).toEqual(b.evaluations);
  });
});

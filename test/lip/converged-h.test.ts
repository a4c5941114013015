/**
 * Lip(h)'s search under the same stopping rule as Lip(Dh)'s (issue 21): one search (`supSearch`
 * in src/lip/power.ts) for both constants, so `converged` means the same for each — the best
 * value stopped improving (LIP_SEARCH_RTOL over LIP_SEARCH_PATIENCE restarts), the maximizer is
 * stationary (LIP_STATIONARITY_TOL) and its inner iteration converged, and no budget cut the
 * search. The lower bound is the best sampled ‖Dh(w)‖ (attained), the upper the enclosure's.
 * And the progress each phase reports: non-decreasing thousandths from 0 to 1000.
 */
import { describe, expect, it } from 'vitest';
import { compile, type Model } from '../../src/index.ts';
import { lipschitz, type LipPhase } from '../../src/lip/index.ts';
import { jacobianNorm, lipDhLower, lipHLower, Probe, projectBall } from '../../src/lip/power.ts';
import { LIP_SEARCH_PATIENCE } from '../../src/lip/power.ts';
import { Evaluator } from '../../src/evaluator/evaluator.ts';
import { loadModel } from '../../src/index.ts';
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

/** max ‖Dh(w)‖ over `count` seeded points of the ball (half on its sphere): attained values. */
function sampled(model: Model, rho: number, count: number): number {
  const probe = new Probe(model, new Evaluator(model));
  const r = lcg(99);
  const p = model.paramCount, w0 = model.w0;
  let best = jacobianNorm(probe, w0).value;
  for (let s = 0; s < count; s++) {
    const d = Float64Array.from({ length: p }, () => gauss(r));
    const scale = (s % 2 === 0 ? 1 : Math.pow(r(), 1 / p)) * rho / norm(d);
    best = Math.max(best, jacobianNorm(probe, projectBall(w0.map((x, i) => x + scale * d[i]!), w0, rho)).value);
  }
  return best;
}

describe('Lip(h): lower bound ≥ the best sampled ‖Dh‖, ≤ the certified upper bound, converged by the shared rule', () => {
  const table: [string, number, number, number, number, number][] = [
    ['tanh', 4, 3, 2, 4, 1],
    ['gelu', 2, 4, 3, 8, 1],
    ['softplus', 4, 4, 3, 8, 1],
    ['sin', 2, 2, 2, 6, 2],
  ];
  it.each(table)('%s seed %i (n %i, d %i, m %i, ρ %f)', (act, seed, n, d, m, rho) => {
    const model = net(act, seed, n, d, m);
    const r = lipschitz(model, { radius: rho });
    const S = sampled(model, rho, 400);
    const e = r.lipH;
    const ctx = `${act} seed ${seed}: lower ${e.lower}, sampled ${S}, upper ${e.upper}; ${e.note}`;
    expect(e.lower, ctx).toBeGreaterThanOrEqual(S * (1 - 1e-9));
    expect(e.upper, ctx).not.toBeNull();
    expect(e.lower, ctx).toBeLessThanOrEqual(e.upper!);
    // attained: ‖Dh‖ at the reported point of the ball
    const probe = new Probe(model, new Evaluator(model));
    expect(norm(e.argmax.w.map((x, i) => x - model.w0[i]!))).toBeLessThanOrEqual(rho * (1 + 1e-12));
    expect(Math.abs(jacobianNorm(probe, e.argmax.w).value - e.lower) / e.lower).toBeLessThan(1e-10);
    expect(e.converged, ctx).toBe(true);
  }, 120000);

  it('1-D: h = sin(w) at w0 = 0, ρ = 0.5: the interior maximum cos(0) = 1, stationary, converged', () => {
    const m = loadModel('examples/sin.ntk', { overrides: new Map([['w0', 0]]) });
    const r = lipschitz(m, { radius: 0.5 });
    expect(r.lipH.lower).toBeCloseTo(1, 12);
    expect(r.lipH.converged).toBe(true);
    expect(r.lipH.note).toBeNull();
  });
});

describe('converged means the same for Lip(h) as for Lip(Dh)', () => {
  const model = net('gelu', 2, 4, 3, 8);
  it('a cap on restarts below the patience rule: both false, with the same reason', () => {
    const r = lipschitz(model, { radius: 1, starts: 5, lowerOnly: true });
    for (const e of [r.lipH, r.lipDh]) {
      expect(e.converged).toBe(false);
      expect(e.note).toMatch(/restart budget ran out \(5 restarts, --starts\) before the stopping rule held/);
    }
  });
  it('a time budget that cuts the search: both false, the note says so, the values still attained', () => {
    const r = lipschitz(model, { radius: 1, timeBudgetMs: 1, lowerOnly: true });
    for (const e of [r.lipH, r.lipDh]) {
      expect(e.converged).toBe(false);
      expect(e.note).toMatch(/time budget of 1 ms reached/);
      expect(e.lower).toBeGreaterThan(0);
    }
  });
  it('a step cap that stops the ascent short of stationarity: Lip(h) false, with the stationarity note', () => {
    const r = lipschitz(model, { radius: 1, maxSteps: 1, lowerOnly: true });
    expect(r.lipH.converged).toBe(false);
    expect(r.lipH.note).toMatch(/stationarity tolerance/);
  });
  it('the searches run at least LIP_SEARCH_PATIENCE + 1 restarts before they may stop', () => {
    const probe = new Probe(model, new Evaluator(model));
    const h = lipHLower(probe, model.w0, { radius: 1 });
    const d = lipDhLower(probe, model.w0, { radius: 1 });
    expect(h.converged && d.converged).toBe(true);
    expect(h.starts).toBeGreaterThan(LIP_SEARCH_PATIENCE);
    expect(d.starts).toBeGreaterThan(LIP_SEARCH_PATIENCE);
  });
  it('deterministic for a seed', () => {
    const a = lipschitz(model, { radius: 1, seed: 7, lowerOnly: true });
    const b = lipschitz(model, { radius: 1, seed: 7, lowerOnly: true });
    expect(a.lipH.lower).toBe(b.lipH.lower);
    expect(Array.from(a.lipH.argmax.w)).toEqual(Array.from(b.lipH.argmax.w));
  });
});

describe('progress of lipschitz: per phase non-decreasing thousandths from 0 to 1000', () => {
  const check = (calls: [number, number, LipPhase][], phases: LipPhase[]) => {
    expect([...new Set(calls.map((c) => c[2]))]).toEqual(phases);
    for (const phase of phases) {
      const ds = calls.filter((c) => c[2] === phase).map((c) => c[0]);
      expect(calls.filter((c) => c[2] === phase).every((c) => c[1] === 1000)).toBe(true);
      expect(ds[0], phase).toBe(0);
      expect(ds.at(-1), phase).toBe(1000);
      for (let i = 1; i < ds.length; i++) expect(ds[i]!, phase).toBeGreaterThan(ds[i - 1]!);
    }
  };
  it('the searches and the certified bounds, in order, each reaching its total', () => {
    const calls: [number, number, LipPhase][] = [];
    lipschitz(net('tanh', 4, 3, 2, 4), { radius: 1, onProgress: (d, t, ph) => calls.push([d, t, ph]) });
    check(calls, ['Lip(h) search', 'Lip(Dh) search', 'certified bounds']);
    // the searches move in between (restarts and steps), not only at their ends
    expect(calls.filter((c) => c[2] === 'Lip(Dh) search').length).toBeGreaterThan(5);
  });
  it('a search cut by its time budget still ends at 1000; lowerOnly has no bounds phase', () => {
    const calls: [number, number, LipPhase][] = [];
    lipschitz(net('gelu', 2, 4, 3, 8), { radius: 1, timeBudgetMs: 50, lowerOnly: true, onProgress: (d, t, ph) => calls.push([d, t, ph]) });
    check(calls, ['Lip(h) search', 'Lip(Dh) search']);
  });
});

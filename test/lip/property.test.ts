/**
 * Property-based: on random small models (random expression graphs over vector and matrix
 * parameters and data, seeded), the certified upper bounds are never below an attained value —
 * neither the ascent's lower bounds nor values sampled at random points of the ball. Plus an
 * independent check of the bilinear-norm iteration by brute force over the unit circle.
 */
import { describe, expect, it } from 'vitest';
import { compile, directionalDerivative, type Model } from '../../src/index.ts';
import { lipschitz } from '../../src/lip/index.ts';
import { outputEnclosure } from '../../src/lip/enclosure.ts';
import { hessianNorm, jacobianNorm, Probe, seededUnit } from '../../src/lip/power.ts';
import { Evaluator } from '../../src/evaluator/evaluator.ts';
import { lcg } from '../helpers.ts';

/** A random elementwise expression over [3]-vectors: v, u (params), x (data), W @ x, … */
function randomModel(seed: number): string {
  const rand = lcg(seed);
  const pick = <T,>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  const unary = ['sin', 'cos', 'tanh', 'erf', 'softplus', 'atan', 'sigmoid', 'gelu'];
  const expr = (depth: number): string => {
    if (depth === 0 || rand() < 0.2)
      return pick(['v', 'u', 'x * v', 'W @ x', 'W @ v', 'sum(x * u)', '(W @ u) * v', '0.7 * v - u']);
    switch (pick(['unary', 'unary', 'add', 'mul', 'div', 'pow', 'exp'])) {
      case 'unary': return `${pick(unary)}(${expr(depth - 1)})`;
      case 'add': return `(${expr(depth - 1)} ${pick(['+', '-'])} ${expr(depth - 1)})`;
      case 'mul': return `(${expr(depth - 1)} * ${expr(depth - 1)})`;
      case 'div': return `(${expr(depth - 1)} / (1 + (${expr(depth - 1)})^2))`;
      case 'pow': return `(${expr(depth - 1)})^${pick(['2', '3'])}`;
      default: return `exp(0.5 * ${expr(depth - 1)})`;
    }
  };
  return [
    `data x : [3] = normal(0, 1, seed = ${seed})`,
    'param v : [3] ~ normal(0, 0.7)',
    'param u : [3] ~ normal(0, 0.7)',
    'param W : [3, 3] ~ normal(0, 0.5)',
    `model h = ${expr(3)} + 0.1 * tanh(u)`, // the tail keeps h from simplifying to a constant
  ].join('\n');
}

function sampleBall(w0: Float64Array, rho: number, seed: number): Float64Array {
  const d = seededUnit(w0.length, seed);
  const r = rho * lcg(seed + 1)();
  return w0.map((x, i) => x + r * d[i]!);
}

describe('upper bounds never fall below attained values (random models)', () => {
  const seeds = Array.from({ length: 24 }, (_, i) => 101 + i);
  it.each(seeds)('model seed %i', (seed) => {
    const src = randomModel(seed);
    const model: Model = compile(src, `random${seed}.ntk`, { seed });
    const rho = [0.05, 0.2, 0.6][seed % 3]!;
    const r = lipschitz(model, { radius: rho, starts: 3, maxSteps: 25, seed });
    const ctx = `\n${src}\nρ = ${rho}: Lip(h) ∈ [${r.lipH.lower}, ${r.lipH.upper}], Lip(Dh) ∈ [${r.lipDh.lower}, ${r.lipDh.upper}]`;
    expect(r.lipH.upper, ctx).not.toBeNull();
    expect(r.lipDh.upper, ctx).not.toBeNull();
    expect(r.lipH.upper!, ctx).toBeGreaterThanOrEqual(r.lipH.lower);
    expect(r.lipDh.upper!, ctx).toBeGreaterThanOrEqual(r.lipDh.lower);
    // values at random points of the ball
    const probe = new Probe(model, new Evaluator(model));
    for (let s = 0; s < 6; s++) {
      const w = sampleBall(model.w0, rho, seed * 100 + s);
      expect(jacobianNorm(probe, w).value, ctx).toBeLessThanOrEqual(r.lipH.upper!);
      expect(hessianNorm(probe, w, seededUnit(model.paramCount, s + 1)).value, ctx).toBeLessThanOrEqual(r.lipDh.upper!);
    }
  }, 60000);
});

describe('the bilinear norm ‖D²h(w)‖ against brute force', () => {
  it('two parameters, three outputs: the alternating iteration finds the max over the circle', () => {
    const model = compile('param a = 0.3\nparam b = -0.4\nmodel h = [sin(a * b), a^2 * cos(b), tanh(a - 2 * b)]', 'three.ntk');
    const probe = new Probe(model, new Evaluator(model));
    for (const w of [Float64Array.of(0.3, -0.4), Float64Array.of(1.2, 0.7), Float64Array.of(-0.5, 2)]) {
      // ‖D²h‖ = max over unit u of ‖D²h[u, u]‖ (symmetric bilinear maps): a fine grid of angles.
      let brute = 0;
      for (let i = 0; i < 20000; i++) {
        const t = (Math.PI * i) / 20000;
        const u = Float64Array.of(Math.cos(t), Math.sin(t));
        const y = directionalDerivative(model, [u, u], w);
        brute = Math.max(brute, Math.hypot(...y));
      }
      const est = hessianNorm(probe, w, seededUnit(2, 9));
      expect(est.value).toBeLessThanOrEqual(brute * (1 + 1e-8)); // attained (the grid's own error is ~1e-9)
      expect(est.value).toBeGreaterThan(brute * (1 - 1e-7));
    }
  });
});

describe('the enclosures themselves contain the values, gradients and Hessians at sampled points', () => {
  const seeds = Array.from({ length: 16 }, (_, i) => 501 + i);
  it.each(seeds)('model seed %i', (seed) => {
    const src = randomModel(seed);
    const model = compile(src, `random${seed}.ntk`, { seed });
    const rho = [0.05, 0.3][seed % 2]!;
    const enc = outputEnclosure(model, rho);
    const p = model.paramCount;
    const ev = new Evaluator(model);
    const k = ev.k;
    const inside = (x: number, m: number, r: number) => Math.abs(x - m) <= r * (1 + 1e-9) + 1e-12 * Math.abs(x);
    for (let s = 0; s < 8; s++) {
      // points inside and on the sphere (where the enclosures are tightest against the truth)
      const d = seededUnit(p, seed * 31 + s);
      const w = model.w0.map((x, i) => x + (s % 2 ? rho : rho * lcg(seed + s)()) * d[i]!);
      const h = ev.output(w);
      const J = ev.jacobian(w);
      for (let a = 0; a < k; a++) {
        expect(inside(h[a]!, enc.value.mid[a]!, enc.value.rad[a]!), `${src}\nh[${a}]`).toBe(true);
        for (let j = 0; j < p; j++) expect(inside(J[a * p + j]!, enc.grad!.mid[a * p + j]!, enc.grad!.rad[a * p + j]!), `${src}\nJ[${a},${j}]`).toBe(true);
      }
      // Hessian entries by polarization of directional derivatives: D²h[e_j, e_l]
      for (let j = 0; j < p; j++)
        for (let l = j; l < p; l++) {
          const ej = new Float64Array(p), el = new Float64Array(p);
          ej[j] = 1; el[l] = 1;
          const H = ev.directional(w, [ej, el]);
          for (let a = 0; a < k; a++) {
            const at = (a * p + j) * p + l;
            expect(inside(H[a]!, enc.hess!.mid[at]!, enc.hess!.rad[at]!), `${src}\nH[${a},${j},${l}] = ${H[a]} ∉ ${enc.hess!.mid[at]} ± ${enc.hess!.rad[at]}`).toBe(true);
          }
        }
    }
  }, 60000);
});

describe('‖Dh(w)‖: the matrix-free path (Lanczos on JᵀJ with JVPs and VJPs) agrees with the Gram path', () => {
  it.each([201, 202, 203])('model seed %i', (seed) => {
    const model = compile(randomModel(seed), `random${seed}.ntk`, { seed });
    const probe = new Probe(model, new Evaluator(model));
    const w = sampleBall(model.w0, 0.3, seed);
    const a = jacobianNorm(probe, w);
    const b = jacobianNorm(probe, w, undefined, 'matrix-free');
    expect(b.value).toBeCloseTo(a.value, 9);
    expect(b.converged).toBe(true);
  });
});

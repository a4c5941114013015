/** Symmetric initialization (seed 004): `~ normal(…, mirror = ±1)` draws half and mirrors it. */
import { describe, expect, it } from 'vitest';
import { compile, evaluate, NtkError } from '../../src/index.ts';

const src = (m: number, mirrorW = '1', mirrorV = '-1') =>
  `dim n = 5, d = 3, m = ${m}\ndata X : [n, d] = normal(0, 1, seed = 1)\n` +
  `param W : [m, d] ~ normal(0, 1, mirror = ${mirrorW})\nparam v : [m] ~ uniform(-1, 1, mirror = ${mirrorV})\n` +
  'def f(x : [d]) = dot(v, tanh(W @ x / sqrt(d))) / sqrt(m)\nmodel h = f(X)';

describe('symmetric initialization', () => {
  it('W = [W0; W0], v = [v0; −v0], so the network is exactly 0 at w0', () => {
    const model = compile(src(8), 'sym.ntk');
    const [W, v] = model.params;
    const w = model.w0;
    const half = (W!.size / 2) | 0;
    for (let i = 0; i < half; i++) expect(w[W!.offset + half + i]).toBe(w[W!.offset + i]);
    for (let i = 0; i < 4; i++) expect(w[v!.offset + 4 + i]).toBe(-w[v!.offset + i]!);
    // the halves are real draws, not zeros or copies of each other's rows
    expect(new Set(Array.from(w.subarray(W!.offset, W!.offset + half))).size).toBe(half);
    expect(Math.max(...Array.from(evaluate(model), Math.abs))).toBeLessThan(1e-15);
    // without mirror the network is not 0
    const plain = compile(src(8).replaceAll(', mirror = 1', '').replaceAll(', mirror = -1', ''), 'plain.ntk');
    expect(Math.max(...Array.from(evaluate(plain), Math.abs))).toBeGreaterThan(1e-3);
  });

  it('rejects an odd first dimension and a mirror other than ±1, with the location', () => {
    expect(() => compile(src(7), 'odd.ntk')).toThrow(NtkError);
    try {
      compile(src(7), 'odd.ntk');
    } catch (e) {
      const d = (e as NtkError).diagnostics[0]!;
      expect(d.message).toMatch(/mirror needs an even first dimension .* shape \[7, 3\]/);
      expect(d.span?.line).toBe(3);
    }
    expect(() => compile(src(8, '2'), 'bad.ntk')).toThrow(/mirror must be 1 .* or -1 .*, got 2/);
    expect(() => compile(src(8).replace('mirror = 1', 'mirrr = 1'), 'bad.ntk')).toThrow(/unknown option 'mirrr' of normal \(only 'seed' and 'mirror'\)/);
  });
});

/** The plan compiler: buffer reuse, reshape aliasing, the cached fixed phase. */
import { describe, expect, it } from 'vitest';
import { Graph } from '../../src/ir/graph.ts';
import { compile } from '../../src/runtime/compile.ts';

describe('plans', () => {
  it('reuses buffers: a long chain holds two values at a time, not all of them', () => {
    const g = new Graph();
    const x = g.input('x', 'var', [1000]);
    let y = x;
    for (let i = 0; i < 50; i++) y = g.sin(g.add(y, g.constant(i)));
    const plan = compile(g, [y]);
    const [out] = plan.run(new Map([[x, new Float64Array(1000).fill(0.5)]]));
    let ref = 0.5;
    for (let i = 0; i < 50; i++) ref = Math.sin(ref + i);
    expect(out![999]).toBeCloseTo(ref, 15);
    // input + a few live intermediates + the constants (scalars), never 50 × 1000
    expect(plan.peakValues).toBeLessThan(5000);
  });

  it('reshapes alias their input (no copy, no extra buffer)', () => {
    const g = new Graph();
    const x = g.input('x', 'var', [2, 3]);
    const y = g.exp(g.reshape(g.exp(x), [3, 2]));
    const plan = compile(g, [y]);
    expect(plan.peakValues).toBeLessThanOrEqual(18);
    const [out] = plan.run(new Map([[x, Float64Array.of(0, 1, 2, 3, 4, 5)]]));
    expect(out![5]).toBeCloseTo(Math.exp(Math.exp(5)), 5);
  });

  it('computes the fixed phase once while the same fixed inputs are bound', () => {
    const g = new Graph();
    const w = g.input('w', 'param', [3]);
    const v = g.input('v', 'tangent', [3]);
    const out = g.mul(g.exp(w), v);
    const plan = compile(g, [out], { varying: [v] });
    const W = Float64Array.of(0, 1, 2);
    const bind = new Map([[w, W], [v, Float64Array.of(1, 1, 1)]]);
    expect(plan.run(bind)[0]![2]).toBeCloseTo(Math.exp(2), 15);
    bind.set(v, Float64Array.of(2, 2, 2));
    expect(plan.run(bind)[0]![2]).toBeCloseTo(2 * Math.exp(2), 15);
    // a new fixed array is noticed
    bind.set(w, Float64Array.of(0, 0, 0));
    expect(plan.run(bind)[0]![2]).toBe(2);
    expect(plan.flops.varying).toBe(3);
  });

  it('never lets an intermediate overwrite an input bound before the run', () => {
    // Regression: an input scheduled after a released intermediate of the same size used to
    // share its buffer, so the intermediate clobbered the input's value.
    const g = new Graph();
    const x = g.input('x', 'param', []);
    const v1 = g.input('v1', 'tangent', []);
    const v2 = g.input('v2', 'tangent', []);
    const y = g.mul(v2, g.mul(g.cos(x), v1));
    const [out] = compile(g, [y]).run(new Map([[x, Float64Array.of(0.7)], [v1, Float64Array.of(1)], [v2, Float64Array.of(1)]]));
    expect(out![0]).toBe(Math.cos(0.7));
  });

  it('rejects a missing or mis-sized binding', () => {
    const g = new Graph();
    const x = g.input('x', 'var', [2]);
    const plan = compile(g, [g.sin(x)]);
    expect(() => plan.run(new Map())).toThrow(/'x' \(var\) is not bound/);
    expect(() => plan.run(new Map([[x, new Float64Array(3)]]))).toThrow(/3 values, expected 2/);
  });
});

/**
 * The library's progress callbacks (issue 21, item 6; the CLI only draws them): the infinite-width
 * limit's onProgress, the high-order kernel's onStatus and onProgress, the enclosure's and the
 * Gaussian grid's, and the one convention they share (io/progress.ts): `done` never decreases and
 * the last call reaches the total.
 */
import { describe, expect, it } from 'vitest';
import { kernel, limitKernels, loadModel } from '../../src/index.ts';
import { certifiedBounds } from '../../src/lip/index.ts';
import { pairGrid, type GaussFn } from '../../src/math/gaussian.ts';
import { Thousandths } from '../../src/io/progress.ts';

/** Calls in order: non-decreasing done, one total, first done = 0 (when `fromZero`), last done = total. */
function expectMonotone(calls: [number, number][], fromZero = true) {
  expect(calls.length).toBeGreaterThan(1);
  const total = calls[0]![1];
  for (const [, t] of calls) expect(t).toBe(total);
  if (fromZero) expect(calls[0]![0]).toBe(0);
  expect(calls.at(-1)![0]).toBe(total);
  for (let i = 1; i < calls.length; i++) expect(calls[i]![0]).toBeGreaterThanOrEqual(calls[i - 1]![0]);
}

describe('Thousandths', () => {
  it('reports each thousandth once, never less than before, 1000 only at the end', () => {
    const calls: [number, number][] = [];
    const p = new Thousandths((d, t) => calls.push([d, t]));
    p.start();
    p.at(0.25);
    p.at(0.2); // less: not reported
    p.at(0.2501); // the same thousandth: not reported
    p.at(1.5); // clamped below the end
    p.end();
    p.end();
    expect(calls).toEqual([[0, 1000], [250, 1000], [999, 1000], [1000, 1000]]);
    expect(new Thousandths().on).toBe(false);
  });
});

describe('limitKernels: onProgress over the recursion', () => {
  const model = loadModel('examples/limit-erf.ntk');
  it('thousandths from 0 to 1000, strictly increasing, moving in between', () => {
    const calls: [number, number][] = [];
    const r = limitKernels(model, { width: ['m'], onProgress: (d, t) => calls.push([d, t]) });
    expectMonotone(calls);
    for (let i = 1; i < calls.length; i++) expect(calls[i]![0]).toBeGreaterThan(calls[i - 1]![0]);
    expect(calls.length).toBeGreaterThan(5);
    // the same kernels as without the callback
    expect(r.ntk).toEqual(limitKernels(model, { width: ['m'] }).ntk);
  });
  it('over every chunk of test inputs with testDiag', () => {
    const calls: [number, number][] = [];
    limitKernels(model, { width: ['m'], testDiag: true, testChunk: 5, onProgress: (d, t) => calls.push([d, t]) });
    expectMonotone(calls);
    // four chunks of 5, 5, 5, 1 test inputs: the bar passes each quarter
    for (const q of [250, 500, 750]) expect(calls.some(([d]) => d >= q - 50 && d <= q + 50)).toBe(true);
  });
});

describe('kernel of order ≥ 3: onStatus before the blocks, onProgress over them and within each', () => {
  it('K^(3) of an erf network: building, compiling, then blocks of b reaching k', () => {
    const model = loadModel('examples/limit-erf.ntk', { overrides: new Map([['m', 8], ['n', 16]]) });
    const status: [string, boolean][] = [];
    const calls: [number, number][] = [];
    const K = kernel(model, 3, { blockSize: 4, onStatus: (s, running) => status.push([s, running === true]), onProgress: (d, t) => calls.push([d, t]) });
    expect(status[0]![0]).toMatch(/^building the graph of K\^\(3\)/);
    expect(status.some(([s]) => /^compiling the plan of K\^\(3\) \(\d+ graph nodes\)/.test(s))).toBe(true);
    expect(status.some(([s]) => s === 'computing the entries of K^(3): 4 blocks of 4 of the 16 outputs')).toBe(true);
    expectMonotone(calls);
    expect(K.blocks).toBe(4);
    // thousandths: each quarter passed by its block, and moving within a block (the plan's steps)
    for (const q of [250, 500, 750]) expect(calls.some(([d]) => d === q)).toBe(true);
    expect(calls.filter(([d]) => d > 0 && d < 250).length).toBeGreaterThan(0);
    expect(model.graph.onGrow).toBeNull(); // the hook is removed after the build
  });
});

describe('certifiedBounds and pairGrid: onProgress', () => {
  it('the enclosure: thousandths over its passes, from 0 to 1000', () => {
    const calls: [number, number][] = [];
    const r = certifiedBounds(loadModel('examples/limit-erf.ntk', { overrides: new Map([['m', 16]]) }), { radius: 0.1, onProgress: (d, t) => calls.push([d, t]) });
    expect(r.lipDh).not.toBeNull();
    expectMonotone(calls);
    expect(calls.length).toBeGreaterThan(3);
  });
  it('a Mehler grid: thousandths over its rows (and the quadrature of the pairs it leaves), non-decreasing', () => {
    const N = 100;
    const v = Float64Array.from({ length: N }, (_, i) => 0.5 + i / N);
    const S = new Float64Array(N * N);
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) S[i * N + j] = 0.3 * Math.sqrt(v[i]! * v[j]!) + (i === j ? 0.7 * v[i]! : 0);
    const tanh: GaussFn = { name: 'tanh', kinkAtZero: false, eval: (x, o) => { for (let i = 0; i < x.length; i++) o[i] = Math.tanh(x[i]!); } };
    const calls: [number, number][] = [];
    const r = pairGrid(tanh, tanh, v, v, S, { symmetric: true, onProgress: (d, t) => calls.push([d, t]) });
    expect(r.value.every(Number.isFinite)).toBe(true);
    expect(calls.length).toBeGreaterThan(3);
    expect(calls[0]).toEqual([0, 1000]);
    for (let i = 1; i < calls.length; i++) expect(calls[i]![0]).toBeGreaterThanOrEqual(calls[i - 1]![0]);
    for (const [d, t] of calls) expect(d <= t && t === 1000).toBe(true);
  });
});

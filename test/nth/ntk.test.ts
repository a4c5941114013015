/** K = J·Jᵀ by upper-triangle blocks against the plain triple loop, across block boundaries. */
import { describe, expect, it } from 'vitest';
import { ntkFromJacobian } from '../../src/linalg/dense.ts';
import type { Evaluator } from '../../src/evaluator/evaluator.ts';
import { jsBackend } from '../../src/runtime/kernels-js.ts';
import { lcg, randomArray, relErr } from '../helpers.ts';
import { evaluator, kernel, loadModel, ntk } from '../../src/index.ts';

describe('ntkFromJacobian', () => {
  it.each([[7, 5], [96, 11], [97, 13], [150, 37], [200, 3]])('k = %s, p = %s: equals J·Jᵀ and is exactly symmetric', (k, p) => {
    const J = randomArray(lcg(k + p), k * p);
    const K = ntkFromJacobian({ k, p, backend: jsBackend } as unknown as Evaluator, J);
    const ref = new Float64Array(k * k);
    for (let a = 0; a < k; a++)
      for (let b = 0; b < k; b++) {
        let s = 0;
        for (let c = 0; c < p; c++) s += J[a * p + c]! * J[b * p + c]!;
        ref[a * k + b] = s;
      }
    expect(relErr(K, ref)).toBeLessThan(1e-14);
    for (let a = 0; a < k; a++) for (let b = 0; b < a; b++) expect(K[a * k + b]).toBe(K[b * k + a]);
  });
});

describe('the structured K^(2) of row-separable models', () => {
  it.each(['examples/meanfield.ntk', 'examples/deep.ntk'])('%s: factored inner products equal J·Jᵀ', (file) => {
    const m = loadModel(file);
    const structured = kernel(m, 2, { structure: 'rows' });
    expect(structured.structure).toBe('rows');
    const dense = kernel(m, 2, { structure: 'dense' });
    expect(dense.structure).toBe('dense');
    expect(relErr(structured.data, dense.data)).toBeLessThan(1e-13);
    expect(relErr(ntk(m).data, dense.data)).toBeLessThan(1e-13);
  });
});

describe('the NTK from NTK-vector products (no Jacobian)', () => {
  it.each(['examples/meanfield.ntk', 'examples/deep.ntk', 'examples/mlp-tanh.ntk', 'examples/converse.ntk'])(
    '%s: Dh·(Dhᵀ·e_i) column by column equals J·Jᵀ and the structured kernel',
    (file) => {
      const m = loadModel(file);
      const products = kernel(m, 2, { structure: 'products' });
      expect(products.structure).toBe('products');
      const dense = kernel(m, 2, { structure: 'dense' });
      expect(relErr(products.data, dense.data)).toBeLessThan(1e-13);
      const k = dense.shape[0]!;
      for (let a = 0; a < k; a++) for (let b = 0; b < a; b++) expect(products.data[a * k + b]).toBe(products.data[b * k + a]);
      if (file !== 'examples/converse.ntk') expect(relErr(products.data, kernel(m, 2, { structure: 'rows' }).data)).toBeLessThan(1e-13);
    },
  );

  it('K·u for arbitrary vectors, across block boundaries, equals the product with J·Jᵀ', () => {
    const m = loadModel('examples/meanfield.ntk');
    const ev = evaluator(m);
    const { k } = ev;
    const K = ntkFromJacobian(ev, ev.jacobian(m.w0, { structure: 'dense' }));
    const U = randomArray(lcg(5), 7 * k);
    for (const blockSize of [1, 3, 7]) {
      const KU = ev.ntkProducts(m.w0, U, { blockSize });
      const ref = new Float64Array(7 * k);
      for (let i = 0; i < 7; i++) for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) ref[i * k + a]! += K[a * k + b]! * U[i * k + b]!;
      expect(relErr(KU, ref)).toBeLessThan(1e-13);
    }
  });

  it("'auto' takes the products when the Jacobian would not fit in the memory given, and the Jacobian otherwise", () => {
    const m = loadModel('examples/meanfield.ntk'); // k = 16, p = 256: J is 32 kB, K 2 kB
    expect(kernel(m, 2).structure).toBe('dense'); // the products cost more flops here
    const ev = evaluator(m);
    const flops = ev.ntkFlops();
    expect(flops.products).toBeGreaterThan(flops.dense);
    const tight = kernel(m, 2, { memoryBytes: 16 * 1024 });
    expect(tight.structure).toBe('products');
    expect(relErr(tight.data, kernel(m, 2, { structure: 'dense' }).data)).toBeLessThan(1e-13);
  });

  it('refuses the products for kernels of order ≥ 3', () => {
    expect(() => kernel(loadModel('examples/meanfield.ntk'), 3, { structure: 'products' })).toThrow(/order 2/);
  });
});

describe('Jacobian into a caller buffer (a flow refreshes it again and again)', () => {
  it.each([['rows', 'examples/meanfield.ntk'], ['dense', 'examples/deep.ntk'], ['forward', 'examples/deep.ntk']] as const)('%s: fills the buffer and returns its first k·p values', (how, file) => {
    // deep.ntk at m = 32 (p ≈ 2.2k): the subject is the buffer, and forward mode costs one JVP per weight
    // (at deep.ntk's m = 128, p ≈ 33k JVPs took 23 s quiet and over 120 s on a loaded machine)
    const m = how === 'rows' ? loadModel(file) : loadModel(file, { overrides: new Map([['m', 32]]) });
    const ev = evaluator(m);
    const opts = how === 'forward' ? { mode: 'forward' as const } : { structure: how as 'rows' | 'dense' };
    const fresh = ev.jacobian(m.w0, opts);
    const buf = new Float64Array(fresh.length + 3).fill(NaN);
    const J = ev.jacobian(m.w0, { ...opts, out: buf });
    expect(J.buffer).toBe(buf.buffer);
    expect(J.length).toBe(fresh.length);
    expect(Array.from(J)).toEqual(Array.from(fresh)); // every entry written: no NaN left
    expect(Number.isNaN(buf[fresh.length])).toBe(true); // nothing past k·p
    expect(() => ev.jacobian(m.w0, { ...opts, out: new Float64Array(fresh.length - 1) })).toThrow(/out buffer has/);
  });
});

/** K = J·Jᵀ by upper-triangle blocks against the plain triple loop, across block boundaries. */
import { describe, expect, it } from 'vitest';
import { ntkFromJacobian } from '../../src/nth/ntk.ts';
import type { Evaluator } from '../../src/runtime/evaluator.ts';
import { jsBackend } from '../../src/runtime/kernels-js.ts';
import { lcg, randomArray, relErr } from '../helpers.ts';
import { kernel, loadModel, ntk } from '../../src/index.ts';

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

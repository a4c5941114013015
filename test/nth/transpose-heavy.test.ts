/**
 * The transpose trick of `kernelGraph` (transposeHeavy): on a 2-hidden-layer tanh MLP it
 * rewrites the graph of K^(4) (products by W2 moved to the lighter side of the inner products)
 * and leaves every entry unchanged, for both index sources.
 */
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/ir/load.ts';
import { kernelGraph } from '../../src/nth/hierarchy.ts';
import { rowRestriction } from '../../src/ir/rows.ts';
import { compile as compilePlan } from '../../src/runtime/compile.ts';
import { relErr } from '../helpers.ts';

const model = () => loadModel('examples/mlp-tanh.ntk', { overrides: new Map([['n', 5], ['d', 3], ['m', 12]]) });

describe('transposeHeavy', () => {
  for (const kind of ['rows', 'dense'] as const) {
    it(`rewrites K^(4) and keeps its entries (${kind} indices)`, () => {
      const m = model();
      const g = m.graph;
      const rm = rowRestriction(m)!;
      const src = kind === 'rows' ? { kind, rm } : { kind };
      const on = kernelGraph(m, 4, false, src);
      const off = kernelGraph(m, 4, false, src, undefined, false);
      expect(on.value).not.toBe(off.value);
      const d = 3, n = 5;
      const X = rm.rows[0]!.data.value;
      const w: [number, Float64Array][] = [];
      let off0 = 0;
      for (const q of m.params) {
        const size = q.shape.reduce((x, y) => x * y, 1);
        w.push([q.node, m.w0.subarray(off0, off0 + size)]);
        off0 += size;
      }
      const bind = (ins: { inputs: number[] }[], tuple: number[]) =>
        new Map<number, Float64Array>([
          ...w,
          [rm.rows[0]!.data.node, X],
          ...ins.map((ix, i): [number, Float64Array] => {
            if (kind === 'rows') return [ix.inputs[0]!, X.slice(tuple[i]! * d, (tuple[i]! + 1) * d)];
            const u = new Float64Array(n);
            u[tuple[i]!] = 1;
            return [ix.inputs[0]!, u];
          }),
        ]);
      const got: number[] = [], want: number[] = [];
      for (const tuple of [[0, 1, 2, 3], [4, 4, 0, 2], [2, 0, 2, 1], [3, 3, 3, 3]]) {
        got.push(compilePlan(g, [on.value]).run(bind(on.indices, tuple))[0]![0]!);
        want.push(compilePlan(g, [off.value]).run(bind(off.indices, tuple))[0]![0]!);
      }
      expect(relErr(got, want)).toBeLessThan(1e-12);
      expect(Math.max(...want.map(Math.abs))).toBeGreaterThan(1e-6);
    });
  }
});

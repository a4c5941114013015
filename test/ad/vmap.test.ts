/** vmap: a batched graph equals the unbatched graph evaluated once per batch index. */
import { describe, expect, it } from 'vitest';
import { vmap } from '../../src/ad/vmap.ts';
import { jvp } from '../../src/ad/jvp.ts';
import { vjp } from '../../src/ad/transpose.ts';
import { Graph, type NodeId } from '../../src/ir/graph.ts';
import { sizeOf } from '../../src/ir/shape.ts';
import { lcg, randomArray, run } from '../helpers.ts';

/** One graph per structural situation: broadcasting against higher-rank unbatched values, etc. */
const BUILDERS: [string, number[][], (g: Graph, xs: NodeId[], c: NodeId) => NodeId][] = [
  ['elementwise with a higher-rank unbatched operand', [[3]], (g, [x], c) => g.mul(g.sin(x!), c)],
  ['matmul, batched on the left', [[2, 3]], (g, [x], c) => g.matmul(x!, g.reshape(g.slice(c, [0, 0], [3, 3]), [3, 3]))],
  ['matmul, batched on the right', [[3, 2]], (g, [x], c) => g.matmul(g.slice(c, [0, 0], [2, 3]), x!)],
  ['reductions, reshapes, transposes', [[2, 3]], (g, [x]) => g.sum(g.transpose(g.reshape(g.exp(x!), [3, 2]), [1, 0]), [1])],
  ['broadcast, slice, pad, concat', [[3]], (g, [x]) => g.concat([g.pad(g.slice(g.broadcast(x!, [2, 3]), [0, 1], [2, 3]), [1, 0], [3, 2]), g.zeros([1, 2])], 0)],
  ['two batched inputs', [[3], [3]], (g, [x, y]) => g.div(x!, g.add(g.constant(2), g.mul(y!, y!)))],
];

describe.each(BUILDERS)('vmap: %s', (_name, shapes, build) => {
  it('equals the per-index evaluation', () => {
    const g = new Graph();
    const rand = lcg(5);
    const B = 4;
    const xs = shapes.map((s, i) => g.input(`x${i}`, 'var', s));
    const c = g.input('c', 'data', [4, 3]);
    const cVal = randomArray(rand, 12);
    const out = build(g, xs, c);
    const bxs = shapes.map((s, i) => g.input(`X${i}`, 'var', [B, ...s]));
    const [bout] = vmap(g, [out], new Map(xs.map((x, i) => [x, bxs[i]!])), [B]);
    const bvals = shapes.map((s) => randomArray(rand, B * sizeOf(s)));
    const [batched] = run(g, [bout!], [[c, cVal], ...bxs.map((x, i) => [x, bvals[i]!] as [NodeId, Float64Array])]);
    const per = g.sizeOf(out);
    expect(g.shape(bout!)).toEqual([B, ...g.shape(out)]);
    for (let b = 0; b < B; b++) {
      const single = run(g, [out], [[c, cVal], ...xs.map((x, i) => [x, bvals[i]!.subarray(b * sizeOf(shapes[i]!), (b + 1) * sizeOf(shapes[i]!))] as [NodeId, Float64Array])])[0]!;
      for (let e = 0; e < per; e++) expect(batched![b * per + e]).toBeCloseTo(single[e]!, 14);
    }
  });
});

describe('vmap of derivatives', () => {
  it('a batch of VJPs gives the rows of the Jacobian of a matrix function', () => {
    const g = new Graph();
    const W = g.input('W', 'param', [3, 2]);
    const X = g.input('X', 'data', [4, 2]);
    const h = g.sum(g.tanh(g.matmul(X, g.swapLast(W))), [1]); // [4]
    const u = g.fresh('cotangent', [4]);
    const [gW] = vjp(g, [h], [u], [W]);
    const U = g.input('U', 'cotangent', [4, 4]);
    const [rows] = vmap(g, [gW!], new Map([[u, U]]), [4]);
    const rand = lcg(9);
    const Wv = randomArray(rand, 6), Xv = randomArray(rand, 8);
    const eye = new Float64Array(16).map((_, i) => (i % 5 === 0 ? 1 : 0));
    const [J] = run(g, [rows!], [[W, Wv], [X, Xv], [U, eye]]);
    // against forward mode, column by column
    const v = g.fresh('tangent', [3, 2]);
    const [jv] = jvp(g, [h], new Map([[W, v]]));
    for (let c = 0; c < 6; c++) {
      const e = new Float64Array(6);
      e[c] = 1;
      const [col] = run(g, [jv!], [[W, Wv], [X, Xv], [v, e]]);
      for (let r = 0; r < 4; r++) expect(J![r * 6 + c]).toBeCloseTo(col![r]!, 14);
    }
  });
});

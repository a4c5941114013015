/**
 * Every batching rule from the per-op case table (`test/op-cases.ts`, a Record over all ops):
 * for each case, each nonempty set of its inputs batched, and two batch prefixes ([3] and
 * [2, 2]), the batched graph equals the case's graph evaluated once per batch index with that
 * index's slices bound, to the last bit but rounding (sums may be reassociated).
 */
import { describe, expect, it } from 'vitest';
import { vmap } from '../../src/ad/vmap.ts';
import { Graph, type NodeId } from '../../src/ir/graph.ts';
import { sizeOf } from '../../src/ir/shape.ts';
import { OP_CASES } from '../op-cases.ts';
import { lcg, randomArray, relErr, run } from '../helpers.ts';

const PREFIXES = [[3], [2, 2]];

const rows = Object.entries(OP_CASES).flatMap(([op, cases]) =>
  cases.flatMap((cs) => {
    const subsets = Array.from({ length: 2 ** cs.shapes.length - 1 }, (_, m) => cs.shapes.map((_s, i) => ((m + 1) >> i) & 1).map(Boolean));
    return subsets.flatMap((batched) => PREFIXES.map((prefix) => [op, cs.name, batched.map((b) => (b ? 'B' : '·')).join(''), prefix.join('×'), cs, batched, prefix] as const));
  }),
);

describe.each(rows)('%s: %s, inputs %s batched by %s', (_op, _name, _mask, _pre, cs, batched, prefix) => {
  it('equals the per-index evaluation', () => {
    const g = new Graph();
    const rand = lcg(3);
    const xs = cs.shapes.map((s, i) => g.input(`x${i}`, 'var', s));
    const out = cs.build(g, xs);
    const B = sizeOf(prefix);
    const draw = (n: number) => (cs.domain === 'positive' ? randomArray(rand, n, 0.5, 1.5) : randomArray(rand, n));
    // a batched input holds B slices; an unbatched one a single value shared by every index
    const vals = cs.shapes.map((s, i) => draw((batched[i] ? B : 1) * sizeOf(s)));
    const bxs = cs.shapes.map((s, i) => (batched[i] ? g.input(`X${i}`, 'var', [...prefix, ...s]) : xs[i]!));
    const [bout] = vmap(g, [out], new Map(xs.flatMap((x, i) => (batched[i] ? [[x, bxs[i]!] as [NodeId, NodeId]] : []))), prefix);
    expect(g.shape(bout!)).toEqual([...prefix, ...g.shape(out)]);
    const [all] = run(g, [bout!], bxs.map((x, i) => [x, vals[i]!] as [NodeId, Float64Array]));
    const per = g.sizeOf(out);
    for (let b = 0; b < B; b++) {
      const slice = (i: number) => (batched[i] ? vals[i]!.subarray(b * sizeOf(cs.shapes[i]!), (b + 1) * sizeOf(cs.shapes[i]!)) : vals[i]!);
      const [single] = run(g, [out], xs.map((x, i) => [x, slice(i)] as [NodeId, Float64Array]));
      expect(relErr(all!.subarray(b * per, (b + 1) * per), single!, 1e-300)).toBeLessThanOrEqual(1e-15);
    }
  });
});

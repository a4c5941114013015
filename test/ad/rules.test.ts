/**
 * Every derivative rule checked three ways from one per-op case table (DESIGN.md convention 3):
 *   1. JVP against central differences;
 *   2. VJP against JVP through ⟨u, J v⟩ = ⟨Jᵀ u, v⟩;
 *   3. both nested to order 3: D^k F[v1..vk] by nested JVPs against central differences of
 *      D^{k−1}F, and the VJP of the order-(k−1) graph against the order-k JVP.
 * The table (`test/op-cases.ts`, shared with the batching and enclosure tests) is a Record over
 * all ops, so a new primitive cannot be added without a case.
 */
import { describe, expect, it } from 'vitest';
import { jvp } from '../../src/ad/jvp.ts';
import { vjp } from '../../src/ad/transpose.ts';
import { Graph, type NodeId } from '../../src/ir/graph.ts';
import { sizeOf } from '../../src/ir/shape.ts';
import { dot, lcg, randomArray, relErr, run } from '../helpers.ts';
import { OP_CASES as CASES, type OpCase as Case } from '../op-cases.ts';

/**
 * The function under test: F(xs) = y·sin(y) with y the case's output, so that even linear ops
 * have non-zero derivatives of every order.
 */
function setup(cs: Case, seed: number) {
  const g = new Graph();
  const rand = lcg(seed);
  const xs = cs.shapes.map((s, i) => g.input(`x${i}`, 'param', s));
  const vals = cs.shapes.map((s) => (cs.domain === 'positive' ? randomArray(rand, sizeOf(s), 0.5, 1.5) : randomArray(rand, sizeOf(s))));
  const y = cs.build(g, xs);
  const F = g.mul(y, g.sin(y));
  return { g, xs, vals, F, rand };
}

/** Nested JVP: D^k F[v1..vk], with every input perturbed along its part of each v_j. */
function nested(g: Graph, F: NodeId, xs: NodeId[], k: number) {
  const vs: NodeId[][] = [];
  let cur = F;
  for (let j = 0; j < k; j++) {
    const v = xs.map((x) => g.fresh('tangent', g.shape(x)));
    [cur] = jvp(g, [cur], new Map(xs.map((x, i) => [x, v[i]!])));
    vs.push(v);
  }
  return { out: cur, vs };
}

describe.each(Object.entries(CASES).flatMap(([op, cases]) => cases.map((cs) => [op, cs.name, cs] as const)))(
  '%s: %s',
  (_op, _name, cs) => {
    for (const order of [1, 2, 3]) {
      it(`order ${order}: JVP matches central differences`, () => {
        const { g, xs, vals, F, rand } = setup(cs, 7 + order);
        const lower = nested(g, F, xs, order - 1);
        const upper = nested(g, F, xs, order);
        // Same directions for the first k−1 tangents; the k-th is upper.vs[k−1].
        const dirs = upper.vs.map((v) => v.map((n) => randomArray(rand, g.sizeOf(n))));
        const bindLower: [NodeId, Float64Array][] = lower.vs.flatMap((v, j) => v.map((n, i) => [n, dirs[j]![i]!] as [NodeId, Float64Array]));
        const bindUpper: [NodeId, Float64Array][] = upper.vs.flatMap((v, j) => v.map((n, i) => [n, dirs[j]![i]!] as [NodeId, Float64Array]));
        const [exact] = run(g, [upper.out], [...xs.map((x, i) => [x, vals[i]!] as [NodeId, Float64Array]), ...bindUpper]);
        const last = dirs[order - 1]!;
        const eps = 1e-5;
        const shifted = (s: number) =>
          run(g, [lower.out], [...xs.map((x, i) => [x, vals[i]!.map((xv, e) => xv + s * eps * last[i]![e]!)] as [NodeId, Float64Array]), ...bindLower])[0]!;
        const plus = shifted(1), minus = shifted(-1);
        const fd = plus.map((p, i) => (p - minus[i]!) / (2 * eps));
        expect(relErr(exact!, fd, 1e-3)).toBeLessThan(1e-7);
      });

      it(`order ${order}: VJP agrees with JVP through ⟨u, Jv⟩ = ⟨Jᵀu, v⟩`, () => {
        const { g, xs, vals, F, rand } = setup(cs, 11 + order);
        const lower = nested(g, F, xs, order - 1);
        const upper = nested(g, F, xs, order);
        const dirs = upper.vs.map((v) => v.map((n) => randomArray(rand, g.sizeOf(n))));
        const u = g.fresh('cotangent', g.shape(lower.out));
        const uVal = randomArray(rand, g.sizeOf(u));
        const grads = vjp(g, [lower.out], [u], xs);
        const primal: [NodeId, Float64Array][] = xs.map((x, i) => [x, vals[i]!]);
        const bindLower: [NodeId, Float64Array][] = lower.vs.flatMap((v, j) => v.map((n, i) => [n, dirs[j]![i]!] as [NodeId, Float64Array]));
        const bindUpper: [NodeId, Float64Array][] = upper.vs.flatMap((v, j) => v.map((n, i) => [n, dirs[j]![i]!] as [NodeId, Float64Array]));
        const [jv] = run(g, [upper.out], [...primal, ...bindUpper]);
        const gs = run(g, grads, [...primal, ...bindLower, [u, uVal]]);
        const lhs = dot(uVal, jv!);
        const rhs = gs.reduce((s, gi, i) => s + dot(gi, dirs[order - 1]![i]!), 0);
        expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(lhs)));
      });
    }
  },
);

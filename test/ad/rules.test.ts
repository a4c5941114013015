/**
 * Every derivative rule checked three ways from one per-op case table (DESIGN.md convention 3):
 *   1. JVP against central differences;
 *   2. VJP against JVP through ⟨u, J v⟩ = ⟨Jᵀ u, v⟩;
 *   3. both nested to order 3: D^k F[v1..vk] by nested JVPs against central differences of
 *      D^{k−1}F, and the VJP of the order-(k−1) graph against the order-k JVP.
 * The table is a Record over all ops, so a new primitive cannot be added without a case.
 */
import { describe, expect, it } from 'vitest';
import { jvp } from '../../src/ad/jvp.ts';
import { vjp } from '../../src/ad/transpose.ts';
import { Graph, type NodeId } from '../../src/ir/graph.ts';
import type { Op } from '../../src/ir/ops.ts';
import { sizeOf } from '../../src/ir/shape.ts';
import { dot, lcg, randomArray, relErr, run } from '../helpers.ts';

interface Case {
  name: string;
  shapes: number[][];
  /** 'positive': inputs drawn in [0.5, 1.5] (log, pow, div's denominator). */
  domain?: 'positive';
  build: (g: Graph, xs: NodeId[]) => NodeId;
}

const c = (name: string, shapes: number[][], build: Case['build'], domain?: 'positive'): Case =>
  domain ? { name, shapes, build, domain } : { name, shapes, build };

const CASES: Record<Op, Case[]> = {
  input: [c('identity', [[3]], (_g, [x]) => x!)],
  const: [c('x + const', [[3]], (g, [x]) => g.add(x!, g.constant(0.3, [3])))],
  literal: [c('x * literal', [[3]], (g, [x]) => g.mul(x!, g.literal(Float64Array.of(1, -2, 0.5), [3])))],
  neg: [c('neg', [[2, 3]], (g, [x]) => g.neg(x!))],
  exp: [c('exp', [[2, 3]], (g, [x]) => g.exp(x!))],
  log: [c('log', [[2, 3]], (g, [x]) => g.log(x!), 'positive')],
  sin: [c('sin', [[4]], (g, [x]) => g.sin(x!))],
  cos: [c('cos', [[4]], (g, [x]) => g.cos(x!))],
  tanh: [c('tanh', [[2, 2]], (g, [x]) => g.tanh(x!))],
  erf: [c('erf', [[5]], (g, [x]) => g.erf(x!))],
  softplus: [c('softplus', [[5]], (g, [x]) => g.softplus(g.mul(g.constant(3), x!)))],
  atan: [c('atan', [[5]], (g, [x]) => g.unary('atan', g.mul(g.constant(2), x!)))],
  sign: [c('x * sign(x)', [[5]], (g, [x]) => g.mul(x!, g.sign(x!)))],
  add: [
    c('add broadcast row', [[2, 3], [3]], (g, [a, b]) => g.add(a!, b!)),
    c('add outer broadcast', [[2, 1], [1, 3]], (g, [a, b]) => g.add(a!, b!)),
  ],
  sub: [c('sub broadcast', [[3], [2, 3]], (g, [a, b]) => g.sub(a!, b!))],
  mul: [
    c('mul same shape', [[2, 3], [2, 3]], (g, [a, b]) => g.mul(a!, b!)),
    c('mul scalar', [[], [4]], (g, [a, b]) => g.mul(a!, b!)),
  ],
  div: [c('div', [[2, 3], [3]], (g, [a, b]) => g.div(a!, b!), 'positive')],
  pow: [
    c('pow both vary', [[3], [3]], (g, [a, b]) => g.pow(a!, b!), 'positive'),
    c('pow constant exponent', [[3]], (g, [a]) => g.pow(a!, g.constant(3)), 'positive'),
  ],
  broadcast: [
    c('broadcast leading', [[3]], (g, [x]) => g.broadcast(x!, [2, 3])),
    c('broadcast size-1 axis', [[2, 1]], (g, [x]) => g.broadcast(x!, [2, 4])),
  ],
  sum: [
    c('sum middle axis', [[2, 3, 4]], (g, [x]) => g.sum(x!, [1])),
    c('sum two axes', [[2, 3, 4]], (g, [x]) => g.sum(x!, [0, 2])),
  ],
  reshape: [c('reshape', [[2, 3]], (g, [x]) => g.reshape(x!, [3, 2]))],
  transpose: [c('transpose 3-d', [[2, 3, 4]], (g, [x]) => g.transpose(x!, [2, 0, 1]))],
  slice: [c('slice', [[4, 5]], (g, [x]) => g.slice(x!, [1, 2], [3, 5]))],
  pad: [c('pad', [[2, 3]], (g, [x]) => g.pad(x!, [1, 2], [4, 5]))],
  concat: [c('concat', [[2, 3], [1, 3]], (g, [a, b]) => g.concat([a!, b!], 0))],
  matmul: [
    c('matmul', [[2, 3], [3, 4]], (g, [a, b]) => g.matmul(a!, b!)),
    c('matmul batched', [[2, 2, 3], [3, 4]], (g, [a, b]) => g.matmul(a!, b!)),
    c('matmul broadcast batch', [[1, 2, 3], [2, 3, 2]], (g, [a, b]) => g.matmul(a!, b!)),
  ],
};

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

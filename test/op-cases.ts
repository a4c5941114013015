/**
 * One table of cases per primitive op, shared by the per-op rule tests: the derivative rules
 * (`ad/rules.test.ts`), the batching rules (`ad/vmap-rules.test.ts`) and the enclosure rules
 * (`lip/rules.test.ts`). A Record over `Op`: a new primitive does not type-check without its row.
 * Each case builds a graph from inputs of the given shapes (drawn in [−1, 1], or in [0.5, 1.5]
 * for the 'positive' domain: log, pow, a denominator).
 */
import type { Graph, NodeId } from '../src/ir/graph.ts';
import type { Op } from '../src/ir/ops.ts';

export interface OpCase {
  name: string;
  shapes: number[][];
  /** 'positive': inputs drawn in [0.5, 1.5] (log, pow, div's denominator). */
  domain?: 'positive';
  build: (g: Graph, xs: NodeId[]) => NodeId;
}

const c = (name: string, shapes: number[][], build: OpCase['build'], domain?: 'positive'): OpCase =>
  domain ? { name, shapes, build, domain } : { name, shapes, build };

export const OP_CASES: Record<Op, OpCase[]> = {
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


/**
 * The closed set of primitive operations of the tensor graph, and the one table that says, for
 * each, its arity, how its output shape follows from its inputs, and whether it is linear.
 *
 * Everything else (sigmoid, relu, sqrt, mean, dot, …) is composed from these in
 * `composites.ts`. A new primitive needs a reason (numerical stability or a linear structural
 * op); adding one to `Op` makes the type checker name every other table that needs a row:
 * the JVP rules (`ad/jvp.ts`), the transpose rules for linear ops (`ad/transpose.ts`), the batch
 * rules (`ad/vmap.ts`), the runtime (`runtime/compile.ts`), the printer and the AD test cases.
 *
 * Shapes are static: `number[]`, row-major, `[]` for a scalar.
 */
import { broadcastShapes, sizeOf, shapeStr } from './shape.ts';

export type UnaryOp = 'neg' | 'exp' | 'log' | 'sin' | 'cos' | 'tanh' | 'erf' | 'softplus' | 'sign';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow';
export type StructOp = 'broadcast' | 'sum' | 'reshape' | 'transpose' | 'slice' | 'pad' | 'concat';
export type LeafOp = 'input' | 'const' | 'literal';
export type Op = LeafOp | UnaryOp | BinaryOp | StructOp | 'matmul';

export const UNARY_OPS: readonly UnaryOp[] = ['neg', 'exp', 'log', 'sin', 'cos', 'tanh', 'erf', 'softplus', 'sign'];
export const BINARY_OPS: readonly BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow'];

/** What an input node stands for; all are bound to arrays when a plan runs. */
export type InputRole = 'param' | 'data' | 'var' | 'tangent' | 'cotangent';

/**
 * Attributes of a node. Only the fields that its op uses are set (see `OP_INFO[op].attrs`).
 * Attributes are part of a node's identity for hash-consing.
 */
export interface Attrs {
  /** input: the name (unique per role) and role. */
  name?: string;
  role?: InputRole;
  /** const: the value of every element. */
  value?: number;
  /** literal: the row-major data, and a key that identifies it (content hash). */
  data?: Float64Array;
  key?: string;
  /** broadcast, reshape, pad: the output shape. */
  shape?: number[];
  /** sum: the axes reduced (sorted, distinct, in range). */
  axes?: number[];
  /** transpose: output axis i is input axis perm[i]. */
  perm?: number[];
  /** slice: [starts[i], ends[i]) along every axis; pad: the zeros before each axis. */
  starts?: number[];
  ends?: number[];
  /** concat: the axis joined along. */
  axis?: number;
}

/**
 * How an op depends on its inputs, for the transpose of a linearized graph:
 *  - `none`: not linear in any input (or a leaf);
 *  - `all`: jointly linear in all its inputs (add, sub, neg and the structural ops);
 *  - `each`: linear in each input separately when the others are held fixed (mul, div in its
 *    numerator, matmul). In a JVP graph only one input of such a node ever carries a tangent.
 */
export type Linearity = 'none' | 'all' | 'each';

export interface OpInfo {
  /** Number of inputs; -1 for variadic (concat). */
  arity: number;
  linearity: Linearity;
  /** False for ops with a discontinuous derivative (sign): results assuming smoothness say so. */
  smooth: boolean;
  /** Output shape from input shapes and attributes; throws ShapeError on a mismatch. */
  shape: (inputs: number[][], a: Attrs) => number[];
}

export class ShapeError extends Error {}

const same = (inputs: number[][]) => inputs[0]!.slice();
const elementwise = (inputs: number[][]) => broadcastShapes(inputs[0]!, inputs[1]!);
const leaf = (_: number[][], a: Attrs) => {
  if (!a.shape) throw new ShapeError('a leaf needs a shape');
  return a.shape.slice();
};

function matmulShape([a, b]: number[][]): number[] {
  if (a!.length < 2 || b!.length < 2)
    throw new ShapeError(`matmul needs matrices, got ${shapeStr(a!)} and ${shapeStr(b!)}`);
  const [m, k1] = a!.slice(-2) as [number, number];
  const [k2, n] = b!.slice(-2) as [number, number];
  if (k1 !== k2)
    throw new ShapeError(`cannot multiply ${shapeStr(a!)} by ${shapeStr(b!)}: inner sizes ${k1} and ${k2} differ`);
  const batch = broadcastShapes(a!.slice(0, -2), b!.slice(0, -2));
  return [...batch, m, n];
}

function broadcastTo([x]: number[][], a: Attrs): number[] {
  const target = a.shape!;
  const joined = broadcastShapes(x!, target);
  if (joined.length !== target.length || joined.some((d, i) => d !== target[i]))
    throw new ShapeError(`cannot broadcast ${shapeStr(x!)} to ${shapeStr(target)}`);
  return target.slice();
}

function sumShape([x]: number[][], a: Attrs): number[] {
  const axes = a.axes!;
  for (const ax of axes)
    if (!Number.isInteger(ax) || ax < 0 || ax >= x!.length)
      throw new ShapeError(`axis ${ax} is out of range for shape ${shapeStr(x!)}`);
  return x!.filter((_, i) => !axes.includes(i));
}

function reshapeShape([x]: number[][], a: Attrs): number[] {
  if (sizeOf(x!) !== sizeOf(a.shape!))
    throw new ShapeError(`cannot reshape ${shapeStr(x!)} (${sizeOf(x!)} elements) to ${shapeStr(a.shape!)}`);
  return a.shape!.slice();
}

function transposeShape([x]: number[][], a: Attrs): number[] {
  const perm = a.perm!;
  if (perm.length !== x!.length || [...perm].sort((p, q) => p - q).some((p, i) => p !== i))
    throw new ShapeError(`[${perm}] is not a permutation of the ${x!.length} axes of ${shapeStr(x!)}`);
  return perm.map((p) => x![p]!);
}

function sliceShape([x]: number[][], a: Attrs): number[] {
  const { starts, ends } = a;
  if (starts!.length !== x!.length || ends!.length !== x!.length)
    throw new ShapeError(`slice needs a range for each of the ${x!.length} axes`);
  return x!.map((d, i) => {
    const lo = starts![i]!, hi = ends![i]!;
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && 0 <= lo && lo <= hi && hi <= d))
      throw new ShapeError(`range ${lo}:${hi} is out of bounds for an axis of size ${d}`);
    return hi - lo;
  });
}

function padShape([x]: number[][], a: Attrs): number[] {
  const out = a.shape!, before = a.starts!;
  if (out.length !== x!.length || before.length !== x!.length)
    throw new ShapeError(`pad needs an offset for each of the ${x!.length} axes`);
  x!.forEach((d, i) => {
    if (before[i]! < 0 || before[i]! + d > out[i]!)
      throw new ShapeError(`cannot place ${shapeStr(x!)} at [${before}] in ${shapeStr(out)}`);
  });
  return out.slice();
}

function concatShape(inputs: number[][], a: Attrs): number[] {
  const axis = a.axis!;
  const first = inputs[0]!;
  if (axis < 0 || axis >= first.length) throw new ShapeError(`concat axis ${axis} out of range`);
  let total = 0;
  for (const s of inputs) {
    if (s.length !== first.length || s.some((d, i) => i !== axis && d !== first[i]))
      throw new ShapeError(`cannot join ${shapeStr(first)} and ${shapeStr(s)} along axis ${axis}`);
    total += s[axis]!;
  }
  const out = first.slice();
  out[axis] = total;
  return out;
}

const unary = (smooth = true): OpInfo => ({ arity: 1, linearity: 'none', smooth, shape: same });

/** The one table of primitive ops. */
export const OP_INFO: Record<Op, OpInfo> = {
  input: { arity: 0, linearity: 'none', smooth: true, shape: leaf },
  const: { arity: 0, linearity: 'none', smooth: true, shape: leaf },
  literal: { arity: 0, linearity: 'none', smooth: true, shape: leaf },
  neg: { arity: 1, linearity: 'all', smooth: true, shape: same },
  exp: unary(),
  log: unary(),
  sin: unary(),
  cos: unary(),
  tanh: unary(),
  erf: unary(),
  softplus: unary(),
  sign: unary(false),
  add: { arity: 2, linearity: 'all', smooth: true, shape: elementwise },
  sub: { arity: 2, linearity: 'all', smooth: true, shape: elementwise },
  mul: { arity: 2, linearity: 'each', smooth: true, shape: elementwise },
  div: { arity: 2, linearity: 'each', smooth: true, shape: elementwise },
  pow: { arity: 2, linearity: 'none', smooth: true, shape: elementwise },
  broadcast: { arity: 1, linearity: 'all', smooth: true, shape: broadcastTo },
  sum: { arity: 1, linearity: 'all', smooth: true, shape: sumShape },
  reshape: { arity: 1, linearity: 'all', smooth: true, shape: reshapeShape },
  transpose: { arity: 1, linearity: 'all', smooth: true, shape: transposeShape },
  slice: { arity: 1, linearity: 'all', smooth: true, shape: sliceShape },
  pad: { arity: 1, linearity: 'all', smooth: true, shape: padShape },
  concat: { arity: -1, linearity: 'all', smooth: true, shape: concatShape },
  matmul: { arity: 2, linearity: 'each', smooth: true, shape: matmulShape },
};

export const isUnary = (op: Op): op is UnaryOp => (UNARY_OPS as readonly Op[]).includes(op);
export const isBinary = (op: Op): op is BinaryOp => (BINARY_OPS as readonly Op[]).includes(op);

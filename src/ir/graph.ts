/**
 * The tensor graph: a hash-consed DAG of primitive ops (see `ops.ts`).
 *
 * Invariants:
 *  - a node is an integer id; its op, inputs, attributes and shape never change;
 *  - inputs always have smaller ids than the node (ids are a topological order);
 *  - two requests for the same (op, inputs, attributes) return the same id, so common
 *    subexpressions are shared, including between a model and its derivative graphs, which all
 *    live in the same `Graph`;
 *  - the smart constructors (`add`, `mul`, …) simplify as they build: constant folding,
 *    identities (x+0, x·1, x^1, reshape to the same shape, …) and symbolic zeros (a `const` 0
 *    of any shape) that make derivative graphs small. `node()` builds without simplifying.
 */
import { PRIMITIVES, isBinary, isUnary, unreachable, type Attrs, type BinaryOp, type InputRole, type Op, type UnaryOp } from './ops.ts';
import { foldSym, provenanceKey, symMul, symNeg, symPow, type Provenance } from './symbols.ts';
import { ShapeError, broadcastAxes, broadcastShapes, sameShape, shapeStr, sizeOf } from './shape.ts';
import { getHeapStatistics } from 'node:v8';
import { budgetSource, fmtBytes, memoryBudget, MemoryError } from '../io/memory.ts';

/**
 * JavaScript heap per graph node, an upper estimate: the node's arrays and memo key (≈ 0.4 kB
 * measured on the kernels of examples/deep.ntk), with the plan and rewrites built from it
 * (≈ 0.85 kB per node at the peak: K^(7) of deep.ntk, 79 k nodes, ran in a 96 MB heap and not
 * in 48 MB).
 */
export const GRAPH_BYTES_PER_NODE = 1024;
/** How often (in nodes) `Graph.node` compares the graph's size with the budget. */
const GRAPH_CHECK_EVERY = 4096;

/**
 * The graph grew past what the memory budget allows (its nodes live in V8's heap, whose
 * overflow would crash the process): the message names the size; callers that know what was
 * being built (a kernel's order and slice) rethrow it with what to try.
 */
export class GraphSizeError extends MemoryError {}

/**
 * The most nodes a graph may have: the memory budget (--max-memory, or half the available
 * memory) and three quarters of V8's heap limit, whichever is lower, at GRAPH_BYTES_PER_NODE a node.
 */
export function graphNodeLimit(): number {
  const heap = 0.75 * getHeapStatistics().heap_size_limit;
  return Math.floor(Math.min(memoryBudget(), heap) / GRAPH_BYTES_PER_NODE);
}

/**
 * A node of a `Graph`: its index, in creation order (inputs before their users).
 */
export type NodeId = number;

function keyOfNumber(v: number): string {
  return Object.is(v, -0) ? '-0' : String(v);
}

function attrsKey(a: Attrs): string {
  let k = '';
  if (a.name !== undefined) k += `n${a.name}|r${a.role}|`;
  if (a.value !== undefined) k += `v${keyOfNumber(a.value)}|`;
  if (a.sym !== undefined) k += `y${provenanceKey(a.sym)}|`;
  if (a.key !== undefined) k += `k${a.key}|`;
  if (a.shape) k += `s${a.shape.join(',')}|`;
  if (a.axes) k += `a${a.axes.join(',')}|`;
  if (a.perm) k += `p${a.perm.join(',')}|`;
  if (a.starts) k += `b${a.starts.join(',')}|`;
  if (a.ends) k += `e${a.ends.join(',')}|`;
  if (a.axis !== undefined) k += `x${a.axis}|`;
  return k;
}

/** FNV-1a over the bytes of a Float64Array: the identity of a literal for hash-consing. */
function hashData(data: Float64Array): string {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let h1 = 0x811c9dc5, h2 = 0x01000193 ^ bytes.length;
  for (let i = 0; i < bytes.length; i++) {
    h1 = Math.imul(h1 ^ bytes[i]!, 0x01000193);
    h2 = Math.imul(h2 ^ bytes[i]!, 0x5bd1e995);
  }
  return `${(h1 >>> 0).toString(16)}${(h2 >>> 0).toString(16)}:${data.length}`;
}

/** A graph error that names the op and the shapes, for the elaborator to locate. */
export class GraphShapeError extends ShapeError {}

/**
 * The hash-consed tensor graph of a model and of all its derivatives: each node an op, its
 * inputs and attributes, with its shape; building a node that exists returns the existing one.
 * @example const g = model.graph; g.shape(model.output)   // [k]
 */
export class Graph {
  readonly ops: Op[] = [];
  readonly inputsOf: NodeId[][] = [];
  readonly attrsOf: Attrs[] = [];
  readonly shapes: number[][] = [];
  private readonly memo = new Map<string, NodeId>();
  private freshCounter = 0;
  /**
   * A lower node limit for a probe (`kernelTensor` checking whether a slice it would suggest
   * fits): past it `node` throws GraphSizeError as past the budget. Infinity otherwise.
   */
  probeLimit = Infinity;
  /** Told the node count every few thousand new nodes (a long derivation's progress), or null. */
  onGrow: ((size: number) => void) | null = null;

  get size(): number {
    return this.ops.length;
  }

  op(id: NodeId): Op {
    return this.ops[id]!;
  }
  args(id: NodeId): NodeId[] {
    return this.inputsOf[id]!;
  }
  attrs(id: NodeId): Attrs {
    return this.attrsOf[id]!;
  }
  shape(id: NodeId): number[] {
    return this.shapes[id]!;
  }
  sizeOf(id: NodeId): number {
    return sizeOf(this.shapes[id]!);
  }

  /** Builds (or finds) a node without simplification; checks arity and shapes. */
  node(op: Op, inputs: NodeId[], attrs: Attrs = {}): NodeId {
    const info = PRIMITIVES[op];
    if (info.arity >= 0 && inputs.length !== info.arity)
      throw new Error(`internal: ${op} takes ${info.arity} inputs, got ${inputs.length}`);
    const key = `${op}(${inputs.join(',')})${attrsKey(attrs)}`;
    const found = this.memo.get(key);
    if (found !== undefined) return found;
    const shape = info.shape(inputs.map((i) => this.shapes[i]!), attrs);
    const id = this.ops.length;
    if (id % GRAPH_CHECK_EVERY === 0 && id > 0) {
      this.onGrow?.(id);
      const limit = Math.min(graphNodeLimit(), this.probeLimit);
      if (id >= limit) {
        const heap = getHeapStatistics().heap_size_limit;
        const bound = memoryBudget() <= 0.75 * heap ? `${budgetSource()}, ${fmtBytes(memoryBudget())}` : `three quarters of the JavaScript heap's limit, ${fmtBytes(heap)}`;
        throw new GraphSizeError(`the graph of this computation reached ${id} nodes, about ${fmtBytes(id * GRAPH_BYTES_PER_NODE)} of JavaScript heap at ${GRAPH_BYTES_PER_NODE / 1024} kB a node: the most that ${bound}, allows`);
      }
    }
    this.ops.push(op);
    this.inputsOf.push(inputs);
    this.attrsOf.push(attrs);
    this.shapes.push(shape);
    this.memo.set(key, id);
    return id;
  }

  // ------------------------------------------------------------------ leaves

  /** An input bound at run time: a parameter, a data array, a loss variable or a tangent. */
  input(name: string, role: InputRole, shape: number[]): NodeId {
    return this.node('input', [], { name, role, shape: shape.slice() });
  }

  /** A new input whose name is unique in this graph (tangents and cotangents of AD). */
  fresh(role: InputRole, shape: number[], stem = role[0]!): NodeId {
    return this.input(`${stem}#${this.freshCounter++}`, role, shape);
  }

  /**
   * A tensor of the given shape with every element equal to `value`; `sym`, where the value came
   * from (a monomial in named consts, for printing: `ir/symbols.ts`), makes it a node of its own.
   */
  constant(value: number, shape: number[] = [], sym?: Provenance): NodeId {
    return this.node('const', [], sym ? { value, shape: shape.slice(), sym } : { value, shape: shape.slice() });
  }

  /** The provenance of a `const` node (undefined for plain numbers and other nodes). */
  symOf(id: NodeId): Provenance {
    return this.ops[id] === 'const' ? this.attrsOf[id]!.sym : undefined;
  }

  zeros(shape: number[]): NodeId {
    return this.constant(0, shape);
  }

  /** A tensor with explicit row-major data; identical data gives the same node. */
  literal(data: Float64Array, shape: number[]): NodeId {
    if (data.length !== sizeOf(shape))
      throw new Error(`internal: literal of ${data.length} values for shape ${shapeStr(shape)}`);
    let allSame = data.length > 0;
    for (let i = 1; i < data.length && allSame; i++) allSame = Object.is(data[i], data[0]);
    if (allSame) return this.constant(data[0]!, shape);
    return this.node('literal', [], { data, key: hashData(data), shape: shape.slice() });
  }

  // ------------------------------------------------------------------ queries used by the simplifier

  /** The value of a `const` node, or undefined. */
  constValue(id: NodeId): number | undefined {
    return this.ops[id] === 'const' ? this.attrsOf[id]!.value : undefined;
  }
  isZero(id: NodeId): boolean {
    return this.constValue(id) === 0;
  }
  isConst(id: NodeId, v: number): boolean {
    return this.constValue(id) === v;
  }

  // ------------------------------------------------------------------ elementwise

  unary(op: UnaryOp, x: NodeId): NodeId {
    const c = this.constValue(x);
    if (c !== undefined) {
      const v = foldUnary(op, c);
      if (Number.isFinite(v) || !Number.isFinite(c)) return this.constant(v, this.shape(x), op === 'neg' ? symNeg(this.symOf(x)) : undefined);
    }
    if (op === 'neg' && this.ops[x] === 'neg') return this.inputsOf[x]![0]!;
    return this.node(op, [x]);
  }
  neg(x: NodeId) { return this.unary('neg', x); }
  exp(x: NodeId) { return this.unary('exp', x); }
  log(x: NodeId) { return this.unary('log', x); }
  sin(x: NodeId) { return this.unary('sin', x); }
  cos(x: NodeId) { return this.unary('cos', x); }
  tanh(x: NodeId) { return this.unary('tanh', x); }
  erf(x: NodeId) { return this.unary('erf', x); }
  softplus(x: NodeId) { return this.unary('softplus', x); }
  sign(x: NodeId) { return this.unary('sign', x); }

  /** The shape of an elementwise combination (numpy broadcasting). */
  joinShape(a: NodeId, b: NodeId): number[] {
    try {
      return broadcastShapes(this.shape(a), this.shape(b));
    } catch {
      throw new GraphShapeError(`shapes ${shapeStr(this.shape(a))} and ${shapeStr(this.shape(b))} do not broadcast`);
    }
  }

  binary(op: BinaryOp, a: NodeId, b: NodeId): NodeId {
    const out = this.joinShape(a, b);
    const ca = this.constValue(a), cb = this.constValue(b);
    if (ca !== undefined && cb !== undefined) {
      const v = foldBinary(op, ca, cb);
      if (Number.isFinite(v)) return this.constant(v, out, foldSym(op, this.symOf(a), ca, this.symOf(b), cb));
    }
    switch (op) {
      case 'add':
        if (ca === 0) return this.broadcast(b, out);
        if (cb === 0) return this.broadcast(a, out);
        if (this.ops[b] === 'neg') return this.binary('sub', a, this.inputsOf[b]![0]!);
        break;
      case 'sub':
        if (cb === 0) return this.broadcast(a, out);
        if (ca === 0) return this.neg(this.broadcast(b, out));
        if (a === b) return this.zeros(out);
        if (this.ops[b] === 'neg') return this.binary('add', a, this.inputsOf[b]![0]!);
        break;
      case 'mul':
        if (ca === 0 || cb === 0) return this.zeros(out);
        // (a factor 1 or −1 that came from named consts, b/2 with b = 2, is kept for printing: 1·x = x exactly)
        if (ca === 1 && !this.symOf(a)) return this.broadcast(b, out);
        if (cb === 1 && !this.symOf(b)) return this.broadcast(a, out);
        if (ca === -1 && !this.symOf(a)) return this.neg(this.broadcast(b, out));
        if (cb === -1 && !this.symOf(b)) return this.neg(this.broadcast(a, out));
        // Constants to the left, so that c·x and x·c are one node.
        if (cb !== undefined && ca === undefined) return this.binary('mul', b, a);
        // c1·(c2·x) = (c1·c2)·x for scalar constants.
        if (ca !== undefined && this.sizeOf(a) === 1 && this.ops[b] === 'mul') {
          const [b0, b1] = this.inputsOf[b] as [NodeId, NodeId];
          const c2 = this.constValue(b0);
          if (c2 !== undefined && this.sizeOf(b0) === 1 && sameShape(out, this.shape(b)))
            return this.binary('mul', this.constant(ca * c2, [], symMul(this.symOf(a), ca, this.symOf(b0), c2)), b1);
        }
        break;
      case 'div':
        if (ca === 0) return this.zeros(out);
        if (cb === 1) return this.broadcast(a, out);
        if (cb !== undefined && cb !== 0 && this.sizeOf(b) === 1) return this.binary('mul', this.constant(1 / cb, [], symPow(this.symOf(b), -1)), a);
        break;
      case 'pow':
        if (cb === 0) return this.constant(1, out);
        if (cb === 1) return this.broadcast(a, out);
        break;
      default:
        unreachable(op);
    }
    return this.node(op, [a, b]);
  }
  add(a: NodeId, b: NodeId) { return this.binary('add', a, b); }
  sub(a: NodeId, b: NodeId) { return this.binary('sub', a, b); }
  mul(a: NodeId, b: NodeId) { return this.binary('mul', a, b); }
  div(a: NodeId, b: NodeId) { return this.binary('div', a, b); }
  pow(a: NodeId, b: NodeId) { return this.binary('pow', a, b); }

  /** Sum of several nodes of possibly different (broadcastable) shapes; zeros if empty. */
  addAll(terms: NodeId[], shape: number[]): NodeId {
    if (terms.length === 0) return this.zeros(shape);
    let acc = terms[0]!;
    for (let i = 1; i < terms.length; i++) acc = this.add(acc, terms[i]!);
    return this.broadcast(acc, shape);
  }

  // ------------------------------------------------------------------ structural

  broadcast(x: NodeId, shape: number[]): NodeId {
    const xs = this.shape(x);
    if (sameShape(xs, shape)) return x;
    const c = this.constValue(x);
    if (c !== undefined) {
      this.node('broadcast', [this.constant(0, xs)], { shape }); // validates the shapes
      return this.constant(c, shape, this.symOf(x));
    }
    if (this.ops[x] === 'broadcast') {
      const inner = this.inputsOf[x]![0]!;
      return this.node('broadcast', [inner], { shape: shape.slice() });
    }
    return this.node('broadcast', [x], { shape: shape.slice() });
  }

  /** Sum over `axes` (any order; negative counts from the end). */
  sum(x: NodeId, axes: number[]): NodeId {
    const xs = this.shape(x);
    const norm = [...new Set(axes.map((a) => (a < 0 ? a + xs.length : a)))].sort((p, q) => p - q);
    if (norm.length === 0) return x;
    const c = this.constValue(x);
    if (c !== undefined) {
      const out = this.node('sum', [this.constant(0, xs)], { axes: norm });
      let count = 1;
      for (const a of norm) count *= xs[a]!;
      return this.constant(c * count, this.shape(out), symMul(this.symOf(x), c, undefined, count));
    }
    // Summing away axes of size 1 is a reshape.
    if (norm.every((a) => xs[a] === 1)) return this.reshape(x, xs.filter((_, i) => !norm.includes(i)));
    return this.node('sum', [x], { axes: norm });
  }

  /** Sum over every axis: a scalar. */
  sumAll(x: NodeId): NodeId {
    return this.sum(x, this.shape(x).map((_, i) => i));
  }

  /** Undo a numpy broadcast: sum `x` down to `shape` (which must broadcast to x's shape). */
  sumTo(x: NodeId, shape: number[]): NodeId {
    const xs = this.shape(x);
    if (sameShape(xs, shape)) return x;
    return this.reshape(this.sum(x, broadcastAxes(shape, xs)), shape);
  }

  reshape(x: NodeId, shape: number[]): NodeId {
    const xs = this.shape(x);
    if (sameShape(xs, shape)) return x;
    const c = this.constValue(x);
    if (c !== undefined) {
      if (sizeOf(xs) !== sizeOf(shape)) this.node('reshape', [x], { shape }); // throws
      return this.constant(c, shape, this.symOf(x));
    }
    if (this.ops[x] === 'reshape') return this.reshape(this.inputsOf[x]![0]!, shape);
    return this.node('reshape', [x], { shape: shape.slice() });
  }

  transpose(x: NodeId, perm: number[]): NodeId {
    if (perm.every((p, i) => p === i) && perm.length === this.shape(x).length) return x;
    const c = this.constValue(x);
    if (c !== undefined) return this.constant(c, this.shape(this.node('transpose', [this.zeros(this.shape(x))], { perm })), this.symOf(x));
    if (this.ops[x] === 'transpose') {
      const inner = this.attrs(x).perm!;
      return this.transpose(this.inputsOf[x]![0]!, perm.map((p) => inner[p]!));
    }
    // Moving only axes of size 1 keeps the row-major order of the values: a reshape, which
    // costs nothing at run time (it aliases its input), where a transpose copies.
    const xs = this.shape(x);
    const moved = perm.filter((p) => xs[p] !== 1);
    if (moved.every((p, i) => i === 0 || moved[i - 1]! < p)) return this.reshape(x, perm.map((p) => xs[p]!));
    return this.node('transpose', [x], { perm: perm.slice() });
  }

  /** Swap the last two axes (matrix transpose, batched). */
  swapLast(x: NodeId): NodeId {
    const r = this.shape(x).length;
    const perm = [...Array(r).keys()];
    [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
    return this.transpose(x, perm);
  }

  slice(x: NodeId, starts: number[], ends: number[]): NodeId {
    const xs = this.shape(x);
    if (starts.every((s) => s === 0) && ends.every((e, i) => e === xs[i]) && starts.length === xs.length) return x;
    const c = this.constValue(x);
    const id = this.node('slice', [c !== undefined ? this.zeros(xs) : x], { starts: starts.slice(), ends: ends.slice() });
    if (c !== undefined) return this.constant(c, this.shape(id), this.symOf(x));
    return id;
  }

  /** Zeros of `shape` with `x` placed at offsets `before`: the transpose of `slice`. */
  pad(x: NodeId, before: number[], shape: number[]): NodeId {
    if (this.isZero(x)) return this.zeros(shape);
    if (sameShape(this.shape(x), shape)) return x;
    return this.node('pad', [x], { starts: before.slice(), shape: shape.slice() });
  }

  concat(xs: NodeId[], axis: number): NodeId {
    if (xs.length === 1) return xs[0]!;
    return this.node('concat', xs, { axis });
  }

  /** numpy `matmul` on the last two axes, batch axes broadcast. */
  matmul(a: NodeId, b: NodeId): NodeId {
    if (this.isZero(a) || this.isZero(b)) {
      const probe = PRIMITIVES.matmul.shape([this.shape(a), this.shape(b)], {});
      return this.zeros(probe);
    }
    return this.node('matmul', [a, b]);
  }

  /**
   * Build `op(inputs)` through the simplifying constructors: the way transforms (AD, vmap)
   * re-emit a node with new inputs.
   */
  apply(op: Op, inputs: NodeId[], a: Attrs): NodeId {
    if (isUnary(op)) return this.unary(op, inputs[0]!);
    if (isBinary(op)) return this.binary(op, inputs[0]!, inputs[1]!);
    switch (op) {
      case 'input':
      case 'const':
      case 'literal':
        return this.node(op, [], a);
      case 'broadcast': return this.broadcast(inputs[0]!, a.shape!);
      case 'sum': return this.sum(inputs[0]!, a.axes!);
      case 'reshape': return this.reshape(inputs[0]!, a.shape!);
      case 'transpose': return this.transpose(inputs[0]!, a.perm!);
      case 'slice': return this.slice(inputs[0]!, a.starts!, a.ends!);
      case 'pad': return this.pad(inputs[0]!, a.starts!, a.shape!);
      case 'concat': return this.concat(inputs, a.axis!);
      case 'matmul': return this.matmul(inputs[0]!, inputs[1]!);
      default: {
        const never: never = op;
        throw new Error(`internal: no constructor for ${never as string}`);
      }
    }
  }

  /**
   * The readers of each node among `nodes`, in their order, each reader once per node it reads
   * (however many of its arguments it is). Linear: lists are appended to, never copied.
   * @example g.readersIn(g.cone([out])).get(x)   // the nodes of the cone that read x
   */
  readersIn(nodes: readonly NodeId[]): Map<NodeId, NodeId[]> {
    const readers = new Map<NodeId, NodeId[]>();
    for (const n of nodes)
      for (const a of new Set(this.args(n))) {
        const r = readers.get(a);
        if (r) r.push(n);
        else readers.set(a, [n]);
      }
    return readers;
  }

  /** The nodes that `roots` depend on (including them), in topological (id) order. */
  cone(roots: NodeId[]): NodeId[] {
    const seen = new Uint8Array(this.size);
    const stack = [...roots];
    while (stack.length) {
      const n = stack.pop()!;
      if (seen[n]) continue;
      seen[n] = 1;
      for (const i of this.inputsOf[n]!) if (!seen[i]) stack.push(i);
    }
    const out: NodeId[] = [];
    for (let i = 0; i < seen.length; i++) if (seen[i]) out.push(i);
    return out;
  }

  /**
   * The cone of `roots` rebuilt bottom-up. `seed` maps nodes to their replacements (a
   * substitution); every other node with inputs is `rule(n, ins)` given its rebuilt inputs, or,
   * where the rule returns undefined, n itself when no input changed and the same op on `ins`
   * otherwise (so the graph's simplifications apply to what changed).
   * @example
   *   const [y2] = g.rewrite([y], new Map([[x, z]]));               // y with x replaced by z
   *   g.rewrite([y], new Map(), (n, ins) => g.op(n) === 'neg' ? ins[0] : undefined);
   */
  rewrite(roots: NodeId[], seed: ReadonlyMap<NodeId, NodeId> = new Map(), rule?: (n: NodeId, ins: NodeId[]) => NodeId | undefined): NodeId[] {
    const map = new Map(seed);
    for (const n of this.cone(roots)) {
      if (map.has(n)) continue;
      const args = this.inputsOf[n]!;
      if (args.length === 0) {
        map.set(n, n);
        continue;
      }
      const ins = args.map((a) => map.get(a)!);
      const out = rule?.(n, ins);
      map.set(n, out ?? (ins.every((x, i) => x === args[i]) ? n : this.apply(this.ops[n]!, ins, this.attrsOf[n]!)));
    }
    return roots.map((r) => map.get(r)!);
  }

  /** Does any node in the cone of `roots` use a non-smooth op (sign)? */
  hasNonSmooth(roots: NodeId[]): boolean {
    return this.cone(roots).some((n) => !PRIMITIVES[this.ops[n]!].smooth);
  }
}

/** Constant folding of unary ops: the registry's scalar function, which the kernels run too. */
export function foldUnary(op: UnaryOp, x: number): number {
  return PRIMITIVES[op].scalar.f(x);
}

/** Constant folding of binary ops (pow with the kernels' fast paths). */
export function foldBinary(op: BinaryOp, a: number, b: number): number {
  return PRIMITIVES[op].f(a, b);
}

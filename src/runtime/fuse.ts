/**
 * Elementwise fusion: a chain of elementwise nodes (unary, binary, broadcast, constants) that
 * feeds one consumer is computed in one loop, without writing the intermediates to memory. The
 * root of a cluster may also be a `sum` over some axes of an elementwise body (a fused reduction).
 *
 * Why: the gradient of a network is mostly elementwise work on [n, m] arrays (σ(z), σ'(z), the
 * products with a and with the cotangent); one pass per op reads and writes every intermediate,
 * so the run time is memory traffic and per-call overhead, not arithmetic. One generated loop
 * per cluster reads each leaf once and writes the root once.
 *
 * A cluster is chosen on the graph (`findClusters`) and compiled to a JavaScript function
 * specialized to its shapes (`fusedProgram`, then `programKernel`): nested loops over the
 * output's coalesced axes, one pointer per leaf advancing by the leaf's broadcast stride, the
 * members' values as local constants. The arithmetic of every op is the reference kernel's (`kernels-js.ts`), scalar by
 * scalar, so a fused plan agrees with the unfused one up to rounding in `pow`'s fast paths and in
 * the order of summation.
 *
 * Invariants of a cluster (checked by `findClusters`):
 *  - every member other than the root has the root body's shape, is used only by members, is not
 *    a plan output, and is in the same phase (fixed/varying) as the root;
 *  - a leaf (a value read from a buffer) broadcasts to the body's shape;
 *  - constants are inlined as literals: never members, never leaves.
 */
import type { Graph, NodeId } from '../ir/graph.ts';
import { PRIMITIVES, SCALAR_FUNCTIONS, isBinary, isUnary, unaryCode, type BinaryOp, type Op, type UnaryOp } from '../ir/ops.ts';
import { stridesOf } from '../ir/shape.ts';
import { broadcastStrides, coalesce } from './kernels-js.ts';

export interface Cluster {
  /** The members in topological order; the last is the root. */
  members: NodeId[];
  /** The values read from buffers, in the order the kernel takes them. */
  leaves: NodeId[];
  /** The shape the elementwise body is computed over (the root's, or the summed input's). */
  bodyShape: number[];
  /**
   * Members that nodes outside the cluster read too: broadcasts (only a stride-0 read of their
   * input) and cheap affine maps (`recomputable`), with what they read through; recomputed
   * here, and still materialized unless every reader is a cluster that holds them (compile.ts).
   */
  shared: NodeId[];
}

/** A binary max-heap of nodes keyed by their schedule position (equal keys in any order). */
class MaxHeap {
  private keys: number[] = [];
  private vals: NodeId[] = [];
  push(key: number, val: NodeId): void {
    const k = this.keys, v = this.vals;
    let i = k.length;
    k.push(key);
    v.push(val);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (k[p]! >= key) break;
      k[i] = k[p]!;
      v[i] = v[p]!;
      i = p;
    }
    k[i] = key;
    v[i] = val;
  }
  pop(): NodeId | undefined {
    const k = this.keys, v = this.vals;
    if (k.length === 0) return undefined;
    const top = v[0]!;
    const key = k.pop()!, val = v.pop()!;
    const n = k.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && k[c + 1]! > k[c]!) c++;
        if (k[c]! <= key) break;
        k[i] = k[c]!;
        v[i] = v[c]!;
        i = c;
      }
      k[i] = key;
      v[i] = val;
    }
    return top;
  }
}

/** Ops a cluster may contain besides its root (constants are not members: they are inlined). */
const isElementwise = (op: Op) => isUnary(op) || isBinary(op) || op === 'broadcast';

/**
 * A member cheap enough to recompute in every cluster that reads it rather than write it to
 * memory and read it back: a negation, or an add / sub / mul with a constant (an affine map, one
 * flop per element). W2's σ = 0.5 + 0.5·tanh(…) is read by two reductions; recomputed in both,
 * its [64, 1024] pass disappears.
 */
function recomputable(g: Graph, n: NodeId): boolean {
  const op = g.op(n);
  if (op === 'neg') return true;
  return (op === 'add' || op === 'sub' || op === 'mul') && g.args(n).some((a) => g.op(a) === 'const');
}

/**
 * Clusters of the nodes of `schedule` (topological order). A cluster is returned only when it
 * saves at least one pass over memory (two or more non-constant members).
 *
 * @param uses    number of readers of each node within the plan
 * @param outputs nodes whose values must be materialized (plan outputs, inputs of other phases)
 * @param phase   a key per node; members share their root's
 * @param apart   nodes kept out of every cluster: ops the backend computes faster over a whole
 *                array (a vectorized exp or tanh) than the generated loop's scalar call per element
 */
export function findClusters(
  g: Graph, schedule: readonly NodeId[], uses: ReadonlyMap<NodeId, number>,
  outputs: ReadonlySet<NodeId>, phase: (n: NodeId) => boolean, apart: (n: NodeId) => boolean = () => false,
): Cluster[] {
  const position = new Map(schedule.map((n, i) => [n, i]));
  const readers = g.readersIn(schedule);
  const taken = new Set<NodeId>();
  // shared members → the members of every cluster that recomputes them
  const heldBy = new Map<NodeId, Set<NodeId>>();
  const clusters: Cluster[] = [];
  for (let i = schedule.length - 1; i >= 0; i--) {
    const root = schedule[i]!;
    const op = g.op(root);
    if (taken.has(root) || apart(root) || !(isUnary(op) || isBinary(op) || op === 'sum')) continue;
    // recomputed by every cluster that reads it: nothing left to materialize
    const held = heldBy.get(root);
    if (held && !outputs.has(root) && (readers.get(root) ?? []).every((r) => held.has(r))) continue;
    const bodyShape = op === 'sum' ? g.shape(g.args(root)[0]!) : g.shape(root);
    const members = new Set<NodeId>([root]);
    const shared = new Set<NodeId>();
    // args of shared members: recomputed wherever those are, so shared themselves if they join
    const underShared = new Set<NodeId>();
    // Users counted inside the cluster; a candidate joins once all its users are members.
    const inside = new Map<NodeId, number>();
    // the candidates, latest first: a max-heap on the schedule position (a linear scan for the
    // latest was quadratic in a long chain: `w + w + … + w` with 15,000 terms took 11 s here)
    const candidates = new MaxHeap();
    const visit = (n: NodeId) => {
      for (const a of new Set(g.args(n))) {
        if (g.op(a) === 'const') continue;
        const times = g.args(n).filter((x) => x === a).length;
        inside.set(a, (inside.get(a) ?? 0) + times);
        const p = position.get(a);
        if (p !== undefined) candidates.push(p, a);
      }
    };
    visit(root);
    // Members are added latest-first, so every user of a candidate that could join already has.
    for (;;) {
      const a = candidates.pop();
      if (a === undefined) break;
      if (members.has(a) || taken.has(a)) continue;
      const aop = g.op(a);
      // a broadcast joins even when others read it too: it costs nothing inside a loop, and
      // reading its (smaller) input instead saves a materialized array
      const joins =
        isElementwise(aop) &&
        !apart(a) &&
        sameShape(g.shape(a), bodyShape) &&
        !outputs.has(a) &&
        phase(a) === phase(root) &&
        (inside.get(a) === uses.get(a) || aop === 'broadcast' || recomputable(g, a));
      if (!joins) continue;
      members.add(a);
      if (inside.get(a) !== uses.get(a) || underShared.has(a)) {
        shared.add(a);
        for (const x of g.args(a)) underShared.add(x);
      }
      visit(a);
    }
    const ordered = [...members].sort((x, y) => position.get(x)! - position.get(y)!);
    const work = ordered.filter((n) => g.op(n) !== 'broadcast').length;
    if (work < 2) continue;
    const leafSet = new Set<NodeId>();
    for (const n of ordered) for (const a of g.args(n)) if (!members.has(a) && g.op(a) !== 'const') leafSet.add(a);
    const leaves = [...leafSet];
    for (const n of ordered) if (!shared.has(n)) taken.add(n);
    for (const n of shared) {
      const set = heldBy.get(n) ?? new Set<NodeId>();
      for (const m of ordered) set.add(m);
      heldBy.set(n, set);
    }
    clusters.push({ members: ordered, leaves, bodyShape: [...bodyShape], shared: [...shared] });
  }
  return clusters;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A JavaScript literal that evaluates to exactly `v`. */
function literal(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '(-Infinity)';
  if (Object.is(v, -0)) return '(-0)';
  return v < 0 ? `(${String(v)})` : String(v);
}

export type FusedKernel = (ins: readonly Float64Array[], out: Float64Array) => void;

/** A value inside a fused body: a leaf (by index), a constant, or an earlier step's result. */
export type FusedRef = { leaf: number } | { value: number } | { step: number };

/**
 * A cluster as a backend-neutral loop program, for backends that compile their own kernels
 * (`Backend.fused`): the loop nest over `dims` (coalesced, outermost first, at least one axis),
 * operand o's offset advancing by `strides[o][axis]` elements per step on each axis (o = 0 the
 * output, o = j + 1 leaf j), and the body's steps in order. A step applies an op to its
 * arguments exactly as the generated JS loop does (`pow` only with a constant exponent, whose
 * fast paths the backend must repeat). `result` is the root's value at an element; for a sum
 * (`sum: true`) the output starts at zero and each element's `result` is added to
 * out[offset] in loop order — except along an innermost axis that is summed, in a loop of two or
 * more axes (`innerLanes`): there the row's first 4·⌊D/4⌋ values go to four partial sums
 * a_q (q = index mod 4, each in order), added to the output as ((a0 + a2) + (a1 + a3)), then
 * the last D mod 4 values one by one. One accumulator is a chain of dependent adds (W2's row
 * sums of [64, 1024] took 94 µs, latency-bound); four run side by side. A one-axis loop keeps
 * the plain order: the backend streams its only axis in chunks, and the sum must not depend on
 * where they fall.
 */
export interface FusedProgram {
  dims: number[];
  strides: number[][];
  /** Elements of each leaf's buffer, and of the output. */
  leafSizes: number[];
  outSize: number;
  sum: boolean;
  steps: { op: UnaryOp | BinaryOp; args: FusedRef[] }[];
  result: FusedRef;
}

/**
 * Whether the program sums along its innermost axis with four partial sums (see FusedProgram):
 * a sum, over two or more axes, whose output does not move along the innermost one.
 */
export function innerLanes(p: Pick<FusedProgram, 'sum' | 'dims' | 'strides'>): boolean {
  return p.sum && p.dims.length > 1 && p.strides[0]![p.dims.length - 1] === 0;
}

/** The loop nest of a cluster: coalesced dims and the strides of the output and each leaf. */
function loopNest(g: Graph, cluster: Cluster): { dims: number[]; strides: number[][]; isSum: boolean } {
  const { members, leaves, bodyShape } = cluster;
  const root = members[members.length - 1]!;
  const isSum = g.op(root) === 'sum';
  let outStrides: number[];
  if (isSum) {
    const axes = new Set(g.attrs(root).axes!);
    const kept = stridesOf(g.shape(root));
    let k = 0;
    outStrides = bodyShape.map((_, i) => (axes.has(i) ? 0 : kept[k++]!));
  } else {
    outStrides = stridesOf(bodyShape);
  }
  const { dims, strides } = coalesce(bodyShape, [outStrides, ...leaves.map((l) => broadcastStrides(g.shape(l), bodyShape))]);
  if (dims.length === 0) dims.push(1), strides.forEach((s) => s.push(0));
  return { dims, strides, isSum };
}

/**
 * The cluster's `FusedProgram`: the loop nest and the body's steps, from which `programKernel`
 * generates the JS loop and a backend (`Backend.fused`) its own.
 * @example fusedProgram(g, cluster).steps.map((s) => s.op) // e.g. ['mul', 'sub', 'mul']
 */
export function fusedProgram(g: Graph, cluster: Cluster): FusedProgram {
  const { members, leaves } = cluster;
  const root = members[members.length - 1]!;
  const { dims, strides, isSum } = loopNest(g, cluster);
  const refs = new Map<NodeId, FusedRef>();
  leaves.forEach((l, j) => refs.set(l, { leaf: j }));
  const ref = (x: NodeId): FusedRef => (g.op(x) === 'const' ? { value: g.attrs(x).value! } : refs.get(x)!);
  const steps: FusedProgram['steps'] = [];
  let result: FusedRef | null = null;
  for (const n of members) {
    const op = g.op(n);
    if (op === 'broadcast') {
      refs.set(n, ref(g.args(n)[0]!));
      continue;
    }
    if (n === root && isSum) {
      result = ref(g.args(n)[0]!);
      continue;
    }
    steps.push({ op: op as UnaryOp | BinaryOp, args: g.args(n).map(ref) });
    refs.set(n, { step: steps.length - 1 });
  }
  return {
    dims,
    strides,
    leafSizes: leaves.map((l) => g.sizeOf(l)),
    outSize: g.sizeOf(root),
    sum: isSum,
    steps,
    result: result ?? ref(root),
  };
}

const kernelCache = new Map<string, FusedKernel>();
let codegenAvailable: boolean | null = null;

/** Whether this JavaScript engine may compile generated code (a browser's CSP may forbid it). */
export function canFuse(): boolean {
  if (codegenAvailable === null) {
    try {
      codegenAvailable = new Function('return 1')() === 1;
    } catch {
      codegenAvailable = false;
    }
  }
  return codegenAvailable;
}

/**
 * The generated JS loop of a cluster's `FusedProgram`: `kernel(leafBuffers, out)` writes the
 * root's value (the reference that a backend's own loops, `Backend.fused`, must equal bitwise).
 *
 * @example
 *   // c = tanh(x) * y with x: [2, 3], y: [3] — one loop, y read with stride 0 along axis 0
 *   const [cl] = findClusters(g, schedule, uses, new Set([c]), () => true);
 *   programKernel(fusedProgram(g, cl))([x, y], out);
 */
export function programKernel(p: FusedProgram): FusedKernel {
  // Operands of the loop nest: the output (written) and each leaf (read), strides over the body.
  const { dims, strides, sum: isSum, steps, result } = p;
  const nLeaves = p.leafSizes.length;
  const r = dims.length;
  const lines: string[] = [];
  const ptr = (o: number, level: number) => `p${o}_${level}`;
  for (let j = 0; j < nLeaves; j++) lines.push(`const x${j} = ins[${j}];`);
  if (isSum) lines.push('out.fill(0);');
  // A scalar operand (all strides 0) is loaded once; the others get a pointer per loop level.
  const scalar = strides.map((s) => s.every((x) => x === 0));
  for (let j = 0; j < nLeaves; j++) if (scalar[j + 1]) lines.push(`const v${j} = x${j}[0];`);
  const moving = strides.map((_, o) => o).filter((o) => !scalar[o] || o === 0);
  const name = (x: FusedRef) => ('leaf' in x ? `v${x.leaf}` : 'value' in x ? literal(x.value) : `t${x.step}`);
  const body = steps.map(({ op, args: [a, b] }, i) => {
    // the registry's scalar code of each op: the reference kernels' arithmetic
    const code = isUnary(op) ? unaryCode(op, name(a!)) : PRIMITIVES[op].code(name(a!), name(b!), b && 'value' in b ? b.value : undefined);
    return `const t${i} = ${code};`;
  });
  const loads = (L: number) => Array.from({ length: nLeaves }, (_, j) => j).filter((j) => !scalar[j + 1]).map((j) => `const v${j} = x${j}[${ptr(j + 1, L)}];`);
  // Loop nest: level L advances each moving pointer by its stride on axis L.
  let indent = '';
  for (let L = 0; L < r; L++) {
    const init = moving.map((o) => `${ptr(o, L)} = ${L === 0 ? '0' : ptr(o, L - 1)}`).join(', ');
    const step = moving.filter((o) => strides[o]![L] !== 0).map((o) => `${ptr(o, L)} += ${strides[o]![L]}`);
    if (L === r - 1 && innerLanes(p)) {
      // the innermost axis summed: four partial sums over the row's quads, then the rest in order
      const D = dims[L]!, quads = Math.floor(D / 4);
      const advance = step.length ? step.join(', ') + ';' : '';
      lines.push(`${indent}{`, `${indent}  let ${moving.map((o) => `${ptr(o, L)} = ${L === 0 ? '0' : ptr(o, L - 1)}`).join(', ')};`);
      lines.push(`${indent}  let acc = out[${ptr(0, L)}];`);
      if (quads > 0) {
        lines.push(`${indent}  let a0 = 0, a1 = 0, a2 = 0, a3 = 0;`);
        lines.push(`${indent}  for (let q = 0; q < ${quads}; q++) {`);
        for (let lane = 0; lane < 4; lane++)
          lines.push(`${indent}    { ${[...loads(L), ...body, `a${lane} += ${name(result)};`].join(' ')} } ${advance}`);
        lines.push(`${indent}  }`, `${indent}  acc = acc + ((a0 + a2) + (a1 + a3));`);
      }
      for (let e = 0; e < D % 4; e++) lines.push(`${indent}  { ${[...loads(L), ...body, `acc += ${name(result)};`].join(' ')} } ${advance}`);
      lines.push(`${indent}  out[${ptr(0, L)}] = acc;`, `${indent}}`);
      break;
    }
    lines.push(`${indent}for (let i${L} = 0, ${init}; i${L} < ${dims[L]}; i${L}++${step.length ? ', ' + step.join(', ') : ''}) {`);
    indent += '  ';
    if (L === r - 1) {
      lines.push(...loads(L).map((s) => indent + s));
      lines.push(...body.map((s) => indent + s));
      lines.push(`${indent}out[${ptr(0, r - 1)}] ${isSum ? '+=' : '='} ${name(result)};`);
    }
  }
  for (let L = Math.min(r, innerLanes(p) ? r - 1 : r) - 1; L >= 0; L--) lines.push(`${' '.repeat(2 * L)}}`);
  const source = lines.join('\n');
  let kernel = kernelCache.get(source);
  if (!kernel) {
    kernel = new Function('S', `return function fused(ins, out) {\n${source}\n};`)(SCALAR_FUNCTIONS) as FusedKernel;
    kernelCache.set(source, kernel);
  }
  return kernel;
}

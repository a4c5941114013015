/**
 * Row-separable models: h(X) whose output row i depends on row i of the data alone
 * (h = f(X) with f mapped over the rows, the common case of one output per input). For these,
 * a derivative of h_a only needs the forward pass of its own row, so kernels are computed on a
 * graph of ONE row (n times less work per index) and batched over rows by vmap.
 *
 * `rowRestriction` proves separability structurally while it builds that one-row graph: it
 * replaces every data input whose leading axis has the output's leading size n by a one-row
 * input, and rebuilds the model's graph with that row axis of size 1, tracking where the row axis
 * sits. Every op must act on the row axis "row-wise": elementwise ops and matmul batch or carry it
 * (matmul must not contract it), sum must not reduce it, reshape must keep it a separate axis,
 * slice/pad must take it whole, broadcast/transpose move it. Any other use (a reduction over
 * rows, a matrix product contracting rows, a literal with n rows) means the model is not
 * separable, and the caller uses the dense path. An operand that does not depend on the rows but
 * has size n on the row axis must be a broadcast (or a constant) along it.
 */
import type { Graph, NodeId } from './graph.ts';
import type { DataInfo, Model } from './model.ts';
import { isUnary, unreachable } from './ops.ts';
import { sizeOf } from './shape.ts';

export interface RowModel {
  /** Rows (the output's leading size) and outputs per row: k = n·c. */
  n: number;
  c: number;
  /** Each data input with n rows, and the one-row input that replaces it, [1, ...rest]. */
  rows: { data: DataInfo; row: NodeId }[];
  /** The one-row model's output, flattened to [c]. */
  output: NodeId;
}

/**
 * The batched inputs of a block of B (row, output) pairs of a row model, pair a = i·c + o: E
 * (B × c) holds in its row t the unit cotangent e_o of the block's t-th pair, and R[j]
 * (B × row size) the row i of data input j. `load(first, count)` fills them for the pairs
 * first … first + count − 1 (the rest of E zero). The blocks the per-row Jacobian and the Gram
 * factors run their batched one-row graph on.
 * @example const blk = pairBlock(rm, 64); blk.load(128, 64); // pairs 128…191: rows ⌊a/c⌋, outputs a mod c
 */
export function pairBlock(rm: RowModel, B: number): { E: Float64Array; R: Float64Array[]; load(first: number, count: number): void } {
  const { c } = rm;
  const E = new Float64Array(B * c);
  const sizes = rm.rows.map((r) => sizeOf(r.data.shape) / rm.n);
  const R = sizes.map((size) => new Float64Array(B * size));
  const load = (first: number, count: number) => {
    E.fill(0);
    for (let t = 0; t < count; t++) {
      const a = first + t, i = Math.floor(a / c);
      E[t * c + (a % c)] = 1;
      rm.rows.forEach((r, j) => R[j]!.set(r.data.value.subarray(i * sizes[j]!, (i + 1) * sizes[j]!), t * sizes[j]!));
    }
  };
  return { E, R, load };
}

class NotSeparable extends Error {}

/** A node of the one-row graph: its id, and the axis of size 1 that stands for the rows (or null). */
interface RVal {
  id: NodeId;
  row: number | null;
}

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

/**
 * The one-row graph of a row-separable model, or null when the model is not row-separable (or
 * has a single row, where there is nothing to gain).
 * @example
 *   const rm = rowRestriction(model);   // h_i(w) = rm.output with rm.rows[j].row bound to X_j[i]
 */
export function rowRestriction(m: Model): RowModel | null {
  const g = m.graph;
  const n = m.outputShape[0];
  if (n === undefined || n < 2) return null;
  const rowed = m.data.filter((d) => d.shape[0] === n && g.cone([m.output]).includes(d.node));
  if (rowed.length === 0) return null;
  const rows = rowed.map((data) => ({ data, row: g.fresh('data', [1, ...data.shape.slice(1)], `${data.name}_row`) }));
  try {
    const out = restrict(g, m.output, n, new Map(rows.map((r) => [r.data.node, r.row])));
    if (out.row !== 0) return null;
    const c = sizeOf(m.outputShape) / n;
    return { n, c, rows, output: g.reshape(out.id, [c]) };
  } catch (e) {
    // Not separable — or an op this transform does not know how to restrict: either way the
    // dense path, which is always correct, is used instead.
    if (e instanceof NotSeparable || e instanceof Error) return null;
    throw e;
  }
}

function restrict(g: Graph, root: NodeId, n: number, replaced: Map<NodeId, NodeId>, trace?: Map<NodeId, NodeId>): RVal {
  const val = new Map<NodeId, RVal>();
  const fail = (why: string): never => {
    throw new NotSeparable(why);
  };
  /** An operand without rows, aligned (numpy, from the right) at output axis `pos` of rank `rank`. */
  const unrowed = (x: NodeId, pos: number, rank: number): NodeId => {
    const s = g.shape(x);
    const idx = pos - (rank - s.length);
    if (idx < 0 || s[idx] !== n) return x;
    const one = s.slice();
    one[idx] = 1;
    const c = g.constValue(x);
    if (c !== undefined) return g.constant(c, one);
    if (g.op(x) === 'broadcast') {
      const inner = g.args(x)[0]!;
      const si = g.shape(inner);
      const j = idx - (s.length - si.length);
      if (j < 0 || si[j] === 1) return g.broadcast(inner, one);
    }
    return fail('an operand without rows has n entries on the row axis');
  };

  for (const node of g.cone([root])) {
    const rep = replaced.get(node);
    if (rep !== undefined) {
      val.set(node, { id: rep, row: 0 });
      continue;
    }
    const args = g.args(node);
    const xs = args.map((a) => val.get(a)!);
    if (xs.every((x) => x.row === null)) {
      val.set(node, { id: node, row: null });
      continue;
    }
    const op = g.op(node);
    const a = g.attrs(node);
    const shape = g.shape(node);
    const rank = shape.length;
    let id: NodeId;
    let row: number;
    if (isUnary(op)) {
      // elementwise: the rows stay where they are
      id = g.apply(op, [xs[0]!.id], a);
      row = xs[0]!.row!;
    } else switch (op) {
      case 'add': case 'sub': case 'mul': case 'div': case 'pow': case 'concat': {
        const positions = xs.map((x, i) => (x.row === null ? null : x.row + rank - g.shape(args[i]!).length));
        const live = positions.filter((p): p is number => p !== null);
        row = live[0]!;
        if (live.some((p) => p !== row)) fail('operands with rows on different axes');
        if (op === 'concat' && a.axis === row) fail('a concatenation along the rows');
        id = g.apply(op, xs.map((x, i) => (x.row === null ? unrowed(args[i]!, row, rank) : x.id)), a);
        break;
      }
      case 'matmul': {
        const [ra, rb] = args.map((x) => g.shape(x).length) as [number, number];
        const [pa, pb] = xs.map((x) => x.row);
        const outA = pa === null || pa === undefined ? null : pa === ra - 1 ? fail('a matrix product contracting the rows') : pa === ra - 2 ? rank - 2 : pa + rank - ra;
        const outB = pb === null || pb === undefined ? null : pb === rb - 2 ? fail('a matrix product contracting the rows') : pb === rb - 1 ? rank - 1 : pb + rank - rb;
        if (outA !== null && outB !== null && outA !== outB) fail('operands with rows on different axes');
        row = (outA ?? outB)!;
        const batchPos = row < rank - 2;
        // An unrowed operand can only meet the rows on a (broadcast) batch axis.
        const fix = (i: number, x: RVal) => (x.row !== null ? x.id : batchPos ? unrowed(args[i]!, row, rank) : args[i]!);
        id = g.matmul(fix(0, xs[0]!), fix(1, xs[1]!));
        break;
      }
      case 'sum': {
        const p = xs[0]!.row!;
        if (a.axes!.includes(p)) fail('a sum over the rows');
        id = g.sum(xs[0]!.id, a.axes!);
        row = p - a.axes!.filter((x) => x < p).length;
        break;
      }
      case 'reshape': {
        const p = xs[0]!.row!;
        const sIn = g.shape(args[0]!);
        const before = prod(sIn.slice(0, p)), after = prod(sIn.slice(p + 1));
        let j = -1;
        for (let t = 0; t < rank && j < 0; t++) if (shape[t] === n && prod(shape.slice(0, t)) === before && prod(shape.slice(t + 1)) === after) j = t;
        if (j < 0) fail('a reshape that merges the rows with another axis');
        const target = shape.slice();
        target[j] = 1;
        id = g.reshape(xs[0]!.id, target);
        row = j;
        break;
      }
      case 'broadcast': {
        const p = xs[0]!.row! + rank - g.shape(args[0]!).length;
        if (shape[p] !== n) fail('a broadcast along the rows');
        const target = shape.slice();
        target[p] = 1;
        id = g.broadcast(xs[0]!.id, target);
        row = p;
        break;
      }
      case 'transpose':
        id = g.transpose(xs[0]!.id, a.perm!);
        row = a.perm!.indexOf(xs[0]!.row!);
        break;
      case 'slice': {
        const p = xs[0]!.row!;
        if (a.starts![p] !== 0 || a.ends![p] !== n) fail('a slice of the rows');
        const ends = a.ends!.slice();
        ends[p] = 1;
        id = g.slice(xs[0]!.id, a.starts!, ends);
        row = p;
        break;
      }
      case 'pad': {
        const p = xs[0]!.row!;
        if (a.starts![p] !== 0 || a.shape![p] !== n) fail('padding of the rows');
        const target = a.shape!.slice();
        target[p] = 1;
        id = g.pad(xs[0]!.id, a.starts!, target);
        row = p;
        break;
      }
      case 'input': case 'const': case 'literal':
        throw new Error('internal: a leaf with rows');
      default:
        unreachable(op);
    }
    const want = shape.slice();
    want[row] = 1;
    const got = g.shape(id);
    if (got.length !== want.length || got.some((d, i) => d !== want[i])) fail(`internal shape mismatch in ${op}`);
    val.set(node, { id, row });
    if (trace && !trace.has(id)) trace.set(id, node);
  }
  return val.get(root)!;
}

/**
 * The one-row graph of `root` (leading size n) with the row inputs given: `replaced` maps each
 * data input with n rows to its one-row stand-in. Returns the one-row node (row axis of size 1
 * at `row`), or null when `root` is not row-separable. Restricting two outputs with the same
 * stand-ins gives the same node exactly when they are the same function of their rows
 * (hash-consing), which is how the infinite-width limit pairs a model with its `test`.
 * `trace`, if given, receives each new one-row node → the node it restricts (for source spans).
 * @example const r = restrictRows(g, model.output, n, new Map([[X.node, xRow]]));
 */
export function restrictRows(
  g: Graph, root: NodeId, n: number, replaced: Map<NodeId, NodeId>, trace?: Map<NodeId, NodeId>,
): { id: NodeId; row: number } | null {
  try {
    const out = restrict(g, root, n, replaced, trace);
    return out.row === null ? null : { id: out.id, row: out.row };
  } catch (e) {
    if (e instanceof Error) return null;
    throw e;
  }
}

/**
 * Algebraic tidying of a graph for printing: derivative graphs come out of the AD rules as sums
 * of products in whatever order the rules emitted them (`x*y + y*x`, `(2*s)*(2*s)`), which
 * hash-consing alone cannot merge. `tidy` rebuilds the cone of some roots in a canonical form:
 *
 *  - scalar constant factors move to the front and multiply: (c1·x)·(c2·y) = (c1c2)·(x·y);
 *  - the operands of + and · are ordered (by node id), so x·y and y·x are one node;
 *  - repeated factors become powers: x·x = x², x^a·x^b = x^(a+b) (a, b constants);
 *  - like terms are collected: x + x = 2x, c1·x + c2·x = (c1+c2)·x, and x − c·x likewise.
 *
 * Every rewrite is an identity of real arithmetic (with broadcasting: both sides have the same
 * shape), so the result has the same values, up to rounding; it is meant for reading, the
 * numeric paths use the graphs as built.
 */
import type { Graph, NodeId } from './graph.ts';
import { symAdd, symMul, symNeg, type Provenance } from './symbols.ts';

/** A constant factor: its value and where it came from (`ir/symbols.ts`), which tidying keeps for printing. */
interface Coef {
  v: number;
  m: Provenance;
}
const ONE: Coef = { v: 1, m: undefined };
const coefOf = (g: Graph, x: NodeId): Coef => ({ v: g.constValue(x)!, m: g.symOf(x) });
const neg = (c: Coef): Coef => ({ v: -c.v, m: symNeg(c.m) });

/** The scalar constant factor of a node and the rest: x = c·rest (c = 1 if none). */
function splitCoefficient(g: Graph, x: NodeId): [Coef, NodeId | null] {
  // A constant of any shape is a scalar factor: the callers broadcast to the output's shape.
  const c = g.constValue(x);
  if (c !== undefined) return [coefOf(g, x), null];
  if (g.op(x) === 'mul') {
    const [a, b] = g.args(x) as [NodeId, NodeId];
    const ca = g.constValue(a);
    if (ca !== undefined && g.sizeOf(b) >= g.sizeOf(a)) return [coefOf(g, a), b];
  }
  if (g.op(x) === 'broadcast') {
    const [c2, rest] = splitCoefficient(g, g.args(x)[0]!);
    return [c2, rest === null ? null : g.broadcast(rest, g.shape(x))];
  }
  if (g.op(x) === 'neg') {
    const [c2, rest] = splitCoefficient(g, g.args(x)[0]!);
    return [neg(c2), rest];
  }
  return [ONE, x];
}

/** Base and constant exponent: x = base^e (e = 1 if x is not a power). */
function splitPower(g: Graph, x: NodeId): [NodeId, number] {
  if (g.op(x) === 'pow') {
    const [a, b] = g.args(x) as [NodeId, NodeId];
    const e = g.constValue(b);
    if (e !== undefined && g.sizeOf(b) === 1) return [a, e];
  }
  return [x, 1];
}

function scaled(g: Graph, c: Coef, x: NodeId | null, shape: number[]): NodeId {
  if (x === null) return g.constant(c.v, shape, c.m);
  if (c.v === 0) return g.zeros(shape);
  return g.broadcast(g.mul(g.constant(c.v, [], c.m), x), shape);
}

function tidyMul(g: Graph, a: NodeId, b: NodeId): NodeId {
  const shape = g.joinShape(a, b);
  const [ca, ra] = splitCoefficient(g, a);
  const [cb, rb] = splitCoefficient(g, b);
  const c: Coef = { v: ca.v * cb.v, m: symMul(ca.m, ca.v, cb.m, cb.v) };
  if (ra === null || rb === null) return scaled(g, c, ra ?? rb, shape);
  const [ba, ea] = splitPower(g, ra);
  const [bb, eb] = splitPower(g, rb);
  let core: NodeId;
  if (ba === bb && g.sizeOf(ba) === g.sizeOf(ra) && g.sizeOf(bb) === g.sizeOf(rb)) core = g.pow(ba, g.constant(ea + eb));
  else core = ra <= rb ? g.mul(ra, rb) : g.mul(rb, ra);
  return scaled(g, c, core, shape);
}

function tidyAdd(g: Graph, a: NodeId, b: NodeId, sign: 1 | -1): NodeId {
  const shape = g.joinShape(a, b);
  const [ca, ra] = splitCoefficient(g, a);
  const [cb, rb] = splitCoefficient(g, b);
  if (ra !== null && ra === rb) {
    const cb2 = sign === 1 ? cb : neg(cb);
    return scaled(g, { v: ca.v + cb2.v, m: symAdd(ca.m, ca.v, cb2.m, cb2.v) }, ra, shape);
  }
  // a + (−c)·x prints as a − c·x.
  if (rb !== null && cb.v < 0) return sign === 1 ? g.sub(a, scaled(g, neg(cb), rb, g.shape(b))) : g.add(a, scaled(g, neg(cb), rb, g.shape(b)));
  if (sign === -1) return g.sub(a, b);
  return a <= b ? g.add(a, b) : g.add(b, a);
}

/**
 * The cone of `roots` rebuilt in canonical form (see the module comment).
 * @example
 *   // x·y + y·x → 2·(x·y);  (2s)·(2s) → 4·s^2
 *   const [k] = tidy(g, [g.add(g.mul(x, y), g.mul(y, x))]);
 */
export function tidy(g: Graph, roots: NodeId[]): NodeId[] {
  return g.rewrite(roots, new Map(), (n, ins) => {
    switch (g.op(n)) {
      case 'mul': return tidyMul(g, ins[0]!, ins[1]!);
      case 'add': return tidyAdd(g, ins[0]!, ins[1]!, 1);
      case 'sub': return tidyAdd(g, ins[0]!, ins[1]!, -1);
      case 'neg': return tidyNeg(g, ins[0]!);
      default: return g.apply(g.op(n), ins, g.attrs(n));
    }
  });
}

function tidyNeg(g: Graph, x: NodeId): NodeId {
  const [c, rest] = splitCoefficient(g, x);
  if (rest === null) return g.constant(-c.v, g.shape(x), symNeg(c.m));
  if (c.v === 1 && !c.m) return g.neg(x);
  return scaled(g, neg(c), rest, g.shape(x));
}

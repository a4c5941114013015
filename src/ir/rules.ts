/**
 * The kinds of rule a primitive's registry entry (`ops.ts`) holds, and the helpers most entries
 * are written with. The transforms that run the rules live apart: `ad/jvp.ts`, `ad/transpose.ts`,
 * `ad/vmap.ts`, `ir/print.ts`, `lip/enclosure.ts` (each one traversal over the graph).
 */
import type { Graph, NodeId } from './graph.ts';
import type { Attrs } from './ops.ts';

// ------------------------------------------------------------------ JVP

/** A tangent: a node, or null when it is symbolically zero. */
export type Tangent = NodeId | null;

/**
 * A JVP rule: the tangent of node `y` given its inputs `x` and their tangents `t` (not all
 * null). Invariant used by the transpose: every node it emits is linear in the tangents.
 */
export type JvpRule = (g: Graph, y: NodeId, x: NodeId[], t: Tangent[]) => Tangent;

/** Tangent of a unary op with derivative `d(x, y)` (chain rule: ẏ = f′(x)·ẋ). */
export const chain =
  (d: (g: Graph, x: NodeId, y: NodeId) => NodeId): JvpRule =>
  (g, y, [x], [t]) =>
    t === null ? null : g.mul(d(g, x!, y), t);

/** Apply a structural (linear, unary) op to the tangent: ẏ = op(ẋ). */
export const sameOp: JvpRule = (g, y, _x, [t]) => (t === null ? null : g.apply(g.op(y), [t], g.attrs(y)));

/** Leaves and piecewise-constant ops: zero tangent. */
export const zeroTangent: JvpRule = () => null;

/** Sum of terms (null = zero) broadcast to the output's shape. */
export function total(g: Graph, y: NodeId, terms: Tangent[]): Tangent {
  const live = terms.filter((t): t is NodeId => t !== null);
  if (live.length === 0) return null;
  return g.addAll(live, g.shape(y));
}

// ------------------------------------------------------------------ transpose

/**
 * The cotangent of input `i` of the linear node `y`, given the cotangent `c` of `y` (a node of
 * y's shape). Only called for inputs that depend on the linear inputs.
 */
export type TransposeRule = (g: Graph, y: NodeId, i: number, c: NodeId) => NodeId;

export const argOf = (g: Graph, y: NodeId, i: number) => g.args(y)[i]!;
export const shapeOfArg = (g: Graph, y: NodeId, i: number) => g.shape(argOf(g, y, i));

// ------------------------------------------------------------------ batching

/** A node of the batched graph: its id, and whether it carries the batch prefix. */
export interface BVal {
  id: NodeId;
  batched: boolean;
}

/** A batch rule: node `y` rebuilt over its (some batched) inputs, with the batch prefix. */
export type BatchRule = (g: Graph, y: NodeId, x: BVal[], prefix: number[]) => NodeId;

/** Reshape a batched value of logical shape `s` to [...prefix, 1…1, ...s] of logical rank r. */
export function lift(g: Graph, v: NodeId, prefix: number[], logical: number[], rank: number): NodeId {
  if (logical.length >= rank) return v;
  return g.reshape(v, [...prefix, ...Array(rank - logical.length).fill(1), ...logical]);
}

/** Elementwise ops and matmul: align the batched operands' ranks, then apply as is. */
export const aligned: BatchRule = (g, y, x, prefix) => {
  const logical = g.args(y).map((a) => g.shape(a));
  const rank = Math.max(...logical.map((s) => s.length));
  const ins = x.map((v, k) => (v.batched ? lift(g, v.id, prefix, logical[k]!, rank) : v.id));
  return g.apply(g.op(y), ins, g.attrs(y));
};

/** Ops whose attributes name axes: the same op with the attributes shifted past the prefix. */
export const shifted =
  (f: (a: Attrs, p: number, prefix: number[]) => Attrs): BatchRule =>
  (g, y, x, prefix) =>
    g.apply(g.op(y), x.map((v) => v.id), f(g.attrs(y), prefix.length, prefix));

export const noBatch: BatchRule = () => {
  throw new Error('internal: leaves are never batched by a rule');
};

// ------------------------------------------------------------------ printing

/** Binding strength of the printed form, to place parentheses. */
export const PREC = { add: 1, sub: 1, mul: 2, div: 2, matmul: 2, neg: 3, pow: 4, atom: 5 } as const;

/** What a print rule may ask of the printer (`ir/print.ts`). */
export interface Printer {
  /** LaTeX instead of plain text. */
  readonly tex: boolean;
  /** A node's text and precedence. */
  render(n: NodeId): [string, number];
  /** A node's text, parenthesized when it binds less tightly than `min`. */
  wrap(n: NodeId, min: number): string;
  /** An input's name, a number, literal data as printed. */
  name(s: string): string;
  number(v: number): string;
  literal(data: Float64Array, shape: number[]): string;
  /** f(arg): `tex` is f's LaTeX (default \operatorname{name}). */
  fn(name: string, arg: string, tex?: string): string;
  /** The value of a `const` node, or undefined. */
  constValue(n: NodeId): number | undefined;
}

/** A print rule: a node's text and precedence from its attributes and inputs. */
export type PrintRule = (p: Printer, a: Attrs, x: NodeId[]) => [string, number];

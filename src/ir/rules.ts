/**
 * The kinds of rule a primitive's registry entry (`ops.ts`) holds, and the helpers most entries
 * are written with. The transforms that run the rules live apart: `ad/jvp.ts`, `ad/transpose.ts`,
 * `ad/vmap.ts`, `ir/print.ts`, `lip/enclosure.ts` (each one traversal over the graph).
 */
import type { Graph, NodeId } from './graph.ts';
import type { Attrs } from './ops.ts';
import type { Monomial } from './symbols.ts';
import { broadcastIndex } from './shape.ts';

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
  /** A constant's provenance (LaTeX only): 1/√T, √m, b/2. */
  provenance(m: Monomial): [string, number];
}

/** A print rule: a node's text and precedence from its attributes and inputs. */
export type PrintRule = (p: Printer, a: Attrs, x: NodeId[]) => [string, number];

// ------------------------------------------------------------------ enclosures

/**
 * What an enclosure rule may ask of the pass that runs it (`lip/enclosure.ts`), generic in the
 * pass's representation E of a node's enclosures. The certified pass implements it with
 * interval Taylor arithmetic (value, gradient and Hessian enclosures over the ball); the
 * estimate of its memory (`estimateEntries`) with support sizes only — so both follow the same
 * per-op rules.
 */
export interface EnclosureKit<E> {
  /** An input node: a parameter (w0 ± ρ, ∇ = e_j) or data (its exact values). */
  input(y: NodeId): E;
  /** Exact values: a const's value repeated n times, or a literal's data. */
  exact(data: Float64Array | number, n: number): E;
  /** y_i = f(x_i) elementwise, by the bounds of f (one function, or one per element i). */
  smooth(x: E, f: ScalarBounds | ((i: number) => ScalarBounds), name: string): E;
  /** y_e = Σ c·X[x]_i over the terms emit(x, i, c) of each output element e. */
  linear(X: E[], n: number, terms: (e: number, emit: (x: number, i: number, c: number) => void) => void): E;
  /** y_e = Σ A_ia·B_ib over the terms emit(ia, ib) of each output element e. */
  product(A: E, B: E, n: number, terms: (e: number, emit: (ia: number, ib: number) => void) => void): E;
  /** A structural op y as a pure gather of its inputs' elements (no arithmetic). */
  gather(y: NodeId, X: E[]): E;
  /** Element e of the result is element index[e] of x. */
  select(x: E, index: Int32Array): E;
  /** sign(x): constant where the range excludes 0, a jump otherwise. */
  sign(x: E): E;
  /** |x|: 1-Lipschitz, smooth where the range excludes 0. */
  abs(x: E): E;
  /** Whether x is the same at every point of the ball (no gradient, no radius). */
  isConstant(x: E): boolean;
  /** The midpoint of element i (exact where x is constant). */
  mid(x: E, i: number): number;
}

/** A scalar function with the bounds an enclosure needs (see `ScalarFunction` in ops.ts). */
export interface ScalarBounds {
  f: (x: number) => number;
  d1: (x: number) => number;
  d2: (x: number) => number;
  sup: ((j: 1 | 2 | 3, lo: number, hi: number) => number) | null;
  range?: (lo: number, hi: number) => [number, number];
}

/** An enclosure rule: node y's enclosure from its inputs' (X), through the kit. */
export type EncloseRule = <E>(k: EnclosureKit<E>, g: Graph, y: NodeId, X: E[]) => E;

/** Each input's element read by each output element of an elementwise node (numpy broadcasting). */
export function broadcastMaps(g: Graph, y: NodeId): Int32Array[] {
  return g.args(y).map((a) => broadcastIndex(g.shape(a), g.shape(y)));
}

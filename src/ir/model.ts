/**
 * A compiled model: the result of elaborating a `.ntk` program. Everything downstream (AD,
 * kernels, flows) works on this: one graph, the parameter inputs with their initial values
 * flattened in declaration order (row-major), the data inputs with their values, the model's
 * output node h(w) and the loss R(v).
 */
import type { Diagnostic } from '../parser/diagnostics.ts';
import type { Program, Span } from '../parser/ast.ts';
import type { Graph, NodeId } from './graph.ts';

/**
 * A declared parameter (`param W : [m, d] ~ …`): its shape, its graph node and its slice
 * `[offset, offset + size)` of the flattened weight vector w ∈ R^p.
 */
export interface ParamInfo {
  name: string;
  shape: number[];
  node: NodeId;
  /** Offset of this parameter's first element in the flattened weight vector. */
  offset: number;
  size: number;
  span: Span;
  /** How the initial values were drawn (infinite-width limits need i.i.d. centred entries). */
  init?: ParamInit;
}

/** A parameter's initializer: `~ normal(mean, std)`, `~ uniform(lo, hi)`, or fixed values (load, numbers). */
export type ParamInit =
  | { dist: 'normal'; mean: number; std: number; span: Span; mirror?: number }
  | { dist: 'uniform'; lo: number; hi: number; span: Span; mirror?: number }
  | { dist: 'fixed' };

/**
 * A declared data array (`data X : [n, d] = …`), loaded or drawn: its shape, graph node and values.
 */
export interface DataInfo {
  name: string;
  shape: number[];
  node: NodeId;
  value: Float64Array;
  span: Span;
}

/**
 * The loss R: R^k → R applied to the (rescaled) model output v = α·h(w).
 *  - `square`: R(v) = ½‖v − target‖², with `target` a node of the output's shape (it may
 *    depend on data inputs);
 *  - `custom`: `value` is a scalar node depending on the input `v` (role 'var').
 */
export type Loss =
  | { kind: 'square'; target: NodeId; span: Span }
  | { kind: 'custom'; v: NodeId; value: NodeId; span: Span };

/**
 * The model's outputs on held-out inputs, from `test NAME = expr[, target = expr]`: a function
 * g: R^p → R^kt of the same weights as h (docs/math.md §2, eq. 19: f_lin_t(x) = f_0(x) + ∇f_0(x)·ω_t).
 * `output` is the flat vector g(w) (shape [kt]); `shape` the declared expression's shape;
 * `target`, if given, a flat [kt] node of data and constants only.
 */
export interface TestInfo {
  name: string;
  /** g(w) flattened: shape [kt]. */
  output: NodeId;
  /** The shape of the test expression (kt = its size). */
  shape: number[];
  /** The target y_t flattened to [kt], or null when none is declared. */
  target: NodeId | null;
  /** True when g uses a non-smooth function (relu, abs, sign). */
  nonSmooth: boolean;
  span: Span;
}

/**
 * A model elaborated from `.ntk` text (`parseModel`, `loadModel`): the tensor graph of
 * h : R^p → R^k, the initial weights w0 ∈ R^p (`paramCount` = p), the data, the loss R and the
 * optional test outputs g. Every analysis takes one.
 * @example const model = parseModel('param w = 0.5\nmodel h = w^2'); model.paramCount; model.w0 // 1, [0.5]
 */
export interface Model {
  file: string;
  source: string;
  /** The AST it was elaborated from (plain data: a worker thread re-elaborates it without parsing). */
  program: Program;
  graph: Graph;
  params: ParamInfo[];
  /** Total number of scalar parameters p. */
  paramCount: number;
  /** w0, all parameters flattened in declaration order, row-major. */
  w0: Float64Array;
  data: DataInfo[];
  /** The model's output node h (any shape; k = its size) and its declared name. */
  output: NodeId;
  outputName: string;
  outputShape: number[];
  loss: Loss | null;
  /** The outputs on held-out inputs (`test` declaration), or null when there is none. */
  test: TestInfo | null;
  /** Values of all dims and consts after `--set` overrides. */
  constants: Map<string, number>;
  /** True when h uses a non-smooth function (relu, abs, sign). */
  nonSmooth: boolean;
  /** Warnings and notes from elaboration. */
  diagnostics: Diagnostic[];
  seed: number;
  /** The source span of the expression that built each node (elaboration only; derivative nodes have none). */
  spans?: Map<NodeId, Span>;
}

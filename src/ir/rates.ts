/**
 * Learning rates per parameter, and frozen parameters (seed 004; seed 003 §5's readout-only
 * training), as a change of variables of the model.
 *
 * Gradient flow with a diagonal matrix of rates H = diag(η_P for each element of parameter P),
 *
 *   dw/dt = −H ∇_w L(w),
 *
 * is the plain gradient flow of the reparametrized model h̃(u) = h(H^{1/2} u) in u = H^{-1/2} w
 * (trained coordinates; a rate 0 freezes its coordinates at w0): du/dt = −H^{1/2}∇_w L =
 * −∇_u L(H^{1/2}u). Its Jacobian is D̃h = Dh·H^{1/2}, so its NTK is Dh·H·Dhᵀ, and everything
 * built on a model (the flow and its linearization in closed form, E(T), the bounds, gradient
 * descent, the hierarchy's kernels, predictions at test inputs, Lipschitz constants) follows
 * with no change: `withRates(model, rates)` returns h̃ as a `Model`. Distances in weight space
 * (weight changes, the radius of a ball, Proposition 3.1) are then in u, i.e. in the metric of
 * H⁻¹ on the trained coordinates: ‖u − u0‖ = ‖H^{-1/2}(w − w0)‖. Gradient descent with step 1
 * on h̃ is w_{j+1} = w_j − H ∇L(w_j): the rates are the step sizes.
 *
 * In the graph, a trained parameter P becomes √η_P·P (the same input node now stands for
 * u_P, initialized at w0_P/√η_P); a frozen one becomes a data input holding w0_P.
 */
import type { Model, ParamInfo, DataInfo } from './model.ts';
import type { NodeId } from './graph.ts';

/**
 * A bad learning-rate specification: which name or value, and why (a usage error).
 * @example withRates(model, { nosuch: 1 })   // throws RateError naming the parameters
 */
export class RateError extends Error {}

/** Rates by parameter name. Names not listed are frozen (rate 0). */
export type Rates = ReadonlyMap<string, number> | Readonly<Record<string, number>>;

/** What `withRates` did, kept on the transformed model. */
export interface RatesInfo {
  /** Each parameter of the original model with its rate (0: frozen), in declaration order. */
  rates: { name: string; rate: number }[];
}

const entries = (r: Rates): [string, number][] => (r instanceof Map ? [...r] : Object.entries(r as Record<string, number>));

/**
 * `--lr η` (a plain rate, returned as a number) or `--lr W=η1,v=η2` (named rates, a Map).
 * Throws RateError for a malformed item, a repeated name, or a rate that is negative or not finite.
 * @example parseRates('W=0.5,v=0') // Map { 'W' => 0.5, 'v' => 0 }
 */
export function parseRates(raw: string): number | Map<string, number> {
  const text = raw.trim();
  if (!text.includes('=')) {
    const v = Number(text);
    if (text === '' || !Number.isFinite(v) || v <= 0) throw new RateError(`--lr ${raw}: expected a positive number η, or per-parameter rates NAME=η,… (e.g. --lr W=0.5,v=0.1)`);
    return v;
  }
  const m = new Map<string, number>();
  for (const item of text.split(',')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\S+)\s*$/.exec(item);
    if (!match) throw new RateError(`--lr ${raw}: '${item}' is not NAME=η (e.g. --lr W=0.5,v=0.1)`);
    const [, name, value] = match;
    if (m.has(name!)) throw new RateError(`--lr ${raw}: the rate of '${name}' is given twice`);
    m.set(name!, checkRate(name!, Number(value), value!));
  }
  return m;
}

function checkRate(name: string, v: number, raw: string | number = v): number {
  if (!Number.isFinite(v)) throw new RateError(`--lr: the rate of '${name}' is ${raw}, not a finite number`);
  if (v < 0) throw new RateError(`--lr: the rate of '${name}' is ${raw}: a learning rate must be ≥ 0 (0 freezes the parameter)`);
  return v;
}

/**
 * The rates of `lr` for a model: a number η becomes η for every parameter (H = ηI), named rates
 * are checked against the model (`withRates` throws RateError naming `--lr`).
 * @example ratesFor(model, 0.5) // Map { 'W' => 0.5, 'v' => 0.5 }
 */
export function ratesFor(model: Pick<Model, 'params'>, lr: number | Rates): Rates {
  if (typeof lr !== 'number') return lr;
  if (!(lr > 0) || !Number.isFinite(lr)) throw new RateError(`--lr ${lr}: expected a positive finite rate`);
  return new Map(model.params.map((q) => [q.name, lr]));
}

/**
 * The model h̃(u) = h(H^{1/2}u) whose plain gradient flow is dw/dt = −H∇L(w) for h (see the
 * file's comment): parameters named in `rates` train with their rate, the others (and rate 0)
 * are frozen at w0. Throws RateError when a name is not a parameter of the model, a rate is
 * negative or not finite, or every parameter would be frozen.
 * @example
 *   const readout = withRates(model, { v: 1 });   // only v trained: h̃ is linear in its weights
 *   flow(readout, { alpha: 1, T: 10 }).error       // 0 to rounding (Lee et al. 2019 §5)
 */
export function withRates(model: Model, rates: Rates): Model & { rates: RatesInfo } {
  const given = entries(rates);
  const names = new Set(model.params.map((q) => q.name));
  for (const [name, v] of given) {
    if (!names.has(name))
      throw new RateError(`--lr: '${name}' is not a parameter of ${model.file} (its parameters: ${model.params.map((q) => q.name).join(', ') || 'none'})`);
    checkRate(name, v);
  }
  const rateOf = new Map(given);
  const list = model.params.map((q) => ({ name: q.name, rate: rateOf.get(q.name) ?? 0 }));
  if (list.every((r) => r.rate === 0)) throw new RateError(`--lr: every parameter of ${model.file} would be frozen; give a positive rate to at least one of ${model.params.map((q) => q.name).join(', ')}`);
  const g = model.graph;
  const subst = new Map<NodeId, NodeId>();
  const params: ParamInfo[] = [];
  const data: DataInfo[] = [...model.data];
  const w0parts: Float64Array[] = [];
  let offset = 0;
  model.params.forEach((q, i) => {
    const rate = list[i]!.rate;
    const w = model.w0.subarray(q.offset, q.offset + q.size);
    if (rate === 0) {
      const node = g.input(q.name, 'data', q.shape);
      subst.set(q.node, node);
      data.push({ name: q.name, shape: q.shape.slice(), node, value: w.slice(), span: q.span });
      return;
    }
    // P stands for u_P = w_P/√η from now on: h̃ reads √η·P wherever h read P
    if (rate !== 1) subst.set(q.node, g.mul(g.constant(Math.sqrt(rate)), q.node));
    params.push({ ...q, shape: q.shape.slice(), offset });
    offset += q.size;
    w0parts.push(rate === 1 ? w.slice() : w.map((x) => x / Math.sqrt(rate)));
  });
  const roots: NodeId[] = [model.output];
  const loss = model.loss;
  if (loss?.kind === 'square') roots.push(loss.target);
  if (loss?.kind === 'custom') roots.push(loss.value);
  const test = model.test;
  if (test) roots.push(test.output, ...(test.target === null ? [] : [test.target]));
  const mapped = g.rewrite(roots, subst);
  let at = 0;
  const next = () => mapped[at++]!;
  const output = next();
  const newLoss = loss === null ? null : loss.kind === 'square' ? { ...loss, target: next() } : { ...loss, value: next() };
  const newTest = test === null ? null : { ...test, output: next(), target: test.target === null ? null : next() };
  const w0 = new Float64Array(offset);
  let o = 0;
  for (const part of w0parts) {
    w0.set(part, o);
    o += part.length;
  }
  return { ...model, params, paramCount: offset, w0, data, output, loss: newLoss, test: newTest, rates: { rates: list } };
}

/**
 * The kernel a model's flow uses, in words: 'Dh·Dhᵀ' for a plain model, 'Dh·H·Dhᵀ with H =
 * diag(W: 0.5, v: 0 (frozen))' for one from `withRates`.
 * @example kernelName(withRates(model, { v: 1 })) // 'Dh·H·Dhᵀ with H = diag(W: 0 (frozen), v: 1)'
 */
export function kernelName(model: Model & { rates?: RatesInfo }): string {
  if (!model.rates) return 'Dh·Dhᵀ';
  return `Dh·H·Dhᵀ with H = diag(${model.rates.rates.map((r) => `${r.name}: ${r.rate === 0 ? '0 (frozen)' : r.rate}`).join(', ')})`;
}

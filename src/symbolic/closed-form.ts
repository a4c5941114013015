/**
 * Closed forms of scalar models by mathjs: a graph whose every node is a scalar (one parameter,
 * one output, e.g. examples/converse.ntk) is written as a mathjs expression (`mathjsText`) and
 * simplified symbolically (`closedForm`), for `ntk print --derivative` and `ntk derive`.
 *
 * mathjs is loaded lazily (`import('mathjs')` on first use, about 9 MB of JavaScript), so the
 * start-up of every command, and every command that prints no closed form, pays nothing for it
 * (docs/decisions.md). The graph's numbers stay the reference: a closed form is for reading.
 */
import { jvp } from '../ad/jvp.ts';
import type { Graph, NodeId } from '../ir/graph.ts';
import type { Model } from '../ir/model.ts';
import { PRIMITIVES, isBinary, isUnary } from '../ir/ops.ts';
import { tidy } from '../ir/simplify.ts';
import { deriveKernel } from '../nth/derive.ts';

const MATHJS_BINARY = { add: '+', sub: '-', mul: '*', div: '/', pow: '^' } as const;

/** A number as mathjs reads it back exactly (shortest round-trip decimal). */
const num = (v: number) => (v < 0 ? `(${String(v)})` : String(v));

/**
 * The scalar graph rooted at `root` as mathjs text, with inputs by name; null when some node of
 * it is not a scalar (a vector model has no closed form here) or a literal.
 * @example mathjsText(model.graph, model.output) // "((w / 10) + ((2 * (w ^ 2)) / 2))"
 */
export function mathjsText(g: Graph, root: NodeId, name: (n: NodeId) => string = (n) => g.attrs(n).name!): string | null {
  const memo = new Map<NodeId, string | null>();
  for (const n of g.cone([root])) {
    if (g.sizeOf(n) !== 1) return null;
    const op = g.op(n);
    const x = g.args(n).map((a) => memo.get(a)!);
    if (x.some((s) => s === null)) return null;
    let s: string | null;
    if (op === 'input') s = name(n).replace(/#/g, '_');
    else if (op === 'const') s = num(g.attrs(n).value!);
    else if (isUnary(op)) s = PRIMITIVES[op].mathjs(x[0]!); // the registry's spelling
    else if (isBinary(op)) s = `(${x[0]} ${MATHJS_BINARY[op]} ${x[1]})`;
    else if (op === 'broadcast' || op === 'reshape' || op === 'sum' || op === 'transpose' || op === 'slice' || op === 'pad' || op === 'concat' || op === 'matmul')
      // of one element: the value itself (a product of 1×1 matrices is one multiplication)
      s = op === 'matmul' ? `(${x[0]} * ${x[1]})` : x[0]!;
    else s = null; // a literal
    memo.set(n, s);
  }
  return memo.get(root) ?? null;
}

/** A simplified closed form: mathjs's text and LaTeX. */
export interface ClosedForm {
  text: string;
  latex: string;
}

type MathJs = typeof import('mathjs');
let mathjs: Promise<MathJs> | null = null;

/** mathjs, loaded on first use (see the module comment). */
export function loadMathjs(): Promise<MathJs> {
  mathjs ??= (() => {
    const viaBin = (globalThis as Record<symbol, unknown>)[Symbol.for('ntk.import')] as ((s: string) => Promise<MathJs>) | undefined;
    return viaBin ? viaBin('mathjs') : (import('mathjs') as Promise<MathJs>);
  })();
  return mathjs;
}

/**
 * Longest mathjs text simplified (characters). mathjs's `simplify` grows fast with the size of an
 * expression (measured: 90 characters 0.2 s, 700 characters 2 s, 3 500 more than a minute); beyond this the closed form is
 * not shown rather than the command slowed down.
 * @example (await closedForm(model.graph, model.output)) === null // when the text of h is longer than MAX_CLOSED_FORM_TEXT
 */
export const MAX_CLOSED_FORM_TEXT = 300;

/**
 * mathjs's simplification of a scalar graph, or null when the graph is not scalar (or its text
 * is longer than MAX_CLOSED_FORM_TEXT). The graph is tidied first (`ir/simplify.ts`).
 * @example (await closedForm(model.graph, model.output))?.text // "w / 10 + w ^ 2"
 */
export async function closedForm(g: Graph, root: NodeId): Promise<ClosedForm | null> {
  const text = mathjsText(g, tidy(g, [root])[0]!);
  if (text === null || text.length > MAX_CLOSED_FORM_TEXT) return null;
  const math = await loadMathjs();
  const node = math.simplify(text);
  return { text: node.toString(), latex: node.toTex() };
}

/**
 * Whether a model is scalar: one parameter, one output (the models closed forms are shown for).
 * @example isScalarModel(parseModel('param w = 0.1\nmodel h = sin(w)')) // true
 */
export function isScalarModel(m: Model): boolean {
  return m.paramCount === 1 && m.params.length === 1 && m.outputShape.reduce((a, b) => a * b, 1) === 1;
}

/** The closed forms `ntk print --derivative` shows for a scalar model: h(w) and dh/dw. */
export interface ModelClosedForms {
  /** The parameter's name (the variable of the closed forms). */
  variable: string;
  h: ClosedForm | null;
  dh: ClosedForm | null;
}

/**
 * h and dh/dw of a scalar model (one weight, one output) in closed form; null for other models.
 * @example (await modelClosedForms(loadModel('examples/converse.ntk')))?.dh?.text // "2 * w + 0.1"
 */
export async function modelClosedForms(m: Model): Promise<ModelClosedForms | null> {
  if (!isScalarModel(m)) return null;
  const g = m.graph, w = m.params[0]!.node;
  const [dh] = jvp(g, [m.output], new Map([[w, g.constant(1, m.params[0]!.shape)]]));
  return { variable: m.params[0]!.name, h: await closedForm(g, m.output), dh: await closedForm(g, dh!) };
}

/**
 * K^(r)(w) of a scalar model in closed form (`deriveKernel`: a function of w alone when k = 1);
 * null for other models or when too long to simplify.
 * @example (await kernelClosedForm(loadModel('examples/converse.ntk'), 3))?.text // "4 * (2 * w + 0.1) ^ 2"
 */
export async function kernelClosedForm(m: Model, r: number): Promise<ClosedForm | null> {
  if (!isScalarModel(m)) return null;
  return closedForm(m.graph, deriveKernel(m, r).value);
}

/**
 * The printer: a graph as readable mathematics. Subexpressions used more than once are named
 * once (`t1 = …`) and referred to by name, so derivative graphs stay legible.
 *
 *   h = 0.1*w + w^2
 *   Dh·v = 0.1*v + 2*w*v
 */
import type { Graph, NodeId } from './graph.ts';
import { asSigmoid } from './composites.ts';
import { PRIMITIVES } from './ops.ts';
import { PREC, type Printer } from './rules.ts';
import { provenanceTex } from './symbols.ts';

/** Shared subexpressions up to this many characters are printed inline, not named. */
const SHORT = 12;

function fmtNumber(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const s = v.toPrecision(12);
  return String(Number(s));
}

function displayName(name: string): string {
  // Fresh AD inputs are named like 'v#3' or 'lin#7': show the stem with the counter as a subscript.
  const m = /^(.*?)#(\d+)$/.exec(name);
  return m ? `${m[1]}${m[2]}` : name;
}

/**
 * How `printGraph` prints: plain text or LaTeX, and how much literal data it shows.
 */
export interface PrintOptions {
  /** Show literal data up to this many values (default 6). */
  maxLiteral?: number;
  /**
   * LaTeX instead of plain text: names with subscripts (t_{1}, u_{2}), \\frac, \\sqrt,
   * \\tanh, ^{\\top}, and the lines as one `aligned` environment. Root names are used as
   * given (pass LaTeX, e.g. 'K^{(3)}').
   */
  latex?: boolean;
}

/** A name as LaTeX: a trailing number becomes a subscript (t12 → t_{12}); '#' counters too. */
function latexName(name: string): string {
  const m = /^([A-Za-z]+?)_?#?(\d+)$/.exec(name.replace(/#/, ''));
  const base = m ? m[1]! : name;
  const sub = m ? m[2]! : '';
  const stem = base.length > 1 ? `\\mathrm{${base.replace(/_/g, '\\_')}}` : base;
  return sub ? `${stem}_{${sub}}` : stem;
}

/** Scientific notation as LaTeX (1e-7 → 1 \\times 10^{-7}). */
function latexNumber(v: number): string {
  const s = fmtNumber(v);
  const m = /^(-?[\d.]+)e([+-]\d+)$/.exec(s);
  return m ? `${m[1]} \\times 10^{${Number(m[2])}}` : s;
}

/**
 * Print named roots of a graph, sharing subexpressions.
 * @example printGraph(g, [['h', model.output]]) // "h = 0.1*w + w^2"
 */
export function printGraph(g: Graph, roots: [string, NodeId][], opts: PrintOptions = {}): string {
  const maxLiteral = opts.maxLiteral ?? 6;
  const tex = opts.latex === true;
  const paren = (x: string) => (tex ? `\\left(${x}\\right)` : `(${x})`);
  const uses = new Map<NodeId, number>();
  const cone = g.cone(roots.map((r) => r[1]));
  for (const n of cone) for (const a of g.args(n)) uses.set(a, (uses.get(a) ?? 0) + 1);
  const named = new Map<NodeId, string>();
  const lines: string[] = [];
  const rootOf = new Map(roots.map(([name, id]) => [id, name]));

  // Everything below is one pass over the cone in id order, which is topological (a node's
  // inputs have smaller ids), so nothing recurses along the graph's depth: a chain of thousands
  // of ops (an unrolled loop) prints without exhausting the stack.
  const trivial = new Set<NodeId>();
  for (const n of cone) {
    const op = g.op(n);
    if (op === 'input' || op === 'const' || ((op === 'broadcast' || op === 'reshape') && trivial.has(g.args(n)[0]!))) trivial.add(n);
  }
  const isTrivial = (n: NodeId) => trivial.has(n);

  // expression text and its precedence: the registry's print rule of the node's op
  const printer: Printer = {
    tex,
    render: (n) => render(n),
    wrap: (id, min) => {
      const [s, p] = render(id);
      return p < min ? paren(s) : s;
    },
    name: (s) => (tex ? latexName(s) : displayName(s)),
    number: (v) => (tex ? latexNumber(v) : fmtNumber(v)),
    literal: (d, shape) => {
      if (d.length <= maxLiteral) return tex ? `\\left[${Array.from(d, latexNumber).join(', ')}\\right]` : `[${Array.from(d, fmtNumber).join(', ')}]`;
      return tex ? `\\mathrm{array}_{[${shape.join(', ')}]}` : `array[${shape.join(', ')}]`;
    },
    fn: (name, arg, texName) => (tex ? `${texName ?? `\\operatorname{${name}}`}\\left(${arg}\\right)` : `${name}(${arg})`),
    constValue: (n) => g.constValue(n),
    provenance: (m) => provenanceTex(m, latexName, latexNumber, PREC),
  };
  // A node's text, computed once from its inputs' (already computed) texts, and dropped when its
  // last user has read it (so the texts held are those of the frontier, not of every node).
  const texts = new Map<NodeId, [string, number]>();
  const remaining = new Map(uses);
  const render = (n: NodeId): [string, number] => {
    const name = named.get(n);
    if (name) return [name, PREC.atom];
    const t = texts.get(n);
    if (t === undefined) throw new Error(`internal: printGraph renders node ${n} before its inputs`);
    return t;
  };
  // One node's own text from its inputs' texts (the registry's print rule; in LaTeX, a composite
  // as written: ½ + ½·tanh(z/2) is σ(z), whose inner z is a deeper node — so in LaTeX the texts
  // are all kept, not dropped after their last user).
  const renderOwn = (n: NodeId): [string, number] => {
    if (tex) {
      const s = asSigmoid(g, n);
      if (s) {
        const [c, cp] = s.scale.m ? printer.provenance(s.scale.m) : [latexNumber(s.scale.v), s.scale.v < 0 ? PREC.neg : PREC.atom];
        const arg = s.scale.v === 1 && !s.scale.m ? render(s.inner)[0] : `${cp < PREC.mul ? paren(c) : c} \\, ${printer.wrap(s.inner, PREC.mul)}`;
        return [`\\sigma\\left(${arg}\\right)`, PREC.atom];
      }
    }
    return PRIMITIVES[g.op(n)].print(printer, g.attrs(n), g.args(n));
  };

  let counter = 0;
  for (const n of cone) {
    const args = g.args(n);
    const own = renderOwn(n);
    for (const a of args) {
      const left = remaining.get(a)! - 1;
      remaining.set(a, left);
      if (left === 0 && !rootOf.has(a) && !tex) texts.delete(a);
    }
    texts.set(n, own);
    if (rootOf.has(n) || isTrivial(n) || (uses.get(n) ?? 0) < 2) continue;
    const text = own[0];
    if (text.length <= (tex ? 2 * SHORT : SHORT)) continue; // cheaper to read inline than by name
    const name = tex ? `t_{${++counter}}` : `t${++counter}`;
    lines.push(tex ? `${name} &= ${text}` : `${name} = ${text}`);
    named.set(n, name);
  }
  for (const [name, id] of roots) lines.push(tex ? `${name} &= ${render(id)[0]}` : `${name} = ${render(id)[0]}`);
  if (tex) return `\\begin{aligned}\n${lines.join(' \\\\\n')}\n\\end{aligned}`;
  return lines.join('\n');
}

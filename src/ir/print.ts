/**
 * The printer: a graph as readable mathematics. Subexpressions used more than once are named
 * once (`t1 = …`) and referred to by name, so derivative graphs stay legible.
 *
 *   h = 0.1*w + w^2
 *   Dh·v = 0.1*v + 2*w*v
 */
import type { Graph, NodeId } from './graph.ts';

/** Binding strength of the printed form, to place parentheses. */
/** Shared subexpressions up to this many characters are printed inline, not named. */
const SHORT = 12;

/** LaTeX of the elementwise functions (others print as \\operatorname{name}). */
const TEX_FN: Record<string, string> = { log: '\\log', sin: '\\sin', cos: '\\cos', tanh: '\\tanh', erf: '\\operatorname{erf}' };

const PREC = { add: 1, sub: 1, mul: 2, div: 2, matmul: 2, neg: 3, pow: 4, atom: 5 } as const;

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
  const fn = (name: string, arg: string) => (tex ? `${TEX_FN[name] ?? `\\operatorname{${name}}`}\\left(${arg}\\right)` : `${name}(${arg})`);
  const uses = new Map<NodeId, number>();
  const cone = g.cone(roots.map((r) => r[1]));
  for (const n of cone) for (const a of g.args(n)) uses.set(a, (uses.get(a) ?? 0) + 1);
  const named = new Map<NodeId, string>();
  const lines: string[] = [];
  const rootOf = new Map(roots.map(([name, id]) => [id, name]));

  const isTrivial = (n: NodeId): boolean => {
    const op = g.op(n);
    return op === 'input' || op === 'const' || (op === 'broadcast' && isTrivial(g.args(n)[0]!)) || op === 'reshape' && isTrivial(g.args(n)[0]!);
  };

  // expression text and its precedence
  const render = (n: NodeId): [string, number] => {
    const name = named.get(n);
    if (name) return [name, PREC.atom];
    const op = g.op(n);
    const a = g.attrs(n);
    const x = g.args(n);
    const wrap = (id: NodeId, min: number) => {
      const [s, p] = render(id);
      return p < min ? paren(s) : s;
    };
    switch (op) {
      case 'input':
        return [tex ? latexName(a.name!) : displayName(a.name!), PREC.atom];
      case 'const': {
        const v = tex ? latexNumber(a.value!) : fmtNumber(a.value!);
        return a.value! < 0 ? [v, PREC.neg] : [v, PREC.atom];
      }
      case 'literal': {
        const d = a.data!;
        if (d.length <= maxLiteral) return [tex ? `\\left[${Array.from(d, latexNumber).join(', ')}\\right]` : `[${Array.from(d, fmtNumber).join(', ')}]`, PREC.atom];
        return [tex ? `\\mathrm{array}_{[${a.shape!.join(', ')}]}` : `array[${a.shape!.join(', ')}]`, PREC.atom];
      }
      case 'neg':
        return [`-${wrap(x[0]!, PREC.neg + 1)}`, PREC.neg];
      case 'add':
        return [`${wrap(x[0]!, PREC.add)} + ${wrap(x[1]!, PREC.add)}`, PREC.add];
      case 'sub':
        return [`${wrap(x[0]!, PREC.add)} - ${wrap(x[1]!, PREC.add + 1)}`, PREC.add];
      case 'mul':
        return [`${wrap(x[0]!, PREC.mul)}${tex ? ' \\, ' : '*'}${wrap(x[1]!, PREC.mul)}`, PREC.mul];
      case 'div':
        if (tex) return [`\\frac{${render(x[0]!)[0]}}{${render(x[1]!)[0]}}`, PREC.atom];
        return [`${wrap(x[0]!, PREC.mul)}/${wrap(x[1]!, PREC.mul + 1)}`, PREC.mul];
      case 'matmul':
        return [`${wrap(x[0]!, PREC.mul)}${tex ? ' \\, ' : ' @ '}${wrap(x[1]!, PREC.mul + 1)}`, PREC.mul];
      case 'pow': {
        const e = g.constValue(x[1]!);
        if (e === 0.5) return [tex ? `\\sqrt{${render(x[0]!)[0]}}` : `sqrt(${render(x[0]!)[0]})`, PREC.atom];
        if (tex) return [`${wrap(x[0]!, PREC.pow + 1)}^{${render(x[1]!)[0]}}`, PREC.pow];
        return [`${wrap(x[0]!, PREC.pow + 1)}^${wrap(x[1]!, PREC.pow)}`, PREC.pow];
      }
      case 'exp':
        if (tex) return [`e^{${render(x[0]!)[0]}}`, PREC.pow];
        return [fn(op, render(x[0]!)[0]), PREC.atom];
      case 'log': case 'sin': case 'cos': case 'tanh': case 'erf': case 'softplus': case 'sign':
        return [fn(op, render(x[0]!)[0]), PREC.atom];
      case 'broadcast':
        // Broadcasting is implicit in the printed maths.
        return render(x[0]!);
      case 'reshape':
        if (tex) return [`\\operatorname{reshape}_{[${a.shape!.join(', ')}]}\\left(${render(x[0]!)[0]}\\right)`, PREC.atom];
        return [`reshape(${render(x[0]!)[0]}, [${a.shape!.join(', ')}])`, PREC.atom];
      case 'sum':
        if (tex) return [`\\sum_{${a.axes!.join(',')}}\\left(${render(x[0]!)[0]}\\right)`, PREC.atom];
        return [`sum(${render(x[0]!)[0]}, axes=[${a.axes!.join(', ')}])`, PREC.atom];
      case 'transpose':
        if (a.perm!.length === 2) return [`${wrap(x[0]!, PREC.atom)}${tex ? '^{\\top}' : 'ᵀ'}`, PREC.atom];
        return [tex ? `\\operatorname{transpose}_{[${a.perm!.join(', ')}]}\\left(${render(x[0]!)[0]}\\right)` : `transpose(${render(x[0]!)[0]}, [${a.perm!.join(', ')}])`, PREC.atom];
      case 'slice': {
        const idx = a.starts!.map((s, i) => (s === a.ends![i]! - 1 ? `${s}` : `${s}:${a.ends![i]}`)).join(', ');
        return [tex ? `${wrap(x[0]!, PREC.atom)}_{[${idx}]}` : `${wrap(x[0]!, PREC.atom)}[${idx}]`, PREC.atom];
      }
      case 'pad':
        if (tex) return [`\\operatorname{pad}_{[${a.starts!.join(', ')}] \\to [${a.shape!.join(', ')}]}\\left(${render(x[0]!)[0]}\\right)`, PREC.atom];
        return [`pad(${render(x[0]!)[0]}, at [${a.starts!.join(', ')}] in [${a.shape!.join(', ')}])`, PREC.atom];
      case 'concat':
        if (tex) return [`\\operatorname{concat}_{${a.axis}}\\left(${x.map((i) => render(i)[0]).join(', ')}\\right)`, PREC.atom];
        return [`concat(${x.map((i) => render(i)[0]).join(', ')}; axis ${a.axis})`, PREC.atom];
    }
  };

  let counter = 0;
  for (const n of cone) {
    if (rootOf.has(n) || isTrivial(n) || (uses.get(n) ?? 0) < 2) continue;
    const text = render(n)[0];
    if (text.length <= (tex ? 2 * SHORT : SHORT)) continue; // cheaper to read inline than by name
    const name = tex ? `t_{${++counter}}` : `t${++counter}`;
    lines.push(tex ? `${name} &= ${text}` : `${name} = ${text}`);
    named.set(n, name);
  }
  for (const [name, id] of roots) lines.push(tex ? `${name} &= ${render(id)[0]}` : `${name} = ${render(id)[0]}`);
  if (tex) return `\\begin{aligned}\n${lines.join(' \\\\\n')}\n\\end{aligned}`;
  return lines.join('\n');
}

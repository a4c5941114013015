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

export interface PrintOptions {
  /** Show literal data up to this many values (default 6). */
  maxLiteral?: number;
}

/**
 * Print named roots of a graph, sharing subexpressions.
 * @example printGraph(g, [['h', model.output]]) // "h = 0.1*w + w^2"
 */
export function printGraph(g: Graph, roots: [string, NodeId][], opts: PrintOptions = {}): string {
  const maxLiteral = opts.maxLiteral ?? 6;
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
      return p < min ? `(${s})` : s;
    };
    switch (op) {
      case 'input':
        return [displayName(a.name!), PREC.atom];
      case 'const':
        return a.value! < 0 ? [fmtNumber(a.value!), PREC.neg] : [fmtNumber(a.value!), PREC.atom];
      case 'literal': {
        const d = a.data!;
        if (d.length <= maxLiteral) return [`[${Array.from(d, fmtNumber).join(', ')}]`, PREC.atom];
        return [`array[${a.shape!.join(', ')}]`, PREC.atom];
      }
      case 'neg':
        return [`-${wrap(x[0]!, PREC.neg + 1)}`, PREC.neg];
      case 'add':
        return [`${wrap(x[0]!, PREC.add)} + ${wrap(x[1]!, PREC.add)}`, PREC.add];
      case 'sub':
        return [`${wrap(x[0]!, PREC.add)} - ${wrap(x[1]!, PREC.add + 1)}`, PREC.add];
      case 'mul':
        return [`${wrap(x[0]!, PREC.mul)}*${wrap(x[1]!, PREC.mul)}`, PREC.mul];
      case 'div':
        return [`${wrap(x[0]!, PREC.mul)}/${wrap(x[1]!, PREC.mul + 1)}`, PREC.mul];
      case 'matmul':
        return [`${wrap(x[0]!, PREC.mul)} @ ${wrap(x[1]!, PREC.mul + 1)}`, PREC.mul];
      case 'pow': {
        const e = g.constValue(x[1]!);
        if (e === 0.5) return [`sqrt(${render(x[0]!)[0]})`, PREC.atom];
        return [`${wrap(x[0]!, PREC.pow + 1)}^${wrap(x[1]!, PREC.pow)}`, PREC.pow];
      }
      case 'exp': case 'log': case 'sin': case 'cos': case 'tanh': case 'erf': case 'softplus': case 'sign':
        return [`${op}(${render(x[0]!)[0]})`, PREC.atom];
      case 'broadcast':
        // Broadcasting is implicit in the printed maths.
        return render(x[0]!);
      case 'reshape':
        return [`reshape(${render(x[0]!)[0]}, [${a.shape!.join(', ')}])`, PREC.atom];
      case 'sum':
        return [`sum(${render(x[0]!)[0]}, axes=[${a.axes!.join(', ')}])`, PREC.atom];
      case 'transpose':
        return a.perm!.length === 2 ? [`${wrap(x[0]!, PREC.atom)}ᵀ`, PREC.atom] : [`transpose(${render(x[0]!)[0]}, [${a.perm!.join(', ')}])`, PREC.atom];
      case 'slice':
        return [`${wrap(x[0]!, PREC.atom)}[${a.starts!.map((s, i) => (s === a.ends![i]! - 1 ? `${s}` : `${s}:${a.ends![i]}`)).join(', ')}]`, PREC.atom];
      case 'pad':
        return [`pad(${render(x[0]!)[0]}, at [${a.starts!.join(', ')}] in [${a.shape!.join(', ')}])`, PREC.atom];
      case 'concat':
        return [`concat(${x.map((i) => render(i)[0]).join(', ')}; axis ${a.axis})`, PREC.atom];
    }
  };

  let counter = 0;
  for (const n of cone) {
    if (rootOf.has(n) || isTrivial(n) || (uses.get(n) ?? 0) < 2) continue;
    const text = render(n)[0];
    if (text.length <= SHORT) continue; // cheaper to read inline than by name
    const name = `t${++counter}`;
    lines.push(`${name} = ${text}`);
    named.set(n, name);
  }
  for (const [name, id] of roots) lines.push(`${name} = ${render(id)[0]}`);
  return lines.join('\n');
}

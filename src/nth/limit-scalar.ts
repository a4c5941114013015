/**
 * Scalar functions of one Gaussian variable u, as the infinite-width limit sees them: the
 * elementwise part of a program between two matrix products (φ in x = φ(W y)), as a small tree
 * built from the graph's elementwise ops. From the tree: a vectorized evaluator, the symbolic
 * derivative φ′ (for the NTK), the decomposition into closed-form atoms when there is one
 * (relu = ½(u + u·sign u) = ½ id + ½ abs, step = ½(1 + sign u), erf(βu), sin, cos, exp, …), and
 * the kink check (sign(ψ(u)) is accepted only when ψ vanishes at 0 alone).
 *
 * @example
 *   const phi = un('tanh', VAR);          // tanh(u)
 *   toGaussFn(derivative(phi)).name        // "1 − tanh(u)²" style text
 */
import { erf } from '../runtime/erf.ts';
import { termsFn, type AtomTerm, type GaussFn } from '../math/gaussian.ts';

export type SUnary = 'neg' | 'exp' | 'log' | 'sin' | 'cos' | 'tanh' | 'erf' | 'softplus' | 'sign' | 'gauss' | 'sigmoid';
export type SBinary = 'add' | 'sub' | 'mul' | 'div' | 'pow';
export type SE =
  | { op: 'var' }
  | { op: 'const'; v: number }
  | { op: SUnary; x: SE }
  | { op: SBinary; a: SE; b: SE };

export const VAR: SE = { op: 'var' };
export const cst = (v: number): SE => ({ op: 'const', v });
const isC = (e: SE, v?: number): e is { op: 'const'; v: number } => e.op === 'const' && (v === undefined || e.v === v);

const UNARY_NUM: Record<SUnary, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sin: Math.sin,
  cos: Math.cos,
  tanh: Math.tanh,
  erf,
  softplus: (x) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x))),
  sign: Math.sign,
  gauss: (x) => Math.exp(-x * x),
  sigmoid: (x) => 0.5 + 0.5 * Math.tanh(0.5 * x),
};
const BINARY_NUM: Record<SBinary, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => a ** b,
};

/** A unary node, constant-folded. */
export function un(op: SUnary, x: SE): SE {
  if (isC(x)) return cst(UNARY_NUM[op](x.v));
  if (op === 'neg' && x.op === 'neg') return x.x;
  return { op, x };
}

/** A binary node, with constant folding and the identities x+0, x·1, x·0, x^1. */
export function bin(op: SBinary, a: SE, b: SE): SE {
  if (isC(a) && isC(b)) return cst(BINARY_NUM[op](a.v, b.v));
  switch (op) {
    case 'add':
      if (isC(a, 0)) return b;
      if (isC(b, 0)) return a;
      break;
    case 'sub':
      if (isC(b, 0)) return a;
      if (isC(a, 0)) return un('neg', b);
      break;
    case 'mul':
      if (isC(a, 0) || isC(b, 0)) return cst(0);
      if (isC(a, 1)) return b;
      if (isC(b, 1)) return a;
      if (isC(b)) return bin('mul', b, a);
      break;
    case 'div':
      if (isC(b, 1)) return a;
      if (isC(a, 0)) return cst(0);
      if (isC(b)) return bin('mul', cst(1 / (b as { v: number }).v), a);
      break;
    case 'pow':
      if (isC(b, 1)) return a;
      if (isC(b, 0)) return cst(1);
      break;
  }
  return { op, a, b };
}

/** Replace the variable of `e` by `x`: composition e(x). */
export function compose(e: SE, x: SE): SE {
  switch (e.op) {
    case 'var': return x;
    case 'const': return e;
    case 'add': case 'sub': case 'mul': case 'div': case 'pow': return bin(e.op, compose(e.a, x), compose(e.b, x));
    default: return un(e.op, compose(e.x, x));
  }
}

/** dφ/du, almost everywhere (sign′ = 0: callers check for jumps with `hasJump`). */
export function derivative(e: SE): SE {
  switch (e.op) {
    case 'var': return cst(1);
    case 'const': return cst(0);
    case 'add': return bin('add', derivative(e.a), derivative(e.b));
    case 'sub': return bin('sub', derivative(e.a), derivative(e.b));
    case 'mul': return bin('add', bin('mul', derivative(e.a), e.b), bin('mul', e.a, derivative(e.b)));
    case 'div':
      return bin('sub', bin('div', derivative(e.a), e.b), bin('div', bin('mul', e.a, derivative(e.b)), bin('mul', e.b, e.b)));
    case 'pow': {
      if (!isC(e.b)) {
        // a^b = exp(b log a)
        return derivative(un('exp', bin('mul', e.b, un('log', e.a))));
      }
      return bin('mul', bin('mul', e.b, bin('pow', e.a, cst(e.b.v - 1))), derivative(e.a));
    }
  }
  const dx = derivative(e.x);
  if (isC(dx, 0)) return cst(0);
  let outer: SE;
  switch (e.op) {
    case 'neg': return un('neg', dx);
    case 'exp': outer = e; break;
    case 'log': outer = bin('div', cst(1), e.x); break;
    case 'sin': outer = un('cos', e.x); break;
    case 'cos': outer = un('neg', un('sin', e.x)); break;
    case 'tanh': outer = bin('sub', cst(1), bin('mul', e, e)); break;
    case 'erf': outer = bin('mul', cst(2 / Math.sqrt(Math.PI)), un('gauss', e.x)); break;
    case 'softplus': outer = un('sigmoid', e.x); break;
    case 'sign': return cst(0);
    case 'gauss': outer = bin('mul', bin('mul', cst(-2), e.x), e); break;
    case 'sigmoid': outer = bin('mul', e, bin('sub', cst(1), e)); break;
  }
  return bin('mul', outer, dx);
}

/** Vectorized evaluation: out[i] = e(x[i]) (one tight loop per node, no per-element calls). */
export function evaluate(e: SE, x: Float64Array): Float64Array {
  const n = x.length;
  switch (e.op) {
    case 'var': return x;
    case 'const': return new Float64Array(n).fill(e.v);
    case 'add': case 'sub': case 'mul': case 'div': case 'pow': {
      const a = evaluate(e.a, x), b = evaluate(e.b, x);
      const out = a !== x && a.length === n ? a : new Float64Array(n);
      switch (e.op) {
        case 'add': for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!; break;
        case 'sub': for (let i = 0; i < n; i++) out[i] = a[i]! - b[i]!; break;
        case 'mul': for (let i = 0; i < n; i++) out[i] = a[i]! * b[i]!; break;
        case 'div': for (let i = 0; i < n; i++) out[i] = a[i]! / b[i]!; break;
        case 'pow': for (let i = 0; i < n; i++) out[i] = a[i]! ** b[i]!; break;
      }
      return out;
    }
    default: {
      const a = evaluate(e.x, x);
      const out = a !== x ? a : new Float64Array(n);
      switch (e.op) {
        case 'neg': for (let i = 0; i < n; i++) out[i] = -a[i]!; break;
        case 'exp': for (let i = 0; i < n; i++) out[i] = Math.exp(a[i]!); break;
        case 'log': for (let i = 0; i < n; i++) out[i] = Math.log(a[i]!); break;
        case 'sin': for (let i = 0; i < n; i++) out[i] = Math.sin(a[i]!); break;
        case 'cos': for (let i = 0; i < n; i++) out[i] = Math.cos(a[i]!); break;
        case 'tanh': for (let i = 0; i < n; i++) out[i] = Math.tanh(a[i]!); break;
        case 'sign': for (let i = 0; i < n; i++) out[i] = Math.sign(a[i]!); break;
        case 'gauss': for (let i = 0; i < n; i++) out[i] = Math.exp(-a[i]! * a[i]!); break;
        default: { const f = UNARY_NUM[e.op]; for (let i = 0; i < n; i++) out[i] = f(a[i]!); }
      }
      return out;
    }
  }
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : Number(v.toPrecision(6)).toString());

/** Readable text of a scalar function of u. */
export function show(e: SE): string {
  switch (e.op) {
    case 'var': return 'u';
    case 'const': return fmt(e.v);
    case 'add': return `(${show(e.a)} + ${show(e.b)})`;
    case 'sub': return `(${show(e.a)} − ${show(e.b)})`;
    case 'mul': return `${show(e.a)}·${show(e.b)}`;
    case 'div': return `${show(e.a)}/${show(e.b)}`;
    case 'pow': return `${show(e.a)}^${show(e.b)}`;
    case 'neg': return `−${show(e.x)}`;
    default: return `${e.op}(${show(e.x)})`;
  }
}

/** The decomposition Σ c·atom(β·u), or null when e is not such a combination. */
export function toTerms(e: SE): AtomTerm[] | null {
  const scale = (ts: AtomTerm[] | null, k: number) => ts && ts.map((t) => ({ ...t, coef: t.coef * k }));
  /** e = α·u exactly: α, else null. */
  const linear = (x: SE): number | null => {
    const t = toTerms(x);
    return t && t.length === 1 && t[0]!.atom === 'id' ? t[0]!.coef * t[0]!.scale : null;
  };
  switch (e.op) {
    case 'var': return [{ atom: 'id', coef: 1, scale: 1 }];
    case 'const': return [{ atom: 'one', coef: e.v, scale: 1 }];
    case 'neg': return scale(toTerms(e.x), -1);
    case 'add': case 'sub': {
      const a = toTerms(e.a), b = toTerms(e.b);
      return a && b ? [...a, ...(e.op === 'sub' ? scale(b, -1)! : b)] : null;
    }
    case 'mul': {
      if (isC(e.a)) return scale(toTerms(e.b), e.a.v);
      if (isC(e.b)) return scale(toTerms(e.a), e.b.v);
      // α·u · sign(β·u) = α·sign(β)·|u|
      for (const [x, s] of [[e.a, e.b], [e.b, e.a]] as [SE, SE][]) {
        if (s.op !== 'sign') continue;
        const al = linear(x), be = linear(s.x);
        if (al !== null && be !== null) return [{ atom: 'abs', coef: al * Math.sign(be), scale: 1 }];
      }
      return null;
    }
    case 'div': return isC(e.b) ? scale(toTerms(e.a), 1 / e.b.v) : null;
    case 'erf': case 'sin': case 'cos': case 'exp': case 'sign': case 'gauss': {
      const al = linear(e.x);
      return al === null ? null : [{ atom: e.op, coef: 1, scale: al }];
    }
    default: return null;
  }
}

/** The arguments of every sign(·) in e. */
function signArgs(e: SE, out: SE[] = []): SE[] {
  switch (e.op) {
    case 'var': case 'const': return out;
    case 'add': case 'sub': case 'mul': case 'div': case 'pow': signArgs(e.a, out); signArgs(e.b, out); return out;
    default:
      if (e.op === 'sign') out.push(e.x);
      return signArgs(e.x, out);
  }
}

/** A grid of u for the kink checks: dense near 0, out to ±60. */
const GRID = (() => {
  const xs: number[] = [];
  for (let i = 1; i <= 600; i++) xs.push(i * 0.1, -i * 0.1, i * 1e-4, -i * 1e-4);
  return Float64Array.from(xs);
})();

/**
 * Whether every kink of e is at u = 0: each sign(ψ(u)) must have ψ(0) = 0 and the sign of ψ
 * constant on each side of 0 (checked on a grid). Returns the offending argument otherwise.
 */
export function kinkOutsideZero(e: SE): SE | null {
  for (const a of signArgs(e)) {
    const at0 = evaluate(a, Float64Array.of(0))[0]!;
    const v = evaluate(a, GRID);
    let pos = 0, neg = 0;
    for (let i = 0; i < GRID.length; i++) {
      const s = Math.sign(v[i]!) * Math.sign(GRID[i]!);
      if (s > 0) pos++;
      else if (s < 0) neg++;
    }
    const constantSign = (() => {
      let p = 0, n = 0;
      for (let i = 0; i < GRID.length; i++) (v[i]! > 0 ? p++ : v[i]! < 0 ? n++ : 0);
      return p === 0 || n === 0;
    })();
    if (constantSign) continue; // sign(ψ) constant: no kink at all
    if (at0 !== 0 || (pos > 0 && neg > 0)) return a;
  }
  return null;
}

/** Whether e jumps at 0 (a discontinuity, e.g. sign or step): its derivative has a δ there. */
export function hasJump(e: SE): boolean {
  if (signArgs(e).length === 0) return false;
  const [l, r] = evaluate(e, Float64Array.of(-1e-9, 1e-9));
  const [a, b] = evaluate(e, Float64Array.of(-1, 1));
  return Math.abs(r! - l!) > 1e-6 * (1 + Math.abs(a!) + Math.abs(b!));
}

/** The GaussFn of e (closed-form atoms when e decomposes into them). */
export function toGaussFn(e: SE): GaussFn {
  const terms = toTerms(e);
  if (terms) return { ...termsFn(show(e), terms), name: show(e) };
  return {
    name: show(e),
    kinkAtZero: signArgs(e).length > 0,
    eval: (x, out) => out.set(evaluate(e, x)),
  };
}

/** Whether e is the variable itself times a constant (a linear function). */
export function isLinear(e: SE): boolean {
  const t = toTerms(e);
  return !!t && t.every((x) => x.atom === 'id' || (x.atom === 'one' && x.coef === 0));
}

/** Structural equality of two trees. */
export function sameSE(a: SE, b: SE): boolean {
  if (a.op !== b.op) return false;
  switch (a.op) {
    case 'var': return true;
    case 'const': return a.v === (b as typeof a).v;
    case 'add': case 'sub': case 'mul': case 'div': case 'pow':
      return sameSE(a.a, (b as typeof a).a) && sameSE(a.b, (b as typeof a).b);
    default: return sameSE(a.x, (b as typeof a).x);
  }
}

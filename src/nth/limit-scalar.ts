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
 *   toGaussFn(derivative(phi)).name        // "tanh′(u)"
 */
import { PRIMITIVES, type UnaryOp } from '../ir/ops.ts';
import { termsFn, type AtomTerm, type GaussFn } from '../math/gaussian.ts';

export type SBinary = 'add' | 'sub' | 'mul' | 'div' | 'pow';
/**
 * A scalar function of u: the variable, a constant, a unary primitive applied (`un`), its first
 * or second derivative applied (`d1`, `d2`: the NTK needs φ′), or a binary arithmetic node. The
 * per-op knowledge — values, derivatives, closed-form atoms — is read from the primitive
 * registry (`ir/ops.ts`: `scalar` and `gaussian` of each entry).
 */
export type SE =
  | { op: 'var' }
  | { op: 'const'; v: number }
  | { op: 'un' | 'd1' | 'd2'; name: UnaryOp; x: SE }
  | { op: SBinary; a: SE; b: SE };

export const VAR: SE = { op: 'var' };
export const cst = (v: number): SE => ({ op: 'const', v });
const isC = (e: SE, v?: number): boolean => e.op === 'const' && (v === undefined || e.v === v);
const cv = (e: SE) => (e as { v: number }).v;

const scalarOf = (kind: 'un' | 'd1' | 'd2', name: UnaryOp): ((x: number) => number) => {
  const s = PRIMITIVES[name].scalar;
  return kind === 'un' ? s.f : kind === 'd1' ? s.d1 : s.d2;
};
const BINARY_NUM: Record<SBinary, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => PRIMITIVES.pow.f(a, b),
};

/** name(x), constant-folded. */
export function un(name: UnaryOp, x: SE, kind: 'un' | 'd1' | 'd2' = 'un'): SE {
  if (x.op === 'const') return cst(scalarOf(kind, name)(x.v));
  if (kind === 'un' && name === 'neg' && x.op === 'un' && x.name === 'neg') return x.x;
  return { op: kind, name, x };
}

/** A binary node, with constant folding and the identities x+0, x·1, x·0, x^1. */
export function bin(op: SBinary, a: SE, b: SE): SE {
  if (isC(a) && isC(b)) return cst(BINARY_NUM[op](cv(a), cv(b)));
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
      if (isC(b)) return bin('mul', cst(1 / cv(b)), a);
      break;
    case 'pow':
      if (isC(b, 1)) return a;
      if (isC(b, 0)) return cst(1);
      break;
  }
  return { op, a, b };
}

/** dφ/du, almost everywhere (a jump's δ is not represented: callers check with `hasJump`). */
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
      if (!isC(e.b)) return derivative(un('exp', bin('mul', e.b, un('log', e.a))));
      return bin('mul', bin('mul', e.b, bin('pow', e.a, cst(cv(e.b) - 1))), derivative(e.a));
    }
    case 'un': case 'd1': case 'd2': {
      const dx = derivative(e.x);
      if (isC(dx, 0)) return cst(0);
      if (e.op === 'd2') throw new Error(`internal: a third derivative of ${e.name}`);
      // f′ = 0 almost everywhere (sign: the registry's Gaussian rule has no terms for it)
      const rule = PRIMITIVES[e.name].gaussian.d1;
      if (e.op === 'un' && rule && rule.length === 0) return cst(0);
      return bin('mul', un(e.name, e.x, e.op === 'un' ? 'd1' : 'd2'), dx);
    }
  }
}

/** Vectorized evaluation: out[i] = e(x[i]) (one tight loop per node). */
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
        case 'pow': { const f = BINARY_NUM.pow; for (let i = 0; i < n; i++) out[i] = f(a[i]!, b[i]!); }
      }
      return out;
    }
    default: {
      const a = evaluate(e.x, x);
      const out = a !== x ? a : new Float64Array(n);
      const f = scalarOf(e.op, e.name);
      for (let i = 0; i < n; i++) out[i] = f(a[i]!);
      return out;
    }
  }
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : Number(v.toPrecision(6)).toString());

/** Readable text of a scalar function of u (the variable shown as `arg`). */
export function show(e: SE, arg = 'u'): string {
  const show_ = (x: SE) => show(x, arg);
  switch (e.op) {
    case 'var': return arg;
    case 'const': return fmt(e.v);
    case 'add': return `(${show_(e.a)} + ${show_(e.b)})`;
    case 'sub': return `(${show_(e.a)} − ${show_(e.b)})`;
    case 'mul': return `${show_(e.a)}·${show_(e.b)}`;
    case 'div': return `${show_(e.a)}/${show_(e.b)}`;
    case 'pow': return `${show_(e.a)}^${show_(e.b)}`;
    case 'un': return e.name === 'neg' ? `−${show_(e.x)}` : `${e.name}(${show_(e.x)})`;
    case 'd1': return `${e.name}′(${show_(e.x)})`;
    case 'd2': return `${e.name}″(${show_(e.x)})`;
  }
}

const DEGREE: Partial<Record<AtomTerm['atom'], number>> = { one: 0, id: 1, sq: 2, cube: 3 };
/** Terms that are all powers of u (one, id, sq, cube) as coefficients [a0, a1, a2, a3], else null. */
function poly(ts: AtomTerm[] | null): number[] | null {
  if (!ts) return null;
  const a = [0, 0, 0, 0];
  for (const t of ts) {
    const k = DEGREE[t.atom];
    if (k === undefined) return null;
    a[k]! += t.coef * t.scale ** k;
  }
  return a;
}
/** The product of two cubic polynomials when its degree is ≤ 3, else null. */
function polyMul(a: number[], b: number[]): number[] | null {
  const r = [0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) r[i + j]! += a[i]! * b[j]!;
  return r.slice(4).some((x) => x !== 0) ? null : r.slice(0, 4);
}
const fromPoly = (a: number[]): AtomTerm[] =>
  (['one', 'id', 'sq', 'cube'] as const).map((atom, k) => ({ atom, coef: a[k]!, scale: 1 })).filter((t, k) => t.coef !== 0 || k === 0);

/** The decomposition Σ c·atom(β·u), or null when e is not such a combination. */
export function toTerms(e: SE): AtomTerm[] | null {
  const scale = (ts: AtomTerm[] | null, k: number) => ts && ts.map((t) => ({ ...t, coef: t.coef * k }));
  /** e = α·u exactly: α, else null. */
  const linear = (x: SE): number | null => {
    const t = toTerms(x);
    if (!t) return null;
    let al = 0;
    for (const a of t) {
      if (a.atom === 'id') al += a.coef * a.scale;
      else if (!(a.atom === 'one' && a.coef === 0)) return null;
    }
    return al;
  };
  switch (e.op) {
    case 'var': return [{ atom: 'id', coef: 1, scale: 1 }];
    case 'const': return [{ atom: 'one', coef: e.v, scale: 1 }];
    case 'add': case 'sub': {
      const a = toTerms(e.a), b = toTerms(e.b);
      return a && b ? [...a, ...(e.op === 'sub' ? scale(b, -1)! : b)] : null;
    }
    case 'mul': {
      if (isC(e.a)) return scale(toTerms(e.b), cv(e.a));
      if (isC(e.b)) return scale(toTerms(e.a), cv(e.b));
      // a factor that is a constant function of u (e.g. neg′(u) = −1 in a derivative)
      for (const [k, x] of [[e.a, e.b], [e.b, e.a]] as [SE, SE][]) {
        const t = toTerms(k);
        if (t && t.every((a) => a.atom === 'one')) return scale(toTerms(x), t.reduce((acc, a) => acc + a.coef, 0));
      }
      // a product of polynomials of total degree ≤ 3
      const pa = poly(toTerms(e.a)), pb = poly(toTerms(e.b));
      const pab = pa && pb ? polyMul(pa, pb) : null;
      if (pab) return fromPoly(pab);
      // α·u · sign(β·u) = α·sign(β)·|u|
      for (const [x, s] of [[e.a, e.b], [e.b, e.a]] as [SE, SE][]) {
        if (s.op !== 'un' || s.name !== 'sign') continue;
        const al = linear(x), be = linear(s.x);
        if (al !== null && be !== null) return [{ atom: 'abs', coef: al * Math.sign(be), scale: 1 }];
      }
      return null;
    }
    case 'div': return isC(e.b) ? scale(toTerms(e.a), 1 / cv(e.b)) : null;
    case 'pow': {
      // (polynomial)^k, k = 2, 3: a polynomial of degree ≤ 3 (x², x³ are atoms)
      if (!isC(e.b) || ![2, 3].includes(cv(e.b))) return null;
      const a = poly(toTerms(e.a));
      if (!a) return null;
      let r: number[] | null = a;
      for (let k = 1; k < cv(e.b) && r; k++) r = polyMul(r, a);
      return r && fromPoly(r);
    }
    case 'un': case 'd1': {
      // the registry's closed-form atoms of f (or f′), at the argument α·u
      const rule = PRIMITIVES[e.name].gaussian[e.op === 'un' ? 'f' : 'd1'];
      const al = linear(e.x);
      if (!rule || al === null) return null;
      return rule.map((t) => ({ ...t, scale: t.scale * al }));
    }
    case 'd2': return null;
  }
}

/** The arguments of every non-smooth primitive (sign: the registry's `smooth: false`) in e. */
function signArgs(e: SE, out: SE[] = []): SE[] {
  switch (e.op) {
    case 'var': case 'const': return out;
    case 'add': case 'sub': case 'mul': case 'div': case 'pow': signArgs(e.a, out); signArgs(e.b, out); return out;
    default:
      if (!PRIMITIVES[e.name].smooth) out.push(e.x);
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
 * Where the kinks of e are: the points where the argument ψ of a sign(ψ(u)) (relu, abs, sign)
 * changes sign, found on a grid (step 0.1 out to ±60, 1e-4 near 0) and
 * refined by bisection to rounding. Sorted, without repeats; [] for a smooth e.
 * @example kinkPoints(un('relu', bin('sub', VAR, cst(1))))   // [1] (relu is a composite: sign(u − 1))
 */
export function kinkPoints(e: SE): number[] {
  const xs = Float64Array.from([...GRID, 0]).sort();
  const out: number[] = [];
  for (const a of signArgs(e)) {
    const v = evaluate(a, xs);
    const at = (x: number) => evaluate(a, Float64Array.of(x))[0]!;
    for (let i = 0; i + 1 < xs.length; i++) {
      const l = v[i]!, r = v[i + 1]!;
      if (l === 0 && i > 0 && Math.sign(v[i - 1]!) * Math.sign(r) < 0) out.push(xs[i]!);
      if (!(l * r < 0)) continue;
      let lo = xs[i]!, hi = xs[i + 1]!;
      const sl = Math.sign(l);
      for (let k = 0; k < 200 && hi - lo > 4 * Number.EPSILON * Math.max(1, Math.abs(lo)); k++) {
        const mid = 0.5 * (lo + hi);
        const m = at(mid);
        if (m === 0) { lo = hi = mid; break; }
        if (Math.sign(m) === sl) lo = mid; else hi = mid;
      }
      out.push(Math.abs(lo) < 1e-300 || Math.abs(hi) < 1e-300 ? 0 : 0.5 * (lo + hi));
    }
  }
  out.sort((x, y) => x - y);
  return out.filter((x, i) => i === 0 || x - out[i - 1]! > 8 * Number.EPSILON * Math.max(1, Math.abs(x)));
}

/** Whether e jumps at u = c (a discontinuity: its derivative has a δ there). */
export function jumpsAt(e: SE, c: number): boolean {
  const h = 1e-9 * Math.max(1, Math.abs(c));
  const [l, r, a, b] = evaluate(e, Float64Array.of(c - h, c + h, c - 1, c + 1));
  return Math.abs(r! - l!) > 1e-6 * (1 + Math.abs(a!) + Math.abs(b!));
}

/** Whether e jumps anywhere (a discontinuity, e.g. sign(u) or sign(u − 1)): its derivative has a δ there. */
export function hasJump(e: SE): boolean {
  if (signArgs(e).length === 0) return false;
  return [0, ...kinkPoints(e)].some((c) => jumpsAt(e, c));
}

/** The GaussFn of e (closed-form atoms when e decomposes into them). */
export function toGaussFn(e: SE): GaussFn {
  const terms = toTerms(e);
  if (terms) return { ...termsFn(show(e), terms), name: show(e) };
  const kinks = kinkPoints(e);
  return {
    name: show(e),
    kinkAtZero: signArgs(e).length > 0 && kinks.every((c) => c === 0),
    ...(kinks.some((c) => c !== 0) ? { kinks } : {}),
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
    default: return a.name === (b as typeof a).name && sameSE(a.x, (b as typeof a).x);
  }
}

/** Precedences for the LaTeX of a tree: sum < product < power < atom. */
export const TEX_ADD = 1, TEX_MUL = 2, TEX_POW = 3, TEX_ATOM = 4;

/**
 * LaTeX of a scalar function tree with the variable rendered as `arg` (itself LaTeX, e.g. a
 * Gaussian sum 0.7\,g_{1}); function names from the registry's `tex` (\tanh,
 * \operatorname{erf}, …), φ′ as φ'.
 * @example showTex(un('tanh', VAR), 'g_{1}')   // "\tanh\left(g_{1}\right)"
 */
export function showTex(e: SE, arg: string, argPrec = TEX_ADD, wrapBelow = 0): string {
  const [t, p] = texOf(e, arg, argPrec);
  return p < wrapBelow ? `\\left(${t}\\right)` : t;
}

function texOf(e: SE, arg: string, argPrec: number): [string, number] {
  const wrap = (x: SE, min: number) => {
    const [s, p] = texOf(x, arg, argPrec);
    return p < min ? `\\left(${s}\\right)` : s;
  };
  const fnTex = (name: UnaryOp) => PRIMITIVES[name].tex ?? `\\operatorname{${name}}`;
  switch (e.op) {
    case 'var': return [arg, argPrec];
    case 'const': return [fmt(e.v), e.v < 0 ? TEX_ADD : TEX_ATOM];
    case 'add': return [`${wrap(e.a, TEX_ADD)} + ${wrap(e.b, TEX_ADD)}`, TEX_ADD];
    case 'sub': return [`${wrap(e.a, TEX_ADD)} - ${wrap(e.b, TEX_MUL)}`, TEX_ADD];
    case 'mul': return [`${wrap(e.a, TEX_MUL)}\\,${wrap(e.b, TEX_MUL)}`, TEX_MUL];
    case 'div': return [`\\frac{${texOf(e.a, arg, argPrec)[0]}}{${texOf(e.b, arg, argPrec)[0]}}`, TEX_ATOM];
    case 'pow': return [`{${wrap(e.a, TEX_ATOM)}}^{${texOf(e.b, arg, argPrec)[0]}}`, TEX_POW];
    case 'un':
      if (e.name === 'neg') return [`-${wrap(e.x, TEX_MUL)}`, TEX_ADD];
      return [`${fnTex(e.name)}\\left(${texOf(e.x, arg, argPrec)[0]}\\right)`, TEX_ATOM];
    case 'd1': return [`${fnTex(e.name)}'\\left(${texOf(e.x, arg, argPrec)[0]}\\right)`, TEX_ATOM];
    case 'd2': return [`${fnTex(e.name)}''\\left(${texOf(e.x, arg, argPrec)[0]}\\right)`, TEX_ATOM];
  }
}

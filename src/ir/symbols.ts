/**
 * Where a constant came from, for printing: a number that elaboration computed from the model's
 * named consts and dims (`1/sqrt(T)`, `sqrt(m)`, `b/2`) is remembered next to its value as a
 * monomial c·Π nameᵉ, so that LaTeX shows `\frac{1}{\sqrt{T}}` instead of 0.1. The value stays
 * the reference: only the printer reads a monomial, and a graph's numbers never depend on one.
 *
 * Monomials are closed under the operations that constant folding performs on scaling factors
 * (products, quotients, constant powers, negation, and sums of like monomials); any other fold
 * (a sum of unlike terms, a function of a constant) drops the provenance and the decimal is shown.
 */

/** c·Π nameᵉ: a coefficient and the exponents of named constants (no zero exponents, at least one name). */
export interface Monomial {
  readonly c: number;
  readonly e: Readonly<Record<string, number>>;
}

/** A constant's provenance, or undefined for a plain number. */
export type Provenance = Monomial | undefined;

/** The named constant `name` itself. */
export const namedConstant = (name: string): Monomial => ({ c: 1, e: { [name]: 1 } });

const lift = (m: Provenance, v: number): Monomial => m ?? { c: v, e: {} };

/** Drops zero exponents; a monomial without names (or with c = 0 or not finite) is no provenance. */
function normalize(c: number, e: Record<string, number>): Provenance {
  const kept: Record<string, number> = {};
  for (const k of Object.keys(e).sort()) if (Math.abs(e[k]!) > 1e-12) kept[k] = e[k]!;
  if (Object.keys(kept).length === 0 || c === 0 || !Number.isFinite(c)) return undefined;
  return { c, e: kept };
}

/**
 * The provenance of a·b, from those of a and b and their values (a plain number is its own
 * coefficient); undefined when neither has one.
 * @example symMul(namedConstant('b'), 2, undefined, 0.5) // { c: 0.5, e: { b: 1 } }
 */
export function symMul(a: Provenance, va: number, b: Provenance, vb: number): Provenance {
  if (!a && !b) return undefined;
  const A = lift(a, va), B = lift(b, vb);
  const e: Record<string, number> = { ...A.e };
  for (const [k, x] of Object.entries(B.e)) e[k] = (e[k] ?? 0) + x;
  return normalize(A.c * B.c, e);
}

/** The provenance of a^k for a plain number k (undefined where c^k is not real). */
export function symPow(a: Provenance, k: number): Provenance {
  if (!a || !Number.isFinite(k)) return undefined;
  const e: Record<string, number> = {};
  for (const [n, x] of Object.entries(a.e)) e[n] = x * k;
  return normalize(a.c ** k, e);
}

/** The provenance of −a. */
export function symNeg(a: Provenance): Provenance {
  return a && { c: -a.c, e: a.e };
}

/** The provenance of a + b: only for like monomials (the same names and exponents). */
export function symAdd(a: Provenance, va: number, b: Provenance, vb: number): Provenance {
  if (!a && !b) return undefined;
  const A = lift(a, va), B = lift(b, vb);
  const ka = Object.keys(A.e), kb = Object.keys(B.e);
  if (ka.length !== kb.length || ka.some((k) => A.e[k] !== B.e[k])) return undefined;
  return normalize(A.c + B.c, { ...A.e });
}

/** A key for hash-consing (part of a constant node's identity). */
export function provenanceKey(m: Monomial): string {
  return `${m.c}*${Object.entries(m.e).map(([k, x]) => `${k}^${x}`).join('*')}`;
}

/**
 * The value of a monomial given the named constants' values (for checking a provenance).
 * @example provenanceValue({ c: 1, e: { T: -0.5 } }, new Map([['T', 100]])) // 0.1
 */
export function provenanceValue(m: Monomial, values: ReadonlyMap<string, number>): number {
  let v = m.c;
  for (const [k, x] of Object.entries(m.e)) v *= values.get(k)! ** x;
  return v;
}

/** A small exponent as LaTeX (1/2 → \frac{1}{2}); others as numbers. */
function texExponent(x: number, number: (v: number) => string): string {
  const twice = 2 * x;
  if (Number.isInteger(twice) && !Number.isInteger(x)) return `${twice < 0 ? '-' : ''}\\frac{${Math.abs(twice)}}{2}`;
  return number(x);
}

/**
 * A monomial as LaTeX and its precedence (an atom when one factor or a fraction, else a product):
 * 1·T^(−1/2) → \frac{1}{\sqrt{T}}, 0.5·b → \frac{b}{2}, m^(1/2) → \sqrt{m}.
 */
export function provenanceTex(m: Monomial, name: (s: string) => string, number: (v: number) => string, prec: { atom: number; mul: number; neg: number }): [string, number] {
  const factor = (k: string, x: number) =>
    x === 1 ? name(k) : x === 0.5 ? `\\sqrt{${name(k)}}` : `${name(k)}^{${texExponent(x, number)}}`;
  const num = Object.entries(m.e).filter(([, x]) => x > 0).map(([k, x]) => factor(k, x));
  const den = Object.entries(m.e).filter(([, x]) => x < 0).map(([k, x]) => factor(k, -x));
  let c = Math.abs(m.c), cden = 1;
  const inv = 1 / c;
  if (!Number.isInteger(c) && Number.isInteger(inv) && inv < 1e6) [c, cden] = [1, inv];
  const top = [...(c !== 1 ? [number(c)] : []), ...num].join(' \\, ') || '1';
  const bottom = [...(cden !== 1 ? [number(cden)] : []), ...den].join(' \\, ');
  const body = bottom ? `\\frac{${top}}{${bottom}}` : top;
  const p = bottom || num.length + (c !== 1 ? 1 : 0) <= 1 ? prec.atom : prec.mul;
  return m.c < 0 ? [`-${body}`, prec.neg] : [body, p];
}

/** The provenance of `a op b` for two constants (the graph's constant folding). */
export function foldSym(op: 'add' | 'sub' | 'mul' | 'div' | 'pow', a: Provenance, va: number, b: Provenance, vb: number): Provenance {
  switch (op) {
    case 'add': return symAdd(a, va, b, vb);
    case 'sub': return symAdd(a, va, symNeg(b), -vb);
    case 'mul': return symMul(a, va, b, vb);
    case 'div': return b ? symMul(a, va, symPow(b, -1), 1 / vb) : symMul(a, va, undefined, 1 / vb);
    case 'pow': return b ? undefined : symPow(a, vb);
    default: {
      const never: never = op;
      throw new Error(`internal: foldSym of ${String(never)}`);
    }
  }
}

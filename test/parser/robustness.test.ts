import { describe, expect, it } from 'vitest';
import { parseExpression, parseProgram } from '../../src/parser/index.ts';

// A small deterministic PRNG (mulberry32), so that failures reproduce.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const base = `dim n = 8, d = 3, m = 128, H = 3
data X : [n, d] = normal(0, 1, seed = 1)
data y : [n] = load("y.csv")
param W : [H - 1, m, m] ~ normal(0, 1)
param a : [m] ~ normal(0, 1)
def f(x : [d]) {
  let z = tanh(W[0][:, 1:] @ x) / sqrt(m)
  for l in 0 .. H - 1 { z = tanh(W[l] @ z) / sqrt(m) }
  return dot(a, z)
}
model h = f(X)
loss R(v) = sum((v - y)^2) / (2 * n)
loss square(target = -y^2)
test g = f(X[1:]) / 2, target = y[1:]
`;

const pieces = ['(', ')', '[', ']', '{', '}', ',', '=', '~', ':', '..', ';', '+', '-', '^', '@', 'x', '1', '"s"', 'def', 'loss', 'test', 'for', 'in', '\n', '$', '"'];

describe('the parser never throws and never half-succeeds', () => {
  it('on 600 random mutations of a valid program', () => {
    const r = rng(1);
    for (let i = 0; i < 600; i++) {
      let src = base;
      const edits = 1 + Math.floor(r() * 4);
      for (let k = 0; k < edits; k++) {
        const at = Math.floor(r() * src.length);
        const op = r();
        if (op < 0.4) src = src.slice(0, at) + src.slice(at + 1 + Math.floor(r() * 5));
        else src = src.slice(0, at) + pieces[Math.floor(r() * pieces.length)]! + src.slice(at);
      }
      const { program, diagnostics } = parseProgram(src, 'fuzz.ntk');
      // program is null exactly when there are diagnostics
      expect(program === null, src).toBe(diagnostics.length > 0);
      for (const d of diagnostics) {
        expect(d.span, src).not.toBeNull();
        expect(d.span!.start).toBeGreaterThanOrEqual(0);
        expect(d.span!.end).toBeLessThanOrEqual(src.length);
        expect(d.message.length).toBeGreaterThan(0);
      }
    }
  });

  it('on random token soup, for programs and expressions', () => {
    const r = rng(2);
    for (let i = 0; i < 800; i++) {
      const n = Math.floor(r() * 25);
      const src = Array.from({ length: n }, () => pieces[Math.floor(r() * pieces.length)]!).join(' ');
      const p = parseProgram(src, 'soup.ntk');
      expect(p.program === null, src).toBe(p.diagnostics.length > 0);
      const e = parseExpression(src, 'soup');
      expect(e.expr === null, src).toBe(e.diagnostics.length > 0);
    }
  });
});

/** erf and erfc against well-known values and an independent arbitrary-precision reference. */
import { describe, expect, it } from 'vitest';
import { erf, erfc } from '../../src/math/erf.ts';
import { erfReference } from './bigref.ts';

const relErr = (got: number, want: number) => (got === want ? 0 : Math.abs(got - want) / Math.abs(want));

describe('erf', () => {
  it('matches published values', () => {
    // 19-20 significant digits (Abramowitz & Stegun / mpmath)
    const known: [number, number][] = [
      [0.5, 0.5204998778130465377],
      [1, 0.8427007929497148693],
      [2, 0.9953222650189527342],
      [3, 0.9999779095030014146],
    ];
    for (const [x, v] of known) {
      expect(relErr(erf(x), v)).toBeLessThan(1e-15);
      expect(relErr(erf(-x), -v)).toBeLessThan(1e-15);
    }
  });

  it('the arbitrary-precision reference agrees with the published values', () => {
    expect(erfReference(1)[0]).toBe(0.8427007929497149);
    expect(erfReference(3)[0]).toBe(0.9999779095030014);
  });

  it('has relative error < 1e-14 against a 2^-60 reference on the whole line', () => {
    const xs: number[] = [1e-300, 1e-20, 1e-8, 1e-3, 0.1, 0.3, 0.4999, 0.5, 0.75];
    // dense near the method switch at 2 and across [0, 6]
    for (let i = 0; i < 60; i++) xs.push(0.1 + i * 0.1 + 1e-3 * Math.sin(i));
    xs.push(1.9999999, 2, 2.0000001, 5.9, 6, 7);
    let worst = 0;
    for (const x of xs) {
      const [want] = erfReference(x);
      worst = Math.max(worst, relErr(erf(x), want), relErr(erf(-x), -want));
    }
    expect(worst).toBeLessThan(1e-14);
  });

  it('is odd and handles the special values', () => {
    expect(erf(0)).toBe(0);
    expect(Object.is(erf(-0), -0)).toBe(true);
    expect(erf(Infinity)).toBe(1);
    expect(erf(-Infinity)).toBe(-1);
    expect(erf(NaN)).toBeNaN();
    expect(erf(1e300)).toBe(1);
    for (const x of [0.3, 1.7, 2.5, 4]) expect(erf(-x)).toBe(-erf(x));
    // tiny x: erf(x) = 2x/√π to full precision
    expect(relErr(erf(1e-200), 1.1283791670955126e-200)).toBeLessThan(1e-15);
  });
});

describe('erfc', () => {
  it('has relative error < 1e-14 including the far tail (no 1 − erf cancellation)', () => {
    const xs = [-5, -2.5, -1, -0.3, 0, 0.2, 0.5, 0.7, 1, 1.5, 2, 2.5, 3.3, 4.7, 6, 9.5, 13, 20, 26];
    let worst = 0;
    for (const x of xs) {
      const [, want] = erfReference(x);
      worst = Math.max(worst, relErr(erfc(x), want));
    }
    expect(worst).toBeLessThan(1e-14);
    expect(relErr(erfc(10), 2.088487583762544757e-45)).toBeLessThan(1e-14);
  });

  it('handles the special values', () => {
    expect(erfc(Infinity)).toBe(0);
    expect(erfc(-Infinity)).toBe(2);
    expect(erfc(30)).toBe(0);
    expect(erfc(NaN)).toBeNaN();
    expect(erfc(0)).toBe(1);
  });
});

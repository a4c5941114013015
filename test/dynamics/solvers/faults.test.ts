import { describe, it, expect } from 'vitest';
import { METHODS, solve } from '../../../src/dynamics/solvers/index.ts';
import { ORDER_TEST } from './methods.ts';

const jvpLinear = (_t: number, _y: Float64Array, v: Float64Array, out: Float64Array) => { out[0] = -v[0]!; };

// Every method of the driver, the exponential ones included (with their settings of the order
// test: a stiff part for ETDRK4, none for exponential Adams).
describe('faults end the solve with a status and a message', () => {
  for (const m of METHODS) {
    const options = m.name === 'etdrk4' ? {} : ORDER_TEST[m.name].options ?? {};
    it(`${m.name}: NaN from the RHS at t ≥ 0.5 → 'nonFinite' naming the time`, () => {
      const f = (t: number, y: Float64Array, d: Float64Array) => { d[0] = t >= 0.5 ? NaN : -y[0]!; };
      const r = solve(m.name, f, 0, Float64Array.of(1), 2, { ...options, jvp: jvpLinear, rtol: 1e-6 });
      expect(r.status).toBe('nonFinite');
      const at = /at t = ([-0-9.e+]+)/.exec(r.message!);
      expect(at, r.message).not.toBeNull();
      const tBad = Number(at![1]);
      expect(tBad).toBeGreaterThanOrEqual(0.5);
      expect(tBad).toBeLessThan(0.75);
      expect(r.message).toMatch(/tolerance|model/);
      expect(r.tFinal).toBeLessThan(0.5);
      expect(Number.isFinite(r.yFinal[0]!)).toBe(true);
      expect(Math.abs(r.yFinal[0]! - Math.exp(-r.tFinal))).toBeLessThan(1e-5);
      expect(r.t).toEqual([0]);
    });

    it(`${m.name}: maxSteps reached → 'maxSteps'`, () => {
      const r = solve(m.name, (_t, y, d) => { d[0] = -y[0]!; }, 0, Float64Array.of(1), 100,
        { ...options, jvp: jvpLinear, maxSteps: 5 });
      expect(r.status).toBe('maxSteps');
      expect(r.stats.steps + r.stats.rejected).toBe(5);
      expect(r.message).toMatch(/maxSteps = 5/);
      expect(r.tFinal).toBeGreaterThan(0);
      expect(r.tFinal).toBeLessThan(100);
    });

    it(`${m.name}: blow-up y' = y² (singular at t = 1) → 'stepTooSmall' near t = 1`, () => {
      const r = solve(m.name, (_t, y, d) => { d[0] = y[0]! * y[0]!; }, 0, Float64Array.of(1), 2,
        { ...options, jvp: (_t, y, v, out) => { out[0] = 2 * y[0]! * v[0]!; }, rtol: 1e-8 });
      expect(['stepTooSmall', 'nonFinite']).toContain(r.status);
      // The numerical blow-up time differs from 1 by about the tolerance.
      expect(Math.abs(r.tFinal - 1)).toBeLessThan(1e-6);
      expect(r.message).toMatch(/t = (0\.99|1\b)/);
    });

    it(`${m.name}: onStep returning false stops with 'stopped'`, () => {
      let calls = 0;
      const r = solve(m.name, (_t, y, d) => { d[0] = -y[0]!; }, 0, Float64Array.of(1), 10,
        { ...options, jvp: jvpLinear, onStep: () => ++calls < 3 });
      expect(r.status).toBe('stopped');
      expect(calls).toBe(3);
      expect(r.stats.steps).toBe(3);
      expect(r.message).toMatch(/onStep/);
    });
  }

  it('NaN in y0 → nonFinite before any step', () => {
    const r = solve('dopri5', (_t, y, d) => { d[0] = -y[0]!; }, 0, Float64Array.of(NaN), 1);
    expect(r.status).toBe('nonFinite');
    expect(r.stats.steps).toBe(0);
  });

  it('an RHS that is NaN at t0 → nonFinite at the initial point', () => {
    const r = solve('dop853', (_t, _y, d) => { d[0] = NaN; }, 0, Float64Array.of(1), 1);
    expect(r.status).toBe('nonFinite');
    expect(r.message).toMatch(/initial point t = 0/);
  });

  it('invalid arguments throw', () => {
    const f = (_t: number, y: Float64Array, d: Float64Array) => { d[0] = -y[0]!; };
    const y0 = Float64Array.of(1);
    expect(() => solve('dopri5', f, 1, y0, 0)).toThrow(RangeError);
    expect(() => solve('dopri5', f, 0, y0, 1, { times: [0.5, 0.2] })).toThrow(/sorted/);
    expect(() => solve('dopri5', f, 0, y0, 1, { times: [2] })).toThrow(/outside/);
    expect(() => solve('dopri5', f, 0, y0, 1, { rtol: 0, atol: 0 })).toThrow(RangeError);
    expect(() => solve('rosenbrock', f, 0, y0, 1)).toThrow(/jvp/);
  });

  it('T = t0 returns y0', () => {
    const r = solve('dopri5', (_t, y, d) => { d[0] = -y[0]!; }, 3, Float64Array.of(2), 3);
    expect(r.status).toBe('ok');
    expect(r.t).toEqual([3, 3]);
    expect(r.y.map((v) => v[0])).toEqual([2, 2]);
  });
});

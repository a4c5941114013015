/**
 * Flows that fail fast and say why (issue 21, item 3): the solver's step and time limits, and the
 * watchdog that tells a flow crossing relu kinks (its step size collapsing again and again) from a
 * merely long one. The budgets here are small or zero, so that nothing waits on the clock.
 */
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/index.ts';
import { flow, FlowError } from '../../src/dynamics/flow.ts';
import { solve } from '../../src/dynamics/solvers/index.ts';
import { stepWatch, MIN_COLLAPSES, duration } from '../../src/dynamics/step-watch.ts';
import { KINKS } from './kinks-model.ts';


const attempt = (t: number, h: number, accepted = true, elapsed = 10) => ({ t, h, accepted, steps: 1, rejected: 0, elapsed });

describe('stepWatch', () => {
  it('counts collapses (an accepted step below 1e-3 of the largest since the last one) and stops a non-smooth flow at the third', () => {
    const w = stepWatch({ T: 1, nonSmooth: true, graceSeconds: 0, budgetSeconds: 1, advice: 'try softplus' });
    const hs = [1e-3, 1e-2, 1e-6, 1e-4, 1e-2, 2e-6, 1e-3];
    let t = 0;
    for (const h of hs) expect(w.monitor(attempt((t += h), h))).toBeNull();
    expect(w.state.collapses).toBe(2);
    // a rejected attempt neither counts nor stops
    expect(w.monitor(attempt(t, 1e-9, false))).toBeNull();
    const stop = w.monitor(attempt((t += 1e-9), 1e-9));
    expect(w.state.collapses).toBe(MIN_COLLAPSES);
    expect(stop).toMatch(/crossing kinks of a non-smooth function/);
    expect(stop).toMatch(/collapsed 3 times \(down to h = 1e-9/);
    expect(stop).toMatch(/try softplus$/);
  });
  it('never stops a smooth model, nor one whose projected time is within the budget', () => {
    const smooth = stepWatch({ T: 1, nonSmooth: false, graceSeconds: 0, budgetSeconds: 0 });
    const fast = stepWatch({ T: 1, nonSmooth: true, graceSeconds: 0, budgetSeconds: 1e6 });
    let t = 0;
    for (let i = 0; i < 20; i++) {
      const h = i % 2 ? 1e-2 : 1e-8;
      t += h;
      expect(smooth.monitor(attempt(t, h))).toBeNull();
      expect(fast.monitor(attempt(t, h))).toBeNull();
    }
    expect(smooth.state.collapses).toBeGreaterThan(5);
    expect(fast.state.eta).toBeGreaterThan(0);
  });
  it('durations read in s, min or h', () => {
    expect(duration(12.3)).toBe('12 s');
    expect(duration(600)).toBe('10 min');
    expect(duration(3.8 * 3600)).toBe('3.8 h');
  });
});

describe('solve: maxTime and monitor', () => {
  // dy/dt = −y on [0, 10]: a smooth problem that finishes, unless stopped
  const f = (_t: number, y: Float64Array, dy: Float64Array) => { dy[0] = -y[0]!; };
  it('a monitor that returns a string ends the solve with status stopped, its message, and the state reached', () => {
    let calls = 0;
    const r = solve('dop853', f, 0, Float64Array.of(1), 10, { rtol: 1e-10, monitor: (s) => (++calls === 5 ? `stop at ${s.t}` : null) });
    expect(r.status).toBe('stopped');
    expect(r.message).toMatch(/^stop at /);
    expect(r.tFinal).toBeGreaterThan(0);
    expect(r.tFinal).toBeLessThan(10);
    expect(r.yFinal[0]).toBeCloseTo(Math.exp(-r.tFinal), 9);
  });
  it('maxTime: past it the solve ends with status maxTime and says where it stood', () => {
    const r = solve('dop853', f, 0, Float64Array.of(1), 10, { rtol: 1e-12, hmax: 1e-4, maxTime: 1e-9 });
    expect(r.status).toBe('maxTime');
    expect(r.message).toMatch(/time limit of 1e-9 s was reached at t = /);
    expect(() => solve('dop853', f, 0, Float64Array.of(1), 1, { maxTime: 0 })).toThrow(/maxTime must be > 0/);
    expect(() => solve('dop853', f, 0, Float64Array.of(1), 1, { maxSteps: 0 })).toThrow(/maxSteps must be ≥ 1/);
  });
});

describe('flow on a relu network that crosses kinks', () => {
  const m = compile(KINKS, 'kinks.ntk');
  it('the watch stops it, naming the cause and what to try', () => {
    let progressCalls = 0;
    const e = (() => {
      try {
        flow(m, { alpha: 1, T: 1, accuracy: false, watch: { graceSeconds: 0, budgetSeconds: 0 }, onProgress: () => void progressCalls++ });
      } catch (x) {
        return x;
      }
      return null;
    })();
    expect(e).toBeInstanceOf(FlowError);
    const msg = (e as Error).message;
    expect(msg).toMatch(/^the flow stopped at t = \S+ of T = 1 \(dop853\): it is crossing kinks/);
    expect(msg).toMatch(/collapsed 3 times/);
    for (const advice of [/softplus/, /--method dopri5 --rtol 1e-3/, /--lr η --steps N/]) expect(msg).toMatch(advice);
    // progress after every attempt, rejected ones too
    expect(progressCalls).toBeGreaterThan(10);
  });
  it('--max-steps: a FlowError with where it stood and the kinks it met', () => {
    expect(() => flow(m, { alpha: 1, T: 1, accuracy: false, watch: false, maxSteps: 300 }))
      .toThrow(/stopped at t = .* it used its 300 steps \(--max-steps\)\. The model is not smooth .* collapsed \d+ times/);
  });
  it('--max-time: a FlowError naming the limit', () => {
    expect(() => flow(m, { alpha: 1, T: 1, accuracy: false, watch: false, maxTime: 0.05 })).toThrow(/it used its 0\.05 s \(--max-time\)/);
  });
  it('a smooth surrogate (softplus) runs to T under the same watch', () => {
    const smooth = compile(KINKS.replace('relu(W @ x / sqrt(d))', 'softplus(W @ x / sqrt(d))'), 'smooth.ntk');
    const r = flow(smooth, { alpha: 1, T: 1, accuracy: false, watch: { graceSeconds: 0, budgetSeconds: 0 } });
    expect(r.error).toBeGreaterThan(0);
    expect(r.stats.rejected).toBeLessThan(r.stats.steps);
  });
});

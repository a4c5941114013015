/**
 * docs/examples.md, example 3: gradient descent w_{j+1} = w_j − (η/α²)∇R(α h(w_j)) is Euler's
 * method on the flow, so after N = T/η steps its outputs are O(η) away from the flow's at T, for
 * the model and for its linearization alike. Runs the page's commands (`ntk flow --T` and
 * `ntk flow --lr --steps`) in process and measures the order; the script that prints the page's
 * table is run through the built binary when there is one.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ntk } from '../cli/run-cli.ts';

interface Out { out: number[]; linOut: number[]; error: number }
const flowJson = async (...a: string[]) => JSON.parse((await ntk('flow', 'examples/meanfield.ntk', '--alpha', '4', ...a, '--json')).stdout) as Out;
const dist = (x: number[], y: number[]) => Math.hypot(...x.map((v, i) => v - y[i]!));

describe('example 3: gradient descent tends to the gradient flow at first order in η', () => {
  const T = 10, steps = [25, 50, 100, 200, 400];
  let ref: Out;
  let gd: Out[];
  beforeAll(async () => {
    // E(T) and the outputs do not depend on the Lipschitz constants: --no-lip spares the estimate
    ref = await flowJson('--T', String(T), '--no-lip');
    gd = [];
    for (const N of steps) gd.push(await flowJson('--lr', String(T / N), '--steps', String(N)));
  }, 120_000); // six runs of the command: a setup, not a speed claim

  it('halving η halves the distance to the flow at T = η·N (order 1 ± 0.02), model and linearization', () => {
    const model = gd.map((d) => dist(d.out, ref.out)), lin = gd.map((d) => dist(d.linOut, ref.linOut));
    for (let i = 1; i < steps.length; i++) {
      expect(Math.abs(Math.log2(model[i - 1]! / model[i]!) - 1)).toBeLessThan(0.02);
      expect(Math.abs(Math.log2(lin[i - 1]! / lin[i]!) - 1)).toBeLessThan(0.02);
    }
    // the leading error term: d(η) ≈ c·η with c ≈ 6.3e-3 here (so 1.6e-4 at η = 0.025)
    expect(model[steps.length - 1]! / (T / steps[steps.length - 1]!)).toBeGreaterThan(1e-3);
    expect(model[steps.length - 1]!).toBeLessThan(2e-4);
  });

  it('the error E of the NTK approximation after N steps tends to the flow\'s E(T), also at first order', () => {
    const gap = gd.map((d) => Math.abs(d.error - ref.error));
    for (let i = 1; i < steps.length; i++) expect(Math.abs(Math.log2(gap[i - 1]! / gap[i]!) - 1)).toBeLessThan(0.05);
    expect(gap[steps.length - 1]! / ref.error).toBeLessThan(0.005);
  });

  it.skipIf(!existsSync('dist/ntk.cjs'))('examples/descent-vs-flow.mjs prints the table with order ≈ 1', () => {
    const r = spawnSync(process.execPath, ['examples/descent-vs-flow.mjs', '--steps', '25,50'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const last = r.stdout.trim().split('\n').pop()!.trim().split(/\s+/);
    expect(last[1]).toBe('50');
    expect(Number(last[3])).toBeCloseTo(1, 1);
    expect(Number(last[5])).toBeCloseTo(1, 1);
  });
});

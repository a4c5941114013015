/** `--lr W=η1,v=η2` on the command line: flow (descent and flow), nth; bad rates exit 2. */
import { describe, expect, it } from 'vitest';
import { ntk } from './run-cli.ts';

const file = 'examples/meanfield.ntk'; // params a : [m], U : [m, d]

describe('per-parameter rates on the command line', () => {
  it('flow --lr a=… (no --steps): the flow dw/dt = −H∇L, readout only: h equals its linearization', async () => {
    const r = await ntk('flow', file, '--alpha', '4', '--T', '10', '--lr', 'a=1', '--no-lip', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.kernel.name).toBe('Dh·H·Dhᵀ with H = diag(a: 1, U: 0 (frozen))');
    expect(j.error).toBeLessThan(1e-12 * Math.max(...j.out.map(Math.abs)));
    const both = JSON.parse((await ntk('flow', file, '--alpha', '4', '--T', '10', '--lr', 'a=1,U=1', '--no-lip', '--json')).stdout);
    const plain = JSON.parse((await ntk('flow', file, '--alpha', '4', '--T', '10', '--no-lip', '--json')).stdout);
    // every parameter at rate 1 is the plain flow
    expect(both.error).toBeCloseTo(plain.error, 9);
    expect(plain.kernel.name).toBe('Dh·Dhᵀ');
  });

  it('flow --lr U=…,a=… --steps N: gradient descent with the rates, T = N', async () => {
    const r = await ntk('flow', file, '--alpha', '4', '--lr', 'U=0.5,a=2', '--steps', '20', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.rates).toEqual([{ name: 'a', rate: 2 }, { name: 'U', rate: 0.5 }]);
    expect(j.T).toBe(20);
    expect(j.kernel).toMatch(/H = diag\(a: 2, U: 0.5\)/);
    expect(j.contraction).toBeGreaterThan(0);
    const text = await ntk('flow', file, '--alpha', '4', '--lr', 'U=0.5,a=2', '--steps', '20');
    expect(text.stdout).toMatch(/kernel\s+Dh·H·Dhᵀ/);
  });

  it('nth --lr: the hierarchy of the flow with rates, and says which kernel', async () => {
    const r = await ntk('nth', file, '--order', '3', '--T', '1', '--lr', 'a=1', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.kernel).toMatch(/U: 0 \(frozen\)/);
    // readout only: h is linear in the trained weights, K^(3) = 0, the truncation is exact
    expect(j.error).toBeLessThan(1e-9);
  });

  it('bad rates: a name that is no parameter, negative, non-finite: exit 2 with the option named', async () => {
    for (const [lr, msg] of [['W=1', /--lr: 'W' is not a parameter of examples\/meanfield.ntk \(its parameters: a, U\)/], ['a=-1', /must be ≥ 0/], ['a=inf', /not a finite number/], ['a=0', /every parameter .* would be frozen/]] as const) {
      const r = await ntk('flow', file, '--T', '1', '--lr', lr, '--no-lip');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
    expect((await ntk('flow', file, '--lr', '-0.1', '--steps', '3')).code).toBe(2);
  });
});

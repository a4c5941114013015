/**
 * docs/examples.md, example 4: seed 004's experiment. A two-layer network of width 256 (erf, relu,
 * softplus) on synthetic Gaussian data, first layer trained: the network and its linear model agree
 * early and part later. Re-checks the page's figures: the constants against their closed forms, the
 * kernel distances, and the step where the gap first exceeds 10% of the loss.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { early, loadModel, type EarlyResult } from '../../src/index.ts';
import { ntk } from '../cli/run-cli.ts';

const run = (phi: string) => early(loadModel(`examples/early-${phi}.ntk`), { lr: { W: 1 }, steps: 300, every: 10 });
const close = (x: number, y: number, rel: number) => expect(Math.abs(x - y)).toBeLessThanOrEqual(rel * Math.abs(y));

describe('example 4: early-time dynamics (seed 004)', () => {
  const r: Record<string, EarlyResult> = {};
  beforeAll(() => {
    for (const phi of ['erf', 'relu', 'softplus']) r[phi] = run(phi);
  }, 600_000); // three runs of 300 steps: 20 s idle, minutes on a loaded machine

  it('the constants match their closed forms to 1e-12', () => {
    const { erf, relu, softplus } = r as Required<typeof r>;
    expect(Math.abs(erf!.constants.zeta - 2 / Math.sqrt(3 * Math.PI))).toBeLessThan(1e-12);
    for (const k of ['nu', 'theta0', 'theta1', 'theta2'] as const) expect(Math.abs(erf!.constants[k])).toBeLessThan(1e-12);
    expect(Math.abs(relu!.constants.zeta - 0.5)).toBeLessThan(1e-12);
    expect(Math.abs(relu!.constants.theta0 - 1 / Math.sqrt(2 * Math.PI))).toBeLessThan(1e-12);
    expect(Math.abs(relu!.constants.theta1 - 1 / Math.sqrt(2 * Math.PI))).toBeLessThan(1e-12);
    expect(Math.abs(relu!.constants.theta2)).toBeLessThan(1e-12); // E[(½g³ − g)·1{g>0}] = (1 − 1)/√(2π)
    // softplus: φ′ = sigmoid, ζ = ½ by symmetry; ν, ϑ ≠ 0
    expect(Math.abs(softplus!.constants.zeta - 0.5)).toBeLessThan(1e-12);
    for (const k of ['nu', 'theta0', 'theta1', 'theta2'] as const) expect(Math.abs(softplus!.constants[k])).toBeGreaterThan(0.05);
    for (const x of Object.values(r)) expect(x.moments.accuracy).toBeLessThan(1e-12);
  });

  it('the two models agree early and part later; the figures of the page', () => {
    // the page's table: parting step, ‖Θ1 − Θlin1‖, ‖Θ2 − Θlin2‖, ε
    const figures: Record<string, [number, number, number, number]> = {
      erf: [234, 1.621, 5.207, 1.70],
      relu: [78, 1.363, 6.405, 1.36],
      softplus: [290, 0.466, 9.760, 0.49],
    };
    for (const [phi, [part, kd, kd2, eps]] of Object.entries(figures)) {
      const x = r[phi]!;
      expect(x.partStep).toBe(part);
      close(x.kernelDistance, kd, 1e-3);
      close(x.kernelDistance2, kd2, 1e-3);
      close(x.epsilon, eps, 1e-2);
      // the theorem's right-hand side t·ε/√n is above the measured ‖u − u_lin‖ all along
      for (const q of x.trajectory.slice(1)) expect(q.gapNorm).toBeLessThan(q.bound);
      // early: the gap is a small fraction of the loss for the first rows, and grows after
      const first = x.trajectory.find((q) => q.step === 30)!;
      expect(first.trainGap).toBeLessThan(0.05 * first.loss);
      const last = x.trajectory.at(-1)!;
      expect(last.trainGap).toBeGreaterThan(0.1 * last.loss);
      // the linear model cannot fit the quadratic part: its loss stays near ½ E[(x1x2)²] = ½
      expect(last.linLoss).toBeGreaterThan(0.4);
      expect(last.loss).toBeLessThan(last.linLoss);
    }
  });

  it('the page’s erf run along the way, and the command prints the same report as JSON', async () => {
    const at = (s: number) => r.erf!.trajectory.find((q) => q.step === s)!;
    // the page's table: loss, linLoss, gap at steps 10, 100, 300
    close(at(10).loss, 0.848, 2e-3);
    close(at(100).linLoss, 0.512, 2e-3);
    close(at(300).trainGap, 5.15e-2, 1e-2);
    // at the horizon d·log d/η1 ≈ 44 the gap is about 2% of the loss
    expect(at(40).trainGap / at(40).loss).toBeLessThan(0.025);
    const c = await ntk('early', 'examples/early-erf.ntk', '--lr', 'W=1', '--steps', '30', '--every', '10', '--json');
    expect(c.code).toBe(0);
    const j = JSON.parse(c.stdout);
    expect(j.constants).toEqual(r.erf!.constants);
    expect(j.kernelDistance).toBe(r.erf!.kernelDistance);
    expect(j.trajectory).toHaveLength(4);
    for (let i = 0; i < 4; i++) expect(j.trajectory[i].loss).toBe(r.erf!.trajectory[i]!.loss);
    for (const k of ['step', 'trainGap', 'testGap', 'loss', 'linLoss', 'testLoss', 'linTestLoss']) expect(j.trajectory[3]).toHaveProperty(k);
    expect(j.horizon.value).toBeCloseTo(16 * Math.log(16), 12);
  });
});

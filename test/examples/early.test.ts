/**
 * docs/examples.md, example 4: seed 004's experiment. A two-layer network of width 256 (erf, relu,
 * softplus) on synthetic Gaussian data, first layer trained: the network and its linear model agree
 * early and part later. The figures are read from the page itself (its two tables and the numbers
 * in its text) and re-computed here: each must agree to the precision it is printed with (half a
 * unit of its last digit; a one-digit figure such as 1e-32 to its order of magnitude), the parting
 * steps exactly, the constants also against their closed forms to 1e-12.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { early, loadModel, type EarlyResult } from '../../src/index.ts';
import { ntk } from '../cli/run-cli.ts';

const run = (phi: string) => early(loadModel(`examples/early-${phi}.ntk`), { lr: { W: 1 }, steps: 300, every: 10 });

/** The page's §4, from its heading to the next. */
const page = (() => {
  const all = readFileSync('docs/examples.md', 'utf8');
  const at = all.indexOf('## 4. Early-time dynamics');
  return all.slice(at, all.indexOf('\n## ', at + 5));
})();
/** The rows of the markdown table whose header starts with `head`, as cells. */
function table(head: string): string[][] {
  const lines = page.split('\n');
  const i = lines.findIndex((l) => l.startsWith(head));
  expect(i, `the table '${head}' on the page`).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (let k = i + 2; k < lines.length && lines[k]!.startsWith('|'); k++) rows.push(lines[k]!.split('|').slice(1, -1).map((c) => c.trim()));
  return rows;
}
/** The leading number of a cell ('0.651470 = 2/√(3π)' → '0.651470', '1.621 (9.98)' → '1.621'). */
const lead = (cell: string) => /^-?[\d.]+(e[+-]?\d+)?/.exec(cell)![0];
const paren = (cell: string) => /\(([\d.]+)\)/.exec(cell)![1]!;
/** x agrees with the printed figure: to half a unit of its last digit, or its order of magnitude for one digit. */
function agrees(x: number, printed: string, what: string) {
  const v = Number(printed);
  const [mant, exp] = printed.split('e');
  const digits = mant!.replace('-', '').replace('.', '').replace(/^0+/, '');
  if (exp !== undefined && digits.length <= 1) {
    expect(Math.abs(Math.log10(Math.max(x, 1e-300)) - Math.log10(v)), `${what}: ${x} vs ${printed}`).toBeLessThan(1);
    return;
  }
  const decimals = (mant!.split('.')[1] ?? '').length;
  const half = 0.5 * 10 ** (-decimals + (exp === undefined ? 0 : Number(exp)));
  expect(Math.abs(x - v), `${what}: ${x} vs ${printed}`).toBeLessThanOrEqual(half * (1 + 1e-9));
}

describe('example 4: early-time dynamics (seed 004)', () => {
  const r: Record<string, EarlyResult> = {};
  beforeAll(() => {
    for (const phi of ['erf', 'relu', 'softplus']) r[phi] = run(phi);
  }, 600_000); // three runs of 300 steps: 20 s idle, minutes on a loaded machine

  it('the constants match their closed forms to 1e-12, computed in closed form where one exists', () => {
    const { erf, relu, softplus } = r as Required<typeof r>;
    expect(Math.abs(erf!.constants.zeta - 2 / Math.sqrt(3 * Math.PI))).toBeLessThan(1e-12);
    for (const k of ['nu', 'theta0', 'theta1', 'theta2'] as const) expect(Math.abs(erf!.constants[k])).toBeLessThan(1e-12);
    expect(Math.abs(relu!.constants.zeta - 0.5)).toBeLessThan(1e-12);
    expect(Math.abs(relu!.constants.theta0 - 1 / Math.sqrt(2 * Math.PI))).toBeLessThan(1e-12);
    expect(Math.abs(relu!.constants.theta1 - 1 / Math.sqrt(2 * Math.PI))).toBeLessThan(1e-12);
    expect(Math.abs(relu!.constants.theta2)).toBeLessThan(1e-12); // E[(½g³ − g)·1{g>0}] = (1 − 1)/√(2π)
    for (const x of [erf!, relu!]) expect(Object.values(x.constantMethods).every((m) => m === 'closed form')).toBe(true);
    // softplus: no closed form (quadrature); φ′ = sigmoid, ζ = ½ by symmetry; ν, ϑ ≠ 0
    expect(softplus!.constantMethods.zeta).toMatch(/^quadrature/);
    expect(Math.abs(softplus!.constants.zeta - 0.5)).toBeLessThan(1e-12);
    for (const k of ['nu', 'theta0', 'theta1', 'theta2'] as const) expect(Math.abs(softplus!.constants[k])).toBeGreaterThan(0.05);
    for (const x of Object.values(r)) expect(x.moments.accuracy).toBeLessThan(1e-12);
  });

  it("the page's first table: constants, kernel distances and norms, ε, parting steps", () => {
    const rows = table('| φ | ζ |');
    expect(rows.map((q) => q[0])).toEqual(['erf', 'relu', 'softplus']);
    for (const [phi, zeta, nu, t0, t1, t2, kd, kd2, eps, part] of rows) {
      const x = r[phi!]!;
      const c = x.constants;
      [c.zeta, c.nu, c.theta0, c.theta1, c.theta2].forEach((v, i) => agrees(v, lead([zeta, nu, t0, t1, t2][i]!), `${phi} constant ${i}`));
      agrees(x.kernelDistance, lead(kd!), `${phi} ‖Θ1 − Θlin1‖`);
      agrees(x.kernelNorm, paren(kd!), `${phi} ‖Θlin1‖`);
      agrees(x.kernelDistance2, lead(kd2!), `${phi} ‖Θ2 − Θlin2‖`);
      agrees(x.kernelNorm2, paren(kd2!), `${phi} ‖Θlin2‖`);
      agrees(x.epsilon, eps!, `${phi} ε`);
      // the parting step: the first step where the gap exceeds 10% of the loss, exactly
      expect(x.partStep, phi).toBe(Number(part));
      // the theorem's right-hand side t·ε/√n is above the measured ‖u − u_lin‖ all along
      for (const q of x.trajectory.slice(1)) expect(q.gapNorm).toBeLessThan(q.bound);
      // early: the gap is a small fraction of the loss; late, more than 10% of it
      const first = x.trajectory.find((q) => q.step === 30)!;
      expect(first.trainGap).toBeLessThan(0.05 * first.loss);
      const last = x.trajectory.at(-1)!;
      expect(last.trainGap).toBeGreaterThan(0.1 * last.loss);
      expect(last.loss).toBeLessThan(last.linLoss);
    }
    // the text names the parting steps too
    for (const phi of ["erf", "relu", "softplus"]) expect(page).toMatch(new RegExp(`step\\s+${r[phi]!.partStep}\\b`));
  });

  it("the page's erf run along the way, the numbers in its text, and the command's JSON", async () => {
    const rows = table('| step |');
    const header = page.split('\n').find((l) => l.startsWith('| step |'))!.split('|').slice(2, -1).map((c) => Number(c.trim()));
    expect(header).toEqual([0, 10, 30, 50, 100, 200, 300]);
    const key: Record<string, 'loss' | 'linLoss' | 'trainGap' | 'testGap'> = { loss: 'loss', linLoss: 'linLoss', gap: 'trainGap', 'test gap': 'testGap' };
    expect(rows.map((q) => q[0])).toEqual(Object.keys(key));
    for (const [name, ...cells] of rows)
      cells.forEach((cell, j) => agrees(r.erf!.trajectory.find((q) => q.step === header[j])![key[name!]!]!, cell, `erf ${name} at step ${header[j]}`));
    const num = (re: RegExp) => re.exec(page)![1]!;
    const e = r.erf!;
    agrees(e.inputs.traceSigma, num(/Tr Σ = ([\d.]+)\)/), 'Tr Σ');
    agrees(e.inputs.traceSigma2, num(/Tr Σ² = ([\d.]+) for d = 16/), 'Tr Σ²');
    agrees(e.horizon.value, num(/horizon d·log d\/η1 is ([\d.]+) steps/), 'horizon');
    const at300 = e.trajectory.at(-1)!;
    agrees(at300.bound, num(/erf at step 300: ([\d.]+) against/), 'bound at 300');
    agrees(at300.gapNorm, num(/erf at step 300: [\d.]+ against ([\d.]+)\)/), '‖u − u_lin‖ at 300');
    // at the horizon d·log d/η1 ≈ 44 the gap is about 2% of the loss (the text's figure)
    const pct = Number(num(/at the horizon the\s+gap is (\d+)% of the loss/));
    const h = e.trajectory.find((q) => q.step === 40)!;
    expect(Math.abs((100 * h.trainGap) / h.loss - pct)).toBeLessThan(0.5);
    const c = await ntk('early', 'examples/early-erf.ntk', '--lr', 'W=1', '--steps', '30', '--every', '10', '--json');
    expect(c.code).toBe(0);
    const j = JSON.parse(c.stdout);
    expect(j.constants).toEqual(e.constants);
    expect(j.constantMethods).toEqual(e.constantMethods);
    expect(j.kernelDistance).toBe(e.kernelDistance);
    expect(j.trajectory).toHaveLength(4);
    for (let i = 0; i < 4; i++) expect(j.trajectory[i].loss).toBe(e.trajectory[i]!.loss);
    for (const k of ['step', 'trainGap', 'testGap', 'loss', 'linLoss', 'testLoss', 'linTestLoss']) expect(j.trajectory[3]).toHaveProperty(k);
    expect(j.horizon.value).toBeCloseTo(16 * Math.log(16), 12);
  });
});

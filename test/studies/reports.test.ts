/**
 * The studies are the commands: a script calling them gets what `ntk COMMAND --json` prints,
 * under the same keys (timings aside), and the flow's report names its bounds as the CLI does.
 */
import { describe, expect, it } from 'vitest';
import { ntk } from '../cli/run-cli.ts';
import {
  loadModel, checkReport, evalReport, jacobianReport, kernelReport, deriveReport, printReport, lipReport, flowStudy, descentReport,
  nthReport, scalingStudy, runSweep, flow, OptionError,
} from '../../src/index.ts';

/** A value through JSON, without the keys that measure time. */
const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x), (k, v) => (k === 'time' || k === 'seconds' ? undefined : v));

async function cli(...args: string[]): Promise<unknown> {
  const r = await ntk(...args, '--json');
  expect(r.code, r.stderr).toBe(0);
  return plain(JSON.parse(r.stdout));
}

describe('each command prints its study’s report', () => {
  const converse = () => loadModel('examples/converse.ntk');
  const meanfield = () => loadModel('examples/meanfield.ntk');
  it('check, eval, jacobian, print', async () => {
    expect(await cli('check', 'examples/meanfield-test.ntk')).toEqual(plain(checkReport(loadModel('examples/meanfield-test.ntk'))));
    expect(await cli('eval', 'examples/meanfield-test.ntk', '--alpha', '2')).toEqual(plain(evalReport(loadModel('examples/meanfield-test.ntk'), { alpha: 2 })));
    expect(await cli('jacobian', 'examples/converse.ntk')).toEqual(plain(jacobianReport(converse())));
    expect(await cli('print', 'examples/converse.ntk', '--derivative')).toEqual(plain(await printReport(converse(), { derivative: true })));
  });
  it('kernel and derive', async () => {
    expect(await cli('kernel', 'examples/meanfield.ntk', '--order', '3', '--slice', '1')).toEqual(plain(kernelReport(meanfield(), { order: 3, slice: [1] })));
    expect(await cli('derive', 'examples/meanfield.ntk', '--order', '3')).toEqual(plain(await deriveReport(meanfield(), { order: 3 })));
    expect(await cli('derive', 'examples/converse.ntk', '--order', '3')).toEqual(plain(await deriveReport(converse(), { order: 3 })));
  });
  it('lip, with the radius named by a const', async () => {
    const m = loadModel('examples/bilinear.ntk');
    expect(await cli('lip', 'examples/bilinear.ntk', '--radius', 'c')).toEqual(plain(lipReport(m, { radius: 'c' })));
    expect(() => lipReport(m, { radius: 'nope' })).toThrow(OptionError);
  });
  it('flow (the Lipschitz estimate and the accuracy check included) and descent', async () => {
    const viaCli = (await cli('flow', 'examples/converse.ntk', '--alpha', '4', '--T', 'T', '--times', '1,5')) as Record<string, unknown>;
    const report = await flowStudy(converse(), { alpha: 4, T: 'T', times: [1, 5] });
    expect(viaCli).toEqual(plain(report));
    expect(viaCli.lipSource).toBe('estimated');
    expect(report.errorAccuracy).not.toBeNull();
    expect(await cli('flow', 'examples/meanfield.ntk', '--alpha', '4', '--lr', '0.1', '--steps', '20')).toEqual(plain(descentReport(meanfield(), { alpha: 4, lr: 0.1, steps: 20 })));
  });
  it('nth, scaling and sweep', async () => {
    expect(await cli('nth', 'examples/converse.ntk', '--order', '3', '--T', '1')).toEqual(plain(nthReport(converse(), { order: 3, T: 1 })));
    expect(await cli('scaling', 'examples/mlp-tanh.ntk', '--set', 'n=4', '--widths', '8,16', '--orders', '2', '--seeds', '2')).toEqual(
      plain(scalingStudy('examples/mlp-tanh.ntk', { widths: [8, 16], orders: [2], seeds: 2, overrides: new Map([['n', 4]]) })),
    );
    const grid = { file: 'examples/converse.ntk', alphas: [1, 4], Ts: [1, 10], axes: {}, shared: { file: 'examples/converse.ntk', lipDh: 'b' }, workers: 1 };
    expect(await cli('sweep', 'examples/converse.ntk', '--alpha', '1,4', '--T', '1,10', '--lip-dh', 'b', '--workers', '1')).toEqual(plain(await runSweep(grid)));
  });
});

describe('the flow names its bounds as the CLI does', () => {
  it('bound, sharpBound, chizatBound, weightBound and kappa on both the flow and its report', async () => {
    const m = loadModel('examples/converse.ntk');
    const r = flow(m, { alpha: 10, T: 100, lipDh: 2, lipH: 1, accuracy: false });
    expect(r).not.toHaveProperty('bounds');
    expect(r.bound).toBe(r.theory.theorem12.value);
    expect(r.sharpBound).toBe(r.theory.theorem12Sharp.value);
    expect(r.chizatBound).toBe(r.theory.prop11.value);
    expect(r.weightBound).toBe(r.theory.prop31.value);
    expect(r.kappa).toBeCloseTo((100 / 10) * 2 * Math.sqrt(r.R0), 12);
    expect(r.error).toBeLessThanOrEqual(r.bound!);
    const report = await flowStudy(m, { alpha: 10, T: 100, lipDh: 2, lipH: 1 });
    for (const key of ['bound', 'sharpBound', 'chizatBound', 'weightBound', 'kappa'] as const) expect(report[key]).toBe(r[key]);
  });
});

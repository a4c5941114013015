/**
 * Progress on every run that can take more than a couple of seconds (issue 21, item 6): lip,
 * high-order kernels, limits and predictions say what they are doing on stderr, on a terminal or
 * where NTK_PROGRESS=1 forces it, and never with --json (stdout stays one JSON object).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ntk } from './run-cli.ts';

afterEach(() => {
  delete process.env.NTK_PROGRESS;
});

const cases: [string, string[], RegExp][] = [
  ['lip', ['lip', 'examples/meanfield.ntk', '--radius', '0.05'], /^lip: lower bound of Lip\(h\).*\n(.*\n)*lip: lower bound of Lip\(Dh\).*\n(.*\n)*lip: certified upper bounds/m],
  ['kernel --order 3', ['kernel', 'examples/converse.ntk', '--order', '3'], /^kernel: building the graph of K\^\(3\)/m],
  ['limit', ['limit', 'examples/limit-erf.ntk', '--width', 'm'], /^limit: the NNGP and NTK recursions as m → ∞/m],
  ['predict', ['predict', 'examples/limit-erf.ntk', '--width', 'm', '--T', 'inf'], /^predict: the infinite-width kernels/m],
];

describe('progress', () => {
  it.each(cases)('%s: says what it is doing with NTK_PROGRESS=1', async (_name, args, pattern) => {
    process.env.NTK_PROGRESS = '1';
    const r = await ntk(...args);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(pattern);
  });
  it.each(cases)('%s --json: stdout is one JSON object and stderr has no progress', async (_name, args) => {
    process.env.NTK_PROGRESS = '1';
    const r = await ntk(...args, '--json');
    expect(r.code).toBe(0);
    expect(() => JSON.parse(r.stdout)).not.toThrow();
    expect(r.stderr).not.toMatch(/^(lip|kernel|limit|predict):/m);
  });
});

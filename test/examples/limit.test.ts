/**
 * docs/examples.md, examples 5–7: the empirical NTK converges to the derived Θ like m^(−1/2);
 * an ensemble of finite networks approaches the NTK-GP; a network stax cannot express
 * (sin ∘ tanh, a residual block) next to its empirical NTK. Run through the CLI as the page shows.
 */
import { describe, expect, it } from 'vitest';
import { ntk } from '../cli/run-cli.ts';

const json = async (...args: string[]) => {
  const r = await ntk(...args, '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

describe('example 5: the empirical NTK converges to Θ', () => {
  it('its distance falls like m^(−1/2) (slope within 3 standard errors), the printed figures', { timeout: 120_000 }, async () => {
    const j = await json('scaling', 'examples/limit-erf.ntk', '--widths', '64,256,1024,4096', '--seeds', '4', '--limit');
    const fit = j.fits.find((f: { quantity: string }) => f.quantity === 'ntk');
    expect(Math.abs(fit.slope + 0.5)).toBeLessThan(3 * fit.stderr);
    expect(fit.slope).toBeCloseTo(-0.613, 2);
    const mean = (w: number) => {
      const ps = j.points.filter((p: { quantity: string; width: number }) => p.quantity === 'ntk' && p.width === w);
      return ps.reduce((s: number, p: { value: number }) => s + p.value, 0) / ps.length;
    };
    expect(mean(4096)).toBeCloseTo(0.02194, 4);
    expect(mean(64)).toBeCloseTo(0.3521, 3);
  });
});

describe('example 6: the ensemble approaches the NTK-GP', () => {
  it('the mean distance falls with the width; the variance reaches the sampling error', { timeout: 120_000 }, async () => {
    const gp = await json('predict', 'examples/limit-erf.ntk', '--width', 'm', '--T', '10');
    const rel = (a: number[], b: number[]) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0) / b.reduce((s, x) => s + x * x, 0));
    const at = async (m: number) => json('predict', 'examples/limit-erf.ntk', '--T', '10', '--seeds', '16', '--set', `m=${m}`);
    const [e64, e512, e4096] = [await at(64), await at(512), await at(4096)];
    const d = [e64, e512, e4096].map((e) => rel(e.mean, gp.mean));
    expect(d[0]).toBeCloseTo(0.157, 2);
    expect(d[1]).toBeCloseTo(0.062, 2);
    expect(d[2]).toBeCloseTo(0.028, 2);
    expect(d[2]).toBeLessThan(d[1]!);
    expect(d[1]).toBeLessThan(d[0]!);
    expect(rel(e4096.variance, gp.variance)).toBeLessThan(Math.sqrt(2 / 15) * 1.5);
    expect(rel(e64.variance, gp.variance)).toBeGreaterThan(1);
  });
});

describe('example 7: sin ∘ tanh and a residual block', () => {
  it('the derived kernels are finite, partly by quadrature, and the empirical NTK approaches Θ', { timeout: 300_000 }, async () => {
    const lim = await json('limit', 'examples/limit-sintanh.ntk', '--width', 'm');
    expect(lim.nngpGrowth).toBe(0);
    expect(lim.ntkGrowth).toBe(0);
    expect(lim.method.some((m: { method: string; pair: string }) => m.method === 'quadrature' && m.pair.includes('sin(tanh'))).toBe(true);
    expect(lim.accuracy).toBeLessThan(1e-11);
    const j = await json('scaling', 'examples/limit-sintanh.ntk', '--widths', '128,512,2048', '--seeds', '2', '--limit');
    const fit = j.fits.find((f: { quantity: string }) => f.quantity === 'ntk');
    const mean = (w: number) => {
      const ps = j.points.filter((p: { quantity: string; width: number }) => p.quantity === 'ntk' && p.width === w);
      return ps.reduce((s: number, p: { value: number }) => s + p.value, 0) / ps.length;
    };
    expect(mean(512)).toBeLessThan(mean(128));
    expect(mean(2048)).toBeLessThan(mean(512));
    expect(mean(2048)).toBeLessThan(0.1);
    expect(Math.abs(fit.slope + 0.5)).toBeLessThan(Math.max(3 * fit.stderr, 0.15));
  });
});

/** The research plots' specifications: sweeps with bounds and fits per curve, width scaling with theory slopes, colours, legends. */
import { describe, expect, it } from 'vitest';
import { distinctColors, limitScalingPlotSpec, scalingPlotSpec, sweepPlotSpec, vegaLiteSpec, type PlotSpec } from '../../src/plot/spec.ts';
import { sweepSeries, type SweepRow } from '../../src/dynamics/sweep.ts';
import { slopeFit } from '../../src/nth/scaling.ts';

interface Lite {
  data: { values: { series: string; group: string; kind: string; x: number; y: number }[] };
  encoding: { color: { field: string; scale: { domain: string[]; range: string[] }; legend: { labelLimit: number; orient?: string; columns?: number } } };
  layer: { mark: { type: string }; encoding?: { strokeDash?: { field: string; scale: { domain: string[]; range: number[][] } } } }[];
}
const lite = (s: PlotSpec) => vegaLiteSpec(s) as unknown as Lite;

/** A row of a sweep on the tight example's scale: E = c·(T/α) below saturation. */
function row(alpha: number, T: number, m: number, kappa: number | null): SweepRow {
  const R0 = 0.5;
  const error = Math.min(kappa ?? (T / alpha) * 0.01, 1) * Math.sqrt(R0) * (1 + m / 1000);
  const bound = kappa === null ? null : Math.min(6 * kappa * Math.sqrt(R0), Math.sqrt(8 * R0));
  return { alpha, T, set: { m }, R0, lipDh: null, lipH: null, kappa, error, errorAccuracy: null, bound, sharpBound: null, chizatBound: null, weightChange: 0, linWeightChange: 0, loss: 0, linLoss: 0, seconds: 0, warnings: [] };
}

describe('sweep plots', () => {
  const alphas = [10, 100, 1000], Ts = [1, 10, 100], ms = [64, 256];
  const rows = ms.flatMap((m) => alphas.flatMap((a) => Ts.map((T) => row(a, T, m, (T / a) * 0.02))));

  it('one curve per grid value and α when α and T both vary, each fitted (E ∝ T/α here: slope 1)', () => {
    const series = sweepSeries(rows, ['m']);
    expect(series.map((s) => s.name)).toEqual(['m = 64, α = 10', 'm = 64, α = 100', 'm = 64, α = 1000', 'm = 256, α = 10', 'm = 256, α = 100', 'm = 256, α = 1000']);
    for (const s of series) {
      expect(s.rows.map((i) => rows[i]!.T)).toEqual(Ts);
      expect(s.fit!.slope).toBeCloseTo(1, 12);
    }
    // a single α: the curve runs over T, split by the grid only
    const one = sweepSeries(rows.filter((r) => r.alpha === 10), ['m']);
    expect(one.map((s) => s.name)).toEqual(['m = 64', 'm = 256']);
    expect(sweepSeries(rows.filter((r) => r.set.m === 64 && r.alpha === 10), []).map((s) => s.name)).toEqual(['E(T)']);
  });

  it('draws per curve E(T), the Thm 1.2 bound, the Thm 1.3 line and the fit, in the curve\'s colour, with a full legend', () => {
    const series = sweepSeries(rows, ['m']);
    const spec = sweepPlotSpec({ rows, series }, 'toy.ntk');
    const l = lite(spec);
    const groups = l.encoding.color.scale.domain;
    expect(groups).toHaveLength(6);
    expect(groups[0]).toMatch(/^m = 64, α = 10: slope 1\.00 ± 0\.00$/);
    expect(new Set(l.encoding.color.scale.range).size).toBe(6);
    expect(l.encoding.color.legend.labelLimit).toBe(0); // never truncated
    const kinds = new Set(l.data.values.map((v) => v.kind));
    expect([...kinds].sort()).toEqual(['E(T)', 'Thm 1.2 bound', 'Thm 1.3 (tight example)', 'fit'].sort());
    // the bound lies above every E(T) of its curve, the Thm 1.3 line below (κ < 1 here: κ√R0/5)
    for (const g of groups) {
      const of = (kind: string) => l.data.values.filter((v) => v.group === g && v.kind === kind);
      const E = of('E(T)'), B = of('Thm 1.2 bound'), L = of('Thm 1.3 (tight example)');
      expect(E).toHaveLength(3);
      E.forEach((e, i) => {
        expect(B[i]!.y).toBeGreaterThanOrEqual(e.y);
        expect(L[i]!.y).toBeLessThanOrEqual(e.y);
      });
      // the fit's two ends lie on E exactly (E is a power law along each curve)
      const F = of('fit');
      expect(F.map((f) => f.x)).toEqual([E[0]!.x, E[2]!.x]);
      expect(Math.abs(F[1]!.y / E[2]!.y - 1)).toBeLessThan(1e-12);
    }
    // the kinds' dashes: bound dashed, Thm 1.3 dotted, fit solid
    const dash = l.layer.find((x) => x.mark.type === 'line')!.encoding!.strokeDash!.scale;
    const of = (k: string) => dash.range[dash.domain.indexOf(k)];
    expect(of('Thm 1.2 bound')).toEqual([6, 4]);
    expect(of('Thm 1.3 (tight example)')).toEqual([2, 3]);
    expect(of('fit')).toEqual([1, 0]);
  });

  it('without κ there is no bound to draw, and the points and fit remain', () => {
    const noKappa = alphas.flatMap((a) => Ts.map((T) => row(a, T, 64, null)));
    const l = lite(sweepPlotSpec({ rows: noKappa, series: sweepSeries(noKappa, []) }, 'toy.ntk'));
    expect(new Set(l.data.values.map((v) => v.kind))).toEqual(new Set(['E(T)', 'fit']));
  });

  it('many curves: distinct colours for all of them, the legend below in columns', () => {
    const many = Array.from({ length: 14 }, (_, k) => alphas.map((a) => row(a, 10, 16 * (k + 1), 0.01 * (k + 1)))).flat();
    const l = lite(sweepPlotSpec({ rows: many, series: sweepSeries(many, ['m']) }, 'toy.ntk'));
    expect(l.encoding.color.scale.domain).toHaveLength(14);
    expect(new Set(l.encoding.color.scale.range).size).toBe(14);
    expect(l.encoding.color.legend.orient).toBe('bottom');
    expect(l.encoding.color.legend.columns).toBeGreaterThanOrEqual(1);
  });
});

describe('colours', () => {
  it('are pairwise distinct for any number of series, valid hex', () => {
    for (const n of [1, 10, 11, 20, 37]) {
      const c = distinctColors(n);
      expect(c).toHaveLength(n);
      expect(new Set(c).size).toBe(n);
      for (const x of c) expect(x).toMatch(/^#[0-9a-f]{6}$/);
    }
  });
});

describe('width-scaling plots', () => {
  it('points, the fitted line, and the theory slope through the points\' centroid', () => {
    const widths = [16, 64, 256, 1024];
    const points = widths.flatMap((m) => [
      { width: m, seed: 0, quantity: 'K2', value: 2 },
      { width: m, seed: 0, quantity: 'K4', value: 30 / m ** 0.8 },
    ]);
    const fits = ['K2', 'K4'].map((q) => slopeFit(widths, points.filter((p) => p.quantity === q).map((p) => p.value), q)!);
    const l = lite(scalingPlotSpec({ dim: 'm', points, fits }, 'mlp.ntk'));
    const g4 = l.encoding.color.scale.domain.find((g) => g.startsWith('‖K^(4)‖∞'))!;
    expect(g4).toBe('‖K^(4)‖∞: slope -0.80 ± 0.00 (theory -1)');
    const theory = l.data.values.filter((v) => v.group === g4 && v.kind === 'theory slope');
    expect(theory.map((v) => v.x)).toEqual([16, 1024]);
    expect(Math.log(theory[1]!.y / theory[0]!.y) / Math.log(1024 / 16)).toBeCloseTo(-1, 12);
    // through the centroid of the measured points in log-log
    const meas = l.data.values.filter((v) => v.group === g4 && v.kind === 'measured');
    const cx = meas.reduce((a, v) => a + Math.log(v.x), 0) / 4, cy = meas.reduce((a, v) => a + Math.log(v.y), 0) / 4;
    const at = (x: number) => Math.log(theory[0]!.y) - (Math.log(x) - Math.log(16));
    expect(at(Math.exp(cx))).toBeCloseTo(cy, 12);
  });

  it('the limit convergence plot draws slope −½ as its theory', () => {
    const widths = [64, 256, 1024];
    const points = widths.map((m) => ({ width: m, seed: 0, quantity: 'ntk' as const, value: 3 / Math.sqrt(m) }));
    const fits = [slopeFit(widths, points.map((p) => p.value), 'ntk', -0.5)!];
    const l = lite(limitScalingPlotSpec({ dim: 'm', points, fits }, 'limit.ntk'));
    expect(l.encoding.color.scale.domain).toEqual(['‖Θ̂ − Θ‖/‖Θ‖: slope -0.50 ± 0.00 (theory -0.5)']);
  });
});

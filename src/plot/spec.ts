/**
 * The plots' specification, shared by the command line (`--plot`, rendered to SVG/PNG by
 * src/cli/plot.ts) and the browser playground (rendered by vega in the page): our `PlotSpec`
 * (series of (x, y) points drawn as lines, dashed lines or points, on linear or log axes) → a
 * vega-lite spec. Pure and synchronous; no vega code is loaded here.
 */
import { boundsReport } from '../dynamics/bounds.ts';
import type { FlowResult } from '../dynamics/flow.ts';
import type { SweepRow, SweepSeries } from '../dynamics/sweep.ts';
import type { ScalingPoint, SlopeFit } from '../nth/scaling.ts';
import type { LimitScalingPoint } from '../nth/limit-scaling.ts';
import { fitLine } from '../math/fit.ts';

/** What `sweepPlotSpec` reads of a sweep's outcome. */
interface SweepOutcome {
  rows: SweepRow[];
  series: SweepSeries[];
}
/** What `scalingPlotSpec` reads of a width-scaling report. */
interface ScalingReport {
  dim: string;
  points: ScalingPoint[];
  fits: SlopeFit[];
}
/** What `limitScalingPlotSpec` reads of a limit-scaling report. */
interface LimitScalingReport {
  dim: string;
  points: LimitScalingPoint[];
  fits: SlopeFit[];
}

/** One curve of a plot: its legend name, its points (x[i], y[i]) and how it is drawn. */
export interface Series {
  name: string;
  x: number[];
  y: number[];
  /** How the series is drawn; `'line'` by default. Every series gets a legend entry. */
  style?: 'line' | 'points' | 'dashed' | 'dotted';
  /**
   * A colour group: series of one group share a colour and the legend lists groups (with their
   * full names), while `name` becomes the kind of the series within its group ('E(T)', 'Thm
   * 1.2', 'fit'), listed once in a second legend by its style. Without groups, every series has
   * its own colour and legend entry.
   */
  group?: string;
}

/** A plot as data: labelled axes (linear or log), the series; `vegaLiteSpec` turns it into vega-lite. */
export interface PlotSpec {
  title?: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  logY?: boolean;
  series: Series[];
  /** Width of the plotting area in pixels (axes, title and legend come on top); 480 by default. */
  width?: number;
  /** Height of the plotting area in pixels; 300 by default. */
  height?: number;
}

/**
 * Fonts for every text of the plot. Browsers take the first they have; resvg (PNG) does the
 * same among the system fonts it loads. Named families come before the generic `sans-serif`
 * because resvg maps that one to Arial only and, where Arial is missing (Debian has DejaVu),
 * falls back to an arbitrary, often serif, face. The names are unquoted on purpose (valid CSS
 * for names made of identifiers): resvg 2.6 ignores quoted names after the first one.
 */
const FONT = 'Helvetica, Arial, DejaVu Sans, Liberation Sans, Noto Sans, sans-serif';

const DASHES: Record<'line' | 'dashed' | 'dotted', number[]> = { line: [1, 0], dashed: [6, 4], dotted: [2, 3] };

/** Tableau 10, vega's default categorical scheme, for up to ten colours. */
const TABLEAU10 = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];

/**
 * n colours that are pairwise distinct: Tableau 10 up to ten, else hues spread evenly around
 * the HSL circle with lightness alternating between neighbours (so that no two series share a
 * colour, as category10 does from the eleventh on).
 * @example distinctColors(12).length === new Set(distinctColors(12)).size // true
 */
export function distinctColors(n: number): string[] {
  if (n <= TABLEAU10.length) return TABLEAU10.slice(0, n);
  const hex = (v: number) => Math.round(v * 255).toString(16).padStart(2, '0');
  return Array.from({ length: n }, (_, k) => {
    const h = k / n, l = k % 2 === 0 ? 0.42 : 0.6, sat = 0.65;
    // HSL → RGB
    const q = l < 0.5 ? l * (1 + sat) : l + sat - l * sat, p = 2 * l - q;
    const channel = (t: number) => {
      t = (t + 1) % 1;
      return t < 1 / 6 ? p + (q - p) * 6 * t : t < 1 / 2 ? q : t < 2 / 3 ? p + (q - p) * (2 / 3 - t) * 6 : p;
    };
    return `#${hex(channel(h + 1 / 3))}${hex(channel(h))}${hex(channel(h - 1 / 3))}`;
  });
}

interface Row {
  series: string;
  group: string;
  kind: string;
  x: number;
  y: number;
}

/** Names made unique (`a`, `a (2)`, …) so that two series never merge into one colour. */
function uniqueNames(names: string[]): string[] {
  const seen = new Set<string>();
  return names.map((base) => {
    let name = base;
    for (let k = 2; seen.has(name); k++) name = `${base} (${k})`;
    seen.add(name);
    return name;
  });
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * The vega-lite spec of a `PlotSpec` (for tests and for users who want to restyle it): one
 * colour per series (or per group), every series in its style, log axes as asked, points that
 * cannot be drawn (non-finite, or ≤ 0 on a log axis) left out and counted in a subtitle, and a
 * legend that is never truncated (long or many entries wrap into columns below the plot).
 * @example vegaLiteSpec({ xLabel: 'T/α', yLabel: 'E(T)', logX: true, logY: true, series: [{ name: 'E', x: [1, 10], y: [1e-3, 1e-2], style: 'points' }] })
 */
export function vegaLiteSpec(spec: PlotSpec): object {
  if (!Array.isArray(spec.series)) throw new Error('plot: series must be an array');
  const grouped = spec.series.some((s) => s.group !== undefined);
  // Each series' identity (one line or set of points); without groups also its colour and legend entry.
  const names = uniqueNames(spec.series.map((s) => (grouped ? `${s.group ?? ''} · ${s.name}` : s.name)));
  const groupOf = (k: number) => (grouped ? spec.series[k]!.group ?? '' : names[k]!);
  const groups = [...new Set(spec.series.map((_, k) => groupOf(k)))];
  const styleOf = (k: number) => spec.series[k]!.style ?? 'line';
  const rows: Row[] = [];
  let nonPositive = 0;
  let nonFinite = 0;
  spec.series.forEach((s, k) => {
    if (s.x.length !== s.y.length) {
      throw new Error(
        `plot: series '${s.name}' has ${s.x.length} x values but ${s.y.length} y values`,
      );
    }
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i]!;
      const y = s.y[i]!;
      if (!Number.isFinite(x) || !Number.isFinite(y)) nonFinite++;
      else if ((spec.logX && x <= 0) || (spec.logY && y <= 0)) nonPositive++;
      else rows.push({ series: names[k]!, group: groupOf(k), kind: s.name, x, y });
    }
  });

  const notes: string[] = [];
  if (nonPositive > 0) notes.push(`${plural(nonPositive, 'point', 'points')} ≤ 0 omitted`);
  if (nonFinite > 0) notes.push(`${plural(nonFinite, 'non-finite point', 'non-finite points')} omitted`);

  const lineIdx = spec.series.map((_, k) => k).filter((k) => styleOf(k) !== 'points');
  const pointIdx = spec.series.map((_, k) => k).filter((k) => styleOf(k) === 'points');
  const lineNames = lineIdx.map((k) => names[k]!);
  const pointNames = pointIdx.map((k) => names[k]!);

  // Points sit inside the frame, not on it: a few pixels of padding on both scales.
  const pad = pointIdx.length > 0 ? { padding: 8 } : {};
  const axisScale = (log: boolean | undefined, nice: boolean): Record<string, unknown> =>
    log ? { type: 'log', nice, ...pad } : { type: 'linear', zero: false, nice, ...pad };

  // Many or long entries: the legend goes below the plot, in columns, never truncated.
  const legendEntries = grouped ? groups : names;
  const longest = Math.max(0, ...legendEntries.map((n) => n.length));
  const below = legendEntries.length > 8 || longest > 28;
  const layout = below ? { orient: 'bottom', direction: 'vertical', columns: Math.max(1, Math.min(4, Math.floor(((spec.width ?? 480) + 200) / (7 * longest + 40)))) } : {};
  const legendBase = { title: null, labelLimit: 0, symbolStrokeWidth: 2, ...layout };

  // Without groups, legend symbols follow each series' style: a short stroke (dashed or solid)
  // for lines, a filled circle for points. Vega expressions take JSON string literals.
  const isPoints = `indexof(${JSON.stringify(pointNames)}, datum.value) >= 0`;
  const colorLegend = grouped
    ? { ...legendBase, symbolType: 'circle' }
    : {
        ...legendBase,
        encode: {
          symbols: {
            update: {
              shape: { signal: `${isPoints} ? 'circle' : 'stroke'` },
              fill: { signal: `${isPoints} ? scale('color', datum.value) : 'transparent'` },
              stroke: { signal: `scale('color', datum.value)` },
              opacity: { value: 1 },
            },
          },
        },
      };

  // With groups, one more legend lists the kinds of series ('E(T)', 'Thm 1.2', 'fit') by their
  // style: a circle for points, a stroke with the kind's dash for lines. It is the legend of the
  // strokeDash scale, whose domain holds every kind (points' kinds map to a solid dash, unused).
  const kinds = [...new Set(spec.series.map((s) => s.name))];
  const pointKinds = kinds.filter((kind) => spec.series.every((s, k) => s.name !== kind || styleOf(k) === 'points'));
  const dashOfKind = (kind: string) => {
    const k = spec.series.findIndex((s, j) => s.name === kind && styleOf(j) !== 'points');
    return k < 0 ? DASHES.line : DASHES[styleOf(k) as 'line'];
  };
  const kindDash = { domain: kinds, range: kinds.map(dashOfKind) };
  const isPointKind = `indexof(${JSON.stringify(pointKinds)}, datum.value) >= 0`;
  const kindLegend = {
    title: null, labelLimit: 0, symbolStrokeWidth: 2, orient: 'right',
    encode: {
      symbols: {
        update: {
          shape: { signal: `${isPointKind} ? 'circle' : 'stroke'` },
          fill: { signal: `${isPointKind} ? '#555' : 'transparent'` },
          stroke: { value: '#555' },
          opacity: { value: 1 },
        },
      },
    },
  };

  const layer: object[] = [];
  if (lineNames.length > 0) {
    // With groups, the dash pattern says the kind (one legend entry per kind); without, it is
    // per series and shown in the colour legend's symbols.
    layer.push({
      transform: [{ filter: { field: 'series', oneOf: lineNames } }],
      mark: { type: 'line', strokeWidth: 2 },
      encoding: grouped
        ? { detail: { field: 'series', type: 'nominal' }, strokeDash: { field: 'kind', type: 'nominal', scale: kindDash, legend: kindLegend } }
        : {
            strokeDash: {
              field: 'series',
              type: 'nominal',
              scale: { domain: names, range: names.map((_, k) => DASHES[styleOf(k) === 'points' ? 'line' : (styleOf(k) as 'line')]) },
            },
          },
    });
  }
  if (pointNames.length > 0) {
    layer.push({
      transform: [{ filter: { field: 'series', oneOf: pointNames } }],
      mark: { type: 'point', filled: true, size: 36, opacity: 1 },
      ...(grouped && lineNames.length === 0 ? { encoding: { strokeDash: { field: 'kind', type: 'nominal', scale: kindDash, legend: kindLegend } } } : {}),
    });
  }

  const title: Record<string, unknown> = { text: spec.title ?? '' };
  if (notes.length > 0) title.subtitle = notes.join('; ');

  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: spec.width ?? 480,
    height: spec.height ?? 300,
    ...(spec.title !== undefined || notes.length > 0 ? { title } : {}),
    background: 'white',
    config: { font: FONT, view: { stroke: null } },
    data: { values: rows },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: spec.xLabel, scale: axisScale(spec.logX, false) },
      y: { field: 'y', type: 'quantitative', title: spec.yLabel, scale: axisScale(spec.logY, true) },
      color: { field: grouped ? 'group' : 'series', type: 'nominal', scale: { domain: grouped ? groups : names, range: distinctColors((grouped ? groups : names).length) }, legend: colorLegend },
    },
    layer,
  };
}

/**
 * The times at which `flow --plot` samples E(t): 48 log-spaced times from T/10⁴ to T (passed to
 * `flow` as `times`, so that the trajectory holds them).
 * @example flowPlotTimes(10)[47] // 10
 */
export function flowPlotTimes(T: number): number[] {
  return Array.from({ length: 48 }, (_, i) => T * 10 ** (-4 + (4 * i) / 47));
}

/**
 * E(t) of a flow against the bounds of the theory at every t of its trajectory, log-log: the
 * series of `flow --plot` (Theorem 1.2, its sharper form and Proposition 1.1 from
 * `boundsReport` at each t; a bound that is unavailable at some t is left out).
 * @example vegaLiteSpec(flowPlotSpec(flow(model, { T: 10, times: flowPlotTimes(10) }), 'meanfield.ntk', false))
 */
export function flowPlotSpec(r: Pick<FlowResult, 'alpha' | 'R0' | 'lipDh' | 'lipH' | 'radius' | 'trajectory'>, file: string, nonSmooth: boolean): PlotSpec {
  const ts = r.trajectory.map((q) => q.t);
  const at = (t: number) => boundsReport({ alpha: r.alpha, T: t, R0: r.R0, lipDh: r.lipDh, lipH: r.lipH, radius: r.radius, squareLoss: true, nonSmooth });
  const series: Series[] = [{ name: 'E(t)', x: ts, y: r.trajectory.map((q) => q.error), style: 'line' }];
  const add = (name: string, pick: (b: ReturnType<typeof at>) => number | null) => {
    const ys = ts.map((t) => pick(at(t)));
    if (ys.every((y) => y !== null)) series.push({ name, x: ts, y: ys as number[], style: 'dashed' });
  };
  add('Thm 1.2', (b) => b.theorem12.value);
  add('Thm 1.2, sharp', (b) => b.theorem12Sharp.value);
  add('Prop 1.1', (b) => b.prop11.value);
  return { title: `E(t) of ${file}, α = ${r.alpha}`, xLabel: 't', yLabel: 'E(t)', logX: true, logY: true, series };
}

/**
 * `ntk sweep --plot`: E(T) against T/α, log-log, one colour per curve of the sweep
 * (`SweepOutcome.series`: by grid axes, and by α when α and T both vary), and per curve
 *  - the measured E(T) (points),
 *  - Theorem 1.2's upper bound min(6κ√R0, √(8R0)) (dashed), where κ is known,
 *  - Theorem 1.3's min(κ√R0, √R0)/5 (dotted): what the tight example attains, so that E(T)
 *    between the two lines is within a factor 30 of the worst case,
 *  - the least-squares line of log E against log(T/α) (solid), its slope in the legend.
 * @example vegaLiteSpec(sweepPlotSpec(await runSweep({ … }), 'converse.ntk'))
 */
export function sweepPlotSpec(outcome: Pick<SweepOutcome, 'rows' | 'series'>, file: string): PlotSpec {
  const series: Series[] = [];
  for (const c of outcome.series) {
    const rs = c.rows.map((i) => outcome.rows[i]!);
    const x = rs.map((r) => r.T / r.alpha);
    const slope = c.fit ? `: slope ${c.fit.slope.toFixed(2)}${c.fit.stderr === null ? '' : ` ± ${c.fit.stderr.toFixed(2)}`}` : '';
    const group = `${c.name}${slope}`;
    series.push({ name: 'E(T)', group, x, y: rs.map((r) => r.error), style: 'points' });
    const withBound = rs.filter((r) => r.bound !== null);
    if (withBound.length) series.push({ name: 'Thm 1.2 bound', group, x: withBound.map((r) => r.T / r.alpha), y: withBound.map((r) => r.bound!), style: 'dashed' });
    const withKappa = rs.filter((r) => r.kappa !== null);
    if (withKappa.length)
      series.push({ name: 'Thm 1.3 (tight example)', group, x: withKappa.map((r) => r.T / r.alpha), y: withKappa.map((r) => (Math.min(r.kappa!, 1) * Math.sqrt(r.R0)) / 5), style: 'dotted' });
    if (c.fit) series.push({ name: 'fit', group, ...fitLine(c.fit, x[0]!, x[x.length - 1]!), style: 'line' });
  }
  return { title: `E(T) of ${file}`, xLabel: 'T/α', yLabel: 'E(T)', logX: true, logY: true, series };
}

/**
 * A width-scaling plot, log-log: per quantity its measured values (points), the least-squares
 * line (solid, its slope in the legend) and the theory's slope (dashed) drawn through the
 * geometric mean of the measurements, so that only the slopes are compared.
 */
function powerLawSpec(title: string, xLabel: string, yLabel: string, groups: { name: string; points: { width: number; value: number }[]; fit: SlopeFit | undefined }[]): PlotSpec {
  const series: Series[] = [];
  for (const g of groups) {
    if (g.points.length === 0) continue;
    const xs = g.points.map((p) => p.width), ys = g.points.map((p) => p.value);
    const lo = Math.min(...xs), hi = Math.max(...xs);
    const f = g.fit;
    const group = f ? `${g.name}: slope ${f.slope.toFixed(2)}${f.stderr === null ? '' : ` ± ${f.stderr.toFixed(2)}`}${f.expected === null ? '' : ` (theory ${f.expected})`}` : g.name;
    series.push({ name: 'measured', group, x: xs, y: ys, style: 'points' });
    if (f) series.push({ name: 'least-squares fit', group, ...fitLine(f, lo, hi), style: 'line' });
    if (f && f.expected !== null) {
      // the line of slope `expected` through the centroid of the fitted points (in log-log)
      const pos = g.points.filter((p) => p.width > 0 && p.value > 0);
      const mx = pos.reduce((a, p) => a + Math.log(p.width), 0) / pos.length;
      const my = pos.reduce((a, p) => a + Math.log(p.value), 0) / pos.length;
      series.push({ name: 'theory slope', group, ...fitLine({ slope: f.expected, intercept: my - f.expected * mx }, lo, hi), style: 'dashed' });
    }
  }
  return { title, xLabel, yLabel, logX: true, logY: true, series };
}

/**
 * `ntk scaling --plot`: ‖K^(r)_0‖∞ (and ‖K^(2)_T − K^(2)_0‖∞) against the width, log-log, with the
 * fitted lines and the slopes of Theorem 2.3 / Corollary 2.4 (`theorySlope`).
 * @example vegaLiteSpec(scalingPlotSpec(scalingStudy('examples/mlp-tanh.ntk', { widths: [64, 128, 256] }), 'mlp-tanh.ntk'))
 */
export function scalingPlotSpec(r: Pick<ScalingReport, 'dim' | 'points' | 'fits'>, file: string): PlotSpec {
  const quantities = [...new Set(r.points.map((p) => p.quantity))];
  const label = (q: string) => (q === 'dK2' ? '‖K2(T) − K2(0)‖∞' : `‖K^(${q.slice(1)})‖∞`);
  return powerLawSpec(`width scaling of ${file}`, r.dim, 'sup norm', quantities.map((q) => ({ name: label(q), points: r.points.filter((p) => p.quantity === q), fit: r.fits.find((f) => f.quantity === q) })));
}

/**
 * `ntk scaling --limit --plot`: the relative distances ‖Θ̂_m − Θ‖/‖Θ‖ and ‖mean h hᵀ − 𝒦‖/‖𝒦‖ to the
 * infinite-width kernels against the width, with the fitted lines and the theory's slope −½.
 * @example vegaLiteSpec(limitScalingPlotSpec(limitScaling(model, { dim: 'm', widths: [64, 256, 1024], seeds: 4, modelAt }), 'mlp.ntk'))
 */
export function limitScalingPlotSpec(r: Pick<LimitScalingReport, 'dim' | 'points' | 'fits'>, file: string): PlotSpec {
  const names = { ntk: '‖Θ̂ − Θ‖/‖Θ‖', nngp: '‖mean h hᵀ − 𝒦‖/‖𝒦‖' } as const;
  return powerLawSpec(`convergence to the infinite-width limit: ${file}`, r.dim, 'relative distance', (['ntk', 'nngp'] as const).map((q) => ({ name: names[q], points: r.points.filter((p) => p.quantity === q), fit: r.fits.find((f) => f.quantity === q) })));
}

/**
 * The plot of `ntk predict --plot` for 1-D inputs: the predicted mean at the test inputs (sorted
 * by x), the band mean ± 2σ (σ² the predicted variance, negatives from rounding read as 0) as two
 * dashed lines, and the training points.
 * @example predictionPlotSpec({ title: 'f', xTrain: [0], yTrain: [1], xTest: [0, 1], mean: [1, 0], variance: [0, 1] })
 */
export function predictionPlotSpec(p: { title: string; xTrain: number[]; yTrain: number[]; xTest: number[]; mean: number[]; variance: number[] }): PlotSpec {
  const order = p.xTest.map((_, i) => i).sort((a, b) => p.xTest[a]! - p.xTest[b]!);
  const xs = order.map((i) => p.xTest[i]!);
  const sd = order.map((i) => Math.sqrt(Math.max(p.variance[i]!, 0)));
  const mean = order.map((i) => p.mean[i]!);
  return {
    title: p.title, xLabel: 'x', yLabel: 'f(x)',
    series: [
      { name: 'mean', x: xs, y: mean },
      { name: 'mean + 2σ', x: xs, y: mean.map((m, k) => m + 2 * sd[k]!), style: 'dashed' },
      { name: 'mean − 2σ', x: xs, y: mean.map((m, k) => m - 2 * sd[k]!), style: 'dashed' },
      { name: 'training points', x: p.xTrain, y: p.yTrain, style: 'points' },
    ],
  };
}

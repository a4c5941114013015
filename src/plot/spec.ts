/**
 * The plots' specification, shared by the command line (`--plot`, rendered to SVG/PNG by
 * src/cli/plot.ts) and the browser playground (rendered by vega in the page): our `PlotSpec`
 * (series of (x, y) points drawn as lines, dashed lines or points, on linear or log axes) → a
 * vega-lite spec. Pure and synchronous; no vega code is loaded here.
 */
import { boundsReport } from '../dynamics/bounds.ts';
import type { FlowResult } from '../dynamics/flow.ts';

export interface Series {
  name: string;
  x: number[];
  y: number[];
  /** How the series is drawn; `'line'` by default. Every series gets a legend entry. */
  style?: 'line' | 'points' | 'dashed';
}

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

const DASH: number[] = [6, 4];
const SOLID: number[] = [1, 0];

interface Row {
  series: string;
  x: number;
  y: number;
}

/** Names made unique (`a`, `a (2)`, …) so that two series never merge into one colour. */
function uniqueNames(series: Series[]): string[] {
  const seen = new Set<string>();
  return series.map((s) => {
    let name = s.name;
    for (let k = 2; seen.has(name); k++) name = `${s.name} (${k})`;
    seen.add(name);
    return name;
  });
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The vega-lite spec (for tests and for users who want to restyle it). */
export function vegaLiteSpec(spec: PlotSpec): object {
  if (!Array.isArray(spec.series)) throw new Error('plot: series must be an array');
  const names = uniqueNames(spec.series);
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
      else rows.push({ series: names[k]!, x, y });
    }
  });

  const notes: string[] = [];
  if (nonPositive > 0) notes.push(`${plural(nonPositive, 'point', 'points')} ≤ 0 omitted`);
  if (nonFinite > 0) notes.push(`${plural(nonFinite, 'non-finite point', 'non-finite points')} omitted`);

  const styleOf = (k: number): 'line' | 'points' | 'dashed' => spec.series[k]!.style ?? 'line';
  const lineNames = names.filter((_, k) => styleOf(k) !== 'points');
  const pointNames = names.filter((_, k) => styleOf(k) === 'points');

  const axisScale = (log: boolean | undefined, nice: boolean): Record<string, unknown> =>
    log ? { type: 'log', nice } : { type: 'linear', zero: false, nice };

  // Legend symbols follow each series' style: a short stroke (dashed or solid) for lines, a
  // filled circle for points. Vega expressions take JSON string literals.
  const isPoints = `indexof(${JSON.stringify(pointNames)}, datum.value) >= 0`;
  const legend = {
    title: null,
    symbolStrokeWidth: 2,
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

  const layer: object[] = [];
  if (lineNames.length > 0) {
    layer.push({
      transform: [{ filter: { field: 'series', oneOf: lineNames } }],
      mark: { type: 'line', strokeWidth: 2 },
      encoding: {
        strokeDash: {
          field: 'series',
          type: 'nominal',
          scale: { domain: names, range: names.map((_, k) => (styleOf(k) === 'dashed' ? DASH : SOLID)) },
        },
      },
    });
  }
  if (pointNames.length > 0) {
    layer.push({
      transform: [{ filter: { field: 'series', oneOf: pointNames } }],
      mark: { type: 'point', filled: true, size: 36, opacity: 1 },
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
      color: { field: 'series', type: 'nominal', scale: { domain: names }, legend },
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

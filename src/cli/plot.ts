/**
 * Plots for the command line: series of (x, y) points drawn as lines, dashed lines or points,
 * on linear or logarithmic axes, written as SVG or PNG.
 *
 * Pipeline: our `PlotSpec` → a vega-lite spec (`vegaLiteSpec`, pure and synchronous) → a vega
 * spec (`vega-lite`'s compiler) → SVG (`vega`'s headless `View`, no browser, no canvas) → PNG
 * (`@resvg/resvg-js`, a Rust SVG renderer shipped as a prebuilt native module).
 *
 * `vega`, `vega-lite` and `@resvg/resvg-js` are loaded lazily (`importPackage`) inside the
 * render functions, so that importing this module (and starting `ntk`) costs nothing when no
 * plot is requested. `@resvg/resvg-js` is native and stays external to the esbuild bundle.
 */
import * as nodePath from 'node:path';
import { writeFileAtomic } from '../io/atomic.ts';

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
 * `import(spec)` of an external package at run time. bin/ntk.js runs the bundle as a vm script,
 * where `import()` has no module loader of its own (Node 20 leaves it to a per-script callback,
 * which a script compiled from a code cache loses), so it hands over its own `import` under
 * `Symbol.for('ntk.import')`; from the sources (vitest) or in a worker the plain `import()` works.
 * @example const vega = await importPackage<typeof import('vega')>('vega');
 */
function importPackage<T>(spec: string): Promise<T> {
  const viaBin = (globalThis as Record<symbol, unknown>)[Symbol.for('ntk.import')] as ((s: string) => Promise<T>) | undefined;
  return viaBin ? viaBin(spec) : (import(spec) as Promise<T>);
}

/** Render to an SVG string (vega-lite → vega → SVG, headless, no browser). */
export async function renderSvg(spec: PlotSpec): Promise<string> {
  const lite = vegaLiteSpec(spec);
  const [vl, vega] = await Promise.all([importPackage<typeof import('vega-lite')>('vega-lite'), importPackage<typeof import('vega')>('vega')]);
  const compiled = vl.compile(lite as Parameters<typeof vl.compile>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Render to PNG bytes via resvg (scale 2 for crisp text). */
export async function renderPng(spec: PlotSpec): Promise<Uint8Array> {
  const svg = await renderSvg(spec);
  const { Resvg } = await importPackage<typeof import('@resvg/resvg-js')>('@resvg/resvg-js');
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: 2 },
    background: 'white',
    // Text needs fonts: vega's SVG names families (FONT above), resvg finds them among the
    // system's. Without any system font the PNG has no text (the SVG still does).
    font: { loadSystemFonts: true },
    logLevel: 'off',
  });
  const png = resvg.render().asPng();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/**
 * Write .svg or .png chosen by the file's extension (case-insensitive), atomically (see
 * `writeFileAtomic`). An unknown extension throws before anything is rendered or written.
 */
export async function writePlot(path: string, spec: PlotSpec): Promise<void> {
  const ext = nodePath.extname(path).toLowerCase();
  let data: string | Uint8Array;
  if (ext === '.svg') data = await renderSvg(spec);
  else if (ext === '.png') data = await renderPng(spec);
  else {
    throw new Error(
      `cannot write plot '${path}': unknown extension ${ext ? `'${ext}'` : '(none)'}: use .svg or .png`,
    );
  }
  writeFileAtomic(path, data);
}

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

export { vegaLiteSpec, type PlotSpec, type Series } from '../index.ts';
import { vegaLiteSpec, type PlotSpec } from '../index.ts';

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

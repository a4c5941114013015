import { describe, it, expect, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { vegaLiteSpec, renderSvg, renderPng, writePlot, type PlotSpec } from '../../src/cli/plot.ts';

// Loose views of the vega-lite spec's parts that the tests look at.
interface Enc {
  field: string;
  type: string;
  title?: string;
  scale: { type?: string; domain?: string[]; range?: number[][] };
}
interface LiteSpec {
  title?: { text: string; subtitle?: string };
  data: { values: { series: string; x: number; y: number }[] };
  encoding: { x: Enc; y: Enc; color: Enc };
  layer: { mark: { type: string }; transform: { filter: { oneOf: string[] } }[]; encoding?: { strokeDash?: Enc } }[];
}
const lite = (spec: PlotSpec): LiteSpec => vegaLiteSpec(spec) as unknown as LiteSpec;

const threeSeries: PlotSpec = {
  title: 'NTK error',
  xLabel: 'width n',
  yLabel: 'kernel error',
  logX: true,
  logY: true,
  series: [
    { name: 'order 1', x: [0, 1, 2, 4, 8], y: [5, 4, 3, 2, 1] },
    { name: 'order 2', x: [1, 2, 4, 8], y: [9, NaN, 3, -1], style: 'dashed' },
    { name: 'measured', x: [1, 2, 4, 8], y: [2, 1, Infinity, 0.5], style: 'points' },
  ],
};

/** The `<path>`s inside each group of class `mark-<kind> role-mark` of a vega SVG. */
function markPaths(svg: string, kind: 'line' | 'symbol'): number[] {
  const re = new RegExp(`<g class="mark-${kind} role-mark[^"]*"[^>]*>(.*?)</g>`, 'g');
  return [...svg.matchAll(re)].map((m) => (m[1]!.match(/<path/g) ?? []).length);
}

const dirs: string[] = [];
function tempDir(): string {
  const d = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'ntk-plot-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('vegaLiteSpec', () => {
  it('uses log scales on the x and y fields, and drops non-positive and non-finite points', () => {
    const s = lite(threeSeries);
    expect(s.encoding.x).toMatchObject({ field: 'x', type: 'quantitative', title: 'width n', scale: { type: 'log' } });
    expect(s.encoding.y).toMatchObject({ field: 'y', type: 'quantitative', title: 'kernel error', scale: { type: 'log' } });
    expect(s.encoding.color).toMatchObject({ field: 'series', scale: { domain: ['order 1', 'order 2', 'measured'] } });
    // 13 points: x = 0, y = -1 dropped for the log axes; NaN and Infinity dropped everywhere.
    expect(s.data.values).toHaveLength(9);
    for (const r of s.data.values) {
      expect(r.x > 0 && r.y > 0 && Number.isFinite(r.x) && Number.isFinite(r.y)).toBe(true);
    }
    expect(s.title).toEqual({ text: 'NTK error', subtitle: '2 points ≤ 0 omitted; 2 non-finite points omitted' });
  });

  it('keeps linear axes (and no subtitle) when nothing is omitted', () => {
    const s = lite({ xLabel: 'x', yLabel: 'y', logY: true, series: [{ name: 'a', x: [-1, 0, 1], y: [1, 2, 3] }] });
    expect(s.encoding.x.scale.type).toBe('linear');
    expect(s.encoding.y.scale.type).toBe('log');
    expect(s.data.values).toHaveLength(3); // x ≤ 0 is fine on a linear x axis
    expect(s.title).toBeUndefined();
  });

  it('draws each series in its style, with one legend entry per series', () => {
    const s = lite(threeSeries);
    const [lines, points] = s.layer;
    expect(lines!.mark.type).toBe('line');
    expect(lines!.transform[0]!.filter.oneOf).toEqual(['order 1', 'order 2']);
    expect(lines!.encoding!.strokeDash!.scale.range).toEqual([[1, 0], [6, 4], [1, 0]]);
    expect(points!.mark.type).toBe('point');
    expect(points!.transform[0]!.filter.oneOf).toEqual(['measured']);
  });

  it('rejects series whose x and y differ in length', () => {
    expect(() => vegaLiteSpec({ xLabel: 'x', yLabel: 'y', series: [{ name: 'a', x: [1, 2], y: [1] }] })).toThrow(
      /series 'a' has 2 x values but 1 y values/,
    );
  });
});

describe('renderSvg', () => {
  it('returns an SVG with the axis titles and one path per line series', async () => {
    const svg = await renderSvg(threeSeries);
    expect(svg.startsWith('<svg')).toBe(true);
    for (const text of ['width n', 'kernel error', 'NTK error', 'order 1', 'order 2', 'measured', '2 points ≤ 0 omitted']) {
      expect(svg).toContain(text);
    }
    expect(markPaths(svg, 'line')).toEqual([1, 1]); // 'order 1' and the dashed 'order 2'
    expect(markPaths(svg, 'symbol')).toEqual([3]); // 'measured': 3 finite points
    expect(svg).not.toMatch(/NaN|Infinity/);
  });
});

describe('renderPng', () => {
  it('returns PNG bytes', async () => {
    const png = await renderPng(threeSeries);
    expect(png).toBeInstanceOf(Uint8Array);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });
});

describe('writePlot', () => {
  it('writes .svg and .png (by extension, any case) atomically, leaving no temporary file', async () => {
    const dir = tempDir();
    const spec: PlotSpec = { xLabel: 'x', yLabel: 'y', series: [{ name: 's', x: [1, 2, 3], y: [3, 1, 2] }] };
    await writePlot(nodePath.join(dir, 'a.svg'), spec);
    await writePlot(nodePath.join(dir, 'b.PNG'), spec);
    fs.writeFileSync(nodePath.join(dir, 'c.svg'), 'old');
    await writePlot(nodePath.join(dir, 'c.svg'), spec); // replaces an existing file
    expect(fs.readdirSync(dir).sort()).toEqual(['a.svg', 'b.PNG', 'c.svg']);
    expect(fs.readFileSync(nodePath.join(dir, 'a.svg'), 'utf8')).toMatch(/^<svg/);
    expect(fs.readFileSync(nodePath.join(dir, 'c.svg'), 'utf8')).toMatch(/^<svg/);
    expect([...fs.readFileSync(nodePath.join(dir, 'b.PNG')).subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
  });

  it('rejects an unknown extension and writes nothing', async () => {
    const dir = tempDir();
    const spec: PlotSpec = { xLabel: 'x', yLabel: 'y', series: [] };
    await expect(writePlot(nodePath.join(dir, 'a.jpg'), spec)).rejects.toThrow(/use \.svg or \.png/);
    await expect(writePlot(nodePath.join(dir, 'noext'), spec)).rejects.toThrow(/use \.svg or \.png/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

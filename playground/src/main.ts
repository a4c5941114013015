/**
 * The playground page: an editor, an examples menu, and panels that run the CLI's studies in a
 * worker and draw them. The state lives in the URL (state.ts); every panel shows the command
 * that prints the same numbers in a terminal.
 */
import type * as Vega from 'vega';
import type { EditorView } from '@codemirror/view';
// The page's thread imports three small modules of the library and never src/index.ts: the
// library (chevrotain's parser, the runtime, the studies) is the worker's, and the page's own
// bundle stays small to parse (docs/decisions.md).
import { formatNumber as num } from '../../src/studies/common.ts';
import { encodeNpy } from '../../src/io/data.ts';
import type { Diagnostic } from '../../src/parser/diagnostics.ts';
import type { LanguageClient } from './editor.ts';
import type { Job, Request, RequestBody, Response, StudyName, StudyOptions, View } from './protocol.ts';
import { decodeState, encodeState, fromBase64, INLINE_LIMIT, inlineFile, type PageState } from './state.ts';
import { DEFAULT_EXAMPLE, exampleStateOf, PANEL_ORDER, PANELS, panelOptions } from './panels.ts';

type Example = (typeof __NTK_EXAMPLES__)[number];

const $ = <T extends HTMLElement>(sel: string) => document.querySelector(sel) as T;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
};

// ---------------------------------------------------------------- workers

const workerUrl = new URL('./worker.js', import.meta.url);

class WorkerClient {
  private w: Worker | null = null;
  private next = 1;
  private pending = new Map<number, { resolve: (r: Response) => void; onProgress?: (r: Response & { kind: 'progress' }) => void }>();
  /**
   * A worker of its own, started at once, or `adopt`ed (the one index.html started), or started
   * on the first request after `gate` (the editor's: it would compete with the first study).
   */
  constructor(opts: { adopt?: Worker; gate?: Promise<void> } = {}) {
    if (opts.gate) this.gate = opts.gate;
    else this.w = this.start(opts.adopt);
  }
  private gate: Promise<void> | null = null;
  private start(adopt?: Worker): Worker {
    const w = adopt ?? new Worker(workerUrl, { type: 'module' });
    w.onmessage = (ev: MessageEvent<Response>) => {
      const r = ev.data;
      const p = this.pending.get(r.id);
      if (!p) return;
      if (r.kind === 'progress') return p.onProgress?.(r);
      this.pending.delete(r.id);
      p.resolve(r);
    };
    w.onerror = (ev) => {
      ev.preventDefault();
      for (const [id, p] of this.pending) p.resolve({ id, kind: 'failure', message: `the worker failed: ${ev.message}`, diagnostics: [] });
      this.pending.clear();
    };
    return w;
  }
  async request(req: RequestBody, onProgress?: (r: Response & { kind: 'progress' }) => void): Promise<Response> {
    if (!this.w) {
      await this.gate;
      this.w ??= this.start();
    }
    const id = this.next++;
    return new Promise((resolve) => {
      this.pending.set(id, { resolve, onProgress });
      this.w!.postMessage({ ...req, id } as Request);
    });
  }
  /** Stops whatever runs (the worker is terminated and replaced). */
  cancel(): void {
    this.w?.terminate();
    for (const [id, p] of this.pending) p.resolve({ id, kind: 'failure', message: 'cancelled', diagnostics: [] });
    this.pending.clear();
    this.w = this.start();
  }
}

/** The first result (or a few seconds): the editor's worker and the editor wait for it. */
let firstResult!: () => void;
const firstResultOrLater = new Promise<void>((ok) => {
  firstResult = ok;
  setTimeout(ok, 3000);
});
const boot = (globalThis as { __ntkBoot?: { worker: Worker } }).__ntkBoot;
const computeWorker = new WorkerClient({ adopt: boot?.worker });
const langWorker = new WorkerClient({ gate: firstResultOrLater });
void firstResultOrLater.then(() => langWorker.request({ kind: 'warm-up' }));
/**
 * CodeMirror and the editor's setup: a chunk of their own, fetched and evaluated once the first
 * result is shown (its evaluation took 0.75 s of the page's thread on a loaded machine, and
 * compiling it competes with the worker for the cores).
 */
const editorModule = () => import('./editor.ts');

// ---------------------------------------------------------------- state

let examples: Example[] = [];
let state: PageState;
/** Bytes of the data files of the current model, by name. */
let files: Record<string, Uint8Array> = {};
let editor: EditorView | null = null;
/** Each panel's last report (the CLI's --json object) or failure, and what the page drew besides. */
const results: Partial<Record<StudyName, unknown>> = {};
const views: Partial<Record<StudyName, View>> = {};
const timings: Record<string, number> = {};
/** Exposed for the browser tests and for curious users: the last results (the CLI's --json objects). */
(globalThis as Record<string, unknown>).__ntk = { results, views, timings, get state() { return state; }, get editor() { return editor; }, setText: (s: string) => setText(s), diagnosed: (n: number) => diagnosed(n) };

/** Who waits for the editor's diagnostics (the benchmark: a promise, not a poll on this thread). */
const diagnosisWaiters: { after: number; resolve: (count: number) => void }[] = [];
/** Resolves once more than `after` analyses of the text have come back from the editor's worker. */
function diagnosed(after: number): Promise<number> {
  const count = timings.diagnoses ?? 0;
  return count > after ? Promise.resolve(count) : new Promise((resolve) => diagnosisWaiters.push({ after, resolve }));
}

function message(text: string, kind: 'info' | 'error' = 'info') {
  const box = $('#message');
  box.textContent = text;
  box.className = text ? kind : '';
}

function job(): Job {
  return { file: state.file, source: state.source, files, set: state.set, seed: state.seed };
}

/** The data files changed: the editor's worker gets them once (its requests carry only the text). */
function filesChanged() {
  void langWorker.request({ kind: 'files', files });
}

function saveUrl() {
  clearTimeout(urlTimer);
  history.replaceState(null, '', encodeState(state));
}

/** While typing, the URL follows 300 ms after the last keystroke (browsers throttle replaceState). */
let urlTimer: ReturnType<typeof setTimeout> | undefined;
function saveUrlSoon() {
  clearTimeout(urlTimer);
  urlTimer = setTimeout(saveUrl, 300);
}

async function fetchBytes(path: string): Promise<Uint8Array> {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function loadFiles(s: PageState): Promise<Record<string, Uint8Array>> {
  const entries = await Promise.all(Object.entries(s.files).map(async ([name, v]) => [name, v === 'example' ? await fetchBytes(`examples/${name}`) : fromBase64(v)] as const));
  return Object.fromEntries(entries);
}

async function exampleState(file: string): Promise<PageState> {
  return exampleStateOf(examples.find((e) => e.file === file) ?? examples.find((e) => e.file === DEFAULT_EXAMPLE)!);
}

// ---------------------------------------------------------------- the CLI command of a panel

function cliCommand(panel: StudyName): string {
  const isExample = examples.some((e) => e.file === state.file) && Object.values(state.files).every((v) => v === 'example');
  const file = isExample ? `examples/${state.file}` : state.file;
  const o = optionsOf(panel);
  const parts = ['ntk', panel, file];
  for (const f of PANELS[panel].fields) {
    const v = o[f.key];
    // The CLI's own defaults are left out, as one would type the command.
    if (v === undefined || v === f.cliDefault) continue;
    parts.push(f.label, String(v));
  }
  if (panel === 'flow') parts.push('--plot', 'flow.svg');
  for (const [k, v] of state.set) parts.push('--set', `${k}=${v}`);
  if (state.seed !== 0) parts.push('--seed', String(state.seed));
  parts.push('--json');
  return parts.join(' ');
}

const optionsOf = (panel: StudyName): StudyOptions => panelOptions(panel, state.options);

// ---------------------------------------------------------------- panels

function table(rows: [string, string][]): HTMLTableElement {
  return el('table', { class: 'summary' }, ...rows.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, v))));
}

function vec(xs: ArrayLike<number>, max = 6): string {
  const a = Array.from(xs);
  const shown = a.length <= max ? a.map((x) => num(x)) : [...a.slice(0, max - 2).map((x) => num(x)), '…', num(a[a.length - 1]!)];
  return `[${shown.join(', ')}]${a.length > max ? ` (${a.length})` : ''}`;
}

function flat(x: unknown): number[] {
  return Array.isArray(x) ? x.flatMap(flat) : [x as number];
}

function download(name: string, data: BlobPart, type: string) {
  const a = el('a', { href: URL.createObjectURL(new Blob([data], { type })), download: name });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/**
 * vega, vega-lite and KaTeX are most of the page's code: loaded after the editor and the first
 * results are up (a chunk each, fetched in parallel once the page has started).
 */
let plotting: Promise<[typeof import('vega'), typeof import('vega-lite')]> | null = null;
const loadPlotting = () => (plotting ??= Promise.all([import('vega'), import('vega-lite')]));
let katexModule: Promise<typeof import('katex')> | null = null;
/** KaTeX and its stylesheet (katex.css, fonts/): neither is on the way to the first result. */
const loadKatex = () =>
  (katexModule ??= new Promise<void>((ok) => {
    const link = el('link', { rel: 'stylesheet', href: 'katex.css' });
    link.onload = link.onerror = () => ok();
    document.head.append(link);
  }).then(() => import('katex')));

async function vegaView(container: HTMLElement, liteSpec: object): Promise<Vega.View> {
  const [vega, vl] = await loadPlotting();
  const spec = vl.compile(liteSpec as Parameters<typeof vl.compile>[0]).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'svg', container, hover: true });
  await view.runAsync();
  return view;
}

/** Viridis at five stops, interpolated: the sequential scale of a kernel of one sign. */
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

/**
 * The colour of each entry: viridis from min to max when all entries have one sign (an NTK is
 * positive semi-definite, often with entries all > 0), blue–white–red around 0 otherwise.
 */
function colourScale(K: number[]): { colour: (v: number) => string; legend: string } {
  let lo = Infinity, hi = -Infinity;
  for (const v of K) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  if (lo >= 0 || hi <= 0) {
    const span = hi - lo || 1;
    return {
      legend: `viridis from ${num(lo, 3)} (dark) to ${num(hi, 3)} (yellow)`,
      colour: (v) => {
        const x = Math.min(1, Math.max(0, (v - lo) / span)) * 4;
        const i = Math.min(3, Math.floor(x)), f = x - i;
        const c = VIRIDIS[i]!.map((a, j) => Math.round(a + f * (VIRIDIS[i + 1]![j]! - a)));
        return `rgb(${c[0]},${c[1]},${c[2]})`;
      },
    };
  }
  const max = Math.max(-lo, hi);
  return {
    legend: `blue < 0 < red, scale ±${num(max, 3)}`,
    colour: (v) => {
      const a = Math.round(255 * (1 - Math.abs(v / max)));
      return v >= 0 ? `rgb(255,${a},${a})` : `rgb(${a},${a},255)`;
    },
  };
}

/** K (k × k, row-major) as a heat map on a canvas. */
function heatMap(K: number[], k: number): HTMLCanvasElement {
  const px = Math.max(1, Math.floor(280 / k));
  const c = el('canvas', { width: String(k * px), height: String(k * px), class: 'heat' });
  const ctx = c.getContext('2d')!;
  const { colour } = colourScale(K);
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++) {
      ctx.fillStyle = colour(K[i * k + j]!);
      ctx.fillRect(j * px, i * px, px, px);
    }
  return c;
}

function heatMapSvg(K: number[], k: number): string {
  const { colour } = colourScale(K);
  let rects = '';
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) rects += `<rect x="${j}" y="${i}" width="1" height="1" fill="${colour(K[i * k + j]!)}"/>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${k} ${k}" width="${8 * k}" height="${8 * k}" shape-rendering="crispEdges">${rects}</svg>`;
}

/** Drawings still on their way (the tests wait for them before a screenshot). */
let pendingDrawings: Promise<unknown>[] = [];

async function render(panel: StudyName, r: Record<string, unknown>, v: View, out: HTMLElement, tools: HTMLElement) {
  const dl = (label: string, f: () => void) => {
    const b = el('button', { class: 'dl' }, label);
    b.onclick = f;
    tools.append(b);
  };
  // The report is the CLI's --json object as it is.
  dl('.json', () => download(`${panel}.json`, JSON.stringify(r), 'application/json'));
  switch (panel) {
    case 'check': {
      out.append(table([
        ['status', 'ok'], ...(v.summary ?? []),
        ...((r.diagnostics as { severity: string; message: string }[]).map((d) => [d.severity, d.message] as [string, string])),
      ]));
      break;
    }
    case 'kernel': {
      const shape = r.shape as number[];
      const K = flat(r.K);
      const k = shape[shape.length - 1] ?? 1;
      const first = K.slice(0, k * k);
      let maxAbs = 0, fro = 0;
      for (const x of K) (maxAbs = Math.max(maxAbs, Math.abs(x))), (fro += x * x);
      const rows: [string, string][] = [['kernel', `K^(${r.order}), ${shape.join(' × ')}`], ['computed by', String(r.structure)], ['max |K|', num(maxAbs)], ['‖K‖_F', num(Math.sqrt(fro))]];
      if (r.order === 2) rows.push(['trace', num(first.reduce((s, _, i) => s + (i % (k + 1) === 0 ? first[i]! : 0), 0))]);
      const spectrum = v.spectrum ?? null;
      if (spectrum) rows.push(['λmax, λmin', `${num(spectrum[spectrum.length - 1]!)}, ${num(spectrum[0]!)}`]);
      out.append(table(rows));
      const figs = el('div', { class: 'figs' });
      const hm = el('figure', {}, heatMap(first, k), el('figcaption', {}, `${shape.length > 2 ? `K^(${r.order})(0, …, 0, ·, ·)` : `K^(2)`}, ${k} × ${k}: ${colourScale(first).legend}`));
      figs.append(hm);
      out.append(figs);
      if (v.spectrumPlot) {
        const spec = v.spectrumPlot;
        const box = el('figure', { class: 'spectrum' });
        figs.append(box);
        // Drawn when vega has arrived; the table and the heat map do not wait for it.
        const view = vegaView(box, spec);
        dl('spectrum.svg', async () => download('spectrum.svg', await (await view).toSVG(), 'image/svg+xml'));
        pendingDrawings.push(view);
      }
      dl('.npy', () => download(`K${r.order}.npy`, encodeNpy({ shape, data: Float64Array.from(K) }) as BlobPart, 'application/octet-stream'));
      dl('heatmap.svg', () => download('heatmap.svg', heatMapSvg(first, k), 'image/svg+xml'));
      break;
    }
    case 'flow': {
      const acc = r.errorAccuracy as number | null;
      const lipE = r.lipEstimate as { radius: number; lipH: { upper: number | null; lower: number }; lipDh: { upper: number | null; lower: number } } | null;
      const show = (v: unknown, note?: unknown) => (v === null ? `n/a${note ? ` (${note})` : ''}` : num(v as number));
      const notes = r.boundNotes as { theorem12: string | null; prop11: string | null };
      out.append(table([
        ['α, T', `${num(r.alpha as number)}, ${num(r.T as number)}`], ['R0', num(r.R0 as number)],
        ['E(T)', `${num(r.error as number)}${acc === null ? '' : `  (± ${num(acc, 2)})`}`],
        ['κ', r.kappa === null ? 'unknown' : num(r.kappa as number)],
        ...(lipE ? [['Lip(h), Lip(Dh)', `${show(r.lipH)}, ${show(r.lipDh)}  (certified on B(w0, ${num(lipE.radius)}); attained ${num(lipE.lipH.lower)}, ${num(lipE.lipDh.lower)})`] as [string, string]] : []),
        ['Thm 1.2 bound', show(r.bound, notes.theorem12)], ['  sharper form', show(r.sharpBound)], ['Prop 1.1 bound', show(r.chizatBound, notes.prop11)],
        ['‖w(T) − w0‖', `${num(r.weightChange as number)}  (linearized ${num(r.linWeightChange as number)}; Prop 3.1 bound ${show(r.weightBound)})`],
        ['loss at T', `${num(r.loss as number)}  (linearized ${num(r.linLoss as number)})`],
        ['solver', `${r.method}: ${(r.stats as { steps: number }).steps} steps`],
        ...((r.warnings as string[]).map((w) => ['warning', w] as [string, string])),
      ]));
      const box = el('figure', { class: 'plot' });
      out.append(box);
      const view = await vegaView(box, v.plot!);
      dl('.svg', async () => download('flow.svg', await view.toSVG(), 'image/svg+xml'));
      const traj = r.trajectory as { t: number; error: number }[];
      dl('.npy', () => download('trajectory.npy', encodeNpy({ shape: [traj.length, 2], data: Float64Array.from(traj.flatMap((p) => [p.t, p.error])) }) as BlobPart, 'application/octet-stream'));
      break;
    }
    case 'lip': {
      type E = { lower: number; upper: number | null; converged: boolean; note: string | null };
      const e = (x: E) => `${num(x.lower)} ≤ · ≤ ${x.upper === null ? 'no certified bound' : num(x.upper)}${x.upper !== null && x.lower > 0 ? `  (ratio ${num(x.upper / x.lower, 3)})` : ''}${x.converged ? '' : '  [search did not converge]'}`;
      const t = r.time as { total: number };
      out.append(table([
        ['ball', `B(w0, ρ), ρ = ${num(r.radius as number)}`], ['Lip(h)', e(r.lipH as E)], ['Lip(Dh)', e(r.lipDh as E)], ['time', `${num(t.total / 1000, 3)} s`],
        ...(['lipH', 'lipDh'] as const).filter((q) => (r[q] as E).note).map((q) => [`note on ${q === 'lipH' ? 'Lip(h)' : 'Lip(Dh)'}`, (r[q] as E).note!] as [string, string]),
      ]));
      break;
    }
    case 'derive': {
      const tex = el('div', { class: 'tex' });
      const katex = (await loadKatex()).default;
      katex.render(r.latex as string, tex, { displayMode: true, throwOnError: false, maxSize: 50 });
      out.append(tex, el('details', {}, el('summary', {}, 'plain text'), el('pre', {}, r.text as string)));
      for (const w of (r.warnings as string[] | undefined) ?? []) out.append(el('p', { class: 'warning' }, `warning: ${w}`));
      dl('.tex', () => download(`K${r.order}.tex`, r.latex as string, 'text/x-tex'));
      break;
    }
    case 'nth': {
      const s = r.stats as { hierarchySteps: number; flowSteps: number };
      out.append(table([
        ['order p, α, T', `${r.order}, ${num(r.alpha as number)}, ${num(r.T as number)}`],
        ['α·h̃(T) (hierarchy)', vec(r.out as number[])], ['α·h(w(T)) (flow)', vec(r.trueOut as number[])], ['error ‖h̃ − h‖', num(r.error as number)],
        ['steps', `${s.hierarchySteps} (hierarchy), ${s.flowSteps} (flow)`],
      ]));
      const k = (r.out as number[]).length;
      const K2 = flat(r.K2);
      out.append(el('div', { class: 'figs' }, el('figure', {}, heatMap(K2, k), el('figcaption', {}, `K̃^(2)(T) of the truncated hierarchy, ${k} × ${k}: ${colourScale(K2).legend}`))));
      dl('.npy', () => download('K2T.npy', encodeNpy({ shape: [k, k], data: Float64Array.from(K2) }) as BlobPart, 'application/octet-stream'));
      break;
    }
    case 'limit':
      await renderLimit(r, out, dl);
      break;
  }
}

/** `ntk limit`: the kernels' growth and accuracy, the NNGP and NTK as heat maps, the recursion in LaTeX. */
async function renderLimit(r: Record<string, unknown>, out: HTMLElement, dl: (label: string, f: () => void) => void) {
  const growth = (e: number | null) => (e === null ? 'identically 0' : e === 0 ? 'finite (m^0)' : `grows like m^${e}`);
  const n = r.n as number, k = r.outputs as number, nTest = r.nTest as number | undefined;
  const methods = r.method as { pair: string; method: string; order: number; accuracy: number }[];
  out.append(table([
    ['inputs', `${n} input${n > 1 ? 's' : ''} × ${k} output${k > 1 ? 's' : ''}${nTest ? `, ${nTest} test inputs` : ''}`],
    ['width', `${(r.width as string[]).join(', ')} → ∞`],
    ['NNGP 𝒦', growth(r.nngpGrowth as number | null)],
    ['NTK Θ', (r.ntkNote as string | undefined) ?? growth(r.ntkGrowth as number | null)],
    ['accuracy', `${num(r.accuracy as number, 2)} (largest estimated absolute error of an entry)`],
    ...methods.map((m) => [`  ${m.pair}`, m.method === 'closed' ? 'closed form' : m.method === 'exact' ? 'exact' : `quadrature, order ${m.order}, accuracy ${num(m.accuracy, 2)}`] as [string, string]),
  ]));
  const figs = el('div', { class: 'figs' });
  for (const [key, label] of [['nngp', 'NNGP 𝒦'], ['ntk', 'NTK Θ']] as const) {
    const M = r[key] as number[][] | null;
    if (!M) continue;
    const N = M.length, flatM = M.flat();
    figs.append(el('figure', {}, heatMap(flatM, N), el('figcaption', {}, `${label} (train × train), ${N} × ${N}: ${colourScale(flatM).legend}`)));
    dl(`${key}.npy`, () => download(`${key}.npy`, encodeNpy({ shape: [N, N], data: Float64Array.from(flatM) }) as BlobPart, 'application/octet-stream'));
  }
  out.append(figs);
  // The recursion's lines (`lhs &= rhs`: a source or hidden vector and its covariances) as one
  // aligned block, as `ntk limit --latex` prints it.
  const katex = (await loadKatex()).default;
  const tex = el('div', { class: 'tex' });
  katex.render(`\\begin{aligned}${(r.latex as string[]).join(' \\\\ ')}\\end{aligned}`, tex, { displayMode: true, throwOnError: false, maxSize: 50 });
  out.append(el('h4', {}, 'recursion'), tex, el('details', {}, el('summary', {}, 'plain text'), el('pre', {}, (r.recursion as string[]).join('\n'))));
}

function showPanel(panel: StudyName) {
  state.panel = panel;
  for (const b of document.querySelectorAll<HTMLButtonElement>('#tabs button')) b.classList.toggle('active', b.dataset.panel === panel);
  for (const p of document.querySelectorAll<HTMLElement>('.panel')) p.hidden = p.dataset.panel !== panel;
  saveUrl();
}

function buildPanels() {
  const tabs = $('#tabs');
  const host = $('#panels');
  tabs.replaceChildren();
  host.replaceChildren();
  for (const name of PANEL_ORDER) {
    const spec = PANELS[name];
    const tab = el('button', { 'data-panel': name }, spec.title);
    tab.onclick = () => showPanel(name);
    tabs.append(tab);
    const form = el('div', { class: 'options' });
    for (const f of spec.fields) {
      const v = String(state.options[name]?.[f.key] ?? f.dflt);
      const input = f.choices
        ? el('select', { name: f.key }, ...f.choices.map((c) => { const o = el('option', { value: c }, c); if (c === v) o.selected = true; return o; }))
        : el('input', { name: f.key, value: v, size: '6', inputmode: 'decimal' });
      input.onchange = () => {
        const raw = (input as HTMLInputElement).value;
        const value = f.choices || f.text ? raw : Number(raw);
        state.options[name] = { ...state.options[name], [f.key]: value };
        updateCli(name);
        saveUrl();
      };
      form.append(el('label', {}, f.label, ' ', input));
    }
    const run = el('button', { class: 'run' }, 'Run');
    const cancel = el('button', { class: 'cancel', hidden: '' }, 'Cancel');
    const prog = el('progress', { hidden: '', max: '1', value: '0' });
    const status = el('span', { class: 'status' });
    run.onclick = () => void runPanel(name);
    cancel.onclick = () => computeWorker.cancel();
    form.append(run, cancel, prog, status);
    const panel = el('section', { class: 'panel', 'data-panel': name },
      form,
      el('div', { class: 'cli' }, el('span', {}, '$ '), el('code', {}, cliCommand(name))),
      el('div', { class: 'tools' }),
      el('div', { class: 'out' }),
    );
    host.append(panel);
  }
  showPanel(state.panel);
}

/** Whether some panel shows a result not yet marked stale. */
let unmarked = false;

/** Results of an older text stay visible, dimmed, with a note, until their panel runs again. */
function markStale() {
  // Once per result, not per keystroke: the query walks the whole page (vega's SVG included).
  if (!unmarked) return;
  unmarked = false;
  for (const p of document.querySelectorAll<HTMLElement>('.panel[data-state="drawn"]:not(.stale), .panel[data-state="failed"]:not(.stale)')) {
    p.classList.add('stale');
    p.querySelector<HTMLElement>('.status')!.textContent = 'the model changed: Run again';
  }
}

function updateCli(name: StudyName) {
  const code = document.querySelector(`.panel[data-panel="${name}"] .cli code`);
  if (code) code.textContent = cliCommand(name);
}

function formatDiagnostics(ds: Diagnostic[]): string {
  return ds.map((d) => `${d.file}${d.span ? `:${d.span.line}:${d.span.col}` : ''}: ${d.severity}: ${d.message}${d.hint ? `\n  hint: ${d.hint}` : ''}`).join('\n');
}

async function runPanel(name: StudyName): Promise<unknown> {
  const panel = document.querySelector<HTMLElement>(`.panel[data-panel="${name}"]`)!;
  const run = panel.querySelector<HTMLButtonElement>('.run')!, cancel = panel.querySelector<HTMLButtonElement>('.cancel')!;
  const prog = panel.querySelector<HTMLProgressElement>('progress')!, status = panel.querySelector<HTMLElement>('.status')!;
  const out = panel.querySelector<HTMLElement>('.out')!, tools = panel.querySelector<HTMLElement>('.tools')!;
  run.disabled = true;
  cancel.hidden = false;
  prog.hidden = false;
  prog.removeAttribute('value');
  status.textContent = 'running…';
  panel.dataset.state = 'running';
  panel.classList.remove('stale');
  updateCli(name);
  timings[`${name}Start`] ??= performance.now();
  const r = await computeWorker.request({ kind: 'run', study: name, job: job(), options: optionsOf(name) }, (p) => {
    // A phase reported only as started (0 of 1) has no measure of its own: indeterminate.
    if (p.total <= 1 && p.done === 0) prog.removeAttribute('value');
    else {
      prog.max = p.total;
      prog.value = p.done;
    }
    status.textContent = `${p.label}…`;
  });
  run.disabled = false;
  cancel.hidden = true;
  prog.hidden = true;
  out.replaceChildren();
  tools.replaceChildren();
  if (r.kind === 'report') {
    results[name] = r.report;
    views[name] = r.view;
    timings[`${name}WorkerMs`] ??= r.ms;
    timings[`${name}Received`] ??= performance.now();
    // The worker's clock: epoch milliseconds, as times since this page's navigation.
    for (const [k, t] of Object.entries(r.marks)) timings[`worker.${k}`] ??= t - performance.timeOrigin;
    status.textContent = `done in ${(r.ms / 1000).toFixed(2)} s`;
    await render(name, r.report as Record<string, unknown>, r.view, out, tools);
    panel.dataset.state = 'done';
    if (name === 'kernel' && timings.firstNtk === undefined) timings.firstNtk = performance.now();
    firstResult();
    const drawings = pendingDrawings;
    pendingDrawings = [];
    await Promise.all(drawings);
    panel.dataset.state = 'drawn';
    unmarked = true;
  } else if (r.kind === 'failure') {
    results[name] = { failure: r.message, diagnostics: r.diagnostics };
    status.textContent = r.message === 'cancelled' ? 'cancelled' : 'failed';
    out.append(el('pre', { class: 'failure' }, r.diagnostics.length ? formatDiagnostics(r.diagnostics) : `ntk: error: ${r.message}`));
    // What the run found in the model's text is underlined there too, as the CLI points at it.
    const inText = r.diagnostics.filter((d) => d.file === state.file && d.span);
    if (editor && inText.length) (await editorModule()).showDiagnostics(editor, inText);
    panel.dataset.state = 'failed';
    unmarked = true;
    firstResult();
  }
  return results[name];
}

// ---------------------------------------------------------------- editor

const lang: LanguageClient = {
  async diagnose(source) {
    const t0 = performance.now();
    const r = await langWorker.request({ kind: 'analyze', job: { file: state.file, source, set: state.set, seed: state.seed } });
    timings.lastDiagnose = performance.now() - t0;
    timings.diagnoses = (timings.diagnoses ?? 0) + 1;
    for (let i = diagnosisWaiters.length - 1; i >= 0; i--)
      if (timings.diagnoses > diagnosisWaiters[i]!.after) diagnosisWaiters.splice(i, 1)[0]!.resolve(timings.diagnoses);
    if (r.kind !== 'result') return [];
    const ds = (r.result as { diagnostics: Diagnostic[] }).diagnostics;
    (globalThis as Record<string, unknown>).__ntkDiagnostics = ds;
    (globalThis as Record<string, unknown>).__ntkDiagnosed = source === state.source ? state.file : null;
    return ds;
  },
  async hover(offset, source) {
    const r = await langWorker.request({ kind: 'hover', offset, job: { file: state.file, source, set: state.set, seed: state.seed } });
    return r.kind === 'result' ? (r.result as { text: string; start: number; end: number } | null) : null;
  },
  async complete(offset, source) {
    const r = await langWorker.request({ kind: 'complete', offset, job: { file: state.file, source, set: state.set, seed: state.seed } });
    return r.kind === 'result' ? (r.result as { from: number; items: { label: string; kind: string; detail: string }[] } | null) : null;
  },
};

/** The text of the model: the editor's, or before it is made, the state's. */
const currentText = () => (editor ? editor.state.doc.toString() : state.source);

function setText(text: string) {
  if (editor) editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: text } });
  else {
    state.source = text;
    $('#editor').replaceChildren(el('pre', { class: 'static-text' }, text));
  }
}

/** Every change of the text: the URL follows, and results of the older text are marked stale. */
function textChanged(text: string) {
  state.source = text;
  markStale();
  saveUrlSoon();
}

async function openState(s: PageState, autorun: boolean) {
  files = await loadFiles(s);
  filesChanged();
  state = s;
  ($('#example') as HTMLSelectElement).value = examples.some((e) => e.file === s.file) ? s.file : '';
  ($('#seed') as HTMLInputElement).value = String(s.seed);
  ($('#set') as HTMLInputElement).value = s.set.map(([k, v]) => `${k}=${v}`).join(' ');
  buildPanels();
  // The study first (the worker index.html started may have it already), the text at once as
  // plain text, and CodeMirror once the first result is shown (or after a few seconds), so that
  // making the editor never delays it.
  const run = autorun ? runPanel(s.panel) : null;
  setText(s.source);
  saveUrl();
  if (!editor) {
    await firstResultOrLater;
    const { createEditor } = await editorModule();
    $('#editor').replaceChildren();
    editor = createEditor($('#editor'), state.source, lang, textChanged, () => void runPanel(state.panel));
    timings.editor = performance.now();
  }
  await run;
}

async function addFiles(list: FileList) {
  const notes: string[] = [];
  for (const f of Array.from(list)) {
    if (!/\.(npy|csv|json|ntk)$/i.test(f.name)) {
      notes.push(`${f.name}: not a .ntk, .npy, .csv or .json file`);
      continue;
    }
    const bytes = new Uint8Array(await f.arrayBuffer());
    if (f.name.endsWith('.ntk')) {
      state.file = f.name.replace(/[^\w.-]/g, '_');
      setText(new TextDecoder().decode(bytes));
      continue;
    }
    files = { ...files, [f.name]: bytes };
    filesChanged();
    state.files[f.name] = bytes.length <= INLINE_LIMIT ? inlineFile(bytes) : 'too-large';
    if (bytes.length > INLINE_LIMIT) notes.push(`${f.name} (${(bytes.length / 1024).toFixed(0)} kB) is too large for a link: who opens it must drop the file too`);
    else notes.push(`${f.name} added (in the link)`);
  }
  message(notes.join('; '));
  // The model's file name (and whether it is an example's) is in every panel's command.
  for (const p of PANEL_ORDER) updateCli(p);
  saveUrl();
  // Diagnostics again, now that the data is there.
  setText(currentText());
}

async function start() {
  timings.start = performance.now();
  examples = __NTK_EXAMPLES__;
  const select = $('#example') as HTMLSelectElement;
  select.append(el('option', { value: '' }, '(your model)'), ...examples.map((e) => el('option', { value: e.file, title: e.title }, e.file)));
  select.onchange = () => select.value && void exampleState(select.value).then((s) => openState(s, false));
  ($('#seed') as HTMLInputElement).onchange = (ev) => {
    const v = Number((ev.target as HTMLInputElement).value);
    if (Number.isInteger(v) && v >= 0) state.seed = v;
    else message(`--seed ${(ev.target as HTMLInputElement).value}: expected an integer ≥ 0`, 'error');
    for (const p of PANEL_ORDER) updateCli(p);
    saveUrl();
  };
  ($('#set') as HTMLInputElement).onchange = (ev) => {
    const items = (ev.target as HTMLInputElement).value.split(/[\s,]+/).filter(Boolean);
    const set: [string, number][] = [];
    for (const item of items) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.+)$/.exec(item);
      if (!m || !Number.isFinite(Number(m[2]))) return message(`--set ${item}: expected NAME=VALUE, e.g. m=256`, 'error');
      set.push([m[1]!, Number(m[2])]);
    }
    state.set = set;
    message('');
    for (const p of PANEL_ORDER) updateCli(p);
    saveUrl();
    setText(currentText());
  };
  ($('#share') as HTMLButtonElement).onclick = async () => {
    saveUrl();
    try {
      await navigator.clipboard.writeText(location.href);
      message('link copied: it reproduces this model, its data, options and seed');
    } catch {
      message('the address bar holds the link to share');
    }
  };
  ($('#files') as HTMLInputElement).onchange = (ev) => void addFiles((ev.target as HTMLInputElement).files!);
  document.body.ondragover = (ev) => ev.preventDefault();
  document.body.ondrop = (ev) => {
    ev.preventDefault();
    if (ev.dataTransfer?.files.length) void addFiles(ev.dataTransfer.files);
  };
  let s: PageState | null = null;
  try {
    s = decodeState(location.hash);
    if (s && Object.values(s.files).includes('too-large')) message('this link names a data file too large for links: drop it on the page', 'error');
  } catch (e) {
    message(`${(e as Error).message}: opened the default example instead`, 'error');
  }
  if (s) {
    try {
      await openState(s, true);
      return;
    } catch (e) {
      message(`the link's data could not be loaded (${(e as Error).message}): opened the default example instead`, 'error');
    }
  }
  await openState(await exampleState(DEFAULT_EXAMPLE), true);
}

window.addEventListener('error', (ev) => message(`unexpected error: ${ev.message}`, 'error'));
window.addEventListener('unhandledrejection', (ev) => message(`unexpected error: ${(ev.reason as Error)?.message ?? ev.reason}`, 'error'));
/** What every visit loads after the first result, all loaded (the benchmark counts it in a visit's weight). */
(globalThis as unknown as { __ntk: Record<string, unknown> }).__ntk.loaded = start().then(() => {
  document.body.setAttribute('data-ready', 'true');
  return Promise.all([loadPlotting(), loadKatex()]).then(() => true);
});

/**
 * The playground's worker: the library (src/index.ts, WASM backend) off the page's thread. The
 * page runs two: one for studies (cancelled by terminating it), started by index.html before the
 * page's own script has even loaded, and one for the editor (analysis, hover, completion: always
 * quick to answer), started once the first result is up. Every failure comes back as a message
 * with the CLI's diagnostics, never as an uncaught exception.
 *
 * The first study starts at once: index.html posts the page's URL hash ('boot'), and this worker
 * decodes the state from it as the page will (or takes the default example), fetches the data
 * files and runs the open panel's study. When the page asks for that same study (the same text,
 * data bytes, options and seed), it gets this result instead of a second run.
 */
import { NtkError, MemoryError, FlowError, KernelUsageError, LipUsageError, OptionError } from '../../src/index.ts';
import { analyze, completions, definition, hover, type Analysis } from '../../src/lang/service.ts';
import { vfs } from '../shims/fs.ts';
import { WASM_PATH } from '../shims/process.ts';
import type { Job, Request, Response, StudyName, StudyOptions, TextJob } from './protocol.ts';
import { MAX_MODEL_BYTES, runStudy, UsageError } from './studies.ts';
import { decodeState, fromBase64, type PageState } from './state.ts';
import { DEFAULT_EXAMPLE, exampleStateOf, panelOptions } from './panels.ts';

/** A response before the request's id is put on it. */
type Body = Response extends infer R ? (R extends Response ? Omit<R, 'id'> : never) : never;

const post = (r: Response) => (self as unknown as Worker).postMessage(r);
/** Milliseconds since the page's navigation started would need its clock: epoch ms instead. */
const now = () => performance.timeOrigin + performance.now();
const marks: Record<string, number> = { workerStart: now() };

/**
 * Files index.html fetches for this worker while its script loads (the worker it starts is named
 * 'boot'; its 'boot' message lists them): path (relative to the page) → the bytes when they come,
 * or null when the page could not fetch them (then this worker fetches them itself).
 */
const handed = new Map<string, { bytes: Promise<ArrayBuffer | null>; arrive: (b: ArrayBuffer | null) => void }>();

function expectFiles(paths: string[]): void {
  for (const path of paths) {
    let arrive!: (b: ArrayBuffer | null) => void;
    const bytes = new Promise<ArrayBuffer | null>((ok) => (arrive = ok));
    handed.set(path, { bytes, arrive });
  }
}

/** A file of the page's folder (path relative to it): handed over by index.html, or fetched. */
async function pageFile(path: string): Promise<Uint8Array> {
  const h = handed.get(path);
  const given = h && (await h.bytes);
  if (given) return new Uint8Array(given);
  const r = await fetch(new URL(path, self.location.href)); // next to this worker's script
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

/** The WASM kernels, placed where the library looks (NTK_WASM): awaited before every study. */
let wasm: Promise<void> | null = null;
const ready = () =>
  (wasm ??= pageFile('kernels.wasm').then((b) => {
    vfs.set(WASM_PATH, b);
    marks.wasmFetched = now();
  }));
// A worker the page starts itself fetches them at once; index.html's gets them handed over.
if (self.name !== 'boot') void ready().catch(() => undefined);

/** Puts a job's model and data files in the in-memory file system (under /, next to the model). */
function mount(job: Job): void {
  for (const key of [...vfs.keys()]) if (key !== WASM_PATH) vfs.delete(key);
  vfs.set(`/${job.file}`, new TextEncoder().encode(job.source));
  for (const [name, bytes] of Object.entries(job.files)) vfs.set(`/${name}`, bytes);
}

/** FNV-1a of some bytes: files are told apart by content, not only by length. */
function digest(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return `${bytes.length}:${(h >>> 0).toString(16)}`;
}

const jobKey = (job: Job) => JSON.stringify([job.file, job.source, job.set, job.seed, Object.entries(job.files).map(([k, v]) => [k, digest(v)])]);

let last: Analysis | null = null;
let lastKey = '';
/** The editor's data files (its requests carry only the text, the overrides and the seed). */
let textFiles: Record<string, Uint8Array> = {};

/** The analysis of a text with the data files, overrides and seed (the last one again when nothing changed). */
function analysisOf(text: TextJob): Analysis {
  const job: Job = { ...text, files: textFiles };
  const key = jobKey(job);
  if (last && key === lastKey) return last;
  mount(job);
  last = analyze(job.source, `/${job.file}`, { overrides: new Map(job.set), seed: job.seed, maxBytes: MAX_MODEL_BYTES });
  lastKey = key;
  return last;
}

const relative = <D extends { file: string }>(d: D): D => ({ ...d, file: d.file.replace(/^\//, '') });

/** A study's report, or its failure as the CLI would report it (diagnostics, or a usage message). */
async function study(name: StudyName, job: Job, options: StudyOptions, progress: (label: string, done: number, total: number) => void): Promise<Body> {
  const t0 = performance.now();
  try {
    await ready();
    mount(job);
    const { report, view } = await runStudy(name, job, options, progress);
    return { kind: 'report', report, view, ms: performance.now() - t0, marks: { ...marks, studyStart: performance.timeOrigin + t0, studyEnd: now() } };
  } catch (e) {
    return failure(e);
  }
}

function failure(e: unknown): Body {
  if (e instanceof NtkError) return { kind: 'failure', message: e.message, diagnostics: e.diagnostics.map(relative) };
  const known = e instanceof UsageError || e instanceof OptionError || e instanceof MemoryError || e instanceof FlowError || e instanceof KernelUsageError || e instanceof LipUsageError;
  const message = known ? (e as Error).message : `internal error: ${(e as Error)?.message ?? String(e)}`;
  return { kind: 'failure', message, diagnostics: [] };
}

/**
 * The first study, started on 'boot': its key (study, options, text, data, seed) and its result,
 * both known later (the data files are fetched first); `listener` is the page's request waiting
 * for it, which gets its progress.
 */
let early: { key: Promise<string | null>; body: Promise<Body | null>; listener: number | null } | null = null;

/** The page's state in its URL hash, as main.ts decodes it (the default example otherwise). */
async function bootJob(hash: string): Promise<{ study: StudyName; job: Job; options: StudyOptions }> {
  let s: PageState | null = null;
  try {
    s = decodeState(hash);
  } catch {
    s = null; // the page says why, and opens the default example
  }
  if (!s || Object.values(s.files).includes('too-large')) s = exampleStateOf(__NTK_EXAMPLES__.find((e) => e.file === DEFAULT_EXAMPLE)!);
  const state = s;
  const entries = await Promise.all(
    Object.entries(state.files).map(async ([name, v]) => {
      if (v !== 'example') return [name, fromBase64(v)] as const;
      return [name, await pageFile(`examples/${name}`)] as const;
    }),
  );
  const job: Job = { file: state.file, source: state.source, files: Object.fromEntries(entries), set: state.set, seed: state.seed };
  return { study: state.panel, job, options: panelOptions(state.panel, state.options) };
}

function boot(hash: string): void {
  // Nothing is lost when this fails: the page asks for the study and gets it computed (or its error).
  const job = bootJob(hash).catch(() => null);
  const entry: NonNullable<typeof early> = {
    key: job.then((j) => j && JSON.stringify([j.study, j.options, jobKey(j.job)])),
    body: job.then((j) =>
      j &&
      study(j.study, j.job, j.options, (label, done, total) => {
        if (entry.listener !== null) post({ id: entry.listener, kind: 'progress', label, done, total });
      }),
    ),
    listener: null,
  };
  early = entry;
}

/** What index.html posts to the worker it starts: the URL's hash, the files it fetches for it, then each of them. */
type BootMessage = { kind: 'boot'; hash: string; files?: string[] } | { kind: 'file'; path: string; bytes: ArrayBuffer | null };

async function handle(req: Request | BootMessage): Promise<void> {
  switch (req.kind) {
    case 'boot':
      expectFiles(req.files ?? []);
      return boot(req.hash);
    case 'file':
      return handed.get(req.path)?.arrive(req.bytes);
    case 'warm-up':
      // The editor's worker, while the page sets itself up: the parser is built on first use
      // (~25 ms and more on a slow machine).
      analyze('dim n = 1\nparam w = 0\nmodel h = w^2', '/warm-up.ntk');
      return post({ id: req.id, kind: 'result', result: null, ms: 0 });
    case 'files':
      textFiles = req.files;
      lastKey = '';
      return post({ id: req.id, kind: 'result', result: null, ms: 0 });
    case 'analyze': {
      const t0 = performance.now();
      last = analysisOf(req.job);
      const diagnostics = last.diagnostics.map(relative);
      return post({ id: req.id, kind: 'result', result: { diagnostics }, ms: performance.now() - t0 });
    }
    case 'hover':
      return post({ id: req.id, kind: 'result', result: hover(analysisOf(req.job), req.offset), ms: 0 });
    case 'definition':
      return post({ id: req.id, kind: 'result', result: definition(analysisOf(req.job), req.offset), ms: 0 });
    case 'complete':
      return post({ id: req.id, kind: 'result', result: completions(analysisOf(req.job), req.offset), ms: 0 });
    case 'run': {
      const key = JSON.stringify([req.study, req.options, jobKey(req.job)]);
      const e = early;
      early = null;
      if (e && (await e.key) === key) {
        // The study the boot started: its result, once (a second Run computes afresh).
        e.listener = req.id;
        const body = await e.body;
        if (body) return post({ ...body, id: req.id } as Response);
      }
      let lastPost = 0;
      const body = await study(req.study, req.job, req.options, (label, done, total) => {
        const t = performance.now();
        if (t - lastPost < 50 && done > 0 && done < total) return;
        lastPost = t;
        post({ id: req.id, kind: 'progress', label, done, total });
      });
      return post({ ...body, id: req.id } as Response);
    }
  }
}

self.onmessage = (ev: MessageEvent<Request | BootMessage>) => {
  const req = ev.data;
  handle(req).catch((e: unknown) => {
    if ('id' in req) post({ ...failure(e), id: req.id } as Response);
  });
};

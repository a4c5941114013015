/**
 * The playground's worker: the library (src/index.ts, WASM backend) off the page's thread. The
 * page starts two: one for the editor (analysis, hover, completion: always quick to answer) and
 * one for studies (cancelled by terminating it). Every failure comes back as a message with the
 * CLI's diagnostics, never as an uncaught exception.
 */
import { NtkError, MemoryError, FlowError, KernelUsageError, LipUsageError } from '../../src/index.ts';
import { analyze, completions, definition, hover, type Analysis } from '../../src/lang/service.ts';
import { vfs } from '../shims/fs.ts';
import { WASM_PATH } from '../shims/process.ts';
import type { Job, Request, Response } from './protocol.ts';
import { MAX_MODEL_BYTES, runStudy, UsageError } from './studies.ts';

const post = (r: Response) => (self as unknown as Worker).postMessage(r);

/** The WASM kernels, fetched once next to this script and placed where the library looks (NTK_WASM). */
const ready = fetch(new URL('./kernels.wasm', import.meta.url))
  .then((r) => {
    if (!r.ok) throw new Error(`kernels.wasm: HTTP ${r.status}`);
    return r.arrayBuffer();
  })
  .then((b) => void vfs.set(WASM_PATH, new Uint8Array(b)));

/** Puts a job's model and data files in the in-memory file system (under /, next to the model). */
function mount(job: Job): void {
  for (const key of [...vfs.keys()]) if (key !== WASM_PATH) vfs.delete(key);
  vfs.set(`/${job.file}`, new TextEncoder().encode(job.source));
  for (const [name, bytes] of Object.entries(job.files)) vfs.set(`/${name}`, bytes);
}

let last: Analysis | null = null;
let lastKey = '';

/** The analysis of a job's text, options and data (the last one again when nothing changed). */
function analysisOf(job: Job): Analysis {
  const key = JSON.stringify([job.file, job.source, job.set, job.seed, Object.entries(job.files).map(([k, v]) => [k, v.length])]);
  if (last && key === lastKey) return last;
  mount(job);
  last = analyze(job.source, `/${job.file}`, { overrides: new Map(job.set), seed: job.seed, maxBytes: MAX_MODEL_BYTES });
  lastKey = key;
  return last;
}

// Warm-up while the page sets itself up: the parser is built on first use (~25 ms and more on a
// slow machine), and so are the first compiled plans.
setTimeout(() => void analyze('dim n = 1\nparam w = 0\nmodel h = w^2', '/warm-up.ntk'), 0);

async function handle(req: Request): Promise<void> {
  const t0 = performance.now();
  switch (req.kind) {
    case 'analyze': {
      last = analysisOf(req.job);
      const diagnostics = last.diagnostics.map((d) => ({ ...d, file: d.file.replace(/^\//, '') }));
      return post({ id: req.id, kind: 'result', result: { diagnostics }, ms: performance.now() - t0 });
    }
    case 'hover':
      return post({ id: req.id, kind: 'result', result: hover(analysisOf(req.job), req.offset), ms: 0 });
    case 'definition':
      return post({ id: req.id, kind: 'result', result: definition(analysisOf(req.job), req.offset), ms: 0 });
    case 'complete':
      return post({ id: req.id, kind: 'result', result: completions(analysisOf(req.job), req.offset), ms: 0 });
    case 'run': {
      await ready;
      mount(req.job);
      let lastPost = 0;
      const result = runStudy(req.study, req.job, req.options, (label, done, total) => {
        const now = performance.now();
        if (now - lastPost < 50 && done < total) return;
        lastPost = now;
        post({ id: req.id, kind: 'progress', label, done, total });
      });
      return post({ id: req.id, kind: 'result', result, ms: performance.now() - t0 });
    }
  }
}

self.onmessage = (ev: MessageEvent<Request>) => {
  const req = ev.data;
  handle(req).catch((e: unknown) => {
    if (e instanceof NtkError) {
      const diagnostics = e.diagnostics.map((d) => ({ ...d, file: d.file.replace(/^\//, '') }));
      return post({ id: req.id, kind: 'failure', message: e.message, diagnostics });
    }
    const known = e instanceof UsageError || e instanceof MemoryError || e instanceof FlowError || e instanceof KernelUsageError || e instanceof LipUsageError;
    const message = known ? (e as Error).message : `internal error: ${(e as Error)?.message ?? String(e)}`;
    post({ id: req.id, kind: 'failure', message, diagnostics: [] });
  });
};

/**
 * The fuzzer (issue 21, item 10): mutated models and options, in process and through the CLI,
 * with a fixed seed and a budget of inputs and seconds. Every input ends in one of
 *
 *   diagnostic  a located message (file:line:col, or an option's name) — the expected outcome;
 *   unlocated   a diagnostic with no place, about the file rather than an option;
 *   accepted    the model (and the command) ran;
 *   internal    an exception that is not a diagnostic (exit 3 through the CLI) — a bug;
 *   hang        longer than the hang limit (10 s);
 *   crash       the process died (a signal, a V8 out-of-memory) — through the CLI only.
 *
 * Inputs that end as internal, hang or crash are written to test/fuzz/corpus/ (by content hash),
 * where test/fuzz/fuzz.test.ts keeps them as regression tests.
 *
 * `npm run fuzz -- --inputs 100000 --seconds 3600 --cli 2000` (see the README); the test suite
 * runs a short budget in process.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { compile } from '../src/ir/load.ts';
import { NtkError } from '../src/parser/diagnostics.ts';
import { Evaluator } from '../src/evaluator/evaluator.ts';
import { setMemoryBudget } from '../src/runtime/memory.ts';

export type Outcome = 'diagnostic' | 'unlocated' | 'accepted' | 'internal' | 'hang' | 'crash';

/** A small deterministic generator (xorshift32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

/** Seed models: the examples, and a few that exercise the language's corners. */
export function seedModels(root: string): string[] {
  const ex = join(root, 'examples');
  const files = readdirSync(ex).filter((f) => f.endsWith('.ntk')).map((f) => readFileSync(join(ex, f), 'utf8'));
  return [
    ...files,
    'param w = 0\nmodel h = exp(exp(6 * w))\nloss square(target = 2.7)',
    'dim m = 4\nparam a : [m] ~ normal(0, 1)\ndata x : [m, 2] = uniform(-1, 1, seed = 3)\nmodel h = tanh(x[:, 0] * a) @ a',
    'param w : [3] = [0.1, 0.2, 0.3]\ndef f(x) {\n  let y = x\n  for i in 0..3 { y = sin(y) + 0.5 * y }\n  return y\n}\nmodel h = sum(f(w)^2)\nloss square(target = 1)',
    'const c = sqrt(2) / 2\nparam u : [2, 2] = [[1, 0], [0, 1]]\nmodel h = transpose(u) @ [c, -c]',
  ];
}

const FRAGMENTS = [
  '(', ')', '[', ']', '{', '}', ',', ':', '=', '+', '-', '*', '/', '^', '@', '..', '~', '#', '"', '\n', ' ', ';',
  '0', '1', '-1', '0.5', '1e9', '1e300', '1e20', '1e-300', '1/0', '0/0', '4294967296', '9007199254740993',
  'w', 'x', 'h', 'm', 'n', 'T', 'dim', 'const', 'param', 'data', 'model', 'loss', 'test', 'def', 'let', 'for', 'in', 'return',
  'sum', 'mean', 'exp', 'log', 'tanh', 'relu', 'sqrt', 'normal(0, 1)', 'uniform(-1, 1)', 'load("x.npy")', 'seed = 1e20',
  'square(target = 1)', 'reshape', 'transpose', 'dot', 'outer', '\u0000', '\u0007', '\u00ff', '\ufffd', 'é',
];

/** One mutation of `src`: characters, tokens, lines, or a stress pattern (deep nesting, huge sizes, long names). */
export function mutate(src: string, r: () => number): string {
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const at = () => Math.floor(r() * (src.length + 1));
  const lines = src.split('\n');
  switch (Math.floor(r() * 12)) {
    case 0: { const i = at(); return src.slice(0, i) + pick(FRAGMENTS) + src.slice(i); }
    case 1: { const i = at(); return src.slice(0, i) + src.slice(i + 1 + Math.floor(r() * 8)); }
    case 2: { const i = at(); return src.slice(0, i) + pick(FRAGMENTS) + src.slice(i + 1); }
    case 3: { const i = Math.floor(r() * lines.length); lines.splice(i, 0, lines[Math.floor(r() * lines.length)]!); return lines.join('\n'); }
    case 4: { lines.splice(Math.floor(r() * lines.length), 1); return lines.join('\n'); }
    case 5: return src.replace(/\d+(\.\d+)?(e[+-]?\d+)?/, () => pick(['0', '-3', '0.5', '1e9', '1e300', '1e20', 'inf', '1/0', '2^40', '100000']));
    case 6: { const n = pick([10, 70, 300, 5000]); const i = at(); return src.slice(0, i) + '('.repeat(n) + 'w' + ')'.repeat(n) + src.slice(i); }
    case 7: { const n = pick([100, 5000]); return src.replace(/model (\w+) = /, (m) => m + 'w + '.repeat(n)); }
    case 8: { const n = pick([64, 3000]); return src.replace(/model (\w+) = /, (m) => m + '-'.repeat(n)); }
    case 9: { const name = 'a'.repeat(pick([65, 2000, 10000])); return src.replace(/\bw\b/, name); }
    case 10: { const i = at(); const j = at(); return src.slice(0, Math.min(i, j)) + src.slice(Math.max(i, j)) + src.slice(Math.min(i, j), Math.max(i, j)); }
    default: { const i = at(); return src.slice(0, i) + String.fromCharCode(Math.floor(r() * 256)) + src.slice(i); }
  }
}

/** A model from the seeds with 1–4 mutations. */
export function input(seeds: string[], r: () => number): string {
  let s = seeds[Math.floor(r() * seeds.length)]!;
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) s = mutate(s, r);
  return s;
}

/**
 * In process: compile, and evaluate h(w0) and the Jacobian when the model is small. `ms` is the
 * CPU time (user + system) of the input, which is what a hang is measured in: on a machine shared
 * by other jobs the wall time of a 1-second input can exceed 10 s.
 */
export function runInProcess(src: string, hangMs = 10_000): { outcome: Outcome; ms: number; wallMs: number; message: string } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let outcome: Outcome, message = '';
  try {
    const m = compile(src, 'fuzz.ntk', { baseDir: '/nonexistent' });
    const ev = new Evaluator(m);
    if (m.paramCount * ev.k <= 1e5) {
      ev.output(m.w0);
      ev.jacobian(m.w0);
    }
    outcome = 'accepted';
  } catch (e) {
    if (e instanceof NtkError) {
      const d = e.diagnostics[0];
      outcome = d && (d.span || d.file.startsWith('--')) ? 'diagnostic' : 'unlocated';
      message = d?.message ?? '';
    } else {
      outcome = (e as Error)?.name === 'MemoryError' ? 'diagnostic' : 'internal';
      message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
  }
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const ms = (c.user + c.system) / 1000;
  if (ms > hangMs) outcome = 'hang';
  return { outcome, ms, wallMs, message };
}

const OPTIONS = [
  ['check'], ['eval'], ['eval', '--alpha', '1e300'], ['jacobian'], ['kernel', '--order', '3'], ['kernel', '--order', '99'],
  ['kernel', '--slice', '0,0'], ['lip', '--radius', '0.1', '--budget', '1', '--starts', '2'], ['lip', '--radius', 'nan'],
  ['lip', '--radius', '1e300'], ['check', '--set', 'm=0'], ['check', '--set', 'm=1e9'], ['check', '--seed', '1e20'],
  ['check', '--max-memory', '1k'], ['eval', '--set', 'w=1'], ['print'], ['derive', '--order', '3'], ['check', '--set', 'm=2.5'],
  ['flow', '--T', 'nan'], ['flow', '--T', '1', '--alpha', '1e300'], ['flow', '--T', '1e-3', '--plot', '/nonexistent/x.svg'],
];

/**
 * How much longer than its CPU time a process takes on this machine now: the load average per
 * core, at least 1. Only the CLI's wall-clock backstop uses it (see `runCli`).
 */
export function loadFactor(): number {
  return Math.max(1, loadavg()[0]! / Math.max(1, cpus().length));
}

/**
 * Through the CLI (the bundle dist/ntk.cjs): the exit code, or a signal, or the time limit. A hang
 * is more than `cpuMs` of CPU time, as in process: the child runs under `ulimit -t` (RLIMIT_CPU,
 * all its threads; the hard limit 5 s later), and the kernel stops it with SIGXCPU past the
 * limit. Wall time is no measure:
 * the fuzzer runs niced on a shared machine, where a child's 2 s of CPU (`derive --order 3`
 * loading mathjs) took over 50 s of wall time at a load of 13 (the earlier limit, 10 s scaled by
 * the load average, ignored the niceness, and called it a hang). A wall-clock backstop of 60×
 * the CPU limit, scaled by the load, still catches a child that waits without computing.
 */
export function runCli(root: string, file: string, args: string[], cpuMs = 10_000): { outcome: Outcome; ms: number; message: string } {
  const t0 = performance.now();
  const cpuS = Math.max(1, Math.ceil(cpuMs / 1000));
  const r = spawnSync('/bin/sh', ['-c', `ulimit -S -t ${cpuS} && ulimit -H -t ${cpuS + 5} && exec "$@"`, 'sh', process.execPath, join(root, 'dist/ntk.cjs'), args[0]!, file, ...args.slice(1), '--max-memory', '256M'], {
    encoding: 'utf8', timeout: Math.ceil(60 * cpuMs * loadFactor()), env: { ...process.env, NTK_SNAPSHOT: 'off' },
  });
  const ms = performance.now() - t0;
  const first = (r.stderr ?? '').split('\n')[0] ?? '';
  let outcome: Outcome;
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') outcome = 'hang';
  else if (r.signal === 'SIGXCPU') outcome = 'hang';
  else if (r.signal || r.status === null || r.status > 3) outcome = 'crash';
  else if (r.status === 3 || /internal error|    at /.test(r.stderr ?? '')) outcome = 'internal';
  else if (r.status === 0) outcome = 'accepted';
  else outcome = /^[^:]+(:\d+:\d+)?: error:|^ntk: error: /.test(first) ? 'diagnostic' : 'unlocated';
  return { outcome, ms, message: outcome === 'hang' ? `over ${cpuS} s of CPU (${r.signal ?? 'wall-clock backstop'})` : first.slice(0, 200) };
}

export interface FuzzReport {
  inputs: number;
  counts: Record<Outcome, number>;
  cli: { inputs: number; counts: Record<Outcome, number> };
  /** The most CPU time, and the most wall time, of one input in process. */
  slowestMs: number;
  slowestWallMs: number;
  found: { outcome: Outcome; message: string; file: string }[];
}

const zero = (): Record<Outcome, number> => ({ diagnostic: 0, unlocated: 0, accepted: 0, internal: 0, hang: 0, crash: 0 });

/** Keep a failing input in the corpus, named by its content's hash. */
function keep(root: string, src: string, outcome: Outcome, message: string): string {
  const dir = join(root, 'test/fuzz/corpus');
  mkdirSync(dir, { recursive: true });
  const name = `${outcome}-${createHash('sha256').update(src).digest('hex').slice(0, 12)}.ntk`;
  writeFileSync(join(dir, name), src);
  writeFileSync(join(dir, name.replace(/\.ntk$/, '.txt')), `${outcome}: ${message}\n`);
  return name;
}

/**
 * Run the fuzzer: `inputs` in process and `cliInputs` through the CLI, within `seconds`.
 * @example fuzz({ root: '.', seed: 1, inputs: 200, cliInputs: 0, seconds: 30 }).counts.internal // 0
 */
export function fuzz(o: {
  root: string; seed: number; inputs: number; cliInputs: number; seconds: number; keep?: boolean;
  /** Told the inputs done so far in process (every 1000) and through the CLI (every 50), with the counts so far. */
  onProgress?: (n: number, counts: Record<Outcome, number>, cli: { inputs: number; counts: Record<Outcome, number> }) => void;
}): FuzzReport {
  setMemoryBudget(256 * 1024 ** 2); // large sizes are refused quickly instead of allocated
  const r = rng(o.seed);
  const seeds = seedModels(o.root);
  const counts = zero(), cliCounts = zero();
  const found: FuzzReport['found'] = [];
  const deadline = Date.now() + o.seconds * 1000;
  let n = 0, slowest = 0, slowestWall = 0;
  try {
    for (; n < o.inputs && Date.now() < deadline; n++) {
      const src = input(seeds, r);
      const res = runInProcess(src);
      counts[res.outcome]++;
      slowest = Math.max(slowest, res.ms);
      slowestWall = Math.max(slowestWall, res.wallMs);
      if (res.outcome === 'internal' || res.outcome === 'hang')
        found.push({ outcome: res.outcome, message: res.message, file: o.keep === false ? '' : keep(o.root, src, res.outcome, res.message) });
      if (n % 1000 === 0) o.onProgress?.(n, counts, { inputs: 0, counts: cliCounts });
    }
  } finally {
    setMemoryBudget(null);
  }
  let c = 0;
  if (o.cliInputs > 0) {
    const dir = join(o.root, 'dist/fuzz-tmp');
    mkdirSync(dir, { recursive: true });
    const small = seeds.filter((s) => s.length < 600);
    for (; c < o.cliInputs && Date.now() < deadline; c++) {
      const src = r() < 0.5 ? input(small, r) : small[Math.floor(r() * small.length)]!;
      const args = OPTIONS[Math.floor(r() * OPTIONS.length)]!;
      const file = join(dir, 'fuzz.ntk');
      writeFileSync(file, src);
      const res = runCli(o.root, file, args);
      cliCounts[res.outcome]++;
      if (res.outcome === 'internal' || res.outcome === 'hang' || res.outcome === 'crash')
        found.push({ outcome: res.outcome, message: `ntk ${args.join(' ')}: ${res.message}`, file: o.keep === false ? '' : keep(o.root, `# ntk ${args.join(' ')}\n${src}`, res.outcome, res.message) });
      if ((c + 1) % 50 === 0) o.onProgress?.(n, counts, { inputs: c + 1, counts: cliCounts });
    }
  }
  return { inputs: n, counts, cli: { inputs: c, counts: cliCounts }, slowestMs: slowest, slowestWallMs: slowestWall, found };
}

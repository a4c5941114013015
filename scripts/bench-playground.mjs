// The browser playground's budgets (issue 18), measured in Debian's chromium (headless, driven by
// playwright-core) on the page that `npm run playground` builds:
//
//   - page weight: what a first visit downloads, gzip, wasm included (budget 1.5 MB);
//   - first NTK: from navigation start to the kernel panel of examples/meanfield.ntk showing its
//     numbers and heat map, in a fresh browser context each run (cold cache; budget 1 s);
//   - typing, with diagnostics on, from a performance trace of the renderer's main thread: per
//     update (a keystroke; a reply of the editor's worker: the completion list, the diagnostics),
//     the thread's time from the task that starts it to the end of the frame that shows it
//     (CodeMirror's update, layout, paint and commit; wall and CPU; budget 16 ms each, one
//     frame); the longest task; the sum of everything from one keydown to the next (a key before
//     a pause holds four updates); and the key presses whose input-to-paint time (Event Timing,
//     which waits for the frame clock) reached 16 ms.
//
// With --trace, the load's performance timeline is also summarized per thread (script parse and
// compile, evaluation, wasm, layout…) up to the first NTK, and written to
// test-output/playground/load-trace.json (open it in chrome://tracing or the Performance panel).
//
//   npm run bench:playground                       5 loads, 150 keystrokes
//   npm run bench:playground -- --runs 9 --trace   more loads, and the timeline of the first
//   npm run bench:playground -- --no-build         reuse playground/dist as built
//   npm run bench:playground -- --poll             wait for each pause's diagnostics by polling
//                                                  the page (the protocol of the first figures)
//   npm run bench:playground -- --no-build --dist DIR --json FILE
//                                                  measure a build elsewhere (scripts/playground.mjs
//                                                  --out DIR), and write every figure to FILE (to
//                                                  interleave two builds on a loaded machine)
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const RUNS = opt('--runs', 5);
const KEYS = opt('--keys', 150);
const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  console.error(`bench:playground: ${CHROMIUM} is missing (apt-get install chromium)`);
  process.exit(2);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] : NaN;
};
const ms = (x) => (Number.isFinite(x) ? `${x.toFixed(x < 10 ? 1 : 0)} ms` : 'n/a');

// The page, built (unless --no-build) and served on a free port by scripts/playground.mjs.
const port = 20000 + Math.floor(Math.random() * 20000);
const distAt = args.indexOf('--dist');
const dist = distAt >= 0 ? resolve(args[distAt + 1]) : resolve(root, 'playground/dist');
const server = spawn(process.execPath, [resolve(root, 'scripts/playground.mjs'), '--serve', '--port', String(port), '--out', dist, ...(args.includes('--no-build') ? ['--no-build'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((ok, fail) => {
  let log = '';
  server.stdout.on('data', (d) => {
    log += String(d);
    if (log.includes('serving')) ok();
  });
  server.on('exit', (code) => fail(new Error(`the playground build failed (exit ${code})`)));
});
const base = `http://127.0.0.1:${port}/`;
const weight = JSON.parse(readFileSync(resolve(dist, 'weight.json'), 'utf8'));

const { chromium } = await import('playwright-core');
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

const TRACE_CATEGORIES = ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8', 'v8.execute', 'blink.user_timing', 'loading', 'toplevel'];

/** Top-level tasks per thread of a trace: [{ thread, ts, dur, name }] (µs). */
function tasks(trace) {
  const events = JSON.parse(trace).traceEvents ?? [];
  const names = new Map();
  for (const e of events) if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args.name);
  return { events, names };
}

/** The time on each thread (main, workers) up to `until` (µs, trace clock), by kind of work. */
function loadProfile(trace, pid, until) {
  const { events, names } = tasks(trace);
  const kinds = [
    ['script parse/compile', /^(v8\.compile|v8\.parseOnBackground|V8\.CompileCode|v8\.compileModule|V8\.ParseProgram|V8\.ParseFunction|v8\.produceModuleCache|v8\.produceCache)$/],
    ['script evaluation', /^(EvaluateScript|v8\.evaluateModule|FunctionCall|TimerFire|FireAnimationFrame|EventDispatch|v8\.callFunction|RunMicrotasks)$/],
    ['wasm compile', /^(wasm\.|v8\.wasm\.)/],
    ['style and layout', /^(UpdateLayoutTree|Layout|RecalculateStyles|ScheduleStyleRecalculation)$/],
    ['paint', /^(Paint|PaintImage|CompositeLayers|Layerize|UpdateLayer|PrePaint)$/],
    ['HTML and CSS parse', /^(ParseHTML|ParseAuthorStyleSheet)$/],
    ['garbage collection', /^(MinorGC|MajorGC|V8\.GC|BlinkGC)/],
  ];
  const perThread = new Map();
  // Only top-level slices of each kind (nested ones of the same kind would count twice).
  const byThread = new Map();
  for (const e of events) {
    if (e.ph !== 'X' || e.dur === undefined || e.ts > until || e.pid !== pid) continue;
    const t = names.get(`${e.pid}:${e.tid}`) ?? `${e.pid}:${e.tid}`;
    if (!/CrRendererMain|DedicatedWorker|ThreadPoolForegroundWorker/.test(t)) continue;
    const key = t.startsWith('ThreadPool') ? 'background compile threads' : t;
    if (!byThread.has(key)) byThread.set(key, []);
    byThread.get(key).push(e);
  }
  for (const [thread, evs] of byThread) {
    const sums = {};
    // Busy time (wall) and the thread's own CPU time in its top-level tasks: on a loaded machine
    // the first is stretched by waiting for a core, the second much less.
    let busy = 0, cpu = 0, end = -Infinity;
    for (const e of evs.filter((x) => x.name === 'RunTask').sort((a, b) => a.ts - b.ts)) {
      if (e.ts >= end) {
        busy += Math.min(e.ts + e.dur, until) - e.ts;
        cpu += e.tdur ?? 0;
        end = e.ts + e.dur;
      }
    }
    sums['busy (wall)'] = busy / 1000;
    sums['CPU'] = cpu / 1000;
    for (const [kind, re] of kinds) {
      const chosen = evs.filter((e) => re.test(e.name)).sort((a, b) => a.ts - b.ts);
      let total = 0, end = -Infinity;
      for (const e of chosen) {
        const s = Math.max(e.ts, end), f = Math.min(e.ts + e.dur, until);
        if (f > s) total += f - s;
        end = Math.max(end, e.ts + e.dur);
      }
      if (total > 0) sums[kind] = total / 1000;
    }
    perThread.set(thread, sums);
  }
  return perThread;
}

// ------------------------------------------------------------------ loads
const loads = [];
let profile = null;
for (let run = 0; run < RUNS; run++) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const trace = args.includes('--trace') && run === 0;
  if (trace) await browser.startTracing(page, { categories: TRACE_CATEGORIES });
  await page.goto(base);
  await page.waitForSelector('.panel[data-panel="kernel"][data-state="done"], .panel[data-panel="kernel"][data-state="drawn"]', { timeout: 300_000 });
  const t = await page.evaluate(() => ({ ...globalThis.__ntk.timings, origin: performance.timeOrigin }));
  if (trace) {
    const buf = await browser.stopTracing();
    mkdirSync(resolve(root, 'test-output/playground'), { recursive: true });
    writeFileSync(resolve(root, 'test-output/playground/load-trace.json'), buf);
    // The trace's clock: find navigationStart to map page times (ms since navigation) onto it.
    const { events } = tasks(buf.toString());
    const nav = events.find((e) => e.name === 'navigationStart' && e.args?.data?.documentLoaderURL?.startsWith(base)) ?? events.find((e) => e.name === 'navigationStart');
    profile = { byThread: loadProfile(buf.toString(), nav.pid, nav.ts + t.firstNtk * 1000) };
  }
  loads.push(t);
  await context.close();
}

/**
 * A new page of `context` at the playground, once settled: the first NTK drawn, the page ready,
 * what it loads after the first result loaded (vega, vega-lite, KaTeX; a build before that hook:
 * networkidle only) and the network quiet.
 */
async function settledPage(context) {
  const page = await context.newPage();
  await page.goto(base);
  await page.waitForSelector('.panel[data-panel="kernel"][data-state="drawn"]', { timeout: 300_000 });
  await page.waitForSelector('body[data-ready="true"]', { timeout: 300_000 });
  await page.evaluate(() => globalThis.__ntk.loaded);
  await page.waitForLoadState('networkidle');
  return page;
}

// ------------------------------------------------------------------ what a first visit downloads
// One more cold load (untimed): every file the page and its workers fetch until the first NTK is
// drawn and the network is quiet (the editor, vega, KaTeX's script and stylesheet), gzip as the
// build measured it. The worker's on-demand chunks (derive's mathjs) are fetched only by a panel
// that needs them: in the total of all files, not in a visit's.
const visit = await (async () => {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const fetched = new Set();
  context.on('requestfinished', (r) => {
    const u = new URL(r.url());
    if (u.origin === new URL(base).origin) fetched.add(decodeURIComponent(u.pathname).replace(/^\//, '') || 'index.html');
  });
  await settledPage(context);
  await context.close();
  const files = [...fetched].sort();
  const gz = files.reduce((sum, f) => sum + (weight.files?.[f]?.[1] ?? gzipSync(readFileSync(resolve(dist, f)), { level: 9 }).length), 0);
  return { files, gzip: gz };
})();

// ------------------------------------------------------------------ typing
const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
// Typing, not start-up: the page has loaded what it loads after the first result (KaTeX, the
// editor's worker) before the first key.
const page = await settledPage(context);
await page.click('.cm-content');
await page.keyboard.press('Control+End');
await page.evaluate(() => {
  globalThis.__slow = [];
  new PerformanceObserver((l) => l.getEntries().forEach((e) => globalThis.__slow.push({ name: e.name, duration: e.duration }))).observe({ type: 'event', durationThreshold: 16, buffered: false });
});
await browser.startTracing(page, { categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'toplevel'] });
// What is typed (at the end of examples/meanfield.ntk): by default two definitions, as a user
// writes them, so that the text is often wrong halfway (diagnostics underlined), completions
// pop up on words and brackets close by themselves; `--typed comment`: a comment line (the text
// of the first measurements: no diagnostics, completions on every word).
const TYPED = args.includes('--typed') ? args[args.indexOf('--typed') + 1] : 'code';
const text = TYPED === 'comment'
  ? '\n# typing ' + 'model g = sigmoid(f(X)) / sqrt(n) + w '.repeat(10)
  : '\nparam v : [m] ~ normal(0, 1)\ndef g(x : [d]) = sum(v * tanh(U @ x)) / sqrt(m)\ndef k(x : [d]) = g(x) + sum(a * sigmoid(sqrt(m) * (U @ x))) / sqrt(m)\n'.repeat(4);
let diagnosed = 0;
const POLL = args.includes('--poll') || !(await page.evaluate(() => typeof globalThis.__ntk.diagnosed === 'function')); // (a build before it: polled)
for (let i = 0; i < KEYS; i++) {
  const ch = text[i % text.length];
  await page.keyboard.press(ch === '\n' ? 'Enter' : ch === ' ' ? 'Space' : ch);
  // A pause every 25 keys: the diagnostics come back from the worker and are drawn.
  if (i % 25 === 24) {
    const before = await page.evaluate(() => globalThis.__ntk.timings.diagnoses ?? 0);
    // Awaited as one promise of the page (__ntk.diagnosed): no task of the bench's on the page's
    // thread meanwhile. --poll: as first measured, polled every 100 ms by playwright, whose polls
    // run on the page's thread and counted in the pause's key (1–2 ms of CPU, 3–7 ms of wall time
    // per pause on a loaded machine: docs/decisions.md).
    if (POLL) await page.waitForFunction((b) => (globalThis.__ntk.timings.diagnoses ?? 0) > b, before, { timeout: 60_000, polling: 100 });
    else await page.evaluate((b) => globalThis.__ntk.diagnosed(b), before);
    diagnosed++;
  } else await new Promise((r) => setTimeout(r, 40));
}
const typingTrace = (await browser.stopTracing()).toString();
if (args.includes('--trace')) writeFileSync(resolve(root, 'test-output/playground/typing-trace.json'), typingTrace);
const slow = await page.evaluate(() => globalThis.__slow.filter((e) => /key|input/.test(e.name)));
await context.close();
await browser.close();
server.kill();

// Per key press: every top-level task of the page's main thread from the one that dispatched its
// keydown to the one that dispatches the next key's: wall time, and the thread's CPU time.
const { events, names } = tasks(typingTrace);
const mainThreads = new Set([...names].filter(([, n]) => n === 'CrRendererMain').map(([k]) => k));
const keydownEvents = events.filter((e) => e.name === 'EventDispatch' && e.args?.data?.type === 'keydown');
const pageThread = keydownEvents.length ? `${keydownEvents[0].pid}:${keydownEvents[0].tid}` : '';
const main = events.filter((e) => `${e.pid}:${e.tid}` === pageThread && mainThreads.has(pageThread));
const top = main.filter((e) => e.ph === 'X' && e.name === 'RunTask').sort((a, b) => a.ts - b.ts);
const taskOf = (ts) => top.find((e) => e.ts <= ts && ts <= e.ts + e.dur)?.ts ?? ts;
const keydowns = keydownEvents.map((e) => taskOf(e.ts)).sort((a, b) => a - b);
const perKey = [], cpuPerKey = [];
keydowns.forEach((k, i) => {
  const end = keydowns[i + 1] ?? Infinity;
  let busy = 0, cpu = 0;
  for (const e of top)
    if (e.ts >= k && e.ts < end) {
      busy += e.dur;
      cpu += e.tdur ?? 0;
    }
  perKey.push(busy / 1000);
  cpuPerKey.push(cpu / 1000);
});

// Per update, what a user sees: a keystroke, and each reply of the editor's worker (the
// completion list, the diagnostics), from the task that starts it to the end of the first frame
// committed after it (the frame that shows it), or to the next keystroke if that comes first.
// The interval figure above sums everything between two keydowns: for a key before a pause that
// is four updates (the key, the completion list 100 ms later, the lint's request at 250 ms and the
// URL at 300 ms), whose sum no frame ever waits for.
const updates = (() => {
  const from = keydowns[0] ?? Infinity;
  const run = top.filter((t) => t.ts >= from);
  // The slices inside each top-level task (tasks do not nest; slices are sorted by start).
  const inside = new Map(run.map((t) => [t, []]));
  let i = 0;
  for (const e of main) {
    if (e.ph !== 'X' || e.name === 'RunTask' || e.ts < from) continue;
    while (i < run.length && run[i].ts + run[i].dur < e.ts) i++;
    if (i < run.length && run[i].ts <= e.ts && e.ts + e.dur <= run[i].ts + run[i].dur) inside.get(run[i]).push(e);
  }
  const has = (t, name, type) => inside.get(t).some((e) => e.name === name && (type === undefined || e.args?.data?.type === type));
  const out = { key: [], keyCpu: [], reply: [], replyCpu: [], longestTask: Math.max(0, ...run.map((t) => t.dur / 1000)) };
  run.forEach((t, k) => {
    const kind = has(t, 'EventDispatch', 'keydown') ? 'key' : has(t, 'HandlePostMessage') ? 'reply' : null;
    if (!kind) return;
    let wall = 0, cpu = 0;
    for (let j = k; j < run.length; j++) {
      if (j > k && has(run[j], 'EventDispatch', 'keydown')) break;
      wall += run[j].dur;
      cpu += run[j].tdur ?? 0;
      if (has(run[j], 'Commit')) break;
    }
    out[kind].push(wall / 1000);
    out[`${kind}Cpu`].push(cpu / 1000);
  });
  return out;
})();

// Where the page thread's time per key goes: the self time (a slice's duration less its
// children's) of every slice of the main thread between the first and the last keydown, by kind,
// as a mean per key; the keys of the pauses (every 25th) separately, since their interval holds
// what comes back from the worker (diagnostics, completions) and the URL's update.
const KINDS = [
  ['input events (keydown, native text insertion)', (e) => e.name === 'EventDispatch' && /^(keydown|keypress|keyup|textInput|beforeinput|input|selectionchange)$/.test(e.args?.data?.type ?? '')],
  ['script (CodeMirror, the page)', (e) => /^(FunctionCall|EventDispatch|TimerFire|FireAnimationFrame|FireIdleCallback|v8\.|V8\.Execute|BlinkScheduler_PerformMicrotaskCheckpoint)/.test(e.name)],
  ['worker messages', (e) => e.name === 'HandlePostMessage'],
  ['style and layout', (e) => /^(UpdateLayoutTree|Layout|RecalculateStyles|HitTest|IntersectionObserverController)/.test(e.name)],
  ['paint, layerize, commit', (e) => /^(Paint|PrePaint|Layerize|Commit|UpdateLayer|PaintImage|CompositeLayers)/.test(e.name)],
  ['garbage collection', (e) => /GC|^V8\.GC/.test(e.name)],
  ['other (IPC, task overhead)', () => true],
];
const breakdown = (() => {
  const slices = main.filter((e) => e.ph === 'X' && e.dur !== undefined && e.ts >= (keydowns[0] ?? 0)).sort((a, b) => a.ts - b.ts || b.dur - a.dur);
  const sums = { typed: new Map(), pause: new Map() };
  const stack = [];
  const self = new Map();
  for (const e of slices) {
    while (stack.length && stack[stack.length - 1].ts + stack[stack.length - 1].dur <= e.ts) stack.pop();
    // (a parent comes before its children: its self time is set when they are met)
    if (stack.length) self.set(stack[stack.length - 1], self.get(stack[stack.length - 1]) - e.dur);
    self.set(e, e.dur);
    stack.push(e);
  }
  // A slice's kind: its own, or its nearest ancestor's that has one (a Layout within a keydown is layout).
  for (const [e, t] of self) {
    let i = keydowns.length - 1;
    while (i > 0 && keydowns[i] > e.ts) i--;
    const kind = KINDS.find(([, test]) => test(e))[0];
    const m = i % 25 === 24 ? sums.pause : sums.typed;
    m.set(kind, (m.get(kind) ?? 0) + t / 1000);
  }
  const nPause = keydowns.filter((_, i) => i % 25 === 24).length;
  return { typed: sums.typed, pause: sums.pause, nTyped: keydowns.length - nPause, nPause };
})();

const first = loads.map((t) => t.firstNtk);
console.log(`playground benchmarks (chromium ${browser.version?.() ?? ''}, ${RUNS} cold loads, ${KEYS} keystrokes; ${new Date().toISOString()})`);
const kB = (b) => `${(b / 1024).toFixed(0)} kB`;
const demand = (weight.onDemand ?? []).reduce((sum, f) => sum + (weight.files?.[f]?.[1] ?? 0), 0);
console.log(`  page weight           a first visit downloads ${kB(visit.gzip)} gzip (${visit.files.length} files, wasm and data included)   budget 1536 kB`);
console.log(`                        all files ${kB(weight.gzip)} gzip (${kB(weight.bytes)} raw), wasm included${weight.onDemand ? `; of which ${kB(demand)} gzip fetched only by the panels that need them (${weight.onDemand.join(', ')})` : ''}`);
console.log(`  first NTK from load   median ${ms(median(first))}, min ${ms(Math.min(...first))}, max ${ms(Math.max(...first))}   budget 1000 ms`);
const parts = [
  ['study worker started', 'worker.workerStart'],
  ['page script started', 'start'],
  ['worker has the wasm', 'worker.wasmFetched'],
  ['worker started the kernel', 'worker.studyStart'],
  ['page asked for the kernel', 'kernelStart'],
  ['worker ended the kernel', 'worker.studyEnd'],
  ['page received the kernel', 'kernelReceived'],
  ['NTK shown', 'firstNtk'],
  ['editor made', 'editor'],
];
const at = parts.filter(([, key]) => loads.some((t) => t[key] !== undefined)).map(([label, key]) => [label, median(loads.map((t) => t[key]).filter((x) => x !== undefined))]);
for (const [label, t] of at.sort((a, b) => a[1] - b[1])) console.log(`    ${label.padEnd(30)} at ${ms(t)} (median)`);
if (profile) {
  console.log('  timeline of the first load up to the NTK (test-output/playground/load-trace.json):');
  for (const [thread, sums] of profile.byThread) {
    const items = Object.entries(sums).filter(([, v]) => v >= 1).map(([k, v]) => `${k} ${ms(v)}`);
    if (items.length) console.log(`    ${thread}: ${items.join(', ')}`);
  }
}
const dist3 = (xs) => `median ${ms(median(xs))}, p95 ${ms(quantile(xs, 0.95))}, max ${ms(Math.max(...xs))}`;
console.log(`  typing                a keystroke to its frame (page thread, wall): ${dist3(updates.key)}; CPU ${dist3(updates.keyCpu)} (${updates.key.length} keys typed as ${TYPED}, ${diagnosed} diagnostics drawn)   budget 16 ms`);
console.log(`                        a reply of the editor's worker to its frame (${updates.reply.length}: completion lists, diagnostics): ${dist3(updates.reply)}; CPU ${dist3(updates.replyCpu)}   budget 16 ms`);
console.log(`                        the longest task of the page thread while typing: ${ms(updates.longestTask)}`);
console.log(`                        everything from one keydown to the next (a pause's key: four updates): ${dist3(perKey)}; CPU ${dist3(cpuPerKey)}`);
for (const [label, m, n] of [['typed keys', breakdown.typed, breakdown.nTyped], ['keys before a pause', breakdown.pause, breakdown.nPause]]) {
  const total = [...m.values()].reduce((a, b) => a + b, 0);
  console.log(`                        ${label} (${n}), mean per key ${ms(total / n)}: ${KINDS.map(([k]) => [k, (m.get(k) ?? 0) / n]).filter(([, v]) => v >= 0.05).map(([k, v]) => `${k} ${ms(v)}`).join(', ')}`);
}
const typedOnly = perKey.filter((_, i) => i % 25 !== 24), typedCpu = cpuPerKey.filter((_, i) => i % 25 !== 24);
console.log(`                        the typed keys alone (no pause after them): median ${ms(median(typedOnly))}, p95 ${ms(quantile(typedOnly, 0.95))}; CPU median ${ms(median(typedCpu))}, p95 ${ms(quantile(typedCpu, 0.95))}`);
console.log(`                        key events with input-to-paint ≥ 16 ms: ${slow.length}${slow.length ? ` (longest ${ms(Math.max(...slow.map((s) => s.duration)))})` : ''}`);

const jsonAt = args.indexOf('--json');
if (jsonAt >= 0) writeFileSync(resolve(args[jsonAt + 1]), JSON.stringify({ dist, date: new Date().toISOString(), weight: { gzip: weight.gzip, bytes: weight.bytes, onDemandGzip: demand }, visit, loads, perKey, cpuPerKey, keyToFrame: updates.key, keyToFrameCpu: updates.keyCpu, replyToFrame: updates.reply, replyToFrameCpu: updates.replyCpu, longestTask: updates.longestTask, slow, diagnosed }, null, 1));

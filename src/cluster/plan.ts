/**
 * Work for a cluster as a plan, tasks and a merge — the pattern of submitit and Nextflow's
 * `array`: a plan (a JSON manifest: the model file's hash, every option, the tasks) is written
 * once; task I (`runTask`) computes its part and writes its shard atomically, skips itself when
 * the shard is already complete (a retry is harmless) and refuses a shard of another plan; the
 * merge (`mergePlan`) combines the shards in task order, deterministically, or lists the missing
 * ones with the commands that redo them. The scheduler (Slurm, `cluster/slurm.ts`; a Kubernetes
 * Indexed Job) only has to start task I for every I.
 *
 * Two kinds of plans:
 * - 'sweep': the grid of `ntk sweep` (α × T × `--set` axes) in chunks of points per task; the
 *   merged file is what a local `ntk sweep --out` writes, row for row (`sweepFileText`);
 * - 'kernel-tiles': the NTK in B×B tiles, one task per tile (i, j) with i ≤ j
 *   (`nth/tiles.ts`); the merge writes K into one `.npy` by positioned writes, one tile in
 *   memory at a time.
 *
 * Files, next to the plan `DIR/NAME.json`: shards in `DIR/NAME.shards/` (`I.json`, with the
 * tile `K.i.j.npy` for kernels; `I.started.json` and `I.failed.json` record attempts), logs of
 * the tasks in `DIR/logs/NAME-I.out` (written by the scheduler).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import * as nodePath from 'node:path';
import { writeFileAtomic } from '../io/atomic.ts';
import { parseNpy } from '../io/data.ts';
import { NpyWriter, writeNpy } from '../io/npy.ts';
import { loadModel } from '../ir/load.ts';
import { Evaluator } from '../evaluator/evaluator.ts';
import { grid, sweepFileText, sweepFingerprint, sweepPoint, type GridPoint, type SweepOptions, type SweepRow } from '../dynamics/sweep.ts';
import { kernelTile, tileRange, upperTiles } from '../nth/tiles.ts';

/**
 * A plan, shard or task that cannot be used as asked: the message says why and what to do (exit 1).
 * @example
 * try { readPlan('missing.json'); } catch (e) { if (e instanceof ClusterError) console.error(e.message); }
 * // cannot read the plan 'missing.json': no such file
 */
export class ClusterError extends Error {}

/**
 * The version of the plan file's layout (its `format` key); `readPlan` refuses any other, since a
 * plan of another layout would be misread rather than fail.
 * @example readPlan('sweep.json').format === PLAN_FORMAT // true
 */
export const PLAN_FORMAT = 1;

/** The grid of a sweep: what `ntk sweep` takes besides the model. */
export interface SweepSpec {
  kind: 'sweep';
  alphas: number[];
  /** Values of T ([NaN] when the horizon is a const of the model, `shared.horizon`). */
  Ts: number[];
  axes: Record<string, number[]>;
  /** The options every point shares (`shared.file` is the model file, absolute). */
  shared: SweepOptions;
  /** The merged file: .csv or .json (absolute). */
  out: string;
}

/** The NTK of a model in B×B tiles. */
export interface TilesSpec {
  kind: 'kernel-tiles';
  seed: number;
  overrides: Record<string, number>;
  /** Outputs k (the kernel is k×k). */
  k: number;
  tiles: number;
  /** The merged `.npy` (absolute). */
  out: string;
}

/** What a plan computes: a sweep's grid or a kernel's tiles (the `kind` tells which). */
export type PlanSpec = SweepSpec | TilesSpec;

/** One task: its grid points (sweep) or its tile (i, j), i ≤ j (kernel). */
export type PlanTask = { index: number; points: GridPoint[] } | { index: number; tile: [number, number] };

/**
 * A plan as written to `DIR/NAME.json` (exported as `ClusterPlan`): the model's path and hash,
 * what to compute, and the tasks; `id` is the sha256 of the content, which every shard carries.
 */
export interface Plan {
  format: number;
  /** sha256 (16 hex digits) of everything below but `path`: shards carry it. */
  id: string;
  kind: PlanSpec['kind'];
  model: { file: string; sha256: string };
  spec: PlanSpec;
  tasks: PlanTask[];
  /** Where the plan was read from or written to (not part of the file). */
  path: string;
}

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

function readModelBytes(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new ClusterError(`cannot read the model file '${file}': ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

/** JSON with the non-finite numbers kept (as the strings "NaN", "Infinity", "-Infinity"). */
function stringify(value: unknown, indent?: number): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), indent);
}
function parse<T>(text: string): T {
  // (no string of ours is exactly one of these three words: warnings are sentences)
  return JSON.parse(text, (_, v) => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v)) as T;
}

function withId(p: Omit<Plan, 'id' | 'path'>, path: string): Plan {
  const id = sha256(stringify({ format: p.format, kind: p.kind, model: p.model, spec: p.spec, tasks: p.tasks })).slice(0, 16);
  return { format: p.format, id, kind: p.kind, model: p.model, spec: p.spec, tasks: p.tasks, path: nodePath.resolve(path) };
}

/**
 * The plan of a sweep: the grid of `grid(alphas, Ts, axes)` (the order of `ntk sweep`) cut into
 * tasks of `chunk` consecutive points (default: one point per task up to 1000 tasks, Slurm's
 * default MaxArraySize being 1001). `path` is where the plan will live (`writePlan`).
 * @example planSweep('sweep.json', { alphas: [1, 4], Ts: [10], axes: { m: [64, 256] }, shared: { file: 'm.ntk' }, out: 'r.csv' })
 */
export function planSweep(path: string, spec: Omit<SweepSpec, 'kind'>, opts: { chunk?: number } = {}): Plan {
  const file = nodePath.resolve(spec.shared.file);
  const shared: SweepOptions = { ...spec.shared, file };
  const named = shared.horizon !== undefined;
  const Ts = named ? [NaN] : spec.Ts;
  const points = grid(spec.alphas, Ts, spec.axes);
  if (points.length === 0) throw new ClusterError('the grid is empty');
  const chunk = opts.chunk ?? Math.max(1, Math.ceil(points.length / 1000));
  if (!(Number.isInteger(chunk) && chunk >= 1)) throw new ClusterError(`--chunk ${chunk}: expected an integer ≥ 1`);
  const tasks: PlanTask[] = [];
  for (let s = 0; s < points.length; s += chunk) tasks.push({ index: tasks.length, points: points.slice(s, s + chunk) });
  const out = nodePath.resolve(spec.out);
  if (!/\.(csv|json)$/.test(out)) throw new ClusterError(`--out ${spec.out}: the merged results of a sweep go to a .csv or .json file`);
  return withId(
    { format: PLAN_FORMAT, kind: 'sweep', model: { file, sha256: sha256(readModelBytes(file)) }, spec: { kind: 'sweep', alphas: spec.alphas, Ts, axes: spec.axes, shared, out }, tasks },
    path,
  );
}

/**
 * The plan of the NTK of `file` in `tiles` × `tiles` blocks: one task per tile (i, j), i ≤ j,
 * B(B+1)/2 tasks, merged into the k×k `.npy` `out`.
 * @example planKernelTiles('K.plan.json', 'mlp.ntk', { tiles: 2, out: 'K.npy' }).tasks.length // 3
 */
export function planKernelTiles(path: string, file: string, o: { tiles: number; out: string; seed?: number; overrides?: Record<string, number> }): Plan {
  const abs = nodePath.resolve(file);
  const bytes = readModelBytes(abs);
  const seed = o.seed ?? 0, overrides = o.overrides ?? {};
  const m = loadModel(abs, { overrides: new Map(Object.entries(overrides)), seed });
  const k = m.outputShape.reduce((a, b) => a * b, 1);
  if (!(Number.isInteger(o.tiles) && o.tiles >= 1 && o.tiles <= k)) throw new ClusterError(`--tiles ${o.tiles}: expected an integer from 1 to the number of outputs, ${k}`);
  const out = nodePath.resolve(o.out);
  if (!out.endsWith('.npy')) throw new ClusterError(`--out ${o.out}: a tiled kernel is merged into a .npy file`);
  const tasks: PlanTask[] = upperTiles(o.tiles).map((tile, index) => ({ index, tile }));
  return withId(
    { format: PLAN_FORMAT, kind: 'kernel-tiles', model: { file: abs, sha256: sha256(bytes) }, spec: { kind: 'kernel-tiles', seed, overrides, k, tiles: o.tiles, out }, tasks },
    path,
  );
}

/**
 * Write the plan atomically (pretty JSON) to `plan.path`; its shards go next to it.
 * @example writePlan(planKernelTiles('K.plan.json', 'mlp.ntk', { tiles: 4, out: 'K.npy' }))
 */
export function writePlan(plan: Plan): void {
  const { path: _, ...body } = plan;
  writeFileAtomic(plan.path, stringify(body, 1) + '\n');
}

/**
 * Read a plan and check it: its format, its id (the content was not edited) and, unless
 * `checkModel` is false, that the model file still has the hash it had when planned.
 * Throws `ClusterError` otherwise, saying what changed and to plan again.
 * @example const plan = readPlan('sweep.json'); plan.tasks.length
 */
export function readPlan(path: string, opts: { checkModel?: boolean } = {}): Plan {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new ClusterError(`cannot read the plan '${path}': ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  let body: Omit<Plan, 'path'>;
  try {
    body = parse<Omit<Plan, 'path'>>(text);
  } catch (e) {
    throw new ClusterError(`'${path}' is not a plan: ${(e as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || !('format' in body) || !Array.isArray(body.tasks) || !body.spec || !body.model)
    throw new ClusterError(`'${path}' is not a plan of ntk (written by 'ntk sweep … --plan' or 'ntk kernel … --tiles B --plan')`);
  if (body.format !== PLAN_FORMAT) throw new ClusterError(`'${path}' is a plan of format ${body.format}; this ntk reads format ${PLAN_FORMAT}: plan again`);
  const plan = withId(body, path);
  if (plan.id !== body.id) throw new ClusterError(`'${path}' was edited after planning (its content no longer matches its id ${body.id}): plan again`);
  if (opts.checkModel !== false) {
    const now = sha256(readModelBytes(plan.model.file));
    if (now !== plan.model.sha256)
      throw new ClusterError(`the model file '${plan.model.file}' changed since planning (sha256 ${plan.model.sha256.slice(0, 12)}… then, ${now.slice(0, 12)}… now): its shards would mix two models; plan again (with a fresh plan name or after removing ${shardDir(plan)})`);
  }
  return plan;
}

const planName = (plan: Plan) => nodePath.basename(plan.path).replace(/\.json$/, '');
/**
 * The directory of the shards of a plan: DIR/NAME.shards next to DIR/NAME.json.
 * @example shardDir(readPlan('runs/sweep.json')) // '…/runs/sweep.shards'
 */
export const shardDir = (plan: Plan) => nodePath.join(nodePath.dirname(plan.path), `${planName(plan)}.shards`);
/**
 * The log of task I (written by the scheduler): DIR/logs/NAME-I.out.
 * @example logPath(readPlan('runs/sweep.json'), 3) // '…/runs/logs/sweep-3.out'
 */
export const logPath = (plan: Plan, index: number | string) => nodePath.join(nodePath.dirname(plan.path), 'logs', `${planName(plan)}-${index}.out`);
const shardPath = (plan: Plan, index: number) => nodePath.join(shardDir(plan), `${index}.json`);
const markerPath = (plan: Plan, index: number, what: 'started' | 'failed') => nodePath.join(shardDir(plan), `${index}.${what}.json`);
const tilePath = (plan: Plan, [i, j]: [number, number]) => nodePath.join(shardDir(plan), `K.${i}.${j}.npy`);

/** What a shard file holds. */
interface Shard {
  plan: string;
  index: number;
  host: string;
  seconds: number;
  /** Sweep: the rows of the task's points, in order. */
  rows?: SweepRow[];
  /** Kernel: the tile, its file's size and sha256. */
  tile?: [number, number];
  bytes?: number;
  sha256?: string;
}

function task(plan: Plan, index: number): PlanTask {
  if (!(Number.isInteger(index) && index >= 0 && index < plan.tasks.length))
    throw new ClusterError(`task index ${index} is out of range: the plan '${plan.path}' has ${plan.tasks.length} task${plan.tasks.length === 1 ? '' : 's'} (0..${plan.tasks.length - 1})`);
  return plan.tasks[index]!;
}

/**
 * The shard of task `index` when complete (written by this plan, all its rows or its tile file
 * of the right size); null when absent or incomplete. Throws `ClusterError` for a shard of
 * another plan.
 * @example readShard(readPlan('sweep.json'), 0)?.rows?.length
 */
export function readShard(plan: Plan, index: number): Shard | null {
  const t = task(plan, index);
  const path = shardPath(plan, index);
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  let s: Shard;
  try {
    s = parse<Shard>(text);
  } catch {
    return null; // not ours to judge further: an unreadable shard is redone
  }
  if (s.plan !== plan.id)
    throw new ClusterError(`the shard '${path}' was written by another plan (${s.plan}, not ${plan.id}): remove ${shardDir(plan)} (or give this plan another name) and run again`);
  if (s.index !== index) return null;
  if ('points' in t) return Array.isArray(s.rows) && s.rows.length === t.points.length ? s : null;
  const [r0, r1] = tileRange((plan.spec as TilesSpec).k, (plan.spec as TilesSpec).tiles, t.tile[0]);
  const [c0, c1] = tileRange((plan.spec as TilesSpec).k, (plan.spec as TilesSpec).tiles, t.tile[1]);
  try {
    const size = fs.statSync(tilePath(plan, t.tile)).size;
    return size === s.bytes && size >= 8 * (r1 - r0) * (c1 - c0) ? s : null;
  } catch {
    return null;
  }
}

/** What `runTask` did: computed the task now, or found its shard complete. */
export interface TaskOutcome {
  index: number;
  /** 'done': computed now; 'skipped': its shard was already complete. */
  status: 'done' | 'skipped';
  seconds: number;
  shard: string;
}

/**
 * The task index from the environment: Slurm's array index ($SLURM_ARRAY_TASK_ID), else a
 * Kubernetes Indexed Job's ($JOB_COMPLETION_INDEX); null when neither is set. Throws
 * `ClusterError` for a value that is not a non-negative integer.
 * @example indexFromEnv({ SLURM_ARRAY_TASK_ID: '7' }) // 7
 */
export function indexFromEnv(env: NodeJS.ProcessEnv = process.env): number | null {
  for (const name of ['SLURM_ARRAY_TASK_ID', 'JOB_COMPLETION_INDEX']) {
    const v = env[name];
    if (v !== undefined && v !== '') {
      if (!/^\d+$/.test(v)) throw new ClusterError(`$${name} = '${v}' is not a task index`);
      return Number(v);
    }
  }
  return null;
}

/**
 * Run task `index` of the plan: compute its points (or tile) and write its shard atomically.
 * A complete shard of this plan is left alone (`status: 'skipped'`); a shard of another plan is
 * refused. A failure leaves no shard (the temporary file is removed; a full disk included) and a
 * note `I.failed.json` for `planStatus`, and is rethrown.
 * @example runTask(readPlan('sweep.json'), 3)
 */
export function runTask(plan: Plan, index: number, opts: { onProgress?: (done: number, total: number) => void } = {}): TaskOutcome {
  const t = task(plan, index);
  const path = shardPath(plan, index);
  if (readShard(plan, index)) return { index, status: 'skipped', seconds: 0, shard: path };
  fs.mkdirSync(shardDir(plan), { recursive: true });
  const note = (what: 'started' | 'failed', extra: Record<string, unknown>) => {
    try {
      writeFileAtomic(markerPath(plan, index, what), stringify({ plan: plan.id, index, host: hostname(), pid: process.pid, job: process.env.SLURM_JOB_ID ?? null, time: new Date().toISOString(), ...extra }) + '\n');
    } catch {
      /* a note is best effort (the disk may be full) */
    }
  };
  note('started', {});
  const t0 = performance.now();
  try {
    const base = { plan: plan.id, index, host: hostname() };
    if ('points' in t) {
      const { shared } = plan.spec as SweepSpec; // a task with points is a sweep's
      const rows: SweepRow[] = [];
      for (const p of t.points) {
        rows.push(sweepPoint(p, shared));
        opts.onProgress?.(rows.length, t.points.length);
      }
      writeFileAtomic(path, stringify({ ...base, seconds: (performance.now() - t0) / 1000, rows }) + '\n');
    } else {
      const spec = plan.spec as TilesSpec;
      const m = loadModel(plan.model.file, { overrides: new Map(Object.entries(spec.overrides)), seed: spec.seed });
      const [i, j] = t.tile;
      const tile = kernelTile(new Evaluator(m), m.w0, spec.tiles, i, j, opts);
      const file = tilePath(plan, t.tile);
      writeNpy(file, [tile.rows[1] - tile.rows[0], tile.cols[1] - tile.cols[0]], tile.data);
      const bytes = fs.readFileSync(file);
      writeFileAtomic(path, stringify({ ...base, seconds: (performance.now() - t0) / 1000, tile: t.tile, bytes: bytes.length, sha256: sha256(bytes) }) + '\n');
    }
  } catch (e) {
    note('failed', { error: (e as Error).message });
    throw e;
  }
  try {
    fs.unlinkSync(markerPath(plan, index, 'failed'));
  } catch {
    /* there was none */
  }
  return { index, status: 'done', seconds: (performance.now() - t0) / 1000, shard: path };
}

/**
 * The command that runs task I of the plan by hand (what `mergePlan` lists for a missing shard).
 * @example redoCommand(readPlan('sweep.json'), 3) // 'ntk sweep run /abs/sweep.json --index 3'
 */
export const redoCommand = (plan: Plan, index: number) => `ntk ${plan.kind === 'sweep' ? 'sweep' : 'kernel'} run ${shellQuote(plan.path)} --index ${index}`;

/**
 * A word for a POSIX shell, single-quoted when it needs to be (a ' inside becomes '\'').
 * @example shellQuote('my runs/p.json') // "'my runs/p.json'"
 */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** What `mergePlan` wrote: the file, how many tasks, and the rows (sweep) or shape (kernel). */
export interface MergeOutcome {
  out: string;
  tasks: number;
  /** For a sweep: the rows; for a kernel: its shape. */
  rows?: number;
  shape?: [number, number];
}

/**
 * Merge the shards of a plan into its output (`out` overrides the plan's): for a sweep the file a
 * local `ntk sweep --out` writes for the same grid (rows in grid order, the same fingerprint
 * line), for a kernel the k×k `.npy`, each tile read and written (tile (i, j) and, transposed,
 * (j, i)) at its offsets, never K whole. Refuses, listing them and the commands that redo them,
 * when shards are missing or incomplete.
 * @example mergePlan(readPlan('sweep.json')).rows
 */
export function mergePlan(plan: Plan, opts: { out?: string } = {}): MergeOutcome {
  const shards = plan.tasks.map((t) => readShard(plan, t.index));
  const missing = plan.tasks.filter((_, i) => shards[i] === null).map((t) => t.index);
  if (missing.length > 0) {
    const shown = missing.slice(0, 10);
    throw new ClusterError(
      `${missing.length} of ${plan.tasks.length} shards are missing or incomplete (task${missing.length === 1 ? '' : 's'} ${compressIndices(missing)}); redo them with\n` +
        shown.map((i) => `  ${redoCommand(plan, i)}`).join('\n') +
        (missing.length > shown.length ? `\n  … (${missing.length - shown.length} more)` : '') +
        `\nor on Slurm: ntk ${plan.kind === 'sweep' ? 'sweep' : 'kernel'} submit ${shellQuote(plan.path)} --only-missing`,
    );
  }
  const spec = plan.spec;
  if (spec.kind === 'sweep') {
    const out = nodePath.resolve(opts.out ?? spec.out);
    if (!/\.(csv|json)$/.test(out)) throw new ClusterError(`--out ${out}: use a .csv or .json file`);
    const rows = shards.flatMap((s) => s!.rows!);
    const fp = sweepFingerprint(readModelBytes(plan.model.file), spec.shared, Object.keys(spec.axes));
    writeFileAtomic(out, sweepFileText(out, rows, Object.keys(spec.axes), fp));
    return { out, tasks: plan.tasks.length, rows: rows.length };
  }
  const out = nodePath.resolve(opts.out ?? spec.out);
  if (!out.endsWith('.npy')) throw new ClusterError(`--out ${out}: a tiled kernel is merged into a .npy file`);
  const { k, tiles: B } = spec;
  const w = NpyWriter.create(out, [k, k]);
  try {
    for (const [n, t] of plan.tasks.entries()) {
      if (!('tile' in t)) throw new ClusterError(`task ${t.index} of a kernel plan has no tile`);
      const bytes = fs.readFileSync(tilePath(plan, t.tile));
      if (sha256(bytes) !== shards[n]!.sha256) throw new ClusterError(`the tile '${tilePath(plan, t.tile)}' does not match its shard's sha256 (changed after it was written): ${redoCommand(plan, t.index)} after removing ${shardPath(plan, t.index)}`);
      const [r0, r1] = tileRange(k, B, t.tile[0]), [c0, c1] = tileRange(k, B, t.tile[1]);
      const tile = parseNpy(bytes, tilePath(plan, t.tile));
      const nr = r1 - r0, nc = c1 - c0;
      if (tile.shape.length !== 2 || tile.shape[0] !== nr || tile.shape[1] !== nc) throw new ClusterError(`the tile '${tilePath(plan, t.tile)}' has shape [${tile.shape.join(', ')}], expected [${nr}, ${nc}]`);
      w.writeBlock(r0, c0, nr, nc, tile.data);
      if (t.tile[0] !== t.tile[1]) w.writeBlock(c0, r0, nc, nr, tile.data, true);
    }
    w.commit();
  } catch (e) {
    w.abort();
    throw e;
  }
  return { out, tasks: plan.tasks.length, shape: [k, k] };
}

/**
 * Indices as ranges (Slurm's --array syntax), sorted and without repeats.
 * @example compressIndices([0, 1, 2, 5, 7, 8]) // '0-2,5,7-8'
 */
export function compressIndices(indices: number[]): string {
  const s = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    parts.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** The state of one task in `planStatus` (see there for how each is decided). */
export type TaskState = 'done' | 'running' | 'pending' | 'failed' | 'missing';

/** One task's line of `planStatus`: its state, why, and its log. */
export interface TaskStatus {
  index: number;
  state: TaskState;
  /** The error of a failed task, the scheduler's state, or what is known of a lost one. */
  detail: string | null;
  /** The last lines of its log (failed and lost tasks), when there is one. */
  logTail: string | null;
  log: string;
}

/** `planStatus`'s report: every task's state and how many are in each. */
export interface PlanStatus {
  plan: string;
  id: string;
  tasks: TaskStatus[];
  counts: Record<TaskState, number>;
}

/** The last `lines` lines of a file (at most 8 kB read), or null when absent. */
export function tail(path: string, lines = 10): string | null {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const n = Math.min(size, 8192);
    const buf = Buffer.alloc(n);
    fs.readSync(fd, buf, 0, n, size - n);
    const text = buf.toString('utf8').replace(/\s+$/, '');
    return text.split('\n').slice(-lines).join('\n');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The state of every task: done (complete shard), failed (its error and log tail), running or
 * pending (from the scheduler's `queued` states, e.g. squeue's), or missing (never run,
 * cancelled or killed: the log tail says what is known).
 * @example const plan = readPlan('sweep.json'); planStatus(plan, queuedTasks(plan)).counts // { done: 12, running: 4, … }
 */
export function planStatus(plan: Plan, queued: Map<number, string> = new Map()): PlanStatus {
  const tasks = plan.tasks.map((t): TaskStatus => {
    const log = logPath(plan, t.index);
    const base = { index: t.index, log };
    if (readShard(plan, t.index)) return { ...base, state: 'done', detail: null, logTail: null };
    const q = queued.get(t.index);
    if (q !== undefined && /^(RUNNING|COMPLETING|CONFIGURING)$/.test(q)) return { ...base, state: 'running', detail: q.toLowerCase(), logTail: null };
    if (q !== undefined && /^(PENDING|REQUEUED|RESIZING|SUSPENDED)$/.test(q)) return { ...base, state: 'pending', detail: q.toLowerCase(), logTail: null };
    const failed = readMarker(plan, t.index, 'failed');
    if (failed) return { ...base, state: 'failed', detail: String(failed.error ?? 'failed'), logTail: tail(log) };
    const started = readMarker(plan, t.index, 'started');
    const logTail = tail(log);
    if (started) return { ...base, state: 'missing', detail: `started on ${started.host} at ${started.time}${started.job ? ` (job ${started.job})` : ''}, no shard: cancelled or killed`, logTail };
    return { ...base, state: 'missing', detail: logTail === null ? 'not run' : 'no shard', logTail };
  });
  const counts: Record<TaskState, number> = { done: 0, running: 0, pending: 0, failed: 0, missing: 0 };
  for (const t of tasks) counts[t.state]++;
  return { plan: plan.path, id: plan.id, tasks, counts };
}

function readMarker(plan: Plan, index: number, what: 'started' | 'failed'): Record<string, unknown> | null {
  try {
    const m = parse<Record<string, unknown>>(fs.readFileSync(markerPath(plan, index, what), 'utf8'));
    return m.plan === plan.id ? m : null;
  } catch {
    return null;
  }
}

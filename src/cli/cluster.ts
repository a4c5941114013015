/**
 * The command line of cluster work (library: `cluster/plan.ts`, `cluster/slurm.ts`):
 *
 *   ntk sweep FILE --alpha … --T … --out r.csv --plan sweep.json     write the plan
 *   ntk sweep FILE … --out r.csv --slurm [--dry-run] [--time … --mem …] plan and submit
 *   ntk sweep run|merge|status|submit PLAN                            one task, the merge, …
 *   ntk kernel FILE --out K.npy                                       the NTK into a .npy
 *   ntk kernel FILE --tiles B --tile i,j --out K.i.j.npy              one tile
 *   ntk kernel FILE --tiles B --out K.npy [--plan P | --slurm]        all tiles: here, or a plan
 *   ntk kernel run|merge|status|submit PLAN
 *
 * Parsing and formatting only; errors of plans and shards are `ClusterError` (exit 1).
 */
import * as nodePath from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import {
  bundleFile,
  capNativeThreads,
  checkOutputPath,
  ClusterError,
  Evaluator,
  indexFromEnv,
  kernelTile,
  loadModel,
  mergePlan,
  planKernelTiles,
  planStatus,
  planSweep,
  queuedTasks,
  readPlan,
  redoCommand,
  runTask,
  submitPlan,
  submissions,
  writeKernelTiles,
  writeNpy,
  writePlan,
  type ClusterPlan as Plan,
  type PlanStatus,
  type SlurmOptions,
  type SubmitOutcome,
  type SweepOptions,
} from '../index.ts';
import { progress, table } from './format.ts';
import { UsageError } from './options.ts';

const out = (s: string): void => void process.stdout.write(s.endsWith('\n') ? s : s + '\n');

/** The subcommands that take a plan: `ntk sweep run PLAN`, `ntk kernel status PLAN`, … */
export const PLAN_COMMANDS = ['run', 'merge', 'status', 'submit'] as const;

/** Whether argv is `sweep|kernel run|merge|status|submit …` (handled by `buildPlanProgram`). */
export function isPlanCommand(argv: string[]): boolean {
  return (argv[0] === 'sweep' || argv[0] === 'kernel') && (PLAN_COMMANDS as readonly string[]).includes(argv[1] ?? '');
}

/** The options of `--slurm` and `submit`, as given on the command line. */
export interface SlurmCli {
  slurm?: boolean;
  dryRun?: boolean;
  onlyMissing?: boolean;
  partition?: string;
  time?: string;
  mem?: string;
  cpusPerTask?: string;
  maxRunning?: string;
  plan?: string;
  chunk?: string;
}

/** Add the Slurm options (passed through to #SBATCH lines) to a command. */
export function slurmOptions(cmd: Command): Command {
  return cmd
    .option('--plan <plan.json>', 'write the plan of cluster tasks there (with --slurm: default <out>.plan.json)')
    .option('--slurm', 'plan, then submit an array job and a merge job (afterok) with sbatch')
    .option('--dry-run', 'with --slurm: print the two batch scripts instead of submitting them')
    .option('--only-missing', 'with --slurm: submit only the tasks that failed or are missing (not done, running or pending)')
    .option('--partition <P>', 'Slurm partition')
    .option('--time <T>', 'Slurm time limit per task (e.g. 1:00:00)')
    .option('--mem <M>', 'Slurm memory per task (e.g. 4G)')
    .option('--cpus-per-task <N>', 'Slurm CPUs per task')
    .option('--max-running <K>', 'at most K array tasks at once (--array=0-N%K)');
}

function positiveInt(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new UsageError(`${name} ${raw}: expected an integer ≥ 1`);
  return v;
}

/** The words that run this ntk on a node: this node binary and bin/ntk.js of this installation. */
function ntkCommand(): string[] {
  const env = process.env.NTK_COMMAND;
  if (env) return env.split(' ').filter(Boolean);
  const self = bundleFile();
  // dist/ntk.cjs → bin/ntk.js; from the sources (tests) src/cli/cluster.ts → bin/ntk.js
  const bin = self ? nodePath.resolve(nodePath.dirname(self), '../bin/ntk.js') : nodePath.resolve(nodePath.dirname(fileURLToPath(import.meta.url)), '../../bin/ntk.js');
  return [process.execPath, bin];
}

function slurmFrom(o: SlurmCli): SlurmOptions {
  return {
    ...(o.partition ? { partition: o.partition } : {}),
    ...(o.time ? { time: o.time } : {}),
    ...(o.mem ? { mem: o.mem } : {}),
    ...(o.cpusPerTask ? { cpusPerTask: positiveInt('--cpus-per-task', o.cpusPerTask)! } : {}),
    ...(o.maxRunning ? { maxRunning: positiveInt('--max-running', o.maxRunning)! } : {}),
    command: ntkCommand(),
  };
}

function formatSubmit(plan: Plan, s: SubmitOutcome, dryRun: boolean): string {
  if (s.indices.length === 0) return `all ${plan.tasks.length} tasks of ${plan.path} are done, running or pending: nothing to submit`;
  const lines: string[] = [];
  if (dryRun) {
    lines.push(`# ${s.scripts!.arrayPath}`, s.scripts!.array, `# ${s.scripts!.mergePath}`, s.scripts!.merge, '# submitted with', ...s.commands.map((c) => `#   ${c}`));
  } else {
    lines.push(
      table([
        ['plan', `${plan.path} (${plan.tasks.length} tasks)`],
        ['array job', `${s.arrayJob} (--array=${s.scripts!.arraySpec})`],
        ['merge job', `${s.mergeJob} (afterok:${s.arrayJob}) → ${(plan.spec as { out: string }).out}`],
        ['logs', nodePath.join(nodePath.dirname(plan.path), 'logs')],
        ['status', `ntk ${plan.kind === 'sweep' ? 'sweep' : 'kernel'} status ${plan.path}`],
      ]),
    );
  }
  return lines.join('\n');
}

/** Write the plan, or with --slurm write it and submit it. */
function planAndMaybeSubmit(plan: Plan, o: SlurmCli & { json?: boolean }, written = false): void {
  const again = o.onlyMissing === true;
  if (!written && !(again && samePlan(plan))) writePlan(plan);
  if (!o.slurm) {
    if (o.json) return out(JSON.stringify({ plan: plan.path, id: plan.id, tasks: plan.tasks.length }));
    const verb = plan.kind === 'sweep' ? 'sweep' : 'kernel';
    return out(
      table([
        ['plan', `${plan.path} (id ${plan.id})`],
        ['tasks', String(plan.tasks.length)],
        ['run task I', `ntk ${verb} run ${plan.path} --index I   (I from $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX when not given)`],
        ['merge', `ntk ${verb} merge ${plan.path}`],
        ['on Slurm', `ntk ${verb} submit ${plan.path} [--time …] [--dry-run]`],
      ]),
    );
  }
  const s = submitPlan(plan, { ...slurmFrom(o), onlyMissing: again, dryRun: o.dryRun === true });
  if (o.json) return out(JSON.stringify({ plan: plan.path, id: plan.id, indices: s.indices, arrayJob: s.arrayJob, mergeJob: s.mergeJob, commands: s.commands, ...(o.dryRun ? { scripts: { array: s.scripts?.array ?? null, merge: s.scripts?.merge ?? null } } : {}) }));
  out(formatSubmit(plan, s, o.dryRun === true));
}

/** Whether a plan with the same id is already on disk (a resubmission keeps it and its shards). */
function samePlan(plan: Plan): boolean {
  try {
    return readPlan(plan.path, { checkModel: false }).id === plan.id;
  } catch {
    return false;
  }
}

/** `ntk sweep FILE … --plan P | --slurm`: called by the sweep command once its grid is parsed. */
export function sweepToCluster(grid: { alphas: number[]; Ts: number[]; axes: Record<string, number[]>; shared: SweepOptions; out?: string }, o: SlurmCli & { json?: boolean }): void {
  if (!grid.out) throw new UsageError('a sweep on a cluster needs --out results.csv (or .json): where the merge writes');
  const path = o.plan ?? grid.out.replace(/\.(csv|json)$/, '') + '.plan.json';
  const chunk = positiveInt('--chunk', o.chunk);
  const plan = planSweep(path, { alphas: grid.alphas, Ts: grid.Ts, axes: grid.axes, shared: grid.shared, out: grid.out }, chunk === undefined ? {} : { chunk });
  planAndMaybeSubmit(plan, o);
}

export interface KernelOutCli extends SlurmCli {
  out?: string;
  tiles?: string;
  tile?: string;
  json?: boolean;
  set: string[];
}

/**
 * `ntk kernel FILE --tiles B …`: one tile (`--tile i,j`), all tiles here into `--out`, or a
 * plan (`--plan`, `--slurm`). `overrides`, `seed`: the parsed --set and --seed.
 */
export function kernelTiles(file: string, o: KernelOutCli, overrides: Map<string, number>, seed: number): void {
  const B = positiveInt('--tiles', o.tiles)!;
  if (!o.out || !o.out.endsWith('.npy')) throw new UsageError(`--tiles needs --out FILE.npy: where ${o.tile ? 'the tile' : 'the kernel'} goes`);
  if (o.plan || o.slurm) {
    if (o.tile) throw new UsageError('--tile computes one tile here: not with --plan or --slurm, which plan all of them');
    const path = o.plan ?? o.out.replace(/\.npy$/, '') + '.plan.json';
    return planAndMaybeSubmit(planKernelTiles(path, file, { tiles: B, out: o.out, seed, overrides: Object.fromEntries(overrides) }), o);
  }
  checkOutputPath(o.out, '--out');
  const m = loadModel(file, { overrides, seed });
  const ev = new Evaluator(m);
  const k = ev.k;
  if (B > k) throw new UsageError(`--tiles ${B}: the model has ${k} outputs; at most ${k} tiles`);
  const t0 = performance.now();
  if (o.tile) {
    const match = /^(\d+),(\d+)$/.exec(o.tile);
    if (!match) throw new UsageError(`--tile ${o.tile}: expected i,j (0-based, i ≤ j < ${B})`);
    const i = Number(match[1]), j = Number(match[2]);
    if (i >= B || j >= B) throw new UsageError(`--tile ${o.tile}: index out of range 0..${B - 1} of --tiles ${B}`);
    if (i > j) throw new UsageError(`--tile ${o.tile}: below the diagonal; K is symmetric: compute --tile ${j},${i} (its transpose)`);
    const t = kernelTile(ev, m.w0, B, i, j);
    const shape = [t.rows[1] - t.rows[0], t.cols[1] - t.cols[0]];
    writeNpy(o.out, shape, t.data);
    const seconds = (performance.now() - t0) / 1000;
    if (o.json) return out(JSON.stringify({ out: o.out, tile: [i, j], rows: t.rows, cols: t.cols, shape, seconds }));
    return out(table([['tile', `${i},${j} of ${B}×${B}: rows ${t.rows[0]}..${t.rows[1] - 1}, columns ${t.cols[0]}..${t.cols[1] - 1} of K (${k}×${k})`], ['written', `${o.out} (${shape.join(' × ')})`], ['time', `${seconds.toFixed(2)} s`]]));
  }
  const bar = progress('tiles', !o.json);
  const r = writeKernelTiles(ev, m.w0, B, o.out, { onProgress: bar.update });
  bar.done();
  const seconds = (performance.now() - t0) / 1000;
  if (o.json) return out(JSON.stringify({ out: o.out, shape: r.shape, tiles: r.tiles, seconds }));
  out(table([['kernel', `K (${k}×${k}) in ${B}×${B} tiles (${r.tiles} computed, the rest by symmetry)`], ['written', o.out], ['time', `${seconds.toFixed(2)} s`]]));
}

function formatStatus(s: PlanStatus, plan: Plan): string {
  const c = s.counts;
  const lines = [`${s.plan} (${plan.tasks.length} tasks): ${c.done} done, ${c.running} running, ${c.pending} pending, ${c.failed} failed, ${c.missing} missing`];
  for (const t of s.tasks) {
    if (t.state === 'done') continue;
    lines.push(`  task ${t.index}: ${t.state}${t.detail ? ` (${t.detail})` : ''}`);
    if ((t.state === 'failed' || t.state === 'missing') && t.logTail) lines.push(`    ${t.log}:`, ...t.logTail.split('\n').map((l) => `    | ${l}`));
  }
  const redo = s.tasks.filter((t) => t.state === 'failed' || t.state === 'missing');
  if (redo.length) {
    const verb = plan.kind === 'sweep' ? 'sweep' : 'kernel';
    lines.push(`redo: ntk ${verb} submit ${plan.path} --only-missing   (on Slurm), or here: ${redoCommand(plan, redo[0]!.index)}${redo.length > 1 ? ' …' : ''}`);
  } else if (c.done === plan.tasks.length) lines.push(`all done: ntk ${plan.kind === 'sweep' ? 'sweep' : 'kernel'} merge ${plan.path}`);
  return lines.join('\n');
}

/** `ntk sweep|kernel run|merge|status|submit PLAN …`. */
export function buildPlanProgram(): Command {
  const program = new Command('ntk').exitOverride().configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const verb of ['sweep', 'kernel']) {
    const group = program.command(verb).description(`the tasks of a ${verb === 'sweep' ? 'sweep' : 'tiled kernel'}'s plan`);
    group
      .command('run')
      .argument('<plan>')
      .description('run one task of the plan (skipped when its shard is complete)')
      .option('--index <I>', 'the task (default: $SLURM_ARRAY_TASK_ID, else $JOB_COMPLETION_INDEX)')
      .option('--json', 'print one JSON object')
      .action((path: string, o: { index?: string; json?: boolean }) => {
        const plan = readPlan(path);
        let index = o.index === undefined ? indexFromEnv() : Number(o.index);
        if (index === null) throw new UsageError('which task? give --index I, or run as a Slurm array task ($SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job ($JOB_COMPLETION_INDEX)');
        if (!Number.isInteger(index) || index < 0) throw new UsageError(`--index ${o.index}: expected an integer ≥ 0`);
        capNativeThreads(Math.max(1, Number(process.env.SLURM_CPUS_PER_TASK ?? 1) || 1)); // as the local sweep's workers: one BLAS thread
        const bar = progress(`task ${index}`, !o.json);
        const r = runTask(plan, index, { onProgress: bar.update });
        bar.done();
        index = r.index;
        if (o.json) return out(JSON.stringify(r));
        out(r.status === 'skipped' ? `task ${index}: already done (${r.shard})` : `task ${index}: done in ${r.seconds.toFixed(2)} s → ${r.shard}`);
      });
    group
      .command('merge')
      .argument('<plan>')
      .description('merge the shards into the output (refuses, listing them, while shards are missing)')
      .option('--out <file>', "another output than the plan's")
      .option('--json', 'print one JSON object')
      .action((path: string, o: { out?: string; json?: boolean }) => {
        const r = mergePlan(readPlan(path), o.out ? { out: o.out } : {});
        if (o.json) return out(JSON.stringify(r));
        out(`merged ${r.tasks} shards → ${r.out}${r.rows !== undefined ? ` (${r.rows} rows)` : ` (${r.shape!.join(' × ')})`}`);
      });
    group
      .command('status')
      .argument('<plan>')
      .description('done, running, pending, failed (with the tail of its log) and missing tasks')
      .option('--json', 'print one JSON object')
      .action((path: string, o: { json?: boolean }) => {
        const plan = readPlan(path, { checkModel: false });
        const s = planStatus(plan, queuedTasks(plan));
        if (o.json) return out(JSON.stringify({ ...s, submissions: submissions(plan) }));
        out(formatStatus(s, plan));
      });
    slurmOptions(group.command('submit').argument('<plan>').description('submit the plan to Slurm: an array job and a merge job after it'))
      .option('--json', 'print one JSON object')
      .action((path: string, o: SlurmCli & { json?: boolean }) => {
        const plan = readPlan(path);
        planAndMaybeSubmit(plan, { ...o, slurm: true, onlyMissing: o.onlyMissing === true }, true);
      });
  }
  for (const c of program.commands) {
    c.exitOverride().configureOutput({ writeErr: (s) => process.stderr.write(s) });
    for (const d of c.commands) d.exitOverride().configureOutput({ writeErr: (s) => process.stderr.write(s) });
  }
  return program;
}

export { ClusterError };

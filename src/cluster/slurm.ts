/**
 * A plan (`cluster/plan.ts`) on Slurm: one array job whose task I runs task I of the plan
 * (`ntk … run PLAN`, the index from $SLURM_ARRAY_TASK_ID), and a merge job that starts when
 * every task of the array succeeded (`--dependency=afterok:<array job>`), both submitted with
 * `sbatch --parsable`. No scheduler of our own: Slurm retries, limits (`%K` running at once),
 * accounts and cancels; a task that is cancelled or fails is submitted again alone with
 * `onlyMissing` (its merge job, whose dependency can no longer be met, is removed by Slurm:
 * `--kill-on-invalid-dep=yes`).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { writeFileAtomic } from '../io/atomic.ts';
import { ClusterError, compressIndices, logPath, planStatus, shardDir, shellQuote, type Plan } from './plan.ts';

/** What the jobs ask of Slurm (passed through to `#SBATCH` lines) and how to run ntk there. */
export interface SlurmOptions {
  partition?: string;
  /** Time limit per task, Slurm's syntax (e.g. `1:00:00`). */
  time?: string;
  /** Memory per task, Slurm's syntax (e.g. `4G`). */
  mem?: string;
  cpusPerTask?: number;
  /** At most this many tasks at once (`--array=…%K`). */
  maxRunning?: number;
  /** The command words that run ntk on the nodes (default: `ntk`). */
  command?: string[];
}

/** The two batch scripts and the array's index list. */
export interface SlurmScripts {
  array: string;
  merge: string;
  /** `--array` value: `0-N`, or the indices to redo, with `%K` when limited. */
  arraySpec: string;
  arrayPath: string;
  mergePath: string;
}

const planName = (plan: Plan) => nodePath.basename(plan.path).replace(/\.json$/, '');
const verb = (plan: Plan) => (plan.kind === 'sweep' ? 'sweep' : 'kernel');

/**
 * The array script (task I of the plan for I in `indices`, default all) and the merge script.
 * Logs go to DIR/logs/NAME-%a.out (appended to, so that a retry keeps the earlier attempt).
 * @example slurmScripts(plan, { time: '1:00:00', maxRunning: 8 }).array
 */
export function slurmScripts(plan: Plan, o: SlurmOptions = {}, indices: number[] = plan.tasks.map((t) => t.index)): SlurmScripts {
  if (indices.length === 0) throw new ClusterError('no task to submit');
  const dir = nodePath.dirname(plan.path), name = planName(plan);
  const cmd = (o.command ?? ['ntk']).map(shellQuote).join(' ');
  const all = indices.length === plan.tasks.length && indices.every((x, i) => x === i);
  const arraySpec = (all ? `0-${plan.tasks.length - 1}` : compressIndices(indices)) + (o.maxRunning ? `%${o.maxRunning}` : '');
  const resources = [
    ...(o.partition ? [`#SBATCH --partition=${o.partition}`] : []),
    ...(o.time ? [`#SBATCH --time=${o.time}`] : []),
    ...(o.mem ? [`#SBATCH --mem=${o.mem}`] : []),
  ];
  const header = (job: string, out: string, more: string[]) =>
    ['#!/bin/bash', `#SBATCH --job-name=${job}`, ...more, `#SBATCH --output=${out}`, '#SBATCH --open-mode=append', ...resources];
  const array = [
    ...header(`ntk-${name}`, logPath(plan, '%a'), [`#SBATCH --array=${arraySpec}`]),
    ...(o.cpusPerTask ? [`#SBATCH --cpus-per-task=${o.cpusPerTask}`] : []),
    `# Task $SLURM_ARRAY_TASK_ID of the plan ${plan.path} (id ${plan.id}, ${plan.tasks.length} tasks): it writes`,
    `# its shard in ${shardDir(plan)}, or skips itself when the shard is already complete.`,
    'export OPENBLAS_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}',
    `echo "ntk: task $SLURM_ARRAY_TASK_ID of ${name} on $(hostname) at $(date -u +%FT%TZ)"`,
    `exec ${cmd} ${verb(plan)} run ${shellQuote(plan.path)}`,
    '',
  ].join('\n');
  const merge = [
    ...header(`ntk-${name}-merge`, logPath(plan, 'merge'), ['#SBATCH --kill-on-invalid-dep=yes']),
    `# Runs once every task of the array succeeded (submitted with --dependency=afterok:<array job>).`,
    `exec ${cmd} ${verb(plan)} merge ${shellQuote(plan.path)}`,
    '',
  ].join('\n');
  return { array, merge, arraySpec, arrayPath: nodePath.join(dir, `${name}.array.sbatch`), mergePath: nodePath.join(dir, `${name}.merge.sbatch`) };
}

/**
 * The full path of an executable file on the PATH (the first directory that has it), or null.
 * @example which('sbatch') // '/usr/bin/sbatch', or null without Slurm
 */
export function which(name: string, path = process.env.PATH ?? ''): string | null {
  for (const d of path.split(nodePath.delimiter)) {
    if (!d) continue;
    const f = nodePath.join(d, name);
    try {
      fs.accessSync(f, fs.constants.X_OK);
      if (fs.statSync(f).isFile()) return f;
    } catch {
      /* not here */
    }
  }
  return null;
}

/** What `submitPlan` submitted (or, in a dry run, would submit): indices, job ids, scripts, commands. */
export interface SubmitOutcome {
  /** The indices submitted (empty: every task is done or queued; nothing was submitted). */
  indices: number[];
  arrayJob: string | null;
  mergeJob: string | null;
  scripts: SlurmScripts | null;
  /** The sbatch command lines, in order (with `<array job>` for the id not known yet in a dry run). */
  commands: string[];
}

interface Submission {
  arrayJob: string;
  mergeJob: string;
  indices: number[];
  time: string;
}

const submissionsPath = (plan: Plan) => nodePath.join(shardDir(plan), 'submissions.json');

function readSubmissions(plan: Plan): Submission[] {
  try {
    const s = JSON.parse(fs.readFileSync(submissionsPath(plan), 'utf8')) as { plan: string; submissions: Submission[] };
    return s.plan === plan.id ? s.submissions : [];
  } catch {
    return [];
  }
}

/** Run `sbatch --parsable ARGS…`; the job id (before any `;cluster`). */
function sbatch(exe: string, args: string[]): string {
  const r = spawnSync(exe, ['--parsable', ...args], { encoding: 'utf8' });
  if (r.error) throw new ClusterError(`cannot run ${exe}: ${r.error.message}`);
  if (r.status !== 0) throw new ClusterError(`sbatch ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim()}`);
  const id = r.stdout.trim().split(';')[0]!;
  if (!/^\d+$/.test(id)) throw new ClusterError(`sbatch printed '${r.stdout.trim()}', not a job id`);
  return id;
}

/**
 * Submit the plan: the array job (all tasks, or with `onlyMissing` the failed and missing
 * ones — never those done, running or pending), then the merge job after it. With `dryRun`,
 * nothing is written or submitted: the scripts and commands are returned to be printed.
 * Refuses (ClusterError, exit 1) when sbatch is not on the PATH.
 * @example submitPlan(readPlan('sweep.json'), { time: '10:00', onlyMissing: true })
 */
export function submitPlan(plan: Plan, o: SlurmOptions & { onlyMissing?: boolean; dryRun?: boolean } = {}): SubmitOutcome {
  let indices = plan.tasks.map((t) => t.index);
  if (o.onlyMissing) {
    const st = planStatus(plan, o.dryRun ? new Map() : queuedTasks(plan));
    indices = st.tasks.filter((t) => t.state === 'failed' || t.state === 'missing').map((t) => t.index);
    if (indices.length === 0) return { indices, arrayJob: null, mergeJob: null, scripts: null, commands: [] };
  }
  const scripts = slurmScripts(plan, o, indices);
  const commands = [`sbatch --parsable ${shellQuote(scripts.arrayPath)}`, `sbatch --parsable --dependency=afterok:<array job> ${shellQuote(scripts.mergePath)}`];
  if (o.dryRun) return { indices, arrayJob: null, mergeJob: null, scripts, commands };
  const exe = which('sbatch');
  if (!exe)
    throw new ClusterError(`--slurm needs Slurm's sbatch, which is not on the PATH (${process.env.PATH ?? ''}); on a machine without Slurm use --dry-run to see the scripts, or run the tasks with '${verb(plan)} run ${plan.path} --index I'`);
  fs.mkdirSync(nodePath.dirname(logPath(plan, 0)), { recursive: true }); // Slurm does not create it
  fs.mkdirSync(shardDir(plan), { recursive: true });
  writeFileAtomic(scripts.arrayPath, scripts.array);
  writeFileAtomic(scripts.mergePath, scripts.merge);
  const arrayJob = sbatch(exe, [scripts.arrayPath]);
  const mergeJob = sbatch(exe, [`--dependency=afterok:${arrayJob}`, scripts.mergePath]);
  const subs = [...readSubmissions(plan), { arrayJob, mergeJob, indices, time: new Date().toISOString() }];
  writeFileAtomic(submissionsPath(plan), JSON.stringify({ plan: plan.id, submissions: subs }, null, 1) + '\n');
  return { indices, arrayJob, mergeJob, scripts, commands: [`sbatch --parsable ${shellQuote(scripts.arrayPath)}`, `sbatch --parsable --dependency=afterok:${arrayJob} ${shellQuote(scripts.mergePath)}`] };
}

/**
 * The Slurm states of the plan's array tasks still in the queue (index → state, e.g. RUNNING,
 * PENDING), from `squeue` for the jobs this plan submitted; empty without squeue.
 * @example queuedTasks(readPlan('sweep.json')).get(3) // 'RUNNING'
 */
export function queuedTasks(plan: Plan): Map<number, string> {
  const out = new Map<number, string>();
  const subs = readSubmissions(plan);
  const exe = which('squeue');
  if (!exe || subs.length === 0) return out;
  const r = spawnSync(exe, ['-h', '-r', '-j', subs.map((s) => s.arrayJob).join(','), '-o', '%i %T'], { encoding: 'utf8' });
  if (r.status !== 0 || r.error) return out;
  for (const line of r.stdout.split('\n')) {
    const m = /^(\d+)_(\d+)\s+(\S+)/.exec(line.trim());
    if (m) out.set(Number(m[2]), m[3]!);
  }
  return out;
}

/**
 * The jobs submitted for this plan (array and merge job ids, indices), oldest first.
 * @example submissions(readPlan('sweep.json')).at(-1)?.arrayJob // '4242'
 */
export function submissions(plan: Plan): Submission[] {
  return readSubmissions(plan);
}

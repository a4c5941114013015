/**
 * Plans, tasks, shards and merges (cluster/plan.ts, cluster/slurm.ts) without a cluster: the
 * tasks run here, one by one, as Slurm or a Kubernetes Indexed Job would run them. The real
 * Slurm is in slurm.test.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ntk } from '../cli/run-cli.ts';
import { indexFromEnv, mergePlan, planKernelTiles, planStatus, planSweep, readPlan, runTask, writePlan } from '../../src/cluster/plan.ts';
import { slurmScripts } from '../../src/cluster/slurm.ts';
import { loadArray } from '../../src/io/data.ts';
import { loadModel } from '../../src/ir/load.ts';
import { Evaluator } from '../../src/evaluator/evaluator.ts';
import { writeKernelTiles } from '../../src/nth/tiles.ts';

/** A switch that makes every fs.writeSync fail as on a full disk (ENOSPC). */
const disk = vi.hoisted(() => ({ full: false }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const writeSync = ((...args: Parameters<typeof fs.writeSync>) => {
    if (disk.full) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    return (fs.writeSync as (...a: unknown[]) => number)(...args);
  }) as typeof fs.writeSync;
  return { ...fs, default: { ...fs, writeSync }, writeSync };
});

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-plan-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let dir: string;
let n = 0;
beforeEach(() => {
  dir = path.join(root, `t${n++}`);
  fs.mkdirSync(dir);
  disk.full = false;
});

const MODEL = path.resolve('examples/meanfield.ntk');
const GRID = ['--alpha', '1,4,16', '--T', '1,10'];
/** A CSV without its last column (seconds: a wall-clock time, different in every run). */
const withoutSeconds = (csv: string) => csv.split('\n').map((l) => l.split(',').slice(0, -1).join(',')).join('\n');
const tmpFiles = (d: string) => fs.readdirSync(d, { recursive: true }).map(String).filter((f) => f.endsWith('.tmp'));

describe('a sweep as a plan of tasks', () => {
  it('plan, run every task, merge: the local sweep\'s file (CSV and JSON), tasks in chunks', async () => {
    const plan = path.join(dir, 'sweep.json');
    let r = await ntk('sweep', MODEL, ...GRID, '--out', path.join(dir, 'merged.csv'), '--plan', plan, '--chunk', '4', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.tasks).toBe(2); // 6 points in chunks of 4
    const p = readPlan(plan);
    expect(p.tasks.map((t) => ('points' in t ? t.points.length : 0))).toEqual([4, 2]);
    expect(p.model.file).toBe(MODEL);
    for (const i of [1, 0]) {
      r = await ntk('sweep', 'run', plan, '--index', String(i));
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`task ${i}: done in`));
    }
    r = await ntk('sweep', 'merge', plan);
    expect(r.stdout).toContain('merged 2 shards');
    const local = path.join(dir, 'local.csv');
    expect((await ntk('sweep', MODEL, ...GRID, '--workers', '1', '--out', local)).code).toBe(0);
    const merged = fs.readFileSync(path.join(dir, 'merged.csv'), 'utf8');
    expect(merged.split('\n')[0]).toBe(fs.readFileSync(local, 'utf8').split('\n')[0]); // the same fingerprint
    expect(withoutSeconds(merged)).toBe(withoutSeconds(fs.readFileSync(local, 'utf8')));
    // the JSON form, through --out of the merge
    r = await ntk('sweep', 'merge', plan, '--out', path.join(dir, 'merged.json'));
    expect(r.code).toBe(0);
    const localJson = path.join(dir, 'local.json');
    await ntk('sweep', MODEL, ...GRID, '--workers', '1', '--out', localJson);
    const a = JSON.parse(fs.readFileSync(path.join(dir, 'merged.json'), 'utf8')), b = JSON.parse(fs.readFileSync(localJson, 'utf8'));
    for (const x of [a, b]) for (const row of x.rows) delete row.seconds;
    expect(a).toEqual(b);
    // a local sweep resumes from the merged file: nothing left to compute
    r = await ntk('sweep', MODEL, ...GRID, '--workers', '1', '--out', path.join(dir, 'merged.csv'));
    expect(r.stderr).toContain('resumed: 6 points');
  });

  it('a task whose shard is complete skips itself; the index comes from Slurm or Kubernetes', async () => {
    const plan = path.join(dir, 'p.json');
    await ntk('sweep', MODEL, '--alpha', '1,2', '--T', '1', '--out', path.join(dir, 'r.csv'), '--plan', plan);
    const p = readPlan(plan);
    expect(runTask(p, 1).status).toBe('done');
    const shard = path.join(dir, 'p.shards', '1.json');
    const before = fs.readFileSync(shard, 'utf8');
    const r = await ntk('sweep', 'run', plan, '--index', '1');
    expect(r.stdout).toContain('task 1: already done');
    expect(fs.readFileSync(shard, 'utf8')).toBe(before);
    expect(indexFromEnv({ SLURM_ARRAY_TASK_ID: '7' })).toBe(7);
    expect(indexFromEnv({ JOB_COMPLETION_INDEX: '3' })).toBe(3);
    expect(indexFromEnv({})).toBeNull();
    expect(() => indexFromEnv({ SLURM_ARRAY_TASK_ID: 'x' })).toThrow(/not a task index/);
    vi.stubEnv('SLURM_ARRAY_TASK_ID', '0');
    try {
      expect((await ntk('sweep', 'run', plan)).stdout).toContain('task 0: done');
    } finally {
      vi.unstubAllEnvs();
    }
    const none = await ntk('sweep', 'run', plan);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('give --index I');
  });

  it('bad input: index out of range, a changed model, a shard of another plan, missing shards (exit 1)', async () => {
    const model = path.join(dir, 'm.ntk');
    fs.copyFileSync(MODEL, model);
    for (const f of ['X.npy', 'y.npy', 'a.npy']) fs.copyFileSync(path.join('examples', f), path.join(dir, f));
    const plan = path.join(dir, 'p.json');
    await ntk('sweep', model, '--alpha', '1,2', '--T', '1', '--out', path.join(dir, 'r.csv'), '--plan', plan);
    let r = await ntk('sweep', 'run', plan, '--index', '2');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ntk: error: task index 2 is out of range: the plan '${plan}' has 2 tasks (0..1)\n`);
    // merge before the tasks ran: the missing shards and the commands that redo them
    r = await ntk('sweep', 'merge', plan);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('2 of 2 shards are missing or incomplete (tasks 0-1)');
    expect(r.stderr).toContain(`ntk sweep run ${plan} --index 1`);
    expect(r.stderr).toContain('--only-missing');
    expect(fs.existsSync(path.join(dir, 'r.csv'))).toBe(false);
    expect((await ntk('sweep', 'run', plan, '--index', '0')).code).toBe(0);
    // another plan at the same path (other grid) finds the first plan's shard: refused
    await ntk('sweep', model, '--alpha', '1,3', '--T', '1', '--out', path.join(dir, 'r.csv'), '--plan', plan);
    r = await ntk('sweep', 'run', plan, '--index', '0');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the shard '.*p\.shards\/0\.json' was written by another plan/);
    r = await ntk('sweep', 'merge', plan);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('written by another plan');
    // the model file changes after planning
    fs.rmSync(path.join(dir, 'p.shards'), { recursive: true });
    fs.appendFileSync(model, '\n# edited\n');
    r = await ntk('sweep', 'run', plan, '--index', '0');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the model file '.*m\.ntk' changed since planning \(sha256 [0-9a-f]{12}… then, [0-9a-f]{12}… now\)/);
    // an edited plan
    fs.writeFileSync(plan, fs.readFileSync(plan, 'utf8').replace('"alphas": [\n   1,\n   3', '"alphas": [\n   1,\n   5'));
    r = await ntk('sweep', 'status', plan);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('was edited after planning');
    r = await ntk('sweep', 'run', path.join(dir, 'none.json'), '--index', '0');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no such file');
  });

  it('a full disk while writing a shard: no shard, nothing merged, the task redone', async () => {
    const plan = path.join(dir, 'p.json');
    await ntk('sweep', MODEL, '--alpha', '1,2', '--T', '1', '--out', path.join(dir, 'r.csv'), '--plan', plan);
    const p = readPlan(plan);
    runTask(p, 0);
    // the disk fills up once the task's points are computed, as it writes its shard
    expect(() => runTask(p, 1, { onProgress: (done, total) => void (disk.full = done === total) })).toThrow(/cannot write '.*1\.json': no space left on device/);
    disk.full = false;
    expect(fs.existsSync(path.join(dir, 'p.shards', '1.json'))).toBe(false);
    expect(tmpFiles(dir)).toEqual([]);
    const st = planStatus(p);
    expect(st.counts).toMatchObject({ done: 1, missing: 1 });
    expect(st.tasks[1]!.detail).toMatch(/^started on .* no shard: cancelled or killed$/);
    expect(() => mergePlan(p)).toThrow(/1 of 2 shards are missing or incomplete \(task 1\)/);
    expect(fs.existsSync(path.join(dir, 'r.csv'))).toBe(false);
    expect(runTask(p, 1).status).toBe('done');
    expect(mergePlan(p).rows).toBe(2);
  });

  it('status: done, failed with its error and log tail, missing; a failed task is redone', async () => {
    const plan = path.join(dir, 'p.json');
    await ntk('sweep', MODEL, '--alpha', '1,2,3', '--T', '1', '--out', path.join(dir, 'r.csv'), '--plan', plan);
    const p = readPlan(plan);
    runTask(p, 0);
    // task 1 fails: its shard directory entry is a directory, so the shard cannot be written
    fs.mkdirSync(path.join(dir, 'p.shards', '1.json'));
    fs.mkdirSync(path.join(dir, 'logs'));
    fs.writeFileSync(path.join(dir, 'logs', 'p-1.out'), 'ntk: task 1 of p on node7\nntk: error: something went wrong\n');
    const r1 = await ntk('sweep', 'run', plan, '--index', '1');
    expect(r1.code).toBe(1);
    const r = await ntk('sweep', 'status', plan);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('(3 tasks): 1 done, 0 running, 0 pending, 1 failed, 1 missing');
    expect(r.stdout).toMatch(/task 1: failed \(cannot write '.*1\.json': it is a directory\)/);
    expect(r.stdout).toContain('| ntk: error: something went wrong');
    expect(r.stdout).toContain('task 2: missing (not run)');
    expect(r.stdout).toContain('--only-missing');
    const j = JSON.parse((await ntk('sweep', 'status', plan, '--json')).stdout);
    expect(j.tasks.map((t: { state: string }) => t.state)).toEqual(['done', 'failed', 'missing']);
    fs.rmdirSync(path.join(dir, 'p.shards', '1.json'));
    runTask(p, 1);
    runTask(p, 2);
    expect(fs.existsSync(path.join(dir, 'p.shards', '1.failed.json'))).toBe(false);
    expect((await ntk('sweep', 'status', plan)).stdout).toContain('all done');
  });
});

describe('submission to Slurm, without Slurm', () => {
  it('--dry-run prints the array script (options passed through) and the merge script after it', async () => {
    const r = await ntk('sweep', MODEL, ...GRID, '--out', path.join(dir, 'r.csv'), '--slurm', '--dry-run', '--partition', 'short', '--time', '0:10:00', '--mem', '2G', '--cpus-per-task', '2', '--max-running', '3');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const plan = path.join(dir, 'r.plan.json');
    expect(r.stdout).toContain(`# ${path.join(dir, 'r.plan.array.sbatch')}\n#!/bin/bash\n#SBATCH --job-name=ntk-r.plan\n#SBATCH --array=0-5%3\n#SBATCH --output=${dir}/logs/r.plan-%a.out`);
    for (const line of ['#SBATCH --partition=short', '#SBATCH --time=0:10:00', '#SBATCH --mem=2G', '#SBATCH --cpus-per-task=2', `sweep run ${plan}\n`, `sweep merge ${plan}\n`, '#SBATCH --kill-on-invalid-dep=yes'])
      expect(r.stdout).toContain(line);
    expect(r.stdout).toContain(`#   sbatch --parsable --dependency=afterok:<array job> ${path.join(dir, 'r.plan.merge.sbatch')}`);
    expect(fs.existsSync(path.join(dir, 'r.plan.array.sbatch'))).toBe(false); // a dry run submits and writes no script
    // only the missing tasks: 0 and 3 done
    const p = readPlan(plan);
    runTask(p, 0);
    runTask(p, 3);
    const again = await ntk('sweep', 'submit', plan, '--dry-run', '--only-missing');
    expect(again.stdout).toContain('#SBATCH --array=1-2,4-5\n');
    expect(slurmScripts(p, {}, [5]).arraySpec).toBe('5');
  });

  it('--slurm without sbatch on the PATH: a clear message, exit 1', async () => {
    vi.stubEnv('PATH', path.join(dir, 'empty'));
    try {
      const r = await ntk('sweep', MODEL, ...GRID, '--out', path.join(dir, 'r.csv'), '--slurm');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^ntk: error: --slurm needs Slurm's sbatch, which is not on the PATH .*use --dry-run to see the scripts/);
      const k = await ntk('kernel', 'examples/mlp-tanh.ntk', '--tiles', '2', '--out', path.join(dir, 'K.npy'), '--slurm');
      expect(k.code).toBe(1);
      expect(k.stderr).toContain("--slurm needs Slurm's sbatch");
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('usage: a cluster sweep needs --out; --tile needs --tiles; tiles need a .npy', async () => {
    expect((await ntk('sweep', MODEL, ...GRID, '--plan', path.join(dir, 'p.json'))).stderr).toContain('needs --out results.csv');
    expect((await ntk('kernel', 'examples/mlp-tanh.ntk', '--tile', '0,1', '--out', 'x.npy')).stderr).toContain('--tile needs --tiles B');
    expect((await ntk('kernel', 'examples/mlp-tanh.ntk', '--tiles', '2', '--out', 'x.csv')).code).toBe(2);
    expect((await ntk('kernel', 'examples/mlp-tanh.ntk', '--tiles', '2', '--tile', '1,0', '--out', path.join(dir, 'x.npy'))).stderr).toContain('compute --tile 0,1');
    expect((await ntk('kernel', 'examples/mlp-tanh.ntk', '--tiles', '2', '--tile', '0,2', '--out', path.join(dir, 'x.npy'))).stderr).toContain('out of range 0..1');
  });
});

describe('the NTK in tiles', () => {
  const file = 'examples/mlp-tanh.ntk';
  const set = ['--set', 'n=13', '--set', 'm=8'];

  it('kernel --out K.npy writes the kernel that --json prints', async () => {
    const out = path.join(dir, 'K.npy');
    const r = await ntk('kernel', file, ...set, '--out', out);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`written      ${out} (13 × 13, float64)`);
    const j = JSON.parse((await ntk('kernel', file, ...set, '--json')).stdout);
    expect(Array.from(loadArray(out).data)).toEqual(j.K.flat());
    // .npy, .csv and .json are written (test/cli/out-cli.test.ts); another extension is a usage error
    expect((await ntk('kernel', file, ...set, '--out', path.join(dir, 'K.txt'))).code).toBe(2);
  });

  it('plan, run each tile, merge: bit for bit the tiles computed and merged here; close to the whole kernel', async () => {
    const plan = path.join(dir, 'K.plan.json');
    const out = path.join(dir, 'K.npy');
    let r = await ntk('kernel', file, ...set, '--tiles', '3', '--out', out, '--plan', plan);
    expect(r.code).toBe(0);
    expect(readPlan(plan).tasks.length).toBe(6);
    for (let i = 0; i < 6; i++) expect((await ntk('kernel', 'run', plan, '--index', String(i))).code).toBe(0);
    r = await ntk('kernel', 'merge', plan);
    expect(r.stdout).toContain('merged 6 shards');
    const here = path.join(dir, 'here.npy');
    expect((await ntk('kernel', file, ...set, '--tiles', '3', '--out', here)).code).toBe(0);
    expect(fs.readFileSync(out).equals(fs.readFileSync(here))).toBe(true);
    expect((await ntk('kernel', file, ...set, '--out', path.join(dir, 'whole.npy'))).code).toBe(0);
    const whole = loadArray(path.join(dir, 'whole.npy')).data, tiled = loadArray(out).data;
    const scale = whole.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (let i = 0; i < whole.length; i++) expect(Math.abs(tiled[i]! - whole[i]!)).toBeLessThanOrEqual(1e-13 * scale);
  }, 60_000);

  it('one tile by --tile; a tile changed after its shard was written is refused by the merge', async () => {
    const m = loadModel(file, { overrides: new Map([['n', 13], ['m', 8]]) });
    const plan = planKernelTiles(path.join(dir, 'T.json'), file, { tiles: 2, out: path.join(dir, 'T.npy'), overrides: { n: 13, m: 8 } });
    writePlan(plan);
    for (const t of plan.tasks) runTask(plan, t.index);
    mergePlan(plan);
    const ref = path.join(dir, 'ref.npy');
    writeKernelTiles(new Evaluator(m), m.w0, 2, ref);
    expect(fs.readFileSync(path.join(dir, 'T.npy')).equals(fs.readFileSync(ref))).toBe(true);
    const K = loadArray(ref).data;
    const r = await ntk('kernel', file, ...set, '--tiles', '2', '--tile', '0,1', '--out', path.join(dir, 't01.npy'));
    expect(r.code).toBe(0);
    const t01 = loadArray(path.join(dir, 't01.npy'));
    expect(t01.shape).toEqual([6, 7]);
    for (let a = 0; a < 6; a++) for (let b = 0; b < 7; b++) expect(t01.data[a * 7 + b]).toBe(K[a * 13 + 6 + b]);
    // tamper with a tile (same size): the sha256 in its shard no longer matches
    const tile = path.join(dir, 'T.shards', 'K.0.1.npy');
    const bytes = fs.readFileSync(tile);
    bytes[bytes.length - 1] ^= 1;
    fs.writeFileSync(tile, bytes);
    expect(() => mergePlan(plan)).toThrow(/does not match its shard's sha256/);
  });
});

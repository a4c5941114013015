/**
 * Plans on a REAL one-node Slurm: scripts/slurm-up.sh starts munged, slurmctld and slurmd on this
 * machine (Debian's slurm-wlm and munge, which .ci/run installs), the tests submit with
 * `--slurm` and wait for Slurm to run the array and the merge job, and the daemons are stopped
 * by their pids afterwards. Where they cannot start (not root, packages or the built CLI
 * missing, a daemon that fails), the tests are skipped and their name says why — nothing here
 * is simulated.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ntk } from '../cli/run-cli.ts';
import { loadArray } from '../../src/io/data.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-slurm-'));

/** Start the cluster, or say why it cannot be. */
function bringUp(): { ok: true; pids: number[]; conf: string } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'not Linux' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not root (munged and slurmd run as root here)' };
  for (const b of ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scancel', 'scontrol'])
    if (spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0) return { ok: false, reason: `${b} is not installed (apt-get install slurm-wlm munge, as .ci/run does)` };
  if (!fs.existsSync('dist/ntk.cjs')) return { ok: false, reason: 'the CLI is not built (dist/ntk.cjs: npm run build); the tasks run bin/ntk.js' };
  const r = spawnSync('bash', ['scripts/slurm-up.sh', path.join(root, 'slurm')], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) return { ok: false, reason: `the daemons did not start: ${(r.stderr || r.stdout || String(r.error)).trim()}` };
  const pids = /NTK_SLURM_PIDS='([\d ]*)'/.exec(r.stdout)?.[1]?.split(' ').filter(Boolean).map(Number) ?? [];
  const conf = /SLURM_CONF='([^']+)'/.exec(r.stdout)?.[1];
  if (!conf) return { ok: false, reason: `scripts/slurm-up.sh printed no SLURM_CONF: ${r.stdout}` };
  return { ok: true, pids, conf };
}

const cluster = bringUp();
if (cluster.ok) vi.stubEnv('SLURM_CONF', cluster.conf);

/** Whether a process has exited (gone, or a zombie whose parent has not reaped it yet). */
function exited(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

afterAll(async () => {
  if (cluster.ok) {
    for (const pid of [...cluster.pids].reverse()) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone already */
      }
    }
    // the daemons save their state on the way out: wait for them before removing their files
    const end = Date.now() + 20_000;
    while (!cluster.pids.every(exited) && Date.now() < end) await sleep(100);
  }
  vi.unstubAllEnvs();
  fs.rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Slurm's state of a job (COMPLETED, CANCELLED, …), or '' when unknown. */
function jobState(id: string): string {
  const r = spawnSync('scontrol', ['show', 'job', id, '-o'], { encoding: 'utf8' });
  return /JobState=(\S+)/.exec(r.stdout)?.[1] ?? '';
}

/** Wait until every job id has left the queue in a final state; returns their states. */
async function waitJobs(ids: string[], ms = 150_000): Promise<string[]> {
  const end = Date.now() + ms;
  for (;;) {
    const states = ids.map(jobState);
    if (states.every((s) => /^(COMPLETED|FAILED|CANCELLED|TIMEOUT|OUT_OF_MEMORY|NODE_FAIL|DEADLINE)$/.test(s))) return states;
    if (Date.now() > end) throw new Error(`jobs ${ids.join(', ')} still ${states.join(', ')} after ${ms / 1000} s`);
    await sleep(250);
  }
}

/** The array's tasks (array job id, array index) in the queue. */
function arrayTasks(arrayJob: string): string {
  return spawnSync('squeue', ['-h', '-r', '-j', arrayJob, '-o', '%i %T'], { encoding: 'utf8' }).stdout.trim();
}

const withoutSeconds = (csv: string) => csv.split('\n').map((l) => l.split(',').slice(0, -1).join(',')).join('\n');

describe.skipIf(!cluster.ok)(`on a real one-node Slurm${cluster.ok ? '' : ` (skipped: ${cluster.reason})`}`, () => {
  it('a 3 × 3 sweep as an array job and an afterok merge: the local sweep\'s file, bit for bit but the seconds column', async () => {
    const dir = path.join(root, 'sweep');
    fs.mkdirSync(dir);
    const out = path.join(dir, 'r.csv');
    // --no-lip: the subject is the array job and its merge, not the per-point Lipschitz estimate
    const args = ['examples/meanfield.ntk', '--alpha', '1,4,16', '--T', '1,10,100', '--no-lip'];
    const t0 = Date.now();
    const r = await ntk('sweep', ...args, '--out', out, '--slurm', '--time', '0:10:00', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as { arrayJob: string; mergeJob: string; indices: number[] };
    expect(s.indices).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(await waitJobs([s.arrayJob, s.mergeJob])).toEqual(['COMPLETED', 'COMPLETED']);
    const seconds = (Date.now() - t0) / 1000;
    const local = path.join(dir, 'local.csv');
    expect((await ntk('sweep', ...args, '--workers', '1', '--out', local)).code).toBe(0);
    expect(withoutSeconds(fs.readFileSync(out, 'utf8'))).toBe(withoutSeconds(fs.readFileSync(local, 'utf8')));
    // every task logged, and status sees them done
    for (let i = 0; i < 9; i++) expect(fs.readFileSync(path.join(dir, 'logs', `r.plan-${i}.out`), 'utf8')).toContain(`task ${i}: done`);
    expect(fs.readFileSync(path.join(dir, 'logs', 'r.plan-merge.out'), 'utf8')).toContain('merged 9 shards');
    const st = JSON.parse((await ntk('sweep', 'status', path.join(dir, 'r.plan.json'), '--json')).stdout);
    expect(st.counts).toEqual({ done: 9, running: 0, pending: 0, failed: 0, missing: 0 });
    console.log(`slurm: 9-task sweep, submit to merged file: ${seconds.toFixed(1)} s`);
  }, 200_000);

  it('a 2 × 2 tiled kernel; a task cancelled with scancel is resubmitted alone; the merge is still exact', async () => {
    const dir = path.join(root, 'kernel');
    fs.mkdirSync(dir);
    const out = path.join(dir, 'K.npy');
    const model = ['examples/mlp-tanh.ntk', '--set', 'n=64', '--set', 'm=32'];
    // one task at a time, so that the last one is still pending when it is cancelled
    const r = await ntk('kernel', ...model, '--tiles', '2', '--out', out, '--slurm', '--max-running', '1', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as { arrayJob: string; mergeJob: string; indices: number[] };
    expect(s.indices).toEqual([0, 1, 2]);
    expect(spawnSync('scancel', [`${s.arrayJob}_2`]).status).toBe(0);
    // tasks 0 and 1 run; the merge job's dependency can no longer be met, and Slurm removes it
    const end = Date.now() + 150_000;
    while (arrayTasks(s.arrayJob) !== '' && Date.now() < end) await sleep(250);
    expect(arrayTasks(s.arrayJob)).toBe('');
    expect((await waitJobs([s.mergeJob]))[0]).not.toBe('COMPLETED');
    expect(fs.existsSync(out)).toBe(false);
    const plan = path.join(dir, 'K.plan.json');
    const st = JSON.parse((await ntk('kernel', 'status', plan, '--json')).stdout) as { tasks: { state: string }[] };
    expect(st.tasks.map((t) => t.state)).toEqual(['done', 'done', 'missing']);
    // the cancelled task alone, and a new merge after it
    const again = await ntk('kernel', ...model, '--tiles', '2', '--out', out, '--slurm', '--only-missing', '--json');
    expect(again.code).toBe(0);
    const s2 = JSON.parse(again.stdout) as { arrayJob: string; mergeJob: string; indices: number[] };
    expect(s2.indices).toEqual([2]);
    expect(await waitJobs([s2.arrayJob, s2.mergeJob])).toEqual(['COMPLETED', 'COMPLETED']);
    expect(fs.readFileSync(path.join(dir, 'K.plan.array.sbatch'), 'utf8')).toContain('#SBATCH --array=2\n');
    // bit for bit the tiles computed and merged here, and the whole kernel up to rounding
    const here = path.join(dir, 'here.npy');
    expect((await ntk('kernel', ...model, '--tiles', '2', '--out', here)).code).toBe(0);
    expect(fs.readFileSync(out).equals(fs.readFileSync(here))).toBe(true);
    const whole = path.join(dir, 'whole.npy');
    expect((await ntk('kernel', ...model, '--out', whole)).code).toBe(0);
    const a = loadArray(out).data, b = loadArray(whole).data;
    const scale = b.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-13 * scale);
    // nothing left to submit
    const none = await ntk('kernel', 'submit', plan, '--only-missing');
    expect(none.stdout).toContain('nothing to submit');
  }, 300_000);

  it('a failing task: status reports it with the tail of its log', async () => {
    const dir = path.join(root, 'fail');
    fs.mkdirSync(dir);
    const out = path.join(dir, 'r.csv');
    // a model without a loss: the flow of every point fails in the task
    const r = await ntk('sweep', 'examples/mlp-tanh.ntk', '--set', 'n=3', '--alpha', '1', '--T', '1,2', '--out', out, '--slurm', '--json');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as { arrayJob: string; mergeJob: string };
    const end = Date.now() + 150_000;
    while (arrayTasks(s.arrayJob) !== '' && Date.now() < end) await sleep(250);
    const st = await ntk('sweep', 'status', path.join(dir, 'r.plan.json'));
    expect(st.stdout).toContain('0 done, 0 running, 0 pending, 2 failed, 0 missing');
    expect(st.stdout).toContain('task 1: failed (the flow needs a loss');
    expect(st.stdout).toMatch(/\| ntk: error: the flow needs a loss/);
    expect(fs.existsSync(out)).toBe(false);
  }, 200_000);
});

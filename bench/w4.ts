/**
 * W4 of issue 20, `npm run bench -- --w4`: the NTK of a 2-hidden-layer tanh MLP (Huang–Yau
 * parametrization, d = 32, m = 1024: 1.08M parameters) on n = 4096 inputs, 4096 × 4096 (134 MB),
 * as whole processes side by side: `ntk kernel w4.ntk --order 2 --out K.npy` against the same
 * kernel written by hand for this one architecture (bench/w4_torch.py: per layer
 * (δδᵀ)∘(xxᵀ) by full GEMMs in PyTorch, or NumPy where torch does not import), on ntk's own
 * weights and data, K written to `.npy` by both. Wall time and peak RSS (/usr/bin/time -f %M) of
 * each, runs interleaved (NTK_W4_RUNS, default 3; medians), and the largest difference between
 * the two kernels relative to max |K|. The issue's goal: ntk ≤ 0.8 × the PyTorch process, RSS ≤ 600 MB.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadModel, writeNpy } from '../src/index.ts';
import { parseNpy } from '../src/io/data.ts';

/** The W4 model (n, d, m overridable for trials: NTK_W4_N, NTK_W4_M). */
export function w4Source(n = Number(process.env.NTK_W4_N ?? 4096), m = Number(process.env.NTK_W4_M ?? 1024), d = 32): string {
  return `# W4 of issue 20: a 2-hidden-layer tanh MLP (Huang–Yau parametrization)
dim n = ${n}, d = ${d}, m = ${m}
data X : [n, d] = normal(0, 1, seed = 1)
param W1 : [m, d] ~ normal(0, 1)
param W2 : [m, m] ~ normal(0, 1)
param a : [m] ~ normal(0, 1)
def f(x : [d]) {
  let z1 = tanh(W1 @ x) / sqrt(m)
  let z2 = tanh(W2 @ z1) / sqrt(m)
  return dot(a, z2)
}
model h = f(X)
`;
}

interface W4Row {
  workload: string;
  ms: number;
  gflops: number | null;
  note: string;
}

/** A python that imports torch (Debian's python3-torch is for /usr/bin/python3), else the first with numpy. */
function pickPython(): { exe: string; has: 'torch' | 'numpy' } | null {
  const candidates = [...new Set(['/usr/bin/python3', 'python3'])];
  for (const want of ['torch', 'numpy'] as const)
    for (const exe of candidates) if (spawnSync(exe, ['-c', `import ${want}`], { stdio: 'ignore' }).status === 0) return { exe, has: want };
  return null;
}

/** One whole process: wall ms and peak RSS in MB (null without /usr/bin/time). */
function run(cmd: string[], env: NodeJS.ProcessEnv = process.env): { ms: number; rssMb: number | null; stdout: string } {
  const timer = existsSync('/usr/bin/time');
  const [exe, ...args] = timer ? ['/usr/bin/time', '-f', '%M', ...cmd] : cmd;
  const t0 = performance.now();
  const r = spawnSync(exe!, args, { encoding: 'utf8', maxBuffer: 1 << 26, env });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const rssMb = timer ? Number(r.stderr.trim().split('\n').pop()) / 1024 : null;
  return { ms, rssMb, stdout: r.stdout };
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The W4 rows: ntk's process, the baseline's, and their ratio, RSS and agreement. */
export function w4Bench(): W4Row[] {
  const dir = mkdtempSync(join(tmpdir(), 'ntk-bench-w4-'));
  try {
    const file = join(dir, 'w4.ntk');
    writeFileSync(file, w4Source());
    // ntk's weights and data, for the baseline
    const model = loadModel(file);
    for (const q of model.params) writeNpy(join(dir, `${q.name}.npy`), q.shape, model.w0.subarray(q.offset, q.offset + q.size));
    for (const x of model.data) writeNpy(join(dir, `${x.name}.npy`), x.shape, x.value);
    const k = model.outputShape[0]!;
    const py = pickPython();
    const runs = Number(process.env.NTK_W4_RUNS ?? 3);
    const bin = process.platform === 'win32' ? [process.execPath, 'bin/ntk.js'] : ['bin/ntk.js'];
    const ours: { ms: number; rssMb: number | null }[] = [], theirs: { ms: number; rssMb: number | null }[] = [];
    let structure = '', baseline = 'none', threads: number | null = null;
    for (let i = 0; i < runs; i++) {
      const r = run([...bin, 'kernel', file, '--order', '2', '--out', join(dir, 'K.npy'), '--json']);
      structure = (JSON.parse(r.stdout) as { structure: string }).structure;
      ours.push(r);
      if (py) {
        const b = run([py.exe, 'bench/w4_torch.py', dir, join(dir, 'K_base.npy')]);
        const said = JSON.parse(b.stdout.trim().split('\n').pop()!) as { baseline: string; threads: number | null };
        baseline = said.baseline;
        threads = said.threads;
        theirs.push(b);
      }
    }
    const ms = median(ours.map((r) => r.ms));
    const rss = ours[0]!.rssMb === null ? null : Math.max(...ours.map((r) => r.rssMb!));
    const rows: W4Row[] = [];
    let agree = '';
    if (py) {
      const K = parseNpy(readFileSync(join(dir, 'K.npy')), 'K.npy').data;
      const Kb = parseNpy(readFileSync(join(dir, 'K_base.npy')), 'K_base.npy').data;
      let diff = 0, max = 0;
      for (let i = 0; i < K.length; i++) {
        diff = Math.max(diff, Math.abs(K[i]! - Kb[i]!));
        max = Math.max(max, Math.abs(Kb[i]!));
      }
      agree = `; max |K − K_${baseline}| / max |K| = ${(diff / max).toExponential(1)}`;
      const bms = median(theirs.map((r) => r.ms));
      const brss = theirs[0]!.rssMb === null ? null : Math.max(...theirs.map((r) => r.rssMb!));
      rows.push({ workload: `W4 hand-written ${baseline} (bench/w4_torch.py), whole process`, ms: bms, gflops: null, note: `(δδᵀ)∘(xxᵀ) per layer by full GEMMs, K to .npy${threads === null ? '' : `, ${threads} torch threads`}${brss === null ? '' : `; peak RSS ${brss.toFixed(0)} MB`}; median of ${runs}` });
      const ratio = ms / bms;
      rows.unshift({
        workload: `W4 NTK ${k}×${k}, d=32 m=1024 (p = ${model.paramCount}), ntk kernel --out, whole process`,
        ms,
        gflops: null,
        note: `${ratio.toFixed(2)} × the ${baseline} baseline (goal ≤ 0.8${baseline === 'torch' ? '' : ', against PyTorch'}: ${ratio <= 0.8 ? 'met' : 'not met'})${rss === null ? '' : `; peak RSS ${rss.toFixed(0)} MB (goal ≤ 600: ${rss <= 600 ? 'met' : 'not met'})`}; structure ${structure}${agree}; median of ${runs}`,
      });
    } else {
      rows.push({ workload: `W4 NTK ${k}×${k} (p = ${model.paramCount}), ntk kernel --out, whole process`, ms, gflops: null, note: `no baseline: no python3 with torch or numpy${rss === null ? '' : `; peak RSS ${rss.toFixed(0)} MB`}; structure ${structure}` });
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

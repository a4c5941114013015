/**
 * `ntk flow --max-steps/--max-time` and the progress line (issue 21, items 3 and 6): a flow that
 * cannot finish stops with exit 1 and says where it stood and what to try; progress is written
 * to stderr on a terminal or when NTK_PROGRESS=1 forces it, and never with --json.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ntk } from './run-cli.ts';
import { KINKS } from '../dynamics/kinks-model.ts';

const dir = mkdtempSync(join(tmpdir(), 'ntk-flow-limits-'));
const kinks = join(dir, 'kinks.ntk');
writeFileSync(kinks, KINKS);

afterEach(() => {
  delete process.env.NTK_PROGRESS;
});

describe('ntk flow: limits', () => {
  it('--max-steps: exit 1, where it stood, the kinks it met and what to try; no stack trace', async () => {
    const r = await ntk('flow', kinks, '--alpha', '1', '--T', '1', '--max-steps', '200');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: the flow stopped at t = \S+ of T = 1 \(dop853: \d+ steps, \d+ rejected\): it used its 200 steps \(--max-steps\)/);
    expect(r.stderr).toMatch(/softplus/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
  it('--max-time: exit 1 naming the limit', async () => {
    const r = await ntk('flow', kinks, '--alpha', '1', '--T', '1', '--max-time', '0.05');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/it used its 0\.05 s \(--max-time\)/);
  });
  it('bad limits are usage errors (exit 2) naming the option', async () => {
    for (const [opt, v] of [['--max-steps', '0'], ['--max-steps', '1.5'], ['--max-time', '-1'], ['--max-time', 'nan']]) {
      const r = await ntk('flow', 'examples/converse.ntk', '--T', '1', opt!, v!);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(opt!);
    }
  });
  it('sweep --max-steps reaches each point', async () => {
    const r = await ntk('sweep', kinks, '--alpha', '1', '--T', '1', '--max-steps', '200', '--workers', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/200 steps \(--max-steps\)/);
  });
});

describe('progress', () => {
  it('NTK_PROGRESS=1 forces the flow\'s progress lines (t, h, steps) where stderr is not a terminal', async () => {
    process.env.NTK_PROGRESS = '1';
    const r = await ntk('flow', 'examples/converse.ntk', '--alpha', '10', '--T', 'T', '--lip-dh', 'b');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^flow \[[#.]{30}\] \d+\/1000 {2}t = \S+, h = \S+, \d+ steps \(\d+% rejected\)/m);
  });
  it('--json stays clean: one JSON object on stdout, no progress on stderr', async () => {
    process.env.NTK_PROGRESS = '1';
    const r = await ntk('flow', 'examples/converse.ntk', '--alpha', '10', '--T', 'T', '--lip-dh', 'b', '--json');
    expect(r.code).toBe(0);
    expect(() => JSON.parse(r.stdout)).not.toThrow();
    expect(r.stderr).not.toMatch(/flow \[/);
  });
  it('without a terminal and without NTK_PROGRESS: no progress', async () => {
    const r = await ntk('flow', 'examples/converse.ntk', '--alpha', '10', '--T', 'T', '--lip-dh', 'b');
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/flow \[/);
  });
});

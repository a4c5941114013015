/**
 * Progress bars on a terminal (issue 21, item 6): lip, high-order kernels, limit and predict draw
 * a bar driven by the library's onProgress (or a line saying what they wait for) on stderr when it
 * is a terminal, rewritten in place and erased at the end; nothing with --json, nothing when
 * stderr is not a terminal (unless NTK_PROGRESS=1). In process with stderr marked as a terminal,
 * and once through the built command under script(1), a real pseudo-terminal.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ntk } from './run-cli.ts';

const tty = process.stderr.isTTY;
afterEach(() => {
  Object.defineProperty(process.stderr, 'isTTY', { value: tty, configurable: true });
  delete process.env.NTK_PROGRESS;
});
const asTerminal = () => Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });

// [command, arguments, what the bar or the status line shows]
const cases: [string, string[], RegExp][] = [
  ['lip', ['lip', 'examples/tanh.ntk', '--radius', '0.5'], /\r\x1b\[2Klip \[[#.]{30}\] \d+\/1000 {2}Lip\(Dh\) search/],
  ['kernel --order 3', ['kernel', 'examples/converse.ntk', '--order', '3'], /\r\x1b\[2Kkernel: building the graph of K\^\(3\)/],
  ['limit', ['limit', 'examples/limit-erf.ntk', '--width', 'm'], /\r\x1b\[2Klimit \[[#.]{30}\] \d+\/1000 {2}the recursions, node by node/],
  ['predict', ['predict', 'examples/limit-erf.ntk', '--width', 'm', '--T', 'inf'], /\r\x1b\[2Kpredict \[[#.]{30}\] \d+\/1000 {2}the infinite-width kernels/],
];

describe('progress on a terminal', () => {
  it.each(cases)('%s: a bar (or what it waits for) rewritten in place, erased at the end', async (_name, args, pattern) => {
    asTerminal();
    const r = await ntk(...args);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(pattern);
    // in place: no line of progress is left behind, the last write erases the line
    expect(r.stderr).not.toMatch(/\] \d+\/\d+[^\r]*\n/);
    expect(r.stderr.lastIndexOf('\r\x1b[2K')).toBeGreaterThanOrEqual(0);
    expect(r.stderr.replace(/\r\x1b\[2K[^\r]*/g, '')).not.toMatch(/\[[#.]{30}\]/);
  }, 120000);
  it.each(cases)('%s --json on a terminal: no progress at all, stdout one JSON object', async (_name, args) => {
    asTerminal();
    const r = await ntk(...args, '--json');
    expect(r.code).toBe(0);
    expect(() => JSON.parse(r.stdout)).not.toThrow();
    expect(r.stderr).not.toMatch(/\x1b|\[[#.]{30}\]/);
  }, 120000);
  it.each(cases)('%s with stderr not a terminal (and no NTK_PROGRESS): quiet', async (_name, args) => {
    Object.defineProperty(process.stderr, 'isTTY', { value: false, configurable: true });
    const r = await ntk(...args);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/\x1b|\[[#.]{30}\]|^(lip|kernel|limit|predict):/m);
  }, 120000);
});

const bin = 'dist/ntk.cjs';
const script = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

describe.skipIf(!existsSync(bin) || !script)('through a pseudo-terminal (script(1)) and a pipe, the built command', () => {
  const run = (cmd: string) => spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env: { ...process.env, NTK_PROGRESS: '', NTK_SNAPSHOT: 'off' }, timeout: 120000 });
  it('lip on a terminal draws its bar; the same with --json, or piped, draws none', () => {
    const onTty = run(`${process.execPath} ${bin} lip examples/tanh.ntk --radius 0.5`);
    expect(onTty.stdout).toMatch(/\x1b\[2Klip \[[#.]{30}\] \d+\/1000/);
    expect(onTty.stdout).toMatch(/Lip\(Dh\)/); // the report itself
    const json = run(`${process.execPath} ${bin} lip examples/tanh.ntk --radius 0.5 --json`);
    expect(json.stdout).not.toMatch(/\x1b|\[[#.]{30}\]/);
    expect(() => JSON.parse(json.stdout)).not.toThrow();
    // stderr a pipe (2>&1 into script's output would be a terminal again: here it is captured)
    const piped = spawnSync(process.execPath, [bin, 'lip', 'examples/tanh.ntk', '--radius', '0.5'], { encoding: 'utf8', env: { ...process.env, NTK_PROGRESS: '', NTK_SNAPSHOT: 'off' } });
    expect(piped.status).toBe(0);
    expect(piped.stderr).not.toMatch(/\x1b|\[[#.]{30}\]/);
  }, 240000);
});

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeFileAtomic } from '../../src/io/atomic.ts';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-io-atomic-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function fresh(name: string): string {
  const d = fs.mkdtempSync(path.join(dir, name + '-'));
  return d;
}

describe('writeFileAtomic', () => {
  test('writes strings as UTF-8 and bytes verbatim, leaving no temporary files', () => {
    const d = fresh('basic');
    const p = path.join(d, 'out.txt');
    writeFileAtomic(p, 'héllo\n');
    expect(fs.readFileSync(p, 'utf8')).toBe('héllo\n');
    writeFileAtomic(p, Uint8Array.of(0, 1, 2, 255));
    expect(Array.from(fs.readFileSync(p))).toEqual([0, 1, 2, 255]);
    writeFileAtomic(p, '');
    expect(fs.readFileSync(p, 'utf8')).toBe('');
    expect(fs.readdirSync(d)).toEqual(['out.txt']);
  });

  test('replaces an existing file and keeps its permission bits', () => {
    if (process.platform === 'win32') return;
    const d = fresh('mode');
    const p = path.join(d, 'script.sh');
    fs.writeFileSync(p, 'old');
    fs.chmodSync(p, 0o750);
    writeFileAtomic(p, 'new');
    expect(fs.readFileSync(p, 'utf8')).toBe('new');
    expect(fs.statSync(p).mode & 0o777).toBe(0o750);
    expect(fs.readdirSync(d)).toEqual(['script.sh']);
  });

  test('large content is written completely', () => {
    const d = fresh('large');
    const p = path.join(d, 'big.bin');
    const big = new Uint8Array(5_000_000).map((_, i) => i * 31);
    writeFileAtomic(p, big);
    expect(fs.readFileSync(p).equals(Buffer.from(big))).toBe(true);
  });

  test('a writer failing mid-way leaves the target intact and no temporary file', () => {
    const d = fresh('fail');
    const p = path.join(d, 'keep.json');
    fs.writeFileSync(p, '{"old": true}');
    // the temporary file is created, then writing a non-string/non-bytes value throws
    expect(() => writeFileAtomic(p, 12345 as unknown as string)).toThrow(/^cannot write '.*keep\.json': /);
    expect(() => writeFileAtomic(p, { length: 3 } as unknown as Uint8Array)).toThrow(/^cannot write/);
    expect(fs.readFileSync(p, 'utf8')).toBe('{"old": true}');
    expect(fs.readdirSync(d)).toEqual(['keep.json']);
  });

  test('a failing rename (target is a non-empty directory) cleans up', () => {
    const d = fresh('dir');
    const p = path.join(d, 'target');
    fs.mkdirSync(p);
    fs.writeFileSync(path.join(p, 'inside'), 'x');
    expect(() => writeFileAtomic(p, 'data')).toThrow(`cannot write '${p}': it is a directory`);
    expect(fs.readdirSync(d)).toEqual(['target']);
    expect(fs.readdirSync(p)).toEqual(['inside']);
  });

  test('missing directory', () => {
    const p = path.join(dir, 'nope', 'x.txt');
    let err: unknown;
    try {
      writeFileAtomic(p, 'x');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe(`cannot write '${p}': no such directory`);
    expect(((err as Error).cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });
});

/** The CLI's progress bar: a terminal only, never with --json, and with a delay quiet for short runs. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { progress } from '../../src/cli/format.ts';

describe('progress', () => {
  const tty = process.stderr.isTTY;
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
    Object.defineProperty(process.stderr, 'isTTY', { value: tty, configurable: true });
  });
  const capture = (isTTY: boolean) => {
    Object.defineProperty(process.stderr, 'isTTY', { value: isTTY, configurable: true });
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (written.push(String(s)), true));
    return written;
  };

  it('with a delay (early: 2 s) nothing is shown before it, then the bar, erased at the end', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const written = capture(true);
    const bar = progress('early', true, 2000);
    bar.update(1, 100);
    vi.advanceTimersByTime(1900);
    bar.update(50, 100);
    expect(written).toEqual([]);
    vi.advanceTimersByTime(200);
    bar.update(60, 100);
    expect(written.join('')).toMatch(/early \[#+\.+\] 60\/100/);
    bar.done();
    expect(written.at(-1)).toBe('\r\x1b[2K');
  });

  it('quiet when stderr is not a terminal, or with --json (enabled false)', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const notTty = capture(false);
    const a = progress('early', true, 0);
    vi.advanceTimersByTime(5000);
    a.update(5, 10);
    a.done();
    expect(notTty).toEqual([]);
    const json = capture(true);
    const b = progress('early', false, 0);
    vi.advanceTimersByTime(5000);
    b.update(5, 10);
    b.done();
    expect(json).toEqual([]);
  });
});

/** Formatting for the command line: numbers, arrays, matrices, tables, a progress bar. */
import { formatNumber } from '../index.ts';


/** A number in 6 significant digits (integers as is): the library's `formatNumber`. */
export const num = formatNumber;

/** A vector on one line, elided in the middle past `max` entries. */
export function vector(data: ArrayLike<number>, max = 8): string {
  const n = data.length;
  const items: string[] = [];
  if (n <= max) for (let i = 0; i < n; i++) items.push(num(data[i]!));
  else {
    for (let i = 0; i < max / 2; i++) items.push(num(data[i]!));
    items.push('…');
    for (let i = n - max / 2; i < n; i++) items.push(num(data[i]!));
  }
  return `[${items.join(', ')}]`;
}

/**
 * The columns a string takes on a terminal: its code points less the combining marks (the bar
 * of w̄ or the tilde of h̃ sit on the letter before them), so that such labels still align.
 * @example displayWidth('h̃') // 1
 */
export function displayWidth(s: string): number {
  let n = 0;
  for (const ch of s) if (!COMBINING.test(ch)) n++;
  return n;
}
const COMBINING = /^\p{M}$/u;

/** `s` padded with spaces on the left to `width` terminal columns. */
export function padStart(s: string, width: number): string {
  return ' '.repeat(Math.max(0, width - displayWidth(s))) + s;
}

/** `s` padded with spaces on the right to `width` terminal columns. */
export function padEnd(s: string, width: number): string {
  return s + ' '.repeat(Math.max(0, width - displayWidth(s)));
}

/** A matrix as aligned rows, elided past `max` rows or columns. */
export function matrix(data: ArrayLike<number>, rows: number, cols: number, max = 8): string {
  const pick = (n: number) => (n <= max ? [...Array(n).keys()] : [...[...Array(max / 2).keys()], -1, ...[...Array(max / 2).keys()].map((i) => n - max / 2 + i)]);
  const rs = pick(rows), cs = pick(cols);
  const cells = rs.map((r) => cs.map((c) => (r < 0 ? (c < 0 ? '⋱' : '⋮') : c < 0 ? '…' : num(data[r * cols + c]!))));
  const width = cs.map((_, j) => Math.max(...cells.map((row) => displayWidth(row[j]!))));
  return cells.map((row) => '  ' + row.map((s, j) => padStart(s, width[j]!)).join('  ')).join('\n');
}

/** Two-column "key  value" lines. */
export function table(rows: [string, string][]): string {
  const w = Math.max(...rows.map((r) => displayWidth(r[0])));
  return rows.map(([k, v]) => `  ${padEnd(k, w)}  ${v}`).join('\n');
}

/**
 * A progress bar on stderr, shown only on a terminal (and never with --json); it erases itself
 * when done. Updates at most every 100 ms; with `delayMs`, nothing is shown before that much time
 * has passed since the bar was made (a short run stays quiet).
 */
export function progress(label: string, enabled: boolean, delayMs = 0): { update: (done: number, total: number) => void; done: () => void } {
  const on = enabled && process.stderr.isTTY === true;
  const start = Date.now();
  let last = 0;
  let shown = false;
  return {
    update(done, total) {
      if (!on) return;
      const now = Date.now();
      if (now - start < delayMs) return;
      if (now - last < 100 && done < total) return;
      last = now;
      const width = 30;
      const filled = Math.round((done / total) * width);
      process.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
      shown = true;
    },
    done() {
      if (on && shown) process.stderr.write('\r\x1b[2K');
    },
  };
}

/** Formatting for the command line: numbers, arrays, matrices, tables, a progress bar. */
import { formatNumber, type WrittenFile } from '../index.ts';


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

/** What `progress` returns: a bar to update, a line saying what it waits for, and its end. */
export interface Progress {
  /** done of total, and optionally a note after the bar (e.g. the solver's step size and ETA). */
  update: (done: number, total: number, note?: string) => void;
  /** Say what the run is doing or waiting for, without a count (e.g. 'estimating Lip(Dh)…'). */
  status: (text: string) => void;
  done: () => void;
}

/**
 * A progress bar on stderr, shown only on a terminal and never with --json; it erases itself when
 * done. Updates at most every 100 ms; with `delayMs`, nothing is shown before that much time has
 * passed since the bar was made (a short run stays quiet). NTK_PROGRESS=1 forces it on where
 * stderr is not a terminal (a log file, a test): each update is then a line of its own, at most
 * one a second.
 * @example const bar = progress('lip', !o.json); bar.status('ascent for the sup…'); bar.update(3, 10); bar.done();
 */
export function progress(label: string, enabled: boolean, delayMs = 0): Progress {
  const tty = process.stderr.isTTY === true;
  const on = enabled && (tty || process.env.NTK_PROGRESS === '1');
  const every = tty ? 100 : 1000;
  const start = Date.now();
  let last = -Infinity;
  let shown = false;
  const write = (text: string, force: boolean) => {
    const now = Date.now();
    if (now - start < delayMs) return;
    if (!force && now - last < every) return;
    last = now;
    // a terminal's line is rewritten in place (and cut to its width); elsewhere one line each
    const cols = process.stderr.columns ?? 0;
    process.stderr.write(tty ? `\r\x1b[2K${cols > 1 ? text.slice(0, cols - 1) : text}` : `${text}\n`);
    shown = true;
  };
  return {
    update(done, total, note) {
      if (!on) return;
      const width = 30;
      const filled = Math.max(0, Math.min(width, Math.round((done / total) * width)));
      write(`${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}${note ? `  ${note}` : ''}`, done >= total);
    },
    status(text) {
      if (on) write(`${label}: ${text}`, true);
    },
    done() {
      if (on && shown && tty) process.stderr.write('\r\x1b[2K');
    },
  };
}

/** The summary's lines naming the files of --out: path (shape, dtype; a table's columns). */
export function written(files: WrittenFile[]): [string, string][] {
  return files.map((f, i) => [i === 0 ? 'written' : '', `${f.path} (${f.shape.join(' × ') || 'a number'}, ${f.dtype}${f.columns ? `; columns ${f.columns.join(', ')}` : ''})`]);
}

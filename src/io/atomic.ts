/**
 * Atomic file replacement: readers of the target see either the old content or the complete
 * new content, never a truncated file, even if the process dies or the write fails mid-way.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * A file that could not be written (message `cannot write '<path>': <reason>`): exit 1 in the CLI.
 * @example try { writeFileAtomic('/nonexistent/x.json', '1') } catch (e) { e instanceof WriteError } // "cannot write '/nonexistent/x.json': no such directory"
 */
export class WriteError extends Error {}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'ENOENT':
      return 'no such directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    case 'ENOTDIR':
      return 'a component of the path is not a directory';
    case 'ENOSPC':
      return 'no space left on device';
    case 'EROFS':
      return 'read-only file system';
    default:
      return e instanceof Error ? e.message : String(err);
  }
}

/**
 * An output path that cannot be written, found before any computation: the CLI exits 2.
 * @example try { checkOutputPath('/nonexistent/x.json', '--out') } catch (e) { e instanceof OutputPathError } // "--out /nonexistent/x.json: no such directory '/nonexistent'"
 */
export class OutputPathError extends Error {}

/**
 * Check, before any computation, that `path` can be written by `writeFileAtomic`: its directory
 * exists and is writable, and `path` is not a directory. `option` names the option in the message.
 * @example checkOutputPath('missing/out.csv', '--out') // throws "--out missing/out.csv: no such directory 'missing'"
 */
export function checkOutputPath(path: string, option: string): void {
  const dir = nodePath.dirname(nodePath.resolve(path));
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (err) {
    throw new OutputPathError(`${option} ${path}: no such directory '${nodePath.dirname(path)}'`, { cause: err });
  }
  if (!st.isDirectory()) throw new OutputPathError(`${option} ${path}: '${nodePath.dirname(path)}' is not a directory`);
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (err) {
    throw new OutputPathError(`${option} ${path}: the directory '${nodePath.dirname(path)}' is not writable (${describe(err)})`, { cause: err });
  }
  try {
    if (fs.statSync(path).isDirectory()) throw new OutputPathError(`${option} ${path}: it is a directory`);
  } catch (err) {
    if (err instanceof OutputPathError) throw err;
  }
}

const swept = new Set<string>();

/**
 * Remove the temporary files of earlier writes to `path` whose process no longer runs (a
 * `kill -9` between creating and renaming one leaves it behind). Once per path and process.
 */
export function removeStaleTemps(path: string): void {
  const dir = nodePath.dirname(path), base = nodePath.basename(path);
  const key = nodePath.resolve(path);
  if (swept.has(key)) return;
  swept.add(key);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  const prefix = `.${base}.`;
  for (const n of names) {
    if (!n.startsWith(prefix) || !n.endsWith('.tmp')) continue;
    const m = /^(\d+)\.[0-9a-f]+\.tmp$/.exec(n.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && alive(pid)) continue;
    if (pid === process.pid) continue; // this process's own write in progress
    try {
      fs.unlinkSync(nodePath.join(dir, n));
    } catch {
      /* best effort */
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Write `data` (a string, encoded as UTF-8, or raw bytes) to `path` atomically.
 *
 * Technique: the content is written to a fresh temporary file in the same directory
 * (`.<name>.<pid>.<random>.tmp`, created exclusively), flushed with `fsync`, then moved over
 * the target with `fs.renameSync`, which replaces it atomically on POSIX file systems (and on
 * NTFS). If anything fails, the temporary file is removed and the target is left untouched.
 * When the target already exists, its permission bits are carried over to the new file.
 *
 * Throws an `Error` whose message reads `cannot write '<path>': <reason>`; the original
 * error is attached as `cause`.
 *
 * @example
 *   writeFileAtomic('out/report.json', JSON.stringify(report, null, 2) + '\n');
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (!(bytes instanceof Uint8Array)) {
    throw new WriteError(`cannot write '${path}': ${describe(new TypeError(`data must be a string or a Uint8Array, got ${typeof data}`))}`);
  }
  const f = AtomicFile.open(path);
  f.write(bytes, 0);
  f.commit();
}

/**
 * A file written in pieces and made visible at once: the content goes to a fresh temporary file
 * in the target's directory (`.<name>.<pid>.<random>.tmp`, created exclusively, with the old
 * target's permission bits), by positioned or
 * sequential writes, and `commit()` flushes it (`fsync`) and renames it over the target. Until
 * then readers see the old target or none; `abort()` (or a failed write, which aborts by itself)
 * removes the temporary file. For outputs too large to hold in memory, written block by block
 * (`NpyWriter`).
 *
 * Errors read `cannot write '<path>': <reason>` (e.g. `no space left on device`), the original
 * error as `cause`.
 *
 * @example
 *   const f = AtomicFile.open('K.npy', header.length + 8 * n * n);
 *   f.write(header, 0); f.write(rowBytes, header.length); f.commit();
 */
export class AtomicFile {
  private fd: number | undefined;
  private done = false;

  private constructor(
    readonly path: string,
    readonly tmp: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /**
   * Create the temporary file; with `size`, preallocate it to that many bytes (sparse zeros),
   * so that positioned writes in any order fill it.
   */
  static open(path: string, size?: number): AtomicFile {
    const dir = nodePath.dirname(path);
    removeStaleTemps(path);
    const tmp = nodePath.join(dir, `.${nodePath.basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    let fd: number | undefined;
    try {
      try {
        if (fs.statSync(path).isDirectory()) throw Object.assign(new Error('it is a directory'), { code: 'EISDIR' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      let mode = 0o666, existed = false;
      try {
        mode = fs.statSync(path).mode & 0o7777;
        existed = true;
      } catch {
        /* a new file */
      }
      fd = fs.openSync(tmp, 'wx', mode);
      if (existed) {
        try {
          fs.fchmodSync(fd, mode); // openSync's mode is filtered by the umask; match the old file
        } catch {
          /* not supported everywhere (e.g. some network file systems); harmless */
        }
      }
      if (size !== undefined) fs.ftruncateSync(fd, size);
      return new AtomicFile(path, tmp, fd);
    } catch (err) {
      if (fd !== undefined) {
        try {
          fs.closeSync(fd);
          fs.unlinkSync(tmp);
        } catch {
          /* best effort */
        }
      }
      throw new WriteError(`cannot write '${path}': ${describe(err)}`, { cause: err });
    }
  }

  /** Write all of `bytes` at byte `position` (default: after the last write). */
  write(bytes: Uint8Array, position?: number): void {
    if (this.fd === undefined) throw new WriteError(`cannot write '${this.path}': the file is already ${this.done ? 'committed' : 'aborted'}`);
    try {
      let off = 0;
      while (off < bytes.length) {
        off += fs.writeSync(this.fd, bytes, off, bytes.length - off, position === undefined ? null : position + off);
      }
    } catch (err) {
      this.abort();
      throw new WriteError(`cannot write '${this.path}': ${describe(err)}`, { cause: err });
    }
  }

  /** Flush and rename over the target: from now on readers see the whole new content. */
  commit(): void {
    if (this.fd === undefined) throw new WriteError(`cannot write '${this.path}': the file is already ${this.done ? 'committed' : 'aborted'}`);
    try {
      fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
      this.fd = undefined;
      fs.renameSync(this.tmp, this.path);
      this.done = true;
    } catch (err) {
      this.abort();
      throw new WriteError(`cannot write '${this.path}': ${describe(err)}`, { cause: err });
    }
  }

  /** Drop the temporary file; the target is left as it was. Harmless after commit or abort. */
  abort(): void {
    if (this.done) return;
    if (this.fd !== undefined) {
      try {
        fs.closeSync(this.fd);
      } catch {
        /* already failing */
      }
      this.fd = undefined;
    }
    try {
      fs.unlinkSync(this.tmp);
    } catch {
      /* gone already */
    }
  }
}

/**
 * The page's state in its URL (after `#s=`): the model text, its data (an example's files by
 * reference, a user's small files inline), the `--set` overrides, the seed, the open panel and
 * every panel's options. A shared link therefore reproduces the numbers exactly: the same text,
 * the same data bytes, the same seed give the same w0 and the same results.
 */
import { compressToEncodedURIComponent, decompressFromEncodedURIComponent } from 'lz-string';
import type { StudyName, StudyOptions } from './protocol.ts';

export const STATE_VERSION = 1;

/** Files inlined into links up to this size (bytes); larger ones make the link incomplete (said so). */
export const INLINE_LIMIT = 48 * 1024;

export interface PageState {
  v: number;
  file: string;
  source: string;
  /** Data files: 'example' (fetched from the page's examples/) or base64 bytes. */
  files: Record<string, string>;
  set: [string, number][];
  seed: number;
  panel: StudyName;
  options: Partial<Record<StudyName, StudyOptions>>;
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function inlineFile(bytes: Uint8Array): string {
  return toBase64(bytes);
}

export function encodeState(s: PageState): string {
  return `#s=${compressToEncodedURIComponent(JSON.stringify(s))}`;
}

/** The state in a URL's hash; null when there is none; throws (with why) when it does not decode. */
export function decodeState(hash: string): PageState | null {
  const m = /^#s=(.*)$/.exec(hash);
  if (!m) return null;
  const json = decompressFromEncodedURIComponent(m[1]!);
  if (!json) throw new Error('the link\'s state is not valid (truncated or altered?)');
  let s: PageState;
  try {
    s = JSON.parse(json) as PageState;
  } catch {
    throw new Error('the link\'s state is not valid JSON');
  }
  const ok =
    s && s.v === STATE_VERSION && typeof s.file === 'string' && /^[\w.-]+\.ntk$/.test(s.file) && typeof s.source === 'string' &&
    s.files && typeof s.files === 'object' && Array.isArray(s.set) && s.set.every((x) => Array.isArray(x) && typeof x[0] === 'string' && Number.isFinite(x[1])) &&
    Number.isInteger(s.seed) && s.seed >= 0 && typeof s.panel === 'string' && s.options && typeof s.options === 'object';
  if (!ok) throw new Error(`the link's state is not a playground state of version ${STATE_VERSION}`);
  for (const name of Object.keys(s.files)) if (!/^[\w.-]+$/.test(name)) throw new Error(`the link names a data file '${name}' that is not a plain file name`);
  return s;
}

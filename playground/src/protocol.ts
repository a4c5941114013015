/** Messages between the page and its workers (playground/src/worker.ts). Plain data only. */
import type { Diagnostic } from '../../src/index.ts';

export type StudyName = 'check' | 'kernel' | 'flow' | 'lip' | 'derive' | 'nth';

/** What the page runs: the model text, its data files, `--set` overrides and the seed. */
export interface Job {
  /** The model's file name (data files resolve next to it), e.g. 'meanfield.ntk'. */
  file: string;
  source: string;
  /** Data files by name relative to the model (bytes). */
  files: Record<string, Uint8Array>;
  set: [string, number][];
  seed: number;
}

export interface StudyOptions {
  order?: number;
  alpha?: number;
  T?: number;
  radius?: number;
  rtol?: number;
  method?: string;
}

export type Request =
  | { id: number; kind: 'analyze'; job: Job }
  /** `job` is the current text: the last analysis is redone first when the text has changed since. */
  | { id: number; kind: 'hover' | 'definition' | 'complete'; offset: number; job: Job }
  | { id: number; kind: 'run'; study: StudyName; job: Job; options: StudyOptions };

export type Response =
  | { id: number; kind: 'result'; result: unknown; ms: number }
  | { id: number; kind: 'failure'; message: string; diagnostics: Diagnostic[] }
  | { id: number; kind: 'progress'; label: string; done: number; total: number };

/** A request without its id (the client numbers them). */
export type RequestBody = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

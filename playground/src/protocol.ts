/** Messages between the page and its workers (playground/src/worker.ts). Plain data only. */
import type { Diagnostic } from '../../src/index.ts';

export type StudyName = 'check' | 'kernel' | 'flow' | 'lip' | 'derive' | 'nth' | 'limit';

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
  /** `ntk limit --width m[,m2]`: the width dims. */
  width?: string;
  tol?: number;
}

/** What the page draws besides a study's report (the report itself is the CLI's --json object). */
export interface View {
  /** The check's summary lines (label, value). */
  summary?: [string, string][];
  /** The NTK's eigenvalues (ascending) and their plot (a vega-lite spec). */
  spectrum?: number[];
  spectrumPlot?: object;
  /** The flow's E(t) against the bounds: the vega-lite spec of the CLI's --plot. */
  plot?: object;
}

/** What the editor's worker analyzes: a job without its data files (sent once, by 'files'). */
export type TextJob = Omit<Job, 'files'>;

export type Request =
  /** The data files of the editor's analyses, until the next 'files' (not cloned per keystroke). */
  | { id: number; kind: 'files'; files: Record<string, Uint8Array> }
  | { id: number; kind: 'analyze'; job: TextJob }
  /** Build the parser now (the editor's worker, while the page sets itself up). */
  | { id: number; kind: 'warm-up' }
  /** `job` is the current text: the last analysis is redone first when the text has changed since. */
  | { id: number; kind: 'hover' | 'definition' | 'complete'; offset: number; job: TextJob }
  | { id: number; kind: 'run'; study: StudyName; job: Job; options: StudyOptions };

export type Response =
  | { id: number; kind: 'result'; result: unknown; ms: number }
  /** A study's report (the CLI's --json object) and what the page draws besides. */
  | { id: number; kind: 'report'; report: unknown; view: View; ms: number; marks: Record<string, number> }
  | { id: number; kind: 'failure'; message: string; diagnostics: Diagnostic[] }
  | { id: number; kind: 'progress'; label: string; done: number; total: number };

/** A request without its id (the client numbers them). */
export type RequestBody = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

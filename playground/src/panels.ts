/**
 * The panels: what each runs, its option fields (with the CLI's defaults or the page's) and the
 * default state of an example. Shared by the page and the worker, which starts the open panel's
 * study of the link (or of the default example) before the page has loaded: both derive the
 * study's options here, so the worker's early result is the one the page asks for.
 */
import { STATE_VERSION, type PageState } from './state.ts';
import type { StudyName, StudyOptions } from './protocol.ts';

export const DEFAULT_EXAMPLE = 'meanfield.ntk';

/** What each panel runs, its options (with the CLI's defaults or the page's) and how it is called. */
export const PANELS: Record<StudyName, { title: string; fields: { key: keyof StudyOptions; label: string; dflt: number | string; choices?: string[]; cliDefault?: number | string; text?: boolean }[] }> = {
  check: { title: 'check', fields: [] },
  kernel: { title: 'NTK', fields: [{ key: 'order', label: '--order', dflt: 2 }] },
  flow: {
    title: 'flow',
    fields: [
      { key: 'alpha', label: '--alpha', dflt: 1, cliDefault: 1 },
      { key: 'T', label: '--T', dflt: 10 },
      { key: 'method', label: '--method', dflt: 'auto', cliDefault: 'auto', choices: ['auto', 'exponential', 'etdrk4', 'dopri5', 'dop853', 'rosenbrock'] },
    ],
  },
  lip: { title: 'lip', fields: [{ key: 'radius', label: '--radius', dflt: 0.1 }] },
  derive: { title: 'derive', fields: [{ key: 'order', label: '--order', dflt: 2 }] },
  nth: {
    title: 'hierarchy',
    fields: [
      { key: 'order', label: '--order', dflt: 3 },
      { key: 'T', label: '--T', dflt: 1 },
      { key: 'alpha', label: '--alpha', dflt: 1, cliDefault: 1 },
    ],
  },
  limit: { title: 'limit', fields: [{ key: 'width', label: '--width', dflt: 'm', text: true }] },
};
export const PANEL_ORDER: StudyName[] = ['check', 'kernel', 'flow', 'lip', 'derive', 'nth', 'limit'];

/** A panel's options: the state's values over the fields' defaults. */
export function panelOptions(panel: StudyName, options: PageState['options']): StudyOptions {
  const o: StudyOptions = {};
  for (const f of PANELS[panel].fields) (o as Record<string, unknown>)[f.key] = options[panel]?.[f.key] ?? f.dflt;
  return o;
}

/** The state that opens an example: its text, its data files by reference, the NTK panel. */
export function exampleStateOf(ex: { file: string; data: string[]; source: string }): PageState {
  return { v: STATE_VERSION, file: ex.file, source: ex.source, files: Object.fromEntries(ex.data.map((d) => [d, 'example'])), set: [], seed: 0, panel: 'kernel', options: {} };
}

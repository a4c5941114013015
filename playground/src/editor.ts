/**
 * The playground's editor: CodeMirror 6 with `.ntk` highlighting, diagnostics from the real
 * parser and elaborator (asked of the editor's worker, shown by @codemirror/lint at their spans),
 * completion and hover (also the worker's: src/lang/service.ts, the same code as `ntk lsp`).
 */
import { EditorView, keymap, hoverTooltip, tooltips, lineNumbers, highlightSpecialChars, highlightActiveLine, highlightActiveLineGutter } from '@codemirror/view';
import { EditorState, type Extension, type Transaction } from '@codemirror/state';
import { StreamLanguage, HighlightStyle, syntaxHighlighting, bracketMatching } from '@codemirror/language';
import { linter, lintGutter, lintKeymap, setDiagnostics, type Diagnostic as CmDiagnostic } from '@codemirror/lint';
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap, type CompletionContext, type CompletionResult } from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { tags as t } from '@lezer/highlight';
import type { Diagnostic } from '../../src/parser/diagnostics.ts';

const KEYWORDS = new Set(['dim', 'const', 'data', 'param', 'def', 'model', 'loss', 'test', 'let', 'for', 'in', 'return']);
/** The builtin functions (test/lang/names.test.ts keeps this list equal to the elaborator's). */
export const BUILTINS = 'abs|atan|concat|cos|cosh|dot|erf|exp|gauss|gelu|identity|load|log|mean|norm|normal|outer|relu|sigmoid|sign|sin|sinh|softplus|sqrt|square|sum|tan|tanh|transpose|uniform'.split('|');
const FUNCTIONS = new Set(BUILTINS);

/** The `.ntk` tokens (the same classes as editors/ntk.tmLanguage.json). */
export const ntkLanguage = StreamLanguage.define<{ afterDecl: boolean }>({
  name: 'ntk',
  startState: () => ({ afterDecl: false }),
  token(stream, state) {
    if (stream.eatSpace()) return null;
    if (stream.match('#')) {
      stream.skipToEnd();
      return 'comment';
    }
    if (stream.match(/^"[^"\n]*"?/)) return 'string';
    if (stream.match(/^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/)) return 'number';
    const word = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/) as RegExpMatchArray | null;
    if (word) {
      const w = word[0];
      if (KEYWORDS.has(w)) {
        state.afterDecl = w !== 'in' && w !== 'return';
        return 'keyword';
      }
      if (state.afterDecl) {
        state.afterDecl = false;
        return 'definition';
      }
      if (FUNCTIONS.has(w) && stream.peek() === '(') return 'builtin';
      return 'variableName';
    }
    state.afterDecl = false;
    if (stream.match(/^(\.\.|[-+*/^@=~])/)) return 'operator';
    stream.next();
    return 'punctuation';
  },
  languageData: { commentTokens: { line: '#' } },
  tokenTable: { definition: t.definition(t.variableName), builtin: t.standard(t.function(t.variableName)) },
});

const style = HighlightStyle.define([
  { tag: t.keyword, color: '#7c3aed', fontWeight: '600' },
  { tag: t.comment, color: '#6b7280', fontStyle: 'italic' },
  { tag: t.number, color: '#b45309' },
  { tag: t.string, color: '#047857' },
  { tag: t.definition(t.variableName), color: '#1d4ed8', fontWeight: '600' },
  { tag: t.standard(t.function(t.variableName)), color: '#0e7490' },
  { tag: t.operator, color: '#9f1239' },
]);

export interface LanguageClient {
  /** Diagnostics of the current text (the worker parses and elaborates it). */
  diagnose(source: string): Promise<Diagnostic[]>;
  hover(offset: number, source: string): Promise<{ text: string; start: number; end: number } | null>;
  complete(offset: number, source: string): Promise<{ from: number; items: { label: string; kind: string; detail: string }[] } | null>;
}

/** A diagnostic's range as document offsets (a span without extent marks one character). */
export function toCm(d: Diagnostic, length: number): CmDiagnostic {
  const from = d.span ? Math.min(d.span.start, length) : 0;
  const to = d.span ? Math.min(Math.max(d.span.end, from + (from < length ? 1 : 0)), length) : Math.min(length, 1);
  return { from, to, severity: d.severity === 'note' ? 'info' : d.severity, message: d.hint ? `${d.message}\nhint: ${d.hint}` : d.message, source: 'ntk' };
}

/**
 * Diagnostics found by running a study (a data file that does not fit, a limit the model has
 * none of), underlined in the editor like the parser's, until the text changes.
 */
export function showDiagnostics(view: EditorView, ds: Diagnostic[]): void {
  view.dispatch(setDiagnostics(view.state, ds.map((d) => toCm(d, view.state.doc.length))));
}

const KIND: Record<string, string> = { keyword: 'keyword', function: 'function', def: 'function', param: 'variable', data: 'variable', dim: 'constant', const: 'constant', model: 'class', test: 'class' };

/**
 * What @codemirror/lint and @codemirror/autocomplete draw with images and symbol fonts, drawn
 * with CSS and the editor's own font instead (the page thread's time per keystroke, measured by
 * npm run bench:playground, docs/decisions.md): the lint's squiggles are SVG images tiled as
 * backgrounds and its gutter markers SVG images too, each an SVG document that the first
 * diagnostic parses and every repaint of an underlined line draws (the first squiggle took ~10 ms
 * of style recalculation in a chromium trace); here the squiggle is the browser's own wavy
 * underline and the markers are bordered boxes. The completion icons '𝑥', '𝐶' and '🔑' are in
 * no monospace font, so the list's first layout went looking for a fallback font (7 ms); here
 * they are plain letters.
 */
const SEVERITY_COLOURS = { error: '#e11d48', warning: '#d97706', info: '#6b7280', hint: '#4f46e5' } as const;
const drawnByCss = EditorView.theme({
  '.cm-lintRange': { backgroundImage: 'none', paddingBottom: '0', textDecorationLine: 'underline', textDecorationStyle: 'wavy', textDecorationSkipInk: 'none', textUnderlineOffset: '2px' },
  ...Object.fromEntries(Object.entries(SEVERITY_COLOURS).map(([k, c]) => [`.cm-lintRange-${k}`, { backgroundImage: 'none', textDecorationColor: c }])),
  '.cm-lint-marker': { content: 'none', boxSizing: 'border-box', width: '0.8em', height: '0.8em', margin: '0.1em', border: '2px solid' },
  '.cm-lint-marker-error': { content: 'none', borderRadius: '50%', borderColor: '#f43', backgroundColor: '#f87' },
  '.cm-lint-marker-warning': { content: 'none', borderColor: '#fd7', backgroundColor: '#fe8' },
  '.cm-lint-marker-info': { content: 'none', borderColor: '#77e', backgroundColor: '#aaf' },
  '.cm-completionIcon-variable:after': { content: "'x'" },
  '.cm-completionIcon-constant:after': { content: "'c'" },
  '.cm-completionIcon-keyword:after': { content: "'k'" },
  '.cm-completionIcon-class:after': { content: "'m'" },
  '.cm-completionIcon-function:after': { content: "'f'" },
});

/**
 * A typed character goes into the document as a transaction, without the browser editing the
 * page first. CodeMirror's own path lets the browser insert the character into the
 * contenteditable (native editing and a layout), then reads the changed DOM back (a mutation
 * observer, the DOM selection) and dispatches what it finds. For a plain `insertText` the
 * outcome is known from the beforeinput event: the same transaction is made here (the input
 * handlers first, closeBrackets' among them; else the selection replaced, userEvent
 * 'input.type', scrolled into view, as CodeMirror's applyDefaultInsert makes it) and the native
 * insertion is cancelled. An IME composition, an EditContext (CodeMirror's on Android), or a
 * DOM selection that is not CodeMirror's (one the editor has not read yet) stays on
 * CodeMirror's path. The page thread's time per keystroke, measured by
 * npm run bench:playground, is in docs/decisions.md.
 */
const typedAsTransaction = EditorView.domEventHandlers({
  beforeinput(event, view) {
    if (event.inputType !== 'insertText' || !event.data || event.isComposing || view.composing || view.compositionStarted || view.state.readOnly) return false;
    if ((view.contentDOM as HTMLElement & { editContext?: unknown }).editContext) return false;
    // Where the browser would insert: its selection (beforeinput's target ranges are empty for
    // insertText in chromium), in the document as CodeMirror reads it.
    const dom = view.dom.ownerDocument.getSelection(), sel = view.state.selection.main;
    if (!dom?.anchorNode || !dom.focusNode || view.posAtDOM(dom.anchorNode, dom.anchorOffset) !== sel.anchor || view.posAtDOM(dom.focusNode, dom.focusOffset) !== sel.head) return false;
    const text = event.data;
    let tr: Transaction | undefined;
    const insert = () => (tr ??= view.state.update(view.state.replaceSelection(text), { userEvent: 'input.type', scrollIntoView: true }));
    if (!view.state.facet(EditorView.inputHandler).some((h) => h(view, sel.from, sel.to, text, insert))) view.dispatch(insert());
    return true; // (CodeMirror then cancels the event: preventDefault)
  },
});

export function createEditor(parent: HTMLElement, doc: string, client: LanguageClient, onChange: (text: string) => void, onRun: () => void): EditorView {
  // CodeMirror's extensions one by one rather than its basicSetup, for the page thread's time per
  // keystroke (measured by npm run bench:playground, docs/decisions.md): no drawn selection
  // layer (the browser's own caret and selection: one layer less to lay out and paint per key;
  // so one selection, no rectangular or multiple cursors), no line wrapping (a wrapped editor
  // re-measures its lines' heights; long lines scroll), no fold gutter (.ntk has no folds), no
  // highlighting of the selection's other matches, no search panel.
  const extensions: Extension[] = [
    lineNumbers(),
    highlightSpecialChars(),
    history(),
    highlightActiveLine(),
    highlightActiveLineGutter(),
    bracketMatching(),
    closeBrackets(),
    // Before the default keymap, whose Mod-Enter inserts a blank line.
    keymap.of([{ key: 'Mod-Enter', run: () => (onRun(), true) }, indentWithTab]),
    keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, ...completionKeymap, ...lintKeymap]),
    typedAsTransaction,
    ntkLanguage,
    syntaxHighlighting(style),
    // Tooltips (hover, a diagnostic's message) placed within the editor's own box: above the
    // first lines they went under the page's header, cut off; CodeMirror now flips them below.
    tooltips({ tooltipSpace: (view) => view.scrollDOM.getBoundingClientRect() }),
    lintGutter(),
    linter(async (view) => {
      const text = view.state.doc.toString();
      const ds = await client.diagnose(text);
      // A newer text may have arrived meanwhile; lint runs again for it.
      return ds.map((d) => toCm(d, view.state.doc.length));
    }, { delay: 250 }),
    autocompletion({
      override: [
        async (ctx: CompletionContext): Promise<CompletionResult | null> => {
          const word = ctx.matchBefore(/[A-Za-z_][A-Za-z0-9_]*/);
          if (!word && !ctx.explicit) return null;
          const r = await client.complete(ctx.pos, ctx.state.doc.toString());
          if (!r) return null;
          return { from: word ? word.from : ctx.pos, options: r.items.map((i) => ({ label: i.label, type: KIND[i.kind] ?? 'variable', detail: i.detail })), validFor: /^[A-Za-z0-9_]*$/ };
        },
      ],
    }),
    hoverTooltip(async (view, pos) => {
      const h = await client.hover(pos, view.state.doc.toString());
      if (!h) return null;
      return {
        pos: h.start, end: h.end, above: true,
        create: () => {
          const dom = document.createElement('div');
          dom.className = 'ntk-hover';
          dom.textContent = h.text;
          return { dom };
        },
      };
    }),
    EditorView.updateListener.of((u) => {
      if (u.docChanged) onChange(u.state.doc.toString());
    }),
    EditorView.theme({ '&': { height: '100%', fontSize: '13.5px' }, '.cm-scroller': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace' } }),
    drawnByCss,
  ];
  return new EditorView({ state: EditorState.create({ doc, extensions }), parent });
}

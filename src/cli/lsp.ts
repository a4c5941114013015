/**
 * `ntk lsp`: a language server for `.ntk` files on stdin/stdout (the Language Server Protocol,
 * through vscode-languageserver). Diagnostics, hover (kinds and shapes), go-to-definition and
 * completion all come from src/lang/service.ts, i.e. the real parser and elaborator: an editor
 * shows exactly what `ntk check` says. Data files load relative to the open file, as in the CLI.
 *
 * @example
 *   // VS Code (editors/vscode/): "command": "ntk", "args": ["lsp"]
 *   // Neovim: vim.lsp.start({ name = 'ntk', cmd = { 'ntk', 'lsp' } })
 */
import { fileURLToPath } from 'node:url';
import {
  createConnection,
  CompletionItemKind,
  DiagnosticSeverity,
  ProposedFeatures,
  TextDocuments,
  TextDocumentSyncKind,
  type Diagnostic as LspDiagnostic,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { analyze, completions, definition, hover, type Analysis, type Span } from '../index.ts';

const KINDS: Record<string, CompletionItemKind> = {
  keyword: CompletionItemKind.Keyword,
  function: CompletionItemKind.Function,
  def: CompletionItemKind.Function,
  param: CompletionItemKind.Variable,
  data: CompletionItemKind.Variable,
  dim: CompletionItemKind.Constant,
  const: CompletionItemKind.Constant,
  model: CompletionItemKind.Class,
  test: CompletionItemKind.Class,
};

const SEVERITY = { error: DiagnosticSeverity.Error, warning: DiagnosticSeverity.Warning, note: DiagnosticSeverity.Information } as const;

function pathOf(uri: string): string {
  try {
    return uri.startsWith('file:') ? fileURLToPath(uri) : uri;
  } catch {
    return uri;
  }
}

/** Serves until the client sends `exit` (the connection ends the process). */
export function startLanguageServer(): void {
  const connection = createConnection(ProposedFeatures.all, process.stdin, process.stdout);
  const documents = new TextDocuments(TextDocument);
  const analyses = new Map<string, Analysis>();

  const range = (doc: TextDocument, s: Span | null) => (s ? { start: doc.positionAt(s.start), end: doc.positionAt(Math.max(s.end, s.start)) } : { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } });

  const refresh = (doc: TextDocument) => {
    const file = pathOf(doc.uri);
    const a = analyze(doc.getText(), file);
    analyses.set(doc.uri, a);
    const diagnostics: LspDiagnostic[] = a.diagnostics.map((d) => ({
      // A diagnostic of a data file (a malformed .npy) is shown at the model's first line.
      range: d.file === file ? range(doc, d.span) : range(doc, null),
      severity: SEVERITY[d.severity],
      message: `${d.file === file ? '' : `${d.file}: `}${d.message}${d.hint ? `\nhint: ${d.hint}` : ''}`,
      source: 'ntk',
    }));
    void connection.sendDiagnostics({ uri: doc.uri, diagnostics });
  };

  connection.onInitialize(() => ({
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Full,
      hoverProvider: true,
      definitionProvider: true,
      completionProvider: { triggerCharacters: [] },
    },
    serverInfo: { name: 'ntk', version: '0.1.0' },
  }));
  documents.onDidChangeContent((e) => refresh(e.document));
  documents.onDidClose((e) => {
    analyses.delete(e.document.uri);
    void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
  });
  connection.onHover((p) => {
    const doc = documents.get(p.textDocument.uri), a = analyses.get(p.textDocument.uri);
    if (!doc || !a) return null;
    const h = hover(a, doc.offsetAt(p.position));
    return h && { contents: { kind: 'markdown', value: `\`\`\`ntk\n${h.text}\n\`\`\`` }, range: { start: doc.positionAt(h.start), end: doc.positionAt(h.end) } };
  });
  connection.onDefinition((p) => {
    const doc = documents.get(p.textDocument.uri), a = analyses.get(p.textDocument.uri);
    if (!doc || !a) return null;
    const s = definition(a, doc.offsetAt(p.position));
    return s && { uri: doc.uri, range: range(doc, s) };
  });
  connection.onCompletion((p) => {
    const doc = documents.get(p.textDocument.uri), a = analyses.get(p.textDocument.uri);
    if (!doc || !a) return [];
    // The analysis is of the last text: completing mid-word right after a change still sees it.
    return completions({ ...a, source: doc.getText() }, doc.offsetAt(p.position)).items.map((c) => ({ label: c.label, kind: KINDS[c.kind] ?? CompletionItemKind.Variable, detail: c.detail }));
  });
  documents.listen(connection);
  connection.listen();
}

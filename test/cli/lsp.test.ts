/**
 * `ntk lsp` driven by a real LSP client: vscode-jsonrpc's message connection over the server
 * process's stdio (what vscode-languageclient runs on), speaking the protocol's requests and
 * notifications by name: initialize, didOpen/didChange, publishDiagnostics, hover, definition,
 * completion, shutdown/exit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';

interface Diag {
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  severity: number;
  message: string;
}

describe.skipIf(!existsSync('dist/ntk.cjs'))('ntk lsp through an LSP client', () => {
  let server: ChildProcess;
  let conn: MessageConnection;
  const published = new Map<string, Diag[][]>();
  const waiters: (() => void)[] = [];

  beforeAll(async () => {
    server = spawn(process.execPath, ['bin/ntk.js', 'lsp', '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
    conn = createMessageConnection(new StreamMessageReader(server.stdout!), new StreamMessageWriter(server.stdin!));
    conn.onNotification('textDocument/publishDiagnostics', (p: { uri: string; diagnostics: Diag[] }) => {
      published.set(p.uri, [...(published.get(p.uri) ?? []), p.diagnostics]);
      waiters.splice(0).forEach((w) => w());
    });
    conn.listen();
    const init = (await conn.sendRequest('initialize', { processId: process.pid, rootUri: pathToFileURL(resolve('.')).href, capabilities: {} })) as { capabilities: Record<string, unknown> };
    expect(init.capabilities.hoverProvider).toBe(true);
    expect(init.capabilities.definitionProvider).toBe(true);
    await conn.sendNotification('initialized', {});
  }, 60_000);

  afterAll(async () => {
    await conn.sendRequest('shutdown');
    await conn.sendNotification('exit');
    await new Promise<void>((ok) => (server.exitCode !== null ? ok() : server.on('exit', () => ok())));
    conn.dispose();
  });

  /** The next publishDiagnostics for `uri` after `act`. */
  async function diagnosticsAfter(uri: string, act: () => Promise<void>): Promise<Diag[]> {
    const before = published.get(uri)?.length ?? 0;
    await act();
    while ((published.get(uri)?.length ?? 0) <= before) await new Promise<void>((ok) => waiters.push(ok));
    return published.get(uri)!.at(-1)!;
  }

  const file = resolve('examples/meanfield.ntk');
  const uri = pathToFileURL(file).href;
  const text = readFileSync(file, 'utf8');
  const doc = { textDocument: { uri } };
  const at = (needle: string, plus = 0) => {
    const i = text.indexOf(needle) + plus;
    const before = text.slice(0, i).split('\n');
    return { line: before.length - 1, character: before.at(-1)!.length };
  };

  it('publishes no errors for an example (its data files load next to it)', async () => {
    const ds = await diagnosticsAfter(uri, () => conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'ntk', version: 1, text } }));
    expect(ds.filter((d) => d.severity === 1)).toEqual([]);
  });

  it('hovers a parameter with its shape and the model with its outputs', async () => {
    const h = (await conn.sendRequest('textDocument/hover', { ...doc, position: at('U @ x') })) as { contents: { value: string } };
    expect(h.contents.value).toContain('param U : [64, 3]  (192 parameters)');
    const m = (await conn.sendRequest('textDocument/hover', { ...doc, position: at('model h', 6) })) as { contents: { value: string } };
    expect(m.contents.value).toContain('model h : [16]  (16 outputs, 256 parameters)');
    const fn = (await conn.sendRequest('textDocument/hover', { ...doc, position: at('sigmoid(') })) as { contents: { value: string } };
    expect(fn.contents.value).toContain('sigmoid(x)');
  });

  it('goes to the definition of a def, a dim and a def\'s argument', async () => {
    const f = (await conn.sendRequest('textDocument/definition', { ...doc, position: at('f(X)') })) as { uri: string; range: Diag['range'] };
    expect(f.uri).toBe(uri);
    expect(f.range.start).toEqual(at('def f', 4));
    const m = (await conn.sendRequest('textDocument/definition', { ...doc, position: at('sqrt(m) *', 5) })) as { range: Diag['range'] };
    expect(m.range.start).toEqual(at('m = 64'));
    const x = (await conn.sendRequest('textDocument/definition', { ...doc, position: at('@ x', 2) })) as { range: Diag['range'] };
    expect(x.range.start).toEqual(at('x : [d]'));
  });

  it('completes keywords, builtins and the model\'s names', async () => {
    const items = (await conn.sendRequest('textDocument/completion', { ...doc, position: { line: text.split('\n').length - 1, character: 0 } })) as { label: string; detail: string }[];
    const labels = items.map((i) => i.label);
    for (const l of ['param', 'model', 'sigmoid', 'tanh', 'U', 'a', 'X', 'f', 'm']) expect(labels).toContain(l);
    expect(items.find((i) => i.label === 'X')!.detail).toBe('data X : [16, 3]');
  });

  it('reports a typo with the CLI\'s message at its line and column, and clears it when fixed', async () => {
    const bad = text.replace('sum(a * sigmoid(', 'sum(a * sigmoidd(');
    const ds = await diagnosticsAfter(uri, () => conn.sendNotification('textDocument/didChange', { textDocument: { uri, version: 2 }, contentChanges: [{ text: bad }] }));
    expect(ds[0]!.severity).toBe(1);
    expect(ds[0]!.message).toMatch(/^unknown function 'sigmoidd'/);
    const where = bad.indexOf('sigmoidd');
    const line = bad.slice(0, where).split('\n').length - 1;
    expect(ds[0]!.range.start).toEqual({ line, character: where - bad.lastIndexOf('\n', where) - 1 });
    expect(ds[0]!.range.end.character - ds[0]!.range.start.character).toBe('sigmoidd'.length);
    const fixed = await diagnosticsAfter(uri, () => conn.sendNotification('textDocument/didChange', { textDocument: { uri, version: 3 }, contentChanges: [{ text }] }));
    expect(fixed.filter((d) => d.severity === 1)).toEqual([]);
  });
});

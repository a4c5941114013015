// The VS Code client of `ntk lsp`: starts the language server (the `ntk` command, or the one
// set in ntk.server.command) for .ntk files. Highlighting needs no server (syntaxes/).
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration('ntk').get('server.command') || 'ntk';
  const server = { command, args: ['lsp'], transport: TransportKind.stdio };
  client = new LanguageClient('ntk', 'ntk language server', server, { documentSelector: [{ scheme: 'file', language: 'ntk' }] });
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };

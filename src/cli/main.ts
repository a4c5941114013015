/**
 * The command line: `ntk COMMAND FILE [options]`. Argument parsing and formatting only; all
 * the work goes through the public API of `src/index.ts` (its studies return the reports the
 * commands print), and nothing else of src/ but io utilities is imported here
 * (test/cli/imports.test.ts). A command lives in its own file with a `register…(program)`.
 *
 * Exit codes: 0 success; 1 an error in the model or its data (located message on stderr);
 * 2 a usage error (unknown command or option, a malformed value); 3 an internal error.
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { NtkError, MemoryError, FlowError, KernelUsageError, OptionError, BackendUnavailableError, RateError, EarlyUsageError, ClusterError, WriteError, formatDiagnostic, diagnosticJson, OutputPathError, parseBytes, setMemoryBudget } from '../index.ts';
import { buildPlanProgram, isPlanCommand } from './cluster.ts';
import { common, load, out, UsageError } from './options.ts';
import { registerLip, registerModelCommands } from './model.ts';
import { registerHierarchyCommands } from './hierarchy.ts';
import { registerFlowCommands } from './flow.ts';
import { LimitUsageError, registerLimitCommands } from './limit.ts';
import { cmdEarly, earlyOptions, type EarlyCli } from './early.ts';

/** The program: every command registered, errors thrown to `main` rather than exiting. */
export function buildProgram(): Command {
  const program = new Command('ntk')
    .description('Tangent kernels, Lipschitz estimates and the NTK approximation for models in the .ntk language')
    .version('0.1.0')
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerModelCommands(program);
  registerHierarchyCommands(program);
  registerLip(program);
  registerFlowCommands(program);
  program
    .command('lsp')
    .description('a language server for .ntk files on stdin/stdout (diagnostics, hover, go-to-definition, completion)')
    .option('--stdio', 'talk over stdin/stdout (the default and only transport; accepted for editors that pass it)')
    .action(async () => (await import('./lsp.ts')).startLanguageServer());
  registerLimitCommands(program, common);
  earlyOptions(common(program.command('early').argument('<file>').description('a two-layer network next to its linear model early in training (seed 004)')))
    .action((file: string, o: EarlyCli) => cmdEarly(file, o, load, out));
  for (const c of program.commands) c.exitOverride().configureOutput({ writeErr: (s) => process.stderr.write(s) });
  // One memory budget for the whole run (io/memory.ts), set before any command runs.
  program.hook('preAction', (_p, cmd) => {
    const raw = cmd.opts().maxMemory as string | undefined;
    const bytes = raw === undefined ? null : parseBytes(raw);
    if (raw !== undefined && bytes === null) throw new UsageError(`--max-memory ${raw}: expected a size such as 2G, 512M or 1000000 (bytes)`);
    setMemoryBudget(bytes);
  });
  return program;
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const json = argv.includes('--json');
  try {
    await (isPlanCommand(argv) ? buildPlanProgram() : buildProgram()).parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    if (e instanceof UsageError || e instanceof OptionError || e instanceof RateError || e instanceof EarlyUsageError || e instanceof KernelUsageError || e instanceof BackendUnavailableError || e instanceof LimitUsageError) {
      process.stderr.write(`ntk: error: ${e.message}\n`);
      return 2;
    }
    if (e instanceof NtkError) {
      const sources = new Map<string, string | undefined>();
      const sourceOf = (f: string) => {
        if (!sources.has(f)) {
          try {
            sources.set(f, readFileSync(f, 'utf8'));
          } catch {
            sources.set(f, undefined);
          }
        }
        return sources.get(f);
      };
      for (const d of e.diagnostics) process.stderr.write(formatDiagnostic(d, sourceOf(d.file)) + '\n');
      if (json) out(JSON.stringify({ ok: false, diagnostics: e.diagnostics.map(diagnosticJson) }));
      return ['--set', '--seed', '--width', '--kernel'].includes(e.diagnostics[0]?.file ?? '') ? 2 : 1;
    }
    if (e instanceof OutputPathError) {
      process.stderr.write(`ntk: error: ${e.message}\n`);
      return 2;
    }
    if (e instanceof MemoryError || e instanceof FlowError || e instanceof ClusterError || e instanceof WriteError) {
      process.stderr.write(`ntk: error: ${e.message}\n`);
      return 1;
    }
    const err = e as Error;
    process.stderr.write(`ntk: internal error: ${err.message}\n${debug ? `${err.stack}\n` : '(run with --debug for a stack trace; please report it)\n'}`);
    if (json) out(JSON.stringify({ ok: false, internalError: err.message }));
    return 3;
  }
}


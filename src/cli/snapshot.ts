/**
 * The start-up snapshot: the `ntk` process state right after its bundle has loaded, saved by V8
 * (`node --build-snapshot`, scripts/snapshot.cjs, run by the build) and restored by
 * `node --snapshot-blob dist/ntk.blob` (the POSIX launcher in bin/ntk.js). Restoring it skips
 * what every start otherwise repeats: reading and compiling the bundle (its code cache is loaded
 * into the snapshot, so the bytecode of the functions a typical run compiles comes with it),
 * running its modules' top level, and building chevrotain's lexer and parser (its grammar
 * recording, 20–30 ms, cannot be cached any other way). Measured here: `ntk --version` 160 →
 * 110 ms, W1 289 → 231 ms, W3 398 → 356 ms (medians of 8, `node -e 0` 86 ms).
 *
 * What the snapshot may hold: plain JavaScript state only. Nothing here touches the native addon,
 * WebAssembly, worker threads or the environment while the snapshot is built: those are loaded
 * or read on first use, after the restore (the backends are chosen lazily, see backends.ts).
 * The bundle's own path (for workers, kernels.wasm, the addon) is the one it was built at; the
 * launcher uses the snapshot only if that is still where it runs from.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseProgram } from '../index.ts';

/** Set by scripts/snapshot.cjs before it runs the bundle: build the snapshot, do not run. */
const BUILDING = Symbol.for('ntk.buildSnapshot');

/** Whether the bundle is being loaded into a snapshot under construction. */
export function buildingSnapshot(): boolean {
  return (globalThis as Record<symbol, unknown>)[BUILDING] === true;
}

/** A program through the rules of the grammar the examples use, parsed once at build. */
export const WARM_UP = `
dim n = 2, d = 3, m = 4
data X : [n, d] = normal(0, 1 / sqrt(d), seed = 1)
data y : [n] = normal(0, 1, seed = 2)
param a : [m] ~ uniform(-1, 1)
param W : [m, d] ~ normal(0, 1)
def f(x : [d]) = sum(a * tanh(W @ x)) / sqrt(m) + 0.5 * x[0]^2 - exp(-abs(x[1]))
model h = f(X) / sqrt(n)
loss square(target = y)
`;

/**
 * Prepare the snapshot: parse a warm-up program (so its functions are compiled, and chevrotain's
 * caches filled), and register `run` as what the restored process does with its arguments.
 * @example if (buildingSnapshot()) prepareSnapshot((argv) => void main(argv));
 */
export function prepareSnapshot(run: (argv: string[]) => void): void {
  const require = createRequire(import.meta.url);
  const { startupSnapshot } = require('node:v8') as typeof import('node:v8');
  if (!startupSnapshot.isBuildingSnapshot()) throw new Error('the start-up snapshot is built by scripts/snapshot.cjs under node --build-snapshot');
  const { diagnostics } = parseProgram(WARM_UP, 'warm-up.ntk');
  if (diagnostics.length > 0) throw new Error(`the snapshot's warm-up program does not parse: ${diagnostics[0]!.message}`);
  startupSnapshot.setDeserializeMainFunction(() => {
    if (process.env.NTK_SNAPSHOT === 'check') console.error('ntk: started from the start-up snapshot');
    installImport();
    // the restored process has no script argument: argv is [node, ...the user's]
    run(process.argv.slice(1));
  });
}

/**
 * `import()` for the plotting packages (plot.ts: importPackage). The snapshot's functions have
 * no module loader of their own, so the hook compiles one small script with the main context's
 * default loader on first use (Node marks that option experimental and says so on stderr when
 * the loader first runs: silenced, it is not the user's concern). Specifiers resolve from the
 * bundle's directory.
 */
function installImport(): void {
  let viaLoader: ((spec: string) => Promise<unknown>) | null = null;
  (globalThis as Record<symbol, unknown>)[Symbol.for('ntk.import')] = (spec: string) => {
    // Node warns when the loader is first used (synchronously, inside the import() call)
    const emit = process.emitWarning;
    process.emitWarning = () => {};
    try {
      if (!viaLoader) {
        const vm = createRequire(import.meta.url)('node:vm') as typeof import('node:vm');
        const script = new vm.Script('(spec) => import(spec)', {
          filename: fileURLToPath(import.meta.url),
          importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
        });
        viaLoader = script.runInThisContext() as (spec: string) => Promise<unknown>;
      }
      return viaLoader(spec);
    } finally {
      process.emitWarning = emit;
    }
  };
}

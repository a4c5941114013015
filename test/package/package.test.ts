/**
 * The package as users get it: `npm pack` of the built repository, installed from the tarball
 * into an empty folder (`npm ci --offline`, see install.ts), and used there by name on the Node
 * running the tests — the library (ESM and CommonJS, with types), the `ntk` command, the README's
 * library section verbatim and examples/api/*.mjs, all against the installed copy.
 *
 * Needs the built dist/ (`npm ci` builds it through `prepare`; `npm run build` after a change).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installTarball, pack, type PackInfo } from './install.ts';

const root = resolve(import.meta.dirname, '../..');
const built = existsSync(join(root, 'dist/index.js')) && existsSync(join(root, 'dist/ntk.cjs'));
const node = (cwd: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });

describe.skipIf(!built)('the npm package', () => {
  let info: PackInfo;
  let dir: string;
  let installOutput: string;
  const dirs: string[] = [];

  beforeAll(() => {
    info = pack(join(tmpdir(), `ntk-pack-${process.pid}`));
    const r = installTarball(info.tarball);
    installOutput = r.output;
    if (r.status !== 0) throw new Error(`npm ci of the tarball failed:\n${r.output}`);
    dir = r.dir;
    dirs.push(dir);
  }, 300_000);

  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    if (info) rmSync(resolve(info.tarball, '..'), { recursive: true, force: true });
  }, 120_000);

  it('ships the prebuilt command, library, types and kernels, and nothing of the development tree', () => {
    const files = new Set(info.files.map((f) => f.path));
    for (const f of ['package.json', 'README.md', 'bin/ntk.js', 'dist/index.js', 'dist/index.js.map', 'dist/index.cjs', 'dist/types/index.d.ts', 'dist/types/index.d.cts', 'dist/types/index.d.ts.map', 'dist/ntk.cjs', 'dist/kernels.wasm', 'scripts/install.mjs', 'scripts/startup.mjs', 'scripts/snapshot.cjs', 'scripts/build-native.mjs', 'native/ntk_native.cc', 'binding.gyp', 'src/index.ts', 'examples/meanfield.ntk', 'docs/math.md'])
      expect(files, f).toContain(f);
    for (const f of files) expect(f).not.toMatch(/^(test|build|node_modules|bench)\/|^dist\/(bench|make-data)|\.blob|\.tmp$|^scripts\/(build|wasm|prepare)\.mjs$/);
    // compressed; the code cache of the bundle is a third of it
    expect(info.size).toBeLessThan(3e6);
  });

  it('installs without any development dependency, running only its own install step', () => {
    for (const dev of ['esbuild', 'wabt', 'typescript', 'vitest']) expect(existsSync(join(dir, 'node_modules', dev)), dev).toBe(false);
    // one line for the native backend (built, or why not) and one for the snapshot
    expect(installOutput).toMatch(/ntk-lab: native OpenBLAS backend (built|not built \(.+\); using the JavaScript kernels)/);
    expect(installOutput).toMatch(/ntk-lab: start-up snapshot made for node v\d+/);
    expect(existsSync(join(dir, 'node_modules/ntk-lab/dist/ntk.blob'))).toBe(true);
    expect(existsSync(join(dir, 'node_modules/ntk-lab/dist/ntk.install'))).toBe(true);
  });

  it('is imported by name as an ES module and required as CommonJS, from compiled JavaScript', () => {
    const model = "parseModel('param w = 0.3\\nmodel h = sin(w)')";
    const esm = node(dir, ['--input-type=module', '-e', `import { parseModel, evaluate, jacobian } from 'ntk-lab'; const m = ${model}; console.log(evaluate(m)[0], jacobian(m).data[0]);`]);
    expect(esm.stderr).toBe('');
    expect(esm.stdout.trim()).toBe(`${Math.sin(0.3)} ${Math.cos(0.3)}`);
    const cjs = node(dir, ['-e', `const { parseModel, evaluate } = require('ntk-lab'); console.log(evaluate(${model})[0]);`]);
    expect(cjs.stderr).toBe('');
    expect(cjs.stdout.trim()).toBe(String(Math.sin(0.3)));
    // the installed copy, not the repository's sources
    const where = node(dir, ['--input-type=module', '-e', "console.log(import.meta.resolve('ntk-lab'))"]);
    expect(where.stdout.trim()).toBe(`file://${join(dir, 'node_modules/ntk-lab/dist/index.js')}`);
  });

  it('has declarations a TypeScript project type-checks against', () => {
    writeFileSync(join(dir, 'check.ts'), [
      "import { parseModel, kernel, flow, NtkError, type Model, type KernelTensor } from 'ntk-lab';",
      "const model: Model = parseModel('param w = 0\\nmodel h = w^2', { set: {}, seed: 1 });",
      'const K3: KernelTensor = kernel(model, 3);',
      'const shape: number[] = K3.shape;',
      'const e: number = flow(model, { alpha: 2, T: 1 }).error;',
      'export { shape, e, NtkError };',
      '// @ts-expect-error: the order is a number',
      "kernel(model, '3');",
    ].join('\n'));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(root, 'node_modules/@types')] },
      files: ['check.ts'],
    }));
    const tsc = node(dir, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);
    expect(`${tsc.stdout}${tsc.stderr}`).toBe('');
    expect(tsc.status).toBe(0);
  });

  it('has CommonJS declarations: a .cts that requires ntk-lab type-checks under node16 and nodenext', () => {
    // With one `types` for both conditions, TypeScript reads the package's .d.ts as ES modules
    // ("type": "module") and refuses `require('ntk-lab')` from CommonJS with TS1471; the
    // `require` condition has its own tree of .d.cts (scripts/build.mjs).
    writeFileSync(join(dir, 'check.cts'), [
      "import ntk = require('ntk-lab');",
      "import type { KernelTensor, Model } from 'ntk-lab';",
      "const model: Model = ntk.parseModel('param w = 0\\nmodel h = w^2');",
      'const K3: KernelTensor = ntk.kernel(model, 3);',
      'const e: number = ntk.flow(model, { alpha: 2, T: 1 }).error;',
      '// @ts-expect-error: the order is a number',
      "ntk.kernel(model, '3');",
      'export = { shape: K3.shape, e, NtkError: ntk.NtkError };',
    ].join('\n'));
    for (const resolution of ['node16', 'nodenext']) {
      writeFileSync(join(dir, 'tsconfig.cjs.json'), JSON.stringify({
        compilerOptions: { module: resolution, moduleResolution: resolution, target: 'es2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(root, 'node_modules/@types')] },
        files: ['check.cts'],
      }));
      const tsc = node(dir, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.cjs.json']);
      expect(`${tsc.stdout}${tsc.stderr}`, resolution).toBe('');
      expect(tsc.status, resolution).toBe(0);
    }
    // and it runs: the compiled .cts is a require() of dist/index.cjs
    writeFileSync(join(dir, 'run.cjs'), "const ntk = require('ntk-lab'); console.log(ntk.kernel(ntk.parseModel('param w = 0\\nmodel h = w^2'), 3).shape.length);");
    const r = node(dir, ['run.cjs']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('3');
  });

  it('runs the `ntk` command from the prebuilt bundle, from its start-up snapshot', () => {
    const bin = join(dir, 'node_modules/.bin/ntk');
    const r = spawnSync(bin, ['kernel', 'node_modules/ntk-lab/examples/converse.ntk', '--json'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NTK_SNAPSHOT: 'check' } });
    expect(r.stderr).toBe('ntk: started from the start-up snapshot\n');
    expect(r.status).toBe(0);
    // converse.ntk: h = w/√T + b w²/2 at w0 = 0, T = 100: K = (1/√T)² = 0.01
    expect(JSON.parse(r.stdout).K[0][0]).toBeCloseTo(0.01, 15);
    const npx = spawnSync('npx', ['--offline', 'ntk', '--version'], { cwd: dir, encoding: 'utf8' });
    expect(npx.stdout.trim()).toBe(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version);
  });

  it("runs the README's library section verbatim", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const m = /<!-- library-example[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme);
    expect(m, 'the README marks its library example').not.toBeNull();
    writeFileSync(join(dir, 'study.mjs'), m![1]!);
    const r = node(dir, ['study.mjs']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^h\(w0\) = Float64Array\(4\)/);
    expect(r.stdout).toMatch(/K\^\{\(3\)\}\(X_\{1\}, X_\{2\}, X_\{3\}\)/);
    expect(r.stdout).toMatch(/E\(T\) = \d\.\d+(e-\d+)? ± \d\.\d+(e-\d+)?\n/);
  });

  for (const example of readdirSync(join(root, 'examples/api')).filter((f) => f.endsWith('.mjs')))
    it(`runs examples/api/${example} against the installed package`, () => {
      copyFileSync(join(root, 'examples/api', example), join(dir, example));
      const r = node(dir, [example]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(0);
    }, 120_000);

  it('when npm skips the install step, the first command makes the snapshot and says so', () => {
    const r = installTarball(info.tarball, { npm_config_ignore_scripts: 'true' });
    expect(r.status, r.output).toBe(0);
    dirs.push(r.dir);
    expect(r.output).not.toMatch(/ntk-lab: start-up snapshot made/);
    const bin = join(r.dir, 'node_modules/.bin/ntk');
    const first = spawnSync(bin, ['--version'], { cwd: r.dir, encoding: 'utf8' });
    expect(first.status).toBe(0);
    expect(first.stderr).toMatch(/^ntk: making the start-up snapshot for node v\d+\.\d+\.\d+, once \(NTK_SNAPSHOT=off skips it\)…\nntk: done in \d+\.\d s; the next commands start from it\nntk: npm did not run ntk-lab's install step, so the optional OpenBLAS backend is not built either \(`npm install-scripts approve ntk-lab`, then `npm rebuild ntk-lab`, builds it\)\n$/);
    const second = spawnSync(bin, ['--version'], { cwd: r.dir, encoding: 'utf8', env: { ...process.env, NTK_SNAPSHOT: 'check' } });
    expect(second.stderr).toBe('ntk: started from the start-up snapshot\n');
    expect(second.stdout).toBe(first.stdout);
    // and the pure path: no addon was built
    const backends = node(r.dir, ['--input-type=module', '-e', "import { availableBackends } from 'ntk-lab'; console.log(availableBackends().join())"]);
    expect(backends.stdout.trim()).toBe('wasm,js');
  }, 300_000);
});

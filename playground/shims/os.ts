/**
 * `node:os` in the browser bundle. `freemem()` is the playground's memory budget (the kernels'
 * memory check allows half of it, see memoryLimit in src/nth/hierarchy.ts), so that a kernel too
 * large for a tab is refused, naming its size, before anything is allocated.
 */
export const BROWSER_MEMORY_BYTES = 1024 ** 3;
export const freemem = () => BROWSER_MEMORY_BYTES;
export const totalmem = () => BROWSER_MEMORY_BYTES;
export const availableParallelism = () => 1;
export const cpus = () => [{}];
export const hostname = () => 'browser';
export const tmpdir = () => '/tmp';
export const homedir = () => '/';
export const platform = () => 'browser';
export const EOL = '\n';
export default { freemem, totalmem, availableParallelism, cpus, hostname, tmpdir, homedir, platform, EOL };

/** Node built-ins the library imports on paths the playground never takes (worker threads, require). */
function unavailable(): never {
  throw new Error('not available in the browser playground');
}
export const createRequire = () => unavailable;
export const createHash = unavailable;
export const randomBytes = (n: number) => crypto.getRandomValues(new Uint8Array(n));
export const Worker = unavailable;
export const isMainThread = true;
export const parentPort = null;
export const workerData = null;
export default { createRequire, createHash, randomBytes, Worker, isMainThread, parentPort, workerData };

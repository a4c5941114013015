/** `node:url` in the browser bundle: no file: URLs here (callers catch and skip). */
export function fileURLToPath(url: string | URL): string {
  const u = String(url);
  if (!u.startsWith('file:')) throw new TypeError(`not a file URL: ${u}`);
  return decodeURIComponent(u.slice('file://'.length));
}
export function pathToFileURL(path: string): URL {
  return new URL(`file://${path}`);
}
export default { fileURLToPath, pathToFileURL };

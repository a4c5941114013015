/**
 * src/runtime/backend-native.ts in the browser bundle: there is no native addon in a browser,
 * so the backend and LAPACK report themselves unavailable and the WASM backend is chosen.
 */
export type NativeAddon = never;
export const nativeAddon = () => null;
export const nativeBackend = () => null;
export const capNativeThreads = (_n: number) => undefined;

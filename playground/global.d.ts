// Stylesheets imported for their side effect (esbuild bundles them into app.css).
declare module '*.css';

/** The examples (file, first comment line, data files, text), put in by scripts/playground.mjs. */
declare const __NTK_EXAMPLES__: { file: string; title: string; data: string[]; source: string }[];

// Any other Node built-in the library imports on a path the page never takes (child processes
// for Slurm, worker threads, require): every export is a function that throws when called.
// CommonJS on purpose: esbuild reads named imports of a CommonJS module at run time, through
// this object's prototype, so no list of names has to be kept here.
const unavailable = new Proxy(
  {},
  {
    get: (_, name) =>
      name === 'then' || typeof name === 'symbol'
        ? undefined
        : () => {
            throw new Error(`${String(name)}: not available in the browser playground`);
          },
  },
);
module.exports = Object.create(unavailable);

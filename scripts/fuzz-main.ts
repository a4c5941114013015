/**
 * `npm run fuzz -- [--inputs N] [--seconds S] [--cli N] [--seed S]`: the fuzzer of scripts/fuzz.ts,
 * printing the counts of each outcome (defaults: 20000 inputs in process, 200 through the CLI,
 * 600 s, seed 1).
 */
import { fuzz } from './fuzz.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} ${args[i + 1]}: expected a number`);
  return v;
};
const root = process.cwd();
const t0 = Date.now();
const report = fuzz({
  root, seed: opt('seed', 1), inputs: opt('inputs', 20000), cliInputs: opt('cli', 200), seconds: opt('seconds', 600),
  // one line per report (a long run goes to a log file): the counts so far, should it be cut short
  onProgress: (n, counts, cli) => process.stderr.write(`${n} inputs, ${cli.inputs} through the CLI, ${((Date.now() - t0) / 1000).toFixed(0)} s: ${JSON.stringify(counts)} cli ${JSON.stringify(cli.counts)}\n`),
});
console.log(JSON.stringify({ ...report, seconds: (Date.now() - t0) / 1000 }, null, 1));
const bad = report.counts.internal + report.counts.hang + report.cli.counts.internal + report.cli.counts.hang + report.cli.counts.crash;
process.exit(bad ? 1 : 0);

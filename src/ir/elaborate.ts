/**
 * Elaboration: AST → typed tensor graph.
 *
 * Resolves names, evaluates dims and consts (with `--set` overrides), loads or draws the data
 * and the initial parameters, checks every shape before anything runs, unrolls loops and
 * inlines `def` calls.
 *
 * Mapping: a `def` declared on one row (`def f(x : [d])`) and called on more (`f(X)` with
 * X : [n, d]) maps over the extra leading axes. Inside the call every value is either shared
 * (independent of the mapped axes, e.g. a parameter) or carries the call's batch prefix as its
 * leading axes; the language's operations act on the logical (trailing) axes only. When the
 * call returns, the mapped axes become ordinary leading axes of the result in the caller.
 *
 * Compile-time scalars (dims, consts, loop variables, and arithmetic on them) stay numbers
 * (`Num`) so that shapes, ranges and indices are known; they become graph constants only when
 * combined with tensors.
 */
import { dirname, resolve } from 'node:path';
import type * as A from '../parser/ast.ts';
import { NtkError, fail, type Diagnostic } from '../parser/diagnostics.ts';
import { DataError, findNonFinite, formatIndex, loadArray } from '../io/data.ts';
import { Rng, deriveSeed } from '../io/rng.ts';
import { ELEMENTWISE, numericTwin } from './composites.ts';
import { Graph, type NodeId } from './graph.ts';
import type { DataInfo, Loss, Model, ParamInfo, ParamInit, TestInfo } from './model.ts';
import { ShapeError, sameShape, shapeStr, sizeOf } from './shape.ts';
import { foldSym, namedConstant, symNeg, symPow, type Provenance } from './symbols.ts';
import { overBudget } from '../io/memory.ts';

/** A compile-time number. */
interface Num {
  kind: 'num';
  value: number;
  /** Where the number came from, when it was computed from named consts and dims (for printing: `ir/symbols.ts`). */
  sym?: Provenance;
}

/** A tensor in the graph; its first `batch` axes are the current call's mapped axes. */
interface Ten {
  kind: 'tensor';
  node: NodeId;
  batch: number;
}

type Val = Num | Ten;

/** A compile-time number, with its provenance when it has one. */
const num = (value: number, sym: Provenance): Num => (sym ? { kind: 'num', value, sym } : { kind: 'num', value });

/**
 * Options of elaboration: `--set` overrides of dims and consts, the seed of the random
 * initializers, and the directory data files load from.
 */
export interface ElaborateOptions {
  /** `--set NAME=VALUE` overrides of dims and consts. */
  overrides?: Map<string, number>;
  /** Global seed for random initializers (default 0). */
  seed?: number;
  /** Load data files relative to this directory (default: the .ntk file's directory). */
  baseDir?: string;
  /**
   * Refuse (an error at the declaration, naming the size) a program whose declared data and
   * parameters would take more than this many bytes, before allocating them: the browser
   * playground's guard against a tab running out of memory. Default: no limit.
   */
  maxBytes?: number;
}

/**
 * The largest size of one axis. Beyond it no array of that axis could be allocated (a Float64Array
 * holds at most 2³² − 1 values), and sizes computed from it would leave the exact integers.
 */
export const MAX_DIM = 2 ** 32 - 1;

/**
 * The most expressions one elaboration evaluates (loops unrolled, defs inlined). Nested loops
 * (100000 × 100000) or defs calling each other twice per level would otherwise build graphs
 * without end; 10⁶ is about a second of elaboration and far beyond any model of the examples.
 */
export const MAX_ELABORATION_STEPS = 1_000_000;

/** Reductions and other structural builtins, with their positional arity. */
const STRUCTURAL: Record<string, { args: number; named: string[] }> = {
  sum: { args: 1, named: ['axis'] },
  mean: { args: 1, named: ['axis'] },
  dot: { args: 2, named: [] },
  norm: { args: 1, named: [] },
  transpose: { args: 1, named: [] },
  outer: { args: 2, named: [] },
  /** concat(x, y, …, axis = 0): two or more arrays joined along an axis (arity −1: any ≥ 2). */
  concat: { args: -1, named: ['axis'] },
};

const INITIALIZERS = ['load', 'normal', 'uniform'];

export const BUILTIN_NAMES = [...Object.keys(ELEMENTWISE), ...Object.keys(STRUCTURAL), ...INITIALIZERS];

interface DefEntry {
  decl: A.DefDecl;
}

interface GlobalEntry {
  kind: 'dim' | 'const' | 'data' | 'param' | 'def' | 'model' | 'loss' | 'test';
  span: A.Span;
  value?: Val;
}

/** Edit distance, for "did you mean" hints: two rows, O(|a|·|b|) time, O(|b|) memory. */
function distance(a: string, b: string): number {
  let prev = Int32Array.from({ length: b.length + 1 }, (_, j) => j);
  let cur = new Int32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    [prev, cur] = [cur, prev];
  }
  return prev[b.length]!;
}

/** Names longer than this get no "did you mean" (the distance is quadratic in the lengths). */
const SUGGEST_MAX_LENGTH = 64;

function suggest(name: string, candidates: Iterable<string>): string | undefined {
  if (name.length > SUGGEST_MAX_LENGTH) return undefined;
  let best: string | undefined, bestD = Infinity;
  for (const c of candidates) {
    // A hint needs distance ≤ |name|/3, and the distance is at least the difference in length.
    if (c.length > SUGGEST_MAX_LENGTH || Math.abs(c.length - name.length) > Math.max(1, name.length / 3)) continue;
    const dd = distance(name, c);
    if (dd < bestD) {
      best = c;
      bestD = dd;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(name.length / 3)) ? `did you mean '${best}'?` : undefined;
}

class Elaborator {
  readonly g = new Graph();
  readonly globals = new Map<string, GlobalEntry>();
  readonly defs = new Map<string, DefEntry>();
  readonly constants = new Map<string, number>();
  readonly params: ParamInfo[] = [];
  readonly paramValues: Float64Array[] = [];
  readonly data: DataInfo[] = [];
  readonly warnings: Diagnostic[] = [];
  private readonly callStack: string[] = [];
  /** Batch prefix of the current call context (empty at top level). */
  private prefix: number[] = [];
  private readonly usedOverrides = new Set<string>();
  /** Bytes of the data and parameters declared so far (checked against `maxBytes`). */
  private declaredBytes = 0;

  constructor(
    readonly program: A.Program,
    readonly overrides: Map<string, number>,
    readonly seed: number,
    readonly baseDir: string,
    readonly maxBytes?: number,
  ) {}

  get file() {
    return this.program.file;
  }

  err(span: A.Span | null, message: string, hint?: string): never {
    fail(this.file, span, message, hint);
  }

  // ------------------------------------------------------------------ program

  run(): Model {
    const p = this.program;
    // Defs may be called before their declaration; everything else is declared before use.
    for (const d of p.decls)
      if (d.kind === 'def') {
        this.declare(d.name, 'def', d.nameSpan);
        this.defs.set(d.name, { decl: d });
      }
    let output: NodeId | null = null, outputName = '', outputSpan: A.Span | null = null;
    let lossDecl: A.LossDecl | null = null;
    let test: TestInfo | null = null;
    for (const d of p.decls) {
      switch (d.kind) {
        case 'dim':
        case 'const':
          for (const b of d.bindings) this.bindConstant(d.kind, b);
          break;
        case 'data':
        case 'param':
          this.declareTensor(d);
          break;
        case 'def':
          break;
        case 'model': {
          if (output !== null) this.err(d.span, `a second model '${d.name}': a file declares one model`);
          this.declare(d.name, 'model', d.nameSpan);
          const v = this.expr(d.value, new Map());
          if (v.kind === 'num') this.err(d.value.span, `the model '${d.name}' is a constant: it must depend on a parameter`);
          output = v.node;
          outputName = d.name;
          outputSpan = d.span;
          break;
        }
        case 'loss':
          if (lossDecl) this.err(d.span, 'a second loss: a file declares one loss');
          lossDecl = d;
          break;
        case 'test':
          if (test !== null)
            this.err(d.span, `a second test declaration '${d.name}': a file declares at most one (the first is '${test.name}' at line ${test.span.line})`);
          test = this.test(d);
          break;
      }
    }
    for (const [name] of this.overrides)
      if (!this.usedOverrides.has(name)) {
        const known = [...this.constants.keys()];
        throw new NtkError([{
          severity: 'error',
          file: '--set',
          span: null,
          message: `--set ${name}: the model has no dim or const named '${name}'`,
          ...(suggest(name, known) ? { hint: suggest(name, known)! } : {}),
        }]);
      }
    // what the file lacks is located where it would be added: at the end of the file
    if (output === null) this.err(endOfSource(p.source), "no model: declare one, e.g. 'model h = w * x'");
    if (this.params.length === 0) this.err(endOfSource(p.source), "the model has no parameters: declare one with 'param', e.g. 'param w = 0'");
    const g = this.g;
    const paramNodes = new Set(this.params.map((q) => q.node));
    if (!g.cone([output]).some((n) => paramNodes.has(n)))
      this.err(outputSpan, `the model '${outputName}' does not depend on any parameter`);
    const loss = lossDecl ? this.loss(lossDecl, output) : null;

    const paramCount = this.params.reduce((s, q) => s + q.size, 0);
    const w0 = new Float64Array(paramCount);
    this.params.forEach((q, i) => w0.set(this.paramValues[i]!, q.offset));
    const nonSmooth = g.hasNonSmooth([output]);
    return {
      file: this.file,
      source: p.source,
      program: p,
      graph: g,
      params: this.params,
      paramCount,
      w0,
      data: this.data,
      output,
      outputName,
      outputShape: g.shape(output),
      loss,
      test,
      constants: this.constants,
      nonSmooth,
      diagnostics: this.warnings,
      seed: this.seed,
      spans: this.spans,
    };
  }

  declare(name: string, kind: GlobalEntry['kind'], span: A.Span, value?: Val) {
    const prev = this.globals.get(name);
    if (prev) this.err(span, `'${name}' is already declared (as a ${prev.kind} at line ${prev.span.line})`);
    if (BUILTIN_NAMES.includes(name) && kind !== 'model' && kind !== 'loss' && kind !== 'test')
      this.err(span, `'${name}' is the name of a built-in function; choose another name`);
    this.globals.set(name, value === undefined ? { kind, span } : { kind, span, value });
  }

  bindConstant(kind: 'dim' | 'const', b: A.Binding) {
    let value: number;
    if (this.overrides.has(b.name)) {
      value = this.overrides.get(b.name)!;
      this.usedOverrides.add(b.name);
    } else {
      value = this.num(b.value, new Map(), `the value of ${kind} '${b.name}'`);
    }
    if (kind === 'dim' && !(Number.isInteger(value) && value > 0 && value <= MAX_DIM)) {
      const from = this.overrides.has(b.name) ? ` (from --set ${b.name}=${value})` : '';
      this.err(b.value.span, `dim '${b.name}' must be a positive integer${value > MAX_DIM ? ` of at most ${MAX_DIM}` : ''}, got ${value}${from}`);
    }
    if (!Number.isFinite(value)) this.err(b.value.span, `${kind} '${b.name}' is ${value}`);
    this.declare(b.name, kind, b.nameSpan, { kind: 'num', value, sym: namedConstant(b.name) });
    this.constants.set(b.name, value);
  }

  // ------------------------------------------------------------------ data and params

  shapeOf(ann: A.ShapeAnn | null): number[] | null {
    if (!ann) return null;
    return ann.dims.map((e) => {
      const v = this.num(e, new Map(), 'a dimension');
      if (!(Number.isInteger(v) && v > 0)) this.err(e.span, `a dimension must be a positive integer, got ${v}`);
      if (v > MAX_DIM) this.err(e.span, `a dimension must be at most ${MAX_DIM}, got ${v}`);
      return v;
    });
  }

  /** Bytes of parameters and data allocated so far (against the memory budget). */
  private allocated = 0;

  /**
   * A Float64Array for a tensor of `shape`, after checking the memory budget (runtime/memory.ts)
   * for it and everything allocated before: a refusal is located at the declaration. A parameter
   * counts twice: its values are copied once more into the model's w0.
   */
  allocate(shape: number[], span: A.Span, what: string, param: boolean): Float64Array {
    const n = sizeOf(shape);
    const bytes = n * 8 * (param ? 2 : 1);
    const why = overBudget(this.allocated + bytes, `${what} : ${shapeStr(shape)}${param ? ' (its values and w0)' : ''}${this.allocated ? ' with the parameters and data before it' : ''}`,
      'use smaller dims (--set NAME=…) or a larger --max-memory');
    if (why) this.err(span, why);
    this.allocated += bytes;
    return new Float64Array(n);
  }

  declareTensor(d: A.DataDecl | A.ParamDecl) {
    const declared = this.shapeOf(d.shape);
    if (declared && this.maxBytes !== undefined) {
      // Everything declared so far plus this one, 8 bytes an entry, before any of it is allocated.
      const own = sizeOf(declared) * 8;
      this.declaredBytes += own;
      if (this.declaredBytes > this.maxBytes) {
        const total = formatBytes(this.declaredBytes) !== formatBytes(own) ? `, ${formatBytes(this.declaredBytes)} with the tensors declared before it` : '';
        this.err(d.shape!.span, `${d.kind} '${d.name}' : [${declared.join(', ')}] has ${sizeOf(declared).toExponential(2)} entries (${formatBytes(own)}${total}): more than the ${formatBytes(this.maxBytes)} allowed here`, 'use smaller dims (e.g. with --set), or the command line');
      }
    }
    const { data, shape } = this.initialValue(d, declared);
    this.declare(d.name, d.kind, d.nameSpan);
    const node = this.g.input(d.name, d.kind, shape);
    this.globals.get(d.name)!.value = { kind: 'tensor', node, batch: 0 };
    if (d.kind === 'param') {
      const offset = this.params.reduce((s, q) => s + q.size, 0);
      this.params.push({ name: d.name, shape, node, offset, size: sizeOf(shape), span: d.span, init: this.lastInit });
      this.paramValues.push(data);
    } else {
      this.data.push({ name: d.name, shape, node, value: data, span: d.span });
    }
  }

  /** Evaluate an initializer to an array of the declared shape. */
  /** The distribution of the last initializer evaluated (for ParamInfo.init). */
  lastInit: ParamInit = { dist: 'fixed' };

  initialValue(d: A.DataDecl | A.ParamDecl, declared: number[] | null): { data: Float64Array; shape: number[] } {
    const e = d.init.expr;
    this.lastInit = { dist: 'fixed' };
    const what = `${d.kind} '${d.name}'`;
    if (e.kind === 'call' && INITIALIZERS.includes(e.callee) && !this.defs.has(e.callee)) {
      if (e.callee === 'load') return this.load(e, declared, what);
      const shape = declared ?? [];
      const named = new Map(e.named.map((a) => [a.name, a]));
      for (const a of e.named) if (a.name !== 'seed' && a.name !== 'mirror') this.err(a.span, `unknown option '${a.name}' of ${e.callee} (only 'seed' and 'mirror')`);
      if (e.args.length !== 2)
        this.err(e.span, `${e.callee} takes 2 arguments (${e.callee === 'normal' ? 'mean, std' : 'lo, hi'}), got ${e.args.length}`);
      const p1 = this.num(e.args[0]!, new Map(), `an argument of ${e.callee}`);
      const p2 = this.num(e.args[1]!, new Map(), `an argument of ${e.callee}`);
      if (e.callee === 'normal' && !(p2 >= 0)) this.err(e.args[1]!.span, `the standard deviation must be ≥ 0, got ${p2}`);
      if (e.callee === 'uniform' && !(p2 >= p1)) this.err(e.span, `uniform(lo, hi) needs lo ≤ hi, got ${p1} and ${p2}`);
      const seedArg = named.get('seed');
      let seed: number;
      if (seedArg) {
        seed = this.num(seedArg.value, new Map(), 'a seed');
        if (!Number.isSafeInteger(seed) || seed < 0) this.err(seedArg.value.span, `a seed must be an integer from 0 to 2^53 − 1, got ${seed}`);
        seed = deriveSeed(seed, d.kind, d.name);
      } else {
        seed = deriveSeed(this.seed, d.kind, d.name);
      }
      // mirror = ±1: symmetric initialization (seed 004). The first half along the first axis is
      // drawn, the second half is ±1 times it: W = [W0; W0] (mirror = 1), v = [v0; −v0]
      // (mirror = −1), so that f = vᵀφ(W x)/√m is 0 at w0 while W0, v0 stay i.i.d. draws.
      const mirrorArg = named.get('mirror');
      let mirror = 0;
      if (mirrorArg) {
        mirror = this.num(mirrorArg.value, new Map(), 'mirror');
        if (mirror !== 1 && mirror !== -1) this.err(mirrorArg.value.span, `mirror must be 1 (W = [W0; W0]) or -1 (v = [v0; -v0]), got ${mirror}`);
        if (shape.length === 0 || shape[0]! % 2 !== 0)
          this.err(mirrorArg.span, `mirror needs an even first dimension to split in two halves, but ${what} has shape ${shapeStr(shape)}`);
      }
      const rng = new Rng(seed);
      const data = this.allocate(shape, d.span, what, d.kind === 'param');
      const drawn = mirror === 0 ? data : data.subarray(0, data.length / 2);
      if (e.callee === 'normal') rng.fillNormal(drawn, p1, p2);
      else rng.fillUniform(drawn, p1, p2);
      if (mirror !== 0) for (let i = 0, h = drawn.length; i < h; i++) data[h + i] = mirror * drawn[i]!;
      this.lastInit = e.callee === 'normal' ? { dist: 'normal', mean: p1, std: p2, span: e.span, mirror } : { dist: 'uniform', lo: p1, hi: p2, span: e.span, mirror };
      return { data, shape };
    }
    if (d.init.kind === 'draw')
      this.err(e.span, `'~' needs a random draw: normal(mean, std) or uniform(lo, hi)`);
    const v = this.expr(e, new Map());
    if (v.kind === 'num') {
      const shape = declared ?? [];
      return { data: this.allocate(shape, d.span, what, d.kind === 'param').fill(v.value), shape };
    }
    // A constant tensor expression (an array literal, possibly with arithmetic).
    const g = this.g;
    if (g.op(v.node) !== 'literal' && g.op(v.node) !== 'const')
      this.err(e.span, `the initial value of ${what} must be known before the model runs (a number, an array, load, normal or uniform)`);
    const shape = g.shape(v.node);
    if (declared && !sameShape(declared, shape))
      this.err(e.span, `${what} is declared with shape ${shapeStr(declared)} but its value has shape ${shapeStr(shape)}`);
    const data = g.op(v.node) === 'literal' ? g.attrs(v.node).data!.slice() : this.allocate(shape, d.span, what, d.kind === 'param').fill(g.attrs(v.node).value!);
    return { data, shape };
  }

  load(e: A.Call, declared: number[] | null, what: string): { data: Float64Array; shape: number[] } {
    if (e.args.length !== 1 || e.args[0]!.kind !== 'string' || e.named.length)
      this.err(e.span, 'load takes one argument, a file name in double quotes: load("X.npy")');
    const rel = (e.args[0] as A.StringLit).value;
    const path = resolve(this.baseDir, rel);
    let arr;
    try {
      arr = loadArray(path);
    } catch (x) {
      if (x instanceof DataError) {
        const at = x.line !== undefined ? ` (${rel}:${x.line}${x.col !== undefined ? `:${x.col}` : ''})` : '';
        this.err(e.args[0]!.span, `${x.message}${at}`);
      }
      throw x;
    }
    const bad = findNonFinite(arr);
    if (bad >= 0)
      this.err(e.args[0]!.span, `'${rel}' holds ${arr.data[bad]} at ${formatIndex(arr.shape, bad)}: data must be finite`);
    if (declared && !sameShape(declared, arr.shape))
      this.err(e.args[0]!.span, `${what} is declared with shape ${shapeStr(declared)} but '${rel}' holds shape ${shapeStr(arr.shape)}`);
    return { data: arr.data, shape: arr.shape };
  }

  // ------------------------------------------------------------------ loss

  loss(d: A.LossDecl, output: NodeId): Loss {
    const g = this.g;
    const outShape = g.shape(output);
    if (d.form === 'square') {
      const named = new Map(d.named.map((a) => [a.name, a]));
      for (const a of d.named) if (a.name !== 'target') this.err(a.span, `unknown option '${a.name}' of square (only 'target')`);
      const t = named.get('target');
      if (!t) this.err(d.span, 'square needs a target: loss square(target = y)');
      const v = this.expr(t.value, new Map());
      const node = this.toNode(v);
      const ts = g.shape(node);
      if (!sameShape(ts, outShape) && ts.length !== 0)
        this.err(t.value.span, `the target has shape ${shapeStr(ts)} but the model's output has shape ${shapeStr(outShape)}`);
      if (this.params.some((q) => g.cone([node]).includes(q.node)))
        this.err(t.value.span, 'the target must not depend on the parameters');
      return { kind: 'square', target: g.broadcast(node, outShape), span: d.span };
    }
    const vNode = g.input(d.variable, 'var', outShape);
    const locals = new Map<string, Val>([[d.variable, { kind: 'tensor', node: vNode, batch: 0 }]]);
    const value = this.toNode(this.expr(d.value, locals));
    if (g.shape(value).length !== 0)
      this.err(d.value.span, `a loss must be a scalar, but this expression has shape ${shapeStr(g.shape(value))}`);
    if (this.params.some((q) => g.cone([value]).includes(q.node)))
      this.err(d.value.span, `the loss must be a function of '${d.variable}' (and data), not of the parameters`);
    return { kind: 'custom', v: vNode, value, span: d.span };
  }

  // ------------------------------------------------------------------ test outputs

  /**
   * `test NAME = expr[, target = expr]`: elaborated like the model's expression (at top level,
   * so defs map over the leading axes of held-out data), then flattened. It may use params,
   * data, dims and consts only — not the model, the loss or itself, which have no value.
   */
  test(d: A.TestDecl): TestInfo {
    const g = this.g;
    this.declare(d.name, 'test', d.nameSpan);
    const v = this.expr(d.value, new Map());
    if (v.kind === 'num') this.err(d.value.span, `the test outputs '${d.name}' are a constant: they must depend on a parameter`);
    const node = v.node;
    const cone = g.cone([node]);
    const paramNodes = new Set(this.params.map((q) => q.node));
    for (const n of cone) {
      const role = g.op(n) === 'input' ? g.attrs(n).role : undefined;
      if (role !== undefined && role !== 'param' && role !== 'data')
        this.err(d.value.span, `the test outputs '${d.name}' depend on '${g.attrs(n).name}' (a ${role}): they may use parameters, data, dims and consts only`);
    }
    if (!cone.some((n) => paramNodes.has(n)))
      this.err(d.value.span, `the test outputs '${d.name}' do not depend on any parameter`);
    const shape = g.shape(node);
    const kt = sizeOf(shape);
    let target: NodeId | null = null;
    if (d.target) {
      const t = this.toNode(this.expr(d.target.value, new Map()));
      const ts = g.shape(t);
      if (!sameShape(ts, shape) && ts.length !== 0)
        this.err(d.target.value.span, `the test target has shape ${shapeStr(ts)} but the test outputs '${d.name}' have shape ${shapeStr(shape)}`);
      if (g.cone([t]).some((n) => paramNodes.has(n)))
        this.err(d.target.value.span, 'the test target must not depend on the parameters');
      target = g.reshape(g.broadcast(t, shape), [kt]);
    }
    return { name: d.name, output: g.reshape(node, [kt]), shape, target, nonSmooth: g.hasNonSmooth([node]), span: d.span };
  }

  // ------------------------------------------------------------------ expressions

  /** Evaluate to a compile-time number, or fail with `what` in the message. */
  num(e: A.Expr, locals: Map<string, Val>, what: string): number {
    const v = this.expr(e, locals);
    if (v.kind === 'num') return v.value;
    const c = this.g.constValue(v.node);
    if (c !== undefined && this.g.shape(v.node).length === 0) return c;
    this.err(e.span, `${what} must be a number known before the model runs`);
  }

  toNode(v: Val): NodeId {
    return v.kind === 'num' ? this.g.constant(v.value, [], v.sym) : v.node;
  }

  /** Logical shape (without the batch prefix). */
  logical(v: Ten): number[] {
    return this.g.shape(v.node).slice(v.batch);
  }

  /** Run a graph construction, turning shape errors into located diagnostics. */
  shaped<T>(span: A.Span, f: () => T): T {
    try {
      return f();
    } catch (x) {
      if (x instanceof ShapeError) this.err(span, x.message);
      throw x;
    }
  }

  /** Expressions evaluated so far (against MAX_ELABORATION_STEPS). */
  private steps = 0;

  /** Every tensor expression's node → the span of the first (innermost) expression that built it. */
  readonly spans = new Map<NodeId, A.Span>();

  expr(e: A.Expr, locals: Map<string, Val>): Val {
    if (++this.steps > MAX_ELABORATION_STEPS)
      this.err(e.span, `the model unrolls to more than ${MAX_ELABORATION_STEPS} expressions (loops and calls of defs, expanded): use fewer or shorter loops`);
    const v = this.exprAt(e, locals);
    if (v.kind === 'tensor' && !this.spans.has(v.node)) this.spans.set(v.node, e.span);
    return v;
  }

  exprAt(e: A.Expr, locals: Map<string, Val>): Val {
    switch (e.kind) {
      case 'number':
        return { kind: 'num', value: e.value };
      case 'string':
        this.err(e.span, 'a string is only allowed as the file name of load("…")');
      // falls through (never)
      case 'name':
        return this.lookup(e, locals);
      case 'array':
        return this.array(e, locals);
      case 'unary': {
        const v = this.expr(e.operand, locals);
        if (e.op === '+') return v;
        return v.kind === 'num' ? num(-v.value, symNeg(v.sym)) : { ...v, node: this.g.neg(v.node) };
      }
      case 'binary':
        return this.binary(e, locals);
      case 'call':
        return this.call(e, locals);
      case 'index':
        return this.index(e, locals);
    }
  }

  lookup(e: A.NameRef, locals: Map<string, Val>): Val {
    const local = locals.get(e.name);
    if (local) return local;
    const global = this.globals.get(e.name);
    if (global?.value) return global.value;
    if (global?.kind === 'def') this.err(e.span, `'${e.name}' is a function: call it, e.g. ${e.name}(x)`);
    if (global?.kind === 'test') this.err(e.span, `'${e.name}' cannot be used in an expression (it names the test outputs)`);
    if (global) this.err(e.span, `'${e.name}' cannot be used in an expression (it is the ${global.kind})`);
    const later = this.program.decls.find(
      (d) => ('name' in d && d.name === e.name) || ((d.kind === 'dim' || d.kind === 'const') && d.bindings.some((b) => b.name === e.name)),
    );
    if (later?.kind === 'loss') this.err(e.span, `'${e.name}' is the loss: it cannot be used in an expression`);
    if (later) this.err(e.span, `'${e.name}' is used before its declaration at line ${later.span.line}`);
    const names = [...locals.keys(), ...this.globals.keys()];
    this.err(e.span, `unknown name '${e.name}'`, suggest(e.name, names));
  }

  array(e: A.ArrayLit, locals: Map<string, Val>): Val {
    if (e.elements.length === 0) this.err(e.span, 'an empty array has no shape');
    const items = e.elements.map((x) => this.expr(x, locals));
    const g = this.g;
    // All numbers (possibly nested literals): one literal tensor.
    const flat: number[] = [];
    let inner: number[] | null = null;
    let allConst = true;
    for (const [k, it] of items.entries()) {
      let shape: number[], values: ArrayLike<number>;
      if (it.kind === 'num') {
        shape = [];
        values = [it.value];
      } else if (it.batch === 0 && (g.op(it.node) === 'literal' || g.op(it.node) === 'const')) {
        shape = g.shape(it.node);
        values = g.op(it.node) === 'literal' ? g.attrs(it.node).data! : new Float64Array(g.sizeOf(it.node)).fill(g.attrs(it.node).value!);
      } else {
        allConst = false;
        shape = this.logical(it);
        values = [];
      }
      if (inner === null) inner = shape;
      else if (!sameShape(inner, shape))
        this.err(e.elements[k]!.span, `array elements must have the same shape: ${shapeStr(inner)} and ${shapeStr(shape)}`);
      for (let i = 0; i < values.length; i++) flat.push(values[i]!);
    }
    const shape = [items.length, ...inner!];
    if (allConst) return { kind: 'tensor', node: g.literal(Float64Array.from(flat), shape), batch: 0 };
    // Stack tensors along a new logical axis 0.
    const batched = items.some((it) => it.kind === 'tensor' && it.batch > 0);
    const p = batched ? this.prefix : [];
    const parts = items.map((it) => {
      let n = this.toNode(it);
      if (batched && (it.kind === 'num' || it.batch === 0)) n = g.broadcast(n, [...p, ...inner!]);
      return g.reshape(n, [...p, 1, ...inner!]);
    });
    return { kind: 'tensor', node: g.concat(parts, p.length), batch: p.length };
  }

  /** Bring tensors of one context to aligned physical shapes for an elementwise op. */
  align(vals: Ten[]): NodeId[] {
    const rank = Math.max(...vals.map((v) => this.logical(v).length));
    return vals.map((v) => {
      if (v.batch === 0) return v.node;
      const l = this.logical(v);
      return l.length === rank ? v.node : this.g.reshape(v.node, [...this.prefix, ...Array(rank - l.length).fill(1), ...l]);
    });
  }

  asTen(v: Val): Ten {
    return v.kind === 'num' ? { kind: 'tensor', node: this.g.constant(v.value, [], v.sym), batch: 0 } : v;
  }

  elementwise(op: 'add' | 'sub' | 'mul' | 'div' | 'pow', a: Val, b: Val, span: A.Span, left: A.Span, right: A.Span): Val {
    if (a.kind === 'num' && b.kind === 'num') {
      const x = a.value, y = b.value;
      const value = op === 'add' ? x + y : op === 'sub' ? x - y : op === 'mul' ? x * y : op === 'div' ? x / y : Math.pow(x, y);
      return num(value, foldSym(op, a.sym, x, b.sym, y));
    }
    const ta = this.asTen(a), tb = this.asTen(b);
    const [na, nb] = this.align([ta, tb]);
    try {
      const node = this.g.binary(op, na!, nb!);
      return { kind: 'tensor', node, batch: Math.max(ta.batch, tb.batch) };
    } catch (x) {
      if (x instanceof ShapeError) {
        const sym = { add: '+', sub: '-', mul: '*', div: '/', pow: '^' }[op];
        this.err(span, `shape mismatch in '${sym}': left is ${shapeStr(this.logical(ta))}, right is ${shapeStr(this.logical(tb))}`,
          `elementwise operations broadcast like numpy: trailing sizes must be equal or 1 (${left.line}:${left.col} and ${right.line}:${right.col})`);
      }
      throw x;
    }
  }

  /**
   * A binary expression. Chains (`w + w + … + w`, folded to the left by the parser) are walked
   * along their left spine with a loop, not a recursion: a sum of 10⁵ terms is as deep as one.
   * The left operand is still elaborated before the right one, as the recursion did.
   */
  binary(e: A.Binary, locals: Map<string, Val>): Val {
    const spine: A.Binary[] = [e];
    while (spine[spine.length - 1]!.left.kind === 'binary') spine.push(spine[spine.length - 1]!.left as A.Binary);
    let acc = this.expr(spine[spine.length - 1]!.left, locals);
    for (let i = spine.length - 1; i >= 0; i--) acc = this.binaryOp(spine[i]!, acc, this.expr(spine[i]!.right, locals));
    return acc;
  }

  binaryOp(e: A.Binary, a: Val, b: Val): Val {
    switch (e.op) {
      case '+': return this.elementwise('add', a, b, e.span, e.left.span, e.right.span);
      case '-': return this.elementwise('sub', a, b, e.span, e.left.span, e.right.span);
      case '*': return this.elementwise('mul', a, b, e.span, e.left.span, e.right.span);
      case '/': return this.elementwise('div', a, b, e.span, e.left.span, e.right.span);
      case '^': return this.elementwise('pow', a, b, e.span, e.left.span, e.right.span);
      case '@': return this.matmul(a, b, e);
    }
  }

  /** `a @ b` on logical shapes: matrix·matrix, matrix·vector, vector·matrix, vector·vector. */
  matmul(av: Val, bv: Val, e: A.Binary): Val {
    if (av.kind === 'num' || bv.kind === 'num') this.err(e.span, "'@' needs arrays on both sides; use '*' for scalars");
    const g = this.g;
    const a = av as Ten, b = bv as Ten;
    const la = this.logical(a), lb = this.logical(b);
    const mismatch = () =>
      this.err(e.span, `shape mismatch in '@': left is ${shapeStr(la)}, right is ${shapeStr(lb)}`,
        `the last axis of the left must equal the ${lb.length === 1 ? 'only' : 'first matrix'} axis of the right`);
    if (la.length === 0 || lb.length === 0) this.err(e.span, `'@' needs arrays on both sides, got shapes ${shapeStr(la)} and ${shapeStr(lb)}`);
    const K = la[la.length - 1]!;
    const Kb = lb.length === 1 ? lb[0]! : lb[lb.length - 2]!;
    if (K !== Kb) mismatch();
    const p = this.prefix;
    const batch = Math.max(a.batch, b.batch);
    const P = sizeOf(p);
    if (la.length === 1 && lb.length === 1) {
      const [na, nb] = this.align([a, b]);
      return { kind: 'tensor', node: g.sum(g.mul(na!, nb!), [-1]), batch };
    }
    return this.shaped(e.span, () => {
      if (lb.length === 1) {
        // matrix (…, M, K) · vector K
        if (b.batch > 0 && a.batch === 0 && la.length === 2) {
          // Rows of a batch of vectors times Aᵀ: one matrix product [P, K]·[K, M].
          const rows = g.reshape(b.node, [P, K]);
          const out = g.matmul(rows, g.swapLast(a.node));
          return { kind: 'tensor', node: g.reshape(out, [...p, la[0]!]), batch };
        }
        const col = g.reshape(b.node, [...g.shape(b.node), 1]);
        const [na, nb] = this.align([a, { kind: 'tensor', node: col, batch: b.batch }]);
        const out = g.matmul(na!, nb!);
        const s = g.shape(out);
        return { kind: 'tensor', node: g.reshape(out, s.slice(0, -1)), batch };
      }
      if (la.length === 1) {
        // vector K · matrix (…, K, N)
        if (a.batch > 0 && b.batch === 0 && lb.length === 2) {
          const out = g.matmul(g.reshape(a.node, [P, K]), b.node);
          return { kind: 'tensor', node: g.reshape(out, [...p, lb[1]!]), batch };
        }
        const row = g.reshape(a.node, [...g.shape(a.node).slice(0, -1), 1, K]);
        const [na, nb] = this.align([{ kind: 'tensor', node: row, batch: a.batch }, b]);
        const out = g.matmul(na!, nb!);
        const s = g.shape(out);
        return { kind: 'tensor', node: g.reshape(out, [...s.slice(0, -2), s[s.length - 1]!]), batch };
      }
      const [na, nb] = this.align([a, b]);
      return { kind: 'tensor', node: g.matmul(na!, nb!), batch };
    });
  }

  // ------------------------------------------------------------------ indexing

  index(e: A.Index, locals: Map<string, Val>): Val {
    const t = this.expr(e.target, locals);
    if (t.kind === 'num') this.err(e.target.span, 'a number cannot be indexed');
    const g = this.g;
    const shape = this.logical(t);
    if (e.items.length > shape.length)
      this.err(e.span, `too many indices: ${e.items.length} for an array of shape ${shapeStr(shape)}`);
    const b = t.batch;
    const phys = g.shape(t.node);
    const starts = phys.map(() => 0), ends = phys.slice();
    const dropped: number[] = [];
    e.items.forEach((it, k) => {
      const size = shape[k]!;
      const ax = b + k;
      if (it.kind === 'at') {
        let i = this.num(it.index, locals, 'an index');
        if (!Number.isInteger(i)) this.err(it.span, `an index must be an integer, got ${i}`);
        if (i < -size || i >= size)
          this.err(it.span, `index ${i} is out of range for axis ${k} of size ${size} (shape ${shapeStr(shape)})`);
        if (i < 0) i += size;
        starts[ax] = i;
        ends[ax] = i + 1;
        dropped.push(ax);
      } else {
        const norm = (x: A.Expr | null, dflt: number) => {
          if (!x) return dflt;
          const v = this.num(x, locals, 'a slice bound');
          if (!Number.isInteger(v)) this.err(x.span, `a slice bound must be an integer, got ${v}`);
          const w = v < 0 ? v + size : v;
          if (w < 0 || w > size) this.err(x.span, `slice bound ${v} is out of range for axis ${k} of size ${size}`);
          return w;
        };
        const lo = norm(it.lo, 0), hi = norm(it.hi, size);
        if (hi <= lo) this.err(it.span, `the slice ${lo}:${hi} is empty`);
        starts[ax] = lo;
        ends[ax] = hi;
      }
    });
    const sliced = g.slice(t.node, starts, ends);
    const out = g.reshape(sliced, g.shape(sliced).filter((_, i) => !dropped.includes(i)));
    return { kind: 'tensor', node: out, batch: b };
  }

  // ------------------------------------------------------------------ calls

  call(e: A.Call, locals: Map<string, Val>): Val {
    if (this.defs.has(e.callee) && !locals.has(e.callee)) return this.callDef(e, locals);
    const elementwise = ELEMENTWISE[e.callee];
    if (elementwise) {
      if (e.args.length !== 1 || e.named.length) this.err(e.span, `${e.callee} takes 1 argument, got ${e.args.length + e.named.length}`);
      const v = this.expr(e.args[0]!, locals);
      if (v.kind === 'num') {
        // sqrt keeps the provenance (√m); another function of a named const is shown as its value
        return num(numericTwin(e.callee)(v.value), e.callee === 'sqrt' ? symPow(v.sym, 0.5) : undefined);
      }
      return { kind: 'tensor', node: elementwise(this.g, v.node), batch: v.batch };
    }
    const structural = STRUCTURAL[e.callee];
    if (structural) return this.structural(e, structural, locals);
    if (INITIALIZERS.includes(e.callee))
      this.err(e.span, `${e.callee}(…) is an initializer: use it in a data or param declaration`);
    this.err(e.calleeSpan, `unknown function '${e.callee}'`, suggest(e.callee, [...this.defs.keys(), ...BUILTIN_NAMES]));
  }

  structural(e: A.Call, spec: { args: number; named: string[] }, locals: Map<string, Val>): Val {
    if (spec.args < 0 ? e.args.length < 2 : e.args.length !== spec.args)
      this.err(e.span, spec.args < 0 ? `${e.callee} takes two or more arguments, got ${e.args.length}` : `${e.callee} takes ${spec.args} argument${spec.args > 1 ? 's' : ''}, got ${e.args.length}`);
    for (const a of e.named)
      if (!spec.named.includes(a.name)) this.err(a.span, `unknown option '${a.name}' of ${e.callee}${spec.named.length ? ` (only ${spec.named.map((n) => `'${n}'`).join(', ')})` : ''}`);
    const args = e.args.map((a) => this.asTen(this.expr(a, locals)));
    const g = this.g;
    const x = args[0]!;
    const shape = this.logical(x);
    const b = x.batch;
    const axisArg = e.named.find((a) => a.name === 'axis');
    const axes = (): number[] => {
      if (!axisArg) return shape.map((_, i) => i + b);
      const ax = this.num(axisArg.value, locals, 'an axis');
      if (!Number.isInteger(ax) || ax < -shape.length || ax >= shape.length)
        this.err(axisArg.value.span, `axis ${ax} is out of range for shape ${shapeStr(shape)}`);
      return [(ax < 0 ? ax + shape.length : ax) + b];
    };
    switch (e.callee) {
      case 'sum':
        return { kind: 'tensor', node: g.sum(x.node, axes()), batch: b };
      case 'mean': {
        const ax = axes();
        const count = ax.reduce((s, a) => s * g.shape(x.node)[a]!, 1);
        return { kind: 'tensor', node: g.div(g.sum(x.node, ax), g.constant(count)), batch: b };
      }
      case 'norm':
        return { kind: 'tensor', node: g.pow(g.sum(g.mul(x.node, x.node), axes()), g.constant(0.5)), batch: b };
      case 'transpose': {
        if (shape.length < 2) this.err(e.span, `transpose needs a matrix, got shape ${shapeStr(shape)}`);
        return { kind: 'tensor', node: g.swapLast(x.node), batch: b };
      }
      case 'dot': {
        const y = args[1]!;
        const ly = this.logical(y);
        if (shape.length !== 1 || ly.length !== 1 || shape[0] !== ly[0])
          this.err(e.span, `dot needs two vectors of the same length, got ${shapeStr(shape)} and ${shapeStr(ly)}`);
        const [na, nb] = this.align([x, y]);
        return { kind: 'tensor', node: g.sum(g.mul(na!, nb!), [-1]), batch: Math.max(b, y.batch) };
      }
      case 'concat': {
        // the axis of the arrays' own (logical) shape; every other axis must agree
        let ax = 0;
        if (axisArg) {
          ax = this.num(axisArg.value, locals, 'an axis');
          if (!Number.isInteger(ax) || ax < -shape.length || ax >= shape.length)
            this.err(axisArg.value.span, `axis ${ax} is out of range for shape ${shapeStr(shape)}`);
          if (ax < 0) ax += shape.length;
        }
        if (shape.length === 0) this.err(e.args[0]!.span, 'concat needs arrays, got a scalar');
        args.forEach((a, k) => {
          const l = this.logical(a);
          if (l.length !== shape.length || l.some((d, i) => i !== ax && d !== shape[i]))
            this.err(e.args[k]!.span, `concat along axis ${ax}: shape ${shapeStr(l)} does not match ${shapeStr(shape)} off that axis`);
        });
        const batched = args.some((a) => a.batch > 0);
        const p = batched ? this.prefix : [];
        const parts = args.map((a) => (batched && a.batch === 0 ? g.broadcast(a.node, [...p, ...this.logical(a)]) : a.node));
        return { kind: 'tensor', node: g.concat(parts, p.length + ax), batch: p.length };
      }
      case 'outer': {
        const y = args[1]!;
        const ly = this.logical(y);
        if (shape.length !== 1 || ly.length !== 1) this.err(e.span, `outer needs two vectors, got ${shapeStr(shape)} and ${shapeStr(ly)}`);
        const col = { kind: 'tensor' as const, node: g.reshape(x.node, [...g.shape(x.node), 1]), batch: b };
        const [na, nb] = this.align([col, y]);
        return { kind: 'tensor', node: g.mul(na!, nb!), batch: Math.max(b, y.batch) };
      }
    }
    this.err(e.span, `internal: no rule for ${e.callee}`);
  }

  callDef(e: A.Call, locals: Map<string, Val>): Val {
    const def = this.defs.get(e.callee)!.decl;
    if (this.callStack.includes(def.name))
      this.err(e.span, `'${def.name}' calls itself${this.callStack.length > 1 ? ` (through ${this.callStack.join(' → ')})` : ''}: recursion is not supported`);
    if (e.named.length) this.err(e.named[0]!.span, `${def.name} takes no named arguments`);
    if (e.args.length !== def.params.length)
      this.err(e.span, `${def.name} takes ${def.params.length} argument${def.params.length === 1 ? '' : 's'}, got ${e.args.length}`);
    const g = this.g;
    const args = e.args.map((a) => this.asTen(this.expr(a, locals)));
    // Work out the mapped axes: the leading logical axes beyond each parameter's declared shape.
    let mapped: number[] | null = null;
    const declared = def.params.map((p) => this.shapeOf(p.shape) ?? []);
    args.forEach((a, k) => {
      const l = this.logical(a), d = declared[k]!;
      const extra = l.length - d.length;
      if (extra < 0 || !sameShape(l.slice(extra), d))
        this.err(e.args[k]!.span, `argument ${k + 1} of ${def.name} has shape ${shapeStr(l)}, but '${def.params[k]!.name}' is declared ${shapeStr(d)}`,
          extra < 0 ? undefined : `a call maps over extra leading axes only; the trailing axes must be ${shapeStr(d)}`);
      if (extra > 0) {
        const m = l.slice(0, extra);
        if (mapped && !sameShape(mapped, m))
          this.err(e.args[k]!.span, `the arguments of ${def.name} map over different leading axes: ${shapeStr(mapped)} and ${shapeStr(m)}`);
        mapped = m;
      }
    });
    const outer = this.prefix;
    const m: number[] = mapped ?? [];
    const anyOuter = args.some((a) => a.batch > 0);
    const inner = [...(anyOuter ? outer : []), ...m];
    // Bring every argument that varies (over the outer prefix or the mapped axes) to the inner prefix.
    const params = new Map<string, Val>();
    args.forEach((a, k) => {
      const l = this.logical(a);
      const hasMapped = l.length > declared[k]!.length;
      let v: Ten;
      if (a.batch === 0 && !hasMapped) v = { kind: 'tensor', node: a.node, batch: 0 };
      else {
        let node = a.node;
        const target = [...inner, ...declared[k]!];
        if (!sameShape(g.shape(node), target)) {
          // Insert the missing axes (outer prefix or mapped axes) as size 1, then broadcast.
          const have = g.shape(node);
          const withOuter = a.batch > 0 ? have : [...(anyOuter ? outer.map(() => 1) : []), ...have];
          const withMapped = hasMapped ? withOuter : [...withOuter.slice(0, anyOuter ? outer.length : 0), ...m.map(() => 1), ...withOuter.slice(anyOuter ? outer.length : 0)];
          node = g.broadcast(g.reshape(node, withMapped), target);
        }
        v = { kind: 'tensor', node, batch: inner.length };
      }
      params.set(def.params[k]!.name, v);
    });
    const saved = this.prefix;
    this.prefix = inner;
    this.callStack.push(def.name);
    let result: Val;
    try {
      result = def.body.kind === 'expr' ? this.expr(def.body.value, params) : this.block(def, params);
    } finally {
      this.callStack.pop();
      this.prefix = saved;
    }
    // Back in the caller: the mapped axes become logical axes; the outer prefix stays batch.
    if (result.kind === 'num') return result;
    if (result.batch === 0) {
      if (m.length === 0) return result;
      // Independent of the mapped inputs: still one value per mapped index.
      const node = g.broadcast(result.node, [...m, ...g.shape(result.node)]);
      return { kind: 'tensor', node, batch: 0 };
    }
    return { kind: 'tensor', node: result.node, batch: anyOuter ? outer.length : 0 };
  }

  block(def: A.DefDecl, params: Map<string, Val>): Val {
    const locals = new Map(params);
    const letNames = new Set<string>();
    const ret = this.stmts((def.body as { stmts: A.Stmt[] }).stmts, locals, letNames, def);
    if (!ret) this.err(def.span, `'${def.name}' has no return statement`);
    return ret;
  }

  /** Execute statements; returns the value of a `return` if one was reached. */
  stmts(list: A.Stmt[], locals: Map<string, Val>, letNames: Set<string>, def: A.DefDecl): Val | null {
    for (const s of list) {
      switch (s.kind) {
        case 'let':
          if (locals.has(s.name))
            this.err(s.nameSpan, `'${s.name}' is already defined in ${def.name}; assign a new value with '${s.name} = …'`);
          locals.set(s.name, this.expr(s.value, locals));
          letNames.add(s.name);
          break;
        case 'assign':
          if (!locals.has(s.name)) {
            const hint = this.globals.has(s.name) ? `'${s.name}' is a global and cannot be assigned` : `declare it first with 'let ${s.name} = …'`;
            this.err(s.nameSpan, `cannot assign to '${s.name}': not a local variable of ${def.name}`, hint);
          }
          locals.set(s.name, this.expr(s.value, locals));
          break;
        case 'for': {
          const lo = this.num(s.lo, locals, 'a loop bound');
          const hi = this.num(s.hi, locals, 'a loop bound');
          if (!Number.isInteger(lo) || !Number.isInteger(hi)) this.err(s.span, `loop bounds must be integers, got ${lo} .. ${hi}`);
          if (hi - lo > 100000) this.err(s.span, `the loop runs ${hi - lo} times: too many to unroll`);
          if (locals.has(s.variable)) this.err(s.variableSpan, `the loop variable '${s.variable}' hides a local of the same name`);
          for (let i = lo; i < hi; i++) {
            locals.set(s.variable, { kind: 'num', value: i });
            const r = this.stmts(s.body, locals, letNames, def);
            if (r) return r;
          }
          locals.delete(s.variable);
          break;
        }
        case 'return':
          return this.expr(s.value, locals);
      }
    }
    return null;
  }
}

/**
 * Elaborate a parsed program into a `Model`: one tensor graph with the parameters, data,
 * output and loss. Throws `NtkError` with located diagnostics on any error.
 *
 * @example
 *   const { program } = parseProgram('param w = 0\nmodel h = w^2', 'toy.ntk');
 *   const model = elaborate(program!);
 *   model.paramCount; // 1
 */
/** 1.5 GB, 64 MB, 512 bytes: a size for messages. */
export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(0)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(0)} kB`;
  return `${n} bytes`;
}

export function elaborate(program: A.Program, opts: ElaborateOptions = {}): Model {
  if (opts.seed !== undefined && !(Number.isSafeInteger(opts.seed) && opts.seed >= 0))
    throw new NtkError([{ severity: 'error', message: `the seed must be an integer from 0 to 2^53 − 1, got ${opts.seed}`, file: '--seed', span: null }]);
  const baseDir = opts.baseDir ?? dirname(resolve(program.file));
  return new Elaborator(program, opts.overrides ?? new Map(), opts.seed ?? 0, baseDir, opts.maxBytes).run();
}

/** An empty span at the end of `source` (after a final newline: the start of the line after it). */
function endOfSource(source: string): A.Span {
  const lines = source.split('\n');
  const line = lines.length, col = lines[lines.length - 1]!.length + 1;
  return { line, col, endLine: line, endCol: col, start: source.length, end: source.length };
}

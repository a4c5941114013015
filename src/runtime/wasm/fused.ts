/**
 * Fused elementwise loops compiled to WebAssembly SIMD at run time: a `FusedProgram` (the loop
 * nest of an elementwise cluster, see fuse.ts) becomes a small module whose one function walks
 * the nest over operands already in the kernels' linear memory (imported, so no copy between
 * modules), two elements per f64x2 instruction along the innermost axis and the odd last one in
 * scalar f64.
 *
 * Bitwise equal to the generated JavaScript loop: each step is one IEEE operation per lane in
 * the same order (wasm, like JS, never contracts into FMA; sqrt is correctly rounded in both;
 * `pow` keeps the JS loop's fast paths and no other exponent), constants are the same doubles,
 * and a sum adds each element's value to its output in the same loop order: along an outer
 * axis as the JS loop's `out[p] += t`; along the innermost axis of a loop of two or more axes
 * (`innerLanes`) the row's quads go to two f64x2 accumulators, lanes (a0, a1) and (a2, a3),
 * combined as ((a0 + a2) + (a1 + a3)), then the last D mod 4 values one by one, as the JS loop
 * does; along the only axis of a one-axis loop, into one f64 accumulator, lane 0 then lane 1.
 *
 * What is not compiled (null: the caller keeps the JS loop): any op other than neg, add, sub,
 * mul, div and those `pow`s, and any operand whose innermost stride is neither 0 nor 1.
 */
import { innerLanes, type FusedProgram, type FusedRef } from '../fuse.ts';
import { unreachable } from '../../ir/ops.ts';

/**
 * The compiled loop: call with the byte offsets of the output, then of each leaf, then the
 * length of the outermost axis (the program's dims[0], or fewer: a block of its first rows,
 * which is how the backend streams a loop through its cache in chunks).
 */
export type WasmFusedFn = (...ptrsThenRows: number[]) => void;

const I32 = 0x7f, F64 = 0x7c, V128 = 0x7b;

function uleb(n: number, out: number[]): void {
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
}

function sleb(n: number, out: number[]): void {
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return void out.push(b);
    out.push(b | 0x80);
  }
}

const f64Bytes = (v: number) => [...new Uint8Array(Float64Array.of(v).buffer)];

/** A section: id, then its byte length, then the bytes. */
function section(id: number, body: number[], out: number[]): void {
  out.push(id);
  uleb(body.length, out);
  out.push(...body);
}

function name(s: string, out: number[]): void {
  const b = new TextEncoder().encode(s);
  uleb(b.length, out);
  out.push(...b);
}

// Opcodes (core and the 0xFD SIMD prefix).
const OP = {
  block: 0x02, loop: 0x03, if: 0x04, end: 0x0b, br_if: 0x0d, localGet: 0x20, localSet: 0x21, localTee: 0x22,
  f64Load: 0x2b, f64Store: 0x39, i32Const: 0x41, f64Const: 0x44, i32Eqz: 0x45, i32LtU: 0x49, i32Add: 0x6a,
  i32And: 0x71, i32ShrU: 0x76,
  f64Neg: 0x9a, f64Sqrt: 0x9f, f64Add: 0xa0, f64Sub: 0xa1, f64Mul: 0xa2, f64Div: 0xa3,
};
const SIMD = {
  load: 0x00, store: 0x0b, f64x2Splat: 0x14, f64x2ExtractLane: 0x21,
  f64x2Neg: 0xed, f64x2Sqrt: 0xef, f64x2Add: 0xf0, f64x2Sub: 0xf1, f64x2Mul: 0xf2, f64x2Div: 0xf3,
};

type Kind = 'neg' | 'add' | 'sub' | 'mul' | 'div' | 'sqr' | 'sqrt' | 'id' | 'recip' | 'cube';

/** Each step's arithmetic, or null when some step has no wasm form. */
function kinds(p: FusedProgram): Kind[] | null {
  const out: Kind[] = [];
  for (const s of p.steps) {
    switch (s.op) {
      case 'neg': case 'add': case 'sub': case 'mul': case 'div':
        out.push(s.op);
        break;
      case 'pow': {
        const b = s.args[1]!;
        const e = 'value' in b ? b.value : NaN;
        const k: Kind | undefined = e === 2 ? 'sqr' : e === 0.5 ? 'sqrt' : e === 1 ? 'id' : e === -1 ? 'recip' : e === 3 ? 'cube' : undefined;
        if (!k) return null;
        out.push(k);
        break;
      }
      default:
        return null;
    }
  }
  return out;
}

/**
 * Compiles `p` against `memory` (the kernels module's): null when some step or stride has no
 * wasm form here (see the module comment).
 * @example const fn = compileFusedWasm(fusedProgram(g, cluster), kernels.memory); fn?.(outPtr, ...leafPtrs, dims[0]);
 */
export function compileFusedWasm(p: FusedProgram, memory: WebAssembly.Memory): WasmFusedFn | null {
  const ks = kinds(p);
  if (!ks) return null;
  const r = p.dims.length, nOps = p.strides.length, L = r - 1;
  if (p.dims.some((d) => d < 1 || d >= 2 ** 31)) return null;
  for (let o = 0; o < nOps; o++) {
    const s = p.strides[o]![L]!;
    if (s !== 0 && s !== 1) return null;
  }
  const inner = p.strides.map((s) => s[L]!);
  const accumulate = p.sum && inner[0] === 0; // reduction along the innermost axis

  // ---- locals: params are the operands' base pointers (0..nOps−1), then the outer length
  const rows = nOps;
  let next = nOps + 1;
  const counter = Array.from({ length: r }, () => next++); // i32
  const ptr = Array.from({ length: nOps }, () => Array.from({ length: r }, () => next++)); // i32
  const i32Count = next - (nOps + 1);
  const consts: number[] = [];
  const constIndex = new Map<string, number>();
  const noteConst = (v: number) => {
    const key = Object.is(v, -0) ? '-0' : String(v);
    if (!constIndex.has(key)) constIndex.set(key, consts.push(v) - 1);
  };
  for (const s of p.steps) for (const a of s.args) if ('value' in a) noteConst(a.value);
  if ('value' in p.result) noteConst(p.result.value);
  noteConst(1); // for recip
  const vConst = consts.map(() => next++); // v128, set once at entry
  const vStep = p.steps.map(() => next++); // v128
  const vLeaf = inner.map(() => next++); // v128: a stride-0 leaf splatted at the row's start
  const vAcc = [next++, next++]; // v128: the partial sums (a0, a1) and (a2, a3) of a row (innerLanes)
  const v128Count = next - (nOps + 1) - i32Count;
  const sStep = p.steps.map(() => next++); // f64 (the odd last element)
  const sLeaf = inner.map(() => next++); // f64
  const acc = next++; // f64
  const f64Count = next - (nOps + 1) - i32Count - v128Count;

  const c: number[] = [];
  const get = (i: number) => (c.push(OP.localGet), uleb(i, c));
  const set = (i: number) => (c.push(OP.localSet), uleb(i, c));
  const i32 = (v: number) => (c.push(OP.i32Const), sleb(v, c));
  const simd = (op: number) => (c.push(0xfd), uleb(op, c));
  const memarg = (align: number) => (uleb(align, c), uleb(0, c));
  const keyOf = (v: number) => (Object.is(v, -0) ? '-0' : String(v));

  // constants as v128 locals
  consts.forEach((v, i) => {
    c.push(OP.f64Const, ...f64Bytes(v));
    simd(SIMD.f64x2Splat);
    set(vConst[i]!);
  });

  /** The body at one element (vector: two lanes), leaving the result on the stack. */
  const body = (vector: boolean) => {
    const push = (a: FusedRef) => {
      if ('value' in a) {
        if (vector) get(vConst[constIndex.get(keyOf(a.value))!]!);
        else c.push(OP.f64Const, ...f64Bytes(a.value));
      } else if ('leaf' in a) {
        const o = a.leaf + 1;
        if (inner[o] === 0) get(vector ? vLeaf[o]! : sLeaf[o]!);
        else {
          get(ptr[o]![L]!);
          if (vector) simd(SIMD.load), memarg(4);
          else c.push(OP.f64Load), memarg(3);
        }
      } else get(vector ? vStep[a.step]! : sStep[a.step]!);
    };
    const bin = (k: 'add' | 'sub' | 'mul' | 'div') => {
      if (vector) simd({ add: SIMD.f64x2Add, sub: SIMD.f64x2Sub, mul: SIMD.f64x2Mul, div: SIMD.f64x2Div }[k]);
      else c.push({ add: OP.f64Add, sub: OP.f64Sub, mul: OP.f64Mul, div: OP.f64Div }[k]);
    };
    p.steps.forEach((s, i) => {
      const k = ks[i]!;
      const a = s.args[0]!;
      switch (k) {
        case 'neg':
          push(a);
          if (vector) simd(SIMD.f64x2Neg);
          else c.push(OP.f64Neg);
          break;
        case 'add': case 'sub': case 'mul': case 'div':
          push(a), push(s.args[1]!), bin(k);
          break;
        case 'sqr': // a * a
          push(a), push(a), bin('mul');
          break;
        case 'cube': // a * a * a = (a·a)·a
          push(a), push(a), bin('mul'), push(a), bin('mul');
          break;
        case 'sqrt':
          push(a);
          if (vector) simd(SIMD.f64x2Sqrt);
          else c.push(OP.f64Sqrt);
          break;
        case 'recip': // 1 / a
          push({ value: 1 }), push(a), bin('div');
          break;
        case 'id':
          push(a);
          break;
        default:
          unreachable(k, 'fused step');
      }
      set(vector ? vStep[i]! : sStep[i]!);
    });
    push(p.result);
  };

  /**
   * Stores (or adds) the value on the stack at the output's current element. vLeaf[0] and
   * sLeaf[0] (operand 0 is the output, never a leaf) serve as scratch.
   */
  const emitStore = (vector: boolean) => {
    const scratch = vector ? vLeaf[0]! : sLeaf[0]!;
    set(scratch);
    if (accumulate) {
      // acc = (acc + lane 0) + lane 1: the JS loop's out[p] += t, element by element
      get(acc), get(scratch);
      if (vector) {
        simd(SIMD.f64x2ExtractLane), c.push(0), c.push(OP.f64Add);
        get(scratch), simd(SIMD.f64x2ExtractLane), c.push(1);
      }
      c.push(OP.f64Add), set(acc);
      return;
    }
    // out = value, or out + value for a sum along an outer axis
    get(ptr[0]![L]!);
    if (p.sum) {
      get(ptr[0]![L]!);
      if (vector) simd(SIMD.load), memarg(4);
      else c.push(OP.f64Load), memarg(3);
      get(scratch);
      if (vector) simd(SIMD.f64x2Add);
      else c.push(OP.f64Add);
    } else get(scratch);
    if (vector) simd(SIMD.store), memarg(4);
    else c.push(OP.f64Store), memarg(3);
  };

  const level = (lv: number) => {
    for (let o = 0; o < nOps; o++) {
      get(lv === 0 ? o : ptr[o]![lv - 1]!);
      set(ptr[o]![lv]!);
    }
    if (lv < L) {
      i32(0), set(counter[lv]!);
      c.push(OP.loop, 0x40);
      level(lv + 1);
      for (let o = 0; o < nOps; o++) {
        const s = p.strides[o]![lv]!;
        if (s === 0) continue;
        get(ptr[o]![lv]!), i32(s * 8), c.push(OP.i32Add), set(ptr[o]![lv]!);
      }
      get(counter[lv]!), i32(1), c.push(OP.i32Add), c.push(OP.localTee), uleb(counter[lv]!, c);
      if (lv === 0) get(rows);
      else i32(p.dims[lv]!);
      c.push(OP.i32LtU), c.push(OP.br_if), uleb(0, c);
      c.push(OP.end);
      return;
    }
    // innermost: stride-0 leaves loaded once per row
    for (let o = 1; o < nOps; o++) {
      if (inner[o] !== 0) continue;
      get(ptr[o]![L]!), c.push(OP.f64Load), memarg(3), c.push(OP.localTee), uleb(sLeaf[o]!, c);
      simd(SIMD.f64x2Splat), set(vLeaf[o]!);
    }
    if (accumulate) get(ptr[0]![L]!), c.push(OP.f64Load), memarg(3), set(acc);
    // the pairs, then the odd last element; when the innermost axis is the outermost one too
    // (a loop of one axis) its length is the run-time `rows`
    const pairLoop = (pairs: () => void) => {
      i32(0), set(counter[L]!);
      c.push(OP.loop, 0x40);
      body(true);
      emitStore(true);
      for (let o = 0; o < nOps; o++) if (inner[o] === 1) get(ptr[o]![L]!), i32(16), c.push(OP.i32Add), set(ptr[o]![L]!);
      get(counter[L]!), i32(1), c.push(OP.i32Add), c.push(OP.localTee), uleb(counter[L]!, c);
      pairs(), c.push(OP.i32LtU), c.push(OP.br_if), uleb(0, c);
      c.push(OP.end);
    };
    const advancePair = () => {
      for (let o = 0; o < nOps; o++) if (inner[o] === 1) get(ptr[o]![L]!), i32(16), c.push(OP.i32Add), set(ptr[o]![L]!);
    };
    if (L > 0 && innerLanes(p)) {
      // quads into the two vector accumulators, combined into acc; then the rest in order
      const D = p.dims[L]!, quads = Math.floor(D / 4);
      if (quads > 0) {
        for (const v of vAcc) c.push(OP.f64Const, ...f64Bytes(0)), simd(SIMD.f64x2Splat), set(v);
        i32(0), set(counter[L]!);
        c.push(OP.loop, 0x40);
        for (const v of vAcc) {
          body(true);
          set(vLeaf[0]!);
          get(v), get(vLeaf[0]!), simd(SIMD.f64x2Add), set(v);
          advancePair();
        }
        get(counter[L]!), i32(1), c.push(OP.i32Add), c.push(OP.localTee), uleb(counter[L]!, c);
        i32(quads), c.push(OP.i32LtU), c.push(OP.br_if), uleb(0, c);
        c.push(OP.end);
        // acc + ((a0 + a2) + (a1 + a3))
        get(vAcc[0]!), get(vAcc[1]!), simd(SIMD.f64x2Add), set(vLeaf[0]!);
        get(acc);
        get(vLeaf[0]!), simd(SIMD.f64x2ExtractLane), c.push(0);
        get(vLeaf[0]!), simd(SIMD.f64x2ExtractLane), c.push(1);
        c.push(OP.f64Add, OP.f64Add), set(acc);
      }
      if (D % 4 >= 2) {
        body(true);
        emitStore(true);
        advancePair();
      }
      if (D % 2 === 1) {
        body(false);
        emitStore(false);
      }
    } else if (L > 0) {
      const D = p.dims[L]!, pairs = Math.floor(D / 2);
      if (pairs > 0) pairLoop(() => i32(pairs));
      if (D % 2 === 1) {
        body(false);
        emitStore(false);
      }
    } else {
      const pairs = () => (get(rows), i32(1), c.push(OP.i32ShrU));
      c.push(OP.block, 0x40);
      pairs(), c.push(OP.i32Eqz, OP.br_if), uleb(0, c);
      pairLoop(pairs);
      c.push(OP.end);
      get(rows), i32(1), c.push(OP.i32And), c.push(OP.if, 0x40);
      body(false);
      emitStore(false);
      c.push(OP.end);
    }
    if (accumulate) get(ptr[0]![L]!), get(acc), c.push(OP.f64Store), memarg(3);
  };
  level(0);
  c.push(OP.end);

  // ---- the module: type, import (memory), function, export, code
  const m: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const type: number[] = [1, 0x60];
  uleb(nOps + 1, type);
  for (let o = 0; o <= nOps; o++) type.push(I32);
  type.push(0);
  section(1, type, m);
  const imp: number[] = [1];
  name('k', imp), name('memory', imp);
  imp.push(0x02, 0x00, 0x01); // memory, limits: min 1 page, no max
  section(2, imp, m);
  section(3, [1, 0], m);
  const exp: number[] = [1];
  name('run', exp), exp.push(0x00, 0x00);
  section(7, exp, m);
  const fn: number[] = [];
  const groups = [[i32Count, I32], [v128Count, V128], [f64Count, F64]].filter(([n]) => n! > 0);
  uleb(groups.length, fn);
  for (const [n, t] of groups) uleb(n!, fn), fn.push(t!);
  fn.push(...c);
  const code: number[] = [1];
  uleb(fn.length, code);
  code.push(...fn);
  section(10, code, m);
  try {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(m)), { k: { memory } });
    return inst.exports.run as WasmFusedFn;
  } catch {
    return null;
  }
}

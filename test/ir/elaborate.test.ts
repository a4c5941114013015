/**
 * Elaboration: names, shapes, mapping over leading axes, loops, overrides, initializers, and
 * every error a user can make, each with its message and location.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile, evaluate, loadModel, NtkError, type Model } from '../../src/index.ts';
import { saveNpy } from '../../src/io/data.ts';
import { relErr } from '../helpers.ts';

/** The first diagnostic of a failing compile, as `line:col: message`. */
function errorOf(source: string, opts: Parameters<typeof compile>[2] = {}): string {
  try {
    compile(source, 'test.ntk', opts);
  } catch (e) {
    if (e instanceof NtkError) {
      const d = e.diagnostics[0]!;
      return d.span ? `${d.span.line}:${d.span.col}: ${d.message}` : d.message;
    }
    throw e;
  }
  throw new Error('expected an error');
}

const val = (m: Model) => Array.from(evaluate(m));

describe('the examples of DESIGN.md', () => {
  it('converse: one scalar parameter, a scalar output', () => {
    const m = loadModel('examples/converse.ntk');
    expect(m.paramCount).toBe(1);
    expect(m.outputShape).toEqual([]);
    expect(m.loss?.kind).toBe('square');
    expect(val(m)).toEqual([0]);
  });
  it('meanfield: p = m + m·d, k = n', () => {
    const m = loadModel('examples/meanfield.ntk');
    expect(m.paramCount).toBe(64 + 64 * 3);
    expect(m.outputShape).toEqual([16]);
    expect(m.params.map((q) => [q.name, q.offset, q.size])).toEqual([['a', 0, 64], ['U', 64, 192]]);
  });
  it('deep: the loop is unrolled over H − 1 layers', () => {
    const m = loadModel('examples/deep.ntk');
    expect(m.paramCount).toBe(128 * 3 + 2 * 128 * 128 + 128);
    expect(m.outputShape).toEqual([8]);
    expect(m.loss?.kind).toBe('custom');
    const m4 = loadModel('examples/deep.ntk', { overrides: new Map([['H', 4]]) });
    expect(m4.paramCount).toBe(128 * 3 + 3 * 128 * 128 + 128);
  });
});

describe('semantics', () => {
  it('--set overrides consts and dims', () => {
    const src = 'const c = 2\ndim k = 3\nparam w : [k] = 1\nmodel h = c * w';
    expect(val(compile(src, 't.ntk'))).toEqual([2, 2, 2]);
    expect(val(compile(src, 't.ntk', { overrides: new Map([['c', 5], ['k', 2]]) }))).toEqual([5, 5]);
  });

  it('a def declared on one row maps over the rows of its argument', () => {
    const m = compile(
      'param W : [2, 3] = [[1, 2, 3], [4, 5, 6]]\ndata X : [4, 3] = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]]\n' +
        'def f(x : [3]) = sum(tanh(W @ x))\nmodel h = f(X)',
      't.ntk',
    );
    const W = [[1, 2, 3], [4, 5, 6]];
    const X = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]];
    const expected = X.map((x) => W.reduce((s, row) => s + Math.tanh(row.reduce((t, wv, c) => t + wv * x[c]!, 0)), 0));
    expect(relErr(evaluate(m), expected)).toBeLessThan(1e-15);
  });

  it('mapping nests: a def calling a def, over two leading axes', () => {
    const m = compile(
      'param a : [2] = [1, -1]\ndata X : [2, 3, 2] = normal(0, 1, seed = 3)\n' +
        'def g(z : [2]) = dot(a, z) ^ 2\ndef f(x : [2]) = g(x) + g(2 * x)\nmodel h = f(X)',
      't.ntk',
    );
    const X = m.data[0]!.value;
    const h = evaluate(m);
    expect(h.length).toBe(6);
    for (let i = 0; i < 6; i++) {
      const d = X[2 * i]! - X[2 * i + 1]!;
      expect(h[i]).toBeCloseTo(d * d + 4 * d * d, 13);
    }
  });

  it('matrix·vector, vector·matrix, matrix·matrix and outer products, mapped or not', () => {
    const defs =
      'param A : [2, 3] = [[1, 2, 3], [4, 5, 6]]\ndata V : [2, 2] = [[1, 2], [3, 4]]\n' +
      'def f(v : [2]) = sum(v @ A) + sum(outer(v, v)) + sum(transpose(A) @ v)\n';
    // f(v) = 2·Σ(vA) + (v0 + v1)²: f([1, 2]) = 2·36 + 9, f([3, 4]) = 2·78 + 49.
    const single = compile(defs + 'model h = [f(V[0]), f(V[1]), sum(A @ transpose(A)), sum(A[:, 1:])]', 't.ntk');
    expect(Array.from(evaluate(single))).toEqual([81, 205, 155, 16]);
    const mapped = compile(defs + 'model h = f(V)', 't.ntk');
    expect(Array.from(evaluate(mapped))).toEqual([81, 205]);
  });

  it('indexing, negative indices, slices, mean and norm', () => {
    const m = compile('param w : [4] = [1, 2, 3, 4]\nmodel h = [w[-1], sum(w[1:3]), mean(w), norm(w[:2])]', 't.ntk');
    expect(relErr(evaluate(m), [4, 5, 2.5, Math.sqrt(5)])).toBeLessThan(1e-15);
  });

  it('sum and mean along an axis', () => {
    const m = compile('param W : [2, 3] = [[1, 2, 3], [4, 5, 6]]\nmodel h = sum(W, axis = 0) + mean(W, axis = -1)[0]', 't.ntk');
    expect(Array.from(evaluate(m))).toEqual([7, 9, 11]);
  });

  it('parameters flatten in declaration order, row-major', () => {
    const m = compile('param b = 7\nparam A : [2, 2] = [[1, 2], [3, 4]]\nparam c : [2] = [5, 6]\nmodel h = b + sum(A) + sum(c)', 't.ntk');
    expect(Array.from(m.w0)).toEqual([7, 1, 2, 3, 4, 5, 6]);
  });

  it('random initializers are seeded: same seed, same weights; --seed changes draws without a seed', () => {
    const src = 'dim m = 5\nparam U : [m] ~ normal(0, 1)\ndata X : [m] = uniform(-1, 1, seed = 4)\nmodel h = U * X';
    const a = compile(src, 't.ntk'), b = compile(src, 't.ntk'), c = compile(src, 't.ntk', { seed: 1 });
    expect(a.w0).toEqual(b.w0);
    expect(a.w0).not.toEqual(c.w0);
    expect(a.data[0]!.value).toEqual(c.data[0]!.value);
    for (const x of a.data[0]!.value) expect(Math.abs(x)).toBeLessThanOrEqual(1);
  });

  it('adding a parameter does not change the draws of the others', () => {
    const a = compile('param U : [3] ~ normal(0, 1)\nmodel h = U', 't.ntk');
    const b = compile('param V : [2] ~ normal(0, 1)\nparam U : [3] ~ normal(0, 1)\nmodel h = U * sum(V)', 't.ntk');
    expect(Array.from(a.w0)).toEqual(Array.from(b.w0.subarray(2)));
  });

  it('non-smooth functions are flagged', () => {
    expect(compile('param w = 1\nmodel h = relu(w)', 't.ntk').nonSmooth).toBe(true);
    expect(compile('param w = 1\nmodel h = softplus(w)', 't.ntk').nonSmooth).toBe(false);
  });

  it('array literals of expressions stack', () => {
    const m = compile('param w = 2\nmodel h = [w, w^2, 3]', 't.ntk');
    expect(Array.from(evaluate(m))).toEqual([2, 4, 3]);
  });
});

describe('errors, each with its message and location', () => {
  const cases: [string, string, string][] = [
    ['unknown name with a hint', 'param weight = 0\nmodel h = wieght * 2', "2:11: unknown name 'wieght'"],
    ['used before its declaration', 'model h = w\nparam w = 0', "1:11: 'w' is used before its declaration at line 2"],
    ['duplicate names', 'param w = 0\nconst w = 1\nmodel h = w', "2:7: 'w' is already declared (as a param at line 1)"],
    ['shape mismatch names both shapes', 'param a : [3] = 0\nparam b : [2] = 0\nmodel h = a + b', "3:11: shape mismatch in '+': left is [3], right is [2]"],
    ['matmul mismatch', 'param A : [2, 3] = 0\nparam x : [2] = 0\nmodel h = A @ x', "3:11: shape mismatch in '@': left is [2, 3], right is [2]"],
    ['wrong number of arguments', 'param w = 0\ndef f(x) = x\nmodel h = f(w, w)', '3:11: f takes 1 argument, got 2'],
    ['builtin arity', 'param w = 0\nmodel h = tanh(w, w)', '2:11: tanh takes 1 argument, got 2'],
    ['a def that calls itself', 'param w = 0\ndef f(x) = f(x)\nmodel h = f(w)', "2:12: 'f' calls itself: recursion is not supported"],
    ['mutual recursion', 'param w = 0\ndef f(x) = g(x)\ndef g(x) = f(x)\nmodel h = f(w)', "3:12: 'f' calls itself (through f → g): recursion is not supported"],
    ['non-integer dim', 'dim n = 2.5\nparam w : [n] = 0\nmodel h = w', "1:9: dim 'n' must be a positive integer, got 2.5"],
    ['non-positive dim', 'dim n = 0\nparam w : [n] = 0\nmodel h = w', "1:9: dim 'n' must be a positive integer, got 0"],
    ['out-of-range index', 'param w : [3] = 0\nmodel h = w[3]', '2:13: index 3 is out of range for axis 0 of size 3 (shape [3])'],
    ['too many indices', 'param w : [3] = 0\nmodel h = w[0, 1]', '2:11: too many indices: 2 for an array of shape [3]'],
    // what the file lacks is located at its end, where it would be added
    ['model without parameters', 'const c = 1\ndata x : [2] = [1, 2]\nmodel h = x * c', '3:16: the model has no parameters: declare one with \'param\', e.g. \'param w = 0\''],
    ['no model', 'param w = 0', "1:12: no model: declare one, e.g. 'model h = w * x'"],
    ['no model, after a final newline', 'param w = 0\n', "2:1: no model: declare one, e.g. 'model h = w * x'"],
    ['loss target shape', 'param w : [3] = 0\nmodel h = w\nloss square(target = [1, 2])', "3:22: the target has shape [2] but the model's output has shape [3]"],
    ['loss not scalar', 'param w : [3] = 0\nmodel h = w\nloss R(v) = v ^ 2', '3:13: a loss must be a scalar, but this expression has shape [3]'],
    ['unknown function', 'param w = 0\nmodel h = sigmod(w)', "2:11: unknown function 'sigmod'"],
    ['initializer in an expression', 'param w = 0\nmodel h = w * normal(0, 1)', '2:15: normal(…) is an initializer: use it in a data or param declaration'],
    ['declared shape vs value', 'param w : [3] = [1, 2]\nmodel h = w', '1:17: param \'w\' is declared with shape [3] but its value has shape [2]'],
    ['mapped argument with wrong trailing shape', 'param w : [4, 2] = 0\ndef f(x : [3]) = sum(x)\nmodel h = f(w)', "3:13: argument 1 of f has shape [4, 2], but 'x' is declared [3]"],
    ['assignment to an undeclared local', 'param w = 0\ndef f(x) {\n  y = x\n  return y\n}\nmodel h = f(w)', "3:3: cannot assign to 'y': not a local variable of f"],
    ['no return', 'param w = 0\ndef f(x) {\n  let y = x\n}\nmodel h = f(w)', "2:1: 'f' has no return statement"],
    ['a builtin name redeclared', 'param tanh = 0\nmodel h = tanh', "1:7: 'tanh' is the name of a built-in function; choose another name"],
  ];
  it.each(cases)('%s', (_name, src, expected) => {
    expect(errorOf(src)).toBe(expected);
  });

  it('an unknown --set name', () => {
    expect(errorOf('param w = 0\nmodel h = w', { overrides: new Map([['m', 3]]) })).toBe("--set m: the model has no dim or const named 'm'");
  });

  it('a hint suggests the closest name', () => {
    try {
      compile('param weight = 0\nmodel h = wieght', 't.ntk');
    } catch (e) {
      expect((e as NtkError).diagnostics[0]!.hint).toBe("did you mean 'weight'?");
    }
  });
});

describe('data files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ntk-data-'));
  const model = (decl: string) => `${decl}\nparam w = 1\nmodel h = w * sum(X)`;
  const at = (file: string, text: string) => {
    writeFileSync(join(dir, file), text);
    return file;
  };
  const err = (src: string) => errorOf(src, { baseDir: dir });

  it('loads .npy, .csv and .json of the declared shape', () => {
    saveNpy(join(dir, 'X.npy'), { shape: [2, 2], data: Float64Array.of(1, 2, 3, 4) });
    at('X.csv', '1,2\n3,4\n');
    at('X.json', '[[1, 2], [3, 4]]');
    for (const f of ['X.npy', 'X.csv', 'X.json']) {
      const m = compile(model(`data X : [2, 2] = load("${f}")`), 't.ntk', { baseDir: dir });
      expect(Array.from(evaluate(m))).toEqual([10]);
    }
  });

  it('a missing file', () => {
    expect(err(model('data X : [2] = load("nope.npy")'))).toMatch(/^1:21: cannot read .*nope\.npy/);
  });
  it('a file of the wrong shape', () => {
    at('three.csv', '1\n2\n3\n');
    expect(err(model('data X : [2] = load("three.csv")'))).toBe("1:21: data 'X' is declared with shape [2] but 'three.csv' holds shape [3]");
  });
  it('a file holding NaN', () => {
    at('nan.csv', '1\nnan\n');
    expect(err(model('data X : [2] = load("nan.csv")'))).toBe("1:21: 'nan.csv' holds NaN at [1]: data must be finite");
  });
  it('a malformed file', () => {
    at('bad.csv', '1,2\n3,x\n');
    expect(err(model('data X : [2, 2] = load("bad.csv")'))).toMatch(/^1:24: .*'x' is not a number/);
  });
  it('a Fortran-ordered .npy (2-D: a 1-D one is the same in either order and is accepted)', () => {
    const header = "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }";
    const pad = 64 - ((10 + header.length + 1) % 64);
    const h = header + ' '.repeat(pad % 64) + '\n';
    const bytes = new Uint8Array(10 + h.length + 32);
    bytes.set([0x93, ...Buffer.from('NUMPY'), 1, 0, h.length & 255, h.length >> 8]);
    bytes.set(Buffer.from(h), 10);
    writeFileSync(join(dir, 'f.npy'), bytes);
    expect(err(model('data X : [2, 2] = load("f.npy")'))).toMatch(/^1:24: .*Fortran/);
  });
});

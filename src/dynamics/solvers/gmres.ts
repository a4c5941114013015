/**
 * Restarted GMRES(m) for A x = b with A given only as a product v ↦ A v (Saad & Schultz 1986;
 * Saad, "Iterative Methods for Sparse Linear Systems", Alg. 6.9 with Givens rotations).
 *
 * Arnoldi by modified Gram–Schmidt (backward stable for GMRES: Paige, Rozložník & Strakoš
 * 2006), each projection fused with the next inner product to save memory passes. The residual norm |g_{j+1}| is tracked for free by the
 * rotations; at each restart the true residual b − A x is recomputed.
 * The initial guess is x = 0. All buffers are allocated in the constructor: (m + 2)·n floats.
 *
 * @example
 *   const solver = new Gmres(n, 20);
 *   const ok = solver.solve((v, out) => { for (let i = 0; i < n; i++) out[i] = 2 * v[i]!; }, b, x, 1e-10, 200);
 *   if (!ok) console.warn(`GMRES stalled at ‖r‖ = ${solver.residual} after ${solver.products} products`);
 */

export type LinearOperator = (v: Float64Array, out: Float64Array) => void;


function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function nrm2(a: Float64Array): number {
  // Scaled accumulation is unnecessary here: entries are O(‖b‖), far from overflow.
  return Math.sqrt(dot(a, a));
}

export class Gmres {
  readonly n: number;
  readonly restart: number;
  /** Products with A spent by the last solve (Arnoldi steps plus residual recomputations). */
  products = 0;
  /** Residual 2-norm at the end of the last solve (estimated by the rotations, or exact after a restart). */
  residual = 0;
  private readonly V: Float64Array[];
  private readonly w: Float64Array;
  /** Hessenberg matrix, row-major (m+1) × m, overwritten by its QR factor R. */
  private readonly H: Float64Array;
  private readonly cs: Float64Array;
  private readonly sn: Float64Array;
  private readonly g: Float64Array;
  private readonly yk: Float64Array;

  constructor(n: number, restart: number) {
    const m = Math.max(1, Math.min(restart, Math.max(n, 1)));
    this.n = n;
    this.restart = m;
    this.V = Array.from({ length: m + 1 }, () => new Float64Array(n));
    this.w = new Float64Array(n);
    this.H = new Float64Array((m + 1) * m);
    this.cs = new Float64Array(m);
    this.sn = new Float64Array(m);
    this.g = new Float64Array(m + 1);
    this.yk = new Float64Array(m);
  }

  /**
   * Solve A x = b (x is overwritten; the start is x = 0). Stops when ‖b − A x‖₂ ≤
   * max(tol, 1e-13·‖b‖₂) (returns true) or after `maxProducts` products with A (false).
   * Allocates nothing; `products` and `residual` describe the solve afterwards.
   */
  solve(A: LinearOperator, b: Float64Array, x: Float64Array, tol: number, maxProducts: number): boolean {
    const { n, restart: m, V, w, H, cs, sn, g, yk } = this;
    x.fill(0);
    const bnorm = nrm2(b);
    const target = Math.max(tol, 1e-13 * bnorm);
    if (bnorm <= target) return this.done(true, 0, bnorm);
    let products = 0;
    let beta = bnorm;
    const v0 = V[0]!;
    for (let i = 0; i < n; i++) v0[i] = b[i]! / beta;
    for (;;) {
      g.fill(0);
      g[0] = beta;
      let j = 0, resid = beta;
      while (j < m && products < maxProducts) {
        const vj = V[j]!;
        A(vj, w);
        products++;
        // Modified Gram–Schmidt, each projection fused with the next inner product (one pass
        // per basis vector); the last pass also yields ‖w‖². MGS-GMRES is backward stable
        // (Paige, Rozložník & Strakoš 2006), so no re-orthogonalization.
        let hij = dot(w, V[0]!), wn2 = 0;
        for (let i = 0; i <= j; i++) {
          H[i * m + j] = hij;
          const vi = V[i]!;
          let acc = 0;
          if (i < j) {
            const vn = V[i + 1]!;
            for (let k = 0; k < n; k++) { const wk = w[k]! - hij * vi[k]!; w[k] = wk; acc += wk * vn[k]!; }
            hij = acc;
          } else {
            for (let k = 0; k < n; k++) { const wk = w[k]! - hij * vi[k]!; w[k] = wk; acc += wk * wk; }
            wn2 = acc;
          }
        }
        const wn = Math.sqrt(wn2);
        H[(j + 1) * m + j] = wn;
        for (let i = 0; i < j; i++) {
          const a = H[i * m + j]!, bb = H[(i + 1) * m + j]!;
          H[i * m + j] = cs[i]! * a + sn[i]! * bb;
          H[(i + 1) * m + j] = -sn[i]! * a + cs[i]! * bb;
        }
        const a = H[j * m + j]!, d = Math.hypot(a, wn);
        const c = d === 0 ? 1 : a / d, s = d === 0 ? 0 : wn / d;
        cs[j] = c; sn[j] = s;
        H[j * m + j] = d;
        H[(j + 1) * m + j] = 0;
        g[j + 1] = -s * g[j]!;
        g[j] = c * g[j]!;
        resid = Math.abs(g[j + 1]!);
        j++;
        // wn ≈ 0: the Krylov space is invariant and the least-squares solution is exact.
        if (resid <= target || wn <= 1e-300 || j === m) break;
        const vn = V[j]!;
        for (let k = 0; k < n; k++) vn[k] = w[k]! / wn;
      }
      // Back substitution R y = g, then x += V y.
      for (let i = j - 1; i >= 0; i--) {
        let s = g[i]!;
        for (let k = i + 1; k < j; k++) s -= H[i * m + k]! * yk[k]!;
        const rii = H[i * m + i]!;
        yk[i] = rii !== 0 ? s / rii : 0;
      }
      for (let i = 0; i < j; i++) {
        const vi = V[i]!, yi = yk[i]!;
        for (let k = 0; k < n; k++) x[k]! += yi * vi[k]!;
      }
      if (resid <= target) return this.done(true, products, resid);
      if (products >= maxProducts) return this.done(false, products, resid);
      // Restart from the true residual.
      A(x, w);
      products++;
      for (let k = 0; k < n; k++) w[k] = b[k]! - w[k]!;
      beta = nrm2(w);
      if (!(beta > target)) return this.done(beta === beta, products, beta);
      for (let k = 0; k < n; k++) v0[k] = w[k]! / beta;
    }
  }

  private done(converged: boolean, products: number, residual: number): boolean {
    this.products = products;
    this.residual = residual;
    return converged;
  }
}

// ntk_native: a small N-API addon that hands Float64Arrays to OpenBLAS (cblas_dgemm/dgemv) and
// LAPACK (dsyevd, dgesdd) without copying them: each array's data pointer (already advanced by
// its byteOffset, per napi_get_typedarray_info) is passed straight to the library.
//
// Every argument is checked here, before any library call: a wrong count or type throws a
// TypeError, an offset/leading dimension that would make BLAS touch memory outside an array
// throws a RangeError. No call can read or write out of bounds, and no input crashes the process.
//
// Conventions match src/runtime/backend.ts: row-major, op(A) is M×K, op(B) is K×N, C is M×N.
#include <napi.h>

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif

// OpenBLAS's own queries, declared here because cblas.h may be another vendor's (Debian's
// alternatives); the addon links libopenblas, which defines them.
extern "C" {
char* openblas_get_config(void);
int openblas_get_num_threads(void);
void openblas_set_num_threads(int);
}

namespace {

// A validated Float64Array view: the element pointer and the element count.
struct F64 {
  double* data;
  size_t length;
};

bool ThrowType(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return false;
}

bool ThrowRange(Napi::Env env, const std::string& msg) {
  Napi::RangeError::New(env, msg).ThrowAsJavaScriptException();
  return false;
}

bool GetF64(const Napi::CallbackInfo& info, size_t i, const char* name, F64* out) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    return ThrowType(info.Env(), std::string(name) + " must be a Float64Array");
  }
  void* data = nullptr;
  size_t length = 0;
  napi_status s = napi_get_typedarray_info(info.Env(), v, nullptr, &length, &data, nullptr, nullptr);
  if (s != napi_ok) return ThrowType(info.Env(), std::string(name) + ": cannot read the Float64Array");
  out->data = static_cast<double*>(data);
  out->length = length;
  return true;
}

// A non-negative integer that fits BLAS's 32-bit int.
bool GetInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t* out) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) return ThrowType(info.Env(), std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > INT_MAX || std::floor(d) != d) {
    return ThrowRange(info.Env(), std::string(name) + " must be an integer in [0, 2^31 - 1], got " + std::to_string(d));
  }
  *out = static_cast<int64_t>(d);
  return true;
}

bool GetDouble(const Napi::CallbackInfo& info, size_t i, const char* name, double* out) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) return ThrowType(info.Env(), std::string(name) + " must be a number");
  *out = v.As<Napi::Number>().DoubleValue();
  return true;
}

bool GetBool(const Napi::CallbackInfo& info, size_t i, const char* name, bool* out) {
  Napi::Value v = info[i];
  if (!v.IsBoolean()) return ThrowType(info.Env(), std::string(name) + " must be a boolean");
  *out = v.As<Napi::Boolean>().Value();
  return true;
}

bool CheckArgc(const Napi::CallbackInfo& info, size_t n, const char* fn) {
  if (info.Length() != n) {
    return ThrowType(info.Env(), std::string(fn) + " expects " + std::to_string(n) + " arguments, got " +
                                     std::to_string(info.Length()));
  }
  return true;
}

// A rows×cols row-major matrix at `off` with row stride `ld` lies inside `a`: the last element
// read is off + (rows−1)·ld + cols − 1. With more than one row, ld ≥ cols (BLAS's rule; rows
// would otherwise overlap). Computed in 64 bits: every factor is < 2^31, so nothing overflows.
bool CheckMatrix(Napi::Env env, const char* name, const F64& a, int64_t off, int64_t rows, int64_t cols, int64_t ld) {
  if (rows == 0 || cols == 0) return true;
  if (rows > 1 && ld < cols) {
    return ThrowRange(env, std::string(name) + ": leading dimension " + std::to_string(ld) + " < " + std::to_string(cols) + " columns");
  }
  int64_t end = off + (rows - 1) * ld + cols;
  if (end > static_cast<int64_t>(a.length)) {
    return ThrowRange(env, std::string(name) + ": a " + std::to_string(rows) + "×" + std::to_string(cols) + " matrix at offset " +
                               std::to_string(off) + " with leading dimension " + std::to_string(ld) + " needs " +
                               std::to_string(end) + " elements, the array has " + std::to_string(a.length));
  }
  return true;
}

// The few-vector product's domain (see FewProduct): 2..kMaxFew rows or columns, and a large
// operand of at least kFewMinWork elements (below, BLAS's packing is cheap and its kernel faster).
constexpr int64_t kMaxFew = 4;
constexpr int64_t kFewMinWork = 1 << 16;

// Two doubles as one SSE2 register (GCC/Clang vector extension; any x86-64 has SSE2, and other
// targets lower it to their own vectors or to scalars).
typedef double V2 __attribute__((vector_size(16)));

inline V2 Load2(const double* p) {
  V2 v;
  std::memcpy(&v, p, sizeof v);  // unaligned load
  return v;
}

// C(i, j) = Σ_l x_i(l)·G(j, l) (+ beta·C) for the M vectors x_i (contiguous, K each) and the n
// rows of G (contiguous, row stride gsj): each row of G is loaded once for all M vectors, with
// two two-lane partial sums per vector (their order: lanes by l mod 4, then the odd tail).
template <int M>
void DotRows(int64_t n, int64_t K, const double* x, const double* G, int64_t gsj, double beta, double* C, int64_t csi, int64_t csj) {
  for (int64_t j = 0; j < n; j++) {
    const double* g = G + j * gsj;
    V2 a[M], b[M];
    for (int i = 0; i < M; i++) a[i] = b[i] = V2{0, 0};
    int64_t l = 0;
    for (; l + 4 <= K; l += 4) {
      const V2 g0 = Load2(g + l), g1 = Load2(g + l + 2);
      for (int i = 0; i < M; i++) {
        a[i] += g0 * Load2(x + i * K + l);
        b[i] += g1 * Load2(x + i * K + l + 2);
      }
    }
    for (int i = 0; i < M; i++) {
      const V2 t = a[i] + b[i];
      double v = t[0] + t[1];
      for (int64_t q = l; q < K; q++) v += g[q] * x[i * K + q];
      double* c = C + i * csi + j * csj;
      *c = beta == 0 ? v : v + beta * *c;
    }
  }
}

// A product with few (2..kMaxFew) vectors on one side, C ← alpha·S·Gᵀ + beta·C in index form:
//   C(i, j) = alpha·Σ_l S(i, l)·G(j, l) + beta·C(i, j),   i < m ≤ kMaxFew, j < n, l < K,
// every operand given by its two element strides (a transpose is a swap of strides). BLAS's dgemm
// packs its operands into panels first, which for a large G (a flow's p×k matrices, 4.7 MB in
// W2) reads and writes all of G once more than the product itself; with m ≤ 4 there is no reuse
// to pay for it (two dgemv calls instead read G twice). Here G is read once: by rows when its
// rows are contiguous (gsl = 1: m dot products per row of G, four partial sums each), else by
// columns of G, l outer (the m rows of C, a few KB to a few hundred, stay in cache and are
// updated with axpy's). W2's pair of products with B (9216×64) took 0.21–0.23 ms this way,
// against 0.24–0.33 ms for two dgemv calls (built with -O3: at -O2 GCC 12 left DotRows' loops
// rolled, 0.5 ms).
void FewProduct(int64_t m, int64_t n, int64_t K, double alpha, const double* S, int64_t ssi, int64_t ssl, const double* G,
                int64_t gsj, int64_t gsl, double beta, double* C, int64_t csi, int64_t csj) {
  // S's m rows gathered contiguous and scaled: alpha·S(i, l) (K·m values, read n times)
  std::vector<double> s(m * K);
  for (int64_t i = 0; i < m; i++)
    for (int64_t l = 0; l < K; l++) s[i * K + l] = alpha * S[i * ssi + l * ssl];
  if (gsl == 1) {
    switch (m) {
      case 2: DotRows<2>(n, K, s.data(), G, gsj, beta, C, csi, csj); return;
      case 3: DotRows<3>(n, K, s.data(), G, gsj, beta, C, csi, csj); return;
      default: DotRows<4>(n, K, s.data(), G, gsj, beta, C, csi, csj); return;
    }
  }
  // Else G's columns are contiguous (a stored matrix has one unit stride: gsj = 1), taken in
  // turn: C(i, ·) += s(i, l)·G(·, l), C's rows accumulated in a contiguous scratch.
  std::vector<double> acc(m * n, 0.0);
  for (int64_t l = 0; l < K; l++) {
    const double* g = G + l * gsl;
    for (int64_t i = 0; i < m; i++) {
      const double x = s[i * K + l];
      double* a = acc.data() + i * n;
      for (int64_t j = 0; j < n; j++) a[j] += x * g[j];
    }
  }
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double* c = C + i * csi + j * csj;
      const double v = acc[i * n + j];
      *c = beta == 0 ? v : v + beta * *c;
    }
}

// A product with a short inner dimension, K ≤ kSmallK (a first layer's X·Uᵀ with inputs of
// dimension d; W2's [64×8]·[8×1024] in every gradient):
//   C(i, j) = alpha·s(i, j) (+ beta·C(i, j)),   s(i, j) = ((0 + a_i0·b_0j) + a_i1·b_1j) + … ,
// the JS gemm's order and roundings (no FMA), so its values are bitwise the JS kernel's. BLAS's
// kernels are built for long K: on W2's shape ([64×8]·[1024×8]ᵀ) dgemm took 110 µs, this 57.
constexpr int64_t kSmallK = 16;
constexpr int64_t kSmallKMinWork = 1 << 12;

namespace smallk {
template <typename V>
__attribute__((always_inline)) inline V Load(const double* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename V>
__attribute__((always_inline)) inline void Store(double* p, V v, double alpha, double beta) {
  if (beta == 0) {
    v = v * alpha;
    std::memcpy(p, &v, sizeof v);
  } else {
    V c = Load<V>(p);
    c = c * beta + v * alpha;  // beta·C + alpha·s, as the JS kernel
    std::memcpy(p, &c, sizeof c);
  }
}

// op(B)(l, j) = B[l·bsl + j·bsj]; a is op(A) gathered row-major (M×K). C is swept by blocks of
// 2L columns (their K×2L values of op(B) gathered first, in L1), each down all rows of C in
// steps of four: the block's b loads are shared by four rows, the sums stay in registers.
template <typename V>
__attribute__((always_inline)) inline void Rows(int64_t M, int64_t N, int64_t K, double alpha, const double* a, const double* B, int64_t bsl,
                                                int64_t bsj, double beta, double* C, int64_t ldc) {
  constexpr int L = sizeof(V) / sizeof(double);
  constexpr int NR = 2 * L;
  double bp[kSmallK * NR];
  int64_t j = 0;
  for (; j + NR <= N; j += NR) {
    for (int64_t l = 0; l < K; l++)
      for (int q = 0; q < NR; q++) bp[l * NR + q] = B[l * bsl + (j + q) * bsj];
    int64_t i = 0;
    for (; i + 4 <= M; i += 4) {
      const double* a0 = a + i * K;
      V s[4][2];
      for (int r = 0; r < 4; r++) s[r][0] = s[r][1] = V{};
      for (int64_t l = 0; l < K; l++) {
        const V b0 = Load<V>(bp + l * NR), b1 = Load<V>(bp + l * NR + L);
        for (int r = 0; r < 4; r++) {
          const double x = a0[r * K + l];
          s[r][0] = s[r][0] + b0 * x;
          s[r][1] = s[r][1] + b1 * x;
        }
      }
      for (int r = 0; r < 4; r++) {
        Store<V>(C + (i + r) * ldc + j, s[r][0], alpha, beta);
        Store<V>(C + (i + r) * ldc + j + L, s[r][1], alpha, beta);
      }
    }
    for (; i < M; i++) {
      V s0 = V{}, s1 = V{};
      for (int64_t l = 0; l < K; l++) {
        const double x = a[i * K + l];
        s0 = s0 + Load<V>(bp + l * NR) * x;
        s1 = s1 + Load<V>(bp + l * NR + L) * x;
      }
      Store<V>(C + i * ldc + j, s0, alpha, beta);
      Store<V>(C + i * ldc + j + L, s1, alpha, beta);
    }
  }
  for (; j < N; j++)
    for (int64_t i = 0; i < M; i++) {
      double t = 0;
      for (int64_t l = 0; l < K; l++) t = t + a[i * K + l] * B[l * bsl + j * bsj];
      double* c = C + i * ldc + j;
      *c = beta == 0 ? alpha * t : beta * *c + alpha * t;
    }
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) void Avx2(int64_t M, int64_t N, int64_t K, double alpha, const double* a, const double* B, int64_t bsl,
                                          int64_t bsj, double beta, double* C, int64_t ldc) {
  typedef double V4 __attribute__((vector_size(32)));
  Rows<V4>(M, N, K, alpha, a, B, bsl, bsj, beta, C, ldc);
}
#endif

// Whether Run may be called: with AVX2 only (on two lanes, without FMA, it lost to OpenBLAS:
// 175 against 110 µs on W2's shape).
bool Available() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2;
#else
  return false;
#endif
}

// op(A)(i, l) = A[i·asi + l·asl], op(B)(l, j) = B[l·bsl + j·bsj].
void Run(int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t asi, int64_t asl, const double* B, int64_t bsl,
         int64_t bsj, double beta, double* C, int64_t ldc) {
  std::vector<double> a(M * K);
  for (int64_t i = 0; i < M; i++)
    for (int64_t l = 0; l < K; l++) a[i * K + l] = A[i * asi + l * asl];
#if defined(__x86_64__) || defined(__i386__)
  Avx2(M, N, K, alpha, a.data(), B, bsl, bsj, beta, C, ldc);
#endif
}
}  // namespace smallk

// ---- tanh(c·x) over an array: the wasm kernel's algorithm (src/runtime/wasm/kernels.wat, and its
// scalar twin tanhScalar in src/runtime/wasm/scalar.ts), operation for operation, so that every
// value is bit for bit the one the wasm and JS paths give (no operation here may be contracted
// into an FMA: C++ in ISO mode does not, and neither target below enables FMA). The gain over
// wasm is width and copies: four lanes per AVX2 instruction where the CPU has AVX2 (two with
// SSE2), and the caller's arrays are read and written in place instead of through wasm memory.
// The maths, briefly (kernels.wat has it in full): a = |x|; below 0.625, a + (a·s)·P(s) with
// s = a²; above, 1 − 2/(1 + e^{2a}) with e^{2a} = 2^k·(1 + r + h) kept in double-double; the sign
// of x is put back last. Each lane takes its own side (a vector computes only the sides its
// lanes need). The helpers below are always inlined: compiled as part of their caller, with the
// caller's target (AVX2 or not); an out-of-line copy would be compiled without AVX and disagree
// with the AVX2 caller on how a vector argument is passed.
namespace tanhk {
constexpr double kLog2e = 1.4426950408889634, kLn2Hi = 6.93147180369123816490e-01, kLn2Lo = 1.90821492927058770002e-10;
constexpr double kQ[13] = {0.5, 1.6666666666666666e-1, 4.1666666666666664e-2, 8.3333333333333332e-3, 1.3888888888888889e-3,
                           1.9841269841269841e-4, 2.4801587301587302e-5, 2.7557319223985893e-6, 2.7557319223985888e-7,
                           2.5052108385441720e-8, 2.0876756987868100e-9, 1.6059043836821613e-10, 1.1470745597729725e-11};
constexpr double kP[12] = {-0.3333333333333333,     0.13333333333333042,    -0.05396825396789699,  0.021869488519008305,
                           -0.008863235103240878,   0.0035921217511549622,  -0.0014557754120478055, 0.0005896606577757043,
                           -0.0002375906496055562,  9.257116129556769e-05,  -3.12011014257974e-05,  6.485163482793113e-06};
// Round to nearest, ties to even, for |t| < 2^51 (here |t| ≤ 64): exactly f64x2.nearest.
constexpr double kRound = 6755399441055744.0;  // 1.5·2^52

// The polynomial side, a < 0.625: a + (a·s)·P(s), s = a².
template <typename V>
__attribute__((always_inline)) inline V Small(V a) {
  const V s = a * a, s2 = s * s, s4 = s2 * s2;
  const V p = (((kP[0] + kP[1] * s) + (kP[2] + kP[3] * s) * s2) + ((kP[4] + kP[5] * s) + (kP[6] + kP[7] * s) * s2) * s4) +
              ((kP[8] + kP[9] * s) + (kP[10] + kP[11] * s) * s2) * (s4 * s4);
  return a + (a * s) * p;
}

// The exponential side, a ≥ 0.625 (or NaN): 1 − 2/(1 + e^{2·min(a, 22)}).
template <typename V, typename I>
__attribute__((always_inline)) inline V Large(V a) {
  V y = (V{} + 22.0 < a) ? V{} + 22.0 : a;  // pmin(a, 22): a NaN passes through
  y = y + y;
  const V k = ((y * kLog2e) + kRound) - kRound;
  const V rhi = y - k * kLn2Hi;
  const V lo = k * kLn2Lo;
  const V r = rhi - lo;
  const V c = (rhi - r) - lo;
  const V r2 = r * r, r4 = r2 * r2;
  const V q = (((kQ[0] + kQ[1] * r) + (kQ[2] + kQ[3] * r) * r2) + ((kQ[4] + kQ[5] * r) + (kQ[6] + kQ[7] * r) * r2) * r4) +
              (((kQ[8] + kQ[9] * r) + (kQ[10] + kQ[11] * r) * r2) + kQ[12] * r4) * (r4 * r4);
  const V h = r2 * q + c * (r + 1.0);
  const V tt = r + h;
  const V te = h - (tt - r);
  V eh = 1.0 + tt;
  V el = (tt - (eh - 1.0)) + te;
  // 2^k exactly, k ∈ [2, 64] on this side (a NaN lane converts to some integer: harmless, its value is NaN)
  const V sc = (V)((__builtin_convertvector(k, I) + 1023) << 52);
  eh = eh * sc;
  el = el * sc;
  const V dh = eh + 1.0;
  const V dl = (1.0 - (dh - eh)) + el;
  const V qq = 2.0 / dh;
  return 1.0 - (qq - (qq * qq) * (dl * 0.5));
}

// tanh of each lane: its own side (as the wasm kernel, a vector whose lanes are all on one side
// computes that side only), then the sign of x.
template <typename V, typename I>
__attribute__((always_inline)) inline V Lanes(V x) {
  constexpr int L = sizeof(V) / sizeof(double);
  const I signBit = I{} + LLONG_MIN;  // the sign bit alone, in every lane
  const I sign = (I)x & signBit;
  const V a = (V)((I)x & ~signBit);
  const I small = a < 0.625;
  bool any = false, all = true;
  for (int i = 0; i < L; i++) {
    any = any || small[i] != 0;
    all = all && small[i] != 0;
  }
  const V z = all ? Small(a) : !any ? Large<V, I>(a) : (small ? Small(a) : Large<V, I>(a));
  return (V)((I)z | sign);
}

// out[i] = tanh(c·x[i]), the product rounded first; n elements, x and out may alias.
template <typename V, typename I>
__attribute__((always_inline)) inline void Block(const double* x, double* out, int64_t n, double c) {
  constexpr int L = sizeof(V) / sizeof(double);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    V v;
    std::memcpy(&v, x + i, sizeof v);
    v = Lanes<V, I>(v * c);
    std::memcpy(out + i, &v, sizeof v);
  }
  if (i < n) {  // the last n − i lanes, the others zero (each lane's value is its own)
    V v = V{};
    for (int64_t j = i; j < n; j++) v[j - i] = x[j];
    v = Lanes<V, I>(v * c);
    for (int64_t j = i; j < n; j++) out[j] = v[j - i];
  }
}

typedef long long I2 __attribute__((vector_size(16)));
typedef double V4 __attribute__((vector_size(32)));
typedef long long I4 __attribute__((vector_size(32)));

void Baseline(const double* x, double* out, int64_t n, double c) { Block<V2, I2>(x, out, n, c); }
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) void Avx2(const double* x, double* out, int64_t n, double c) { Block<V4, I4>(x, out, n, c); }
#endif

void Run(const double* x, double* out, int64_t n, double c, bool portable) {
#if defined(__x86_64__) || defined(__i386__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2 && !portable) return Avx2(x, out, n, c);
#endif
  Baseline(x, out, n, c);
}
}  // namespace tanhk

// tanh(x, out, n, c, portable): out[i] = tanh(c·x[i]) for i < n (c·x[i] rounded first; c = 1 is
// plain tanh). x and out may be the same array. portable = true takes the two-lane path even
// where AVX2 is available (the tests compare both paths bit for bit).
Napi::Value Tanh(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgc(info, 5, "tanh")) return env.Undefined();
  F64 x, out;
  int64_t n;
  double c;
  bool portable;
  if (!GetF64(info, 0, "x", &x) || !GetF64(info, 1, "out", &out) || !GetInt(info, 2, "n", &n) || !GetDouble(info, 3, "c", &c) ||
      !GetBool(info, 4, "portable", &portable))
    return env.Undefined();
  if ((size_t)n > x.length || (size_t)n > out.length) {
    ThrowRange(env, "tanh: n = " + std::to_string(n) + " exceeds an array's length (" + std::to_string(x.length) + ", " +
                        std::to_string(out.length) + ")");
    return env.Undefined();
  }
  tanhk::Run(x.data, out.data, n, c, portable);
  return env.Undefined();
}

// ---- combine: out[i] = ((x[i] + w0·v0[i]) + w1·v1[i]) + … + w_{T−1}·v_{T−1}[i], each product
// rounded before its sum and the terms added left to right, exactly the JS reference's order
// (`combine` in src/runtime/kernels-js.ts), so the values are bitwise the same (no FMA: ISO C++
// contracts nothing, and the AVX2 target does not enable FMA). Without x the chain starts at
// w0·v0[i]. Every term is read in the same pass (the JS loop takes four per pass and writes out
// between passes); out may be x (element i is written after all of its reads).
namespace combinek {
constexpr int kMaxTerms = 64;

template <typename V>
__attribute__((always_inline)) inline void Block(double* out, const double* x, const double* w, const double* const* v, int terms,
                                                 int64_t n) {
  constexpr int L = sizeof(V) / sizeof(double);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    V acc, t;
    int first = 0;
    if (x) {
      std::memcpy(&acc, x + i, sizeof acc);
    } else {
      std::memcpy(&t, v[0] + i, sizeof t);
      acc = t * w[0];
      first = 1;
    }
    for (int j = first; j < terms; j++) {
      std::memcpy(&t, v[j] + i, sizeof t);
      acc = acc + t * w[j];
    }
    std::memcpy(out + i, &acc, sizeof acc);
  }
  for (; i < n; i++) {
    double acc = x ? x[i] : v[0][i] * w[0];
    for (int j = x ? 0 : 1; j < terms; j++) acc = acc + v[j][i] * w[j];
    out[i] = acc;
  }
}

void Baseline(double* out, const double* x, const double* w, const double* const* v, int terms, int64_t n) {
  Block<V2>(out, x, w, v, terms, n);
}
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) void Avx2(double* out, const double* x, const double* w, const double* const* v, int terms, int64_t n) {
  typedef double V4 __attribute__((vector_size(32)));
  Block<V4>(out, x, w, v, terms, n);
}
#endif

void Run(double* out, const double* x, const double* w, const double* const* v, int terms, int64_t n, bool portable) {
#if defined(__x86_64__) || defined(__i386__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2 && !portable) return Avx2(out, x, w, v, terms, n);
#endif
  Baseline(out, x, w, v, terms, n);
}
}  // namespace combinek

// combine(out, x, weights, vs, n, portable): the sum above for i < n, with x null or a
// Float64Array, weights a Float64Array of T values and vs an array of T Float64Arrays
// (T ≤ 64; T ≥ 1 when x is null). portable = true takes the two-lane path (tests).
Napi::Value Combine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgc(info, 6, "combine")) return env.Undefined();
  F64 out, x{nullptr, 0}, w;
  int64_t n;
  bool portable;
  const bool hasX = !info[1].IsNull();
  if (!GetF64(info, 0, "out", &out) || (hasX && !GetF64(info, 1, "x", &x)) || !GetF64(info, 2, "weights", &w) ||
      !GetInt(info, 4, "n", &n) || !GetBool(info, 5, "portable", &portable))
    return env.Undefined();
  if (!info[3].IsArray()) {
    ThrowType(env, "vs must be an array of Float64Arrays");
    return env.Undefined();
  }
  Napi::Array arr = info[3].As<Napi::Array>();
  const uint32_t terms = arr.Length();
  if (terms != w.length || terms > combinek::kMaxTerms || (!hasX && terms == 0)) {
    ThrowRange(env, "combine: " + std::to_string(terms) + " vectors and " + std::to_string(w.length) +
                        " weights (equal, at most 64, at least 1 without x)");
    return env.Undefined();
  }
  const double* v[combinek::kMaxTerms];
  for (uint32_t j = 0; j < terms; j++) {
    Napi::Value e = arr[j];
    if (!e.IsTypedArray() || e.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      ThrowType(env, "vs[" + std::to_string(j) + "] must be a Float64Array");
      return env.Undefined();
    }
    void* data = nullptr;
    size_t length = 0;
    napi_get_typedarray_info(env, e, nullptr, &length, &data, nullptr, nullptr);
    if ((size_t)n > length) {
      ThrowRange(env, "combine: n = " + std::to_string(n) + " exceeds vs[" + std::to_string(j) + "]'s length " + std::to_string(length));
      return env.Undefined();
    }
    v[j] = static_cast<const double*>(data);
  }
  if ((size_t)n > out.length || (hasX && (size_t)n > x.length)) {
    ThrowRange(env, "combine: n = " + std::to_string(n) + " exceeds out's or x's length");
    return env.Undefined();
  }
  combinek::Run(out.data, x.data, w.data, v, (int)terms, n, portable);
  return env.Undefined();
}

// dgemm(transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc):
// C ← alpha·op(A)·op(B) + beta·C. With beta = 0, C is never read (NaNs in it are discarded);
// with K = 0 or alpha = 0, A and B are not read. M = 1 or N = 1 go to dgemv.
Napi::Value Dgemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgc(info, 16, "dgemm")) return env.Undefined();
  bool tA, tB;
  int64_t M, N, K, aOff, lda, bOff, ldb, cOff, ldc;
  double alpha, beta;
  F64 A, B, C;
  if (!GetBool(info, 0, "transA", &tA) || !GetBool(info, 1, "transB", &tB) || !GetInt(info, 2, "M", &M) ||
      !GetInt(info, 3, "N", &N) || !GetInt(info, 4, "K", &K) || !GetDouble(info, 5, "alpha", &alpha) ||
      !GetF64(info, 6, "A", &A) || !GetInt(info, 7, "aOff", &aOff) || !GetInt(info, 8, "lda", &lda) ||
      !GetF64(info, 9, "B", &B) || !GetInt(info, 10, "bOff", &bOff) || !GetInt(info, 11, "ldb", &ldb) ||
      !GetDouble(info, 12, "beta", &beta) || !GetF64(info, 13, "C", &C) || !GetInt(info, 14, "cOff", &cOff) ||
      !GetInt(info, 15, "ldc", &ldc)) {
    return env.Undefined();
  }
  if (M == 0 || N == 0) return env.Undefined();
  if (!CheckMatrix(env, "C", C, cOff, M, N, ldc)) return env.Undefined();
  // Stored shapes: A is M×K (K×M if transposed), B is K×N (N×K if transposed). Every region is
  // checked before anything is written.
  const bool readsAB = K > 0 && alpha != 0;
  const int64_t aRows = tA ? K : M, aCols = tA ? M : K;
  const int64_t bRows = tB ? N : K, bCols = tB ? K : N;
  if (readsAB && (!CheckMatrix(env, "A", A, aOff, aRows, aCols, lda) || !CheckMatrix(env, "B", B, bOff, bRows, bCols, ldb))) {
    return env.Undefined();
  }
  double* c = C.data + cOff;
  // A short inner dimension: our own loop (see SmallK), which overwrites C when beta = 0.
  if (K > 0 && alpha != 0 && K <= kSmallK && M >= 2 && N >= 2 && M * N >= kSmallKMinWork && smallk::Available()) {
    const int64_t aRows = tA ? K : M, aCols = tA ? M : K, bRows = tB ? N : K, bCols = tB ? K : N;
    if (!CheckMatrix(env, "A", A, aOff, aRows, aCols, lda) || !CheckMatrix(env, "B", B, bOff, bRows, bCols, ldb)) return env.Undefined();
    smallk::Run(M, N, K, alpha, A.data + aOff, tA ? 1 : lda, tA ? lda : 1, B.data + bOff, tB ? 1 : ldb, tB ? ldb : 1, beta == 0 ? 0.0 : beta, c,
                ldc);
    return env.Undefined();
  }
  // beta = 0 means "overwrite": clear C first so that NaN/Inf garbage in it cannot leak through
  // any library path (BLAS defines beta = 0 this way; this makes it independent of the build).
  if (beta == 0) {
    for (int64_t i = 0; i < M; i++) std::memset(c + i * ldc, 0, sizeof(double) * N);
  }
  if (!readsAB) {
    if (beta != 0 && beta != 1) {
      for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) c[i * ldc + j] *= beta;
    }
    return env.Undefined();
  }
  const double* a = A.data + aOff;
  const double* b = B.data + bOff;
  const double bet = beta == 0 ? 0.0 : beta;
  if (N == 1) {
    // c_i = Σ_k op(A)(i, k)·op(B)(k, 0); op(B)'s column has stride 1 if B is transposed, else ldb.
    // Stored A is aRows×aCols with row stride lda (≥ 1 for BLAS even when it has one row).
    cblas_dgemv(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, (int)aRows, (int)aCols, alpha, a,
                (int)(aRows > 1 ? lda : std::max<int64_t>(aCols, 1)), b, tB ? 1 : (int)std::max<int64_t>(ldb, 1), bet, c,
                (int)std::max<int64_t>(ldc, 1));
    return env.Undefined();
  }
  if (M == 1) {
    // c_j = Σ_k op(B)(k, j)·op(A)(0, k) = (op(B)ᵀ·a)_j; op(A)'s row has stride lda if A is transposed.
    cblas_dgemv(CblasRowMajor, tB ? CblasNoTrans : CblasTrans, (int)bRows, (int)bCols, alpha, b,
                (int)(bRows > 1 ? ldb : std::max<int64_t>(bCols, 1)), a, tA ? (int)std::max<int64_t>(lda, 1) : 1, bet, c, 1);
    return env.Undefined();
  }
  // Few rows or few columns against a large other operand: one pass over it (see FewProduct).
  // Element (r, c) of a stored matrix is at r·ld + c; op(A)(i, l) = A(i, l) or A(l, i).
  if (M <= kMaxFew && N * K >= kFewMinWork) {
    FewProduct(M, N, K, alpha, a, tA ? 1 : lda, tA ? lda : 1, b, tB ? ldb : 1, tB ? 1 : ldb, bet, c, ldc, 1);
    return env.Undefined();
  }
  if (N <= kMaxFew && M * K >= kFewMinWork) {
    FewProduct(N, M, K, alpha, b, tB ? ldb : 1, tB ? 1 : ldb, a, tA ? 1 : lda, tA ? lda : 1, bet, c, 1, ldc);
    return env.Undefined();
  }
  // A one-row stored matrix may have any lda; BLAS still wants lda ≥ its column count.
  const int64_t ldaEff = aRows > 1 ? lda : std::max<int64_t>(aCols, 1);
  const int64_t ldbEff = bRows > 1 ? ldb : std::max<int64_t>(bCols, 1);
  cblas_dgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, alpha, a,
              (int)ldaEff, b, (int)ldbEff, bet, c, (int)ldc);
  return env.Undefined();
}

// dsyrk(upper, trans, n, K, alpha, A, aOff, lda, beta, C, cOff, ldc): C ← alpha·op(A)·op(A)ᵀ +
// beta·C on one triangle of the n×n C (upper: j ≥ i, else j ≤ i), op(A) = A (n×K) or, with
// trans, Aᵀ (A stored K×n). The other strict triangle is never touched. With beta = 0, C's
// triangle is not read; with K = 0 or alpha = 0, A is not read.
Napi::Value Dsyrk(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgc(info, 12, "dsyrk")) return env.Undefined();
  bool upper, tA;
  int64_t n, K, aOff, lda, cOff, ldc;
  double alpha, beta;
  F64 A, C;
  if (!GetBool(info, 0, "upper", &upper) || !GetBool(info, 1, "trans", &tA) || !GetInt(info, 2, "n", &n) ||
      !GetInt(info, 3, "K", &K) || !GetDouble(info, 4, "alpha", &alpha) || !GetF64(info, 5, "A", &A) ||
      !GetInt(info, 6, "aOff", &aOff) || !GetInt(info, 7, "lda", &lda) || !GetDouble(info, 8, "beta", &beta) ||
      !GetF64(info, 9, "C", &C) || !GetInt(info, 10, "cOff", &cOff) || !GetInt(info, 11, "ldc", &ldc)) {
    return env.Undefined();
  }
  if (n == 0) return env.Undefined();
  if (!CheckMatrix(env, "C", C, cOff, n, n, ldc)) return env.Undefined();
  const bool readsA = K > 0 && alpha != 0;
  const int64_t aRows = tA ? K : n, aCols = tA ? n : K;
  if (readsA && !CheckMatrix(env, "A", A, aOff, aRows, aCols, lda)) return env.Undefined();
  double* c = C.data + cOff;
  // the triangle's entries of row i: columns [lo(i), hi(i))
  auto lo = [&](int64_t i) { return upper ? i : 0; };
  auto hi = [&](int64_t i) { return upper ? n : i + 1; };
  // beta = 0 overwrites: clear the triangle so that NaN/Inf in it cannot leak through (as dgemm)
  if (beta == 0) {
    for (int64_t i = 0; i < n; i++) std::memset(c + i * ldc + lo(i), 0, sizeof(double) * (hi(i) - lo(i)));
  }
  if (!readsA) {
    if (beta != 0 && beta != 1) {
      for (int64_t i = 0; i < n; i++)
        for (int64_t j = lo(i); j < hi(i); j++) c[i * ldc + j] *= beta;
    }
    return env.Undefined();
  }
  const int64_t ldaEff = aRows > 1 ? lda : std::max<int64_t>(aCols, 1);
  cblas_dsyrk(CblasRowMajor, upper ? CblasUpper : CblasLower, tA ? CblasTrans : CblasNoTrans, (int)n, (int)K, alpha,
              A.data + aOff, (int)ldaEff, beta == 0 ? 0.0 : beta, c, (int)std::max<int64_t>(ldc, n));
  return env.Undefined();
}

bool AllFinite(const double* a, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!std::isfinite(a[i])) return false;
  return true;
}

// Reads (n, A) or (m, n, A) where A holds at least rows·cols elements (the first rows·cols are used).
bool CheckSquareOrRect(Napi::Env env, const char* fn, const F64& A, int64_t rows, int64_t cols) {
  const int64_t need = rows * cols;
  if (need > static_cast<int64_t>(A.length)) {
    return ThrowRange(env, std::string(fn) + ": a " + std::to_string(rows) + "×" + std::to_string(cols) + " matrix needs " +
                               std::to_string(need) + " elements, the array has " + std::to_string(A.length));
  }
  return true;
}

// dsyevd(n, A) → { values, vectors }: the eigendecomposition of the symmetric n×n row-major A
// (its upper triangle is read; A itself is not modified). values ascending; vectors n×n
// row-major with the eigenvector of values[j] in column j, so A = V·diag(values)·Vᵀ.
// A non-finite input gives NaN everywhere (LAPACK's result would be undefined).
Napi::Value Dsyevd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgc(info, 2, "dsyevd")) return env.Undefined();
  int64_t n;
  F64 A;
  if (!GetInt(info, 0, "n", &n) || !GetF64(info, 1, "A", &A)) return env.Undefined();
  if (n > 46340) {
    ThrowRange(env, "dsyevd: n·n must fit a 32-bit int");
    return env.Undefined();
  }
  if (!CheckSquareOrRect(env, "dsyevd", A, n, n)) return env.Undefined();
  Napi::Float64Array values = Napi::Float64Array::New(env, n);
  Napi::Float64Array vectors = Napi::Float64Array::New(env, n * n);
  Napi::Object result = Napi::Object::New(env);
  result.Set("values", values);
  result.Set("vectors", vectors);
  if (n == 0) return result;
  double* V = vectors.Data();
  std::memcpy(V, A.data, sizeof(double) * n * n);
  if (!AllFinite(V, n * n)) {
    std::fill(values.Data(), values.Data() + n, NAN);
    std::fill(V, V + n * n, NAN);
    return result;
  }
  lapack_int infoCode = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)n, V, (lapack_int)n, values.Data());
  if (infoCode != 0) {
    Napi::Error::New(env, "dsyevd failed to converge (info = " + std::to_string(infoCode) + ")").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return result;
}

// dgesdd(m, n, A) → { s, u, vt }: the thin SVD of the m×n row-major A = U·diag(s)·Vᵀ,
// k = min(m, n): s (k, descending, ≥ 0), u (m×k, orthonormal columns), vt (k×n, orthonormal
// rows). A is not modified. A non-finite input gives NaN everywhere.
Napi::Value Dgesdd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgc(info, 3, "dgesdd")) return env.Undefined();
  int64_t m, n;
  F64 A;
  if (!GetInt(info, 0, "m", &m) || !GetInt(info, 1, "n", &n) || !GetF64(info, 2, "A", &A)) return env.Undefined();
  if (m * n > INT_MAX) {
    ThrowRange(env, "dgesdd: m·n must fit a 32-bit int");
    return env.Undefined();
  }
  if (!CheckSquareOrRect(env, "dgesdd", A, m, n)) return env.Undefined();
  const int64_t k = std::min(m, n);
  Napi::Float64Array s = Napi::Float64Array::New(env, k);
  Napi::Float64Array u = Napi::Float64Array::New(env, m * k);
  Napi::Float64Array vt = Napi::Float64Array::New(env, k * n);
  Napi::Object result = Napi::Object::New(env);
  result.Set("s", s);
  result.Set("u", u);
  result.Set("vt", vt);
  if (k == 0) return result;
  std::vector<double> work(A.data, A.data + m * n);  // dgesdd destroys its input
  if (!AllFinite(work.data(), work.size())) {
    std::fill(s.Data(), s.Data() + k, NAN);
    std::fill(u.Data(), u.Data() + m * k, NAN);
    std::fill(vt.Data(), vt.Data() + k * n, NAN);
    return result;
  }
  lapack_int infoCode = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', (lapack_int)m, (lapack_int)n, work.data(), (lapack_int)n, s.Data(),
                                       u.Data(), (lapack_int)k, vt.Data(), (lapack_int)n);
  if (infoCode != 0) {
    Napi::Error::New(env, "dgesdd failed to converge (info = " + std::to_string(infoCode) + ")").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return result;
}

// setThreads(n): the number of threads OpenBLAS uses from now on (1 ≤ n); returns it as set.
// Small products run faster on the calling thread alone: a second thread's hand-off costs more
// than it saves, and two JS threads each calling BLAS then use both cores without contention.
Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "setThreads(n): n must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 1 && n <= 1024) || n != std::floor(n)) {
    Napi::RangeError::New(env, "setThreads(n): n must be an integer in 1..1024").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  openblas_set_num_threads((int)n);
  return Napi::Number::New(env, openblas_get_num_threads());
}

// adviseHuge(x): advises the kernel to back the 2 MB-aligned interior of Float64Array x with
// transparent huge pages (madvise MADV_HUGEPAGE); returns whether it could (false where it
// cannot: not Linux, an array under 2 MB, madvise refused). Why: the first write to each 4 kB
// page of a fresh array is a page fault, and in this project's virtual machines a fault costs
// ~10 µs — filling a fresh 32 MB kernel once took ~100 ms, and 3 ms the second time. On huge
// pages the first fill takes ~11 ms. Only advice: the memory stays V8's, allocated and freed by
// it as any array's; a page already touched stays as it is.
Napi::Value AdviseHuge(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F64 x;
  if (info.Length() != 1) {
    Napi::TypeError::New(env, "adviseHuge(x): one argument, a Float64Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!GetF64(info, 0, "adviseHuge(x): x", &x)) return env.Undefined();
#ifdef __linux__
  const uintptr_t kHuge = uintptr_t(2) << 20;
  const uintptr_t from = (uintptr_t(x.data) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t to = (uintptr_t(x.data) + x.length * sizeof(double)) & ~(kHuge - 1);
  if (to <= from) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(env, madvise(reinterpret_cast<void*>(from), to - from, MADV_HUGEPAGE) == 0);
#else
  return Napi::Boolean::New(env, false);
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("dgemm", Napi::Function::New(env, Dgemm, "dgemm"));
  exports.Set("dsyrk", Napi::Function::New(env, Dsyrk, "dsyrk"));
  exports.Set("dsyevd", Napi::Function::New(env, Dsyevd, "dsyevd"));
  exports.Set("tanh", Napi::Function::New(env, Tanh, "tanh"));
  exports.Set("combine", Napi::Function::New(env, Combine, "combine"));
  exports.Set("avx2", Napi::Boolean::New(env, smallk::Available()));
  exports.Set("dgesdd", Napi::Function::New(env, Dgesdd, "dgesdd"));
  exports.Set("openblasConfig", Napi::String::New(env, openblas_get_config()));
  exports.Set("threads", Napi::Number::New(env, openblas_get_num_threads()));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("adviseHuge", Napi::Function::New(env, AdviseHuge, "adviseHuge"));
  return exports;
}

}  // namespace

NODE_API_MODULE(ntk_native, Init)

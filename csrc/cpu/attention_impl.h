// Fused, flash-style attention, compiled once per ISA (CMakeLists.txt
// generates one translation unit per ISA that includes this file;
// common/dispatch.h has the pattern): each copy uses its ISA's vector width
// (nerve::kVecBytes: 16 SSE2, 32 AVX2, 64 AVX-512) and lives in an anonymous
// namespace, so the copies never collide.
//
// Forward (FlashAttention-2 order), one task per (batch, head, tile of kBr
// query rows), OpenMP dynamic schedule over tasks:
//   K^T (D x S) and V (S x Dp) of the head, packed and zero padded once per
//   head and thread (PackedHead), shared by that head's query tiles
//   Qs = q_tile * scale                                  (kBr x Dp, packed)
//   for each tile of kBc keys (up to the diagonal when causal):
//     S = Qs K^T[:, tile], masked (-inf)                 (kBr x kBc, in L1)
//     m' = max(m, rowmax S); P = exp(S - m'); c = exp(m - m')
//     l = l c + rowsum P;  O = O c + (P Z) V[tile]   (Z: dropout mask below)
//   out = O / l, lse = m + log l.  Memory: O(S*D + kBr*(kBc + D)) per
//   thread; no L x S matrix exists. Saved for backward: out and lse only.
// Backward (FlashAttention-2), one task per (batch, head): for each key tile
// (its packed K/V stay in L1/L2), for each query tile it recomputes
// P = exp(S - lse) and accumulates (Z: the dropout mask, replayed from the
// seed; all ones without dropout)
//   dV += (P Z)^T dO, dP = (dO V^T) Z, dS = P (dP - delta), delta = rowsum(dO O)
//   dQ += dS K (per-head buffer, scaled at the end), dK += dS^T Qs.
// dK/dV of a key tile belong to one task, and dQ to one head, so there are no
// write races. When there are fewer heads than threads, the key tiles of a
// head are split over threads instead, each with its own dQ buffer, summed
// at the end.
//
// All products go through one register-blocked micro-kernel (mm below): an
// R x (NV vectors) block of C stays in registers while k runs, A elements are
// broadcast, B rows are vector loads. Accumulation is in T (float32 for
// float32, float64 for float64). exp is a vectorized Cody-Waite + Taylor
// polynomial (degree 7 for float, 13 for double; measured max relative error
// 0.64 eps over [-87, 10] (float) and [-700, 10] (double), vs long double),
// flushing inputs below the smallest normal result to 0, so masked logits
// (-inf) give exactly 0.
//
// Dropout (dropout_p > 0): Z[i, j] = keep / (1 - p), keep decided by a
// counter-based hash of (seed, row, column) (attention.h), computed a vector
// at a time; the backward recomputes the same Z, so no mask is stored and
// memory stays linear. Cost: ~6% forward, ~3% backward (B=2,H=4,L=S=512,
// D=64, 1 thread).
//
// Tile sizes: 64 x 64 keeps S, P and dP (16 KiB each in float32) in L1.
// Measured (AMD EPYC Zen 4, AVX-512, 1 thread, CPU time, float32, D=64):
// forward 77 GFLOP/s (64 when K^T/V were packed per query tile instead of
// per head), backward ~88 GFLOP/s counting its 10*B*H*L*S*D flops. More in
// bench/results/attention-*.md.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "common/denormal.h"
#include "common/dispatch.h"
#include "common/parallel.h"
#include "cpu/attention.h"

namespace {

using nerve::kVecBytes;
using nerve::cpu::AttentionMask;
using nerve::cpu::AttentionSizes;
using nerve::cpu::HeadsView;
using nerve::cpu::MaskKind;

template <class T>
struct Vec;
template <>
struct Vec<float> {
  typedef float type __attribute__((vector_size(kVecBytes)));
  typedef int32_t itype __attribute__((vector_size(kVecBytes)));
};
template <>
struct Vec<double> {
  typedef double type __attribute__((vector_size(kVecBytes)));
  typedef int64_t itype __attribute__((vector_size(kVecBytes)));
};

// W lanes of uint32 / int32 next to W lanes of T (the dropout hash).
template <class T>
struct LaneInts;
template <>
struct LaneInts<float> {
  typedef uint32_t u __attribute__((vector_size(kVecBytes)));
  typedef int32_t i __attribute__((vector_size(kVecBytes)));
};
template <>
struct LaneInts<double> {
  typedef uint32_t u __attribute__((vector_size(kVecBytes / 2)));
  typedef int32_t i __attribute__((vector_size(kVecBytes / 2)));
};

// A growable scratch buffer. Not std::vector: its out-of-line members would
// be instantiated with this file's ISA flags as weak symbols that portable
// code could bind to (tools/check_isa_symbols.py); this class has internal
// linkage. get() keeps the old storage when it is large enough.
template <class T>
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(p_); }
  T* get(int64_t n) {
    if (n > n_) {
      std::free(p_);
      p_ = static_cast<T*>(std::malloc(static_cast<size_t>(n) * sizeof(T)));
      n_ = p_ ? n : 0;
      if (!p_) throw std::bad_alloc();
    }
    return p_;
  }

 private:
  T* p_ = nullptr;
  int64_t n_ = 0;
};

constexpr int64_t kBr = 64;  // query rows per tile
constexpr int64_t kBc = 64;  // keys per tile (a multiple of every vector width)

// Register blocking of the micro-kernel: R rows x NV vectors of C.
// 64 bytes: 16 accumulators of 32 zmm; 32: 12 of 16 ymm; 16: 8 of 16 xmm.
constexpr int kR = kVecBytes >= 64 ? 4 : kVecBytes >= 32 ? 3 : 2, kNV = 4;

template <class T>
constexpr int64_t width() {
  return kVecBytes / sizeof(T);
}

template <class T, class V = typename Vec<T>::type>
inline V vload(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}

template <class T, class V>
inline void vstore(T* p, V v) {
  std::memcpy(p, &v, sizeof(V));
}

// C block (R x NV*W) = or += sum_k A(r, k) * B[k, :], A(r, k) = A[r*ars + k*aks].
template <class T, int R, int NV>
inline void mm_block(int64_t K, const T* A, int64_t ars, int64_t aks, const T* B, int64_t ldb, T* C, int64_t ldc,
                     bool accumulate) {
  using V = typename Vec<T>::type;
  constexpr int64_t W = width<T>();
  V c[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) c[r][v] = accumulate ? vload<T>(C + r * ldc + v * W) : V{};
  for (int64_t k = 0; k < K; ++k) {
    V b[NV];
    for (int v = 0; v < NV; ++v) b[v] = vload<T>(B + k * ldb + v * W);
    for (int r = 0; r < R; ++r) {
      const T a = A[r * ars + k * aks];
      for (int v = 0; v < NV; ++v) c[r][v] += a * b[v];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) vstore(C + r * ldc + v * W, c[r][v]);
}

template <class T, int R>
inline void mm_rows(int64_t N, int64_t K, const T* A, int64_t ars, int64_t aks, const T* B, int64_t ldb, T* C,
                    int64_t ldc, bool accumulate) {
  constexpr int64_t W = width<T>();
  int64_t n = 0;
  for (; n + kNV * W <= N; n += kNV * W) mm_block<T, R, kNV>(K, A, ars, aks, B + n, ldb, C + n, ldc, accumulate);
  for (; n < N; n += W) mm_block<T, R, 1>(K, A, ars, aks, B + n, ldb, C + n, ldc, accumulate);
}

// C (M x N) = or += A (M x K) B (K x N). N is a multiple of the vector width;
// B and C rows are contiguous; A is read through strides (so A^T costs nothing).
template <class T>
void mm(int64_t M, int64_t N, int64_t K, const T* A, int64_t ars, int64_t aks, const T* B, int64_t ldb, T* C,
        int64_t ldc, bool accumulate) {
  int64_t r = 0;
  for (; r + kR <= M; r += kR, A += kR * ars, C += kR * ldc)
    mm_rows<T, kR>(N, K, A, ars, aks, B, ldb, C, ldc, accumulate);
  for (; r < M; ++r, A += ars, C += ldc) mm_rows<T, 1>(N, K, A, ars, aks, B, ldb, C, ldc, accumulate);
}

// exp(x) for a vector; exact 0 below the smallest normal result (and for -inf).
template <class T>
struct ExpConst;
template <>
struct ExpConst<float> {
  static constexpr float lo = -87.33f, hi = 88.7f, magic = 12582912.0f;  // 1.5 * 2^23
  static constexpr float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
  static constexpr int degree = 7, mant = 23, bias = 127;
};
template <>
struct ExpConst<double> {
  static constexpr double lo = -708.39, hi = 709.7, magic = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  static constexpr int degree = 13, mant = 52, bias = 1023;
};

template <class T, class V = typename Vec<T>::type>
inline V vexp(V x) {
  using I = typename Vec<T>::itype;
  using C = ExpConst<T>;
  const I tiny = x < (V{} + C::lo);  // also true for -inf; NaN stays NaN below
  x = x > (V{} + C::hi) ? V{} + C::hi : x;
  x = tiny ? V{} + C::lo : x;
  const V t = x * T(1.4426950408889634) + C::magic;  // round(x / ln 2) in the low mantissa bits
  const V n = t - C::magic;
  const V r = (x - n * C::ln2_hi) - n * C::ln2_lo;
  T inv_fact[C::degree + 1] = {T(1)};
  for (int i = 1; i <= C::degree; ++i) inv_fact[i] = inv_fact[i - 1] / T(i);
  V p = V{} + inv_fact[C::degree];
  for (int i = C::degree - 1; i >= 0; --i) p = p * r + inv_fact[i];  // Horner on sum r^i / i!
  const V magic = V{} + C::magic;
  const I bits = (((I)t - (I)magic) + C::bias) << C::mant;  // 2^n (vector casts are bit casts)
  return (V)((I)(p * (V)bits) & ~tiny);
}

template <class T>
inline T row_max(const T* s, int64_t n) {
  using V = typename Vec<T>::type;
  constexpr int64_t W = width<T>();
  V m = V{} - std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < n; j += W) {
    V x = vload<T>(s + j);
    m = x > m ? x : m;
  }
  T r = m[0];
  for (int64_t w = 1; w < W; ++w) r = std::max(r, T(m[w]));
  return r;
}

// s[j] = exp(s[j] - m); returns the sum (n a multiple of the width).
template <class T>
inline T exp_rows_sum(T* s, int64_t n, T m) {
  using V = typename Vec<T>::type;
  constexpr int64_t W = width<T>();
  V acc{};
  for (int64_t j = 0; j < n; j += W) {
    V p = vexp<T>(vload<T>(s + j) - m);
    vstore(s + j, p);
    acc += p;
  }
  T r = 0;
  for (int64_t w = 0; w < W; ++w) r += acc[w];
  return r;
}

template <class T>
inline int64_t round_up(int64_t n) {
  constexpr int64_t W = width<T>();
  return (n + W - 1) / W * W;
}

// Masks logits s (rows x kBc) of queries i0.. and keys j0..j0+cols: padding
// columns, the causal triangle, dropped keys and the user mask become -inf /
// are added.
template <class T>
void apply_mask(T* s, int64_t rows, int64_t i0, int64_t j0, int64_t cols, int64_t b, int64_t h,
                const AttentionMask& mask, bool causal) {
  const T ninf = -std::numeric_limits<T>::infinity();
  for (int64_t r = 0; r < rows; ++r) {
    T* row = s + r * kBc;
    const int64_t i = i0 + r;
    const int64_t lim = causal ? std::clamp<int64_t>(i - j0 + 1, 0, cols) : cols;
    for (int64_t c = lim; c < kBc; ++c) row[c] = ninf;
    if (mask.key_keep) {
      const uint8_t* kk = mask.key_keep + b * mask.kb + j0 * mask.ks;
      for (int64_t c = 0; c < lim; ++c)
        if (!kk[c * mask.ks]) row[c] = ninf;
    }
    if (mask.kind == MaskKind::none) continue;
    const int64_t base = b * mask.sb + h * mask.sh + i * mask.sl + j0 * mask.ss;
    if (mask.kind == MaskKind::boolean) {
      const uint8_t* m = static_cast<const uint8_t*>(mask.data) + base;
      for (int64_t c = 0; c < lim; ++c)
        if (!m[c * mask.ss]) row[c] = ninf;
    } else {
      const T* m = static_cast<const T*>(mask.data) + base;
      for (int64_t c = 0; c < lim; ++c) row[c] += m[c * mask.ss];
    }
  }
}

// z[r, c] = keep ? 1 / (1 - p) : 0 for queries i0.. and keys j0..j0 + kBc of
// head bh: the dropout mask, recomputed from the seed (vectorized hash).
template <class T>
void dropout_mask(T* z, int64_t rows, int64_t i0, int64_t j0, int64_t bh, const AttentionSizes& n) {
  using V = typename Vec<T>::type;
  using U = typename LaneInts<T>::u;
  using I = typename LaneInts<T>::i;
  constexpr int64_t W = width<T>();
  const double t = std::ldexp(n.dropout_p, 32);
  const uint32_t thresh = t >= 4294967295.0 ? 4294967295u : static_cast<uint32_t>(t);
  const T inv = T(1) / T(1 - n.dropout_p);
  U lane;
  for (int64_t w = 0; w < W; ++w) lane[w] = static_cast<uint32_t>(w);
  for (int64_t r = 0; r < rows; ++r) {
    const uint32_t key = nerve::cpu::dropout_row_key(n.seed, static_cast<uint64_t>(bh * n.L + i0 + r));
    for (int64_t c = 0; c < kBc; c += W) {
      U x = ((lane + static_cast<uint32_t>(j0 + c)) * 0x9E3779B1u) ^ key;  // as dropout_hash
      x ^= x >> 16;
      x *= 0x7feb352du;
      x ^= x >> 15;
      x *= 0x846ca68bu;
      x ^= x >> 16;
      const I keep = (I)(x >= thresh);  // -1 or 0
      vstore(z + r * kBc + c, -__builtin_convertvector(keep, V) * inv);
    }
  }
}

// a[r, :] *= z[r, :] for rows x kBc tiles.
template <class T>
void multiply_rows(T* a, const T* z, int64_t rows) {
  for (int64_t e = 0; e < rows * kBc; ++e) a[e] *= z[e];
}

// dst (rows x Dp) = src rows * alpha, zero padded to Dp columns.
template <class T>
void pack_rows(T* dst, int64_t Dp, const T* src, int64_t ld, int64_t rows, int64_t D, T alpha) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t d = 0; d < D; ++d) dst[r * Dp + d] = src[r * ld + d] * alpha;
    std::fill(dst + r * Dp + D, dst + (r + 1) * Dp, T(0));
  }
}

// dst (D x ldd) = src^T for `cols` rows of src, zero padded to `width` columns.
template <class T>
void pack_transposed(T* dst, int64_t ldd, const T* src, int64_t ld, int64_t cols, int64_t width, int64_t D) {
  for (int64_t d = 0; d < D; ++d) {
    T* row = dst + d * ldd;
    for (int64_t c = 0; c < cols; ++c) row[c] = src[c * ld + d];
    std::fill(row + cols, row + width, T(0));
  }
}

// One head's K^T (D x Sp) and V (Sp x Dp), zero padded to Sp = S rounded up
// to kBc: packed once per head and thread, reused by all its query tiles.
template <class T>
struct PackedHead {
  int64_t bh = -1, Sp = 0;
  T *kt = nullptr, *vp = nullptr;
  Scratch<T> buf;

  void pack(const HeadsView<T>& k, const HeadsView<T>& v, const AttentionSizes& n, int64_t b, int64_t h) {
    if (bh == b * n.H + h) return;
    bh = b * n.H + h;
    const int64_t D = n.D, Dp = round_up<T>(D);
    Sp = (n.S + kBc - 1) / kBc * kBc;
    kt = buf.get(D * Sp + Sp * Dp);
    vp = kt + D * Sp;
    pack_transposed(kt, Sp, k.data + b * k.sb + h * k.sh, k.sl, n.S, Sp, D);
    pack_rows(vp, Dp, v.data + b * v.sb + h * v.sh, v.sl, n.S, D, T(1));
    std::fill(vp + n.S * Dp, vp + Sp * Dp, T(0));
  }
};

template <class T>
void forward_tile(T* out, T* lse, const HeadsView<T>& q, const PackedHead<T>& kv, const AttentionMask& mask,
                  const AttentionSizes& n, int64_t b, int64_t h, int64_t i0, Scratch<T>& ws) {
  const int64_t D = n.D, Dp = round_up<T>(D), rows = std::min(kBr, n.L - i0);
  T *qs = ws.get(kBr * Dp + 2 * kBr * kBc + kBr * Dp + 2 * kBr), *s = qs + kBr * Dp, *z = s + kBr * kBc, *o = z + kBr * kBc, *m = o + kBr * Dp, *l = m + kBr;
  const T ninf = -std::numeric_limits<T>::infinity();
  pack_rows(qs, Dp, q.data + b * q.sb + h * q.sh + i0 * q.sl, q.sl, rows, D, T(n.scale));
  std::fill(o, o + rows * Dp, T(0));
  std::fill(m, m + rows, ninf);
  std::fill(l, l + rows, T(0));
  const int64_t kv_end = n.causal ? std::min(n.S, i0 + rows) : n.S;
  for (int64_t j0 = 0; j0 < kv_end; j0 += kBc) {
    const int64_t cols = std::min(kBc, n.S - j0);
    mm(rows, kBc, D, qs, Dp, 1, kv.kt + j0, kv.Sp, s, kBc, false);  // S = Qs K^T
    apply_mask(s, rows, i0, j0, cols, b, h, mask, n.causal);
    for (int64_t r = 0; r < rows; ++r) {
      T* p = s + r * kBc;
      const T m_new = std::max(m[r], row_max(p, kBc));
      if (m_new == ninf) {  // every key so far masked: contributes nothing
        std::fill(p, p + kBc, T(0));
        continue;
      }
      const T sum = exp_rows_sum(p, kBc, m_new);
      if (m[r] != m_new) {
        const T c = std::exp(m[r] - m_new);
        l[r] *= c;
        for (int64_t d = 0; d < Dp; ++d) o[r * Dp + d] *= c;
        m[r] = m_new;
      }
      l[r] += sum;
    }
    if (n.dropout_p > 0) {  // l sums the kept and the dropped: dropout acts after softmax
      dropout_mask(z, rows, i0, j0, b * n.H + h, n);
      multiply_rows(s, z, rows);
    }
    mm(rows, Dp, kBc, s, kBc, 1, kv.vp + j0 * Dp, Dp, o, Dp, true);  // O += P V
  }
  const int64_t row0 = (b * n.H + h) * n.L + i0;
  for (int64_t r = 0; r < rows; ++r) {
    T* dst = out + (row0 + r) * D;
    const T inv = l[r] > 0 ? T(1) / l[r] : T(0);
    for (int64_t d = 0; d < D; ++d) dst[d] = o[r * Dp + d] * inv;
    lse[row0 + r] = l[r] > 0 ? m[r] + std::log(l[r]) : ninf;
  }
}

template <class T>
void attention_forward_impl(T* out, T* lse, HeadsView<T> q, HeadsView<T> k, HeadsView<T> v,
                            const AttentionMask& mask, const AttentionSizes& n) {
  const int64_t nqt = (n.L + kBr - 1) / kBr, tasks = n.B * n.H * nqt;
  if (tasks == 0) return;
  const int nt = static_cast<int>(std::min<int64_t>(nerve::threads_for(4 * n.B * n.H * n.L * std::max<int64_t>(n.S, 1) * n.D), tasks));
#pragma omp parallel num_threads(nt)
  {
    nerve::DenormalGuard guard;
    Scratch<T> ws;
    PackedHead<T> kv;
#pragma omp for schedule(dynamic)
    for (int64_t t = 0; t < tasks; ++t) {  // head-major, so a thread's consecutive tiles mostly share kv
      const int64_t bh = t / nqt, qt = n.causal ? nqt - 1 - t % nqt : t % nqt;  // causal: long tiles first
      kv.pack(k, v, n, bh / n.H, bh % n.H);
      forward_tile(out, lse, q, kv, mask, n, bh / n.H, bh % n.H, qt * kBr, ws);
    }
  }
}

// One key tile [j0, j0 + kBc) of head (b, h): dk, dv rows of the tile are
// written; dS K is added to dq_acc (L x Dp, this head's rows).
template <class T>
void backward_kv_tile(T* dk, T* dv, T* dq_acc, const HeadsView<T>& dout, const HeadsView<T>& q,
                      const HeadsView<T>& k, const HeadsView<T>& v, const T* lse, const T* delta,
                      const AttentionMask& mask, const AttentionSizes& n, int64_t b, int64_t h, int64_t j0,
                      Scratch<T>& ws) {
  const int64_t D = n.D, Dp = round_up<T>(D), cols = std::min(kBc, n.S - j0);
  T *kt = ws.get(2 * D * kBc + kBc * Dp + 2 * kBr * Dp + 3 * kBr * kBc + 2 * kBc * Dp), *vt = kt + D * kBc, *kp = vt + D * kBc, *qs = kp + kBc * Dp, *dop = qs + kBr * Dp;
  T *p = dop + kBr * Dp, *dp = p + kBr * kBc, *z = dp + kBr * kBc, *dk_acc = z + kBr * kBc;
  T* dv_acc = dk_acc + kBc * Dp;
  const int64_t bh = b * n.H + h;
  const T* kb = k.data + b * k.sb + h * k.sh + j0 * k.sl;
  const T* vb = v.data + b * v.sb + h * v.sh + j0 * v.sl;
  pack_transposed(kt, kBc, kb, k.sl, cols, kBc, D);
  pack_transposed(vt, kBc, vb, v.sl, cols, kBc, D);
  pack_rows(kp, Dp, kb, k.sl, cols, D, T(1));
  std::fill(kp + cols * Dp, kp + kBc * Dp, T(0));
  std::fill(dk_acc, dk_acc + 2 * kBc * Dp, T(0));
  const T ninf = -std::numeric_limits<T>::infinity();
  for (int64_t i0 = n.causal ? j0 / kBr * kBr : 0; i0 < n.L; i0 += kBr) {
    const int64_t rows = std::min(kBr, n.L - i0);
    pack_rows(qs, Dp, q.data + b * q.sb + h * q.sh + i0 * q.sl, q.sl, rows, D, T(n.scale));
    pack_rows(dop, Dp, dout.data + b * dout.sb + h * dout.sh + i0 * dout.sl, dout.sl, rows, D, T(1));
    mm(rows, kBc, D, qs, Dp, 1, kt, kBc, p, kBc, false);
    apply_mask(p, rows, i0, j0, cols, b, h, mask, n.causal);
    for (int64_t r = 0; r < rows; ++r) {
      const T m = lse[bh * n.L + i0 + r];
      if (m == ninf)
        std::fill(p + r * kBc, p + (r + 1) * kBc, T(0));
      else
        exp_rows_sum(p + r * kBc, kBc, m);  // P = exp(S - lse)
    }
    mm(rows, kBc, D, dop, Dp, 1, vt, kBc, dp, kBc, false);  // dP = dO V^T (w.r.t. dropped P)
    if (n.dropout_p > 0) {
      dropout_mask(z, rows, i0, j0, bh, n);
      multiply_rows(dp, z, rows);  // w.r.t. P before dropout
    }
    for (int64_t r = 0; r < rows; ++r) {  // dS = P (dP - delta), into dp
      const T dl = delta[bh * n.L + i0 + r];
      for (int64_t c = 0; c < kBc; ++c) dp[r * kBc + c] = p[r * kBc + c] * (dp[r * kBc + c] - dl);
    }
    if (n.dropout_p > 0) multiply_rows(p, z, rows);
    mm(kBc, Dp, rows, p, 1, kBc, dop, Dp, dv_acc, Dp, true);  // dV += (dropped P)^T dO
    mm(rows, Dp, kBc, dp, kBc, 1, kp, Dp, dq_acc + i0 * Dp, Dp, true);  // dQ += dS K
    mm(kBc, Dp, rows, dp, 1, kBc, qs, Dp, dk_acc, Dp, true);            // dK += dS^T Q scale
  }
  for (int64_t c = 0; c < cols; ++c) {
    const int64_t row = bh * n.S + j0 + c;
    std::copy(dk_acc + c * Dp, dk_acc + c * Dp + D, dk + row * D);
    std::copy(dv_acc + c * Dp, dv_acc + c * Dp + D, dv + row * D);
  }
}

template <class T>
void attention_backward_impl(T* dq, T* dk, T* dv, HeadsView<T> dout, HeadsView<T> q, HeadsView<T> k,
                             HeadsView<T> v, const T* out, const T* lse, const AttentionMask& mask,
                             const AttentionSizes& n) {
  const int64_t BH = n.B * n.H, D = n.D, Dp = round_up<T>(D), nkt = (n.S + kBc - 1) / kBc;
  if (BH == 0) return;
  const int nt = nerve::threads_for(8 * BH * n.L * std::max<int64_t>(n.S, 1) * D);
  // delta[bh, i] = sum_d dout * out: (B, H, L)
  Scratch<T> delta_buf;
  T* delta = delta_buf.get(BH * n.L);
  nerve::parallel_for(BH, BH * n.L * D, [&](int64_t b0, int64_t b1) {
    for (int64_t bh = b0; bh < b1; ++bh)
      for (int64_t i = 0; i < n.L; ++i) {
        const T* g = dout.data + (bh / n.H) * dout.sb + (bh % n.H) * dout.sh + i * dout.sl;
        const T* o = out + (bh * n.L + i) * D;
        T acc = 0;
        for (int64_t d = 0; d < D; ++d) acc += g[d] * o[d];
        delta[bh * n.L + i] = acc;
      }
  });
  auto write_dq = [&](int64_t bh, const T* acc) {
    for (int64_t i = 0; i < n.L; ++i)
      for (int64_t d = 0; d < D; ++d) dq[(bh * n.L + i) * D + d] = acc[i * Dp + d] * T(n.scale);
  };
  if (BH >= nt || nkt <= 1) {
    // One head per task: its dq rows are private.
#pragma omp parallel num_threads(static_cast<int>(std::min<int64_t>(nt, BH)))
    {
      nerve::DenormalGuard guard;
      Scratch<T> ws, dq_buf;
      T* dq_acc = dq_buf.get(n.L * Dp);
#pragma omp for schedule(dynamic)
      for (int64_t bh = 0; bh < BH; ++bh) {
        std::fill(dq_acc, dq_acc + n.L * Dp, T(0));
        for (int64_t jt = 0; jt < nkt; ++jt)
          backward_kv_tile(dk, dv, dq_acc, dout, q, k, v, lse, delta, mask, n, bh / n.H, bh % n.H,
                           jt * kBc, ws);
        write_dq(bh, dq_acc);
      }
    }
    return;
  }
  // Few heads: split each head's key tiles over threads, one dq buffer each.
  const int nth = static_cast<int>(std::min<int64_t>(nt, nkt));
  Scratch<T> parts_buf;
  T* parts = parts_buf.get(nth * n.L * Dp);
  for (int64_t bh = 0; bh < BH; ++bh) {
    std::fill(parts, parts + nth * n.L * Dp, T(0));  // all nth, even if OpenMP gives fewer threads
#pragma omp parallel num_threads(nth)
    {
      nerve::DenormalGuard guard;
      Scratch<T> ws;
      T* acc = parts + static_cast<size_t>(omp_get_thread_num()) * n.L * Dp;
#pragma omp for schedule(dynamic)
      for (int64_t jt = 0; jt < nkt; ++jt)
        backward_kv_tile(dk, dv, acc, dout, q, k, v, lse, delta, mask, n, bh / n.H, bh % n.H, jt * kBc,
                         ws);
    }
    for (int t = 1; t < nth; ++t)
      for (int64_t e = 0; e < n.L * Dp; ++e) parts[e] += parts[static_cast<size_t>(t) * n.L * Dp + e];
    write_dq(bh, parts);
  }
}

}  // namespace

namespace {

template <class T>
constexpr nerve::cpu::AttentionKernels<T> kKernelsOf{attention_forward_impl<T>, attention_backward_impl<T>};

using Kernels = nerve::Typed<nerve::cpu::AttentionKernels>;
constexpr Kernels kKernels{kKernelsOf<float>, kKernelsOf<double>};

}  // namespace

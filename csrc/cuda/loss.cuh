// Fused softmax cross-entropy kernels: one block per row of logits (N, C).
//
// Forward: each thread streams its columns once, keeping an online
// log-sum-exp (m = running max, s = sum exp(x - m), rescaled when m grows) and,
// for label smoothing, sum w_c x_c and W = sum w_c in double; warp shuffles
// then shared memory combine the threads' states; thread 0 writes
//   lse = shift + log s      (shift = row max, or 0 and lse = max when the
//                             max is not finite: all -inf, or +inf inside)
//   loss = (1 - eps) w_t (lse - x_t) + eps / C (W log s + W shift - sum w_c x_c)
// which is cpu/loss.h's formula (there sum_c w_c (shift - x_c) is summed term
// by term; here it is W shift - sum w x in double, equal to rounding).
// Backward: grad = a exp(x - lse) - b w_c, with the target column again in
// double (p_t near 1 for a confident model), as csrc/cpu/loss_impl.h; lse is
// split into hi + lo in T so that x - hi is exact near the max.
// Rows whose target is ignore_index get loss 0 and gradient 0; a target
// outside [0, C) gives NaN (the binding cannot read device memory to reject it).
// Block size: 32 threads for C <= 256 (a warp, no shared memory stage), else 256.
// __launch_bounds__(kThreads, 1): with the thread count alone, nvcc 13's ptxas
// held the 256-thread forward to 32 registers and spilled (with ', 1': 40, no spill).
// eps / C comes from the host: a double division in a kernel is a call to a
// slow-path routine, whose stack frame ptxas reports as local memory.
#pragma once
#include "cuda/util.cuh"

namespace nerve::cuda::loss {

template <class T>
struct Lse {  // online log-sum-exp state of some columns, plus the smoothing sums
  T m;        // max (never NaN: only set by a compare that NaN fails)
  T s;        // sum exp(x - m); NaN once a NaN was seen
  double wx;  // sum w_c x_c
  double w;   // sum w_c
};

template <class T>
__device__ __forceinline__ void add(Lse<T>& a, T v, double w, bool smoothing) {
  if (v > a.m) {
    a.s = a.s * d_exp(a.m - v) + T(1);
    a.m = v;
  } else if (v != T(-1) / T(0)) {  // -inf adds 0 (and exp(-inf - -inf) would be NaN)
    a.s += d_exp(v - a.m);
  }
  if (smoothing) {
    a.wx += w * double(v);
    a.w += w;
  }
}

template <class T>
__device__ __forceinline__ void merge(Lse<T>& a, T m2, T s2, double wx2, double w2) {
  const T M = a.m > m2 ? a.m : m2;
  if (M == T(-1) / T(0)) a.s = a.s + s2;  // both empty (or NaN: stays NaN)
  else a.s = a.s * d_exp(a.m - M) + s2 * d_exp(m2 - M);  // M = +inf: s unused (lse = max)
  a.m = M;
  a.wx += wx2;
  a.w += w2;
}

template <class T>
__device__ __forceinline__ void warp_merge(Lse<T>& a) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const T m2 = __shfl_xor_sync(0xffffffffu, a.m, off);
    const T s2 = __shfl_xor_sync(0xffffffffu, a.s, off);
    const double wx2 = __shfl_xor_sync(0xffffffffu, a.wx, off);
    const double w2 = __shfl_xor_sync(0xffffffffu, a.w, off);
    merge(a, m2, s2, wx2, w2);
  }
}

// The whole block's state, in thread 0 (other threads: partial).
// (A serial loop of thread 0 over the warps' states unrolled into ~900
// registers' worth of code, and ptxas spilled it.)
template <class T, int kThreads>
__device__ __forceinline__ Lse<T> block_merge(Lse<T> a) {
  warp_merge(a);
  if constexpr (kThreads > 32) {
    constexpr int kWarps = kThreads / 32;
    __shared__ T sm_m[kWarps], sm_s[kWarps];
    __shared__ double sm_wx[kWarps], sm_w[kWarps];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) {
      sm_m[warp] = a.m;
      sm_s[warp] = a.s;
      sm_wx[warp] = a.wx;
      sm_w[warp] = a.w;
    }
    __syncthreads();
    if (warp == 0) {  // the warps' states, merged by warp 0 as the threads' were
      a = lane < kWarps ? Lse<T>{sm_m[lane], sm_s[lane], sm_wx[lane], sm_w[lane]} : Lse<T>{T(-1) / T(0), T(0), 0.0, 0.0};
      warp_merge(a);
    }
  }
  return a;
}

template <class T, int kThreads>
__global__ void __launch_bounds__(kThreads, 1)
    forward_kernel(T* __restrict__ loss, double* __restrict__ lse, const T* __restrict__ logits,
                   const int64_t* __restrict__ target, const T* __restrict__ weight, int64_t C,
                   int64_t ignore_index, double eps, double eps_over_c) {
  const int64_t row = blockIdx.x;
  const T* x = logits + row * C;
  const bool smoothing = eps != 0;
  Lse<T> a{T(-1) / T(0), T(0), 0.0, 0.0};
  for (int64_t c = threadIdx.x; c < C; c += kThreads) add(a, x[c], weight ? double(weight[c]) : 1.0, smoothing);
  a = block_merge<T, kThreads>(a);
  if (threadIdx.x != 0) return;
  const bool finite = d_isfinite(a.m);
  const double shift = finite ? double(a.m) : 0.0;
  const double log_s = finite ? log(double(a.s)) : double(a.m);
  lse[row] = shift + log_s;
  const int64_t t = target[row];
  if (t == ignore_index) {
    loss[row] = T(0);
    return;
  }
  if (t < 0 || t >= C) {
    loss[row] = T(0) / T(0);
    return;
  }
  const double wt = weight ? double(weight[t]) : 1.0;
  double value = (1 - eps) * wt * ((shift - double(x[t])) + log_s);
  if (smoothing) value += eps_over_c * (a.w * log_s + (a.w * shift - a.wx));
  loss[row] = static_cast<T>(value);
}

// W = sum of weights, in every thread (only reduced when label smoothing needs it).
template <int kThreads, class T>
__device__ __forceinline__ double block_weight_sum(const T* weight, int64_t C) {
  double w = 0;
  for (int64_t c = threadIdx.x; c < C; c += kThreads) w += double(weight[c]);
  w = warp_sum(w);
  if constexpr (kThreads > 32) {
    __shared__ double sm_w[kThreads / 32];
    if (threadIdx.x % 32 == 0) sm_w[threadIdx.x / 32] = w;
    __syncthreads();
    w = 0;
    for (int i = 0; i < kThreads / 32; ++i) w += sm_w[i];
  }
  return w;
}

template <class T, int kThreads>
__global__ void __launch_bounds__(kThreads, 1)
    backward_kernel(T* __restrict__ grad_logits, const T* __restrict__ grad_loss, const T* __restrict__ logits,
                    const double* __restrict__ lse, const int64_t* __restrict__ target, const T* __restrict__ weight,
                    int64_t C, int64_t ignore_index, double eps, double eps_over_c) {
  const int64_t row = blockIdx.x;
  T* gx = grad_logits + row * C;
  const int64_t t = target[row];
  if (t == ignore_index || t < 0 || t >= C) {  // uniform across the block
    const T fill = t == ignore_index ? T(0) : T(0) / T(0);
    for (int64_t c = threadIdx.x; c < C; c += kThreads) gx[c] = fill;
    return;
  }
  const double W = !weight ? double(C) : eps != 0 ? block_weight_sum<kThreads>(weight, C) : 0.0;
  const T* x = logits + row * C;
  const double g = grad_loss[row], row_lse = lse[row];
  const double wt = weight ? double(weight[t]) : 1.0;
  // d loss / d x_c = a p_c - b w_c, minus (1 - eps) w_t g at c = t.
  const T a = static_cast<T>(g * ((1 - eps) * wt + eps_over_c * W));
  const T b = static_cast<T>(g * eps_over_c);
  const T hi = static_cast<T>(row_lse), lo = static_cast<T>(row_lse - double(hi));
  for (int64_t c = threadIdx.x; c < C; c += kThreads) {
    if (c == t)
      gx[c] = static_cast<T>(double(a) * exp(double(x[c]) - row_lse) - double(b) * wt - g * (1 - eps) * wt);
    else
      gx[c] = a * d_exp((x[c] - hi) - lo) - b * (weight ? weight[c] : T(1));
  }
}

}  // namespace nerve::cuda::loss

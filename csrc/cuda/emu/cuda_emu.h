// CPU emulation of the CUDA execution model, so that the exact source of a
// nerve CUDA kernel also compiles with g++ and runs (and is tested, also under
// ThreadSanitizer and ASan) on a machine without a GPU.
//
// Use: kernels include "cuda/runtime.cuh", never this file or <cuda_runtime.h>
// directly; compiled with -DNERVE_CUDA_EMU=1 by g++ (-x c++), runtime.cuh
// includes this header, otherwise CUDA's runtime. Link csrc/cuda/emu/cuda_emu.cpp.
//
// How it works
// - A launch (NERVE_LAUNCH -> nerve::emu::launch) runs the blocks one after
//   another; each block's threads are blockDim real std::threads (created once
//   per launch and reused for its blocks), so a kernel's threads really run
//   concurrently. NERVE_LAUNCH_COOPERATIVE runs all blocks of the grid at once
//   (grid * block threads, at most 4096), for kernels that synchronise across
//   blocks with cooperative_groups::this_grid().sync(). Launches are
//   synchronous and serialised (one at a time in the process); streams are
//   accepted and ignored.
// - threadIdx/blockIdx/blockDim/gridDim are per-thread (thread_local) values.
// - __syncthreads() (and _count/_and/_or) is a barrier of the block's live
//   threads built on a mutex and condition variable, so ThreadSanitizer sees
//   it: two threads touching the same memory without a barrier between them
//   is a reported data race. A thread that returns leaves the barrier, as on
//   the hardware since Volta.
// - Warp intrinsics (__shfl*_sync, __ballot/__any/__all_sync, __syncwarp) go
//   through a per-warp exchange: lanes are linear thread ids mod 32; the lanes
//   named in the mask that have not exited meet, then each reads its result.
//   The source lane and range follow the PTX shfl pseudo-code (width
//   segments, out-of-range lanes get their own value); reading a lane that
//   is not taking part gives a poisoned value (all bits set: NaN, -1).
//   Fatal (message, abort), like a device-side trap: a mask without the
//   calling lane, lanes of one warp meeting in different intrinsics or with
//   different masks, a width that is not a power of two <= 32, and a deadlock
//   (every live thread of a block waiting in a barrier or warp intrinsic).
// - Static `__shared__` variables become function-local statics: one copy,
//   correct because blocks run one at a time. In a cooperative launch with
//   more than one block that would be shared between blocks, so there a
//   static `__shared__` declaration is fatal; such kernels use
//   NERVE_DYNAMIC_SHARED, which is per block in both modes. Dynamic shared
//   memory (NERVE_DYNAMIC_SHARED(T, name), `extern __shared__` on the GPU,
//   which no macro can emulate) is a per-block heap buffer of exactly the
//   launch's size, filled with 0xFF bytes at each block start (reads before
//   writes show up as NaN; ASan sees overruns).
// - Atomics are GCC __atomic builtins (seq_cst: stronger than CUDA's relaxed
//   atomics, so a missing __threadfence is not found). __ldg is a plain load;
//   fast-math intrinsics (__expf, ...) are the accurate libm functions.
// - Launch checks as CUDA: block dims (x, y <= 1024, z <= 64, product <= 1024),
//   grid dims, dynamic shared memory over 48 KB without
//   cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, n)
//   (n <= 227 KB, as on H100): the launch does not run and
//   cudaGetLastError() returns the error (per host thread, as CUDA).
//
// Not emulated: instruction timing, warp-synchronous execution without
// *_sync (a race here, as on Volta+), memory-model subtleties below seq_cst,
// static shared memory sizes (ptxas checks those), __noinline__ (a macro
// would break libstdc++'s __attribute__((__noinline__)); CUDA's own headers
// leave it to nvcc too), __CUDA_ARCH__ (not
// defined: kernels test `defined(NERVE_CUDA_EMU)`), textures, streams and
// events, dynamic parallelism, and (for now) tensor cores: the wrappers for
// mma.sync / ldmatrix / cp.async go in csrc/cuda/emu/tensor_core.h (issue 16),
// with CPU versions following the PTX fragment layouts and hardware rounding.
//
// With CUDA's headers on the include path, the vector types (dim3, float4,
// ...) and the error codes come from them (so cuda_fp16.h / cuda_bf16.h can
// be included beside this header); without them this header defines the
// subset it needs, with the same names and values.
#pragma once

#ifdef __CUDACC__
#error "cuda_emu.h is for host compilers; include cuda/runtime.cuh, which picks CUDA's runtime under nvcc"
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <math.h>
#include <tuple>
#include <type_traits>
#include <utility>

#if !defined(NERVE_CUDA_EMU_NO_CUDA_HEADERS) && __has_include(<cuda_runtime_api.h>)
#define NERVE_CUDA_EMU_CUDA_HEADERS 1
#include <vector_types.h>      // defines __host__/__device__/... empty for host compilers
#include <vector_functions.h>  // make_float4...; pulls cuda_runtime_api.h and driver_types.h
#else
#define NERVE_CUDA_EMU_CUDA_HEADERS 0
#define __host__
#define __device__
#define __global__
#define __constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __align__(n) __attribute__((aligned(n)))

struct uint3 { unsigned int x, y, z; };
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};
struct __align__(8) int2 { int x, y; };
struct __align__(16) int4 { int x, y, z, w; };
struct __align__(8) uint2 { unsigned int x, y; };
struct __align__(16) uint4 { unsigned int x, y, z, w; };
struct __align__(8) float2 { float x, y; };
struct __align__(16) float4 { float x, y, z, w; };
struct __align__(16) double2 { double x, y; };
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return {x, y, z}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline double2 make_double2(double x, double y) { return {x, y}; }

// The runtime subset, with CUDA's names and values (driver_types.h).
enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorNoDevice = 100,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorLaunchFailure = 719,
  cudaErrorCooperativeLaunchTooLarge = 720,
  cudaErrorUnknown = 999,
};
typedef enum cudaError cudaError_t;
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
typedef struct CUstream_st* cudaStream_t;
extern "C" {
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char* cudaGetErrorName(cudaError_t error);
const char* cudaGetErrorString(cudaError_t error);
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaFuncSetAttribute(const void* func, enum cudaFuncAttribute attr, int value);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind, cudaStream_t stream);
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaDeviceSynchronize(void);
}
#endif  // NERVE_CUDA_EMU_CUDA_HEADERS

#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif
#ifndef __grid_constant__
#define __grid_constant__
#endif

// As cuda_runtime.h: the attribute setter takes the kernel itself.
template <class T>
inline cudaError_t cudaFuncSetAttribute(T* kernel, enum cudaFuncAttribute attr, int value) {
  return ::cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), attr, value);
}

namespace nerve::emu {
namespace detail {

struct Block;   // cuda_emu.cpp
struct Launch;  // cuda_emu.cpp

struct ThreadCtx {
  uint3 thread_idx{0, 0, 0};
  uint3 block_idx{0, 0, 0};
  dim3 block_dim{1, 1, 1};
  dim3 grid_dim{1, 1, 1};
  Block* block = nullptr;    // null outside a kernel
  Launch* launch = nullptr;
  unsigned lane = 0, warp = 0;
};
inline thread_local ThreadCtx ctx;

enum class Op : int { shfl_idx, shfl_up, shfl_down, shfl_xor, ballot, any, all, syncwarp };

// Runtime entry points (cuda_emu.cpp).
int block_sync(int pred, unsigned* arrived);  // returns the number of true predicates
uint64_t warp_collective(Op op, unsigned mask, uint64_t value, int arg, int width);
unsigned active_mask();
unsigned char* dynamic_smem();
void grid_sync();
void check_static_shared();
[[noreturn]] void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void launch(const void* kernel, dim3 grid, dim3 block, size_t smem, bool cooperative, void (*body)(void*),
            void* arg);

template <class T>
inline T shfl(Op op, unsigned mask, T var, int arg, int width) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "shuffled values are at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &var, sizeof(T));
  bits = warp_collective(op, mask, bits, arg, width);
  std::memcpy(&var, &bits, sizeof(T));
  return var;
}

// One per static __shared__ declaration, constructed each time a thread passes it.
struct StaticShared {
  StaticShared() { check_static_shared(); }
};

template <class... P, class... A>
void launch_impl(bool cooperative, void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "wrong number of kernel arguments");
  // Converted once, like CUDA's parameter buffer; each thread calls the kernel
  // with its own by-value copies.
  std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
  auto body = [&] { std::apply(kernel, params); };
  launch(reinterpret_cast<const void*>(kernel), grid, block, smem, cooperative,
         [](void* b) { (*static_cast<decltype(body)*>(b))(); }, &body);
}

}  // namespace detail

// kernel<<<grid, block, smem, stream>>>(args...), emulated (synchronously).
template <class... P, class... A>
void launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t /*stream*/, A&&... args) {
  detail::launch_impl(false, kernel, grid, block, smem, std::forward<A>(args)...);
}

// cudaLaunchCooperativeKernel: all blocks run at once (grid.sync() works).
template <class... P, class... A>
void launch_cooperative(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t /*stream*/,
                        A&&... args) {
  detail::launch_impl(true, kernel, grid, block, smem, std::forward<A>(args)...);
}

}  // namespace nerve::emu

// ------------------------------------------------------------ built-in variables
#define threadIdx (static_cast<const uint3&>(::nerve::emu::detail::ctx.thread_idx))
#define blockIdx (static_cast<const uint3&>(::nerve::emu::detail::ctx.block_idx))
#define blockDim (static_cast<const dim3&>(::nerve::emu::detail::ctx.block_dim))
#define gridDim (static_cast<const dim3&>(::nerve::emu::detail::ctx.grid_dim))
constexpr int warpSize = 32;

// ----------------------------------------------------------------- shared memory
#undef __shared__
#define NERVE_EMU_CAT_(a, b) a##b
#define NERVE_EMU_CAT(a, b) NERVE_EMU_CAT_(a, b)
#define __shared__                                                                                      \
  [[maybe_unused]] const ::nerve::emu::detail::StaticShared NERVE_EMU_CAT(nerve_emu_shared_, __COUNTER__){}; \
  static
// T* name: this block's dynamic shared memory (the launch's smem bytes).
#define NERVE_DYNAMIC_SHARED(T, name) T* const name = reinterpret_cast<T*>(::nerve::emu::detail::dynamic_smem())

// ------------------------------------------------------------ synchronisation
inline void __syncthreads() { ::nerve::emu::detail::block_sync(0, nullptr); }
inline int __syncthreads_count(int pred) { return ::nerve::emu::detail::block_sync(pred, nullptr); }
inline int __syncthreads_and(int pred) {
  unsigned n = 0;
  return ::nerve::emu::detail::block_sync(pred, &n) == static_cast<int>(n);
}
inline int __syncthreads_or(int pred) { return ::nerve::emu::detail::block_sync(pred, nullptr) != 0; }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_system() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
[[noreturn]] inline void __trap() { ::nerve::emu::detail::fatal("__trap() in a kernel"); }

// -------------------------------------------------------------- warp intrinsics
template <class T>
inline T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize) {
  return ::nerve::emu::detail::shfl(::nerve::emu::detail::Op::shfl_idx, mask, var, srcLane, width);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned int delta, int width = warpSize) {
  return ::nerve::emu::detail::shfl(::nerve::emu::detail::Op::shfl_up, mask, var, static_cast<int>(delta), width);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned int delta, int width = warpSize) {
  return ::nerve::emu::detail::shfl(::nerve::emu::detail::Op::shfl_down, mask, var, static_cast<int>(delta), width);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize) {
  return ::nerve::emu::detail::shfl(::nerve::emu::detail::Op::shfl_xor, mask, var, laneMask, width);
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  return static_cast<unsigned>(
      ::nerve::emu::detail::warp_collective(::nerve::emu::detail::Op::ballot, mask, pred != 0, 0, warpSize));
}
inline int __any_sync(unsigned mask, int pred) {
  return static_cast<int>(
      ::nerve::emu::detail::warp_collective(::nerve::emu::detail::Op::any, mask, pred != 0, 0, warpSize));
}
inline int __all_sync(unsigned mask, int pred) {
  return static_cast<int>(
      ::nerve::emu::detail::warp_collective(::nerve::emu::detail::Op::all, mask, pred != 0, 0, warpSize));
}
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  ::nerve::emu::detail::warp_collective(::nerve::emu::detail::Op::syncwarp, mask, 0, 0, warpSize);
}
inline unsigned __activemask() { return ::nerve::emu::detail::active_mask(); }

// ----------------------------------------------------------------------- atomics
namespace nerve::emu::detail {
template <class T, class F>
inline T atomic_update(T* addr, F f) {  // CAS loop: *addr = f(*addr), returns the old value
  T old;
  __atomic_load(addr, &old, __ATOMIC_SEQ_CST);
  T desired = f(old);
  while (!__atomic_compare_exchange(addr, &old, &desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
    desired = f(old);
  return old;
}
}  // namespace nerve::emu::detail

#define NERVE_EMU_INT_ATOMICS(T)                                                                            \
  inline T atomicAdd(T* a, T v) { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); }                    \
  inline T atomicSub(T* a, T v) { return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST); }                    \
  inline T atomicAnd(T* a, T v) { return __atomic_fetch_and(a, v, __ATOMIC_SEQ_CST); }                    \
  inline T atomicOr(T* a, T v) { return __atomic_fetch_or(a, v, __ATOMIC_SEQ_CST); }                      \
  inline T atomicXor(T* a, T v) { return __atomic_fetch_xor(a, v, __ATOMIC_SEQ_CST); }                    \
  inline T atomicExch(T* a, T v) { return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST); }                  \
  inline T atomicMax(T* a, T v) {                                                                          \
    return ::nerve::emu::detail::atomic_update(a, [v](T o) { return o < v ? v : o; });                    \
  }                                                                                                        \
  inline T atomicMin(T* a, T v) {                                                                          \
    return ::nerve::emu::detail::atomic_update(a, [v](T o) { return v < o ? v : o; });                    \
  }                                                                                                        \
  inline T atomicCAS(T* a, T compare, T v) {                                                               \
    __atomic_compare_exchange_n(a, &compare, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);               \
    return compare;                                                                                        \
  }
NERVE_EMU_INT_ATOMICS(int)
NERVE_EMU_INT_ATOMICS(unsigned int)
NERVE_EMU_INT_ATOMICS(unsigned long long)
#undef NERVE_EMU_INT_ATOMICS
inline long long atomicMax(long long* a, long long v) {
  return ::nerve::emu::detail::atomic_update(a, [v](long long o) { return o < v ? v : o; });
}
inline long long atomicMin(long long* a, long long v) {
  return ::nerve::emu::detail::atomic_update(a, [v](long long o) { return v < o ? v : o; });
}
inline float atomicAdd(float* a, float v) {
  return ::nerve::emu::detail::atomic_update(a, [v](float o) { return o + v; });
}
inline double atomicAdd(double* a, double v) {
  return ::nerve::emu::detail::atomic_update(a, [v](double o) { return o + v; });
}
inline float atomicExch(float* a, float v) {
  float old;
  __atomic_exchange(a, &v, &old, __ATOMIC_SEQ_CST);
  return old;
}
inline unsigned atomicInc(unsigned* a, unsigned limit) {
  return ::nerve::emu::detail::atomic_update(a, [limit](unsigned o) { return o >= limit ? 0u : o + 1; });
}
inline unsigned atomicDec(unsigned* a, unsigned limit) {
  return ::nerve::emu::detail::atomic_update(a, [limit](unsigned o) { return o == 0 || o > limit ? limit : o - 1; });
}

// ------------------------------------------------------------ loads, math, bits
template <class T>
inline T __ldg(const T* p) { return *p; }
template <class T>
inline T __ldcg(const T* p) { return *p; }
template <class T>
inline T __ldcs(const T* p) { return *p; }
template <class T>
inline void __stcg(T* p, T v) { *p = v; }
template <class T>
inline void __stcs(T* p, T v) { *p = v; }

// CUDA's min/max for mixed integer and floating arguments (common type, as its overloads).
template <class A, class B, class = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
inline std::common_type_t<A, B> min(A a, B b) {
  using R = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<R>) return std::fmin(R(a), R(b));
  else return R(b) < R(a) ? R(b) : R(a);
}
template <class A, class B, class = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
inline std::common_type_t<A, B> max(A a, B b) {
  using R = std::common_type_t<A, B>;
  if constexpr (std::is_floating_point_v<R>) return std::fmax(R(a), R(b));
  else return R(a) < R(b) ? R(b) : R(a);
}

inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __log10f(float x) { return std::log10(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline void __sincosf(float x, float* s, float* c) { *s = std::sin(x); *c = std::cos(x); }
inline float __tanhf(float x) { return std::tanh(x); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __frsqrt_rn(float x) { return 1.0f / std::sqrt(x); }
inline float __fadd_rn(float x, float y) { return x + y; }
inline float __fsub_rn(float x, float y) { return x - y; }
inline float __fmul_rn(float x, float y) { return x * y; }
inline float __fdiv_rn(float x, float y) { return x / y; }
inline float __fmaf_rn(float x, float y, float z) { return std::fma(x, y, z); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : (x == x ? x : 0.0f)); }
inline int __float2int_rn(float x) { return static_cast<int>(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return static_cast<int>(x); }
inline int __float2int_rd(float x) { return static_cast<int>(std::floor(x)); }
inline int __float2int_ru(float x) { return static_cast<int>(std::ceil(x)); }
inline float __int2float_rn(int x) { return static_cast<float>(x); }
inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, 4); return i; }
inline unsigned __float_as_uint(float x) { unsigned i; std::memcpy(&i, &x, 4); return i; }
inline float __int_as_float(int i) { float x; std::memcpy(&x, &i, 4); return x; }
inline float __uint_as_float(unsigned i) { float x; std::memcpy(&x, &i, 4); return x; }
inline long long __double_as_longlong(double x) { long long i; std::memcpy(&i, &x, 8); return i; }
inline double __longlong_as_double(long long i) { double x; std::memcpy(&x, &i, 8); return x; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
  return __builtin_bswap32(x);
}
inline int __mulhi(int x, int y) { return static_cast<int>((static_cast<long long>(x) * y) >> 32); }
inline unsigned __umulhi(unsigned x, unsigned y) {
  return static_cast<unsigned>((static_cast<unsigned long long>(x) * y) >> 32);
}

// ------------------------------------------------------------ cooperative groups
namespace cooperative_groups {
struct thread_block {
  void sync() const { __syncthreads(); }
  unsigned thread_rank() const {
    return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  }
  unsigned size() const { return blockDim.x * blockDim.y * blockDim.z; }
  uint3 group_index() const { return blockIdx; }
  uint3 thread_index() const { return threadIdx; }
  dim3 group_dim() const { return blockDim; }
};
struct grid_group {
  void sync() const { ::nerve::emu::detail::grid_sync(); }
  unsigned long long size() const {
    return 1ull * gridDim.x * gridDim.y * gridDim.z * blockDim.x * blockDim.y * blockDim.z;
  }
  unsigned long long thread_rank() const {
    unsigned long long b = blockIdx.x + 1ull * gridDim.x * (blockIdx.y + 1ull * gridDim.y * blockIdx.z);
    return b * blockDim.x * blockDim.y * blockDim.z + thread_block{}.thread_rank();
  }
};
inline thread_block this_thread_block() { return {}; }
inline grid_group this_grid() { return {}; }
template <class G>
inline void sync(const G& g) { g.sync(); }
}  // namespace cooperative_groups

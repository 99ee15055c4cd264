// Tensor-core and async-copy instructions for nerve's CUDA kernels: under nvcc
// inline PTX (sm_80+); under the CPU emulation (NERVE_CUDA_EMU) the versions in
// cuda/emu/tensor_core.h, which follow the PTX ISA fragment layouts (listed
// there, with the source) and round like the hardware.
//
//   to_tf32(x)                      cvt.rna.tf32.f32 (nearest, ties away), a .b32
//   mma_m16n8k4_tf32(d, a[2], b[1], c)   mma.sync.aligned.m16n8k4.row.col.f32.tf32.tf32.f32
//   mma_m16n8k8_tf32(d, a[4], b[2], c)   mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
//   mma_m16n8k16_bf16(d, a[4], b[2], c)  mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
//       d, c: float[4]; a, b: uint32_t registers (tf32 bits, or two bf16, low half first)
//   ldmatrix<N, Trans>(r[N], row_addr)   ldmatrix.sync.aligned.m8n8.xN{.trans}.shared.b16
//   cp_async_ca<Bytes>(dst, src, src_bytes)  cp.async.ca.shared.global, Bytes 4/8/16
//   cp_async_cg16(dst, src, src_bytes)       cp.async.cg.shared.global, 16 bytes
//       copies src_bytes (0..Bytes) and zero-fills the rest; src is not read when 0.
//   cp_async_commit()                    cp.async.commit_group
//   cp_async_wait<N>()                   cp.async.wait_group N
//   cp_async_wait_all()                  cp.async.wait_all
// mma/ldmatrix are warp-collective: all 32 lanes, converged.
#pragma once

#include <cstdint>

#include "cuda/runtime.cuh"

#if defined(NERVE_CUDA_EMU) && NERVE_CUDA_EMU
#include "cuda/emu/tensor_core.h"
#endif

namespace nerve::cuda::tc {

#if defined(NERVE_CUDA_EMU) && NERVE_CUDA_EMU

inline uint32_t to_tf32(float x) { return emu::tc::to_tf32(x); }
inline void mma_m16n8k4_tf32(float (&d)[4], const uint32_t (&a)[2], const uint32_t (&b)[1], const float (&c)[4]) {
  emu::tc::mma_m16n8k4_tf32(d, a, b, c);
}
inline void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], const float (&c)[4]) {
  emu::tc::mma_m16n8k8_tf32(d, a, b, c);
}
inline void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], const float (&c)[4]) {
  emu::tc::mma_m16n8k16_bf16(d, a, b, c);
}
template <int N, bool Trans = false>
inline void ldmatrix(uint32_t (&r)[N], const void* row_addr) {
  emu::tc::ldmatrix<N, Trans>(r, row_addr);
}
template <int Bytes>
inline void cp_async_ca(void* dst, const void* src, int src_bytes = Bytes) {
  emu::tc::cp_async<Bytes, false>(dst, src, src_bytes);
}
inline void cp_async_cg16(void* dst, const void* src, int src_bytes = 16) {
  emu::tc::cp_async<16, true>(dst, src, src_bytes);
}
inline void cp_async_commit() { emu::tc::cp_async_commit(); }
template <int N>
inline void cp_async_wait() {
  emu::tc::cp_async_wait(N);
}
inline void cp_async_wait_all() { emu::tc::cp_async_wait_all(); }

#else  // nvcc

__device__ __forceinline__ uint32_t to_tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
}

__device__ __forceinline__ void mma_m16n8k4_tf32(float (&d)[4], const uint32_t (&a)[2], const uint32_t (&b)[1],
                                                 const float (&c)[4]) {
  asm volatile(
      "mma.sync.aligned.m16n8k4.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%7,%8,%9,%10};"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(b[0]), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}

__device__ __forceinline__ void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2],
                                                 const float (&c)[4]) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%11,%12,%13};"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
        "f"(c[3]));
}

__device__ __forceinline__ void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2],
                                                  const float (&c)[4]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%11,%12,%13};"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
        "f"(c[3]));
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

template <int N, bool Trans = false>
__device__ __forceinline__ void ldmatrix(uint32_t (&r)[N], const void* row_addr) {
  static_assert(N == 1 || N == 2 || N == 4, "ldmatrix loads 1, 2 or 4 matrices");
  const uint32_t s = smem_addr(row_addr);
  if constexpr (N == 1) {
    if constexpr (Trans)
      asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];" : "=r"(r[0]) : "r"(s));
    else
      asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];" : "=r"(r[0]) : "r"(s));
  } else if constexpr (N == 2) {
    if constexpr (Trans)
      asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];"
                   : "=r"(r[0]), "=r"(r[1])
                   : "r"(s));
    else
      asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];" : "=r"(r[0]), "=r"(r[1]) : "r"(s));
  } else {
    if constexpr (Trans)
      asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                   : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                   : "r"(s));
    else
      asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                   : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                   : "r"(s));
  }
}

template <int Bytes>
__device__ __forceinline__ void cp_async_ca(void* dst, const void* src, int src_bytes = Bytes) {
  static_assert(Bytes == 4 || Bytes == 8 || Bytes == 16, "cp.async copies 4, 8 or 16 bytes");
  asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;" ::"r"(smem_addr(dst)), "l"(src), "n"(Bytes),
               "r"(src_bytes)
               : "memory");
}

__device__ __forceinline__ void cp_async_cg16(void* dst, const void* src, int src_bytes = 16) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(smem_addr(dst)), "l"(src), "r"(src_bytes)
               : "memory");
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }

template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_all;" ::: "memory"); }

#endif

}  // namespace nerve::cuda::tc

// The one include for nerve's CUDA kernels and launchers, instead of
// <cuda_runtime.h>: under nvcc it is CUDA's runtime; compiled by a host
// compiler with NERVE_CUDA_EMU defined it is the CPU emulation
// (csrc/cuda/emu/cuda_emu.h), so the same source runs in CI without a GPU.
//
//   NERVE_LAUNCH(kernel, grid, block, smem_bytes, stream, args...);
//       kernel<<<grid, block, smem_bytes, stream>>>(args...); errors through
//       cudaGetLastError() as usual. `kernel` may be a template instance:
//       NERVE_LAUNCH(gemm<64, 4>, ...) is fine (the macro forwards __VA_ARGS__).
//   NERVE_LAUNCH_COOPERATIVE(kernel, grid, block, smem_bytes, stream, args...);
//       cudaLaunchCooperativeKernel: all blocks resident, grid.sync() allowed.
//   NERVE_DYNAMIC_SHARED(T, name);
//       T* const name = this block's dynamic shared memory
//       (extern __shared__, 16-byte aligned; every use aliases the same bytes).
//
// Kernels that must differ under the emulation test `defined(NERVE_CUDA_EMU)`;
// __CUDA_ARCH__ is not defined there.
#pragma once

#if defined(NERVE_CUDA_EMU) && NERVE_CUDA_EMU

#include "cuda/emu/cuda_emu.h"

#define NERVE_LAUNCH(...) ::nerve::emu::launch(__VA_ARGS__)
#define NERVE_LAUNCH_COOPERATIVE(...) ::nerve::emu::launch_cooperative(__VA_ARGS__)

#else  // CUDA

#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <tuple>
#include <utility>

namespace nerve::cuda_launch {

template <class... P, class... A>
inline void launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, A&&... args) {
  kernel<<<grid, block, smem, stream>>>(std::forward<A>(args)...);
}

template <class... P, class... A>
inline void launch_cooperative(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                               A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "wrong number of kernel arguments");
  std::tuple<P...> params(std::forward<A>(args)...);  // the kernel's own parameter types
  std::apply(
      [&](auto&... p) {
        void* argv[] = {static_cast<void*>(&p)..., nullptr};
        // The error, if any, is left for cudaGetLastError() as after <<<...>>>.
        (void)cudaLaunchCooperativeKernel(reinterpret_cast<const void*>(kernel), grid, block, argv, smem, stream);
      },
      params);
}

}  // namespace nerve::cuda_launch

#define NERVE_LAUNCH(...) ::nerve::cuda_launch::launch(__VA_ARGS__)
#define NERVE_LAUNCH_COOPERATIVE(...) ::nerve::cuda_launch::launch_cooperative(__VA_ARGS__)
#define NERVE_DYNAMIC_SHARED(T, name)                                 \
  extern __shared__ __align__(16) unsigned char nerve_dynamic_smem_[]; \
  T* const name = reinterpret_cast<T*>(nerve_dynamic_smem_)

#endif

// How host code names a CUDA stream without CUDA's headers: the bindings
// (bind/*_cuda.cpp) take CuPy's current stream as an integer
// (cupy.cuda.get_current_stream().ptr, 0 = the legacy default stream) and hand
// it to the launchers (cuda/<family>.cu), which cast it to cudaStream_t.
#pragma once
#include <cstdint>

namespace nerve::cuda {

using Stream = std::uintptr_t;

}  // namespace nerve::cuda

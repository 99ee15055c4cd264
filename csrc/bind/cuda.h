// What the CUDA bindings (bind/<family>_cuda.cpp, module_cuda.cpp) share. The
// same sources build two modules (CMakeLists.txt):
//   nerve._cuda      nvcc; arrays through __cuda_array_interface__ (CuPy),
//                    kernels launched on the stream the caller passes
//                    (backend/cuda.py: CuPy's current stream);
//   nerve._cuda_emu  g++ against the CUDA emulation (NERVE_CUDA_EMU); arrays
//                    through __array_interface__ (NumPy), launches run on
//                    CPU threads. Test-only.
// A binding: CudaArgs builds the checked Args (bind/array.h), the family's
// contract (contract/<family>.h) checks them exactly as the CPU binding does,
// then the launcher in cuda/<family>.h runs with the GIL released.
//
// Adding a CUDA family <f> (the kernels of nerve._C's <f>):
//  1. contract/<f>.h: move the problem struct, option structs, shape checks and
//     output-size formulas out of cpu/<f>.h and bind/<f>.cpp (both include it).
//  2. cuda/<f>.cuh: the kernels (include cuda/util.cuh; launch bounds; shared
//     memory static or NERVE_DYNAMIC_SHARED). cuda/<f>.h: the launchers' API in
//     plain C++ (device pointers, the contract's structs, cuda::Stream).
//     cuda/<f>.cu: the launchers (NERVE_LAUNCH, then check_launch(op)) and
//     their explicit instantiations.
//  3. bind/<f>_cuda.cpp: bind_<f>_cuda(m), the CPU binding's names and
//     arguments plus a trailing keyword stream_arg(); declare it below.
//  4. module_cuda.cpp: call bind_<f>_cuda(m) and delete <f>'s names from
//     not_yet_written(). CMakeLists.txt: add <f> to NERVE_CUDA_FAMILIES.
//  5. backend/cuda.py: replace the family's _not_yet(...) stubs with functions
//     of backend/cpu.py's signatures that allocate with xp and pass
//     stream=_stream().
//  6. tests/cuda_emu/test_<f>.py with the `gpu` fixture (against backend.cpu;
//     odd sizes, non-contiguous, zero-size), a budget line per kernel in
//     test_resource_usage.py, the family in tools/gpu_check.sh (FAMILIES,
//     SMALLEST) and in bench/bench_cuda.py.
#pragma once
#include <pybind11/pybind11.h>

#include <initializer_list>

#include "bind/array.h"
#include "cuda/stream.h"

namespace nerve::bind {
namespace py = pybind11;

#if defined(NERVE_CUDA_EMU) && NERVE_CUDA_EMU
inline constexpr const char* kArrayInterface = "__array_interface__";
#else
inline constexpr const char* kArrayInterface = "__cuda_array_interface__";
#endif

class CudaArgs : public InterfaceArgs {
 public:
  explicit CudaArgs(const char* op) : InterfaceArgs(op, kArrayInterface, Device::cuda) {}
};

// Every CUDA kernel binding ends with this keyword argument.
inline py::arg_v stream_arg() { return py::arg("stream") = cuda::Stream{0}; }

void bind_activation_cuda(py::module_& m);
void bind_loss_cuda(py::module_& m);
void bind_optim_cuda(py::module_& m);
void bind_gemm_cuda(py::module_& m);

// Defines each name (a kernel of nerve._C with no CUDA kernel yet) as a
// function that raises NotImplementedError naming the op and the device.
// Throws at import when a name is already bound, so the list stays honest.
void not_yet_written(py::module_& m, std::initializer_list<const char*> names);

}  // namespace nerve::bind

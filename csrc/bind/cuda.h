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

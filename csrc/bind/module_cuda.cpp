// nerve._cuda: the CUDA kernels. A kernel binding builds a View (common/view.h)
// from the array's __cuda_array_interface__ and runs the same Arg checks as
// the CPU bindings before it launches anything.
#include <pybind11/pybind11.h>

#include "cuda/device.cuh"

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "nerve CUDA kernels";
  m.def("device_count", &nerve::cuda::device_count, "Number of visible CUDA devices (0 when none or no driver).");
}

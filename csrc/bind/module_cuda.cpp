// nerve._cuda: the CUDA kernels. Arrays arrive as raw device pointers (CuPy's
// data.ptr) with their sizes; the Python backend checks shapes and dtypes.
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "cuda/elementwise.cuh"

namespace py = pybind11;

namespace {
void raise_if(const char* op, const char* err) {
  if (err) throw std::runtime_error(std::string(op) + ": CUDA error: " + err);
}
}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "nerve CUDA kernels";
  m.def("device_count", &nerve::cuda::device_count, "Number of visible CUDA devices (0 when none or no driver).");
  m.def(
      "axpy_forward",
      [](uintptr_t out, uintptr_t x, uintptr_t y, float alpha, int64_t n, uintptr_t stream) {
        if (n < 0) throw std::invalid_argument("axpy_forward: argument 'n' expected >= 0, got " + std::to_string(n));
        raise_if("axpy_forward", nerve::cuda::axpy_forward(reinterpret_cast<float*>(out),
                                                          reinterpret_cast<const float*>(x),
                                                          reinterpret_cast<const float*>(y), alpha, n, stream));
      },
      py::arg("out"), py::arg("x"), py::arg("y"), py::arg("alpha"), py::arg("n"), py::arg("stream") = 0,
      "out = alpha * x + y on float32 device pointers.");
}

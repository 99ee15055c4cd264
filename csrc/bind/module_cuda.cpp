// nerve._cuda (nvcc) and nerve._cuda_emu (g++ against the CUDA emulation): the
// CUDA kernels, with the same kernel names as nerve._C. NERVE_MODULE_NAME is
// set by CMakeLists.txt. Each family's bindings are in bind/<family>_cuda.cpp
// (see bind/cuda.h); a kernel of nerve._C not written for CUDA yet is listed
// in not_yet_written() below and raises NotImplementedError naming the op and
// the device. Adding a family: bind it here and delete its names from the list.
#include <pybind11/pybind11.h>

#include <string>

#include "bind/cuda.h"
#include "cuda/device.cuh"

#ifndef NERVE_MODULE_NAME
#error "NERVE_MODULE_NAME (_cuda or _cuda_emu) is set by CMakeLists.txt"
#endif

namespace nerve::bind {

void not_yet_written(py::module_& m, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (py::hasattr(m, name))
      throw std::logic_error(std::string("not_yet_written: '") + name + "' is bound already; delete it from the list");
    const std::string op = name;
    m.def(name, [op](const py::args&, const py::kwargs&) {
      PyErr_SetString(PyExc_NotImplementedError,
                      (op + ": not implemented on device 'cuda' yet (no CUDA kernel; run it on 'cpu')").c_str());
      throw py::error_already_set();
    }, ("No CUDA kernel yet: raises NotImplementedError (nerve._C." + op + " runs on the CPU).").c_str());
  }
}

}  // namespace nerve::bind

PYBIND11_MODULE(NERVE_MODULE_NAME, m) {
#if defined(NERVE_CUDA_EMU) && NERVE_CUDA_EMU
  m.doc() = "nerve CUDA kernels compiled against the CPU emulation of CUDA (test-only; NumPy arrays)";
  m.attr("emulated") = true;
#else
  m.doc() = "nerve CUDA kernels";
  m.attr("emulated") = false;
#endif
  m.def("device_count", &nerve::cuda::device_count, "Number of visible CUDA devices (0 when none or no driver).");
  nerve::bind::bind_activation_cuda(m);
  nerve::bind::bind_loss_cuda(m);
  nerve::bind::bind_optim_cuda(m);
  nerve::bind::bind_gemm_cuda(m);
  nerve::bind::not_yet_written(m, {
      "peak_gflops",                                                              // gemm (a CPU measure)
      "lstm_forward", "lstm_backward", "gru_forward", "gru_backward", "rnn_forward", "rnn_backward",  // rnn
      "conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight",        // conv
      "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
      "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward",              // pool
      "batch_norm_forward", "batch_norm_backward",                                // batch_norm
      "attention_forward", "attention_backward",                                  // attention
      "layer_norm_forward", "layer_norm_backward",                                // layer_norm
      "bf16_from_float32", "float32_from_bf16",                                   // convert
      "embedding_forward", "embedding_backward",                                  // embedding
  });
}

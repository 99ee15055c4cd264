// CUDA bindings for the activation family: the checks of contract/activation.h
// (as bind/activation.cpp), then the launchers of cuda/activation.h.
#include "cuda/activation.h"

#include <string>

#include "bind/cuda.h"
#include "contract/activation.h"

namespace nerve::bind {
namespace {

using O = const py::object&;

void gelu_forward(O out_, O x_, const std::string& approximate, cuda::Stream stream) {
  const CudaArgs args("gelu_forward");
  const GeluMode mode = gelu_mode(approximate, args.op());
  const Arg x = args.input(x_, "x"), out = args.output(out_, "out");
  check_elementwise(x, {&out}, {&out});
  by_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cuda::gelu_forward<T>(out.out<T>(), x.in<T>(), x.size(), mode, stream);
  });
}

void gelu_backward(O grad_x_, O grad_out_, O x_, const std::string& approximate, cuda::Stream stream) {
  const CudaArgs args("gelu_backward");
  const GeluMode mode = gelu_mode(approximate, args.op());
  const Arg x = args.input(x_, "x"), grad_out = args.input(grad_out_, "grad_out");
  const Arg grad_x = args.output(grad_x_, "grad_x");
  check_elementwise(x, {&grad_out, &grad_x}, {&grad_x});
  by_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cuda::gelu_backward<T>(grad_x.out<T>(), grad_out.in<T>(), x.in<T>(), x.size(), mode, stream);
  });
}

void sigmoid_forward(O out_, O x_, cuda::Stream stream) {
  const CudaArgs args("sigmoid_forward");
  const Arg x = args.input(x_, "x"), out = args.output(out_, "out");
  check_elementwise(x, {&out}, {&out});
  by_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cuda::sigmoid_forward<T>(out.out<T>(), x.in<T>(), x.size(), stream);
  });
}

}  // namespace

void bind_activation_cuda(py::module_& m) {
  m.def("gelu_forward", &gelu_forward, py::arg("out"), py::arg("x"), py::arg("approximate") = "none", py::kw_only(),
        stream_arg(), "out = gelu(x); approximate 'none' (erf) or 'tanh'.");
  m.def("gelu_backward", &gelu_backward, py::arg("grad_x"), py::arg("grad_out"), py::arg("x"),
        py::arg("approximate") = "none", py::kw_only(), stream_arg(), "grad_x = grad_out * gelu'(x).");
  m.def("sigmoid_forward", &sigmoid_forward, py::arg("out"), py::arg("x"), py::kw_only(), stream_arg(),
        "out = 1 / (1 + exp(-x)), overflow-free.");
}

}  // namespace nerve::bind

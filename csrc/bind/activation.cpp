// Bindings for the activation family: checks only, no math; the checks are
// the family's contract (contract/activation.h), shared with nerve._cuda.
#include "cpu/activation.h"

#include <string>

#include "contract/activation.h"
#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

// out = f(x) elementwise: kernel(out, x, n) on the typed pointers, the GIL released.
template <class Kernel>
void unary(const char* op, const py::object& out_, const py::object& x_, Kernel&& kernel) {
  const Args args(op);
  const Arg x = args.input(x_, "x"), out = args.output(out_, "out");
  check_elementwise(x, {&out}, {&out});
  by_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    kernel(out.out<T>(), x.in<T>(), x.size());
  });
}

void gelu_forward(const py::object& out, const py::object& x, const std::string& approximate) {
  const GeluMode mode = gelu_mode(approximate, "gelu_forward");
  unary("gelu_forward", out, x, [&](auto* o, const auto* px, int64_t n) { cpu::gelu_forward(o, px, n, mode); });
}

void gelu_backward(const py::object& grad_x_, const py::object& grad_out_, const py::object& x_,
                   const std::string& approximate) {
  const Args args("gelu_backward");
  const GeluMode mode = gelu_mode(approximate, args.op());
  const Arg x = args.input(x_, "x"), grad_out = args.input(grad_out_, "grad_out");
  const Arg grad_x = args.output(grad_x_, "grad_x");
  check_elementwise(x, {&grad_out, &grad_x}, {&grad_x});
  by_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::gelu_backward<T>(grad_x.out<T>(), grad_out.in<T>(), x.in<T>(), x.size(), mode);
  });
}

void sigmoid_forward(const py::object& out, const py::object& x) {
  unary("sigmoid_forward", out, x, [](auto* o, const auto* px, int64_t n) { cpu::sigmoid_forward(o, px, n); });
}

}  // namespace

void bind_activation(py::module_& m) {
  m.def("gelu_forward", &gelu_forward, py::arg("out"), py::arg("x"), py::arg("approximate") = "none",
        "out = gelu(x); approximate 'none' (erf) or 'tanh'.");
  m.def("gelu_backward", &gelu_backward, py::arg("grad_x"), py::arg("grad_out"), py::arg("x"),
        py::arg("approximate") = "none", "grad_x = grad_out * gelu'(x).");
  m.def("sigmoid_forward", &sigmoid_forward, py::arg("out"), py::arg("x"), "out = 1 / (1 + exp(-x)), overflow-free.");
}

}  // namespace nerve::bind

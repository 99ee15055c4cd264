// Bindings for the activation family: checks only, no math. Every array is
// C-contiguous with x's shape and dtype; outputs may be exactly an input
// (in place), since each element is read before it is written.
#include "cpu/activation.h"

#include <string>

#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

cpu::GeluMode gelu_mode(const std::string& approximate, const char* op) {
  if (approximate == "none") return cpu::GeluMode::exact;
  if (approximate == "tanh") return cpu::GeluMode::tanh;
  NERVE_CHECK(false, op, ": argument 'approximate' expected 'none' or 'tanh', got '", approximate, "'");
  return cpu::GeluMode::exact;
}

// x float32/float64; every other argument x's dtype and shape.
void check_elementwise(const Arg& x, std::initializer_list<const Arg*> others) {
  x.floating();
  for (const Arg* a : others) a->dtype(x.dtype()).same_shape(x);
}

// out = f(x) elementwise: kernel(out, x, n) on the typed pointers, the GIL released.
template <class Kernel>
void unary(const char* op, const py::object& out_, const py::object& x_, Kernel&& kernel) {
  const Args args(op);
  const Arg x = args.input(x_, "x"), out = args.output(out_, "out");
  check_elementwise(x, {&out});
  no_overlap(out, x, true);
  by_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    kernel(out.out<T>(), x.in<T>(), x.size());
  });
}

void gelu_forward(const py::object& out, const py::object& x, const std::string& approximate) {
  const cpu::GeluMode mode = gelu_mode(approximate, "gelu_forward");
  unary("gelu_forward", out, x, [&](auto* o, const auto* px, int64_t n) { cpu::gelu_forward(o, px, n, mode); });
}

void gelu_backward(const py::object& grad_x_, const py::object& grad_out_, const py::object& x_,
                   const std::string& approximate) {
  const Args args("gelu_backward");
  const cpu::GeluMode mode = gelu_mode(approximate, args.op());
  const Arg x = args.input(x_, "x"), grad_out = args.input(grad_out_, "grad_out");
  const Arg grad_x = args.output(grad_x_, "grad_x");
  check_elementwise(x, {&grad_out, &grad_x});
  no_overlap(grad_x, x, true);
  no_overlap(grad_x, grad_out, true);
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

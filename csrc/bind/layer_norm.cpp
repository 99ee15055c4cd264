// Bindings for the layer norm family: checks only, no math. Arrays are
// C-contiguous; x is (N, C), normalized over C; weight and bias are (C,) or None.
#include "cpu/layer_norm.h"

#include <cmath>

#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

void layer_norm_forward(const py::object& y_, const py::object& mean_, const py::object& rstd_, const py::object& x_,
                        const py::object& weight_, const py::object& bias_, double eps) {
  const Args args("layer_norm_forward");
  const Arg x = args.input(x_, "x");
  x.ndim(2).floating();
  NERVE_CHECK(std::isfinite(eps) && eps >= 0, args.op(), ": argument 'eps' expected a finite value >= 0, got ", eps);
  const int64_t N = x.dim(0), C = x.dim(1);
  const Arg y = args.output(y_, "y"), mean = args.output(mean_, "mean"), rstd = args.output(rstd_, "rstd");
  const Arg weight = args.optional_input(weight_, "weight"), bias = args.optional_input(bias_, "bias");
  y.dtype(x.dtype()).shape({{"N", N}, {"C", C}});
  for (const Arg* a : {&mean, &rstd}) a->dtype(x.dtype()).shape({{"N", N}});
  for (const Arg* a : {&weight, &bias}) a->dtype(x.dtype()).shape({{"C", C}});
  apart({&y, &mean, &rstd}, {&x, &weight, &bias});
  by_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::layer_norm_forward<T>(y.out<T>(), mean.out<T>(), rstd.out<T>(), x.in<T>(), weight.in<T>(), bias.in<T>(), N,
                               C, eps);
  });
}

void layer_norm_backward(const py::object& grad_x_, const py::object& grad_weight_, const py::object& grad_bias_,
                         const py::object& grad_y_, const py::object& x_, const py::object& mean_,
                         const py::object& rstd_, const py::object& weight_) {
  const Args args("layer_norm_backward");
  const Arg x = args.input(x_, "x");
  x.ndim(2).floating();
  const int64_t N = x.dim(0), C = x.dim(1);
  const Arg grad_y = args.input(grad_y_, "grad_y"), mean = args.input(mean_, "mean"), rstd = args.input(rstd_, "rstd");
  const Arg weight = args.optional_input(weight_, "weight");
  const Arg grad_x = args.optional_output(grad_x_, "grad_x"),
            grad_weight = args.optional_output(grad_weight_, "grad_weight"),
            grad_bias = args.optional_output(grad_bias_, "grad_bias");
  for (const Arg* a : {&grad_y, &grad_x}) a->dtype(x.dtype()).shape({{"N", N}, {"C", C}});
  for (const Arg* a : {&mean, &rstd}) a->dtype(x.dtype()).shape({{"N", N}});
  for (const Arg* a : {&weight, &grad_weight, &grad_bias}) a->dtype(x.dtype()).shape({{"C", C}});
  apart({&grad_x, &grad_weight, &grad_bias}, {&grad_y, &x, &mean, &rstd, &weight});
  by_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::layer_norm_backward<T>(grad_x.out<T>(), grad_weight.out<T>(), grad_bias.out<T>(), grad_y.in<T>(), x.in<T>(),
                                mean.in<T>(), rstd.in<T>(), weight.in<T>(), N, C);
  });
}

}  // namespace

void bind_layer_norm(py::module_& m) {
  m.def("layer_norm_forward", &layer_norm_forward, py::arg("y"), py::arg("mean"), py::arg("rstd"), py::arg("x"),
        py::arg("weight") = py::none(), py::arg("bias") = py::none(), py::arg("eps") = 1e-5,
        "Layer norm over the last dim of x (N, C): y = (x - mean) * rstd * weight + bias; writes mean, rstd (N,).");
  m.def("layer_norm_backward", &layer_norm_backward, py::arg("grad_x"), py::arg("grad_weight"), py::arg("grad_bias"),
        py::arg("grad_y"), py::arg("x"), py::arg("mean"), py::arg("rstd"), py::arg("weight") = py::none(),
        "Gradients of layer_norm_forward; any of grad_x, grad_weight, grad_bias may be None (not computed).");
}

}  // namespace nerve::bind

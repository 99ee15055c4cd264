// Bindings for the batch norm family: checks only, no math. x is (N, C, L)
// C-contiguous (the Python side reshapes (N, C), (N, C, L) and (N, C, H, W)
// to that); per-channel arrays are (C,). Optional arrays are None when absent.
#include "cpu/batch_norm.h"

#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

void batch_norm_forward(const py::object& out_, const py::object& save_mean_, const py::object& save_invstd_,
                        const py::object& x_, const py::object& weight_, const py::object& bias_,
                        const py::object& running_mean_, const py::object& running_var_, bool training,
                        double momentum, double eps) {
  const Args args("batch_norm_forward");
  const Arg x = args.input(x_, "x");
  x.floating().ndim(3);
  const int64_t N = x.dim(0), C = x.dim(1), L = x.dim(2);
  const Arg out = args.output(out_, "out"), save_mean = args.output(save_mean_, "save_mean"),
            save_invstd = args.output(save_invstd_, "save_invstd");
  const Arg weight = args.optional_input(weight_, "weight"), bias = args.optional_input(bias_, "bias");
  // Updated in place when training, read otherwise.
  const Arg running_mean = training ? args.optional_output(running_mean_, "running_mean")
                                    : args.optional_input(running_mean_, "running_mean");
  const Arg running_var = training ? args.optional_output(running_var_, "running_var")
                                   : args.optional_input(running_var_, "running_var");
  out.like(x).shape({{"N", N}, {"C", C}, {"L", L}});
  for (const Arg* a : {&save_mean, &save_invstd, &weight, &bias, &running_mean, &running_var})
    a->like(x).shape({{"C", C}});
  NERVE_CHECK(running_mean.present() == running_var.present(), args.op(),
              ": arguments 'running_mean' and 'running_var' must both be arrays or both be None");
  NERVE_CHECK(training || running_mean, args.op(),
              ": eval mode (training=False) needs 'running_mean' and 'running_var'");
  NERVE_CHECK(!training || N * L != 1, args.op(),
              ": expected more than 1 value per channel when training, got input shape ", x.shape_str());
  NERVE_CHECK(eps > 0, args.op(), ": argument 'eps' expected > 0, got ", eps);
  if (training) apart({&out, &save_mean, &save_invstd, &running_mean, &running_var}, {&x, &weight, &bias});
  else apart({&out, &save_mean, &save_invstd}, {&x, &weight, &bias, &running_mean, &running_var});
  by_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* rm = training ? running_mean.out<T>() : const_cast<T*>(running_mean.in<T>());  // read-only in eval
    T* rv = training ? running_var.out<T>() : const_cast<T*>(running_var.in<T>());
    py::gil_scoped_release nogil;
    cpu::batch_norm_forward<T>(N, C, L, out.out<T>(), save_mean.out<T>(), save_invstd.out<T>(), rm, rv, x.in<T>(),
                               weight.in<T>(), bias.in<T>(), training, momentum, eps);
  });
}

void batch_norm_backward(const py::object& grad_x_, const py::object& grad_weight_, const py::object& grad_bias_,
                         const py::object& grad_out_, const py::object& x_, const py::object& weight_,
                         const py::object& save_mean_, const py::object& save_invstd_, bool training) {
  const Args args("batch_norm_backward");
  const Arg x = args.input(x_, "x");
  x.floating().ndim(3);
  const int64_t N = x.dim(0), C = x.dim(1), L = x.dim(2);
  const Arg grad_out = args.input(grad_out_, "grad_out"), weight = args.optional_input(weight_, "weight"),
            save_mean = args.input(save_mean_, "save_mean"), save_invstd = args.input(save_invstd_, "save_invstd");
  const Arg grad_x = args.optional_output(grad_x_, "grad_x"),
            grad_weight = args.optional_output(grad_weight_, "grad_weight"),
            grad_bias = args.optional_output(grad_bias_, "grad_bias");
  for (const Arg* a : {&grad_out, &grad_x}) a->like(x).shape({{"N", N}, {"C", C}, {"L", L}});
  for (const Arg* a : {&save_mean, &save_invstd, &weight, &grad_weight, &grad_bias}) a->like(x).shape({{"C", C}});
  apart({&grad_x, &grad_weight, &grad_bias}, {&grad_out, &x, &weight, &save_mean, &save_invstd});
  by_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::batch_norm_backward<T>(N, C, L, grad_x.out<T>(), grad_weight.out<T>(), grad_bias.out<T>(), grad_out.in<T>(),
                                x.in<T>(), weight.in<T>(), save_mean.in<T>(), save_invstd.in<T>(), training);
  });
}

}  // namespace

void bind_batch_norm(py::module_& m) {
  m.def("batch_norm_forward", &batch_norm_forward, py::arg("out"), py::arg("save_mean"), py::arg("save_invstd"),
        py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("running_mean"), py::arg("running_var"),
        py::arg("training"), py::arg("momentum"), py::arg("eps"),
        "out (N, C, L) = batch_norm(x (N, C, L)); writes save_mean/save_invstd (C,) and, in training, updates "
        "running_mean/running_var in place.");
  m.def("batch_norm_backward", &batch_norm_backward, py::arg("grad_x"), py::arg("grad_weight"), py::arg("grad_bias"),
        py::arg("grad_out"), py::arg("x"), py::arg("weight"), py::arg("save_mean"), py::arg("save_invstd"),
        py::arg("training"), "grad_x (N, C, L), grad_weight, grad_bias (C,) (each may be None) of batch_norm.");
}

}  // namespace nerve::bind

// Bindings for the convolution family: checks only, no math. Arrays must be
// C-contiguous (the Python backend makes them so); sizes come from the arrays,
// options (stride, padding, dilation as (h, w) pairs, groups) from arguments.
#include "cpu/conv.h"

#include <pybind11/stl.h>

#include <array>

#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

using Pair = std::array<int64_t, 2>;

// Checks x (N, C, H, W) (the dtype source), the weight shape (K, C/groups, kh,
// kw) and the options; returns the full problem shape with the output size.
cpu::Conv2dShape conv_shape(const Arg& x, const Arg& w, Pair stride, Pair padding, Pair dilation, int64_t groups) {
  const char* op = x.op();
  x.floating().ndim(4);
  w.like(x).ndim(4);
  NERVE_CHECK(stride[0] >= 1 && stride[1] >= 1, op, ": argument 'stride' expected values >= 1, got (", stride[0], ", ",
              stride[1], ")");
  NERVE_CHECK(padding[0] >= 0 && padding[1] >= 0, op, ": argument 'padding' expected values >= 0, got (", padding[0],
              ", ", padding[1], ")");
  NERVE_CHECK(dilation[0] >= 1 && dilation[1] >= 1, op, ": argument 'dilation' expected values >= 1, got (",
              dilation[0], ", ", dilation[1], ")");
  NERVE_CHECK(groups >= 1, op, ": argument 'groups' expected >= 1, got ", groups);
  cpu::Conv2dShape s{};
  s.N = x.dim(0), s.C = x.dim(1), s.H = x.dim(2), s.W = x.dim(3);
  s.K = w.dim(0), s.kh = w.dim(2), s.kw = w.dim(3);
  s.sh = stride[0], s.sw = stride[1], s.ph = padding[0], s.pw = padding[1], s.dh = dilation[0], s.dw = dilation[1];
  s.groups = groups;
  if (s.C < 1 || s.C % groups != 0)
    x.fail("expected a channel count C >= 1 divisible by groups=", groups, ", got shape ", x.shape_str());
  if (s.K < 1 || s.K % groups != 0)
    w.fail("expected K >= 1 output channels divisible by groups=", groups, ", got shape ", w.shape_str());
  if (s.kh < 1 || s.kw < 1) w.fail("expected a kernel of at least 1x1, got shape ", w.shape_str());
  w.shape({{"K", s.K}, {"C/groups", s.C / groups}, {"kh", s.kh}, {"kw", s.kw}});
  s.OH = cpu::conv_out_size(s.H, s.kh, s.sh, s.ph, s.dh);
  s.OW = cpu::conv_out_size(s.W, s.kw, s.sw, s.pw, s.dw);
  NERVE_CHECK(s.OH >= 1 && s.OW >= 1, op, ": input of size (", s.H, ", ", s.W, ") with padding (", s.ph, ", ", s.pw,
              ") is smaller than the dilated kernel (", s.dh * (s.kh - 1) + 1, ", ", s.dw * (s.kw - 1) + 1, ")");
  return s;
}

// The (N, K, OH, OW) output or its gradient.
void check_out_shape(const Arg& a, const Arg& x, const cpu::Conv2dShape& s) {
  a.like(x).shape({{"N", s.N}, {"K", s.K}, {"OH", s.OH}, {"OW", s.OW}});
}

void conv2d_forward(const py::object& out_, const py::object& x_, const py::object& weight_, const py::object& bias_,
                    Pair stride, Pair padding, Pair dilation, int64_t groups) {
  const Args args("conv2d_forward");
  const Arg x = args.input(x_, "x"), weight = args.input(weight_, "weight"), bias = args.optional_input(bias_, "bias");
  const Arg out = args.output(out_, "out");
  const cpu::Conv2dShape s = conv_shape(x, weight, stride, padding, dilation, groups);
  check_out_shape(out, x, s);
  bias.like(x).shape({{"K", s.K}});
  apart({&out}, {&x, &weight, &bias});
  by_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::conv2d_forward<T>(s, out.out<T>(), x.in<T>(), weight.in<T>(), bias.in<T>());
  });
}

void conv2d_backward_input(const py::object& grad_x_, const py::object& grad_out_, const py::object& weight_,
                           Pair stride, Pair padding, Pair dilation, int64_t groups) {
  const Args args("conv2d_backward_input");
  const Arg grad_out = args.input(grad_out_, "grad_out"), weight = args.input(weight_, "weight");
  const Arg grad_x = args.output(grad_x_, "grad_x");
  const cpu::Conv2dShape s = conv_shape(grad_x, weight, stride, padding, dilation, groups);
  check_out_shape(grad_out, grad_x, s);
  apart({&grad_x}, {&grad_out, &weight});
  by_float(grad_x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::conv2d_backward_input<T>(s, grad_x.out<T>(), grad_out.in<T>(), weight.in<T>());
  });
}

void conv2d_backward_weight(const py::object& grad_weight_, const py::object& grad_bias_, const py::object& x_,
                            const py::object& grad_out_, Pair stride, Pair padding, Pair dilation, int64_t groups) {
  const Args args("conv2d_backward_weight");
  const Arg x = args.input(x_, "x"), grad_out = args.input(grad_out_, "grad_out");
  const Arg grad_weight = args.output(grad_weight_, "grad_weight");
  const Arg grad_bias = args.optional_output(grad_bias_, "grad_bias");
  const cpu::Conv2dShape s = conv_shape(x, grad_weight, stride, padding, dilation, groups);
  check_out_shape(grad_out, x, s);
  grad_bias.like(x).shape({{"K", s.K}});
  apart({&grad_weight, &grad_bias}, {&x, &grad_out});
  by_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::conv2d_backward_weight<T>(s, grad_weight.out<T>(), grad_bias.out<T>(), x.in<T>(), grad_out.in<T>());
  });
}

}  // namespace

void bind_conv(py::module_& m) {
  m.def("conv2d_forward", &conv2d_forward, py::arg("out"), py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        "out (N, K, OH, OW) = conv2d(x (N, C, H, W), weight (K, C/groups, kh, kw)) + bias (K,) or None.");
  m.def("conv2d_backward_input", &conv2d_backward_input, py::arg("grad_x"), py::arg("grad_out"), py::arg("weight"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        "grad_x (N, C, H, W) = gradient of conv2d w.r.t. its input x, from grad_out (N, K, OH, OW).");
  m.def("conv2d_backward_weight", &conv2d_backward_weight, py::arg("grad_weight"), py::arg("grad_bias"), py::arg("x"),
        py::arg("grad_out"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        "grad_weight (K, C/groups, kh, kw) and grad_bias (K,) or None = gradients of conv2d.");
}

}  // namespace nerve::bind

// Bindings for the pooling family: checks only, no math. Arrays must be
// C-contiguous; kernel_size, stride, padding and dilation are (h, w) pairs.
#include "cpu/pool.h"

#include <pybind11/stl.h>

#include <array>

#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

using Pair = std::array<int64_t, 2>;

// x (N, C, H, W) with the output (or its gradient) `y` of the given size: the
// pool's full shape, window fields left for the caller.
cpu::Pool2dShape planes(const Arg& x, const Arg& y, int64_t OH, int64_t OW) {
  cpu::Pool2dShape s{};
  s.N = x.dim(0), s.C = x.dim(1), s.H = x.dim(2), s.W = x.dim(3), s.OH = OH, s.OW = OW;
  y.like(x).shape({{"N", s.N}, {"C", s.C}, {"OH", OH}, {"OW", OW}});
  return s;
}

// Checks the window options and x (N, C, H, W), the dtype source, and the
// output (or its gradient) y; returns the shape with the output size.
cpu::Pool2dShape window_shape(const Arg& x, const Arg& y, Pair kernel, Pair stride, Pair padding, Pair dilation,
                              bool ceil_mode) {
  const char* op = x.op();
  x.floating().ndim(4);
  NERVE_CHECK(kernel[0] >= 1 && kernel[1] >= 1, op, ": argument 'kernel_size' expected values >= 1, got (", kernel[0],
              ", ", kernel[1], ")");
  NERVE_CHECK(stride[0] >= 1 && stride[1] >= 1, op, ": argument 'stride' expected values >= 1, got (", stride[0], ", ",
              stride[1], ")");
  NERVE_CHECK(dilation[0] >= 1 && dilation[1] >= 1, op, ": argument 'dilation' expected values >= 1, got (",
              dilation[0], ", ", dilation[1], ")");
  NERVE_CHECK(padding[0] >= 0 && padding[1] >= 0 && padding[0] <= kernel[0] / 2 && padding[1] <= kernel[1] / 2, op,
              ": argument 'padding' expected values in [0, kernel_size / 2], got (", padding[0], ", ", padding[1],
              ") for kernel_size (", kernel[0], ", ", kernel[1], ")");
  const int64_t H = x.dim(2), W = x.dim(3);
  const int64_t OH = cpu::pool_out_size(H, kernel[0], stride[0], padding[0], dilation[0], ceil_mode);
  const int64_t OW = cpu::pool_out_size(W, kernel[1], stride[1], padding[1], dilation[1], ceil_mode);
  NERVE_CHECK(OH >= 1 && OW >= 1, op, ": input of size (", H, ", ", W, ") with padding (", padding[0], ", ",
              padding[1], ") is smaller than the window (", dilation[0] * (kernel[0] - 1) + 1, ", ",
              dilation[1] * (kernel[1] - 1) + 1, ")");
  cpu::Pool2dShape s = planes(x, y, OH, OW);
  s.kh = kernel[0], s.kw = kernel[1], s.sh = stride[0], s.sw = stride[1];
  s.ph = padding[0], s.pw = padding[1], s.dh = dilation[0], s.dw = dilation[1];
  return s;
}

// Input (N, C, H, W) and output (N, C, OH, OW) of an adaptive pool (or of
// max_pool2d_backward, where the output size comes from the arrays too).
cpu::Pool2dShape given_shape(const Arg& x, const Arg& y, bool adaptive) {
  x.floating().ndim(4);
  y.like(x).ndim(4);
  const cpu::Pool2dShape s = planes(x, y, y.dim(2), y.dim(3));
  if (adaptive && (s.OH < 1 || s.OW < 1)) y.fail("expected an output size >= 1, got shape ", y.shape_str());
  if (adaptive && (s.H < 1 || s.W < 1)) x.fail("expected non-empty H and W, got shape ", x.shape_str());
  return s;
}

void check_divisor(const char* op, int64_t divisor_override) {
  NERVE_CHECK(divisor_override >= 0, op, ": argument 'divisor_override' expected > 0 (or 0 for none), got ",
              divisor_override);
}

void max_pool2d_forward(const py::object& out_, const py::object& indices_, const py::object& x_, Pair kernel,
                        Pair stride, Pair padding, Pair dilation, bool ceil_mode) {
  const Args args("max_pool2d_forward");
  const Arg x = args.input(x_, "x"), out = args.output(out_, "out"), indices = args.output(indices_, "indices");
  const cpu::Pool2dShape s = window_shape(x, out, kernel, stride, padding, dilation, ceil_mode);
  indices.dtype(dtype_of<int64_t>()).shape({{"N", s.N}, {"C", s.C}, {"OH", s.OH}, {"OW", s.OW}});
  apart({&out, &indices}, {&x});
  by_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::max_pool2d_forward<T>(s, out.out<T>(), indices.out<int64_t>(), x.in<T>());
  });
}

void max_pool2d_backward(const py::object& grad_x_, const py::object& grad_out_, const py::object& indices_) {
  const Args args("max_pool2d_backward");
  const Arg grad_out = args.input(grad_out_, "grad_out"), indices = args.input(indices_, "indices");
  const Arg grad_x = args.output(grad_x_, "grad_x");
  const cpu::Pool2dShape s = given_shape(grad_x, grad_out, false);
  indices.dtype(dtype_of<int64_t>()).shape({{"N", s.N}, {"C", s.C}, {"OH", s.OH}, {"OW", s.OW}});
  apart({&grad_x}, {&grad_out, &indices});
  const int64_t HW = s.H * s.W;
  const int64_t bad = first_outside(indices.in<int64_t>(), indices.size(), 0, HW);
  if (bad >= 0)
    indices.fail("expected values in [0, H*W=", HW, "), got ", indices.in<int64_t>()[bad], " at flat position ", bad);
  by_float(grad_x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::max_pool2d_backward<T>(s, grad_x.out<T>(), grad_out.in<T>(), indices.in<int64_t>());
  });
}

void avg_pool2d_forward(const py::object& out_, const py::object& x_, Pair kernel, Pair stride, Pair padding,
                        bool ceil_mode, bool count_include_pad, int64_t divisor_override) {
  const Args args("avg_pool2d_forward");
  const Arg x = args.input(x_, "x"), out = args.output(out_, "out");
  check_divisor(args.op(), divisor_override);
  const cpu::Pool2dShape s = window_shape(x, out, kernel, stride, padding, {1, 1}, ceil_mode);
  apart({&out}, {&x});
  by_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::avg_pool2d_forward<T>(s, out.out<T>(), x.in<T>(), count_include_pad, divisor_override);
  });
}

void avg_pool2d_backward(const py::object& grad_x_, const py::object& grad_out_, Pair kernel, Pair stride,
                         Pair padding, bool ceil_mode, bool count_include_pad, int64_t divisor_override) {
  const Args args("avg_pool2d_backward");
  const Arg grad_out = args.input(grad_out_, "grad_out"), grad_x = args.output(grad_x_, "grad_x");
  check_divisor(args.op(), divisor_override);
  const cpu::Pool2dShape s = window_shape(grad_x, grad_out, kernel, stride, padding, {1, 1}, ceil_mode);
  apart({&grad_x}, {&grad_out});
  by_float(grad_x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::avg_pool2d_backward<T>(s, grad_x.out<T>(), grad_out.in<T>(), count_include_pad, divisor_override);
  });
}

void adaptive_avg_pool2d_forward(const py::object& out_, const py::object& x_) {
  const Args args("adaptive_avg_pool2d_forward");
  const Arg x = args.input(x_, "x"), out = args.output(out_, "out");
  const cpu::Pool2dShape s = given_shape(x, out, true);
  apart({&out}, {&x});
  by_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::adaptive_avg_pool2d_forward<T>(s, out.out<T>(), x.in<T>());
  });
}

void adaptive_avg_pool2d_backward(const py::object& grad_x_, const py::object& grad_out_) {
  const Args args("adaptive_avg_pool2d_backward");
  const Arg grad_out = args.input(grad_out_, "grad_out"), grad_x = args.output(grad_x_, "grad_x");
  const cpu::Pool2dShape s = given_shape(grad_x, grad_out, true);
  apart({&grad_x}, {&grad_out});
  by_float(grad_x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::adaptive_avg_pool2d_backward<T>(s, grad_x.out<T>(), grad_out.in<T>());
  });
}

}  // namespace

void bind_pool(py::module_& m) {
  m.def("max_pool2d_forward", &max_pool2d_forward, py::arg("out"), py::arg("indices"), py::arg("x"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("ceil_mode"),
        "out, indices (int64, flat in each HxW plane) (N, C, OH, OW) = max_pool2d(x (N, C, H, W)).");
  m.def("max_pool2d_backward", &max_pool2d_backward, py::arg("grad_x"), py::arg("grad_out"), py::arg("indices"),
        "grad_x (N, C, H, W) = scatter-add of grad_out through indices.");
  m.def("avg_pool2d_forward", &avg_pool2d_forward, py::arg("out"), py::arg("x"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"), py::arg("count_include_pad"),
        py::arg("divisor_override"), "out (N, C, OH, OW) = avg_pool2d(x); divisor_override 0 means none.");
  m.def("avg_pool2d_backward", &avg_pool2d_backward, py::arg("grad_x"), py::arg("grad_out"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"), py::arg("count_include_pad"),
        py::arg("divisor_override"), "grad_x (N, C, H, W) of avg_pool2d.");
  m.def("adaptive_avg_pool2d_forward", &adaptive_avg_pool2d_forward, py::arg("out"), py::arg("x"),
        "out (N, C, OH, OW) = adaptive_avg_pool2d(x (N, C, H, W)); the output size is out's shape.");
  m.def("adaptive_avg_pool2d_backward", &adaptive_avg_pool2d_backward, py::arg("grad_x"), py::arg("grad_out"),
        "grad_x (N, C, H, W) of adaptive_avg_pool2d.");
}

}  // namespace nerve::bind

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

void check_float(const char* op, const char* arg, const py::array& a, const py::array* like = nullptr,
                 const char* like_arg = nullptr) {
  if (like) {
    NERVE_CHECK(a.dtype().is(like->dtype()), op, ": argument '", arg, "' expected dtype ", dtype_str(*like), " (like '",
                like_arg, "'), got ", dtype_str(a));
  } else {
    NERVE_CHECK(is_dtype<float>(a) || is_dtype<double>(a), op, ": argument '", arg,
                "' expected dtype float32 or float64, got ", dtype_str(a));
  }
  check_contiguous(a, op, arg);
}

// Checks the window options and the input (N, C, H, W); returns the shape with the output size.
cpu::Pool2dShape window_shape(const char* op, const char* x_arg, const py::array& x, Pair kernel, Pair stride,
                              Pair padding, Pair dilation, bool ceil_mode) {
  check_ndim(x, op, x_arg, 4);
  NERVE_CHECK(kernel[0] >= 1 && kernel[1] >= 1, op, ": argument 'kernel_size' expected values >= 1, got (", kernel[0],
              ", ", kernel[1], ")");
  NERVE_CHECK(stride[0] >= 1 && stride[1] >= 1, op, ": argument 'stride' expected values >= 1, got (", stride[0], ", ",
              stride[1], ")");
  NERVE_CHECK(dilation[0] >= 1 && dilation[1] >= 1, op, ": argument 'dilation' expected values >= 1, got (",
              dilation[0], ", ", dilation[1], ")");
  NERVE_CHECK(padding[0] >= 0 && padding[1] >= 0 && padding[0] <= kernel[0] / 2 && padding[1] <= kernel[1] / 2, op,
              ": argument 'padding' expected values in [0, kernel_size / 2], got (", padding[0], ", ", padding[1],
              ") for kernel_size (", kernel[0], ", ", kernel[1], ")");
  cpu::Pool2dShape s{};
  s.N = x.shape(0), s.C = x.shape(1), s.H = x.shape(2), s.W = x.shape(3);
  s.kh = kernel[0], s.kw = kernel[1], s.sh = stride[0], s.sw = stride[1];
  s.ph = padding[0], s.pw = padding[1], s.dh = dilation[0], s.dw = dilation[1];
  s.OH = cpu::pool_out_size(s.H, s.kh, s.sh, s.ph, s.dh, ceil_mode);
  s.OW = cpu::pool_out_size(s.W, s.kw, s.sw, s.pw, s.dw, ceil_mode);
  NERVE_CHECK(s.OH >= 1 && s.OW >= 1, op, ": input of size (", s.H, ", ", s.W, ") with padding (", s.ph, ", ", s.pw,
              ") is smaller than the window (", s.dh * (s.kh - 1) + 1, ", ", s.dw * (s.kw - 1) + 1, ")");
  return s;
}

template <class T>
T* ptr(py::array& a, const char* op, const char* arg, bool out = false) {
  return data_as<T>(a, op, arg, out);
}

void max_pool2d_forward(py::array out, py::array indices, py::array x, Pair kernel, Pair stride, Pair padding,
                        Pair dilation, bool ceil_mode) {
  const char* op = "max_pool2d_forward";
  check_float(op, "x", x);
  check_float(op, "out", out, &x, "x");
  const cpu::Pool2dShape s = window_shape(op, "x", x, kernel, stride, padding, dilation, ceil_mode);
  check_shape(out, op, "out", {s.N, s.C, s.OH, s.OW}, {"N", "C", "OH", "OW"});
  check_shape(indices, op, "indices", {s.N, s.C, s.OH, s.OW}, {"N", "C", "OH", "OW"});
  check_contiguous(indices, op, "indices");
  int64_t* pi = data_as<int64_t>(indices, op, "indices", true);
  check_disjoint(out, x, op, "out", "x");
  check_disjoint(indices, x, op, "indices", "x");
  check_disjoint(indices, out, op, "indices", "out");
  if (is_dtype<float>(x)) {
    float *py_ = ptr<float>(out, op, "out", true), *px = ptr<float>(x, op, "x");
    py::gil_scoped_release nogil;
    cpu::max_pool2d_forward<float>(s, py_, pi, px);
  } else {
    double *py_ = ptr<double>(out, op, "out", true), *px = ptr<double>(x, op, "x");
    py::gil_scoped_release nogil;
    cpu::max_pool2d_forward<double>(s, py_, pi, px);
  }
}

void max_pool2d_backward(py::array grad_input, py::array grad_output, py::array indices) {
  const char* op = "max_pool2d_backward";
  check_float(op, "grad_output", grad_output);
  check_float(op, "grad_input", grad_input, &grad_output, "grad_output");
  check_ndim(grad_input, op, "grad_input", 4);
  check_ndim(grad_output, op, "grad_output", 4);
  cpu::Pool2dShape s{};
  s.N = grad_input.shape(0), s.C = grad_input.shape(1), s.H = grad_input.shape(2), s.W = grad_input.shape(3);
  s.OH = grad_output.shape(2), s.OW = grad_output.shape(3);
  check_shape(grad_output, op, "grad_output", {s.N, s.C, s.OH, s.OW}, {"N", "C", "OH", "OW"});
  check_shape(indices, op, "indices", {s.N, s.C, s.OH, s.OW}, {"N", "C", "OH", "OW"});
  check_contiguous(indices, op, "indices");
  const int64_t* pi = data_as<int64_t>(indices, op, "indices");
  check_disjoint(grad_input, grad_output, op, "grad_input", "grad_output");
  check_disjoint(grad_input, indices, op, "grad_input", "indices");
  const int64_t HW = s.H * s.W, total = s.N * s.C * s.OH * s.OW;
  for (int64_t i = 0; i < total; ++i)
    NERVE_CHECK(pi[i] >= 0 && pi[i] < HW, op, ": argument 'indices' expected values in [0, H*W=", HW, "), got ",
                pi[i], " at flat position ", i);
  if (is_dtype<float>(grad_output)) {
    float *pdx = ptr<float>(grad_input, op, "grad_input", true), *pdy = ptr<float>(grad_output, op, "grad_output");
    py::gil_scoped_release nogil;
    cpu::max_pool2d_backward<float>(s, pdx, pdy, pi);
  } else {
    double *pdx = ptr<double>(grad_input, op, "grad_input", true), *pdy = ptr<double>(grad_output, op, "grad_output");
    py::gil_scoped_release nogil;
    cpu::max_pool2d_backward<double>(s, pdx, pdy, pi);
  }
}

void check_divisor(const char* op, int64_t divisor_override) {
  NERVE_CHECK(divisor_override >= 0, op, ": argument 'divisor_override' expected > 0 (or 0 for none), got ",
              divisor_override);
}

void avg_pool2d_forward(py::array out, py::array x, Pair kernel, Pair stride, Pair padding, bool ceil_mode,
                        bool count_include_pad, int64_t divisor_override) {
  const char* op = "avg_pool2d_forward";
  check_float(op, "x", x);
  check_float(op, "out", out, &x, "x");
  check_divisor(op, divisor_override);
  const cpu::Pool2dShape s = window_shape(op, "x", x, kernel, stride, padding, {1, 1}, ceil_mode);
  check_shape(out, op, "out", {s.N, s.C, s.OH, s.OW}, {"N", "C", "OH", "OW"});
  check_disjoint(out, x, op, "out", "x");
  if (is_dtype<float>(x)) {
    float *py_ = ptr<float>(out, op, "out", true), *px = ptr<float>(x, op, "x");
    py::gil_scoped_release nogil;
    cpu::avg_pool2d_forward<float>(s, py_, px, count_include_pad, divisor_override);
  } else {
    double *py_ = ptr<double>(out, op, "out", true), *px = ptr<double>(x, op, "x");
    py::gil_scoped_release nogil;
    cpu::avg_pool2d_forward<double>(s, py_, px, count_include_pad, divisor_override);
  }
}

void avg_pool2d_backward(py::array grad_input, py::array grad_output, Pair kernel, Pair stride, Pair padding,
                         bool ceil_mode, bool count_include_pad, int64_t divisor_override) {
  const char* op = "avg_pool2d_backward";
  check_float(op, "grad_output", grad_output);
  check_float(op, "grad_input", grad_input, &grad_output, "grad_output");
  check_divisor(op, divisor_override);
  const cpu::Pool2dShape s = window_shape(op, "grad_input", grad_input, kernel, stride, padding, {1, 1}, ceil_mode);
  check_shape(grad_output, op, "grad_output", {s.N, s.C, s.OH, s.OW}, {"N", "C", "OH", "OW"});
  check_disjoint(grad_input, grad_output, op, "grad_input", "grad_output");
  if (is_dtype<float>(grad_output)) {
    float *pdx = ptr<float>(grad_input, op, "grad_input", true), *pdy = ptr<float>(grad_output, op, "grad_output");
    py::gil_scoped_release nogil;
    cpu::avg_pool2d_backward<float>(s, pdx, pdy, count_include_pad, divisor_override);
  } else {
    double *pdx = ptr<double>(grad_input, op, "grad_input", true), *pdy = ptr<double>(grad_output, op, "grad_output");
    py::gil_scoped_release nogil;
    cpu::avg_pool2d_backward<double>(s, pdx, pdy, count_include_pad, divisor_override);
  }
}

// Input (N, C, H, W) and output (N, C, OH, OW) of an adaptive pool; OH, OW >= 1.
cpu::Pool2dShape adaptive_shape(const char* op, const char* in_arg, const py::array& in, const char* out_arg,
                                const py::array& out) {
  check_ndim(in, op, in_arg, 4);
  check_ndim(out, op, out_arg, 4);
  cpu::Pool2dShape s{};
  s.N = in.shape(0), s.C = in.shape(1), s.H = in.shape(2), s.W = in.shape(3);
  s.OH = out.shape(2), s.OW = out.shape(3);
  check_shape(out, op, out_arg, {s.N, s.C, s.OH, s.OW}, {"N", "C", "OH", "OW"});
  NERVE_CHECK(s.OH >= 1 && s.OW >= 1, op, ": argument '", out_arg, "' expected an output size >= 1, got shape ",
              shape_str(out));
  NERVE_CHECK(s.H >= 1 && s.W >= 1, op, ": argument '", in_arg, "' expected non-empty H and W, got shape ",
              shape_str(in));
  return s;
}

void adaptive_avg_pool2d_forward(py::array out, py::array x) {
  const char* op = "adaptive_avg_pool2d_forward";
  check_float(op, "x", x);
  check_float(op, "out", out, &x, "x");
  const cpu::Pool2dShape s = adaptive_shape(op, "x", x, "out", out);
  check_disjoint(out, x, op, "out", "x");
  if (is_dtype<float>(x)) {
    float *py_ = ptr<float>(out, op, "out", true), *px = ptr<float>(x, op, "x");
    py::gil_scoped_release nogil;
    cpu::adaptive_avg_pool2d_forward<float>(s, py_, px);
  } else {
    double *py_ = ptr<double>(out, op, "out", true), *px = ptr<double>(x, op, "x");
    py::gil_scoped_release nogil;
    cpu::adaptive_avg_pool2d_forward<double>(s, py_, px);
  }
}

void adaptive_avg_pool2d_backward(py::array grad_input, py::array grad_output) {
  const char* op = "adaptive_avg_pool2d_backward";
  check_float(op, "grad_output", grad_output);
  check_float(op, "grad_input", grad_input, &grad_output, "grad_output");
  const cpu::Pool2dShape s = adaptive_shape(op, "grad_input", grad_input, "grad_output", grad_output);
  check_disjoint(grad_input, grad_output, op, "grad_input", "grad_output");
  if (is_dtype<float>(grad_output)) {
    float *pdx = ptr<float>(grad_input, op, "grad_input", true), *pdy = ptr<float>(grad_output, op, "grad_output");
    py::gil_scoped_release nogil;
    cpu::adaptive_avg_pool2d_backward<float>(s, pdx, pdy);
  } else {
    double *pdx = ptr<double>(grad_input, op, "grad_input", true), *pdy = ptr<double>(grad_output, op, "grad_output");
    py::gil_scoped_release nogil;
    cpu::adaptive_avg_pool2d_backward<double>(s, pdx, pdy);
  }
}

}  // namespace

void bind_pool(py::module_& m) {
  m.def("max_pool2d_forward", &max_pool2d_forward, py::arg("out"), py::arg("indices"), py::arg("x"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("ceil_mode"),
        "out, indices (int64, flat in each HxW plane) (N, C, OH, OW) = max_pool2d(x (N, C, H, W)).");
  m.def("max_pool2d_backward", &max_pool2d_backward, py::arg("grad_input"), py::arg("grad_output"),
        py::arg("indices"), "grad_input (N, C, H, W) = scatter-add of grad_output through indices.");
  m.def("avg_pool2d_forward", &avg_pool2d_forward, py::arg("out"), py::arg("x"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"), py::arg("count_include_pad"),
        py::arg("divisor_override"), "out (N, C, OH, OW) = avg_pool2d(x); divisor_override 0 means none.");
  m.def("avg_pool2d_backward", &avg_pool2d_backward, py::arg("grad_input"), py::arg("grad_output"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"),
        py::arg("count_include_pad"), py::arg("divisor_override"), "grad_input (N, C, H, W) of avg_pool2d.");
  m.def("adaptive_avg_pool2d_forward", &adaptive_avg_pool2d_forward, py::arg("out"), py::arg("x"),
        "out (N, C, OH, OW) = adaptive_avg_pool2d(x (N, C, H, W)); the output size is out's shape.");
  m.def("adaptive_avg_pool2d_backward", &adaptive_avg_pool2d_backward, py::arg("grad_input"), py::arg("grad_output"),
        "grad_input (N, C, H, W) of adaptive_avg_pool2d.");
}

}  // namespace nerve::bind

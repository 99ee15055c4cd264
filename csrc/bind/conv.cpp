// Bindings for the convolution family: checks only, no math. Arrays must be
// C-contiguous (the Python backend makes them so); sizes come from the arrays,
// options (stride, padding, dilation as (h, w) pairs, groups) from arguments.
#include "cpu/conv.h"

#include <pybind11/stl.h>

#include <array>
#include <optional>

#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

using Pair = std::array<int64_t, 2>;

// Checks x (N, C, H, W), the weight shape (K, C/groups, kh, kw) and the options;
// returns the full problem shape with the output size.
cpu::Conv2dShape conv_shape(const char* op, const char* x_arg, const py::array& x, const char* w_arg,
                            const py::array& w, Pair stride, Pair padding, Pair dilation, int64_t groups) {
  check_ndim(x, op, x_arg, 4);
  check_ndim(w, op, w_arg, 4);
  NERVE_CHECK(stride[0] >= 1 && stride[1] >= 1, op, ": argument 'stride' expected values >= 1, got (", stride[0], ", ",
              stride[1], ")");
  NERVE_CHECK(padding[0] >= 0 && padding[1] >= 0, op, ": argument 'padding' expected values >= 0, got (", padding[0],
              ", ", padding[1], ")");
  NERVE_CHECK(dilation[0] >= 1 && dilation[1] >= 1, op, ": argument 'dilation' expected values >= 1, got (",
              dilation[0], ", ", dilation[1], ")");
  NERVE_CHECK(groups >= 1, op, ": argument 'groups' expected >= 1, got ", groups);
  cpu::Conv2dShape s{};
  s.N = x.shape(0), s.C = x.shape(1), s.H = x.shape(2), s.W = x.shape(3);
  s.K = w.shape(0), s.kh = w.shape(2), s.kw = w.shape(3);
  s.sh = stride[0], s.sw = stride[1], s.ph = padding[0], s.pw = padding[1], s.dh = dilation[0], s.dw = dilation[1];
  s.groups = groups;
  NERVE_CHECK(s.C >= 1 && s.C % groups == 0, op, ": argument '", x_arg, "' expected a channel count C >= 1 divisible by groups=",
              groups, ", got shape ", shape_str(x));
  NERVE_CHECK(s.K >= 1 && s.K % groups == 0, op, ": argument '", w_arg, "' expected K >= 1 output channels divisible by groups=",
              groups, ", got shape ", shape_str(w));
  NERVE_CHECK(s.kh >= 1 && s.kw >= 1, op, ": argument '", w_arg, "' expected a kernel of at least 1x1, got shape ",
              shape_str(w));
  check_shape(w, op, w_arg, {s.K, s.C / groups, s.kh, s.kw}, {"K", "C/groups", "kh", "kw"});
  s.OH = cpu::conv_out_size(s.H, s.kh, s.sh, s.ph, s.dh);
  s.OW = cpu::conv_out_size(s.W, s.kw, s.sw, s.pw, s.dw);
  NERVE_CHECK(s.OH >= 1 && s.OW >= 1, op, ": input of size (", s.H, ", ", s.W, ") with padding (", s.ph, ", ", s.pw,
              ") is smaller than the dilated kernel (", s.dh * (s.kh - 1) + 1, ", ", s.dw * (s.kw - 1) + 1, ")");
  return s;
}

void check_dtypes(const char* op, std::initializer_list<std::pair<const char*, const py::array*>> arrays) {
  const py::array& first = *arrays.begin()->second;
  NERVE_CHECK(is_dtype<float>(first) || is_dtype<double>(first), op, ": argument '", arrays.begin()->first,
              "' expected dtype float32 or float64, got ", dtype_str(first));
  for (const auto& [name, a] : arrays)
    NERVE_CHECK(a->dtype().is(first.dtype()), op, ": argument '", name, "' expected dtype ", dtype_str(first),
                " (like '", arrays.begin()->first, "'), got ", dtype_str(*a));
}

template <class T>
const T* in_ptr(const py::array& a, const char* op, const char* arg) {
  check_contiguous(a, op, arg);
  return data_as<T>(const_cast<py::array&>(a), op, arg);
}

template <class T>
T* out_ptr(py::array& a, const char* op, const char* arg) {
  check_contiguous(a, op, arg);
  return data_as<T>(a, op, arg, true);
}

template <class T>
void forward_typed(py::array& out, const py::array& x, const py::array& w, const std::optional<py::array>& b,
                   const cpu::Conv2dShape& s) {
  const char* op = "conv2d_forward";
  check_shape(out, op, "out", {s.N, s.K, s.OH, s.OW}, {"N", "K", "OH", "OW"});
  if (b) check_shape(*b, op, "bias", {s.K}, {"K"});
  const T* px = in_ptr<T>(x, op, "x");
  const T* pw = in_ptr<T>(w, op, "weight");
  const T* pb = b ? in_ptr<T>(*b, op, "bias") : nullptr;
  T* py_ = out_ptr<T>(out, op, "out");
  check_disjoint(out, x, op, "out", "x");
  check_disjoint(out, w, op, "out", "weight");
  if (b) check_disjoint(out, *b, op, "out", "bias");
  py::gil_scoped_release nogil;
  cpu::conv2d_forward<T>(s, py_, px, pw, pb);
}

void conv2d_forward(py::array out, const py::array& x, const py::array& weight, const std::optional<py::array>& bias,
                    Pair stride, Pair padding, Pair dilation, int64_t groups) {
  const char* op = "conv2d_forward";
  if (bias) check_dtypes(op, {{"x", &x}, {"weight", &weight}, {"out", &out}, {"bias", &*bias}});
  else check_dtypes(op, {{"x", &x}, {"weight", &weight}, {"out", &out}});
  const cpu::Conv2dShape s = conv_shape(op, "x", x, "weight", weight, stride, padding, dilation, groups);
  if (is_dtype<float>(x)) return forward_typed<float>(out, x, weight, bias, s);
  forward_typed<double>(out, x, weight, bias, s);
}

template <class T>
void backward_input_typed(py::array& grad_input, const py::array& grad_output, const py::array& w,
                          const cpu::Conv2dShape& s) {
  const char* op = "conv2d_backward_input";
  check_shape(grad_output, op, "grad_output", {s.N, s.K, s.OH, s.OW}, {"N", "K", "OH", "OW"});
  const T* pdy = in_ptr<T>(grad_output, op, "grad_output");
  const T* pw = in_ptr<T>(w, op, "weight");
  T* pdx = out_ptr<T>(grad_input, op, "grad_input");
  check_disjoint(grad_input, grad_output, op, "grad_input", "grad_output");
  check_disjoint(grad_input, w, op, "grad_input", "weight");
  py::gil_scoped_release nogil;
  cpu::conv2d_backward_input<T>(s, pdx, pdy, pw);
}

void conv2d_backward_input(py::array grad_input, const py::array& grad_output, const py::array& weight, Pair stride,
                           Pair padding, Pair dilation, int64_t groups) {
  const char* op = "conv2d_backward_input";
  check_dtypes(op, {{"grad_output", &grad_output}, {"weight", &weight}, {"grad_input", &grad_input}});
  const cpu::Conv2dShape s =
      conv_shape(op, "grad_input", grad_input, "weight", weight, stride, padding, dilation, groups);
  if (is_dtype<float>(grad_output)) return backward_input_typed<float>(grad_input, grad_output, weight, s);
  backward_input_typed<double>(grad_input, grad_output, weight, s);
}

template <class T>
void backward_weight_typed(py::array& grad_weight, std::optional<py::array>& grad_bias, const py::array& x,
                           const py::array& grad_output, const cpu::Conv2dShape& s) {
  const char* op = "conv2d_backward_weight";
  check_shape(grad_output, op, "grad_output", {s.N, s.K, s.OH, s.OW}, {"N", "K", "OH", "OW"});
  if (grad_bias) check_shape(*grad_bias, op, "grad_bias", {s.K}, {"K"});
  const T* px = in_ptr<T>(x, op, "x");
  const T* pdy = in_ptr<T>(grad_output, op, "grad_output");
  T* pdw = out_ptr<T>(grad_weight, op, "grad_weight");
  T* pdb = grad_bias ? out_ptr<T>(*grad_bias, op, "grad_bias") : nullptr;
  check_disjoint(grad_weight, x, op, "grad_weight", "x");
  check_disjoint(grad_weight, grad_output, op, "grad_weight", "grad_output");
  if (grad_bias) {
    check_disjoint(*grad_bias, x, op, "grad_bias", "x");
    check_disjoint(*grad_bias, grad_output, op, "grad_bias", "grad_output");
    check_disjoint(*grad_bias, grad_weight, op, "grad_bias", "grad_weight");
  }
  py::gil_scoped_release nogil;
  cpu::conv2d_backward_weight<T>(s, pdw, pdb, px, pdy);
}

void conv2d_backward_weight(py::array grad_weight, std::optional<py::array> grad_bias, const py::array& x,
                            const py::array& grad_output, Pair stride, Pair padding, Pair dilation, int64_t groups) {
  const char* op = "conv2d_backward_weight";
  if (grad_bias)
    check_dtypes(op, {{"x", &x}, {"grad_output", &grad_output}, {"grad_weight", &grad_weight}, {"grad_bias", &*grad_bias}});
  else check_dtypes(op, {{"x", &x}, {"grad_output", &grad_output}, {"grad_weight", &grad_weight}});
  const cpu::Conv2dShape s = conv_shape(op, "x", x, "grad_weight", grad_weight, stride, padding, dilation, groups);
  if (is_dtype<float>(x)) return backward_weight_typed<float>(grad_weight, grad_bias, x, grad_output, s);
  backward_weight_typed<double>(grad_weight, grad_bias, x, grad_output, s);
}

}  // namespace

void bind_conv(py::module_& m) {
  m.def("conv2d_forward", &conv2d_forward, py::arg("out"), py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        "out (N, K, OH, OW) = conv2d(x (N, C, H, W), weight (K, C/groups, kh, kw)) + bias (K,) or None.");
  m.def("conv2d_backward_input", &conv2d_backward_input, py::arg("grad_input"), py::arg("grad_output"),
        py::arg("weight"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        "grad_input (N, C, H, W) = gradient of conv2d w.r.t. its input, from grad_output (N, K, OH, OW).");
  m.def("conv2d_backward_weight", &conv2d_backward_weight, py::arg("grad_weight"), py::arg("grad_bias"), py::arg("x"),
        py::arg("grad_output"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        "grad_weight (K, C/groups, kh, kw) and grad_bias (K,) or None = gradients of conv2d.");
}

}  // namespace nerve::bind

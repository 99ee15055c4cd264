// Bindings for the layer norm family: checks only, no math.
#include "cpu/layer_norm.h"

#include <cmath>

#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

// A C-contiguous array of `shape` and dtype T (writable for outputs).
template <class T>
T* checked(py::array& a, const char* op, const char* arg, const std::vector<int64_t>& shape,
           const std::vector<const char*>& names, bool out = false) {
  T* p = data_as<T>(a, op, arg, out);
  check_shape(a, op, arg, shape, names);
  check_contiguous(a, op, arg);
  return p;
}

// Optional (C,) array: None gives null.
template <class T>
T* optional_vec(const py::object& o, const char* op, const char* arg, int64_t C, bool out = false) {
  if (o.is_none()) return nullptr;
  NERVE_CHECK(py::isinstance<py::array>(o), op, ": argument '", arg, "' expected a numpy array or None");
  py::array a = o.cast<py::array>();
  return checked<T>(a, op, arg, {C}, {"C"}, out);
}

template <class T>
void forward_typed(py::array& y, py::array& mean, py::array& rstd, py::array& x, const py::object& weight,
                   const py::object& bias, double eps) {
  const char* op = "layer_norm_forward";
  const int64_t N = x.shape(0), C = x.shape(1);
  const T* px = checked<T>(x, op, "x", {N, C}, {"N", "C"});
  T* py_ = checked<T>(y, op, "y", {N, C}, {"N", "C"}, true);
  T* pm = checked<T>(mean, op, "mean", {N}, {"N"}, true);
  T* pr = checked<T>(rstd, op, "rstd", {N}, {"N"}, true);
  const T* pw = optional_vec<T>(weight, op, "weight", C);
  const T* pb = optional_vec<T>(bias, op, "bias", C);
  py::gil_scoped_release nogil;
  cpu::layer_norm_forward<T>(py_, pm, pr, px, pw, pb, N, C, eps);
}

void layer_norm_forward(py::array y, py::array mean, py::array rstd, py::array x, const py::object& weight,
                        const py::object& bias, double eps) {
  const char* op = "layer_norm_forward";
  check_ndim(x, op, "x", 2);
  NERVE_CHECK(std::isfinite(eps) && eps >= 0, op, ": argument 'eps' expected a finite value >= 0, got ", eps);
  if (is_dtype<float>(x)) return forward_typed<float>(y, mean, rstd, x, weight, bias, eps);
  if (is_dtype<double>(x)) return forward_typed<double>(y, mean, rstd, x, weight, bias, eps);
  NERVE_CHECK(false, op, ": argument 'x' expected dtype float32 or float64, got ", dtype_str(x));
}

template <class T>
void backward_typed(const py::object& dx, const py::object& dweight, const py::object& dbias, py::array& dy,
                    py::array& x, py::array& mean, py::array& rstd, const py::object& weight) {
  const char* op = "layer_norm_backward";
  const int64_t N = x.shape(0), C = x.shape(1);
  const T* px = checked<T>(x, op, "x", {N, C}, {"N", "C"});
  const T* pdy = checked<T>(dy, op, "dy", {N, C}, {"N", "C"});
  const T* pm = checked<T>(mean, op, "mean", {N}, {"N"});
  const T* pr = checked<T>(rstd, op, "rstd", {N}, {"N"});
  const T* pw = optional_vec<T>(weight, op, "weight", C);
  T* pdx = nullptr;
  if (!dx.is_none()) {
    NERVE_CHECK(py::isinstance<py::array>(dx), op, ": argument 'dx' expected a numpy array or None");
    py::array a = dx.cast<py::array>();
    pdx = checked<T>(a, op, "dx", {N, C}, {"N", "C"}, true);
  }
  T* pdw = optional_vec<T>(dweight, op, "dweight", C, true);
  T* pdb = optional_vec<T>(dbias, op, "dbias", C, true);
  py::gil_scoped_release nogil;
  cpu::layer_norm_backward<T>(pdx, pdw, pdb, pdy, px, pm, pr, pw, N, C);
}

void layer_norm_backward(const py::object& dx, const py::object& dweight, const py::object& dbias, py::array dy,
                         py::array x, py::array mean, py::array rstd, const py::object& weight) {
  const char* op = "layer_norm_backward";
  check_ndim(x, op, "x", 2);
  if (is_dtype<float>(x)) return backward_typed<float>(dx, dweight, dbias, dy, x, mean, rstd, weight);
  if (is_dtype<double>(x)) return backward_typed<double>(dx, dweight, dbias, dy, x, mean, rstd, weight);
  NERVE_CHECK(false, op, ": argument 'x' expected dtype float32 or float64, got ", dtype_str(x));
}

}  // namespace

void bind_layer_norm(py::module_& m) {
  m.def("layer_norm_forward", &layer_norm_forward, py::arg("y"), py::arg("mean"), py::arg("rstd"), py::arg("x"),
        py::arg("weight") = py::none(), py::arg("bias") = py::none(), py::arg("eps") = 1e-5,
        "Layer norm over the last dim of x (N, C): y = (x - mean) * rstd * weight + bias; writes mean, rstd (N,).");
  m.def("layer_norm_backward", &layer_norm_backward, py::arg("dx"), py::arg("dweight"), py::arg("dbias"),
        py::arg("dy"), py::arg("x"), py::arg("mean"), py::arg("rstd"), py::arg("weight") = py::none(),
        "Gradients of layer_norm_forward; any of dx, dweight, dbias may be None (not computed).");
}

}  // namespace nerve::bind

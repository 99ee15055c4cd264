// Bindings for the activation family: checks only, no math.
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

// Checks that every array is C-contiguous with the same shape and dtype as `like`.
void check_same(const char* op, const py::array& like, std::initializer_list<std::pair<const char*, const py::array*>> arrays) {
  for (auto& [name, a] : arrays) {
    NERVE_CHECK(a->dtype().is(like.dtype()), op, ": argument '", name, "' expected dtype ", dtype_str(like), ", got ",
                dtype_str(*a));
    NERVE_CHECK(a->ndim() == like.ndim() && std::equal(a->shape(), a->shape() + a->ndim(), like.shape()), op,
                ": argument '", name, "' expected shape ", shape_str(like), ", got ", shape_str(*a));
    check_contiguous(*a, op, name);
  }
}

template <class T>
void gelu_forward_typed(py::array& out, const py::array& x, cpu::GeluMode mode) {
  T* o = data_as<T>(out, "gelu_forward", "out", true);
  const T* px = data_as<T>(const_cast<py::array&>(x), "gelu_forward", "x");
  py::gil_scoped_release nogil;
  cpu::gelu_forward<T>(o, px, x.size(), mode);
}

void gelu_forward(py::array out, const py::array& x, const std::string& approximate) {
  const char* op = "gelu_forward";
  auto mode = gelu_mode(approximate, op);
  check_same(op, x, {{"x", &x}, {"out", &out}});
  if (is_dtype<double>(x)) return gelu_forward_typed<double>(out, x, mode);
  gelu_forward_typed<float>(out, x, mode);
}

template <class T>
void gelu_backward_typed(py::array& gx, const py::array& g, const py::array& x, cpu::GeluMode mode) {
  const char* op = "gelu_backward";
  T* o = data_as<T>(gx, op, "grad_x", true);
  const T* pg = data_as<T>(const_cast<py::array&>(g), op, "grad");
  const T* px = data_as<T>(const_cast<py::array&>(x), op, "x");
  py::gil_scoped_release nogil;
  cpu::gelu_backward<T>(o, pg, px, x.size(), mode);
}

void gelu_backward(py::array grad_x, const py::array& grad, const py::array& x, const std::string& approximate) {
  const char* op = "gelu_backward";
  auto mode = gelu_mode(approximate, op);
  check_same(op, x, {{"x", &x}, {"grad", &grad}, {"grad_x", &grad_x}});
  if (is_dtype<double>(x)) return gelu_backward_typed<double>(grad_x, grad, x, mode);
  gelu_backward_typed<float>(grad_x, grad, x, mode);
}

template <class T>
void sigmoid_typed(py::array& out, const py::array& x) {
  T* o = data_as<T>(out, "sigmoid_forward", "out", true);
  const T* px = data_as<T>(const_cast<py::array&>(x), "sigmoid_forward", "x");
  py::gil_scoped_release nogil;
  cpu::sigmoid_forward<T>(o, px, x.size());
}

void sigmoid_forward(py::array out, const py::array& x) {
  check_same("sigmoid_forward", x, {{"x", &x}, {"out", &out}});
  if (is_dtype<double>(x)) return sigmoid_typed<double>(out, x);
  sigmoid_typed<float>(out, x);
}

}  // namespace

void bind_activation(py::module_& m) {
  m.def("gelu_forward", &gelu_forward, py::arg("out"), py::arg("x"), py::arg("approximate") = "none",
        "out = gelu(x); approximate 'none' (erf) or 'tanh'.");
  m.def("gelu_backward", &gelu_backward, py::arg("grad_x"), py::arg("grad"), py::arg("x"),
        py::arg("approximate") = "none", "grad_x = grad * gelu'(x).");
  m.def("sigmoid_forward", &sigmoid_forward, py::arg("out"), py::arg("x"), "out = 1 / (1 + exp(-x)), overflow-free.");
}

}  // namespace nerve::bind

// Bindings for the loss family: checks only, no math.
#include "cpu/loss.h"

#include <cmath>
#include <optional>

#include <pybind11/stl.h>

#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

struct CrossEntropyArgs {
  int64_t N = 0, C = 0;
  const int64_t* target = nullptr;
};

// Checks logits (N, C), target (N,) int64 with values in [0, C) or ignore_index,
// weight (C,) or None, label_smoothing in [0, 1], and every (N,) array in `rows`.
CrossEntropyArgs check_cross_entropy(const char* op, const py::array& logits, const py::array& target,
                                     const std::optional<py::array>& weight, int64_t ignore_index,
                                     double label_smoothing,
                                     std::initializer_list<std::pair<const char*, const py::array*>> rows) {
  NERVE_CHECK(is_dtype<float>(logits) || is_dtype<double>(logits), op,
              ": argument 'logits' expected dtype float32 or float64, got ", dtype_str(logits));
  check_ndim(logits, op, "logits", 2);
  check_contiguous(logits, op, "logits");
  CrossEntropyArgs a;
  a.N = logits.shape(0);
  a.C = logits.shape(1);
  NERVE_CHECK(a.C >= 1 || a.N == 0, op, ": argument 'logits' needs at least one class, got shape ", shape_str(logits));
  NERVE_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, op,
              ": argument 'label_smoothing' expected a value in [0, 1], got ", label_smoothing);
  for (auto& [name, arr] : rows) {
    NERVE_CHECK(arr->dtype().is(logits.dtype()), op, ": argument '", name, "' expected dtype ", dtype_str(logits),
                ", got ", dtype_str(*arr));
    check_shape(*arr, op, name, {a.N}, {"N"});
    check_contiguous(*arr, op, name);
  }
  if (weight) {
    NERVE_CHECK(weight->dtype().is(logits.dtype()), op, ": argument 'weight' expected dtype ", dtype_str(logits),
                ", got ", dtype_str(*weight));
    check_shape(*weight, op, "weight", {a.C}, {"C"});
    check_contiguous(*weight, op, "weight");
  }
  a.target = data_as<int64_t>(const_cast<py::array&>(target), op, "target");
  check_shape(target, op, "target", {a.N}, {"N"});
  check_contiguous(target, op, "target");
  for (int64_t i = 0; i < a.N; ++i) {
    const int64_t t = a.target[i];
    NERVE_CHECK(t == ignore_index || (t >= 0 && t < a.C), op, ": argument 'target' has class index ", t,
                " at position ", i, ", expected a value in [0, ", a.C, ") or ignore_index=", ignore_index);
  }
  return a;
}

template <class T>
const T* weight_ptr(const std::optional<py::array>& weight, const char* op) {
  return weight ? data_as<T>(const_cast<py::array&>(*weight), op, "weight") : nullptr;
}

template <class T>
void forward_typed(py::array& loss, py::array& lse, const py::array& logits, const CrossEntropyArgs& a,
                   const std::optional<py::array>& weight, int64_t ignore_index, double label_smoothing) {
  const char* op = "cross_entropy_forward";
  T* pl = data_as<T>(loss, op, "loss", true);
  double* pe = data_as<double>(lse, op, "lse", true);
  const T* px = data_as<T>(const_cast<py::array&>(logits), op, "logits");
  const T* pw = weight_ptr<T>(weight, op);
  py::gil_scoped_release nogil;
  cpu::cross_entropy_forward<T>(pl, pe, px, a.target, pw, a.N, a.C, ignore_index, label_smoothing);
}

void cross_entropy_forward(py::array loss, py::array lse, const py::array& logits, const py::array& target,
                           const std::optional<py::array>& weight, int64_t ignore_index, double label_smoothing) {
  const char* op = "cross_entropy_forward";
  auto a = check_cross_entropy(op, logits, target, weight, ignore_index, label_smoothing,
                               {{"loss", &loss}});
  check_shape(lse, op, "lse", {a.N}, {"N"});
  check_contiguous(lse, op, "lse");
  if (is_dtype<double>(logits)) return forward_typed<double>(loss, lse, logits, a, weight, ignore_index, label_smoothing);
  forward_typed<float>(loss, lse, logits, a, weight, ignore_index, label_smoothing);
}

template <class T>
void backward_typed(py::array& grad_logits, const py::array& grad_loss, const py::array& logits, const py::array& lse,
                    const CrossEntropyArgs& a, const std::optional<py::array>& weight, int64_t ignore_index,
                    double label_smoothing) {
  const char* op = "cross_entropy_backward";
  T* pgx = data_as<T>(grad_logits, op, "grad_logits", true);
  const T* pg = data_as<T>(const_cast<py::array&>(grad_loss), op, "grad_loss");
  const T* px = data_as<T>(const_cast<py::array&>(logits), op, "logits");
  const double* pe = data_as<double>(const_cast<py::array&>(lse), op, "lse");
  const T* pw = weight_ptr<T>(weight, op);
  py::gil_scoped_release nogil;
  cpu::cross_entropy_backward<T>(pgx, pg, px, pe, a.target, pw, a.N, a.C, ignore_index, label_smoothing);
}

void cross_entropy_backward(py::array grad_logits, const py::array& grad_loss, const py::array& logits,
                            const py::array& lse, const py::array& target, const std::optional<py::array>& weight,
                            int64_t ignore_index, double label_smoothing) {
  const char* op = "cross_entropy_backward";
  auto a = check_cross_entropy(op, logits, target, weight, ignore_index, label_smoothing,
                               {{"grad_loss", &grad_loss}});
  check_shape(lse, op, "lse", {a.N}, {"N"});
  check_contiguous(lse, op, "lse");
  NERVE_CHECK(grad_logits.dtype().is(logits.dtype()), op, ": argument 'grad_logits' expected dtype ",
              dtype_str(logits), ", got ", dtype_str(grad_logits));
  check_shape(grad_logits, op, "grad_logits", {a.N, a.C}, {"N", "C"});
  check_contiguous(grad_logits, op, "grad_logits");
  if (is_dtype<double>(logits))
    return backward_typed<double>(grad_logits, grad_loss, logits, lse, a, weight, ignore_index, label_smoothing);
  backward_typed<float>(grad_logits, grad_loss, logits, lse, a, weight, ignore_index, label_smoothing);
}

}  // namespace

void bind_loss(py::module_& m) {
  m.def("cross_entropy_forward", &cross_entropy_forward, py::arg("loss"), py::arg("lse"), py::arg("logits"),
        py::arg("target"), py::arg("weight") = py::none(), py::arg("ignore_index") = -100,
        py::arg("label_smoothing") = 0.0,
        "Per-row softmax cross-entropy loss (N,) and float64 log-sum-exp lse (N,) of logits (N, C) with int64 target (N,).");
  m.def("cross_entropy_backward", &cross_entropy_backward, py::arg("grad_logits"), py::arg("grad_loss"),
        py::arg("logits"), py::arg("lse"), py::arg("target"), py::arg("weight") = py::none(),
        py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0,
        "grad_logits (N, C) from the per-row loss gradient grad_loss (N,) and the forward's lse.");
}

}  // namespace nerve::bind

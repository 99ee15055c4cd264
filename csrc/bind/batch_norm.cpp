// Bindings for the normalization family: checks only, no math. x is (N, C, L)
// C-contiguous (the Python side reshapes (N, C), (N, C, L) and (N, C, H, W)
// to that); per-channel arrays are (C,). Optional arrays are None when absent.
#include "cpu/batch_norm.h"

#include <pybind11/stl.h>

#include <optional>

#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

using Opt = std::optional<py::array>;

struct Checker {
  const char* op;
  const py::array& ref;  // dtype source
  const char* ref_arg;

  void operator()(const py::array& a, const char* arg, const std::vector<int64_t>& shape,
                  const std::vector<const char*>& names) const {
    NERVE_CHECK(a.dtype().is(ref.dtype()), op, ": argument '", arg, "' expected dtype ", dtype_str(ref), " (like '",
                ref_arg, "'), got ", dtype_str(a));
    check_shape(a, op, arg, shape, names);
    check_contiguous(a, op, arg);
  }
};

using Named = std::vector<std::pair<const py::array*, const char*>>;

// Every written array is writable and shares memory with no other argument.
void check_all_disjoint(const char* op, const Named& outs, const Named& ins) {
  for (size_t i = 0; i < outs.size(); ++i) {
    NERVE_CHECK(outs[i].first->writeable(), op, ": argument '", outs[i].second, "' must be writable");
    for (auto [a, name] : ins) check_disjoint(*outs[i].first, *a, op, outs[i].second, name);
    for (size_t j = i + 1; j < outs.size(); ++j)
      check_disjoint(*outs[i].first, *outs[j].first, op, outs[i].second, outs[j].second);
  }
}

template <class T>
T* p(const Opt& a, bool out = false) {
  return a ? static_cast<T*>(out ? const_cast<py::array&>(*a).mutable_data() : const_cast<void*>(a->data())) : nullptr;
}

void batch_norm_forward(py::array out, py::array save_mean, py::array save_invstd, py::array x, Opt weight, Opt bias,
                        Opt running_mean, Opt running_var, bool training, double momentum, double eps) {
  const char* op = "batch_norm_forward";
  NERVE_CHECK(is_dtype<float>(x) || is_dtype<double>(x), op, ": argument 'x' expected dtype float32 or float64, got ",
              dtype_str(x));
  check_ndim(x, op, "x", 3);
  check_contiguous(x, op, "x");
  const int64_t N = x.shape(0), C = x.shape(1), L = x.shape(2);
  const Checker check{op, x, "x"};
  check(out, "out", {N, C, L}, {"N", "C", "L"});
  for (auto [a, name] : {std::pair{&save_mean, "save_mean"}, {&save_invstd, "save_invstd"}})
    check(*a, name, {C}, {"C"});
  for (auto [a, name] : {std::pair{&weight, "weight"}, {&bias, "bias"}, {&running_mean, "running_mean"},
                         {&running_var, "running_var"}})
    if (*a) check(**a, name, {C}, {"C"});
  NERVE_CHECK(running_mean.has_value() == running_var.has_value(), op,
              ": arguments 'running_mean' and 'running_var' must both be arrays or both be None");
  NERVE_CHECK(training || running_mean, op, ": eval mode (training=False) needs 'running_mean' and 'running_var'");
  NERVE_CHECK(!training || N * L != 1, op, ": expected more than 1 value per channel when training, got input shape ",
              shape_str(x));
  NERVE_CHECK(eps > 0, op, ": argument 'eps' expected > 0, got ", eps);
  // Written arrays must not overlap each other or the inputs.
  Named outs = {
      {&out, "out"}, {&save_mean, "save_mean"}, {&save_invstd, "save_invstd"}}, ins = {{&x, "x"}};
  for (auto [a, name] : {std::pair{&weight, "weight"}, {&bias, "bias"}}) if (*a) ins.push_back({&**a, name});
  for (auto [a, name] : {std::pair{&running_mean, "running_mean"}, {&running_var, "running_var"}})
    if (*a) (training ? outs : ins).push_back({&**a, name});
  check_all_disjoint(op, outs, ins);
  if (is_dtype<float>(x)) {
    using T = float;
    T *py_ = static_cast<T*>(out.mutable_data()), *pm = static_cast<T*>(save_mean.mutable_data()),
      *pi = static_cast<T*>(save_invstd.mutable_data());
    py::gil_scoped_release nogil;
    cpu::batch_norm_forward<T>(N, C, L, py_, pm, pi, p<T>(running_mean, training), p<T>(running_var, training),
                               static_cast<const T*>(x.data()), p<T>(weight), p<T>(bias), training, momentum, eps);
  } else {
    using T = double;
    T *py_ = static_cast<T*>(out.mutable_data()), *pm = static_cast<T*>(save_mean.mutable_data()),
      *pi = static_cast<T*>(save_invstd.mutable_data());
    py::gil_scoped_release nogil;
    cpu::batch_norm_forward<T>(N, C, L, py_, pm, pi, p<T>(running_mean, training), p<T>(running_var, training),
                               static_cast<const T*>(x.data()), p<T>(weight), p<T>(bias), training, momentum, eps);
  }
}

void batch_norm_backward(Opt grad_input, Opt grad_weight, Opt grad_bias, py::array grad_output, py::array x,
                         Opt weight, py::array save_mean, py::array save_invstd, bool training) {
  const char* op = "batch_norm_backward";
  NERVE_CHECK(is_dtype<float>(x) || is_dtype<double>(x), op, ": argument 'x' expected dtype float32 or float64, got ",
              dtype_str(x));
  check_ndim(x, op, "x", 3);
  check_contiguous(x, op, "x");
  const int64_t N = x.shape(0), C = x.shape(1), L = x.shape(2);
  const Checker check{op, x, "x"};
  check(grad_output, "grad_output", {N, C, L}, {"N", "C", "L"});
  check(save_mean, "save_mean", {C}, {"C"});
  check(save_invstd, "save_invstd", {C}, {"C"});
  if (weight) check(*weight, "weight", {C}, {"C"});
  if (grad_input) check(*grad_input, "grad_input", {N, C, L}, {"N", "C", "L"});
  if (grad_weight) check(*grad_weight, "grad_weight", {C}, {"C"});
  if (grad_bias) check(*grad_bias, "grad_bias", {C}, {"C"});
  Named outs, ins = {
      {&grad_output, "grad_output"}, {&x, "x"}, {&save_mean, "save_mean"}, {&save_invstd, "save_invstd"}};
  if (weight) ins.push_back({&*weight, "weight"});
  for (auto [a, name] : {std::pair{&grad_input, "grad_input"}, {&grad_weight, "grad_weight"}, {&grad_bias, "grad_bias"}})
    if (*a) outs.push_back({&**a, name});
  check_all_disjoint(op, outs, ins);
  if (is_dtype<float>(x)) {
    using T = float;
    py::gil_scoped_release nogil;
    cpu::batch_norm_backward<T>(N, C, L, p<T>(grad_input, true), p<T>(grad_weight, true), p<T>(grad_bias, true),
                                static_cast<const T*>(grad_output.data()), static_cast<const T*>(x.data()),
                                p<T>(weight), static_cast<const T*>(save_mean.data()),
                                static_cast<const T*>(save_invstd.data()), training);
  } else {
    using T = double;
    py::gil_scoped_release nogil;
    cpu::batch_norm_backward<T>(N, C, L, p<T>(grad_input, true), p<T>(grad_weight, true), p<T>(grad_bias, true),
                                static_cast<const T*>(grad_output.data()), static_cast<const T*>(x.data()),
                                p<T>(weight), static_cast<const T*>(save_mean.data()),
                                static_cast<const T*>(save_invstd.data()), training);
  }
}

}  // namespace

void bind_batch_norm(py::module_& m) {
  m.def("batch_norm_forward", &batch_norm_forward, py::arg("out"), py::arg("save_mean"), py::arg("save_invstd"),
        py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("running_mean"), py::arg("running_var"),
        py::arg("training"), py::arg("momentum"), py::arg("eps"),
        "out (N, C, L) = batch_norm(x (N, C, L)); writes save_mean/save_invstd (C,) and, in training, updates "
        "running_mean/running_var in place.");
  m.def("batch_norm_backward", &batch_norm_backward, py::arg("grad_input"), py::arg("grad_weight"),
        py::arg("grad_bias"), py::arg("grad_output"), py::arg("x"), py::arg("weight"), py::arg("save_mean"),
        py::arg("save_invstd"), py::arg("training"),
        "grad_input (N, C, L), grad_weight, grad_bias (C,) (each may be None) of batch_norm.");
}

}  // namespace nerve::bind

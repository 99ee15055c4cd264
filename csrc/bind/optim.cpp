// Bindings for the optimizer family: checks only, no math. Every array must be
// C-contiguous with param's shape and dtype (float32/float64); param and the
// state arrays must be writable. Optional state (momentum buffers, amsgrad's
// max, RMSprop's grad_avg) is None exactly when the option is off.
#include "cpu/optim.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

py::array as_array(const py::object& obj) { return py::reinterpret_borrow<py::array>(obj); }

struct Arg {
  const char* name;
  py::object obj;  // a numpy array or None
  bool writes;
};

// Checks every non-None array against param; returns their typed pointers
// (nullptr for None) in the order given. param is args[0].
template <class T>
std::vector<T*> pointers(const char* op, const std::vector<Arg>& args) {
  std::vector<T*> ptrs;
  const py::array param = as_array(args[0].obj);
  for (const auto& a : args) {
    if (a.obj.is_none()) {
      ptrs.push_back(nullptr);
      continue;
    }
    py::array arr = as_array(a.obj);
    NERVE_CHECK(arr.ndim() == param.ndim() && std::equal(arr.shape(), arr.shape() + arr.ndim(), param.shape()), op,
                ": argument '", a.name, "' expected shape ", shape_str(param), " (param's), got ", shape_str(arr));
    check_contiguous(arr, op, a.name);
    ptrs.push_back(data_as<T>(arr, op, a.name, a.writes));
  }
  // The kernels read and write each array through __restrict pointers.
  const size_t bytes = sizeof(T) * static_cast<size_t>(param.size());
  for (size_t i = 0; i < ptrs.size(); ++i)
    for (size_t j = i + 1; j < ptrs.size(); ++j) {
      const char *a = reinterpret_cast<const char*>(ptrs[i]), *b = reinterpret_cast<const char*>(ptrs[j]);
      NERVE_CHECK(!a || !b || bytes == 0 || a + bytes <= b || b + bytes <= a, op, ": arguments '", args[i].name,
                  "' and '", args[j].name, "' overlap in memory; each must be its own array");
    }
  return ptrs;
}

// Converts each argument to a numpy array (None stays None) and checks the dtype.
std::vector<Arg> arrays(const char* op, std::vector<Arg> args) {
  for (auto& a : args) {
    if (a.obj.is_none()) continue;
    NERVE_CHECK(py::isinstance<py::array>(a.obj), op, ": argument '", a.name, "' expected a numpy array, got ",
                py::str(py::type::of(a.obj)).cast<std::string>());
  }
  const py::array p = as_array(args[0].obj);
  NERVE_CHECK(is_dtype<float>(p) || is_dtype<double>(p), op, ": argument 'param' expected dtype float32 or float64, got ",
              dtype_str(p));
  return args;
}

void require_state(const char* op, const Arg& a, bool needed, const char* why) {
  NERVE_CHECK(a.obj.is_none() != needed, op, ": argument '", a.name, "' must be ", needed ? "an array" : "None",
              " when ", why);
}

void check_range(const char* op, const char* name, double v, double lo, double hi, bool hi_open = false) {
  const bool ok = v >= lo && (hi_open ? v < hi : v <= hi);
  NERVE_CHECK(ok, op, ": argument '", name, "' expected a value in [", lo, ", ", hi, hi_open ? ")" : "]", ", got ", v);
}

void check_nonneg(const char* op, const char* name, double v) {
  NERVE_CHECK(v >= 0 && std::isfinite(v), op, ": argument '", name, "' expected a finite value >= 0, got ", v);
}

template <class F>
void by_dtype(const std::vector<Arg>& args, F&& f) {
  if (is_dtype<float>(as_array(args[0].obj))) return f(float{});
  f(double{});
}

void sgd_step(py::object param, py::object momentum_buffer, py::object grad, double lr, double momentum,
              double dampening, double weight_decay, bool nesterov, bool maximize, bool first_step) {
  const char* op = "sgd_step";
  auto args = arrays(op, {{"param", param, true}, {"momentum_buffer", momentum_buffer, true}, {"grad", grad, false}});
  check_nonneg(op, "lr", lr);
  check_nonneg(op, "momentum", momentum);
  check_range(op, "dampening", dampening, 0, 1);
  check_nonneg(op, "weight_decay", weight_decay);
  NERVE_CHECK(!nesterov || (momentum > 0 && dampening == 0), op,
              ": nesterov momentum requires momentum > 0 and dampening = 0, got momentum ", momentum,
              " and dampening ", dampening);
  require_state(op, args[1], momentum != 0, momentum != 0 ? "momentum != 0" : "momentum == 0");
  const cpu::SgdOptions o{lr, momentum, dampening, weight_decay, nesterov, maximize, first_step};
  by_dtype(args, [&](auto zero) {
    using T = decltype(zero);
    auto p = pointers<T>(op, args);
    const int64_t n = as_array(param).size();
    py::gil_scoped_release nogil;
    cpu::sgd_step<T>(p[0], p[1], p[2], n, o);
  });
}

void adam_step(py::object param, py::object exp_avg, py::object exp_avg_sq, py::object max_exp_avg_sq, py::object grad,
               double lr, double beta1, double beta2, double eps, double weight_decay, int64_t step, bool decoupled,
               bool maximize) {
  const char* op = decoupled ? "adamw_step" : "adam_step";
  auto args = arrays(op, {{"param", param, true}, {"exp_avg", exp_avg, true}, {"exp_avg_sq", exp_avg_sq, true},
                          {"max_exp_avg_sq", max_exp_avg_sq, true}, {"grad", grad, false}});
  require_state(op, args[1], true, "running Adam");
  require_state(op, args[2], true, "running Adam");
  check_nonneg(op, "lr", lr);
  check_range(op, "beta1", beta1, 0, 1, true);
  check_range(op, "beta2", beta2, 0, 1, true);
  check_nonneg(op, "eps", eps);
  check_nonneg(op, "weight_decay", weight_decay);
  NERVE_CHECK(step >= 1, op, ": argument 'step' expected >= 1, got ", step);
  const cpu::AdamOptions o{lr, beta1, beta2, eps, weight_decay, step, !max_exp_avg_sq.is_none(), decoupled, maximize};
  by_dtype(args, [&](auto zero) {
    using T = decltype(zero);
    auto p = pointers<T>(op, args);
    const int64_t n = as_array(param).size();
    py::gil_scoped_release nogil;
    cpu::adam_step<T>(p[0], p[1], p[2], p[3], p[4], n, o);
  });
}

void rmsprop_step(py::object param, py::object square_avg, py::object grad_avg, py::object momentum_buffer,
                  py::object grad, double lr, double alpha, double eps, double weight_decay, double momentum,
                  bool maximize) {
  const char* op = "rmsprop_step";
  auto args = arrays(op, {{"param", param, true}, {"square_avg", square_avg, true}, {"grad_avg", grad_avg, true},
                          {"momentum_buffer", momentum_buffer, true}, {"grad", grad, false}});
  require_state(op, args[1], true, "running RMSprop");
  check_nonneg(op, "lr", lr);
  check_range(op, "alpha", alpha, 0, 1);
  check_nonneg(op, "eps", eps);
  check_nonneg(op, "weight_decay", weight_decay);
  check_nonneg(op, "momentum", momentum);
  require_state(op, args[3], momentum != 0, momentum != 0 ? "momentum != 0" : "momentum == 0");
  const cpu::RmspropOptions o{lr, alpha, eps, weight_decay, momentum, !grad_avg.is_none(), maximize};
  by_dtype(args, [&](auto zero) {
    using T = decltype(zero);
    auto p = pointers<T>(op, args);
    const int64_t n = as_array(param).size();
    py::gil_scoped_release nogil;
    cpu::rmsprop_step<T>(p[0], p[1], p[2], p[3], p[4], n, o);
  });
}

void adagrad_step(py::object param, py::object state_sum, py::object grad, double lr, double lr_decay, double eps,
                  double weight_decay, int64_t step, bool maximize) {
  const char* op = "adagrad_step";
  auto args = arrays(op, {{"param", param, true}, {"state_sum", state_sum, true}, {"grad", grad, false}});
  require_state(op, args[1], true, "running Adagrad");
  check_nonneg(op, "lr", lr);
  check_nonneg(op, "lr_decay", lr_decay);
  check_nonneg(op, "eps", eps);
  check_nonneg(op, "weight_decay", weight_decay);
  NERVE_CHECK(step >= 1, op, ": argument 'step' expected >= 1, got ", step);
  const cpu::AdagradOptions o{lr, lr_decay, eps, weight_decay, step, maximize};
  by_dtype(args, [&](auto zero) {
    using T = decltype(zero);
    auto p = pointers<T>(op, args);
    const int64_t n = as_array(param).size();
    py::gil_scoped_release nogil;
    cpu::adagrad_step<T>(p[0], p[1], p[2], n, o);
  });
}

void adadelta_step(py::object param, py::object square_avg, py::object acc_delta, py::object grad, double lr,
                   double rho, double eps, double weight_decay, bool maximize) {
  const char* op = "adadelta_step";
  auto args = arrays(op, {{"param", param, true}, {"square_avg", square_avg, true}, {"acc_delta", acc_delta, true},
                          {"grad", grad, false}});
  require_state(op, args[1], true, "running Adadelta");
  require_state(op, args[2], true, "running Adadelta");
  check_nonneg(op, "lr", lr);
  check_range(op, "rho", rho, 0, 1);
  check_nonneg(op, "eps", eps);
  check_nonneg(op, "weight_decay", weight_decay);
  const cpu::AdadeltaOptions o{lr, rho, eps, weight_decay, maximize};
  by_dtype(args, [&](auto zero) {
    using T = decltype(zero);
    auto p = pointers<T>(op, args);
    const int64_t n = as_array(param).size();
    py::gil_scoped_release nogil;
    cpu::adadelta_step<T>(p[0], p[1], p[2], p[3], n, o);
  });
}

}  // namespace

void bind_optim(py::module_& m) {
  m.def("sgd_step", &sgd_step, py::arg("param"), py::arg("momentum_buffer"), py::arg("grad"), py::kw_only(),
        py::arg("lr"), py::arg("momentum") = 0.0, py::arg("dampening") = 0.0, py::arg("weight_decay") = 0.0,
        py::arg("nesterov") = false, py::arg("maximize") = false, py::arg("first_step") = false,
        "In-place SGD update of param (and momentum_buffer, None when momentum == 0).");
  m.def("adam_step", &adam_step, py::arg("param"), py::arg("exp_avg"), py::arg("exp_avg_sq"),
        py::arg("max_exp_avg_sq"), py::arg("grad"), py::kw_only(), py::arg("lr"), py::arg("beta1") = 0.9,
        py::arg("beta2") = 0.999, py::arg("eps") = 1e-8, py::arg("weight_decay") = 0.0, py::arg("step"),
        py::arg("decoupled") = false, py::arg("maximize") = false,
        "In-place Adam (decoupled=False) or AdamW (decoupled=True) update; amsgrad when max_exp_avg_sq is an array.");
  m.def("rmsprop_step", &rmsprop_step, py::arg("param"), py::arg("square_avg"), py::arg("grad_avg"),
        py::arg("momentum_buffer"), py::arg("grad"), py::kw_only(), py::arg("lr"), py::arg("alpha") = 0.99,
        py::arg("eps") = 1e-8, py::arg("weight_decay") = 0.0, py::arg("momentum") = 0.0, py::arg("maximize") = false,
        "In-place RMSprop update; centered when grad_avg is an array.");
  m.def("adagrad_step", &adagrad_step, py::arg("param"), py::arg("state_sum"), py::arg("grad"), py::kw_only(),
        py::arg("lr"), py::arg("lr_decay") = 0.0, py::arg("eps") = 1e-10, py::arg("weight_decay") = 0.0,
        py::arg("step"), py::arg("maximize") = false, "In-place Adagrad update.");
  m.def("adadelta_step", &adadelta_step, py::arg("param"), py::arg("square_avg"), py::arg("acc_delta"),
        py::arg("grad"), py::kw_only(), py::arg("lr") = 1.0, py::arg("rho") = 0.9, py::arg("eps") = 1e-6,
        py::arg("weight_decay") = 0.0, py::arg("maximize") = false, "In-place Adadelta update.");
}

}  // namespace nerve::bind

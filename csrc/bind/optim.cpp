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

// param (float32/float64, the dtype and shape source), its state arrays and
// grad_param: every one C-contiguous and like param, the writes writable, and
// no two overlapping (the kernels take them all as __restrict pointers).
struct StepArgs {
  Args args;
  std::vector<Arg> a;  // param first, grad_param last

  StepArgs(const char* op, std::initializer_list<std::pair<const char*, const py::object*>> state,
           const py::object& param, const py::object& grad_param)
      : args(op) {
    a.reserve(state.size() + 2);
    a.push_back(args.output(param, "param"));
    for (auto [name, o] : state) a.push_back(args.optional_output(*o, name));
    a.push_back(args.input(grad_param, "grad_param"));
    a.front().floating();
    for (const Arg& x : a) x.dtype(a.front().dtype()).same_shape(a.front());
    std::vector<const Arg*> all;
    for (const Arg& x : a) all.push_back(&x);
    all_apart(all);
  }
  const Arg& operator[](size_t i) const { return a[i]; }
  int64_t n() const { return a.front().size(); }
  // Calls f(pointers...) with the typed pointers (null for None), the GIL released.
  template <class F>
  void run(F&& f) const {
    by_float(a.front().dtype(), [&](auto zero) {
      using T = decltype(zero);
      std::vector<T*> p;
      for (size_t i = 0; i + 1 < a.size(); ++i) p.push_back(a[i].out<T>());
      const T* g = a.back().in<T>();
      py::gil_scoped_release nogil;
      f(p.data(), g);
    });
  }
};

void require_state(const Arg& a, bool needed, const char* why) {
  if (a.present() != needed) a.fail("must be ", needed ? "an array" : "None", " when ", why);
}

void check_range(const char* op, const char* name, double v, double lo, double hi, bool hi_open = false) {
  const bool ok = v >= lo && (hi_open ? v < hi : v <= hi);
  NERVE_CHECK(ok, op, ": argument '", name, "' expected a value in [", lo, ", ", hi, hi_open ? ")" : "]", ", got ", v);
}

void check_nonneg(const char* op, const char* name, double v) {
  NERVE_CHECK(v >= 0 && std::isfinite(v), op, ": argument '", name, "' expected a finite value >= 0, got ", v);
}

using O = const py::object&;

void sgd_step(O param, O momentum_buffer, O grad_param, double lr, double momentum, double dampening,
              double weight_decay, bool nesterov, bool maximize, bool first_step) {
  const char* op = "sgd_step";
  const StepArgs a(op, {{"momentum_buffer", &momentum_buffer}}, param, grad_param);
  check_nonneg(op, "lr", lr);
  check_nonneg(op, "momentum", momentum);
  check_range(op, "dampening", dampening, 0, 1);
  check_nonneg(op, "weight_decay", weight_decay);
  NERVE_CHECK(!nesterov || (momentum > 0 && dampening == 0), op,
              ": nesterov momentum requires momentum > 0 and dampening = 0, got momentum ", momentum,
              " and dampening ", dampening);
  require_state(a[1], momentum != 0, momentum != 0 ? "momentum != 0" : "momentum == 0");
  const cpu::SgdOptions o{lr, momentum, dampening, weight_decay, nesterov, maximize, first_step};
  a.run([&](auto* p, auto* g) { cpu::sgd_step(p[0], p[1], g, a.n(), o); });
}

void adam_step(O param, O exp_avg, O exp_avg_sq, O max_exp_avg_sq, O grad_param, double lr, double beta1,
               double beta2, double eps, double weight_decay, int64_t step, bool decoupled, bool maximize) {
  const char* op = decoupled ? "adamw_step" : "adam_step";
  const StepArgs a(op, {{"exp_avg", &exp_avg}, {"exp_avg_sq", &exp_avg_sq}, {"max_exp_avg_sq", &max_exp_avg_sq}},
                   param, grad_param);
  require_state(a[1], true, "running Adam");
  require_state(a[2], true, "running Adam");
  check_nonneg(op, "lr", lr);
  check_range(op, "beta1", beta1, 0, 1, true);
  check_range(op, "beta2", beta2, 0, 1, true);
  check_nonneg(op, "eps", eps);
  check_nonneg(op, "weight_decay", weight_decay);
  NERVE_CHECK(step >= 1, op, ": argument 'step' expected >= 1, got ", step);
  const cpu::AdamOptions o{lr, beta1, beta2, eps, weight_decay, step, a[3].present(), decoupled, maximize};
  a.run([&](auto* p, auto* g) { cpu::adam_step(p[0], p[1], p[2], p[3], g, a.n(), o); });
}

void rmsprop_step(O param, O square_avg, O grad_avg, O momentum_buffer, O grad_param, double lr, double alpha,
                  double eps, double weight_decay, double momentum, bool maximize) {
  const char* op = "rmsprop_step";
  const StepArgs a(op, {{"square_avg", &square_avg}, {"grad_avg", &grad_avg}, {"momentum_buffer", &momentum_buffer}},
                   param, grad_param);
  require_state(a[1], true, "running RMSprop");
  check_nonneg(op, "lr", lr);
  check_range(op, "alpha", alpha, 0, 1);
  check_nonneg(op, "eps", eps);
  check_nonneg(op, "weight_decay", weight_decay);
  check_nonneg(op, "momentum", momentum);
  require_state(a[3], momentum != 0, momentum != 0 ? "momentum != 0" : "momentum == 0");
  const cpu::RmspropOptions o{lr, alpha, eps, weight_decay, momentum, a[2].present(), maximize};
  a.run([&](auto* p, auto* g) { cpu::rmsprop_step(p[0], p[1], p[2], p[3], g, a.n(), o); });
}

void adagrad_step(O param, O state_sum, O grad_param, double lr, double lr_decay, double eps, double weight_decay,
                  int64_t step, bool maximize) {
  const char* op = "adagrad_step";
  const StepArgs a(op, {{"state_sum", &state_sum}}, param, grad_param);
  require_state(a[1], true, "running Adagrad");
  check_nonneg(op, "lr", lr);
  check_nonneg(op, "lr_decay", lr_decay);
  check_nonneg(op, "eps", eps);
  check_nonneg(op, "weight_decay", weight_decay);
  NERVE_CHECK(step >= 1, op, ": argument 'step' expected >= 1, got ", step);
  const cpu::AdagradOptions o{lr, lr_decay, eps, weight_decay, step, maximize};
  a.run([&](auto* p, auto* g) { cpu::adagrad_step(p[0], p[1], g, a.n(), o); });
}

void adadelta_step(O param, O square_avg, O acc_delta, O grad_param, double lr, double rho, double eps,
                   double weight_decay, bool maximize) {
  const char* op = "adadelta_step";
  const StepArgs a(op, {{"square_avg", &square_avg}, {"acc_delta", &acc_delta}}, param, grad_param);
  require_state(a[1], true, "running Adadelta");
  require_state(a[2], true, "running Adadelta");
  check_nonneg(op, "lr", lr);
  check_range(op, "rho", rho, 0, 1);
  check_nonneg(op, "eps", eps);
  check_nonneg(op, "weight_decay", weight_decay);
  const cpu::AdadeltaOptions o{lr, rho, eps, weight_decay, maximize};
  a.run([&](auto* p, auto* g) { cpu::adadelta_step(p[0], p[1], p[2], g, a.n(), o); });
}

}  // namespace

void bind_optim(py::module_& m) {
  m.def("sgd_step", &sgd_step, py::arg("param"), py::arg("momentum_buffer"), py::arg("grad_param"), py::kw_only(),
        py::arg("lr"), py::arg("momentum") = 0.0, py::arg("dampening") = 0.0, py::arg("weight_decay") = 0.0,
        py::arg("nesterov") = false, py::arg("maximize") = false, py::arg("first_step") = false,
        "In-place SGD update of param (and momentum_buffer, None when momentum == 0).");
  m.def("adam_step", &adam_step, py::arg("param"), py::arg("exp_avg"), py::arg("exp_avg_sq"),
        py::arg("max_exp_avg_sq"), py::arg("grad_param"), py::kw_only(), py::arg("lr"), py::arg("beta1") = 0.9,
        py::arg("beta2") = 0.999, py::arg("eps") = 1e-8, py::arg("weight_decay") = 0.0, py::arg("step"),
        py::arg("decoupled") = false, py::arg("maximize") = false,
        "In-place Adam (decoupled=False) or AdamW (decoupled=True) update; amsgrad when max_exp_avg_sq is an array.");
  m.def("rmsprop_step", &rmsprop_step, py::arg("param"), py::arg("square_avg"), py::arg("grad_avg"),
        py::arg("momentum_buffer"), py::arg("grad_param"), py::kw_only(), py::arg("lr"), py::arg("alpha") = 0.99,
        py::arg("eps") = 1e-8, py::arg("weight_decay") = 0.0, py::arg("momentum") = 0.0, py::arg("maximize") = false,
        "In-place RMSprop update; centered when grad_avg is an array.");
  m.def("adagrad_step", &adagrad_step, py::arg("param"), py::arg("state_sum"), py::arg("grad_param"), py::kw_only(),
        py::arg("lr"), py::arg("lr_decay") = 0.0, py::arg("eps") = 1e-10, py::arg("weight_decay") = 0.0,
        py::arg("step"), py::arg("maximize") = false, "In-place Adagrad update.");
  m.def("adadelta_step", &adadelta_step, py::arg("param"), py::arg("square_avg"), py::arg("acc_delta"),
        py::arg("grad_param"), py::kw_only(), py::arg("lr") = 1.0, py::arg("rho") = 0.9, py::arg("eps") = 1e-6,
        py::arg("weight_decay") = 0.0, py::arg("maximize") = false, "In-place Adadelta update.");
}

}  // namespace nerve::bind

// CUDA bindings for the optimizer family: the checks of contract/optim.h (as
// bind/optim.cpp), then the fused step launchers of cuda/optim.h.
#include "cuda/optim.h"

#include <utility>
#include <vector>

#include "bind/cuda.h"
#include "bind/optim.h"
#include "contract/optim.h"

namespace nerve::bind {
namespace {

using StepArgs = OptimStepArgs<CudaArgs>;

using O = const py::object&;
using S = cuda::Stream;

void sgd_step(O param, O momentum_buffer, O grad_param, double lr, double momentum, double dampening,
              double weight_decay, bool nesterov, bool maximize, bool first_step, S stream) {
  const StepArgs a("sgd_step", {{"momentum_buffer", &momentum_buffer}}, param, grad_param);
  const SgdOptions o = check_sgd(a.a, lr, momentum, dampening, weight_decay, nesterov, maximize, first_step);
  a.run([&](auto* p, auto* g) { cuda::sgd_step(p[0], p[1], g, a.n(), o, stream); });
}

void adam_step(O param, O exp_avg, O exp_avg_sq, O max_exp_avg_sq, O grad_param, double lr, double beta1,
               double beta2, double eps, double weight_decay, int64_t step, bool decoupled, bool maximize, S stream) {
  const StepArgs a(decoupled ? "adamw_step" : "adam_step",
                   {{"exp_avg", &exp_avg}, {"exp_avg_sq", &exp_avg_sq}, {"max_exp_avg_sq", &max_exp_avg_sq}}, param,
                   grad_param);
  const AdamOptions o = check_adam(a.a, lr, beta1, beta2, eps, weight_decay, step, decoupled, maximize);
  a.run([&](auto* p, auto* g) { cuda::adam_step(p[0], p[1], p[2], p[3], g, a.n(), o, stream); });
}

void rmsprop_step(O param, O square_avg, O grad_avg, O momentum_buffer, O grad_param, double lr, double alpha,
                  double eps, double weight_decay, double momentum, bool maximize, S stream) {
  const StepArgs a("rmsprop_step",
                   {{"square_avg", &square_avg}, {"grad_avg", &grad_avg}, {"momentum_buffer", &momentum_buffer}},
                   param, grad_param);
  const RmspropOptions o = check_rmsprop(a.a, lr, alpha, eps, weight_decay, momentum, maximize);
  a.run([&](auto* p, auto* g) { cuda::rmsprop_step(p[0], p[1], p[2], p[3], g, a.n(), o, stream); });
}

void adagrad_step(O param, O state_sum, O grad_param, double lr, double lr_decay, double eps, double weight_decay,
                  int64_t step, bool maximize, S stream) {
  const StepArgs a("adagrad_step", {{"state_sum", &state_sum}}, param, grad_param);
  const AdagradOptions o = check_adagrad(a.a, lr, lr_decay, eps, weight_decay, step, maximize);
  a.run([&](auto* p, auto* g) { cuda::adagrad_step(p[0], p[1], g, a.n(), o, stream); });
}

void adadelta_step(O param, O square_avg, O acc_delta, O grad_param, double lr, double rho, double eps,
                   double weight_decay, bool maximize, S stream) {
  const StepArgs a("adadelta_step", {{"square_avg", &square_avg}, {"acc_delta", &acc_delta}}, param, grad_param);
  const AdadeltaOptions o = check_adadelta(a.a, lr, rho, eps, weight_decay, maximize);
  a.run([&](auto* p, auto* g) { cuda::adadelta_step(p[0], p[1], p[2], g, a.n(), o, stream); });
}

}  // namespace

void bind_optim_cuda(py::module_& m) {
  m.def("sgd_step", &sgd_step, py::arg("param"), py::arg("momentum_buffer"), py::arg("grad_param"), py::kw_only(),
        py::arg("lr"), py::arg("momentum") = 0.0, py::arg("dampening") = 0.0, py::arg("weight_decay") = 0.0,
        py::arg("nesterov") = false, py::arg("maximize") = false, py::arg("first_step") = false, stream_arg(),
        "In-place SGD update of param (and momentum_buffer, None when momentum == 0).");
  m.def("adam_step", &adam_step, py::arg("param"), py::arg("exp_avg"), py::arg("exp_avg_sq"),
        py::arg("max_exp_avg_sq"), py::arg("grad_param"), py::kw_only(), py::arg("lr"), py::arg("beta1") = 0.9,
        py::arg("beta2") = 0.999, py::arg("eps") = 1e-8, py::arg("weight_decay") = 0.0, py::arg("step"),
        py::arg("decoupled") = false, py::arg("maximize") = false, stream_arg(),
        "In-place Adam (decoupled=False) or AdamW (decoupled=True) update; amsgrad when max_exp_avg_sq is an array.");
  m.def("rmsprop_step", &rmsprop_step, py::arg("param"), py::arg("square_avg"), py::arg("grad_avg"),
        py::arg("momentum_buffer"), py::arg("grad_param"), py::kw_only(), py::arg("lr"), py::arg("alpha") = 0.99,
        py::arg("eps") = 1e-8, py::arg("weight_decay") = 0.0, py::arg("momentum") = 0.0, py::arg("maximize") = false,
        stream_arg(), "In-place RMSprop update; centered when grad_avg is an array.");
  m.def("adagrad_step", &adagrad_step, py::arg("param"), py::arg("state_sum"), py::arg("grad_param"), py::kw_only(),
        py::arg("lr"), py::arg("lr_decay") = 0.0, py::arg("eps") = 1e-10, py::arg("weight_decay") = 0.0,
        py::arg("step"), py::arg("maximize") = false, stream_arg(), "In-place Adagrad update.");
  m.def("adadelta_step", &adadelta_step, py::arg("param"), py::arg("square_avg"), py::arg("acc_delta"),
        py::arg("grad_param"), py::kw_only(), py::arg("lr") = 1.0, py::arg("rho") = 0.9, py::arg("eps") = 1e-6,
        py::arg("weight_decay") = 0.0, py::arg("maximize") = false, stream_arg(), "In-place Adadelta update.");
}

}  // namespace nerve::bind

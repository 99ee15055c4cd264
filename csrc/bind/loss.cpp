// Bindings for the loss family: checks only, no math; the checks are the
// family's contract (contract/loss.h), shared with nerve._cuda.
#include "cpu/loss.h"

#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

void cross_entropy_forward(const py::object& loss_, const py::object& lse_, const py::object& logits_,
                           const py::object& target_, const py::object& weight_, int64_t ignore_index,
                           double label_smoothing) {
  const Args args("cross_entropy_forward");
  const Arg logits = args.input(logits_, "logits"), target = args.input(target_, "target"),
            weight = args.optional_input(weight_, "weight");
  const Arg loss = args.output(loss_, "loss"), lse = args.output(lse_, "lse");
  const CrossEntropy n =
      check_cross_entropy_forward(loss, lse, logits, target, weight, ignore_index, label_smoothing);
  by_float(logits.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::cross_entropy_forward<T>(loss.out<T>(), lse.out<double>(), logits.in<T>(), target.in<int64_t>(),
                                  weight.in<T>(), n.N, n.C, ignore_index, label_smoothing);
  });
}

void cross_entropy_backward(const py::object& grad_logits_, const py::object& grad_loss_, const py::object& logits_,
                            const py::object& lse_, const py::object& target_, const py::object& weight_,
                            int64_t ignore_index, double label_smoothing) {
  const Args args("cross_entropy_backward");
  const Arg grad_loss = args.input(grad_loss_, "grad_loss"), logits = args.input(logits_, "logits"),
            lse = args.input(lse_, "lse"), target = args.input(target_, "target"),
            weight = args.optional_input(weight_, "weight");
  const Arg grad_logits = args.output(grad_logits_, "grad_logits");
  const CrossEntropy n = check_cross_entropy_backward(grad_logits, grad_loss, logits, lse, target, weight,
                                                      ignore_index, label_smoothing);
  by_float(logits.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::cross_entropy_backward<T>(grad_logits.out<T>(), grad_loss.in<T>(), logits.in<T>(), lse.in<double>(),
                                   target.in<int64_t>(), weight.in<T>(), n.N, n.C, ignore_index, label_smoothing);
  });
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

// Bindings for the loss family: checks only, no math. Arrays are C-contiguous:
// logits (N, C) float32/float64, target (N,) int64, weight (C,) or None, and
// lse (N,) float64 whatever the logits' dtype.
#include "cpu/loss.h"

#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

struct CrossEntropy {
  int64_t N = 0, C = 0;
};

// Checks logits, target (values in [0, C) or ignore_index), weight,
// label_smoothing in [0, 1], and every (N,) array in `rows` (logits' dtype).
CrossEntropy check_cross_entropy(const Arg& logits, const Arg& target, const Arg& weight, const Arg& lse,
                                 int64_t ignore_index, double label_smoothing, std::initializer_list<const Arg*> rows) {
  logits.floating().ndim(2);
  CrossEntropy n{logits.dim(0), logits.dim(1)};
  if (n.C < 1 && n.N != 0) logits.fail("needs at least one class, got shape ", logits.shape_str());
  NERVE_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, logits.op(),
              ": argument 'label_smoothing' expected a value in [0, 1], got ", label_smoothing);
  for (const Arg* a : rows) a->dtype(logits.dtype()).shape({{"N", n.N}});
  weight.dtype(logits.dtype()).shape({{"C", n.C}});
  lse.dtype(dtype_of<double>()).shape({{"N", n.N}});
  target.dtype(dtype_of<int64_t>()).shape({{"N", n.N}});
  const int64_t* t = target.in<int64_t>();
  const int64_t bad = first_outside(t, n.N, 0, n.C, ignore_index);
  if (bad >= 0)
    target.fail("has class index ", t[bad], " at position ", bad, ", expected a value in [0, ", n.C,
                ") or ignore_index=", ignore_index);
  return n;
}

void cross_entropy_forward(const py::object& loss_, const py::object& lse_, const py::object& logits_,
                           const py::object& target_, const py::object& weight_, int64_t ignore_index,
                           double label_smoothing) {
  const Args args("cross_entropy_forward");
  const Arg logits = args.input(logits_, "logits"), target = args.input(target_, "target"),
            weight = args.optional_input(weight_, "weight");
  const Arg loss = args.output(loss_, "loss"), lse = args.output(lse_, "lse");
  const CrossEntropy n = check_cross_entropy(logits, target, weight, lse, ignore_index, label_smoothing, {&loss});
  apart({&loss, &lse}, {&logits, &target, &weight});
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
  const CrossEntropy n =
      check_cross_entropy(logits, target, weight, lse, ignore_index, label_smoothing, {&grad_loss});
  grad_logits.dtype(logits.dtype()).shape({{"N", n.N}, {"C", n.C}});
  apart({&grad_logits}, {&logits, &target, &weight, &grad_loss, &lse});
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

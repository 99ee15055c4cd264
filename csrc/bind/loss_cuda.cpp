// CUDA bindings for the loss family: the checks of contract/loss.h (as
// bind/loss.cpp; target values are checked by the kernel, see cuda/loss.h),
// then the launchers of cuda/loss.h.
#include "cuda/loss.h"

#include "bind/cuda.h"
#include "contract/loss.h"

namespace nerve::bind {
namespace {

using O = const py::object&;

void cross_entropy_forward(O loss_, O lse_, O logits_, O target_, O weight_, int64_t ignore_index,
                           double label_smoothing, cuda::Stream stream) {
  const CudaArgs args("cross_entropy_forward");
  const Arg logits = args.input(logits_, "logits"), target = args.input(target_, "target"),
            weight = args.optional_input(weight_, "weight");
  const Arg loss = args.output(loss_, "loss"), lse = args.output(lse_, "lse");
  const CrossEntropy p =
      check_cross_entropy_forward(loss, lse, logits, target, weight, ignore_index, label_smoothing);
  by_float(logits.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cuda::cross_entropy_forward<T>(loss.out<T>(), lse.out<double>(), logits.in<T>(), target.in<int64_t>(),
                                   weight.in<T>(), p, stream);
  });
}

void cross_entropy_backward(O grad_logits_, O grad_loss_, O logits_, O lse_, O target_, O weight_,
                            int64_t ignore_index, double label_smoothing, cuda::Stream stream) {
  const CudaArgs args("cross_entropy_backward");
  const Arg grad_loss = args.input(grad_loss_, "grad_loss"), logits = args.input(logits_, "logits"),
            lse = args.input(lse_, "lse"), target = args.input(target_, "target"),
            weight = args.optional_input(weight_, "weight");
  const Arg grad_logits = args.output(grad_logits_, "grad_logits");
  const CrossEntropy p = check_cross_entropy_backward(grad_logits, grad_loss, logits, lse, target, weight,
                                                      ignore_index, label_smoothing);
  by_float(logits.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cuda::cross_entropy_backward<T>(grad_logits.out<T>(), grad_loss.in<T>(), logits.in<T>(), lse.in<double>(),
                                    target.in<int64_t>(), weight.in<T>(), p, stream);
  });
}

}  // namespace

void bind_loss_cuda(py::module_& m) {
  m.def("cross_entropy_forward", &cross_entropy_forward, py::arg("loss"), py::arg("lse"), py::arg("logits"),
        py::arg("target"), py::arg("weight") = py::none(), py::arg("ignore_index") = -100,
        py::arg("label_smoothing") = 0.0, py::kw_only(), stream_arg(),
        "Per-row softmax cross-entropy loss (N,) and float64 log-sum-exp lse (N,) of logits (N, C) with int64 target (N,).");
  m.def("cross_entropy_backward", &cross_entropy_backward, py::arg("grad_logits"), py::arg("grad_loss"),
        py::arg("logits"), py::arg("lse"), py::arg("target"), py::arg("weight") = py::none(),
        py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0, py::kw_only(), stream_arg(),
        "grad_logits (N, C) from the per-row loss gradient grad_loss (N,) and the forward's lse.");
}

}  // namespace nerve::bind

// CUDA bindings for the GEMM family: the checks of contract/gemm.h (as
// bind/gemm.cpp), then the launcher of cuda/gemm.h.
#include "cuda/gemm.h"

#include <string>

#include "bind/cuda.h"
#include "contract/gemm.h"

namespace nerve::bind {
namespace {

using O = const py::object&;

void gemm(O out_, O a_, O b_, bool trans_a, bool trans_b, double alpha, double beta, O bias_,
          const std::string& activation, bool prepack_b, bool allow_tf32, cuda::Stream stream) {
  const CudaArgs args("gemm");
  const int act = gemm_activation(activation);
  const Arg a = args.strided(a_, "a"), b = args.strided(b_, "b"), out = args.strided_output(out_, "out");
  const Arg bias = args.optional_input(bias_, "bias");
  // prepack_b is accepted for the CPU's signature: the GPU kernels need no packing.
  const GemmProblem p = check_gemm(out, a, b, bias, trans_a, trans_b, prepack_b);
  if (p.empty()) return;
  by_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cuda::gemm_batched<T>(p.batch, p.ta, p.tb, p.M, p.N, p.K, static_cast<T>(alpha), a.in<T>(), p.lda, p.sa,
                          b.in<T>(), p.ldb, p.sb, static_cast<T>(beta), out.out<T>(), p.ldc, p.sc, bias.in<T>(), act,
                          allow_tf32, stream);
  });
}

}  // namespace

void bind_gemm_cuda(py::module_& m) {
  m.def("gemm", &gemm, py::arg("out"), py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0, py::arg("beta") = 0.0, py::arg("bias") = py::none(),
        py::arg("activation") = "none", py::arg("prepack_b") = false, py::kw_only(), py::arg("allow_tf32") = false,
        stream_arg(),
        "out = act(alpha * op(a) @ op(b) + beta * out + bias), as nerve._C.gemm (float32/float64; 2-D or batched\n"
        "3-D operands, a 2-D one shared by the batch; bias: (N,) or None; activation: 'none', 'relu', 'gelu',\n"
        "'gelu_tanh'; prepack_b accepted and ignored). allow_tf32: float32 on the TF32 tensor cores\n"
        "(torch.backends.cuda.matmul.allow_tf32), else the fp32 SIMT kernel.");
}

}  // namespace nerve::bind

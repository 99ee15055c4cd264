// Bindings for the GEMM family: checks only, no math.
#include "cpu/gemm.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "bind/array.h"
#include "contract/gemm.h"
#include "bind/bind.h"
#include "common/cpu_features.h"

namespace nerve::bind {
namespace {

// out = alpha * op(a) @ op(b) + beta * out, with op = transpose when trans_*.
// 2-D operands, or 3-D for a batch (a 2-D operand is shared by every batch).
// bias (optional): 1-D, N elements, added to every row; then the activation.
// dtypes: a, b, out (and bias) all float32 or all float64; or a and b
// bfloat16 (ml_dtypes) with out float32 or bfloat16 and bias float32 or
// bfloat16 (float32 accumulation: cpu::gemm_bf16_batched).
void gemm(const py::object& out_, const py::object& a_, const py::object& b_, bool trans_a, bool trans_b,
          double alpha, double beta, const py::object& bias_, const std::string& activation, bool prepack_b) {
  const Args args("gemm");
  const cpu::Activation act = static_cast<cpu::Activation>(gemm_activation(activation));
  const Arg a = args.strided(a_, "a"), b = args.strided(b_, "b"), out = args.strided_output(out_, "out");
  const Arg bias = args.optional_input(bias_, "bias");
  const GemmProblem p = check_gemm(out, a, b, bias, trans_a, trans_b, prepack_b);
  if (p.empty()) return;
  const bool ta = p.ta, tb = p.tb;
  const int64_t M = p.M, N = p.N, K = p.K, batch = p.batch, sa = p.sa, sb = p.sb, sc = p.sc;
  const bool bf = a.dtype() == kBFloat16;
  if (bf) {  // prepack_b is an optimisation the bf16 kernels do not need: same result without it
    const bf16 *pa = a.in<bf16>(), *pb = b.in<bf16>();
    std::vector<float> bias32;
    const float* pbias = nullptr;
    if (bias && bias.dtype() == kBFloat16) {
      bias32.resize(N);
      cpu::float32_from_bf16(bias32.data(), bias.in<bf16>(), N);
      pbias = bias32.data();
    } else {
      pbias = bias.in<float>();
    }
    const cpu::Epilogue<float> epilogue{pbias, act};
    const bool out_bf16 = out.dtype() == kBFloat16;
    void* pc = out_bf16 ? static_cast<void*>(out.out<bf16>()) : static_cast<void*>(out.out<float>());
    py::gil_scoped_release nogil;
    if (out_bf16)
      cpu::gemm_bf16_batched(batch, ta, tb, M, N, K, static_cast<float>(alpha), pa, p.lda, sa, pb, p.ldb, sb,
                             static_cast<float>(beta), static_cast<bf16*>(pc), p.ldc, sc, epilogue);
    else
      cpu::gemm_bf16_batched(batch, ta, tb, M, N, K, static_cast<float>(alpha), pa, p.lda, sa, pb, p.ldb, sb,
                             static_cast<float>(beta), static_cast<float*>(pc), p.ldc, sc, epilogue);
    return;
  }
  by_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T *pa = a.in<T>(), *pb = b.in<T>();
    T* pc = out.out<T>();
    const cpu::Epilogue<T> epilogue{bias.in<T>(), act};
    py::gil_scoped_release nogil;
    if (prepack_b) {  // one packed B shared by every matrix of the batch
      const cpu::PackedB<T> packed = cpu::pack_b<T>(tb, K, N, pb, p.ldb);
      for (int64_t i = 0; i < batch; ++i)
        cpu::gemm_packed<T>(ta, M, static_cast<T>(alpha), pa + i * sa, p.lda, packed, static_cast<T>(beta),
                            pc + i * sc, p.ldc, epilogue);
      return;
    }
    cpu::gemm_batched<T>(batch, ta, tb, M, N, K, static_cast<T>(alpha), pa, p.lda, sa, pb, p.ldb, sb,
                         static_cast<T>(beta), pc, p.ldc, sc, epilogue);
  });
}

}  // namespace

void bind_gemm(py::module_& m) {
  m.def("gemm", &gemm, py::arg("out"), py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0, py::arg("beta") = 0.0, py::arg("bias") = py::none(),
        py::arg("activation") = "none", py::arg("prepack_b") = false,
        "out = act(alpha * op(a) @ op(b) + beta * out + bias) (float32/float64; 2-D or batched 3-D operands;\n"
        "or a, b bfloat16 (ml_dtypes) with out float32/bfloat16, bias float32/bfloat16, float32 accumulation;\n"
        "bias: (N,) or None; activation: 'none', 'relu', 'gelu' (erf), 'gelu_tanh').\n"
        "prepack_b: pack op(b) (2-D) once and run every product of the batch on it (cpu::gemm_packed).");
  m.def("amx_status", [] { return std::string(amx_status()); },
        "'granted' when the AMX tile state is usable by this process, else why not (CPUID, XCR0, arch_prctl).");
  m.def("amx_permission_requests", [] { return amx_permission_requests(); },
        "How many times this process asked Linux for the AMX tile state (arch_prctl): 0 or 1.");
  m.def(
      "peak_gflops",
      [](const std::string& dtype, int threads) {
        NERVE_CHECK(dtype == "float32" || dtype == "float64",
                    "peak_gflops: argument 'dtype' expected 'float32' or 'float64', got '", dtype, "'");
        NERVE_CHECK(threads >= 1, "peak_gflops: argument 'threads' expected >= 1, got ", threads);
        py::gil_scoped_release nogil;
        return cpu::peak_gflops(dtype == "float64", threads);
      },
      py::arg("dtype") = "float32", py::arg("threads") = 1,
      "Measured FMA peak (GFLOP/s) of the current ISA on `threads` threads (register-only loop, ~0.1 s).");
}

}  // namespace nerve::bind

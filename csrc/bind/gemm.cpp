// Bindings for the GEMM family: checks only, no math.
#include "cpu/gemm.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "bind/array.h"
#include "bind/bind.h"
#include "common/cpu_features.h"

namespace nerve::bind {
namespace {

cpu::Activation activation_from_name(const std::string& name) {
  if (name == "none") return cpu::Activation::none;
  if (name == "relu") return cpu::Activation::relu;
  if (name == "gelu") return cpu::Activation::gelu;
  if (name == "gelu_tanh") return cpu::Activation::gelu_tanh;
  NERVE_CHECK(false, "gemm: argument 'activation' expected one of 'none', 'relu', 'gelu', 'gelu_tanh', got '", name,
              "'");
  return cpu::Activation::none;
}

// out = alpha * op(a) @ op(b) + beta * out, with op = transpose when trans_*.
// 2-D operands, or 3-D for a batch (a 2-D operand is shared by every batch).
// bias (optional): 1-D, N elements, added to every row; then the activation.
// dtypes: a, b, out (and bias) all float32 or all float64; or a and b
// bfloat16 (ml_dtypes) with out float32 or bfloat16 and bias float32 or
// bfloat16 (float32 accumulation: cpu::gemm_bf16_batched).
void gemm(const py::object& out_, const py::object& a_, const py::object& b_, bool trans_a, bool trans_b,
          double alpha, double beta, const py::object& bias_, const std::string& activation, bool prepack_b) {
  const Args args("gemm");
  const cpu::Activation act = activation_from_name(activation);
  const Arg a = args.strided(a_, "a"), b = args.strided(b_, "b"), out = args.strided_output(out_, "out");
  const Arg bias = args.optional_input(bias_, "bias");
  const bool bf = a.dtype() == kBFloat16 || b.dtype() == kBFloat16;
  if (bf) {
    same_dtype({&a, &b});
    if (out.dtype() != kBFloat16 && out.dtype() != dtype_of<float>())
      out.fail("expected dtype float32 or bfloat16 (a and b are bfloat16), got ", dtype_name(out.dtype()));
    if (bias && bias.dtype() != kBFloat16 && bias.dtype() != dtype_of<float>())
      bias.fail("expected dtype float32 or bfloat16 (a and b are bfloat16), got ", dtype_name(bias.dtype()));
  } else {
    same_dtype({&a, &b, &out});
    a.floating();
  }
  const MatrixView va = matrix_view(a), vb = matrix_view(b), vc = matrix_view(out);
  if (vc.transposed && vc.rows > 1 && vc.cols > 1) out.fail("must have contiguous rows");
  const bool ta = trans_a != va.transposed, tb = trans_b != vb.transposed;
  const int64_t M = trans_a ? va.cols : va.rows, K = trans_a ? va.rows : va.cols;
  const int64_t Kb = trans_b ? vb.cols : vb.rows, N = trans_b ? vb.rows : vb.cols;
  if (K != Kb)
    b.fail("expected ", (trans_b ? "shape (N, K=" : "shape (K="), K, trans_b ? ")" : ", N)", " to match a's K=", K,
           ", got ", b.shape_str());
  // A 2-D operand counts as batch 1 and is shared; the batch comes from a 3-D one.
  const int64_t batch = a.ndim() == 3 ? va.batch : b.ndim() == 3 ? vb.batch : vc.batch;
  if (va.batch != batch && a.ndim() != 2) a.fail("has batch ", va.batch, ", expected ", batch);
  if (vb.batch != batch && b.ndim() != 2) b.fail("has batch ", vb.batch, ", expected ", batch);
  if (vc.rows != M || vc.cols != N || vc.batch != batch)
    out.fail("expected shape ",
             batch > 1 || out.ndim() == 3 ? concat("(", batch, ", ", M, ", ", N, ")") : concat("(", M, ", ", N, ")"),
             ", got ", out.shape_str());
  // Rows of `out` must not overlap (we write them).
  if (vc.ld < N && M > 1) out.fail("has overlapping rows");
  // Nor its batches (a zero batch stride would also race between threads).
  const bool empty_out = M == 0 || N == 0;
  if (out.ndim() == 3 && batch > 1 && !empty_out && std::abs(vc.batch_stride) < (M - 1) * vc.ld + N)
    out.fail("has overlapping batches (batch stride ", vc.batch_stride, " elements)");
  if (!bf) bias.dtype(a.dtype());
  bias.shape({{"N", N}});
  apart({&out}, {&a, &b, &bias});
  if (prepack_b && b.ndim() != 2) b.fail("expected a 2-D matrix with prepack_b=True, got shape ", b.shape_str());
  const int64_t sa = a.ndim() == 3 ? va.batch_stride : 0, sb = b.ndim() == 3 ? vb.batch_stride : 0;
  const int64_t sc = out.ndim() == 3 ? vc.batch_stride : 0;
  if (batch == 0 || M == 0 || N == 0) return;
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
      cpu::gemm_bf16_batched(batch, ta, tb, M, N, K, static_cast<float>(alpha), pa, va.ld, sa, pb, vb.ld, sb,
                             static_cast<float>(beta), static_cast<bf16*>(pc), vc.ld, sc, epilogue);
    else
      cpu::gemm_bf16_batched(batch, ta, tb, M, N, K, static_cast<float>(alpha), pa, va.ld, sa, pb, vb.ld, sb,
                             static_cast<float>(beta), static_cast<float*>(pc), vc.ld, sc, epilogue);
    return;
  }
  by_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T *pa = a.in<T>(), *pb = b.in<T>();
    T* pc = out.out<T>();
    const cpu::Epilogue<T> epilogue{bias.in<T>(), act};
    py::gil_scoped_release nogil;
    if (prepack_b) {  // one packed B shared by every matrix of the batch
      const cpu::PackedB<T> packed = cpu::pack_b<T>(tb, K, N, pb, vb.ld);
      for (int64_t i = 0; i < batch; ++i)
        cpu::gemm_packed<T>(ta, M, static_cast<T>(alpha), pa + i * sa, va.ld, packed, static_cast<T>(beta),
                            pc + i * sc, vc.ld, epilogue);
      return;
    }
    cpu::gemm_batched<T>(batch, ta, tb, M, N, K, static_cast<T>(alpha), pa, va.ld, sa, pb, vb.ld, sb,
                         static_cast<T>(beta), pc, vc.ld, sc, epilogue);
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

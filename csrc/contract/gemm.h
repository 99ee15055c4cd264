// The GEMM family's contract, shared by both devices: the activation names and
// the argument checks of gemm(out, a, b, trans_a, trans_b, alpha, beta, bias,
// activation, prepack_b), for bind/gemm.cpp (nerve._C) and bind/gemm_cuda.cpp
// (nerve._cuda / _cuda_emu), with the same error messages.
//
// out = act(alpha * op(a) @ op(b) + beta * out + bias), op = transpose when
// trans_*; 2-D operands, or 3-D for a batch (a 2-D operand is shared by every
// batch); each operand's rows or columns contiguous (a transposed view is read
// in place); bias (optional): 1-D, N elements; out: contiguous rows, no
// overlapping rows or batches, apart from every input.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/view.h"

namespace nerve {

// Values as cpu::Activation (cpu/gemm.h) and cuda::Activation (cuda/gemm.cuh).
inline int gemm_activation(const std::string& name, const char* op = "gemm") {
  if (name == "none") return 0;
  if (name == "relu") return 1;
  if (name == "gelu") return 2;
  if (name == "gelu_tanh") return 3;
  NERVE_CHECK(false, op, ": argument 'activation' expected one of 'none', 'relu', 'gelu', 'gelu_tanh', got '", name,
              "'");
  return 0;
}

// What the kernels get: the effective transposes (the call's, flipped for a
// transposed view), sizes, leading dimensions and batch strides in elements.
struct GemmProblem {
  bool ta = false, tb = false;
  int64_t M = 0, N = 0, K = 0, batch = 0;
  int64_t lda = 0, ldb = 0, ldc = 0, sa = 0, sb = 0, sc = 0;
  bool empty() const { return batch == 0 || M == 0 || N == 0; }
};

inline GemmProblem check_gemm(const Arg& out, const Arg& a, const Arg& b, const Arg& bias, bool trans_a, bool trans_b,
                              bool prepack_b) {
  // bfloat16 a and b (fp32 accumulation) may write float32 or bfloat16 and take either bias; every
  // other dtype is one float type for all.
  const bool bf16 = a.dtype() == kBFloat16 || b.dtype() == kBFloat16;
  if (bf16) {
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
  GemmProblem p;
  p.ta = trans_a != va.transposed;
  p.tb = trans_b != vb.transposed;
  p.M = trans_a ? va.cols : va.rows;
  p.K = trans_a ? va.rows : va.cols;
  const int64_t Kb = trans_b ? vb.cols : vb.rows;
  p.N = trans_b ? vb.rows : vb.cols;
  const int64_t M = p.M, N = p.N, K = p.K;
  if (K != Kb)
    b.fail("expected ", (trans_b ? "shape (N, K=" : "shape (K="), K, trans_b ? ")" : ", N)", " to match a's K=", K,
           ", got ", b.shape_str());
  // A 2-D operand counts as batch 1 and is shared; the batch comes from a 3-D one.
  const int64_t batch = a.ndim() == 3 ? va.batch : b.ndim() == 3 ? vb.batch : vc.batch;
  p.batch = batch;
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
  if (!bf16) bias.dtype(a.dtype());
  bias.shape({{"N", N}});
  apart({&out}, {&a, &b, &bias});
  if (prepack_b && b.ndim() != 2) b.fail("expected a 2-D matrix with prepack_b=True, got shape ", b.shape_str());
  p.lda = va.ld;
  p.ldb = vb.ld;
  p.ldc = vc.ld;
  p.sa = a.ndim() == 3 ? va.batch_stride : 0;
  p.sb = b.ndim() == 3 ? vb.batch_stride : 0;
  p.sc = out.ndim() == 3 ? vc.batch_stride : 0;
  return p;
}

}  // namespace nerve

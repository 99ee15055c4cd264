// Recurrent layers: the sequence driver (GEMMs, order of steps); the fused
// cells run the ISA's copy (rnn_impl.h, common/dispatch.h). Shapes and
// semantics: rnn.h.
//
// Forward:  X W_ih^T for all T*B rows as one GEMM, written straight into the
//           reserve rows (lstm, gru) or into y (rnn); then per step one GEMM
//           h_{t-1} W_hh^T (B, G*H) and the fused cell (rnn_impl.h), which
//           adds the biases, activates, updates h and c in place (h_n, c_n
//           are the running state) and stores what backward needs.
// Backward: steps in reverse: the fused cell turns dh, dc into the gate
//           pre-activation gradients dG_t (kept for all steps), then
//           dh += dG_t W_hh (one GEMM). At the end, over all steps at once:
//           dx = dG W_ih, dW_ih = dG^T X, dW_hh = dG^T [h0; y_0..y_{T-2}]
//           (h_{t-1} = y_{t-1} on every active step, since the active steps
//           of a row are a prefix), and the bias gradients are column sums.
//           gru keeps two gradients for the n gate (through r for W_hn, not
//           for W_in): dG rows are r, z, n_h, n_i (4H), so the recurrent GEMM
//           reads r, z, n_h contiguously and the input-side GEMMs run on
//           [r, z] and [n_i] separately.
// The recurrent weight is packed once per call into the GEMM's panel layout
// (cpu::pack_b: W_hh^T for forward, W_hh for backward) and every step runs
// cpu::gemm_packed on it; repacking it at every step (as gemm does) cost
// 15-20% of the recurrent GEMM time (see gemm_impl.h).
// Workspaces: the gh rows (B, G*H) and packed W_hh^T in forward, dG (T, B,
// G*H (+H for gru)) and packed W_hh in backward, allocated per call.
//
// Measured (1 thread, float32, AMD EPYC with AVX-512, CPU time;
// bench/results/rnn-2026-11-25-packed.md): LSTM T=100 B=64 I=256 H=512:
// GEMMs at 87-107 GFLOP/s (peak ~116): forward = input GEMM ~72 ms + 100
// recurrent GEMMs ~125 ms + cells; backward = recurrent GEMMs ~126 ms +
// dx / dW_ih / dW_hh 69 + 77 + 138 ms + cells, column sums, first touch of
// the dG workspace. Against PyTorch 2.13 CPU (two runs, the machine shared):
// LSTM fwd 0.93-1.16x, fwd+bwd 0.91-1.28x; GRU fwd 1.36-4.0x, fwd+bwd
// 1.28-5.5x (> 1: faster); before packing W_hh once, LSTM fwd+bwd 0.88-1.24x,
// GRU 1.16-5.3x. What is left is GEMM speed (~85-90% of peak already) and
// per-call overheads outside the GEMMs.
#include "cpu/rnn.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "common/denormal.h"
#include "common/dispatch.h"
#include "common/parallel.h"
#include "cpu/gemm.h"

namespace nerve::cpu {
namespace {

// out[j] = sum over `rows` rows of a[r * lda + j], j < n; columns split over threads.
template <class T>
void column_sums(T* out, const T* a, int64_t rows, int64_t n, int64_t lda) {
  parallel_for(n, rows * n, [&](int64_t j0, int64_t j1) {
    std::fill(out + j0, out + j1, T(0));
    for (int64_t r = 0; r < rows; ++r) {
      const T* __restrict row = a + r * lda;
      T* __restrict o = out;
      for (int64_t j = j0; j < j1; ++j) o[j] += row[j];
    }
  });
}

}  // namespace

template <class T>
void rnn_forward(RnnMode mode, T* y, T* h_n, T* c_n, T* reserve, const T* x, const T* h0, const T* c0,
                 const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh, const int64_t* lengths, int64_t steps,
                 int64_t B, int64_t I, int64_t H) {
  DenormalGuard guard;
  const bool lstm = mode == RnnMode::lstm, gru = mode == RnnMode::gru;
  const int64_t GH = rnn_gates(mode) * H;
  std::copy(h0, h0 + B * H, h_n);
  if (lstm) std::copy(c0, c0 + B * H, c_n);
  if (steps == 0 || B == 0) return;

  // bias = b_ih + b_hh, except gru's b_hn, which goes inside r * (W_hn h + b_hn).
  std::vector<T> bias(GH + H, T(0));
  for (int64_t j = 0; j < GH; ++j) {
    const T bi = b_ih ? b_ih[j] : T(0), bh = b_hh ? b_hh[j] : T(0);
    if (gru && j >= 2 * H) {
      bias[j] = bi;
      bias[GH + j - 2 * H] = bh;
    } else {
      bias[j] = bi + bh;
    }
  }

  T* gates = (lstm || gru) ? reserve : y;  // receives X W_ih^T, then the cell's output
  const int64_t ld = (lstm || gru) ? rnn_reserve_width(mode, H) : H;
  gemm<T>(false, true, steps * B, GH, I, T(1), x, I, w_ih, I, T(0), gates, ld);
  // W_hh^T (H, G*H) packed once into the GEMM's panels; every step reuses them.
  const PackedB<T> w_hh_t = pack_b<T>(true, H, GH, w_hh, H);
  const auto step_forward = pick<RnnKernels, T>().step_forward;
  std::unique_ptr<T[]> gh(new T[B * GH]);
  for (int64_t t = 0; t < steps; ++t) {
    gemm_packed<T>(false, B, T(1), h_n, H, w_hh_t, T(0), gh.get(), GH);
    RnnStepForward<T> s{mode, B, H, gates + t * B * ld, ld, gh.get(), bias.data(), bias.data() + GH,
                        h_n,  c_n, y + t * B * H, lengths, t};
    step_forward(s);
  }
}

template <class T>
void rnn_backward(RnnMode mode, T* dx, T* dh0, T* dc0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, const T* dy,
                  const T* dh_n, const T* dc_n, const T* x, const T* h0, const T* c0, const T* w_ih, const T* w_hh,
                  const T* y, const T* reserve, const int64_t* lengths, int64_t steps, int64_t B, int64_t I,
                  int64_t H) {
  DenormalGuard guard;
  const bool lstm = mode == RnnMode::lstm, gru = mode == RnnMode::gru;
  const int64_t GH = rnn_gates(mode) * H;
  const int64_t ld = rnn_reserve_width(mode, H);
  const int64_t ld_dg = GH + (gru ? H : 0);
  const int64_t N = steps * B;  // rows of the all-steps GEMMs
  std::copy(dh_n, dh_n + B * H, dh0);
  if (lstm) std::copy(dc_n, dc_n + B * H, dc0);
  if (N == 0) {
    std::fill(dw_ih, dw_ih + GH * I, T(0));
    std::fill(dw_hh, dw_hh + GH * H, T(0));
    if (db_ih) std::fill(db_ih, db_ih + GH, T(0));
    if (db_hh) std::fill(db_hh, db_hh + GH, T(0));
    return;
  }

  std::unique_ptr<T[]> dg_buf(new T[N * ld_dg]);
  T* dg = dg_buf.get();
  const PackedB<T> w_hh_p = pack_b<T>(false, GH, H, w_hh, H);  // (G*H, H), reused by every step
  const auto step_backward = pick<RnnKernels, T>().step_backward;
  for (int64_t t = steps - 1; t >= 0; --t) {
    const T* gates = reserve ? reserve + t * B * ld : nullptr;
    const T* c_prev = !lstm ? nullptr : t ? reserve + (t - 1) * B * ld + 4 * H : c0;
    RnnStepBackward<T> s{mode, B, H, gates, ld, c_prev, t ? ld : H, y + t * B * H, t ? y + (t - 1) * B * H : h0,
                         dy + t * B * H, dh0, dc0, dg + t * B * ld_dg, ld_dg, lengths, t};
    step_backward(s);
    gemm_packed<T>(false, B, T(1), dg + t * B * ld_dg, ld_dg, w_hh_p, T(1), dh0, H);
  }

  // Recurrent weights: dW_hh = sum_t dG_t^T h_{t-1}.
  gemm<T>(true, false, GH, H, B, T(1), dg, ld_dg, h0, H, T(0), dw_hh, H);
  if (steps > 1) gemm<T>(true, false, GH, H, N - B, T(1), dg + B * ld_dg, ld_dg, y, H, T(1), dw_hh, H);
  // Bias gradients: column sums of dG. db_ih and db_hh are the same sums
  // except gru's n gate (n_i vs n_h), so each column is summed once.
  if (db_hh || db_ih) {
    T* db = db_hh ? db_hh : db_ih;
    column_sums(db, dg, N, gru ? 2 * H : GH, ld_dg);
    if (gru && db_hh) column_sums(db_hh + 2 * H, dg + 2 * H, N, H, ld_dg);
    if (db_ih && db != db_ih) std::copy(db, db + (gru ? 2 * H : GH), db_ih);
    if (gru && db_ih) column_sums(db_ih + 2 * H, dg + 3 * H, N, H, ld_dg);
  }

  if (!gru) {
    gemm<T>(false, false, N, I, GH, T(1), dg, ld_dg, w_ih, I, T(0), dx, I);
    gemm<T>(true, false, GH, I, N, T(1), dg, ld_dg, x, I, T(0), dw_ih, I);
    return;
  }
  // gru input side: gates r, z from columns [0, 2H), n from [3H, 4H).
  const T* dg_n = dg + 3 * H;
  gemm<T>(false, false, N, I, 2 * H, T(1), dg, ld_dg, w_ih, I, T(0), dx, I);
  gemm<T>(false, false, N, I, H, T(1), dg_n, ld_dg, w_ih + 2 * H * I, I, T(1), dx, I);
  gemm<T>(true, false, 2 * H, I, N, T(1), dg, ld_dg, x, I, T(0), dw_ih, I);
  gemm<T>(true, false, H, I, N, T(1), dg_n, ld_dg, x, I, T(0), dw_ih + 2 * H * I, I);
}

#define NERVE_RNN_INSTANTIATE(T)                                                                                    \
  template void rnn_forward<T>(RnnMode, T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*, const T*, \
                               const T*, const int64_t*, int64_t, int64_t, int64_t, int64_t);                       \
  template void rnn_backward<T>(RnnMode, T*, T*, T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*,        \
                                const T*, const T*, const T*, const T*, const T*, const T*, const int64_t*, int64_t, \
                                int64_t, int64_t, int64_t);
NERVE_RNN_INSTANTIATE(float)
NERVE_RNN_INSTANTIATE(double)

}  // namespace nerve::cpu

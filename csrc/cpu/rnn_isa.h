// One time step of the fused recurrent cells, compiled once per ISA (rnn.cpp,
// rnn_avx2.cpp, rnn_avx512.cpp); rnn.cpp drives the sequence and the GEMMs.
#pragma once
#include <cstdint>

#include "cpu/rnn.h"

namespace nerve::cpu {

// Forward of step t. For every row b with t < lengths[b]: reads the input
// projection from `gates` (x_t W_ih^T, no bias) and `gh` (h_{t-1} W_hh^T, no
// bias), writes the activations back into `gates` (lstm, gru: the reserve
// row; rnn: gates is y_t and receives h_t), updates the states h, c in place
// and writes y_t. Other rows keep their state and get y_t = 0.
template <class T>
struct RnnStepForward {
  RnnMode mode;
  int64_t B, H;
  T* gates;  // (B, ld) row b of step t
  int64_t ld;
  const T* gh;    // (B, G*H)
  const T* bias;  // (G*H) b_ih + b_hh (gru: b_in alone in the n part)
  const T* b_hn;  // (H) gru: b_hn (inside the reset product)
  T* h;           // (B, H) h_{t-1} in, h_t out
  T* c;           // (B, H) lstm cell state, c_{t-1} in, c_t out
  T* y;           // (B, H) y_t
  const int64_t* lengths;
  int64_t t;
};

// Backward of step t. For every active row: dh_total = dy_t + dh; writes the
// pre-activation gradients to dg (lstm, rnn: G*H columns; gru: r, z, n_h, n_i
// where n_h = dn * r is the gradient of W_hn h + b_hn and n_i the one of
// W_in x + b_in); sets dh to the part of dL/dh_{t-1} that does not go through
// W_hh (gru: dh_total * z, else 0: the caller adds dg W_hh) and dc to
// dL/dc_{t-1}. Inactive rows get dg = 0 and keep dh, dc.
template <class T>
struct RnnStepBackward {
  RnnMode mode;
  int64_t B, H;
  const T* gates;  // (B, ld) saved reserve row of step t (lstm, gru)
  int64_t ld;
  const T* c_prev;  // lstm: c_{t-1}, rows ld_c_prev apart
  int64_t ld_c_prev;
  const T* y;       // (B, H) h_t
  const T* h_prev;  // (B, H) h_{t-1}
  const T* dy;      // (B, H)
  T* dh;            // (B, H)
  T* dc;            // (B, H)
  T* dg;            // (B, ld_dg)
  int64_t ld_dg;
  const int64_t* lengths;
  int64_t t;
};

}  // namespace nerve::cpu

#define NERVE_RNN_DECLARE_ISA(ns)                                  \
  namespace nerve::cpu::ns {                                       \
  void rnn_step_forward(const RnnStepForward<float>& s);           \
  void rnn_step_forward(const RnnStepForward<double>& s);          \
  void rnn_step_backward(const RnnStepBackward<float>& s);         \
  void rnn_step_backward(const RnnStepBackward<double>& s);        \
  }

NERVE_RNN_DECLARE_ISA(generic)
NERVE_RNN_DECLARE_ISA(avx2)
NERVE_RNN_DECLARE_ISA(avx512)

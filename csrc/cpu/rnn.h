// Recurrent layers (plain RNN, LSTM, GRU): whole-sequence forward and
// backward of one layer in one direction, PyTorch's layouts and gate orders.
//
// Shapes (all C-contiguous, T = steps, B = batch, I = input, H = hidden,
// G = gates per unit: 1 rnn, 4 lstm (i, f, g, o), 3 gru (r, z, n)):
//   x (T, B, I)   h0, c0 (B, H)   w_ih (G*H, I)   w_hh (G*H, H)   b_ih, b_hh (G*H)
//   y (T, B, H)   h_n, c_n (B, H)  reserve (T, B, reserve_width(mode, H))
// c0 / c_n / dc0 / dc_n are used by lstm only (may be null otherwise); the
// biases may be null (bias=False); lengths (B) may be null (all = T).
//
// lengths: element b runs steps [0, lengths[b]); later steps keep its state
// (h_n, c_n are the states after its last step) and write y = 0, as PyTorch's
// packed sequences do. Backward ignores dy on those steps.
//
// reserve is what forward leaves for backward: lstm the activated gates
// (i, f, g, o) and the cell state c_t of every step (5H per row), gru r, z, n
// and W_hn h + b_hn (4H per row), rnn nothing (width 0: backward uses y).
//
// Backward overwrites every gradient output (no accumulation); db_ih / db_hh
// may be null. dy, dh_n (and dc_n for lstm) must be given (zeros if unused).
#pragma once
#include <cstdint>

namespace nerve::cpu {

enum class RnnMode { rnn_tanh, rnn_relu, lstm, gru };

inline int64_t rnn_gates(RnnMode mode) {
  return mode == RnnMode::lstm ? 4 : mode == RnnMode::gru ? 3 : 1;
}

inline int64_t rnn_reserve_width(RnnMode mode, int64_t H) {
  return mode == RnnMode::lstm ? 5 * H : mode == RnnMode::gru ? 4 * H : 0;
}

template <class T>
void rnn_forward(RnnMode mode, T* y, T* h_n, T* c_n, T* reserve, const T* x, const T* h0, const T* c0,
                 const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh, const int64_t* lengths, int64_t steps,
                 int64_t B, int64_t I, int64_t H);

template <class T>
void rnn_backward(RnnMode mode, T* dx, T* dh0, T* dc0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, const T* dy,
                  const T* dh_n, const T* dc_n, const T* x, const T* h0, const T* c0, const T* w_ih, const T* w_hh,
                  const T* y, const T* reserve, const int64_t* lengths, int64_t steps, int64_t B, int64_t I,
                  int64_t H);

// One time step of the fused recurrent cells, compiled once per ISA
// (rnn_impl.h; rnn.cpp drives the sequence and the GEMMs and picks the ISA's
// cells with common/dispatch.h).
//
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

template <class T>
struct RnnKernels {
  void (*step_forward)(const RnnStepForward<T>& s);
  void (*step_backward)(const RnnStepBackward<T>& s);
};

}  // namespace nerve::cpu

// Bindings for the recurrent family (rnn, lstm, gru sequences of one layer,
// one direction): checks only, no math. Shapes and semantics: cpu/rnn.h.
#include "cpu/rnn.h"

#include <string>

#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

using cpu::RnnMode;

struct Sizes {
  int64_t T, B, I, H;
};

std::string op_name(RnnMode mode, const char* suffix) {
  return std::string(mode == RnnMode::lstm ? "lstm" : mode == RnnMode::gru ? "gru" : "rnn") + suffix;
}

// The arguments both directions share: x (T, B, I) sets the dtype, w_hh
// (G*H, H) the hidden size; h0, c0 (B, H), w_ih (G*H, I), b_ih, b_hh (G*H,) or
// None, lengths int64 (B,) in [0, T] or None. c0 only for the LSTM (None otherwise).
struct Common {
  Arg x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths;
  RnnMode mode;
  Sizes s{};
  int64_t GH = 0;

  Common(const Args& args, RnnMode mode, const py::object& x_, const py::object& h0_, const py::object& c0_,
         const py::object& w_ih_, const py::object& w_hh_, const py::object& b_ih_, const py::object& b_hh_,
         const py::object& lengths_)
      : x(args.input(x_, "x")),
        h0(args.input(h0_, "h0")),
        c0(mode == RnnMode::lstm ? args.input(c0_, "c0") : Arg(args.op(), "c0")),
        w_ih(args.input(w_ih_, "w_ih")),
        w_hh(args.input(w_hh_, "w_hh")),
        b_ih(args.optional_input(b_ih_, "b_ih")),
        b_hh(args.optional_input(b_hh_, "b_hh")),
        lengths(args.optional_input(lengths_, "lengths")),
        mode(mode) {
    x.floating().ndim(3);
    w_hh.ndim(2);
    const int64_t G = cpu::rnn_gates(mode), H = w_hh.dim(1);
    NERVE_CHECK(H >= 1, args.op(), ": hidden size (w_hh.shape[1]) must be >= 1, got ", H);
    if (w_hh.dim(0) != G * H) w_hh.fail("expected shape (", G, "*H=", G * H, ", H=", H, "), got ", w_hh.shape_str());
    s = {x.dim(0), x.dim(1), x.dim(2), H};
    GH = G * H;
    for (const Arg* a : {&h0, &c0}) a->dtype(x.dtype()).shape({{"B", s.B}, {"H", s.H}});
    w_ih.dtype(x.dtype()).shape({{"G*H", GH}, {"I", s.I}});
    w_hh.dtype(x.dtype());
    for (const Arg* a : {&b_ih, &b_hh}) a->dtype(x.dtype()).shape({{"G*H", GH}});
    lengths.dtype(dtype_of<int64_t>()).shape({{"B", s.B}});
    const int64_t bad = lengths ? first_outside(lengths.in<int64_t>(), s.B, 0, s.T + 1) : -1;
    if (bad >= 0)
      lengths.fail("expected values in [0, T=", s.T, "], got ", lengths.in<int64_t>()[bad], " at index ", bad);
  }
  bool has_reserve() const { return mode == RnnMode::lstm || mode == RnnMode::gru; }
  // (T, B, H): y and its gradient; (B, H): h_n, c_n and their gradients.
  void sequence(const Arg& a, int64_t width) const {
    a.dtype(x.dtype()).shape({{"T", s.T}, {"B", s.B}, {width == s.H ? "H" : "I", width}});
  }
  void state(const Arg& a) const { a.dtype(x.dtype()).shape({{"B", s.B}, {"H", s.H}}); }
  void reserve(const Arg& a) const {
    a.dtype(x.dtype()).shape({{"T", s.T}, {"B", s.B}, {"R", cpu::rnn_reserve_width(mode, s.H)}});
  }
};

void forward(RnnMode mode, const py::object& y_, const py::object& h_n_, const py::object& c_n_,
             const py::object& reserve_, const py::object& x_, const py::object& h0_, const py::object& c0_,
             const py::object& w_ih_, const py::object& w_hh_, const py::object& b_ih_, const py::object& b_hh_,
             const py::object& lengths_) {
  const std::string op = op_name(mode, "_forward");
  const Args args(op.c_str());
  const Common in(args, mode, x_, h0_, c0_, w_ih_, w_hh_, b_ih_, b_hh_, lengths_);
  const bool lstm = mode == RnnMode::lstm;
  const Arg y = args.output(y_, "y"), h_n = args.output(h_n_, "h_n");
  const Arg c_n = lstm ? args.output(c_n_, "c_n") : Arg(args.op(), "c_n");
  const Arg reserve = in.has_reserve() ? args.output(reserve_, "reserve") : Arg(args.op(), "reserve");
  in.sequence(y, in.s.H);
  in.state(h_n);
  in.state(c_n);
  in.reserve(reserve);
  apart({&y, &h_n, &c_n, &reserve}, {&in.x, &in.h0, &in.c0, &in.w_ih, &in.w_hh, &in.b_ih, &in.b_hh, &in.lengths});
  const Sizes s = in.s;
  by_float(in.x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::rnn_forward<T>(mode, y.out<T>(), h_n.out<T>(), c_n.out<T>(), reserve.out<T>(), in.x.in<T>(), in.h0.in<T>(),
                        in.c0.in<T>(), in.w_ih.in<T>(), in.w_hh.in<T>(), in.b_ih.in<T>(), in.b_hh.in<T>(),
                        in.lengths.in<int64_t>(), s.T, s.B, s.I, s.H);
  });
}

void backward(RnnMode mode, const py::object& grad_x_, const py::object& grad_h0_, const py::object& grad_c0_,
              const py::object& grad_w_ih_, const py::object& grad_w_hh_, const py::object& grad_b_ih_,
              const py::object& grad_b_hh_, const py::object& grad_y_, const py::object& grad_h_n_,
              const py::object& grad_c_n_, const py::object& x_, const py::object& h0_, const py::object& c0_,
              const py::object& w_ih_, const py::object& w_hh_, const py::object& y_, const py::object& reserve_,
              const py::object& lengths_) {
  const std::string op = op_name(mode, "_backward");
  const Args args(op.c_str());
  const Common in(args, mode, x_, h0_, c0_, w_ih_, w_hh_, py::none(), py::none(), lengths_);
  const bool lstm = mode == RnnMode::lstm;
  const Arg y = args.input(y_, "y");
  const Arg reserve = in.has_reserve() ? args.input(reserve_, "reserve") : Arg(args.op(), "reserve");
  const Arg grad_y = args.input(grad_y_, "grad_y"), grad_h_n = args.input(grad_h_n_, "grad_h_n");
  const Arg grad_c_n = lstm ? args.input(grad_c_n_, "grad_c_n") : Arg(args.op(), "grad_c_n");
  const Arg grad_x = args.output(grad_x_, "grad_x"), grad_h0 = args.output(grad_h0_, "grad_h0");
  const Arg grad_c0 = lstm ? args.output(grad_c0_, "grad_c0") : Arg(args.op(), "grad_c0");
  const Arg grad_w_ih = args.output(grad_w_ih_, "grad_w_ih"), grad_w_hh = args.output(grad_w_hh_, "grad_w_hh");
  const Arg grad_b_ih = args.optional_output(grad_b_ih_, "grad_b_ih"),
            grad_b_hh = args.optional_output(grad_b_hh_, "grad_b_hh");
  const Sizes s = in.s;
  in.sequence(y, s.H);
  in.reserve(reserve);
  in.sequence(grad_y, s.H);
  for (const Arg* a : {&grad_h_n, &grad_c_n, &grad_h0, &grad_c0}) in.state(*a);
  in.sequence(grad_x, s.I);
  grad_w_ih.dtype(in.x.dtype()).shape({{"G*H", in.GH}, {"I", s.I}});
  grad_w_hh.dtype(in.x.dtype()).shape({{"G*H", in.GH}, {"H", s.H}});
  for (const Arg* a : {&grad_b_ih, &grad_b_hh}) a->dtype(in.x.dtype()).shape({{"G*H", in.GH}});
  apart({&grad_x, &grad_h0, &grad_c0, &grad_w_ih, &grad_w_hh, &grad_b_ih, &grad_b_hh},
        {&in.x, &in.h0, &in.c0, &in.w_ih, &in.w_hh, &in.lengths, &y, &reserve, &grad_y, &grad_h_n, &grad_c_n});
  by_float(in.x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::rnn_backward<T>(mode, grad_x.out<T>(), grad_h0.out<T>(), grad_c0.out<T>(), grad_w_ih.out<T>(),
                         grad_w_hh.out<T>(), grad_b_ih.out<T>(), grad_b_hh.out<T>(), grad_y.in<T>(), grad_h_n.in<T>(),
                         grad_c_n.in<T>(), in.x.in<T>(), in.h0.in<T>(), in.c0.in<T>(), in.w_ih.in<T>(),
                         in.w_hh.in<T>(), y.in<T>(), reserve.in<T>(), in.lengths.in<int64_t>(), s.T, s.B, s.I, s.H);
  });
}

RnnMode rnn_mode(const std::string& op, const std::string& nonlinearity) {
  if (nonlinearity == "tanh") return RnnMode::rnn_tanh;
  if (nonlinearity == "relu") return RnnMode::rnn_relu;
  NERVE_CHECK(false, op, ": argument 'nonlinearity' expected 'tanh' or 'relu', got '", nonlinearity, "'");
  return RnnMode::rnn_tanh;
}

}  // namespace

void bind_rnn(py::module_& m) {
  using O = const py::object&;
  const py::none none;
  m.def(
      "lstm_forward",
      [](O y, O h_n, O c_n, O reserve, O x, O h0, O c0, O w_ih, O w_hh, O b_ih, O b_hh, O lengths) {
        forward(RnnMode::lstm, y, h_n, c_n, reserve, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths);
      },
      py::arg("y"), py::arg("h_n"), py::arg("c_n"), py::arg("reserve"), py::arg("x"), py::arg("h0"), py::arg("c0"),
      py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih").none(true), py::arg("b_hh").none(true),
      py::arg("lengths").none(true) = none,
      "One LSTM layer over a sequence. x (T, B, I); writes y (T, B, H), h_n, c_n (B, H) and reserve (T, B, 5H).");
  m.def(
      "gru_forward",
      [](O y, O h_n, O reserve, O x, O h0, O w_ih, O w_hh, O b_ih, O b_hh, O lengths) {
        forward(RnnMode::gru, y, h_n, py::none(), reserve, x, h0, py::none(), w_ih, w_hh, b_ih, b_hh, lengths);
      },
      py::arg("y"), py::arg("h_n"), py::arg("reserve"), py::arg("x"), py::arg("h0"), py::arg("w_ih"),
      py::arg("w_hh"), py::arg("b_ih").none(true), py::arg("b_hh").none(true), py::arg("lengths").none(true) = none,
      "One GRU layer over a sequence. x (T, B, I); writes y (T, B, H), h_n (B, H) and reserve (T, B, 4H).");
  m.def(
      "rnn_forward",
      [](O y, O h_n, O x, O h0, O w_ih, O w_hh, O b_ih, O b_hh, O lengths, const std::string& nonlinearity) {
        forward(rnn_mode("rnn_forward", nonlinearity), y, h_n, py::none(), py::none(), x, h0, py::none(), w_ih, w_hh,
                b_ih, b_hh, lengths);
      },
      py::arg("y"), py::arg("h_n"), py::arg("x"), py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"),
      py::arg("b_ih").none(true), py::arg("b_hh").none(true), py::arg("lengths").none(true) = none,
      py::arg("nonlinearity") = "tanh",
      "One Elman RNN layer (tanh or relu) over a sequence. x (T, B, I); writes y (T, B, H) and h_n (B, H).");
  m.def(
      "lstm_backward",
      [](O grad_x, O grad_h0, O grad_c0, O grad_w_ih, O grad_w_hh, O grad_b_ih, O grad_b_hh, O grad_y, O grad_h_n,
         O grad_c_n, O x, O h0, O c0, O w_ih, O w_hh, O y, O reserve, O lengths) {
        backward(RnnMode::lstm, grad_x, grad_h0, grad_c0, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh, grad_y,
                 grad_h_n, grad_c_n, x, h0, c0, w_ih, w_hh, y, reserve, lengths);
      },
      py::arg("grad_x"), py::arg("grad_h0"), py::arg("grad_c0"), py::arg("grad_w_ih"), py::arg("grad_w_hh"),
      py::arg("grad_b_ih").none(true), py::arg("grad_b_hh").none(true), py::arg("grad_y"), py::arg("grad_h_n"),
      py::arg("grad_c_n"), py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("y"),
      py::arg("reserve"), py::arg("lengths").none(true) = none,
      "Gradients of lstm_forward (overwrites grad_x, grad_h0, grad_c0, grad_w_*, grad_b_*; grad_b_* may be None).");
  m.def(
      "gru_backward",
      [](O grad_x, O grad_h0, O grad_w_ih, O grad_w_hh, O grad_b_ih, O grad_b_hh, O grad_y, O grad_h_n, O x, O h0,
         O w_ih, O w_hh, O y, O reserve, O lengths) {
        backward(RnnMode::gru, grad_x, grad_h0, py::none(), grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh, grad_y,
                 grad_h_n, py::none(), x, h0, py::none(), w_ih, w_hh, y, reserve, lengths);
      },
      py::arg("grad_x"), py::arg("grad_h0"), py::arg("grad_w_ih"), py::arg("grad_w_hh"),
      py::arg("grad_b_ih").none(true), py::arg("grad_b_hh").none(true), py::arg("grad_y"), py::arg("grad_h_n"),
      py::arg("x"), py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("y"), py::arg("reserve"),
      py::arg("lengths").none(true) = none,
      "Gradients of gru_forward (overwrites grad_x, grad_h0, grad_w_*, grad_b_*; grad_b_* may be None).");
  m.def(
      "rnn_backward",
      [](O grad_x, O grad_h0, O grad_w_ih, O grad_w_hh, O grad_b_ih, O grad_b_hh, O grad_y, O grad_h_n, O x, O h0,
         O w_ih, O w_hh, O y, O lengths, const std::string& nonlinearity) {
        backward(rnn_mode("rnn_backward", nonlinearity), grad_x, grad_h0, py::none(), grad_w_ih, grad_w_hh, grad_b_ih,
                 grad_b_hh, grad_y, grad_h_n, py::none(), x, h0, py::none(), w_ih, w_hh, y, py::none(), lengths);
      },
      py::arg("grad_x"), py::arg("grad_h0"), py::arg("grad_w_ih"), py::arg("grad_w_hh"),
      py::arg("grad_b_ih").none(true), py::arg("grad_b_hh").none(true), py::arg("grad_y"), py::arg("grad_h_n"),
      py::arg("x"), py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("y"), py::arg("lengths").none(true) = none,
      py::arg("nonlinearity") = "tanh",
      "Gradients of rnn_forward (overwrites grad_x, grad_h0, grad_w_*, grad_b_*; grad_b_* may be None).");
}

}  // namespace nerve::bind

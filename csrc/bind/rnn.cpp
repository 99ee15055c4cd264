// Bindings for the recurrent family (rnn, lstm, gru sequences of one layer,
// one direction): checks only, no math. Shapes and semantics: cpu/rnn.h.
#include "cpu/rnn.h"

#include <string>

#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

using cpu::RnnMode;

// Checks one argument (None allowed only when `optional`) and returns its data
// pointer, or null for None.
template <class T>
T* arg(const py::object& o, const std::string& op, const char* name, const std::vector<int64_t>& shape,
       const std::vector<const char*>& dims, bool out, bool optional = false) {
  if (o.is_none()) {
    NERVE_CHECK(optional, op, ": argument '", name, "' must be an array, got None");
    return nullptr;
  }
  NERVE_CHECK(py::isinstance<py::array>(o), op, ": argument '", name, "' must be a numpy array, got ",
              py::str(py::type::of(o)).cast<std::string>());
  py::array a = o.cast<py::array>();
  T* p = data_as<T>(a, op.c_str(), name, out);
  check_shape(a, op.c_str(), name, shape, dims);
  check_contiguous(a, op.c_str(), name);
  return p;
}

struct Sizes {
  int64_t T, B, I, H;
};

// Sizes from x (T, B, I) and w_hh (G*H, H).
Sizes sizes(RnnMode mode, const std::string& op, const py::object& x_obj, const py::object& w_hh_obj) {
  NERVE_CHECK(py::isinstance<py::array>(x_obj), op, ": argument 'x' must be a numpy array");
  NERVE_CHECK(py::isinstance<py::array>(w_hh_obj), op, ": argument 'w_hh' must be a numpy array");
  py::array x = x_obj.cast<py::array>(), w_hh = w_hh_obj.cast<py::array>();
  check_ndim(x, op.c_str(), "x", 3);
  check_ndim(w_hh, op.c_str(), "w_hh", 2);
  const int64_t G = cpu::rnn_gates(mode), H = w_hh.shape(1);
  NERVE_CHECK(H >= 1, op, ": hidden size (w_hh.shape[1]) must be >= 1, got ", H);
  NERVE_CHECK(w_hh.shape(0) == G * H, op, ": argument 'w_hh' expected shape (", G, "*H=", G * H, ", H=", H,
              "), got ", shape_str(w_hh));
  return {x.shape(0), x.shape(1), x.shape(2), H};
}

// lengths: int64 (B,), each in [0, T]; null for None.
const int64_t* lengths_arg(const py::object& o, const std::string& op, const Sizes& s) {
  const int64_t* p = arg<int64_t>(o, op, "lengths", {s.B}, {"B"}, false, true);
  for (int64_t b = 0; p && b < s.B; ++b)
    NERVE_CHECK(p[b] >= 0 && p[b] <= s.T, op, ": argument 'lengths' expected values in [0, T=", s.T, "], got ", p[b],
                " at index ", b);
  return p;
}

std::string op_name(RnnMode mode, const char* suffix) {
  return std::string(mode == RnnMode::lstm ? "lstm" : mode == RnnMode::gru ? "gru" : "rnn") + suffix;
}

template <class T>
void forward_typed(RnnMode mode, const py::object& y, const py::object& h_n, const py::object& c_n,
                   const py::object& reserve, const py::object& x, const py::object& h0, const py::object& c0,
                   const py::object& w_ih, const py::object& w_hh, const py::object& b_ih, const py::object& b_hh,
                   const py::object& lengths) {
  const std::string op = op_name(mode, "_forward");
  const Sizes s = sizes(mode, op, x, w_hh);
  const int64_t GH = cpu::rnn_gates(mode) * s.H;
  const bool lstm = mode == RnnMode::lstm, has_reserve = lstm || mode == RnnMode::gru;
  const T* px = arg<T>(x, op, "x", {s.T, s.B, s.I}, {"T", "B", "I"}, false);
  const T* ph0 = arg<T>(h0, op, "h0", {s.B, s.H}, {"B", "H"}, false);
  const T* pc0 = lstm ? arg<T>(c0, op, "c0", {s.B, s.H}, {"B", "H"}, false) : nullptr;
  const T* pw_ih = arg<T>(w_ih, op, "w_ih", {GH, s.I}, {"G*H", "I"}, false);
  const T* pw_hh = arg<T>(w_hh, op, "w_hh", {GH, s.H}, {"G*H", "H"}, false);
  const T* pb_ih = arg<T>(b_ih, op, "b_ih", {GH}, {"G*H"}, false, true);
  const T* pb_hh = arg<T>(b_hh, op, "b_hh", {GH}, {"G*H"}, false, true);
  const int64_t* plen = lengths_arg(lengths, op, s);
  T* py_ = arg<T>(y, op, "y", {s.T, s.B, s.H}, {"T", "B", "H"}, true);
  T* ph_n = arg<T>(h_n, op, "h_n", {s.B, s.H}, {"B", "H"}, true);
  T* pc_n = lstm ? arg<T>(c_n, op, "c_n", {s.B, s.H}, {"B", "H"}, true) : nullptr;
  T* pres = has_reserve
                ? arg<T>(reserve, op, "reserve", {s.T, s.B, cpu::rnn_reserve_width(mode, s.H)}, {"T", "B", "R"}, true)
                : nullptr;
  py::gil_scoped_release nogil;
  cpu::rnn_forward<T>(mode, py_, ph_n, pc_n, pres, px, ph0, pc0, pw_ih, pw_hh, pb_ih, pb_hh, plen, s.T, s.B, s.I,
                      s.H);
}

template <class T>
void backward_typed(RnnMode mode, const py::object& dx, const py::object& dh0, const py::object& dc0,
                    const py::object& dw_ih, const py::object& dw_hh, const py::object& db_ih,
                    const py::object& db_hh, const py::object& dy, const py::object& dh_n, const py::object& dc_n,
                    const py::object& x, const py::object& h0, const py::object& c0, const py::object& w_ih,
                    const py::object& w_hh, const py::object& y, const py::object& reserve,
                    const py::object& lengths) {
  const std::string op = op_name(mode, "_backward");
  const Sizes s = sizes(mode, op, x, w_hh);
  const int64_t GH = cpu::rnn_gates(mode) * s.H;
  const bool lstm = mode == RnnMode::lstm, has_reserve = lstm || mode == RnnMode::gru;
  const T* px = arg<T>(x, op, "x", {s.T, s.B, s.I}, {"T", "B", "I"}, false);
  const T* ph0 = arg<T>(h0, op, "h0", {s.B, s.H}, {"B", "H"}, false);
  const T* pc0 = lstm ? arg<T>(c0, op, "c0", {s.B, s.H}, {"B", "H"}, false) : nullptr;
  const T* pw_ih = arg<T>(w_ih, op, "w_ih", {GH, s.I}, {"G*H", "I"}, false);
  const T* pw_hh = arg<T>(w_hh, op, "w_hh", {GH, s.H}, {"G*H", "H"}, false);
  const T* py_ = arg<T>(y, op, "y", {s.T, s.B, s.H}, {"T", "B", "H"}, false);
  const T* pres =
      has_reserve
          ? arg<T>(reserve, op, "reserve", {s.T, s.B, cpu::rnn_reserve_width(mode, s.H)}, {"T", "B", "R"}, false)
          : nullptr;
  const T* pdy = arg<T>(dy, op, "dy", {s.T, s.B, s.H}, {"T", "B", "H"}, false);
  const T* pdh_n = arg<T>(dh_n, op, "dh_n", {s.B, s.H}, {"B", "H"}, false);
  const T* pdc_n = lstm ? arg<T>(dc_n, op, "dc_n", {s.B, s.H}, {"B", "H"}, false) : nullptr;
  const int64_t* plen = lengths_arg(lengths, op, s);
  T* pdx = arg<T>(dx, op, "dx", {s.T, s.B, s.I}, {"T", "B", "I"}, true);
  T* pdh0 = arg<T>(dh0, op, "dh0", {s.B, s.H}, {"B", "H"}, true);
  T* pdc0 = lstm ? arg<T>(dc0, op, "dc0", {s.B, s.H}, {"B", "H"}, true) : nullptr;
  T* pdw_ih = arg<T>(dw_ih, op, "dw_ih", {GH, s.I}, {"G*H", "I"}, true);
  T* pdw_hh = arg<T>(dw_hh, op, "dw_hh", {GH, s.H}, {"G*H", "H"}, true);
  T* pdb_ih = arg<T>(db_ih, op, "db_ih", {GH}, {"G*H"}, true, true);
  T* pdb_hh = arg<T>(db_hh, op, "db_hh", {GH}, {"G*H"}, true, true);
  py::gil_scoped_release nogil;
  cpu::rnn_backward<T>(mode, pdx, pdh0, pdc0, pdw_ih, pdw_hh, pdb_ih, pdb_hh, pdy, pdh_n, pdc_n, px, ph0, pc0, pw_ih,
                       pw_hh, py_, pres, plen, s.T, s.B, s.I, s.H);
}

// float32 or float64, from x.
bool is_double(const std::string& op, const py::object& x) {
  NERVE_CHECK(py::isinstance<py::array>(x), op, ": argument 'x' must be a numpy array, got ",
              py::str(py::type::of(x)).cast<std::string>());
  py::array a = x.cast<py::array>();
  if (is_dtype<double>(a)) return true;
  NERVE_CHECK(is_dtype<float>(a), op, ": argument 'x' expected dtype float32 or float64, got ", dtype_str(a));
  return false;
}

RnnMode rnn_mode(const std::string& op, const std::string& nonlinearity) {
  if (nonlinearity == "tanh") return RnnMode::rnn_tanh;
  if (nonlinearity == "relu") return RnnMode::rnn_relu;
  NERVE_CHECK(false, op, ": argument 'nonlinearity' expected 'tanh' or 'relu', got '", nonlinearity, "'");
  return RnnMode::rnn_tanh;
}

void forward(RnnMode mode, const py::object& y, const py::object& h_n, const py::object& c_n,
             const py::object& reserve, const py::object& x, const py::object& h0, const py::object& c0,
             const py::object& w_ih, const py::object& w_hh, const py::object& b_ih, const py::object& b_hh,
             const py::object& lengths) {
  if (is_double(op_name(mode, "_forward"), x))
    forward_typed<double>(mode, y, h_n, c_n, reserve, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths);
  else
    forward_typed<float>(mode, y, h_n, c_n, reserve, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths);
}

void backward(RnnMode mode, const py::object& dx, const py::object& dh0, const py::object& dc0,
              const py::object& dw_ih, const py::object& dw_hh, const py::object& db_ih, const py::object& db_hh,
              const py::object& dy, const py::object& dh_n, const py::object& dc_n, const py::object& x,
              const py::object& h0, const py::object& c0, const py::object& w_ih, const py::object& w_hh,
              const py::object& y, const py::object& reserve, const py::object& lengths) {
  if (is_double(op_name(mode, "_backward"), x))
    backward_typed<double>(mode, dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dy, dh_n, dc_n, x, h0, c0, w_ih, w_hh, y,
                           reserve, lengths);
  else
    backward_typed<float>(mode, dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dy, dh_n, dc_n, x, h0, c0, w_ih, w_hh, y,
                          reserve, lengths);
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
      [](O dx, O dh0, O dc0, O dw_ih, O dw_hh, O db_ih, O db_hh, O dy, O dh_n, O dc_n, O x, O h0, O c0, O w_ih,
         O w_hh, O y, O reserve, O lengths) {
        backward(RnnMode::lstm, dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dy, dh_n, dc_n, x, h0, c0, w_ih, w_hh, y,
                 reserve, lengths);
      },
      py::arg("dx"), py::arg("dh0"), py::arg("dc0"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db_ih").none(true),
      py::arg("db_hh").none(true), py::arg("dy"), py::arg("dh_n"), py::arg("dc_n"), py::arg("x"), py::arg("h0"),
      py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("y"), py::arg("reserve"),
      py::arg("lengths").none(true) = none,
      "Gradients of lstm_forward (overwrites dx, dh0, dc0, dw_*, db_*; db_* may be None).");
  m.def(
      "gru_backward",
      [](O dx, O dh0, O dw_ih, O dw_hh, O db_ih, O db_hh, O dy, O dh_n, O x, O h0, O w_ih, O w_hh, O y, O reserve,
         O lengths) {
        backward(RnnMode::gru, dx, dh0, py::none(), dw_ih, dw_hh, db_ih, db_hh, dy, dh_n, py::none(), x, h0,
                 py::none(), w_ih, w_hh, y, reserve, lengths);
      },
      py::arg("dx"), py::arg("dh0"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db_ih").none(true),
      py::arg("db_hh").none(true), py::arg("dy"), py::arg("dh_n"), py::arg("x"), py::arg("h0"), py::arg("w_ih"),
      py::arg("w_hh"), py::arg("y"), py::arg("reserve"), py::arg("lengths").none(true) = none,
      "Gradients of gru_forward (overwrites dx, dh0, dw_*, db_*; db_* may be None).");
  m.def(
      "rnn_backward",
      [](O dx, O dh0, O dw_ih, O dw_hh, O db_ih, O db_hh, O dy, O dh_n, O x, O h0, O w_ih, O w_hh, O y, O lengths,
         const std::string& nonlinearity) {
        backward(rnn_mode("rnn_backward", nonlinearity), dx, dh0, py::none(), dw_ih, dw_hh, db_ih, db_hh, dy, dh_n,
                 py::none(), x, h0, py::none(), w_ih, w_hh, y, py::none(), lengths);
      },
      py::arg("dx"), py::arg("dh0"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db_ih").none(true),
      py::arg("db_hh").none(true), py::arg("dy"), py::arg("dh_n"), py::arg("x"), py::arg("h0"), py::arg("w_ih"),
      py::arg("w_hh"), py::arg("y"), py::arg("lengths").none(true) = none, py::arg("nonlinearity") = "tanh",
      "Gradients of rnn_forward (overwrites dx, dh0, dw_*, db_*; db_* may be None).");
}

}  // namespace nerve::bind

// Bindings for the attention family: checks only, no math.
#include "cpu/attention.h"

#include <cmath>

#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

using cpu::AttentionMask;
using cpu::AttentionSizes;
using cpu::HeadsView;
using cpu::MaskKind;

// A (B, H, rows, D) operand with a contiguous last dim, other strides free.
template <class T>
HeadsView<T> heads_view(const py::array& a, const char* op, const char* arg, int64_t B, int64_t H, int64_t rows,
                        int64_t D, const char* rows_name) {
  check_shape(a, op, arg, {B, H, rows, D}, {"B", "H", rows_name, "D"});
  const int64_t item = a.itemsize();
  for (int d = 0; d < 4; ++d)
    NERVE_CHECK(a.strides(d) % item == 0, op, ": argument '", arg, "' has a stride that is not a multiple of its itemsize");
  NERVE_CHECK(a.strides(3) == item || D <= 1 || a.size() == 0, op, ": argument '", arg,
              "' must have a contiguous last dim (D), got stride ", a.strides(3), " bytes");
  HeadsView<T> v;
  v.data = data_as<T>(const_cast<py::array&>(a), op, arg);
  v.sb = a.strides(0) / item;
  v.sh = a.strides(1) / item;
  v.sl = a.strides(2) / item;
  return v;
}

template <class T>
T* output(py::array& a, const char* op, const char* arg, const std::vector<int64_t>& shape,
          const std::vector<const char*>& names) {
  check_shape(a, op, arg, shape, names);
  check_contiguous(a, op, arg);
  return data_as<T>(a, op, arg, true);
}

// attn_mask: None, or bool / float (q's dtype) broadcastable to (B, H, L, S);
// key_mask: None, or bool broadcastable to (B, S) (True = take part).
template <class T>
AttentionMask mask_view(const py::object& m, const py::object& key_mask, const char* op, const AttentionSizes& n) {
  AttentionMask mask;
  if (!key_mask.is_none()) {
    NERVE_CHECK(py::isinstance<py::array>(key_mask), op, ": argument 'key_mask' expected a numpy array or None");
    py::array km = key_mask.cast<py::array>();
    NERVE_CHECK(km.dtype().kind() == 'b', op, ": argument 'key_mask' expected dtype bool, got ", dtype_str(km));
    NERVE_CHECK(km.ndim() == 2 && (km.shape(0) == n.B || km.shape(0) == 1) && (km.shape(1) == n.S || km.shape(1) == 1),
                op, ": argument 'key_mask' of shape ", shape_str(km), " does not broadcast to (B=", n.B, ", S=", n.S, ")");
    mask.key_keep = static_cast<const uint8_t*>(km.data());
    mask.kb = km.shape(0) == 1 ? 0 : km.strides(0);  // itemsize 1: byte strides are element strides
    mask.ks = km.shape(1) == 1 ? 0 : km.strides(1);
  }
  if (m.is_none()) return mask;
  NERVE_CHECK(py::isinstance<py::array>(m), op, ": argument 'attn_mask' expected a numpy array or None");
  py::array a = m.cast<py::array>();
  if (a.dtype().kind() == 'b') {
    mask.kind = MaskKind::boolean;
  } else {
    NERVE_CHECK(is_dtype<T>(a), op, ": argument 'attn_mask' expected dtype bool or ",
                py::str(py::dtype::of<T>()).cast<std::string>(), " (as q), got ", dtype_str(a));
    mask.kind = MaskKind::additive;
  }
  const int64_t want[4] = {n.B, n.H, n.L, n.S};
  const int nd = static_cast<int>(a.ndim());
  NERVE_CHECK(nd <= 4, op, ": argument 'attn_mask' expected at most 4 dims, got shape ", shape_str(a));
  int64_t st[4] = {0, 0, 0, 0};
  for (int d = 0; d < nd; ++d) {
    const int64_t size = a.shape(d), target = want[4 - nd + d];
    NERVE_CHECK(size == target || size == 1, op, ": argument 'attn_mask' of shape ", shape_str(a),
                " does not broadcast to (B=", n.B, ", H=", n.H, ", L=", n.L, ", S=", n.S, ")");
    NERVE_CHECK(a.strides(d) % a.itemsize() == 0, op,
                ": argument 'attn_mask' has a stride that is not a multiple of its itemsize");
    st[4 - nd + d] = size == 1 ? 0 : a.strides(d) / a.itemsize();
  }
  mask.data = a.data();
  mask.sb = st[0];
  mask.sh = st[1];
  mask.sl = st[2];
  mask.ss = st[3];
  return mask;
}

AttentionSizes sizes(const py::array& q, const py::array& k, const py::array& v, double scale, bool causal,
                     double dropout_p, uint64_t seed, const char* op) {
  check_ndim(q, op, "q", 4);
  check_ndim(k, op, "k", 4);
  NERVE_CHECK(q.dtype().is(k.dtype()) && q.dtype().is(v.dtype()), op, ": arguments 'q', 'k' and 'v' must share one dtype, got ",
              dtype_str(q), ", ", dtype_str(k), ", ", dtype_str(v));
  NERVE_CHECK(std::isfinite(scale), op, ": argument 'scale' must be finite, got ", scale);
  NERVE_CHECK(dropout_p >= 0 && dropout_p < 1, op, ": argument 'dropout_p' expected a value in [0, 1), got ", dropout_p);
  AttentionSizes n;
  n.B = q.shape(0);
  n.H = q.shape(1);
  n.L = q.shape(2);
  n.D = q.shape(3);
  n.S = k.shape(2);
  n.scale = scale;
  n.causal = causal;
  n.dropout_p = dropout_p;
  n.seed = seed;
  return n;
}

template <class T>
void forward_typed(py::array& out, py::array& lse, const py::array& q, const py::array& k, const py::array& v,
                   const py::object& attn_mask, const py::object& key_mask, const AttentionSizes& n) {
  const char* op = "attention_forward";
  HeadsView<T> vq = heads_view<T>(q, op, "q", n.B, n.H, n.L, n.D, "L");
  HeadsView<T> vk = heads_view<T>(k, op, "k", n.B, n.H, n.S, n.D, "S");
  HeadsView<T> vv = heads_view<T>(v, op, "v", n.B, n.H, n.S, n.D, "S");
  T* po = output<T>(out, op, "out", {n.B, n.H, n.L, n.D}, {"B", "H", "L", "D"});
  T* pl = output<T>(lse, op, "lse", {n.B, n.H, n.L}, {"B", "H", "L"});
  AttentionMask mask = mask_view<T>(attn_mask, key_mask, op, n);
  py::gil_scoped_release nogil;
  cpu::attention_forward<T>(po, pl, vq, vk, vv, mask, n);
}

void attention_forward(py::array out, py::array lse, const py::array& q, const py::array& k, const py::array& v,
                       const py::object& attn_mask, double scale, bool is_causal, double dropout_p, uint64_t seed,
                       const py::object& key_mask) {
  const char* op = "attention_forward";
  AttentionSizes n = sizes(q, k, v, scale, is_causal, dropout_p, seed, op);
  if (is_dtype<float>(q)) return forward_typed<float>(out, lse, q, k, v, attn_mask, key_mask, n);
  if (is_dtype<double>(q)) return forward_typed<double>(out, lse, q, k, v, attn_mask, key_mask, n);
  NERVE_CHECK(false, op, ": argument 'q' expected dtype float32 or float64, got ", dtype_str(q));
}

template <class T>
void backward_typed(py::array& dq, py::array& dk, py::array& dv, const py::array& dout, const py::array& q,
                    const py::array& k, const py::array& v, const py::array& out, const py::array& lse,
                    const py::object& attn_mask, const py::object& key_mask, const AttentionSizes& n) {
  const char* op = "attention_backward";
  HeadsView<T> vdo = heads_view<T>(dout, op, "dout", n.B, n.H, n.L, n.D, "L");
  HeadsView<T> vq = heads_view<T>(q, op, "q", n.B, n.H, n.L, n.D, "L");
  HeadsView<T> vk = heads_view<T>(k, op, "k", n.B, n.H, n.S, n.D, "S");
  HeadsView<T> vv = heads_view<T>(v, op, "v", n.B, n.H, n.S, n.D, "S");
  check_shape(out, op, "out", {n.B, n.H, n.L, n.D}, {"B", "H", "L", "D"});
  check_contiguous(out, op, "out");
  check_shape(lse, op, "lse", {n.B, n.H, n.L}, {"B", "H", "L"});
  check_contiguous(lse, op, "lse");
  const T* po = data_as<T>(const_cast<py::array&>(out), op, "out");
  const T* pl = data_as<T>(const_cast<py::array&>(lse), op, "lse");
  T* pdq = output<T>(dq, op, "dq", {n.B, n.H, n.L, n.D}, {"B", "H", "L", "D"});
  T* pdk = output<T>(dk, op, "dk", {n.B, n.H, n.S, n.D}, {"B", "H", "S", "D"});
  T* pdv = output<T>(dv, op, "dv", {n.B, n.H, n.S, n.D}, {"B", "H", "S", "D"});
  AttentionMask mask = mask_view<T>(attn_mask, key_mask, op, n);
  py::gil_scoped_release nogil;
  cpu::attention_backward<T>(pdq, pdk, pdv, vdo, vq, vk, vv, po, pl, mask, n);
}

void attention_backward(py::array dq, py::array dk, py::array dv, const py::array& dout, const py::array& q,
                        const py::array& k, const py::array& v, const py::array& out, const py::array& lse,
                        const py::object& attn_mask, double scale, bool is_causal, double dropout_p,
                        uint64_t seed, const py::object& key_mask) {
  const char* op = "attention_backward";
  AttentionSizes n = sizes(q, k, v, scale, is_causal, dropout_p, seed, op);
  if (is_dtype<float>(q)) return backward_typed<float>(dq, dk, dv, dout, q, k, v, out, lse, attn_mask, key_mask, n);
  if (is_dtype<double>(q)) return backward_typed<double>(dq, dk, dv, dout, q, k, v, out, lse, attn_mask, key_mask, n);
  NERVE_CHECK(false, op, ": argument 'q' expected dtype float32 or float64, got ", dtype_str(q));
}

}  // namespace

void bind_attention(py::module_& m) {
  m.def("attention_forward", &attention_forward, py::arg("out"), py::arg("lse"), py::arg("q"), py::arg("k"),
        py::arg("v"), py::arg("attn_mask") = py::none(), py::arg("scale") = 1.0, py::arg("is_causal") = false,
        py::arg("dropout_p") = 0.0, py::arg("seed") = 0, py::arg("key_mask") = py::none(),
        "Fused attention: out (B,H,L,D) = dropout(softmax(q k^T scale + mask)) v, lse (B,H,L) = row log-sum-exp.\n"
        "attn_mask: None, bool (True = take part) or additive float, broadcastable to (B,H,L,S).\n"
        "Dropout keeps P[i,j] (scaled by 1/(1-p)) by a counter-based hash of (seed, row, column).\n"
        "key_mask: None or bool (B, S), True = key takes part (applied on top of attn_mask).\n"
        "Fully masked rows give out = 0, lse = -inf.");
  m.def("attention_backward", &attention_backward, py::arg("dq"), py::arg("dk"), py::arg("dv"), py::arg("dout"),
        py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"), py::arg("lse"), py::arg("attn_mask") = py::none(),
        py::arg("scale") = 1.0, py::arg("is_causal") = false, py::arg("dropout_p") = 0.0, py::arg("seed") = 0,
        py::arg("key_mask") = py::none(),
        "Gradients of attention_forward (same masks, dropout_p and seed); recomputes probabilities tile by tile;\n"
        "dq, dk, dv overwritten.");
}

}  // namespace nerve::bind

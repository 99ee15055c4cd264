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
HeadsView<T> heads_view(const Arg& a, int64_t B, int64_t H, const char* rows_name, int64_t rows, int64_t D) {
  a.shape({{"B", B}, {"H", H}, {rows_name, rows}, {"D", D}}).element_strides();
  if (a.stride(3) != a.dtype().size && D > 1 && a.size() != 0)
    a.fail("must have a contiguous last dim (D), got stride ", a.stride(3), " bytes");
  return {a.in<T>(), a.stride(0) / a.dtype().size, a.stride(1) / a.dtype().size, a.stride(2) / a.dtype().size};
}

// attn_mask: None, or bool / float (q's dtype) broadcastable to (B, H, L, S);
// key_mask: None, or bool broadcastable to (B, S) (True = take part).
AttentionMask mask_view(const Arg& m, const Arg& key_mask, const Arg& q, const AttentionSizes& n) {
  AttentionMask mask;
  if (key_mask) {
    key_mask.dtype(dtype_of<bool>());
    if (key_mask.ndim() != 2 || (key_mask.dim(0) != n.B && key_mask.dim(0) != 1) ||
        (key_mask.dim(1) != n.S && key_mask.dim(1) != 1))
      key_mask.fail("of shape ", key_mask.shape_str(), " does not broadcast to (B=", n.B, ", S=", n.S, ")");
    mask.key_keep = reinterpret_cast<const uint8_t*>(key_mask.in<bool>());
    mask.kb = key_mask.dim(0) == 1 ? 0 : key_mask.stride(0);  // itemsize 1: byte strides are element strides
    mask.ks = key_mask.dim(1) == 1 ? 0 : key_mask.stride(1);
  }
  if (!m) return mask;
  if (m.dtype() == dtype_of<bool>()) {
    mask.kind = MaskKind::boolean;
  } else {
    if (m.dtype() != q.dtype())
      m.fail("expected dtype bool or ", dtype_name(q.dtype()), " (as q), got ", dtype_name(m.dtype()));
    mask.kind = MaskKind::additive;
  }
  const int64_t want[4] = {n.B, n.H, n.L, n.S};
  const int nd = m.ndim();
  if (nd > 4) m.fail("expected at most 4 dims, got shape ", m.shape_str());
  m.element_strides();
  int64_t st[4] = {0, 0, 0, 0};
  for (int d = 0; d < nd; ++d) {
    const int64_t size = m.dim(d), target = want[4 - nd + d];
    if (size != target && size != 1)
      m.fail("of shape ", m.shape_str(), " does not broadcast to (B=", n.B, ", H=", n.H, ", L=", n.L, ", S=", n.S, ")");
    st[4 - nd + d] = size == 1 ? 0 : m.element_stride(d);
  }
  mask.data = m.view().data;
  mask.sb = st[0];
  mask.sh = st[1];
  mask.sl = st[2];
  mask.ss = st[3];
  return mask;
}

AttentionSizes sizes(const Arg& q, const Arg& k, const Arg& v, double scale, bool causal, double dropout_p,
                     uint64_t seed) {
  q.ndim(4);
  k.ndim(4);
  same_dtype({&q, &k, &v});
  NERVE_CHECK(std::isfinite(scale), q.op(), ": argument 'scale' must be finite, got ", scale);
  NERVE_CHECK(dropout_p >= 0 && dropout_p < 1, q.op(), ": argument 'dropout_p' expected a value in [0, 1), got ",
              dropout_p);
  q.floating();
  AttentionSizes n;
  n.B = q.dim(0);
  n.H = q.dim(1);
  n.L = q.dim(2);
  n.D = q.dim(3);
  n.S = k.dim(2);
  n.scale = scale;
  n.causal = causal;
  n.dropout_p = dropout_p;
  n.seed = seed;
  return n;
}

void attention_forward(const py::object& out_, const py::object& lse_, const py::object& q_, const py::object& k_,
                       const py::object& v_, const py::object& attn_mask_, double scale, bool is_causal,
                       double dropout_p, uint64_t seed, const py::object& key_mask_) {
  const Args args("attention_forward");
  const Arg q = args.strided(q_, "q"), k = args.strided(k_, "k"), v = args.strided(v_, "v");
  const Arg attn_mask = args.optional_strided(attn_mask_, "attn_mask"),
            key_mask = args.optional_strided(key_mask_, "key_mask");
  const Arg out = args.output(out_, "out"), lse = args.output(lse_, "lse");
  const AttentionSizes n = sizes(q, k, v, scale, is_causal, dropout_p, seed);
  out.dtype(q.dtype()).shape({{"B", n.B}, {"H", n.H}, {"L", n.L}, {"D", n.D}});
  lse.dtype(q.dtype()).shape({{"B", n.B}, {"H", n.H}, {"L", n.L}});
  apart({&out, &lse}, {&q, &k, &v, &attn_mask, &key_mask});
  by_float(q.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const HeadsView<T> vq = heads_view<T>(q, n.B, n.H, "L", n.L, n.D), vk = heads_view<T>(k, n.B, n.H, "S", n.S, n.D),
                       vv = heads_view<T>(v, n.B, n.H, "S", n.S, n.D);
    const AttentionMask mask = mask_view(attn_mask, key_mask, q, n);
    py::gil_scoped_release nogil;
    cpu::attention_forward<T>(out.out<T>(), lse.out<T>(), vq, vk, vv, mask, n);
  });
}

void attention_backward(const py::object& grad_q_, const py::object& grad_k_, const py::object& grad_v_,
                        const py::object& grad_out_, const py::object& q_, const py::object& k_, const py::object& v_,
                        const py::object& out_, const py::object& lse_, const py::object& attn_mask_, double scale,
                        bool is_causal, double dropout_p, uint64_t seed, const py::object& key_mask_) {
  const Args args("attention_backward");
  const Arg grad_out = args.strided(grad_out_, "grad_out"), q = args.strided(q_, "q"), k = args.strided(k_, "k"),
            v = args.strided(v_, "v"), out = args.strided(out_, "out"), lse = args.strided(lse_, "lse");
  const Arg attn_mask = args.optional_strided(attn_mask_, "attn_mask"),
            key_mask = args.optional_strided(key_mask_, "key_mask");
  const Arg grad_q = args.output(grad_q_, "grad_q"), grad_k = args.output(grad_k_, "grad_k"),
            grad_v = args.output(grad_v_, "grad_v");
  const AttentionSizes n = sizes(q, k, v, scale, is_causal, dropout_p, seed);
  for (const Arg* a : {&grad_out, &out, &grad_q})
    a->dtype(q.dtype()).shape({{"B", n.B}, {"H", n.H}, {"L", n.L}, {"D", n.D}});
  for (const Arg* a : {&grad_k, &grad_v})
    a->dtype(q.dtype()).shape({{"B", n.B}, {"H", n.H}, {"S", n.S}, {"D", n.D}});
  lse.dtype(q.dtype()).shape({{"B", n.B}, {"H", n.H}, {"L", n.L}});
  out.contiguous();  // after the shapes, which say more
  lse.contiguous();
  apart({&grad_q, &grad_k, &grad_v}, {&grad_out, &q, &k, &v, &out, &lse, &attn_mask, &key_mask});
  by_float(q.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const HeadsView<T> vdo = heads_view<T>(grad_out, n.B, n.H, "L", n.L, n.D),
                       vq = heads_view<T>(q, n.B, n.H, "L", n.L, n.D), vk = heads_view<T>(k, n.B, n.H, "S", n.S, n.D),
                       vv = heads_view<T>(v, n.B, n.H, "S", n.S, n.D);
    const AttentionMask mask = mask_view(attn_mask, key_mask, q, n);
    py::gil_scoped_release nogil;
    cpu::attention_backward<T>(grad_q.out<T>(), grad_k.out<T>(), grad_v.out<T>(), vdo, vq, vk, vv, out.in<T>(),
                               lse.in<T>(), mask, n);
  });
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
  m.def("attention_backward", &attention_backward, py::arg("grad_q"), py::arg("grad_k"), py::arg("grad_v"),
        py::arg("grad_out"),
        py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"), py::arg("lse"), py::arg("attn_mask") = py::none(),
        py::arg("scale") = 1.0, py::arg("is_causal") = false, py::arg("dropout_p") = 0.0, py::arg("seed") = 0,
        py::arg("key_mask") = py::none(),
        "Gradients of attention_forward (same masks, dropout_p and seed); recomputes probabilities tile by tile;\n"
        "grad_q, grad_k, grad_v overwritten.");
}

}  // namespace nerve::bind

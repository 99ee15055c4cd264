// Bindings for the float32 <-> bfloat16 conversions (cpu/convert.h): checks only.
//
//   _C.bf16_from_float32(out, x)   out: bfloat16, x: float32, same shape,
//   _C.float32_from_bf16(out, x)   both C-contiguous, not overlapping.
// bfloat16 arrays are numpy arrays of ml_dtypes.bfloat16. Rounding: nearest,
// ties to even; NaN -> quiet NaN; bit-identical to ml_dtypes' astype.
// (Named after what they produce rather than <op>_forward: a cast has no
// autograd state; its gradient is the opposite cast.)
#include "cpu/convert.h"

#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

template <class To, class From>
void convert(const char* op, const py::object& out_, const py::object& x_) {
  const Args args(op);
  const Arg x = args.input(x_, "x"), out = args.output(out_, "out");
  x.dtype(dtype_of<From>());
  out.dtype(dtype_of<To>()).same_shape(x);
  apart({&out}, {&x});
  const From* px = x.in<From>();
  To* po = out.out<To>();
  const int64_t n = x.size();
  py::gil_scoped_release nogil;
  if constexpr (std::is_same_v<To, bf16>) cpu::bf16_from_float32(po, px, n);
  else cpu::float32_from_bf16(po, px, n);
}

}  // namespace

void bind_convert(py::module_& m) {
  m.def(
      "bf16_from_float32", [](const py::object& out, const py::object& x) { convert<bf16, float>("bf16_from_float32", out, x); },
      py::arg("out"), py::arg("x"),
      "out[...] = x rounded to bfloat16 (nearest, ties to even; NaN stays a quiet NaN). out: ml_dtypes.bfloat16,\n"
      "x: float32, same shape, both C-contiguous.");
  m.def(
      "float32_from_bf16", [](const py::object& out, const py::object& x) { convert<float, bf16>("float32_from_bf16", out, x); },
      py::arg("out"), py::arg("x"), "out[...] = x (exact). out: float32, x: ml_dtypes.bfloat16, same shape, C-contiguous.");
}

}  // namespace nerve::bind

// The pybind11 side of common/view.h: a View of a numpy array, and the
// builders every binding uses to turn its Python arguments into checked Args.
// A CUDA binding builds the same View from __cuda_array_interface__ (data,
// shape, strides, typestr) and runs the same checks.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "common/view.h"

namespace nerve::bind {
namespace py = pybind11;

inline View numpy_view(const py::array& a) {
  View v;
  v.data = const_cast<void*>(a.data());
  const py::dtype dt = a.dtype();
  const char order = dt.byteorder();  // '=' native, '|' not applicable, '<' or '>'
  constexpr char native = static_cast<char>(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? '<' : '>');
  v.dtype = DType{dt.kind(), static_cast<int>(dt.itemsize()), order == '=' || order == '|' || order == native};
  // ml_dtypes.bfloat16 is a user dtype of kind 'V' (like raw void bytes): known by its name.
  if (v.dtype.kind == 'V' && v.dtype.size == 2 && py::str(dt.attr("name")).cast<std::string>() == "bfloat16")
    v.dtype = kBFloat16;
  v.shape.assign(a.shape(), a.shape() + a.ndim());
  v.strides.assign(a.strides(), a.strides() + a.ndim());
  v.writable = a.writeable();
  v.device = Device::cpu;
  return v;
}

// The arguments of one call of `op`. Each builder checks that the object is a
// numpy array (or None where it says optional) and the layout its role needs:
//   input   C-contiguous            output   C-contiguous and writable
//   strided any layout (the kernel takes strides; check them yourself)
class Args {
 public:
  explicit Args(const char* op) : op_(op) {}
  const char* op() const { return op_; }

  Arg input(const py::handle& o, const char* name) const { return make(o, name, false, true, false); }
  Arg output(const py::handle& o, const char* name) const { return make(o, name, false, true, true); }
  Arg strided(const py::handle& o, const char* name) const { return make(o, name, false, false, false); }
  Arg strided_output(const py::handle& o, const char* name) const { return make(o, name, false, false, true); }
  Arg optional_input(const py::handle& o, const char* name) const { return make(o, name, true, true, false); }
  Arg optional_output(const py::handle& o, const char* name) const { return make(o, name, true, true, true); }
  Arg optional_strided(const py::handle& o, const char* name) const { return make(o, name, true, false, false); }

 private:
  Arg make(const py::handle& o, const char* name, bool optional, bool contiguous, bool writable) const {
    if (o.is_none()) {
      Arg a(op_, name);
      if (!optional) a.required();
      return a;
    }
    if (!py::isinstance<py::array>(o))
      Arg(op_, name).fail("expected a numpy array", optional ? " or None" : "", ", got ",
                          py::str(py::type::of(o)).cast<std::string>());
    Arg a(op_, name, numpy_view(py::reinterpret_borrow<py::array>(o)));
    if (contiguous) a.contiguous();
    if (writable) a.writable();
    return a;
  }

  const char* op_;
};

}  // namespace nerve::bind

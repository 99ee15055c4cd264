// The pybind11 side of common/view.h: a View of a numpy array, and the
// builders every binding uses to turn its Python arguments into checked Args.
// A CUDA binding builds the same View from __cuda_array_interface__ (data,
// shape, strides, typestr) and runs the same checks.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
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

// The arguments of one call of `op`. Each builder checks that the object is an
// array of the Source's kind (or None where it says optional) and the layout
// its role needs:
//   input   C-contiguous            output   C-contiguous and writable
//   strided any layout (the kernel takes strides; check them yourself)
// Source::view(o, name, optional) turns the object into a View.
template <class Source>
class ArgBuilders {
 public:
  explicit ArgBuilders(const char* op) : op_(op) {}
  const char* op() const { return op_; }

  Arg input(const py::handle& o, const char* name) const { return make(o, name, false, true, false); }
  Arg output(const py::handle& o, const char* name) const { return make(o, name, false, true, true); }
  Arg strided(const py::handle& o, const char* name) const { return make(o, name, false, false, false); }
  Arg strided_output(const py::handle& o, const char* name) const { return make(o, name, false, false, true); }
  Arg optional_input(const py::handle& o, const char* name) const { return make(o, name, true, true, false); }
  Arg optional_output(const py::handle& o, const char* name) const { return make(o, name, true, true, true); }
  Arg optional_strided(const py::handle& o, const char* name) const { return make(o, name, true, false, false); }

 protected:
  const char* op_;

 private:
  Arg make(const py::handle& o, const char* name, bool optional, bool contiguous, bool writable) const {
    if (o.is_none()) {
      Arg a(op_, name);
      if (!optional) a.required();
      return a;
    }
    Arg a(op_, name, static_cast<const Source&>(*this).view(o, name, optional));
    if (contiguous) a.contiguous();
    if (writable) a.writable();
    return a;
  }
};

// Arguments that are numpy arrays (nerve._C).
class Args : public ArgBuilders<Args> {
 public:
  using ArgBuilders::ArgBuilders;

  View view(const py::handle& o, const char* name, bool optional) const {
    if (!py::isinstance<py::array>(o))
      Arg(op_, name).fail("expected a numpy array", optional ? " or None" : "", ", got ",
                          py::str(py::type::of(o)).cast<std::string>());
    return numpy_view(py::reinterpret_borrow<py::array>(o));
  }
};

// ----------------------------------------- array interfaces (CUDA bindings)
// A View from an array-interface dict: __cuda_array_interface__ (CuPy, for
// nerve._cuda) or __array_interface__ (NumPy, for the emulated nerve._cuda_emu,
// whose "device memory" is host memory). Both give data (pointer, read-only),
// shape, strides (None: C-contiguous) and typestr ("<f4", "|b1", ...).
// InterfaceArgs has the builders of Args above (ArgBuilders), with the same
// checks and messages; bind/cuda.h picks the interface.
inline View interface_view(const py::handle& o, const char* attr, Device device, const char* op, const char* name,
                           bool optional) {
  if (!py::hasattr(o, attr))
    Arg(op, name).fail("expected a ", device == Device::cuda ? "CUDA " : "", "array (with ", attr, ")",
                       optional ? " or None" : "", ", got ", py::str(py::type::of(o)).cast<std::string>());
  const py::dict d = o.attr(attr);
  if (d.contains("mask") && !d["mask"].is_none()) Arg(op, name).fail("has a mask, which no kernel supports");
  View v;
  v.device = device;
  const py::tuple data = d["data"];
  v.data = reinterpret_cast<void*>(data[0].cast<uintptr_t>());
  v.writable = !data[1].cast<bool>();
  const std::string typestr = d["typestr"].cast<std::string>();
  if (typestr.size() < 3) Arg(op, name).fail("has an unreadable typestr '", typestr, "'");
  constexpr char native = static_cast<char>(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? '<' : '>');
  v.dtype = DType{typestr[1], std::stoi(typestr.substr(2)), typestr[0] == '|' || typestr[0] == native};
  for (const py::handle s : py::tuple(d["shape"])) v.shape.push_back(s.cast<int64_t>());
  if (d.contains("strides") && !d["strides"].is_none()) {
    for (const py::handle s : py::tuple(d["strides"])) v.strides.push_back(s.cast<int64_t>());
    if (v.strides.size() != v.shape.size()) Arg(op, name).fail("has strides of the wrong length");
  } else {  // C-contiguous
    v.strides.assign(v.shape.size(), v.dtype.size);
    for (int i = static_cast<int>(v.shape.size()) - 2; i >= 0; --i) v.strides[i] = v.strides[i + 1] * v.shape[i + 1];
  }
  return v;
}

class InterfaceArgs : public ArgBuilders<InterfaceArgs> {
 public:
  InterfaceArgs(const char* op, const char* attr, Device device) : ArgBuilders(op), attr_(attr), device_(device) {}

  View view(const py::handle& o, const char* name, bool optional) const {
    return interface_view(o, attr_, device_, op_, name, optional);
  }

 private:
  const char* attr_;
  Device device_;
};

}  // namespace nerve::bind

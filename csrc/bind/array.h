// Turning numpy arrays into checked pointers and sizes. Every entry point in
// bind/ validates dtype, rank, shape and strides here before a kernel runs.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/check.h"

namespace nerve::bind {
namespace py = pybind11;

inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

inline std::string dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

template <class T>
bool is_dtype(const py::array& a) {
  return a.dtype().is(py::dtype::of<T>());
}

// Checks that `a` has dtype T (and is writable when `out`); returns its data pointer.
template <class T>
T* data_as(py::array& a, const char* op, const char* arg, bool out = false) {
  NERVE_CHECK(is_dtype<T>(a), op, ": argument '", arg, "' expected dtype ", py::str(py::dtype::of<T>()).cast<std::string>(),
              ", got ", dtype_str(a));
  if (out) NERVE_CHECK(a.writeable(), op, ": argument '", arg, "' must be writable");
  return static_cast<T*>(out ? a.mutable_data() : const_cast<void*>(a.data()));
}

inline void check_ndim(const py::array& a, const char* op, const char* arg, int ndim) {
  NERVE_CHECK(a.ndim() == ndim, op, ": argument '", arg, "' expected a ", ndim, "-D array, got shape ", shape_str(a));
}

// Checks that `a` has exactly `shape`; `names` labels the dims in the message ("N", "C", ...).
inline void check_shape(const py::array& a, const char* op, const char* arg, const std::vector<int64_t>& shape,
                        const std::vector<const char*>& names = {}) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = a.shape(i) == shape[i];
  if (ok) return;
  std::string want = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    want += i ? ", " : "";
    if (i < names.size() && names[i]) want += std::string(names[i]) + "=";
    want += std::to_string(shape[i]);
  }
  want += shape.size() == 1 ? ",)" : ")";
  NERVE_CHECK(false, op, ": argument '", arg, "' expected shape ", want, ", got ", shape_str(a));
}

inline void check_contiguous(const py::array& a, const char* op, const char* arg) {
  NERVE_CHECK(a.flags() & py::array::c_style, op, ": argument '", arg, "' must be C-contiguous (call .copy())");
}

// A 2-D (or batched 3-D) operand whose rows or columns are contiguous: the
// kernel reads it as row-major with leading dimension `ld`, transposed when
// only the columns are contiguous (so a transposed view needs no copy).
struct MatrixView {
  int64_t batch = 1, batch_stride = 0;
  int64_t rows = 0, cols = 0, ld = 0;
  bool transposed = false;  // stored matrix is the transpose of the logical one
};

inline MatrixView matrix_view(const py::array& a, const char* op, const char* arg) {
  NERVE_CHECK(a.ndim() == 2 || a.ndim() == 3, op, ": argument '", arg, "' expected a 2-D or 3-D array, got shape ",
              shape_str(a));
  const int64_t item = a.itemsize();
  const int d = static_cast<int>(a.ndim());
  MatrixView v;
  v.rows = a.shape(d - 2);
  v.cols = a.shape(d - 1);
  if (d == 3) {
    v.batch = a.shape(0);
    NERVE_CHECK(a.strides(0) % item == 0, op, ": argument '", arg, "' has a batch stride that is not a multiple of its itemsize");
    v.batch_stride = a.strides(0) / item;
  }
  if (v.rows == 0 || v.cols == 0 || v.batch == 0) {  // empty: strides are meaningless
    v.ld = std::max<int64_t>(v.cols, 1);
    return v;
  }
  const int64_t rs = a.strides(d - 2), cs = a.strides(d - 1);
  auto ok_ld = [&](int64_t s, int64_t minimum) { return s >= 0 && s % item == 0 && s / item >= minimum; };
  if ((cs == item || v.cols <= 1) && ok_ld(rs, std::max<int64_t>(v.cols, 1))) {
    v.ld = std::max<int64_t>(rs / item, std::max<int64_t>(v.cols, 1));
  } else if ((rs == item || v.rows <= 1) && ok_ld(cs, std::max<int64_t>(v.rows, 1))) {
    v.transposed = true;
    v.ld = std::max<int64_t>(cs / item, std::max<int64_t>(v.rows, 1));
  } else {
    NERVE_CHECK(false, op, ": argument '", arg, "' must have unit stride along rows or columns, got strides (",
                rs, ", ", cs, ") bytes for shape ", shape_str(a), " (call np.ascontiguousarray)");
  }
  return v;
}

// Checks that output `out` shares no memory with `in` (a kernel would read what it already overwrote).
inline void check_disjoint(const py::array& out, const py::array& in, const char* op, const char* out_arg,
                           const char* in_arg) {
  const char* o = static_cast<const char*>(out.data());
  const char* i = static_cast<const char*>(in.data());
  const bool overlap = out.nbytes() > 0 && in.nbytes() > 0 && o < i + in.nbytes() && i < o + out.nbytes();
  NERVE_CHECK(!overlap, op, ": argument '", out_arg, "' must not share memory with '", in_arg, "'");
}

}  // namespace nerve::bind

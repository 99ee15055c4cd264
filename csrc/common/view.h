// A device-neutral view of an array argument (pointer, dtype, shape, byte
// strides) and the argument checks the bindings run on it before a kernel
// touches memory. Nothing here knows Python: bind/array.h builds a View from a
// numpy array, and a CUDA binding can build the same View from
// __cuda_array_interface__ (data pointer, shape, strides, typestr).
// A failed check throws std::invalid_argument (a Python ValueError) whose
// message names the op, the argument and what was expected.
#pragma once
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/check.h"

namespace nerve {

enum class Device : uint8_t { cpu, cuda };

struct bf16;  // cpu/convert.h

// Element type in array-interface terms: kind ('f' float, 'i' signed, 'u'
// unsigned, 'b' bool, 'c' complex, others as numpy spells them), size in bytes,
// and whether it is stored in this machine's byte order. bfloat16 has kind
// 'E' (its numpy type char): numpy and the array interface only say 'V'
// (void, "<V2") for it, so the builder of a View (bind/array.h: dtype name
// "bfloat16", i.e. ml_dtypes.bfloat16) must recognise it.
struct DType {
  char kind = 0;
  int size = 0;
  bool native = true;
  bool operator==(DType o) const { return kind == o.kind && size == o.size && native == o.native; }
  bool operator!=(DType o) const { return !(*this == o); }
};

inline constexpr DType kBFloat16{'E', 2};

template <class T>
constexpr DType dtype_of() {
  static_assert(std::is_arithmetic_v<T> || std::is_same_v<T, bf16>, "dtype_of: an arithmetic type or bf16");
  if constexpr (std::is_same_v<T, bf16>) return kBFloat16;
  else if constexpr (std::is_same_v<T, bool>) return {'b', 1};
  else if constexpr (std::is_floating_point_v<T>) return {'f', static_cast<int>(sizeof(T))};
  else if constexpr (std::is_signed_v<T>) return {'i', static_cast<int>(sizeof(T))};
  else return {'u', static_cast<int>(sizeof(T))};
}

// numpy's name: float32, int64, bool, complex128, ...; ">f4" for byte-swapped data.
inline std::string dtype_name(DType t) {
  const std::string bits = std::to_string(8 * t.size);
  if (!t.native) return std::string(">") + t.kind + std::to_string(t.size);
  switch (t.kind) {
    case 'f': return "float" + bits;
    case 'i': return "int" + bits;
    case 'u': return "uint" + bits;
    case 'c': return "complex" + bits;
    case 'b': return "bool";
    case 'O': return "object";
    case 'E': return "bfloat16";
    default: return std::string(1, t.kind) + std::to_string(t.size);
  }
}

// The array itself: what every device's array protocol provides.
struct View {
  void* data = nullptr;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;  // bytes
  bool writable = false;
  Device device = Device::cpu;

  int ndim() const { return static_cast<int>(shape.size()); }
  int64_t size() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
  }
  // numpy's rule: dims of size 1 have any stride; an empty array is contiguous.
  bool c_contiguous() const {
    if (size() == 0) return true;
    int64_t expected = dtype.size;
    for (int d = ndim() - 1; d >= 0; --d) {
      if (shape[d] == 1) continue;
      if (strides[d] != expected) return false;
      expected *= shape[d];
    }
    return true;
  }
  // Bytes [first, last) the array can touch; an empty array touches none.
  std::pair<uintptr_t, uintptr_t> byte_extent() const {
    const auto base = reinterpret_cast<uintptr_t>(data);
    if (size() == 0) return {base, base};
    uintptr_t first = base, last = base + static_cast<uintptr_t>(dtype.size);
    for (int d = 0; d < ndim(); ++d) {
      const int64_t span = strides[d] * (shape[d] - 1);
      if (span < 0) first -= static_cast<uintptr_t>(-span);
      else last += static_cast<uintptr_t>(span);
    }
    return {first, last};
  }
};

inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// One dimension of an expected shape; the name labels it in messages ("N=2").
struct Dim {
  const char* name;
  int64_t size;
};

// A named argument of one op: the view plus the words for its messages. An
// optional argument passed as None is absent: every check passes and its
// pointer is null. Checks return *this so they chain:
//   x.floating().ndim(4);   out.like(x).shape({{"N", N}, {"K", K}});
class Arg {
 public:
  Arg(const char* op, const char* name) : op_(op), name_(name) {}  // absent (None)
  Arg(const char* op, const char* name, View v) : op_(op), name_(name), present_(true), v_(std::move(v)) {}

  const char* op() const { return op_; }
  const char* name() const { return name_; }
  bool present() const { return present_; }
  explicit operator bool() const { return present_; }
  const View& view() const { return v_; }
  DType dtype() const { return v_.dtype; }
  int ndim() const { return v_.ndim(); }
  int64_t dim(int d) const { return v_.shape[d]; }
  int64_t stride(int d) const { return v_.strides[d]; }  // bytes
  int64_t size() const { return v_.size(); }
  std::string shape_str() const { return nerve::shape_str(v_.shape); }

  // "argument 'x' ..." : the start of every message about this argument.
  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    throw std::invalid_argument(concat(op_, ": argument '", name_, "' ", parts...));
  }
  // None is not allowed here (for arguments that are optional only in some modes).
  const Arg& required(const char* when = nullptr) const {
    if (!present_) fail("must be an array", when ? " when " : "", when ? when : "", ", got None");
    return *this;
  }
  const Arg& dtype(DType want) const {
    if (present_ && v_.dtype != want) fail("expected dtype ", dtype_name(want), ", got ", dtype_name(v_.dtype));
    return *this;
  }
  // float32 or float64.
  const Arg& floating() const {
    if (present_ && v_.dtype != dtype_of<float>() && v_.dtype != dtype_of<double>())
      fail("expected dtype float32 or float64, got ", dtype_name(v_.dtype));
    return *this;
  }
  // The dtype of `ref`, naming it in the message.
  const Arg& like(const Arg& ref) const {
    if (present_ && v_.dtype != ref.dtype())
      fail("expected dtype ", dtype_name(ref.dtype()), " (like '", ref.name(), "'), got ", dtype_name(v_.dtype));
    return *this;
  }
  const Arg& ndim(int n) const {
    if (present_ && ndim() != n) fail("expected a ", n, "-D array, got shape ", shape_str());
    return *this;
  }
  // Exactly these dims: "expected shape (N=2, C=3), got (2, 4)".
  const Arg& shape(std::initializer_list<Dim> dims) const {
    if (!present_) return *this;
    bool ok = static_cast<size_t>(ndim()) == dims.size();
    int d = 0;
    for (auto it = dims.begin(); ok && it != dims.end(); ++it) ok = it->size == v_.shape[d++];
    if (ok) return *this;
    std::string want = "(";
    for (auto it = dims.begin(); it != dims.end(); ++it) {
      want += it == dims.begin() ? "" : ", ";
      if (it->name) want += std::string(it->name) + "=";
      want += std::to_string(it->size);
    }
    fail("expected shape ", want, dims.size() == 1 ? ",)" : ")", ", got ", shape_str());
  }
  // The shape of `ref`: "expected shape (4,) (param's), got (3,)".
  const Arg& same_shape(const Arg& ref) const {
    if (present_ && v_.shape != ref.view().shape)
      fail("expected shape ", ref.shape_str(), " (", ref.name(), "'s), got ", shape_str());
    return *this;
  }
  const Arg& contiguous() const {
    if (present_ && !v_.c_contiguous()) fail("must be C-contiguous (call .copy())");
    return *this;
  }
  const Arg& writable() const {
    if (present_ && !v_.writable) fail("must be writable");
    return *this;
  }
  // Every byte stride a multiple of the itemsize (so element strides exist).
  const Arg& element_strides() const {
    for (int d = 0; present_ && d < ndim(); ++d)
      if (v_.strides[d] % v_.dtype.size != 0) fail("has a stride that is not a multiple of its itemsize");
    return *this;
  }
  int64_t element_stride(int d) const { return v_.strides[d] / v_.dtype.size; }

  // Typed pointers, null when absent. The dtype was checked above; this only
  // guards against a binding asking for the wrong type.
  template <class T>
  const T* in() const {
    if (!present_) return nullptr;
    dtype(dtype_of<T>());
    return static_cast<const T*>(v_.data);
  }
  template <class T>
  T* out() const {
    if (!present_) return nullptr;
    dtype(dtype_of<T>()).writable();
    return static_cast<T*>(v_.data);
  }

 private:
  const char* op_;
  const char* name_;
  bool present_ = false;
  View v_;
};

// True when a and b can touch a common byte (absent or empty arrays touch none).
inline bool overlap(const Arg& a, const Arg& b) {
  if (!a || !b) return false;
  const auto [a0, a1] = a.view().byte_extent();
  const auto [b0, b1] = b.view().byte_extent();
  return a0 != a1 && b0 != b1 && a1 > b0 && b1 > a0;
}

// An output sharing memory with another argument makes the kernel read what it
// already overwrote: a silently wrong result. `allow_same` permits exact
// in-place use (same data and layout) for kernels that read each element
// before writing it.
inline void no_overlap(const Arg& out, const Arg& in, bool allow_same = false) {
  if (allow_same && out && in && out.view().data == in.view().data && out.view().shape == in.view().shape &&
      out.view().strides == in.view().strides)
    return;
  if (overlap(out, in))
    out.fail("must not share memory with '", in.name(), "'", allow_same ? " (only exact in-place use is allowed)" : "");
}

// Every output apart from every input and from every other output.
inline void apart(std::initializer_list<const Arg*> outs, std::initializer_list<const Arg*> ins) {
  for (auto o = outs.begin(); o != outs.end(); ++o) {
    for (const Arg* in : ins) no_overlap(**o, *in);
    for (auto p = o + 1; p != outs.end(); ++p) no_overlap(**o, **p);
  }
}

// For kernels that take every array as a __restrict pointer (the optimizers):
// no two arguments may overlap at all.
inline void all_apart(const std::vector<const Arg*>& args) {
  for (auto a = args.begin(); a != args.end(); ++a)
    for (auto b = args.begin(); b != a; ++b)
      NERVE_CHECK(!overlap(**b, **a), (*a)->op(), ": arguments '", (*b)->name(), "' and '", (*a)->name(),
                  "' overlap in memory; each must be its own array");
}

// Arguments that must all have one dtype: "arguments 'q', 'k' and 'v' must share one dtype, got ...".
inline void same_dtype(std::initializer_list<const Arg*> args) {
  const Arg& first = **args.begin();
  bool ok = true;
  for (const Arg* a : args) ok = ok && a->dtype() == first.dtype();
  if (ok) return;
  std::string names, got;
  size_t i = 0;
  for (const Arg* a : args) {
    const char* sep = i == 0 ? "" : i + 1 == args.size() ? " and " : ", ";
    names += concat(sep, "'", a->name(), "'");
    got += concat(i ? ", " : "", dtype_name(a->dtype()));
    ++i;
  }
  throw std::invalid_argument(concat(first.op(), ": arguments ", names, " must share one dtype, got ", got));
}

// Position of the first value of p[0, n) outside [lo, hi) (and not `except`), or -1.
inline int64_t first_outside(const int64_t* p, int64_t n, int64_t lo, int64_t hi,
                             std::optional<int64_t> except = std::nullopt) {
  for (int64_t i = 0; i < n; ++i)
    if ((p[i] < lo || p[i] >= hi) && p[i] != except) return i;
  return -1;
}

// A 2-D (or batched 3-D) operand whose rows or columns are contiguous: the
// kernel reads it as row-major with leading dimension `ld`, transposed when
// only the columns are contiguous (so a transposed view needs no copy).
struct MatrixView {
  int64_t batch = 1, batch_stride = 0;
  int64_t rows = 0, cols = 0, ld = 0;
  bool transposed = false;  // stored matrix is the transpose of the logical one
};

inline MatrixView matrix_view(const Arg& a) {
  if (a.ndim() != 2 && a.ndim() != 3) a.fail("expected a 2-D or 3-D array, got shape ", a.shape_str());
  const int64_t item = a.dtype().size;
  const int d = a.ndim();
  MatrixView v;
  v.rows = a.dim(d - 2);
  v.cols = a.dim(d - 1);
  if (d == 3) {
    v.batch = a.dim(0);
    if (a.stride(0) % item != 0) a.fail("has a batch stride that is not a multiple of its itemsize");
    v.batch_stride = a.stride(0) / item;
  }
  if (v.rows == 0 || v.cols == 0 || v.batch == 0) {  // empty: strides are meaningless
    v.ld = std::max<int64_t>(v.cols, 1);
    return v;
  }
  const int64_t rs = a.stride(d - 2), cs = a.stride(d - 1);
  auto ok_ld = [&](int64_t s, int64_t minimum) { return s >= 0 && s % item == 0 && s / item >= minimum; };
  if ((cs == item || v.cols <= 1) && ok_ld(rs, std::max<int64_t>(v.cols, 1))) {
    v.ld = std::max<int64_t>(rs / item, std::max<int64_t>(v.cols, 1));
  } else if ((rs == item || v.rows <= 1) && ok_ld(cs, std::max<int64_t>(v.rows, 1))) {
    v.transposed = true;
    v.ld = std::max<int64_t>(cs / item, std::max<int64_t>(v.rows, 1));
  } else {
    a.fail("must have unit stride along rows or columns, got strides (", rs, ", ", cs, ") bytes for shape ",
           a.shape_str(), " (call np.ascontiguousarray)");
  }
  return v;
}

// Calls f(float{}) or f(double{}) for a dtype checked by Arg::floating().
template <class F>
decltype(auto) by_float(DType t, F&& f) {
  if (t == dtype_of<float>()) return f(float{});
  return f(double{});
}

}  // namespace nerve

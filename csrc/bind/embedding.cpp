// Bindings for the embedding family: checks only (including every index), no math.
#include "cpu/embedding.h"

#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

const int64_t* checked_indices(py::array& indices, const char* op, int64_t num) {
  check_ndim(indices, op, "indices", 1);
  check_contiguous(indices, op, "indices");
  const int64_t* p = data_as<int64_t>(indices, op, "indices");
  for (int64_t i = 0; i < indices.shape(0); ++i)
    NERVE_CHECK(p[i] >= 0 && p[i] < num, op, ": argument 'indices' has value ", p[i], " at position ", i,
                ", expected values in [0, ", num, ")");
  return p;
}

template <class T>
void forward_typed(py::array& out, py::array& weight, py::array& indices) {
  const char* op = "embedding_forward";
  const int64_t num = weight.shape(0), dim = weight.shape(1);
  check_contiguous(weight, op, "weight");
  const T* pw = data_as<T>(weight, op, "weight");
  const int64_t* pi = checked_indices(indices, op, num);
  const int64_t n = indices.shape(0);
  T* po = data_as<T>(out, op, "out", true);
  check_shape(out, op, "out", {n, dim}, {"n", "dim"});
  check_contiguous(out, op, "out");
  py::gil_scoped_release nogil;
  cpu::embedding_forward<T>(po, pw, pi, n, num, dim);
}

void embedding_forward(py::array out, py::array weight, py::array indices) {
  const char* op = "embedding_forward";
  check_ndim(weight, op, "weight", 2);
  if (is_dtype<float>(weight)) return forward_typed<float>(out, weight, indices);
  if (is_dtype<double>(weight)) return forward_typed<double>(out, weight, indices);
  NERVE_CHECK(false, op, ": argument 'weight' expected dtype float32 or float64, got ", dtype_str(weight));
}

template <class T>
void backward_typed(py::array& dweight, py::array& dout, py::array& indices, int64_t padding_idx) {
  const char* op = "embedding_backward";
  const int64_t num = dweight.shape(0), dim = dweight.shape(1);
  check_contiguous(dweight, op, "dweight");
  T* pdw = data_as<T>(dweight, op, "dweight", true);
  NERVE_CHECK(padding_idx >= -1 && padding_idx < num, op, ": argument 'padding_idx' expected -1 (none) or a row in [0, ",
              num, "), got ", padding_idx);
  const int64_t* pi = checked_indices(indices, op, num);
  const int64_t n = indices.shape(0);
  const T* pg = data_as<T>(dout, op, "dout");
  check_shape(dout, op, "dout", {n, dim}, {"n", "dim"});
  check_contiguous(dout, op, "dout");
  py::gil_scoped_release nogil;
  cpu::embedding_backward<T>(pdw, pg, pi, n, num, dim, padding_idx);
}

void embedding_backward(py::array dweight, py::array dout, py::array indices, int64_t padding_idx) {
  const char* op = "embedding_backward";
  check_ndim(dweight, op, "dweight", 2);
  if (is_dtype<float>(dweight)) return backward_typed<float>(dweight, dout, indices, padding_idx);
  if (is_dtype<double>(dweight)) return backward_typed<double>(dweight, dout, indices, padding_idx);
  NERVE_CHECK(false, op, ": argument 'dweight' expected dtype float32 or float64, got ", dtype_str(dweight));
}

}  // namespace

void bind_embedding(py::module_& m) {
  m.def("embedding_forward", &embedding_forward, py::arg("out"), py::arg("weight"), py::arg("indices"),
        "out (n, dim) = weight[indices] for weight (num, dim) and int64 indices (n,) in [0, num).");
  m.def("embedding_backward", &embedding_backward, py::arg("dweight"), py::arg("dout"), py::arg("indices"),
        py::arg("padding_idx") = -1,
        "dweight (num, dim) = scatter-add of dout (n, dim) rows at indices, skipping padding_idx (-1: none); "
        "overwritten.");
}

}  // namespace nerve::bind

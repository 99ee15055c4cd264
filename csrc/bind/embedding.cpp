// Bindings for the embedding family: checks only (including every index), no math.
#include "cpu/embedding.h"

#include "bind/array.h"
#include "bind/bind.h"

namespace nerve::bind {
namespace {

// int64 (n,) with every value in [0, num).
void check_indices(const Arg& indices, int64_t num) {
  indices.dtype(dtype_of<int64_t>()).ndim(1);
  const int64_t* p = indices.in<int64_t>();
  const int64_t bad = first_outside(p, indices.size(), 0, num);
  if (bad >= 0) indices.fail("has value ", p[bad], " at position ", bad, ", expected values in [0, ", num, ")");
}

void embedding_forward(const py::object& out_, const py::object& weight_, const py::object& indices_) {
  const Args args("embedding_forward");
  const Arg weight = args.input(weight_, "weight"), indices = args.input(indices_, "indices");
  const Arg out = args.output(out_, "out");
  weight.ndim(2).floating();
  const int64_t num = weight.dim(0), dim = weight.dim(1);
  check_indices(indices, num);
  const int64_t n = indices.dim(0);
  out.dtype(weight.dtype()).shape({{"n", n}, {"dim", dim}});
  apart({&out}, {&weight, &indices});
  by_float(weight.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::embedding_forward<T>(out.out<T>(), weight.in<T>(), indices.in<int64_t>(), n, num, dim);
  });
}

void embedding_backward(const py::object& grad_weight_, const py::object& grad_out_, const py::object& indices_,
                        int64_t padding_idx) {
  const Args args("embedding_backward");
  const Arg grad_out = args.input(grad_out_, "grad_out"), indices = args.input(indices_, "indices");
  const Arg grad_weight = args.output(grad_weight_, "grad_weight");
  grad_weight.ndim(2).floating();
  const int64_t num = grad_weight.dim(0), dim = grad_weight.dim(1);
  NERVE_CHECK(padding_idx >= -1 && padding_idx < num, args.op(),
              ": argument 'padding_idx' expected -1 (none) or a row in [0, ", num, "), got ", padding_idx);
  check_indices(indices, num);
  const int64_t n = indices.dim(0);
  grad_out.dtype(grad_weight.dtype()).shape({{"n", n}, {"dim", dim}});
  apart({&grad_weight}, {&grad_out, &indices});
  by_float(grad_weight.dtype(), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release nogil;
    cpu::embedding_backward<T>(grad_weight.out<T>(), grad_out.in<T>(), indices.in<int64_t>(), n, num, dim,
                               padding_idx);
  });
}

}  // namespace

void bind_embedding(py::module_& m) {
  m.def("embedding_forward", &embedding_forward, py::arg("out"), py::arg("weight"), py::arg("indices"),
        "out (n, dim) = weight[indices] for weight (num, dim) and int64 indices (n,) in [0, num).");
  m.def("embedding_backward", &embedding_backward, py::arg("grad_weight"), py::arg("grad_out"), py::arg("indices"),
        py::arg("padding_idx") = -1,
        "grad_weight (num, dim) = scatter-add of grad_out (n, dim) rows at indices, skipping padding_idx (-1: none); "
        "overwritten.");
}

}  // namespace nerve::bind

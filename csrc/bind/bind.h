// One bind_<family>(m) per file in bind/; module_cpu.cpp calls them all.
// bind/ is pybind11 glue: argument checks (bind/array.h, common/view.h), no math.
// Gradients are named grad_<name>, <name> being the forward argument or output
// they belong to: grad_out/grad_y come in, grad_x, grad_weight, grad_h0, ... go out.
#pragma once
#include <pybind11/pybind11.h>

namespace nerve::bind {
namespace py = pybind11;
void bind_gemm(py::module_& m);
void bind_convert(py::module_& m);
void bind_activation(py::module_& m);
void bind_loss(py::module_& m);
void bind_optim(py::module_& m);
void bind_rnn(py::module_& m);
void bind_conv(py::module_& m);
void bind_pool(py::module_& m);
void bind_batch_norm(py::module_& m);
void bind_attention(py::module_& m);
void bind_layer_norm(py::module_& m);
void bind_embedding(py::module_& m);
}  // namespace nerve::bind

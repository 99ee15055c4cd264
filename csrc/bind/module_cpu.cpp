// nerve._C: the CPU kernels.
#include <omp.h>

#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bind/bind.h"
#include "common/cpu_features.h"

namespace py = pybind11;

PYBIND11_MODULE(_C, m) {
  m.doc() = "nerve CPU kernels (C++, OpenMP, SIMD)";
  m.def("isa", [] { return nerve::isa_name(nerve::current_isa()); }, "The SIMD variant the kernels use now.");
  m.def("best_isa", [] { return nerve::isa_name(nerve::best_isa()); }, "The best SIMD variant this CPU supports.");
  m.def("isas", [] {
    std::vector<std::string> names(nerve::kIsaNames, nerve::kIsaNames + nerve::kIsaCount);
    return names;
  }, "Every SIMD variant nerve was built with, lowest first (each runs on the CPUs of the next).");
  m.def("set_isa", [](const std::string& name) { nerve::set_isa(nerve::isa_from_name(name.c_str())); },
        py::arg("isa"), "Force 'amx', 'avx512_bf16', 'avx512', 'avx2' or 'generic' (not above what the CPU supports).");
  m.def("get_num_threads", [] { return omp_get_max_threads(); });
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw std::invalid_argument("set_num_threads: argument 'n' expected >= 1, got " + std::to_string(n));
    omp_set_num_threads(n);
  }, py::arg("n"));
  nerve::bind::bind_gemm(m);
  nerve::bind::bind_convert(m);
  nerve::bind::bind_activation(m);
  nerve::bind::bind_loss(m);
  nerve::bind::bind_optim(m);
  nerve::bind::bind_rnn(m);
  nerve::bind::bind_conv(m);
  nerve::bind::bind_pool(m);
  nerve::bind::bind_batch_norm(m);
  nerve::bind::bind_attention(m);
  nerve::bind::bind_layer_norm(m);
  nerve::bind::bind_embedding(m);
}

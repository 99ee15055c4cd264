// The optimizer bindings' arguments, shared by nerve._C (bind/optim.cpp, Args)
// and nerve._cuda (bind/optim_cuda.cpp, CudaArgs): param, its state arrays
// (None where absent) and grad_param, as Args in the kernel's order: param
// first, grad_param last. contract/optim.h checks them.
#pragma once
#include <initializer_list>
#include <utility>
#include <vector>

#include "bind/array.h"

namespace nerve::bind {

template <class Builder>
struct OptimStepArgs {
  Builder args;
  std::vector<Arg> a;

  OptimStepArgs(const char* op, std::initializer_list<std::pair<const char*, const py::object*>> state,
           const py::object& param, const py::object& grad_param)
      : args(op) {
    a.reserve(state.size() + 2);
    a.push_back(args.output(param, "param"));
    for (auto [name, o] : state) a.push_back(args.optional_output(*o, name));
    a.push_back(args.input(grad_param, "grad_param"));
  }
  int64_t n() const { return a.front().size(); }
  // Calls f(pointers...) with the typed pointers (null for None), the GIL released.
  template <class F>
  void run(F&& f) const {
    by_float(a.front().dtype(), [&](auto zero) {
      using T = decltype(zero);
      std::vector<T*> p;
      for (size_t i = 0; i + 1 < a.size(); ++i) p.push_back(a[i].out<T>());
      const T* g = a.back().in<T>();
      py::gil_scoped_release nogil;
      f(p.data(), g);
    });
  }
};

}  // namespace nerve::bind

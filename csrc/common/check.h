// Argument checks for native entry points. A failed check throws
// std::invalid_argument, which pybind11 turns into a Python ValueError; the
// message names the op, the argument and what was expected.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace nerve {

template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream s;
  (s << ... << parts);
  return s.str();
}

}  // namespace nerve

#define NERVE_CHECK(cond, ...)                                        \
  do {                                                                \
    if (!(cond)) throw std::invalid_argument(::nerve::concat(__VA_ARGS__)); \
  } while (0)

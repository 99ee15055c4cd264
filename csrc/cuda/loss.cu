// Launchers of the cross-entropy kernels (cuda/loss.cuh) for nerve._cuda; API
// in cuda/loss.h. One block per row: grid N (< 2^31, checked), block 32 or 256.
#include "cuda/loss.h"

#include "cuda/loss.cuh"

namespace nerve::cuda {

using namespace loss;

namespace {
constexpr int64_t kSmallRow = 256;  // rows up to this many classes take one warp
constexpr int64_t kMaxRows = 2147483647;

void check_rows(const char* op, int64_t N) {
  NERVE_CHECK(N <= kMaxRows, op, ": argument 'logits' has ", N, " rows, more than one launch takes (", kMaxRows, ")");
}
}  // namespace

template <class T>
void cross_entropy_forward(T* loss, double* lse, const T* logits, const int64_t* target, const T* weight,
                           const CrossEntropy& p, Stream stream) {
  const char* op = "cross_entropy_forward";
  check_rows(op, p.N);
  if (p.N == 0) return;
  const dim3 grid(static_cast<unsigned>(p.N));
  const double eps_over_c = p.label_smoothing / double(p.C);
  if (p.C <= kSmallRow)
    NERVE_LAUNCH(forward_kernel<T, 32>, grid, dim3(32), 0, to_cuda(stream), loss, lse, logits, target, weight, p.C,
                 p.ignore_index, p.label_smoothing, eps_over_c);
  else
    NERVE_LAUNCH(forward_kernel<T, 256>, grid, dim3(256), 0, to_cuda(stream), loss, lse, logits, target, weight, p.C,
                 p.ignore_index, p.label_smoothing, eps_over_c);
  check_launch(op);
}

template <class T>
void cross_entropy_backward(T* grad_logits, const T* grad_loss, const T* logits, const double* lse,
                            const int64_t* target, const T* weight, const CrossEntropy& p, Stream stream) {
  const char* op = "cross_entropy_backward";
  check_rows(op, p.N);
  if (p.N == 0) return;
  const dim3 grid(static_cast<unsigned>(p.N));
  const double eps_over_c = p.label_smoothing / double(p.C);
  if (p.C <= kSmallRow)
    NERVE_LAUNCH(backward_kernel<T, 32>, grid, dim3(32), 0, to_cuda(stream), grad_logits, grad_loss, logits, lse,
                 target, weight, p.C, p.ignore_index, p.label_smoothing, eps_over_c);
  else
    NERVE_LAUNCH(backward_kernel<T, 256>, grid, dim3(256), 0, to_cuda(stream), grad_logits, grad_loss, logits, lse,
                 target, weight, p.C, p.ignore_index, p.label_smoothing, eps_over_c);
  check_launch(op);
}

template void cross_entropy_forward<float>(float*, double*, const float*, const int64_t*, const float*,
                                           const CrossEntropy&, Stream);
template void cross_entropy_forward<double>(double*, double*, const double*, const int64_t*, const double*,
                                            const CrossEntropy&, Stream);
template void cross_entropy_backward<float>(float*, const float*, const float*, const double*, const int64_t*,
                                            const float*, const CrossEntropy&, Stream);
template void cross_entropy_backward<double>(double*, const double*, const double*, const double*, const int64_t*,
                                             const double*, const CrossEntropy&, Stream);

}  // namespace nerve::cuda

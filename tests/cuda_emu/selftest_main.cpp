// Driver of the emulation self-test kernels for the sanitizer builds (ThreadSanitizer,
// ASan + UBSan), which cannot be loaded into Python: `selftest all` runs every
// kernel on small inputs with exact (integer-valued) answers and exits 1 on a
// mismatch; the other modes run one deliberately broken kernel.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "cuda/emu_selftest.h"

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "selftest: FAILED %s\n", what);
    ++failures;
  }
}

void run_all() {
  const int n = 1000;
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) x[i] = static_cast<float>(i % 7);
  float total = 0;
  for (float v : x) total += v;

  std::vector<float> partial(3);
  expect(emu_block_sum(x.data(), n, partial.data(), 3, 64) == 0, "block_sum launch");
  expect(partial[0] + partial[1] + partial[2] == total, "block_sum");

  std::vector<float> out(n);
  expect(emu_warp_allreduce(x.data(), n, out.data(), 64) == 0, "warp_allreduce launch");
  for (int w = 0; w < n / 32; ++w) {
    float s = 0;
    for (int l = 0; l < 32; ++l) s += x[32 * w + l];
    expect(out[32 * w] == s && out[32 * w + 31] == s, "warp_allreduce");
  }

  std::vector<int> pred(100), ballot(4), any(4), all(4), votes(6);
  for (int i = 0; i < 100; ++i) pred[i] = i % 3 == 0;
  expect(emu_votes(pred.data(), 100, reinterpret_cast<unsigned*>(ballot.data()), any.data(), all.data(),
                   votes.data(), 64) == 0,
         "votes launch");
  expect(votes[0] == 22 && votes[3] == 12 && any[0] == 1 && all[0] == 0, "votes");

  const int m = 19, k = 23, nn = 17;
  std::vector<float> a(m * k), b(k * nn), c(m * nn), ref(m * nn, 0.0f);
  for (int i = 0; i < m * k; ++i) a[i] = static_cast<float>(i % 5 - 2);
  for (int i = 0; i < k * nn; ++i) b[i] = static_cast<float>(i % 3 - 1);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < nn; ++j)
      for (int p = 0; p < k; ++p) ref[i * nn + j] += a[i * k + p] * b[p * nn + j];
  expect(emu_sgemm(m, nn, k, a.data(), b.data(), c.data(), 8) == 0, "sgemm launch");
  expect(c == ref, "sgemm");

  std::vector<int> bins(n);
  for (int i = 0; i < n; ++i) bins[i] = (i * 7) % 13;
  std::vector<unsigned> hist(13, 0);
  expect(emu_histogram(bins.data(), n, 13, hist.data(), 3, 64) == 0, "histogram launch");
  unsigned hsum = 0;
  for (unsigned h : hist) hsum += h;
  expect(hsum == static_cast<unsigned>(n) && hist[0] == 77, "histogram");

  std::vector<int> iv(n), iout = {0, -1000000, 1000000, 0};
  for (int i = 0; i < n; ++i) iv[i] = (i * 37) % 1001 - 500;
  float fsum = 0;
  expect(emu_atomics(x.data(), iv.data(), n, &fsum, iout.data(), 3, 64) == 0, "atomics launch");
  expect(fsum == total && iout[0] == n && iout[1] == 500 && iout[2] == -500, "atomics");

  std::vector<float> r(x);
  expect(emu_block_reverse(r.data(), n, 64, 64 * 4, 0) == 0, "block_reverse launch");
  expect(r[0] == x[63] && r[999] == x[960], "block_reverse");

  std::vector<float> gp(3), gout(n);
  expect(emu_grid_normalize(x.data(), n, gp.data(), gout.data(), 3, 32) == 0, "grid_normalize launch");
  expect(std::fabs(gout[5] - x[5] / total) < 1e-6f, "grid_normalize");
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "all";
  std::vector<float> f(64, 1.0f), g(64);
  std::vector<int> i32(64);
  if (!std::strcmp(mode, "all")) {
    run_all();
  } else if (!std::strcmp(mode, "race")) {
    emu_race_missing_syncthreads(g.data(), 64);
  } else if (!std::strcmp(mode, "bad_mask")) {
    emu_bad_mask(i32.data());
  } else if (!std::strcmp(mode, "divergent")) {
    emu_divergent_intrinsics(i32.data());
  } else if (!std::strcmp(mode, "deadlock")) {
    emu_deadlock(i32.data());
  } else if (!std::strcmp(mode, "out_of_bounds")) {
    std::vector<float> x(50, 1.0f), out(50);
    emu_out_of_bounds(x.data(), 50, out.data(), 32);
  } else if (!std::strcmp(mode, "static_shared_cooperative")) {
    emu_static_shared_cooperative(g.data());
  } else {
    std::fprintf(stderr, "selftest: unknown mode %s\n", mode);
    return 2;
  }
  if (failures) return 1;
  std::printf("selftest %s: ok\n", mode);
  return 0;
}

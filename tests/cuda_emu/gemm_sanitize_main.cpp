// Runs the emulated GEMM kernels (gemm_kernels.cu: small tiles, both
// tensor-core pipelines, and the production launchers) on a few problems with
// tile edges, transposes, a shared batch operand and the epilogue, and checks
// them against a float64 reference. Built with ThreadSanitizer (a missing
// __syncthreads or cp.async wait is a reported race) and with ASan+UBSan
// (an unchecked tile edge is an out-of-bounds access) by
// tests/cuda_emu/test_gemm_sanitizers.py. Exit status 0: all good.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

extern "C" int gemm_run(int kind, int config, int64_t batch, int ta, int tb, int64_t M, int64_t N, int64_t K,
                        double alpha, const void* A, int64_t lda, int64_t sa, const void* B, int64_t ldb, int64_t sb,
                        double beta, void* C, int64_t ldc, int64_t sc, const void* bias, int act);

namespace {

uint16_t to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
double from_bf16(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// kind: 0 SIMT fp32, 1 SIMT fp64, 2 TF32, 3 bf16. Returns the number of bad elements.
int check(int kind, int config, int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, bool share_b,
          int64_t pad, std::mt19937& gen) {
  std::normal_distribution<double> dist;
  const int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
  const int64_t sa = (ta ? K : M) * lda, sb = share_b ? 0 : (tb ? N : K) * ldb, sc = M * ldc;
  const int64_t na = batch * sa, nb = share_b ? (tb ? N : K) * ldb : batch * sb, nc = batch * sc;
  std::vector<double> a(na), b(nb), c(nc), bias(N);
  for (auto* v : {&a, &b, &c, &bias})
    for (double& x : *v) x = kind == 3 ? from_bf16(to_bf16(static_cast<float>(dist(gen)))) : dist(gen);
  const double alpha = 0.5, beta = 0.25;
  const size_t item = kind == 1 ? 8 : kind == 3 ? 2 : 4;
  auto pack = [&](const std::vector<double>& v) {
    std::vector<unsigned char> out(v.size() * item);
    for (size_t i = 0; i < v.size(); ++i) {
      if (kind == 1) std::memcpy(&out[i * 8], &v[i], 8);
      else if (kind == 3) {
        const uint16_t h = to_bf16(static_cast<float>(v[i]));
        std::memcpy(&out[i * 2], &h, 2);
      } else {
        const float f = static_cast<float>(v[i]);
        std::memcpy(&out[i * 4], &f, 4);
      }
    }
    return out;
  };
  auto pa = pack(a), pb = pack(b), pc = pack(c), pbias = pack(bias);
  const int rc = gemm_run(kind, config, batch, ta, tb, M, N, K, alpha, pa.data(), lda, sa, pb.data(), ldb, sb, beta,
                          pc.data(), ldc, sc, pbias.data(), 1 /* relu */);
  if (rc != 0) {
    std::fprintf(stderr, "gemm_run kind %d config %d: cuda error %d\n", kind, config, rc);
    return 1;
  }
  const double rel = kind == 1 ? 1e-12 : kind == 0 ? 1e-5 : kind == 2 ? 2e-3 : 1e-2;
  int bad = 0;
  for (int64_t z = 0; z < batch; ++z)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double s = 0, mag = 0;
        for (int64_t k = 0; k < K; ++k) {
          const double x = a[z * sa + (ta ? k * lda + m : m * lda + k)];
          const double y = b[(share_b ? 0 : z * sb) + (tb ? n * ldb + k : k * ldb + n)];
          s += x * y;
          mag += std::fabs(x * y);
        }
        const int64_t i = z * sc + m * ldc + n;
        double want = alpha * s + beta * c[i] + bias[n];
        want = want < 0 ? 0 : want;
        double got;
        if (kind == 1) std::memcpy(&got, &pc[i * 8], 8);
        else if (kind == 3) {
          uint16_t h;
          std::memcpy(&h, &pc[i * 2], 2);
          got = from_bf16(h);
        } else {
          float f;
          std::memcpy(&f, &pc[i * 4], 4);
          got = f;
        }
        const double tol = rel * (std::fabs(alpha) * mag + std::fabs(beta * c[i]) + std::fabs(bias[n]) + 1e-30);
        if (!(std::fabs(got - want) <= tol)) {
          if (bad < 5)
            std::fprintf(stderr, "kind %d config %d: C[%lld][%lld][%lld] = %g, expected %g\n", kind, config,
                         static_cast<long long>(z), static_cast<long long>(m), static_cast<long long>(n), got, want);
          ++bad;
        }
      }
  return bad;
}

}  // namespace

int main() {
  std::mt19937 gen(7);
  int bad = 0;
  for (int kind = 0; kind < 4; ++kind) {
    // Small tiles: edges in M, N and K, all four transposes, a shared B; pad 0 (odd
    // rows: the plain-load pipeline) and pad to 16 bytes (cp.async).
    bad += check(kind, 1, 2, false, false, 33, 17, 19, true, 0, gen);
    bad += check(kind, 1, 1, true, true, 17, 18, 33, false, 0, gen);
    bad += check(kind, 1, 2, true, false, 31, 16, 24, false, kind == 1 ? 0 : 8 - 31 % 8, gen);
    bad += check(kind, 1, 1, false, true, 32, 33, 40, false, 0, gen);
    if (kind >= 2) bad += check(kind, 2, 1, false, false, 33, 17, 40, false, 7, gen);  // plain-load pipeline
    // The production tiles, once.
    bad += check(kind, 0, 1, true, false, 20, 24, 40, false, 0, gen);
  }
  if (bad) std::fprintf(stderr, "%d wrong elements\n", bad);
  else std::printf("gemm sanitizer run: all correct\n");
  return bad ? 1 : 0;
}

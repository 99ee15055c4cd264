// Convolution 2-D (NCHW): forward, input gradient and weight gradient, with
// stride, padding, dilation and groups.
//
// Algorithm, per image n and group g (Cg = C/groups input channels, Kg =
// K/groups output channels, R = kh*kw taps, P = OH*OW output pixels):
//   forward          col (Cg*R, P) = im2col(x[n, g])
//                    y[n, g] (Kg, P) = w[g] (Kg, Cg*R) @ col  (+ bias, preloaded)
//   backward input   dcol (Cg*R, P) = w[g]^T @ dy[n, g];  dx[n, g] = col2im(dcol)
//   backward weight  dw[g] (Kg, Cg*R) += dy[n, g] (Kg, P) @ col^T;  db = sum dy
// on nerve::cpu::gemm (transposes are handled by the GEMM's packing, never
// copied). Special paths:
//   - 1x1, stride 1, no padding: x[n, g] already is the (Cg, P) col matrix,
//     so there is no im2col/col2im at all, just the GEMM.
//   - depthwise (Cg == 1, groups > 1): direct per-plane loops (conv_impl.h,
//     one copy per ISA) on a zero-padded copy of each input plane; im2col
//     would feed the GEMM M = multiplier, K = R. The stride-1 input gradient
//     is the forward loop on dy with flipped weights; the weight gradient
//     keeps vector partial sums per tap over a whole plane.
//
// Threads: when the batch splits evenly over the threads (or is large) each
// thread takes whole images with its own col buffer, and the GEMM it calls
// runs single-threaded (nested OpenMP regions get one thread), so there is no
// synchronization per image. Otherwise (batch 1, inference) images go one by
// one and both im2col (over channels) and the GEMM use all threads. The
// weight gradient in batch mode accumulates per-thread partial dw and sums
// them at the end (deterministic for a fixed thread count).
//
// Workspaces: the col buffers are thread_local and grow on demand, so repeated
// calls do not page-fault fresh memory (a fresh 2.3 MB col buffer for a
// 64-channel 32x32 3x3 layer is ~570 page faults per call). They are kept
// until the thread exits.
//
// Denormals: every entry point and parallel region holds a DenormalGuard.
//
// Measured (bench/results/conv-2026-11-25.md, float32, shared 2-vCPU AVX-512
// box, ratio = nerve time / PyTorch 2.13 oneDNN time): on the gemm branch's
// blocked GEMM, 3x3 layers 1.0-1.45x forward+backward, 1x1 0.9x, depthwise
// 3x3 0.35-1.0x; im2col adds 5-10% over the GEMMs alone (1 thread,
// 32x64x32x32 3x3: 78 ms conv vs 75 ms for its GEMMs).
// Profile (bench/results/conv-2026-11-25-convperf.md, 1 thread, CPU time): each
// pass of a 3x3 layer is 80-97% its GEMM(s); the GEMM alone runs at 94-100
// GFLOP/s (peak 116) where oneDNN's direct convolution reaches 100-113, so the
// rest of the gap is the GEMM's, not im2col's. Tried and measured slower, so
// not kept: several images side by side in one GEMM (col (Cg*R, m*P) with
// ~1024 columns, y scattered with the bias, dy gathered, the weight gradient
// as one GEMM with K = m*P): 128->128 16x16 fwd 13.3 -> 15.1 ms, wgrad 13.8 ->
// 15.6, 256->256 14x14 wgrad 19.4 -> 21.9 (fwd 21.9 -> 21.4): the larger col
// leaves L2 and the gather/scatter costs more than the fewer weight repacks
// save; im2col in L2-sized column chunks (one GEMM per chunk): 2-75% slower
// (the weight is repacked per chunk). The GEMM's bias epilogue adds a bias per
// column; the conv bias is per row (output channel), hence the preload.
#include "cpu/conv.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/denormal.h"
#include "common/dispatch.h"
#include "common/parallel.h"
// For the plane layout the driver shares with the kernels (valid_range,
// padded_w, kDwBlock, dw_flat, dw_dy_stride); its kernels are unused here.
#include "cpu/conv_impl.h"
#include "cpu/gemm.h"

namespace nerve::cpu {
namespace {

// A per-thread scratch buffer of at least n elements (slot picks one of two).
template <class T>
T* scratch(int64_t n, int slot) {
  thread_local std::vector<T> buf[2];
  if (static_cast<int64_t>(buf[slot].size()) < n) buf[slot].resize(static_cast<size_t>(n));
  return buf[slot].data();
}

template <class T>
void zero(T* p, int64_t n) {
  if (n > 0) std::memset(p, 0, static_cast<size_t>(n) * sizeof(T));
}

// col rows [c0*R, c1*R) of one group: col[(c, i, j), (oh, ow)] = x[c, ih, iw], 0 in the padding.
template <class T>
void im2col(const Conv2dShape& s, T* col, const T* x, int64_t c0, int64_t c1) {
  const int64_t P = s.OH * s.OW;
  for (int64_t c = c0; c < c1; ++c) {
    for (int64_t i = 0; i < s.kh; ++i) {
      int64_t oh0, oh1;
      valid_range(i * s.dh - s.ph, s.sh, s.H, s.OH, oh0, oh1);
      for (int64_t j = 0; j < s.kw; ++j) {
        const int64_t off = j * s.dw - s.pw;
        int64_t ow0, ow1;
        valid_range(off, s.sw, s.W, s.OW, ow0, ow1);
        T* row = col + ((c * s.kh + i) * s.kw + j) * P;
        zero(row, oh0 * s.OW);
        for (int64_t oh = oh0; oh < oh1; ++oh) {
          T* r = row + oh * s.OW;
          const T* xr = x + (c * s.H + oh * s.sh + i * s.dh - s.ph) * s.W + off;
          zero(r, ow0);
          if (s.sw == 1) {
            std::memcpy(r + ow0, xr + ow0, static_cast<size_t>(ow1 - ow0) * sizeof(T));
          } else {
            for (int64_t ow = ow0; ow < ow1; ++ow) r[ow] = xr[ow * s.sw];
          }
          zero(r + ow1, s.OW - ow1);
        }
        zero(row + oh1 * s.OW, (s.OH - oh1) * s.OW);
      }
    }
  }
}

// dx[c] += col2im(col) for channels [c0, c1) of one group (the adjoint of im2col).
template <class T>
void col2im(const Conv2dShape& s, T* dx, const T* col, int64_t c0, int64_t c1) {
  const int64_t P = s.OH * s.OW;
  for (int64_t c = c0; c < c1; ++c) {
    for (int64_t i = 0; i < s.kh; ++i) {
      int64_t oh0, oh1;
      valid_range(i * s.dh - s.ph, s.sh, s.H, s.OH, oh0, oh1);
      for (int64_t j = 0; j < s.kw; ++j) {
        const int64_t off = j * s.dw - s.pw;
        int64_t ow0, ow1;
        valid_range(off, s.sw, s.W, s.OW, ow0, ow1);
        const T* row = col + ((c * s.kh + i) * s.kw + j) * P;
        for (int64_t oh = oh0; oh < oh1; ++oh) {
          const T* __restrict r = row + oh * s.OW;
          T* __restrict xr = dx + (c * s.H + oh * s.sh + i * s.dh - s.ph) * s.W + off;
          if (s.sw == 1) {
            for (int64_t ow = ow0; ow < ow1; ++ow) xr[ow] += r[ow];
          } else {
            for (int64_t ow = ow0; ow < ow1; ++ow) xr[ow * s.sw] += r[ow];
          }
        }
      }
    }
  }
}

// xp (H + 2*ph, W + 2*pw) = x (H, W) inside a zero border (the depthwise loops' input).
// One select loop per row: planes are small (often 14x14), and memcpy/memset
// calls per row cost more than the copy itself.
template <class T>
void pad_plane(const Conv2dShape& s, T* __restrict xp, const T* __restrict x) {
  const int64_t Wp = s.W + 2 * s.pw;
  for (int64_t h = 0; h < s.H + 2 * s.ph; ++h) {
    T* __restrict r = xp + h * Wp;
    const int64_t ih = h - s.ph;
    if (ih < 0 || ih >= s.H) {
      for (int64_t w = 0; w < Wp; ++w) r[w] = T(0);
      continue;
    }
    const T* __restrict xr = x + ih * s.W - s.pw;
    for (int64_t w = 0; w < Wp; ++w) r[w] = (w >= s.pw && w < s.pw + s.W) ? xr[w] : T(0);
  }
}

// Elements of a padded plane plus the slack the forward's last register block
// may read past its end (the flat stride-1 loop: (kw-1)*dw more).
template <class T>
int64_t padded_plane_size(const Conv2dShape& s) {
  return (s.H + 2 * s.ph) * (s.W + 2 * s.pw) + kDwBlock<T> * s.sw + (s.kw - 1) * s.dw;
}

bool is_plain_1x1(const Conv2dShape& s) {
  return s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0;
}

bool is_depthwise(const Conv2dShape& s) { return s.groups > 1 && s.C == s.groups; }

// Whole images per thread when that balances; see the header comment.
int batch_threads(const Conv2dShape& s, int64_t work) {
  const int nt = threads_for(work);
  return nt > 1 && (s.N % nt == 0 || s.N >= 4 * nt) ? nt : 1;
}

// Calls image(n, col, threaded_gemm) for every image n, with `col` a scratch
// buffer of col_size elements (nullptr when 0): whole images per thread when
// the batch splits evenly, else one image at a time with the GEMM threaded.
template <class T, class F>
void for_each_image(const Conv2dShape& s, int64_t flops, int64_t col_size, F&& image) {
  const int nt = batch_threads(s, flops);
  if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t n = 0; n < s.N; ++n) {
      DenormalGuard g;
      image(n, col_size ? scratch<T>(col_size, 0) : nullptr, false);
    }
  } else {
    T* col = col_size ? scratch<T>(col_size, 0) : nullptr;
    for (int64_t n = 0; n < s.N; ++n) image(n, col, true);
  }
}

}  // namespace

template <class T>
void conv2d_forward(const Conv2dShape& s, T* y, const T* x, const T* w, const T* b) {
  DenormalGuard guard;
  const int64_t G = s.groups, Cg = s.C / G, Kg = s.K / G, R = s.kh * s.kw, P = s.OH * s.OW, HW = s.H * s.W;
  if (s.N == 0 || P == 0) return;
  const int64_t flops = 2 * s.N * s.K * Cg * R * P;
  if (is_depthwise(s)) {
    const ConvKernels<T>& f = pick<ConvKernels, T>();
    parallel_for(s.N * s.C, flops, [&](int64_t q0, int64_t q1) {
      DenormalGuard g;
      T* xp = scratch<T>(padded_plane_size<T>(s), 1);
      for (int64_t q = q0; q < q1; ++q) {  // q = (n, c) feeds output channels c*Kg .. c*Kg + Kg-1
        const int64_t n = q / s.C, c = q % s.C;
        pad_plane(s, xp, x + q * HW);
        for (int64_t k = c * Kg; k < (c + 1) * Kg; ++k)
          f.depthwise_forward(s, y + (n * s.K + k) * P, xp, w + k * R, b ? b[k] : T(0));
      }
    });
    return;
  }
  const bool plain = is_plain_1x1(s);
  // One image: y[n] for every group, using `col` as the im2col buffer.
  auto image = [&](int64_t n, T* col, bool parallel_im2col) {
    for (int64_t g = 0; g < G; ++g) {
      const T* xg = x + (n * s.C + g * Cg) * HW;
      if (!plain) {
        if (parallel_im2col) {
          parallel_for(Cg, Cg * R * P, [&](int64_t c0, int64_t c1) {
            DenormalGuard dg;
            im2col(s, col, xg, c0, c1);
          });
        } else {
          im2col(s, col, xg, 0, Cg);
        }
      }
      T* yg = y + (n * s.K + g * Kg) * P;
      if (b)
        for (int64_t k = 0; k < Kg; ++k) std::fill(yg + k * P, yg + (k + 1) * P, b[g * Kg + k]);
      gemm<T>(false, false, Kg, P, Cg * R, T(1), w + g * Kg * Cg * R, Cg * R, plain ? xg : col, P, b ? T(1) : T(0),
              yg, P);
    }
  };
  for_each_image<T>(s, flops, plain ? 0 : Cg * R * P, image);
}

template <class T>
void conv2d_backward_input(const Conv2dShape& s, T* dx, const T* dy, const T* w) {
  DenormalGuard guard;
  const int64_t G = s.groups, Cg = s.C / G, Kg = s.K / G, R = s.kh * s.kw, P = s.OH * s.OW, HW = s.H * s.W;
  if (s.N == 0) return;
  const bool plain = is_plain_1x1(s);
  if (P == 0 || (!plain && !is_depthwise(s))) zero(dx, s.N * s.C * HW);  // col2im accumulates
  if (P == 0) return;
  const int64_t flops = 2 * s.N * s.K * Cg * R * P;
  if (is_depthwise(s) && s.sh == 1 && s.sw == 1 && Kg == 1 && s.ph <= s.dh * (s.kh - 1) &&
      s.pw <= s.dw * (s.kw - 1)) {
    // Stride 1, one output per input channel: dx = conv(dy, flipped w) with
    // padding d*(k-1) - p, i.e. the register-blocked forward loop (a gather)
    // instead of the scatter below, whose overlapping row updates stall on
    // store forwarding.
    const ConvKernels<T>& f = pick<ConvKernels, T>();
    Conv2dShape t = s;
    t.H = s.OH, t.W = s.OW, t.OH = s.H, t.OW = s.W;
    t.ph = s.dh * (s.kh - 1) - s.ph, t.pw = s.dw * (s.kw - 1) - s.pw;
    std::vector<T> flipped(static_cast<size_t>(s.K * R));
    for (int64_t k = 0; k < s.K; ++k)
      for (int64_t r = 0; r < R; ++r) flipped[k * R + r] = w[k * R + R - 1 - r];
    parallel_for(s.N * s.C, flops, [&](int64_t q0, int64_t q1) {
      DenormalGuard g;
      T* dyp = scratch<T>(padded_plane_size<T>(t), 1);
      for (int64_t q = q0; q < q1; ++q) {
        pad_plane(t, dyp, dy + q * P);
        f.depthwise_forward(t, dx + q * HW, dyp, flipped.data() + (q % s.C) * R, T(0));
      }
    });
    return;
  }
  if (is_depthwise(s)) {
    const ConvKernels<T>& f = pick<ConvKernels, T>();
    const int64_t Wp = s.W + 2 * s.pw;
    parallel_for(s.N * s.C, flops, [&](int64_t q0, int64_t q1) {
      DenormalGuard g;
      T* dxp = scratch<T>(padded_plane_size<T>(s), 1);
      for (int64_t q = q0; q < q1; ++q) {  // q = (n, c), fed by output channels c*Kg .. c*Kg + Kg-1
        const int64_t n = q / s.C, c = q % s.C;
        for (int64_t i = 0; i < padded_plane_size<T>(s); ++i) dxp[i] = T(0);
        for (int64_t k = c * Kg; k < (c + 1) * Kg; ++k)
          f.depthwise_backward_input(s, dxp, dy + (n * s.K + k) * P, w + k * R);
        for (int64_t h = 0; h < s.H; ++h) {  // crop the padding
          const T* src = dxp + (h + s.ph) * Wp + s.pw;
          T* dst = dx + q * HW + h * s.W;
          for (int64_t w = 0; w < s.W; ++w) dst[w] = src[w];
        }
      }
    });
    return;
  }
  auto image = [&](int64_t n, T* col, bool parallel_col2im) {
    for (int64_t g = 0; g < G; ++g) {
      const T* dyg = dy + (n * s.K + g * Kg) * P;
      T* dxg = dx + (n * s.C + g * Cg) * HW;
      gemm<T>(true, false, Cg * R, P, Kg, T(1), w + g * Kg * Cg * R, Cg * R, dyg, P, T(0), plain ? dxg : col, P);
      if (plain) continue;
      if (parallel_col2im) {
        parallel_for(Cg, Cg * R * P, [&](int64_t c0, int64_t c1) {
          DenormalGuard dg;
          col2im(s, dxg, col, c0, c1);
        });
      } else {
        col2im(s, dxg, col, 0, Cg);
      }
    }
  };
  for_each_image<T>(s, flops, plain ? 0 : Cg * R * P, image);
}

template <class T>
void conv2d_backward_weight(const Conv2dShape& s, T* dw, T* db, const T* x, const T* dy) {
  DenormalGuard guard;
  const int64_t G = s.groups, Cg = s.C / G, Kg = s.K / G, R = s.kh * s.kw, P = s.OH * s.OW, HW = s.H * s.W;
  const int64_t wsize = s.K * Cg * R, flops = 2 * s.N * s.K * Cg * R * P;
  if (db) {
    parallel_for(s.K, s.N * s.K * P, [&](int64_t k0, int64_t k1) {
      DenormalGuard g;
      for (int64_t k = k0; k < k1; ++k) {
        T acc = 0;
        for (int64_t n = 0; n < s.N; ++n) {
          const T* d = dy + (n * s.K + k) * P;
#pragma omp simd reduction(+ : acc)
          for (int64_t p = 0; p < P; ++p) acc += d[p];
        }
        db[k] = acc;
      }
    });
  }
  if (s.N == 0 || P == 0) {
    zero(dw, wsize);
    return;
  }
  if (is_depthwise(s)) {
    const ConvKernels<T>& f = pick<ConvKernels, T>();
    const int64_t ld = dw_dy_stride<T>(s);
    parallel_for(s.C, flops, [&](int64_t c0, int64_t c1) {
      DenormalGuard g;
      T* xp = scratch<T>(padded_plane_size<T>(s), 1);
      T* dyp = scratch<T>(s.OH * ld + kDwBlock<T>, 0);
      zero(dyp + s.OH * ld, kDwBlock<T>);
      for (int64_t c = c0; c < c1; ++c) {
        zero(dw + c * Kg * R, Kg * R);
        for (int64_t n = 0; n < s.N; ++n) {
          pad_plane(s, xp, x + (n * s.C + c) * HW);
          for (int64_t k = c * Kg; k < (c + 1) * Kg; ++k) {
            const T* d = dy + (n * s.K + k) * P;
            for (int64_t oh = 0; oh < s.OH; ++oh)  // rows of whole vector blocks, zeros past OW
              for (int64_t ow = 0; ow < ld; ++ow) dyp[oh * ld + ow] = ow < s.OW ? d[oh * s.OW + ow] : T(0);
            f.depthwise_backward_weight(s, dw + k * R, xp, dyp);
          }
        }
      }
    });
    return;
  }
  const bool plain = is_plain_1x1(s);
  // dw_acc[g] (+)= dy[n, g] @ col^T; the first image overwrites.
  auto image = [&](int64_t n, T* col, T* dw_acc, bool first, bool parallel_im2col) {
    for (int64_t g = 0; g < G; ++g) {
      const T* xg = x + (n * s.C + g * Cg) * HW;
      if (!plain) {
        if (parallel_im2col) {
          parallel_for(Cg, Cg * R * P, [&](int64_t c0, int64_t c1) {
            DenormalGuard dg;
            im2col(s, col, xg, c0, c1);
          });
        } else {
          im2col(s, col, xg, 0, Cg);
        }
      }
      gemm<T>(false, true, Kg, Cg * R, P, T(1), dy + (n * s.K + g * Kg) * P, P, plain ? xg : col, P,
              first ? T(0) : T(1), dw_acc + g * Kg * Cg * R, Cg * R);
    }
  };
  const int nt = batch_threads(s, flops);
  if (nt > 1) {
    std::vector<T> partial(static_cast<size_t>(nt * wsize));
#pragma omp parallel num_threads(nt)
    {
      DenormalGuard g;
      const int t = omp_get_thread_num(), T_ = omp_get_num_threads();
      const int64_t chunk = (s.N + T_ - 1) / T_, n0 = std::min(s.N, t * chunk), n1 = std::min(s.N, n0 + chunk);
      T* acc = partial.data() + t * wsize;
      if (n0 == n1) zero(acc, wsize);
      T* col = plain ? nullptr : scratch<T>(Cg * R * P, 0);
      for (int64_t n = n0; n < n1; ++n) image(n, col, acc, n == n0, false);
    }
    parallel_for(wsize, wsize * nt, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        T sum = partial[i];
        for (int t = 1; t < nt; ++t) sum += partial[t * wsize + i];
        dw[i] = sum;
      }
    });
  } else {
    T* col = plain ? nullptr : scratch<T>(Cg * R * P, 0);
    for (int64_t n = 0; n < s.N; ++n) image(n, col, dw, n == 0, true);
  }
}

template void conv2d_forward<float>(const Conv2dShape&, float*, const float*, const float*, const float*);
template void conv2d_forward<double>(const Conv2dShape&, double*, const double*, const double*, const double*);
template void conv2d_backward_input<float>(const Conv2dShape&, float*, const float*, const float*);
template void conv2d_backward_input<double>(const Conv2dShape&, double*, const double*, const double*);
template void conv2d_backward_weight<float>(const Conv2dShape&, float*, float*, const float*, const float*);
template void conv2d_backward_weight<double>(const Conv2dShape&, double*, double*, const double*, const double*);

}  // namespace nerve::cpu

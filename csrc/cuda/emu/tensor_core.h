// CPU versions of the tensor-core instructions behind csrc/cuda/tensor_core.cuh,
// for the CUDA emulation (cuda_emu.h). Kernels never include this file: they
// include "cuda/tensor_core.cuh", which picks inline PTX under nvcc and these
// functions under NERVE_CUDA_EMU.
//
// Fragment layouts: PTX ISA, section "Warp Level Matrix Multiply-Accumulate
// Instructions" (9.7.14.5 in PTX 9.0): "Matrix Fragments for mma.m16n8k4",
// "... mma.m16n8k8" (.tf32) and "... mma.m16n8k16 with floating point type"
// (.bf16), and "ldmatrix" (9.7.9.x); with groupID = lane >> 2 and
// tig = lane % 4 ("threadID_in_group"):
//   m16n8k4  .tf32  A (16x4):  a0 (g, tig)  a1 (g+8, tig)
//                   B (4x8):   b0 (tig, g)
//   m16n8k8  .tf32  A (16x8):  a0 (g, tig)  a1 (g+8, tig)  a2 (g, tig+4)  a3 (g+8, tig+4)
//                   B (8x8):   b0 (tig, g)  b1 (tig+4, g)
//   m16n8k16 .bf16  A (16x16): register r holds two bf16, low half first:
//                   r0 (g, 2tig+{0,1})  r1 (g+8, ..)  r2 (g, 2tig+8+{0,1})  r3 (g+8, 2tig+8+{0,1})
//                   B (16x8):  r0 (2tig+{0,1}, g)  r1 (2tig+8+{0,1}, g)
//   C/D f32 (16x8): c0 (g, 2tig)  c1 (g, 2tig+1)  c2 (g+8, 2tig)  c3 (g+8, 2tig+1)
//   ldmatrix .m8n8 .b16 .x{1,2,4}: lane 8i+r gives the address of row r of
//                   matrix i (only lanes 0-7 / 0-15 are read for x1 / x2);
//                   register i of lane l holds row l/4, columns 2(l%4), 2(l%4)+1
//                   of matrix i (low half first); .trans: column l/4, rows
//                   2(l%4), 2(l%4)+1 of the matrix as stored.
//
// Arithmetic, as the hardware:
// - .tf32 operands: the tensor core reads only the 19 tf32 bits of each .b32
//   register (sign, exponent, 10 mantissa bits) and ignores the low 13 bits,
//   i.e. an unconverted float is truncated toward zero; kernels round first
//   with cvt.rna.tf32.f32 (to_tf32 below: nearest, ties away from zero).
// - products of tf32/bf16 operands are exact (11x11 / 8x8 bit significands);
//   C and the k products are summed in double and rounded once to fp32. The
//   hardware's internal summation order and rounding are not documented and
//   may differ in the last bits; tests compare with tolerances derived from
//   the input rounding, never bitwise.
//
// cp.async: a copy is queued per thread and done only when a cp.async.wait_group
// retires its group (wait_all = commit + wait 0); at issue the destination is
// filled with 0xFF bytes (NaN for floats), so a kernel that reads the buffer
// without waiting (or without the __syncthreads after the wait) reads poison,
// and ThreadSanitizer reports the unsynchronised accesses.
//
// Every warp-collective wrapper needs all 32 lanes of the warp (the .aligned
// qualifier); fewer is fatal, as the exchange's own checks make mismatched
// calls fatal.
#pragma once

#include <cstdint>
#include <cstring>
#include <deque>
#include <vector>

#include "cuda/emu/cuda_emu.h"

namespace nerve::emu::tc {

// ------------------------------------------------------------- conversions
inline uint32_t f32_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float bits_f32(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// cvt.rna.tf32.f32: round to the nearest tf32, ties away from zero; NaN and
// infinities pass through (the result is a .b32 holding a tf32).
inline uint32_t to_tf32(float x) {
  const uint32_t u = f32_bits(x);
  if ((u & 0x7f800000u) == 0x7f800000u) return u;  // inf / nan
  return (u + 0x1000u) & 0xffffe000u;
}

// The value the tensor core sees in a .tf32 register: the low 13 bits ignored.
inline double tf32_operand(uint32_t r) { return static_cast<double>(bits_f32(r & 0xffffe000u)); }
inline double bf16_operand(uint16_t h) { return static_cast<double>(bits_f32(static_cast<uint32_t>(h) << 16)); }

// ----------------------------------------------------------- warp exchange
// Each lane publishes a pointer to its data; after the exchange every lane
// reads all 32 (`see`), then a second barrier keeps the data alive until all
// lanes are done. Three warp collectives: the emulation's own barriers, so
// ThreadSanitizer sees the ordering.
struct Mailbox {
  const void* slot[32];
};

template <class F>
inline void warp_exchange(const char* what, const void* mine, F&& see) {
  if (__activemask() != 0xffffffffu)
    detail::fatal("%s: all 32 lanes of the warp must execute it (.sync.aligned); active mask 0x%08x", what,
                  __activemask());
  Mailbox box;
  Mailbox* shared_box = __shfl_sync(0xffffffffu, &box, 0);
  shared_box->slot[detail::ctx.lane] = mine;
  __syncwarp();
  see(shared_box->slot);
  __syncwarp();
}

// ------------------------------------------------------------------- mma
// D (16x8 f32) = A (16xK) * B (Kx8) + C, each lane passing its fragment.
template <int K, int NA, int NB>
struct MmaIn {
  uint32_t a[NA];
  uint32_t b[NB];
};

// (row, col) of register `r` (or of half `h` of it, for bf16) in each layout.
struct Rc {
  int row, col;
};
inline Rc c_layout(int lane, int i) { return {(lane >> 2) + 8 * (i >> 1), (lane % 4) * 2 + (i & 1)}; }
inline Rc a_tf32_k4(int lane, int r) { return {(lane >> 2) + 8 * r, lane % 4}; }
inline Rc b_tf32_k4(int lane, int /*r*/) { return {lane % 4, lane >> 2}; }
inline Rc a_tf32_k8(int lane, int r) { return {(lane >> 2) + 8 * (r & 1), lane % 4 + 4 * (r >> 1)}; }
inline Rc b_tf32_k8(int lane, int r) { return {lane % 4 + 4 * r, lane >> 2}; }
inline Rc a_bf16_k16(int lane, int r, int h) { return {(lane >> 2) + 8 * (r & 1), (lane % 4) * 2 + h + 8 * (r >> 1)}; }
inline Rc b_bf16_k16(int lane, int r, int h) { return {(lane % 4) * 2 + h + 8 * r, lane >> 2}; }

template <int K, bool Bf16, int NA, int NB>
inline void mma_impl(const char* what, float (&d)[4], const uint32_t (&a)[NA], const uint32_t (&b)[NB],
                     const float (&c)[4]) {
  MmaIn<K, NA, NB> mine;
  std::memcpy(mine.a, a, sizeof mine.a);
  std::memcpy(mine.b, b, sizeof mine.b);
  const float c_in[4] = {c[0], c[1], c[2], c[3]};  // d may alias c
  double A[16][K], B[K][8];
  warp_exchange(what, &mine, [&](const void* const* slot) {
    for (int lane = 0; lane < 32; ++lane) {
      const auto& in = *static_cast<const MmaIn<K, NA, NB>*>(slot[lane]);
      for (int r = 0; r < NA; ++r) {
        if constexpr (Bf16) {
          for (int h = 0; h < 2; ++h) {
            const Rc p = a_bf16_k16(lane, r, h);
            A[p.row][p.col] = bf16_operand(static_cast<uint16_t>(in.a[r] >> (16 * h)));
          }
        } else {
          const Rc p = K == 4 ? a_tf32_k4(lane, r) : a_tf32_k8(lane, r);
          A[p.row][p.col] = tf32_operand(in.a[r]);
        }
      }
      for (int r = 0; r < NB; ++r) {
        if constexpr (Bf16) {
          for (int h = 0; h < 2; ++h) {
            const Rc p = b_bf16_k16(lane, r, h);
            B[p.row][p.col] = bf16_operand(static_cast<uint16_t>(in.b[r] >> (16 * h)));
          }
        } else {
          const Rc p = K == 4 ? b_tf32_k4(lane, r) : b_tf32_k8(lane, r);
          B[p.row][p.col] = tf32_operand(in.b[r]);
        }
      }
    }
  });
  const int lane = static_cast<int>(detail::ctx.lane);
  for (int i = 0; i < 4; ++i) {
    const Rc p = c_layout(lane, i);
    double s = c_in[i];
    for (int k = 0; k < K; ++k) s += A[p.row][k] * B[k][p.col];
    d[i] = static_cast<float>(s);
  }
}

inline void mma_m16n8k4_tf32(float (&d)[4], const uint32_t (&a)[2], const uint32_t (&b)[1], const float (&c)[4]) {
  mma_impl<4, false>("mma.sync.aligned.m16n8k4.row.col.f32.tf32.tf32.f32", d, a, b, c);
}
inline void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], const float (&c)[4]) {
  mma_impl<8, false>("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32", d, a, b, c);
}
inline void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], const float (&c)[4]) {
  mma_impl<16, true>("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32", d, a, b, c);
}

// -------------------------------------------------------------- ldmatrix
template <int N, bool Trans>
inline void ldmatrix(uint32_t (&r)[N], const void* row_addr) {
  static_assert(N == 1 || N == 2 || N == 4, "ldmatrix loads 1, 2 or 4 matrices");
  const char* what = Trans ? "ldmatrix.sync.aligned.m8n8.trans.shared.b16" : "ldmatrix.sync.aligned.m8n8.shared.b16";
  const unsigned lane = detail::ctx.lane;
  if (lane < 8u * N && reinterpret_cast<uintptr_t>(row_addr) % 16 != 0)
    detail::fatal("%s: lane %u's row address %p is not 16-byte aligned", what, lane, row_addr);
  uint32_t out[N];
  warp_exchange(what, row_addr, [&](const void* const* slot) {
    for (int i = 0; i < N; ++i) {
      uint16_t h[2];
      for (int j = 0; j < 2; ++j) {
        // Not transposed: row lane/4, column 2(lane%4)+j; transposed: row
        // 2(lane%4)+j, column lane/4 (of the matrix as stored).
        const int row = Trans ? 2 * static_cast<int>(lane % 4) + j : static_cast<int>(lane / 4);
        const int col = Trans ? static_cast<int>(lane / 4) : 2 * static_cast<int>(lane % 4) + j;
        std::memcpy(&h[j], static_cast<const char*>(slot[8 * i + row]) + 2 * col, 2);
      }
      out[i] = static_cast<uint32_t>(h[0]) | (static_cast<uint32_t>(h[1]) << 16);
    }
  });
  for (int i = 0; i < N; ++i) r[i] = out[i];
}

// -------------------------------------------------------------- cp.async
struct AsyncCopy {
  void* dst;
  const void* src;
  int bytes, src_bytes;
};
struct AsyncState {
  const void* block = nullptr;  // the block (and launch) that issued the pending copies
  const void* launch = nullptr;
  uint3 block_idx{0, 0, 0};
  std::vector<AsyncCopy> open;               // not yet committed
  std::deque<std::vector<AsyncCopy>> groups;  // committed, oldest first
};
inline thread_local AsyncState async_state;

inline AsyncState& async_for_this_block(const char* what) {
  AsyncState& s = async_state;
  const bool pending = !s.open.empty() || !s.groups.empty();
  const uint3 b = blockIdx;
  if (pending && (s.block != detail::ctx.block || s.launch != detail::ctx.launch || s.block_idx.x != b.x ||
                  s.block_idx.y != b.y || s.block_idx.z != b.z))
    detail::fatal("%s: a thread of block (%u,%u,%u) left cp.async copies pending at its exit "
                  "(no cp.async.wait_group 0 / wait_all before the kernel returned)",
                  what, s.block_idx.x, s.block_idx.y, s.block_idx.z);
  s.block = detail::ctx.block;
  s.launch = detail::ctx.launch;
  s.block_idx = b;
  return s;
}

// cp.async.{ca,cg}.shared.global [dst], [src], Bytes, src_bytes: copies
// src_bytes bytes and zero-fills the rest of the Bytes (src_bytes 0: src is
// not read).
template <int Bytes, bool CacheGlobal>
inline void cp_async(void* dst, const void* src, int src_bytes) {
  static_assert(Bytes == 4 || Bytes == 8 || Bytes == 16, "cp.async copies 4, 8 or 16 bytes");
  static_assert(!CacheGlobal || Bytes == 16, "cp.async.cg copies 16 bytes only");
  const char* what = CacheGlobal ? "cp.async.cg.shared.global" : "cp.async.ca.shared.global";
  if (reinterpret_cast<uintptr_t>(dst) % Bytes || (src_bytes > 0 && reinterpret_cast<uintptr_t>(src) % Bytes))
    detail::fatal("%s: %d-byte copy with a misaligned address (dst %p, src %p)", what, Bytes, dst, src);
  if (src_bytes < 0 || src_bytes > Bytes) detail::fatal("%s: src-size %d outside [0, %d]", what, src_bytes, Bytes);
  AsyncState& s = async_for_this_block(what);
  std::memset(dst, 0xff, Bytes);  // poison until the wait
  s.open.push_back({dst, src, Bytes, src_bytes});
}

inline void cp_async_commit() {
  AsyncState& s = async_for_this_block("cp.async.commit_group");
  s.groups.push_back(std::move(s.open));
  s.open.clear();
}

inline void cp_async_wait(int n) {
  AsyncState& s = async_for_this_block("cp.async.wait_group");
  while (static_cast<int>(s.groups.size()) > n) {
    for (const AsyncCopy& c : s.groups.front()) {
      if (c.src_bytes > 0) std::memcpy(c.dst, c.src, static_cast<size_t>(c.src_bytes));
      std::memset(static_cast<char*>(c.dst) + c.src_bytes, 0, static_cast<size_t>(c.bytes - c.src_bytes));
    }
    s.groups.pop_front();
  }
}

inline void cp_async_wait_all() {
  cp_async_commit();
  cp_async_wait(0);
}

}  // namespace nerve::emu::tc

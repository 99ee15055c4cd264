// The runtime half of the CUDA emulation (see cuda_emu.h): launches, the block
// barrier, the per-warp exchange, the grid barrier and the error state.
//
// Synchronisation is chosen for ThreadSanitizer: the emulation must order the
// kernel's threads exactly where CUDA does (barriers, warp intrinsics, grid
// sync, launch boundaries) and nowhere else, or TSan would miss races.
// - Each block barrier has its own mutex + condition variable, each warp its
//   own (so two warps' shuffles do not order the warps).
// - Each worker thread is started through its own mutex by the launching
//   thread, and reports completion to it through another, so one thread
//   finishing never orders another thread's start.
// - The deadlock detector counts waiting threads in one relaxed atomic, which
//   TSan does not treat as synchronisation.
#include "cuda/emu/cuda_emu.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace nerve::emu::detail {
namespace {

constexpr unsigned kWarpSize = 32;
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr size_t kDefaultMaxDynamicSmem = 48 * 1024;
constexpr size_t kMaxDynamicSmemOptIn = 227 * 1024;  // H100 / H200
constexpr unsigned long long kMaxCooperativeThreads = 4096;

const char* op_name(Op op) {
  switch (op) {
    case Op::shfl_idx: return "__shfl_sync";
    case Op::shfl_up: return "__shfl_up_sync";
    case Op::shfl_down: return "__shfl_down_sync";
    case Op::shfl_xor: return "__shfl_xor_sync";
    case Op::ballot: return "__ballot_sync";
    case Op::any: return "__any_sync";
    case Op::all: return "__all_sync";
    case Op::syncwarp: return "__syncwarp";
  }
  return "?";
}

struct Lane {  // one lane's part in the warp collective it is in (if any)
  Op op = Op::syncwarp;
  unsigned mask = 0;
  int arg = 0, width = 32;
  uint64_t value = 0, result = 0;
  unsigned ticket = 0;  // bumped when the lane's collective completes
};

struct Warp {
  std::mutex m;
  std::condition_variable cv;
  unsigned live = 0;     // lanes that exist and have not returned
  unsigned waiting = 0;  // lanes inside a collective that has not completed
  Lane lane[kWarpSize];
};

// Live and waiting threads of a block, packed in one word so that every update
// sees the latest of both: (live << 32) | waiting. Relaxed: bookkeeping only.
struct WaitCount {
  std::atomic<uint64_t> v{0};
  // Returns true when, after the update, every live thread waits (a deadlock).
  bool add(int64_t live, int64_t waiting) {
    const uint64_t d = static_cast<uint64_t>(live * (int64_t(1) << 32) + waiting);
    const uint64_t now = v.fetch_add(d, std::memory_order_relaxed) + d;
    const uint64_t l = now >> 32, w = now & 0xffffffffu;
    return l > 0 && w == l;
  }
};

}  // namespace

struct Block {
  uint3 idx{0, 0, 0};
  unsigned nthreads = 0;
  WaitCount count;
  // __syncthreads
  std::mutex m;
  std::condition_variable cv;
  unsigned live = 0, arrived = 0, gen = 0;
  int votes = 0, result = 0;
  unsigned result_n = 0;
  std::unique_ptr<Warp[]> warps;
  unsigned nwarps = 0;
  std::unique_ptr<unsigned char[]> smem;
  size_t smem_bytes = 0;

  void init(unsigned n, size_t smem_size) {
    nthreads = n;
    nwarps = (n + kWarpSize - 1) / kWarpSize;
    warps = std::make_unique<Warp[]>(nwarps);
    smem_bytes = smem_size;
    smem = std::make_unique<unsigned char[]>(smem_size);
  }
  void reset(uint3 block_idx) {  // called with no thread of the block running
    idx = block_idx;
    count.v.store(uint64_t(nthreads) << 32, std::memory_order_relaxed);
    live = nthreads;
    arrived = votes = 0;
    for (unsigned w = 0; w < nwarps; ++w) {
      const unsigned n = std::min(kWarpSize, nthreads - w * kWarpSize);
      warps[w].live = n == kWarpSize ? 0xffffffffu : (1u << n) - 1;
      warps[w].waiting = 0;
    }
    std::memset(smem.get(), 0xff, smem_bytes);  // uninitialised shared memory reads as NaN / -1
  }
};

struct Launch {
  dim3 grid, block;
  bool cooperative = false;
  unsigned long long nblocks = 0;
  void (*body)(void*) = nullptr;
  void* arg = nullptr;
  std::unique_ptr<Block[]> blocks;  // 1, or all blocks when cooperative
  // dispatch: the launching thread starts each worker for a round (one block,
  // or the whole grid) through the worker's own mutex; workers report back.
  struct Worker {
    std::mutex m;
    std::condition_variable cv;
    unsigned long long round = 0;  // 0 idle; ~0 quit
  };
  std::unique_ptr<Worker[]> workers;
  std::mutex done_m;
  std::condition_variable done_cv;
  unsigned running = 0;
  // grid barrier (cooperative)
  std::mutex gm;
  std::condition_variable g_cv;
  unsigned long long g_live = 0, g_arrived = 0, g_gen = 0;
};

namespace {

std::mutex g_launch_mutex;  // launches are serialised (static __shared__ is one copy)
thread_local cudaError_t g_last_error = cudaSuccess;
std::mutex g_attr_mutex;
std::map<const void*, size_t> g_max_dynamic_smem;

Block& current_block(const char* what) {
  if (!ctx.block) fatal("%s called outside a kernel", what);
  return *ctx.block;
}

std::string where() {
  char buf[160];
  std::snprintf(buf, sizeof buf, "block (%u,%u,%u) thread (%u,%u,%u)", ctx.block_idx.x, ctx.block_idx.y,
                ctx.block_idx.z, ctx.thread_idx.x, ctx.thread_idx.y, ctx.thread_idx.z);
  return buf;
}

// Every live thread of the block waits for another one. Called with no lock
// held; nothing changes any more, so the locks are free.
[[noreturn]] void report_deadlock(Block& b) {
  std::string msg;
  char buf[200];
  {
    std::lock_guard<std::mutex> lk(b.m);
    if (b.arrived) {
      std::snprintf(buf, sizeof buf, "\n  %u thread(s) wait in __syncthreads", b.arrived);
      msg += buf;
    }
  }
  for (unsigned w = 0; w < b.nwarps; ++w) {
    Warp& warp = b.warps[w];
    std::lock_guard<std::mutex> lk(warp.m);
    for (unsigned rest = warp.waiting; rest;) {  // one line per (intrinsic, mask)
      const Lane& x = warp.lane[__builtin_ctz(rest)];
      unsigned lanes = 0;
      for (unsigned l = 0; l < kWarpSize; ++l)
        if ((rest >> l & 1) && warp.lane[l].op == x.op && warp.lane[l].mask == x.mask) lanes |= 1u << l;
      std::snprintf(buf, sizeof buf, "\n  warp %u lanes 0x%08x wait in %s(mask 0x%08x)", w, lanes, op_name(x.op),
                    x.mask);
      msg += buf;
      rest &= ~lanes;
    }
  }
  fatal("deadlock in block (%u,%u,%u): every live thread waits for another:%s", b.idx.x, b.idx.y, b.idx.z,
        msg.c_str());
}

// Under b.m. Releases the threads waiting in the barrier.
void complete_barrier(Block& b, unsigned waiters) {
  b.result = b.votes;
  b.result_n = b.arrived;
  b.arrived = 0;
  b.votes = 0;
  ++b.gen;
  b.count.add(0, -int64_t(waiters));
  b.cv.notify_all();
}

// Source lane of a shuffle, as the PTX ISA's shfl.sync pseudo-code; -1: own value.
int shfl_source(Op op, unsigned lane, int arg, int width) {
  const int segmask = kWarpSize - width;  // c[12:8]
  const int b = arg & 31, l = static_cast<int>(lane);
  const int min_lane = l & segmask;
  const int max_lane = op == Op::shfl_up ? min_lane : min_lane | (31 & ~segmask);
  int j = 0;
  bool ok = false;
  switch (op) {
    case Op::shfl_up: j = l - b; ok = j >= max_lane; break;
    case Op::shfl_down: j = l + b; ok = j <= max_lane; break;
    case Op::shfl_xor: j = l ^ b; ok = j <= max_lane; break;
    default: j = min_lane | (b & ~segmask); ok = j <= max_lane; break;
  }
  return ok ? j : -1;
}

// Under w.m: the lanes `m` (all arrived, same intrinsic and mask) meet; each
// gets its result and the waiting ones are released.
void complete_collective(Block& b, Warp& w, unsigned m) {
  unsigned votes = 0;
  for (unsigned l = 0; l < kWarpSize; ++l)
    if ((m >> l & 1) && w.lane[l].value) votes |= 1u << l;
  for (unsigned l = 0; l < kWarpSize; ++l) {
    if (!(m >> l & 1)) continue;
    Lane& x = w.lane[l];
    switch (x.op) {
      case Op::ballot: x.result = votes; break;
      case Op::any: x.result = votes != 0; break;
      case Op::all: x.result = votes == m; break;
      case Op::syncwarp: x.result = 0; break;
      default: {
        const int src = shfl_source(x.op, l, x.arg, x.width);
        if (src < 0) x.result = x.value;
        else if (m >> src & 1) x.result = w.lane[src].value;
        else x.result = ~0ull;  // the source lane takes no part: undefined in CUDA, poisoned here
      }
    }
    ++x.ticket;
  }
  b.count.add(0, -int64_t(__builtin_popcount(w.waiting & m)));
  w.waiting &= ~m;
  w.cv.notify_all();
}

void thread_exit() {
  Block& b = *ctx.block;
  {  // collectives that waited only for lanes now gone complete
    Warp& w = b.warps[ctx.warp];
    std::lock_guard<std::mutex> lk(w.m);
    w.live &= ~(1u << ctx.lane);
    for (unsigned l = 0; l < kWarpSize; ++l) {
      if (!(w.waiting >> l & 1)) continue;
      const unsigned m = w.lane[l].mask & w.live;
      if ((w.waiting & m) == m) complete_collective(b, w, m);
    }
  }
  {  // the thread leaves the barrier's count
    std::lock_guard<std::mutex> lk(b.m);
    --b.live;
    if (b.arrived && b.arrived == b.live) complete_barrier(b, b.arrived);
  }
  if (b.count.add(-1, 0)) report_deadlock(b);
  if (ctx.launch->cooperative) {
    Launch& L = *ctx.launch;
    std::lock_guard<std::mutex> lk(L.gm);
    --L.g_live;
    if (L.g_arrived && L.g_arrived == L.g_live) {
      L.g_arrived = 0;
      ++L.g_gen;
      L.g_cv.notify_all();
    }
  }
}

void set_error(cudaError_t e) { g_last_error = e; }

uint3 block_index(const dim3& grid, unsigned long long i) {
  return uint3{static_cast<unsigned>(i % grid.x), static_cast<unsigned>(i / grid.x % grid.y),
               static_cast<unsigned>(i / grid.x / grid.y)};
}

constexpr unsigned long long kQuit = ~0ull;

void worker(Launch& L, unsigned i) {
  const unsigned nt = L.block.x * L.block.y * L.block.z;
  const unsigned slot = i / nt, t = i % nt;
  ctx.thread_idx = uint3{t % L.block.x, t / L.block.x % L.block.y, t / L.block.x / L.block.y};
  ctx.block_dim = L.block;
  ctx.grid_dim = L.grid;
  ctx.lane = t % kWarpSize;
  ctx.warp = t / kWarpSize;
  ctx.launch = &L;
  Launch::Worker& me = L.workers[i];
  unsigned long long seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(me.m);
      me.cv.wait(lk, [&] { return me.round != seen; });
      seen = me.round;
    }
    if (seen == kQuit) break;
    ctx.block = &L.blocks[slot];
    ctx.block_idx = ctx.block->idx;
    L.body(L.arg);
    thread_exit();
    std::lock_guard<std::mutex> lk(L.done_m);
    if (--L.running == 0) L.done_cv.notify_one();
  }
  ctx = ThreadCtx{};
}

void start_round(Launch& L, unsigned nworkers, unsigned long long round) {
  for (unsigned i = 0; i < nworkers; ++i) {
    std::lock_guard<std::mutex> lk(L.workers[i].m);
    L.workers[i].round = round;
    L.workers[i].cv.notify_one();
  }
}

void run(Launch& L) {
  const unsigned nt = L.block.x * L.block.y * L.block.z;
  const unsigned slots = L.cooperative ? static_cast<unsigned>(L.nblocks) : 1;
  const unsigned nworkers = slots * nt;
  L.workers = std::make_unique<Launch::Worker[]>(nworkers);
  std::vector<std::thread> threads;
  threads.reserve(nworkers);
  for (unsigned i = 0; i < nworkers; ++i) threads.emplace_back(worker, std::ref(L), i);
  unsigned long long round = 0;
  for (unsigned long long first = 0; first < L.nblocks; first += slots) {
    for (unsigned s = 0; s < slots; ++s) L.blocks[s].reset(block_index(L.grid, first + s));
    L.g_live = L.cooperative ? L.nblocks * nt : 0;
    L.running = nworkers;
    start_round(L, nworkers, ++round);
    std::unique_lock<std::mutex> lk(L.done_m);
    L.done_cv.wait(lk, [&] { return L.running == 0; });
  }
  start_round(L, nworkers, kQuit);
  for (auto& t : threads) t.join();
}

}  // namespace

void fatal(const char* fmt, ...) {
  std::fprintf(stderr, "nerve cuda emulation: fatal: ");
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "\n");
  std::fflush(stderr);
  std::abort();
}

int block_sync(int pred, unsigned* arrived) {
  Block& b = current_block("__syncthreads");
  std::unique_lock<std::mutex> lk(b.m);
  b.votes += pred != 0;
  if (++b.arrived == b.live) {
    complete_barrier(b, b.arrived - 1);
  } else {
    const unsigned gen = b.gen;
    if (b.count.add(0, 1)) {
      lk.unlock();
      report_deadlock(b);
    }
    b.cv.wait(lk, [&] { return b.gen != gen; });
  }
  if (arrived) *arrived = b.result_n;
  return b.result;  // still this barrier's: the next one cannot complete before this thread arrives at it
}

uint64_t warp_collective(Op op, unsigned mask, uint64_t value, int arg, int width) {
  Block& b = current_block(op_name(op));
  const unsigned l = ctx.lane, bit = 1u << l;
  if (width < 1 || width > 32 || (width & (width - 1)))
    fatal("%s in %s: width %d is not a power of two in [1, 32]", op_name(op), where().c_str(), width);
  if (!(mask & bit))
    fatal("%s in %s: mask 0x%08x does not contain the calling lane %u", op_name(op), where().c_str(), mask, l);
  Warp& w = b.warps[ctx.warp];
  std::unique_lock<std::mutex> lk(w.m);
  const unsigned m = mask & w.live;  // the named lanes that have not returned take part
  for (unsigned j = 0; j < kWarpSize; ++j) {
    if (!(w.waiting >> j & 1)) continue;
    const Lane& o = w.lane[j];
    if (((m >> j & 1) || (o.mask >> l & 1)) && (o.mask != mask || o.op != op))
      fatal("divergent warp intrinsics in %s (warp %u): lane %u calls %s(mask 0x%08x) while lane %u waits in "
            "%s(mask 0x%08x)",
            where().c_str(), ctx.warp, l, op_name(op), mask, j, op_name(o.op), o.mask);
  }
  Lane& me = w.lane[l];
  me.op = op;
  me.mask = mask;
  me.arg = arg;
  me.width = width;
  me.value = value;
  if ((w.waiting & m) == (m & ~bit)) {
    complete_collective(b, w, m);  // this lane is the last: it does not wait
  } else {
    w.waiting |= bit;
    const unsigned ticket = me.ticket;
    if (b.count.add(0, 1)) {
      lk.unlock();
      report_deadlock(b);
    }
    w.cv.wait(lk, [&] { return me.ticket != ticket; });
  }
  return me.result;
}

unsigned active_mask() {
  Warp& w = current_block("__activemask").warps[ctx.warp];
  std::lock_guard<std::mutex> lk(w.m);
  return w.live;
}

unsigned char* dynamic_smem() { return current_block("dynamic shared memory").smem.get(); }

void grid_sync() {
  current_block("grid_group::sync");
  Launch& L = *ctx.launch;
  if (!L.cooperative)
    fatal("grid_group::sync() in %s: the kernel was not launched with NERVE_LAUNCH_COOPERATIVE", where().c_str());
  std::unique_lock<std::mutex> lk(L.gm);
  if (++L.g_arrived == L.g_live) {
    L.g_arrived = 0;
    ++L.g_gen;
    L.g_cv.notify_all();
  } else {
    const unsigned long long gen = L.g_gen;
    L.g_cv.wait(lk, [&] { return L.g_gen != gen; });
  }
}

void check_static_shared() {
  if (ctx.launch && ctx.launch->cooperative && ctx.launch->nblocks > 1)
    fatal("static __shared__ variable in a cooperative launch of %llu blocks (%s): it would be one copy for all "
          "blocks; use NERVE_DYNAMIC_SHARED",
          ctx.launch->nblocks, where().c_str());
}

void launch(const void* kernel, dim3 grid, dim3 block, size_t smem, bool cooperative, void (*body)(void*),
            void* arg) {
  if (ctx.block) fatal("kernel launch from inside a kernel (dynamic parallelism) is not emulated");
  const unsigned long long nt = 1ull * block.x * block.y * block.z;
  const unsigned long long nblocks = 1ull * grid.x * grid.y * grid.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || block.x > 1024 || block.y > 1024 || block.z > 64 ||
      nt > kMaxThreadsPerBlock || grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u ||
      grid.y > 65535 || grid.z > 65535)
    return set_error(cudaErrorInvalidConfiguration);
  size_t max_smem = kDefaultMaxDynamicSmem;
  {
    std::lock_guard<std::mutex> lk(g_attr_mutex);
    auto it = g_max_dynamic_smem.find(kernel);
    if (it != g_max_dynamic_smem.end()) max_smem = it->second;
  }
  if (smem > max_smem) return set_error(cudaErrorInvalidValue);
  if (cooperative && nblocks * nt > kMaxCooperativeThreads) return set_error(cudaErrorCooperativeLaunchTooLarge);

  std::lock_guard<std::mutex> serial(g_launch_mutex);
  Launch L;
  L.grid = grid;
  L.block = block;
  L.cooperative = cooperative;
  L.nblocks = nblocks;
  L.body = body;
  L.arg = arg;
  const unsigned slots = cooperative ? static_cast<unsigned>(nblocks) : 1;
  L.blocks = std::make_unique<Block[]>(slots);
  for (unsigned s = 0; s < slots; ++s) L.blocks[s].init(static_cast<unsigned>(nt), smem);
  run(L);
}

}  // namespace nerve::emu::detail

// ------------------------------------------------------------- runtime API subset
using nerve::emu::detail::g_last_error;

extern "C" {

cudaError_t cudaGetLastError(void) {
  cudaError_t e = g_last_error;
  g_last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError(void) { return g_last_error; }

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorCooperativeLaunchTooLarge: return "cudaErrorCooperativeLaunchTooLarge";
    default: return "cudaErrorUnknown";
  }
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {  // CUDA's own wording
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorCooperativeLaunchTooLarge: return "too many blocks in cooperative launch";
    default: return "unknown error";
  }
}

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, enum cudaFuncAttribute attr, int value) {
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || static_cast<size_t>(value) > nerve::emu::detail::kMaxDynamicSmemOptIn)
      return g_last_error = cudaErrorInvalidValue;
    std::lock_guard<std::mutex> lk(nerve::emu::detail::g_attr_mutex);
    nerve::emu::detail::g_max_dynamic_smem[func] = static_cast<size_t>(value);
  }
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind, cudaStream_t) {
  if (count) std::memmove(dst, src, count);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t) {
  if (count) std::memset(ptr, value, count);
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }  // launches are synchronous
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }

}  // extern "C"

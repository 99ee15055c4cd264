"""Distributed benchmarks; run under MPI, e.g.

    mpirun -np 2 --oversubscribe --mca btl self,tcp --mca btl_tcp_if_include lo \\
        env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 python bench/bench_distributed.py

1. all_reduce (sum, float32) through nerve.distributed against mpi4py's own
   Allreduce on the same array: the cost of the Tensor wrapper. Bus bandwidth
   as NCCL's tests report it, 2 (n-1)/n * bytes / time.
2. One training step of an MLP (784-512-512-10, 64 samples per rank): local
   only, DDP with one bucket (reduction after backward), and DDP with 1 MB
   buckets (reductions start while backward runs).
Validates each result first, warms up, reports medians (rank 0 prints).
"""
import time

import numpy as np

import nerve
import nerve.distributed as dist
from nerve import nn
from nerve.nn.parallel import DistributedDataParallel as DDP


def median_time(fn, repeat, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        dist.barrier()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench_all_reduce(rank, world, comm):
    from mpi4py import MPI
    rows = []
    for n in (1 << 10, 1 << 16, 1 << 20, 1 << 22):
        t = nerve.full((n,), float(rank + 1))
        dist.all_reduce(t)
        assert np.all(t.numpy() == world * (world + 1) / 2), "all_reduce gave a wrong sum"
        raw = np.ones(n, dtype=np.float32)
        ours = median_time(lambda: dist.all_reduce(t), 20)
        base = median_time(lambda: comm.Allreduce(MPI.IN_PLACE, raw, op=MPI.SUM), 20)
        busbw = lambda s: 2 * (world - 1) / world * 4 * n / s / 1e9
        rows.append((n, ours, base, busbw(ours), busbw(base)))
    if rank == 0:
        print(f"all_reduce, {world} ranks: elements | nerve ms | mpi4py ms | nerve GB/s | mpi4py GB/s | ratio")
        for n, ours, base, bw, bwb in rows:
            print(f"  {n:>9} | {ours * 1e3:8.3f} | {base * 1e3:9.3f} | {bw:10.2f} | {bwb:11.2f} | {ours / base:5.2f}")


def make_model():
    nerve.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))


def bench_ddp(rank, world):
    rng = np.random.default_rng(rank)
    x = nerve.tensor(rng.standard_normal((64, 784)).astype(np.float32))
    y = nerve.tensor(rng.standard_normal((64, 10)).astype(np.float32))
    results = {}
    for name, wrap in (("local", lambda m: m),
                       ("ddp, 1 bucket", lambda m: DDP(m, bucket_cap_mb=1000)),
                       ("ddp, 1 MB buckets", lambda m: DDP(m, bucket_cap_mb=1))):
        model = wrap(make_model())

        def step():
            model.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            with nerve.no_grad():
                for p in model.parameters():
                    p.data -= 0.01 * p.grad.data

        step()
        if name != "local":  # validate: after a step the replicas agree
            flat = nerve.tensor(np.concatenate([p.detach().numpy().ravel() for p in model.parameters()]))
            hi, lo = flat.clone(), flat.clone()
            dist.all_reduce(hi, op="max")
            dist.all_reduce(lo, op="min")
            assert np.array_equal(hi.numpy(), lo.numpy()), "replicas diverged"
        results[name] = median_time(step, 20)
    if rank == 0:
        base = results["local"]
        print(f"MLP 784-512-512-10 training step, 64 samples per rank, {world} ranks: ms | vs local")
        for name, t in results.items():
            print(f"  {name:<18} {t * 1e3:8.2f} | {t / base:5.2f}")


def main():
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    from mpi4py import MPI
    bench_all_reduce(rank, world, MPI.COMM_WORLD)
    bench_ddp(rank, world)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

"""Cross-entropy benchmark: nerve's fused native kernel (forward, and forward
+ backward through nn.functional.cross_entropy with autograd) against a NumPy
log-softmax + gather and against PyTorch CPU when importable, float32,
reduction='mean', label_smoothing 0 and 0.1, on classifier/LM-head shapes.

Validates every variant against a float64 NumPy reference first, warms up,
then reports the median of `--repeat` runs and the ratio to nerve.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_loss.py [--repeat 7]

Measured 2026-11-25, OMP_NUM_THREADS=1, AVX-512, torch 2.13.0+cpu, on the
shared 2-vCPU box under load ~10 (so +-30% noise; 2-thread runs were
dominated by scheduler stalls and are not quoted). Milliseconds, median of 7:

        N x C   eps | fwd nerve  numpy   torch | f+b nerve  torch
     256 x 10   0.0 |   0.021   0.044   0.042 |   0.092   0.099
     256 x 10   0.1 |   0.022   0.042   0.058 |   0.082   0.181
    4096 x 10   0.0 |   0.307   0.449   0.622 |   0.591   1.513
    1024 x 1000 0.0 |   0.427   6.520   0.611 |   1.207   7.750
    1024 x 1000 0.1 |   0.550   6.378   0.712 |   1.322   6.585
    8192 x 1000 0.0 |  11.560  75.068  15.116 |  47.990  44.616
     512 x 32000 0.0|  26.940 174.366 168.177 |  87.861 441.510
     512 x 32000 0.1|  35.169 184.231 157.891 | 105.616 595.846

The kernel alone (1024 x 1000, one thread, quiet moment): forward 0.43 ms
AVX-512, 0.58 ms AVX2, 2.7 ms generic (SSE2); the first, scalar-libm-expf
version took 16 ms on every ISA. Doing the reduction inside the
CrossEntropy Function (one graph node instead of three) took the 256 x 10
forward+backward from 0.146 to 0.092 ms; what remains there is Python.
"""
import argparse
import statistics
import time

import numpy as np

import nerve
from nerve import kernels
from nerve.nn import functional as F

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # the PyTorch columns are left out
    torch = None

SHAPES = [(256, 10), (4096, 10), (1024, 1000), (8192, 1000), (512, 32000)]


def median_time(fn, repeat, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def numpy_forward(x, t, eps):
    m = x.max(axis=1, keepdims=True)
    logp = x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    nll = -logp[np.arange(len(t)), t]
    return ((1 - eps) * nll - eps / x.shape[1] * logp.sum(axis=1)).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    threads = nerve.kernels.get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    print(f"threads={threads} isa={nerve.kernels.isa()} torch={torch.__version__ if torch else 'absent'}")
    print(f"{'N x C':>13} {'eps':>4} | {'fwd nerve':>10} {'numpy':>9} {'torch':>9} | "
          f"{'f+b nerve':>10} {'torch':>9} | torch/nerve fwd, f+b")
    for N, C in SHAPES:
        x = (rng.standard_normal((N, C)) * 3).astype(np.float32)
        t = rng.integers(0, C, N)
        for eps in (0.0, 0.1):
            ref = numpy_forward(x.astype(np.float64), t, eps)
            loss, _ = kernels.cross_entropy_forward(x, t, label_smoothing=eps)
            assert abs(loss.mean() - ref) < 1e-5 * abs(ref), (loss.mean(), ref)
            xt, tt = nerve.tensor(x, requires_grad=True), nerve.tensor(t)

            def nerve_fb():
                xt.grad = None
                F.cross_entropy(xt, tt, label_smoothing=eps).backward()

            nerve_fb()
            g = xt.grad.numpy()
            fwd = median_time(lambda: kernels.cross_entropy_forward(x, t, label_smoothing=eps), args.repeat)
            fb = median_time(nerve_fb, args.repeat)
            npy = median_time(lambda: numpy_forward(x, t, eps), args.repeat)
            row = f"{N:>6} x {C:<5} {eps:>4} | {fwd * 1e3:>8.3f}ms {npy * 1e3:>7.3f}ms "
            if torch is not None:
                tx, ttt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(t)
                TF.cross_entropy(tx, ttt, label_smoothing=eps).backward()
                assert abs(TF.cross_entropy(tx, ttt, label_smoothing=eps).item() - ref) < 1e-5 * abs(ref)
                assert np.allclose(tx.grad.numpy(), g, atol=1e-7, rtol=1e-4)

                def torch_fb():
                    tx.grad = None
                    TF.cross_entropy(tx, ttt, label_smoothing=eps).backward()

                with torch.no_grad():
                    tfwd = median_time(lambda: TF.cross_entropy(tx, ttt, label_smoothing=eps), args.repeat)
                tfb = median_time(torch_fb, args.repeat)
                row += f"{tfwd * 1e3:>7.3f}ms | {fb * 1e3:>8.3f}ms {tfb * 1e3:>7.3f}ms | {tfwd / fwd:5.2f}x {tfb / fb:5.2f}x"
            else:
                row += f"{'-':>9} | {fb * 1e3:>8.3f}ms {'-':>9} |"
            print(row)


if __name__ == "__main__":
    main()
